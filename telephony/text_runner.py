"""Run scenarios as text calls in this process: `callcentre eval --text`.

One store (a SQLite file in the work folder) and one set of models for the whole run; each
scenario reseeds the business relative to its day and makes one text call, then its recorded
events are judged exactly like a phone call's. A `wav:` turn is transcribed with the same
Whisper model a call uses; `say:` and `dtmf:` turns go in as they are.
"""

from __future__ import annotations

import json
import time
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from telephony.judging import ScenarioResult, judge, reset_business
from telephony.scenarios import Scenario
from voice.call.text import TextCalls
from voice.settings import Settings
from voice.store.calls import Store

if TYPE_CHECKING:
    from voice.engines.stt import SpeechToText


def _llm(settings: Settings):
    """The LLM only when replies are to be worded by it (LLM_COMPOSE_ANSWERS, or a served
    model with tools); the templated default needs none, which keeps a text run fast."""
    if not settings.compose_answers:
        return None
    from voice.engines.llm import load_llm
    from voice.engines.models import detect_devices

    return load_llm(
        settings.llm_backend,
        settings.llm_model,
        detect_devices(settings.device).torch,
        settings.llm_base_url,
        settings.llm_api_key,
        settings.llm_max_new_tokens,
    )


class TextRunner:
    def __init__(self, workdir: Path, data_dir: Path | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self._data_dir = data_dir
        self._day: date | None = None
        self.settings = Settings(
            RECORDINGS_DIR=workdir / "text-calls",
            DATABASE_URL=f"sqlite:///{workdir / 'text-calls.db'}",
        )
        self.store = Store(self.settings.database)
        self.calls = TextCalls(self.settings, self.store, clock=self.now, llm=_llm(self.settings))
        self._stt: SpeechToText | None = None  # loaded for the first `wav:` turn

    def now(self) -> datetime:
        """The agent's clock: AGENT_TIME on the scenario's pinned day, else the real one."""
        if self._day is None:
            return datetime.now()
        return datetime.combine(self._day, self.settings.agent_time)

    async def run(self, scenario: Scenario, today: date | None) -> ScenarioResult:
        started = time.monotonic()
        self._day = today
        reset_business(self.settings.database, self._data_dir, today)
        call = self.calls.open(scenario.caller, today=today)
        try:
            for turn in scenario.turns:
                if call.ended:
                    break
                if "dtmf" in turn:
                    await call.say(dtmf=str(turn["dtmf"]))
                elif "wav" in turn:
                    await call.say(self._transcribe(scenario, str(turn["wav"])))
                else:
                    await call.say(str(turn["say"]))
        finally:
            call.close()
            if call.session.stored is not None:
                await call.session.stored
        events = [
            json.loads(line) for line in call.session.recorder.events_path.read_text().splitlines()
        ]
        result = judge(scenario, events, self.settings.database)
        result.seconds = time.monotonic() - started
        return result

    def _transcribe(self, scenario: Scenario, wav: str) -> str:
        import soxr

        from telephony.audio_files import load_caller_audio, mulaw_decode, mulaw_encode
        from voice.engines.stt import SpeechToText

        path = Path(wav) if Path(wav).is_absolute() else scenario.path.parent / wav
        if self._stt is None:
            self._stt = SpeechToText()
        # Through the phone's 8 kHz mu-law, as a call would hear it.
        phone = mulaw_decode(mulaw_encode(load_caller_audio(path)))
        audio = soxr.resample(phone.astype("float32") / 32768.0, 8000, 16000)
        return self._stt.transcribe_sync(audio).text

    def close(self) -> None:
        self.store.engine.dispose()
