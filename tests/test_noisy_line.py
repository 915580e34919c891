"""Speakerphone echo and backchannels through the real server (issue 16).

The simulator's phone line (telephony/phone_line.py) feeds the agent's own voice back into
the caller's audio as a speakerphone would: what the caller's phone is playing at that moment,
150 ms later, 20 dB quieter, band-limited to the phone band. The server runs with the
defaults: echo gate, one real word before a barge-in, backchannels filtered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pipecat.frames.frames import (
    Frame,
    InterruptionFrame,
    SystemFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.tests.utils import SleepFrame, run_test

from telephony.local_server import LocalServer
from telephony.phone_line import EchoPath, PhoneLine
from telephony.simulator import SimulationResult, simulate_call
from voice.engines.stt import Transcript
from voice.pipeline.backchannel import BackchannelFilter, is_backchannel, real_words
from voice.pipeline.barge_in import (
    EARLY_S,
    RECHECK_ONE_SHORT_S,
    RECHECK_S,
    recheck_after,
    words_heard,
    words_needed,
    words_said,
)
from voice.pipeline.frames import ResumeFrame
from voice.pipeline.playback import PlaybackTracker
from voice.pipeline.transcriber import CallerUtterance
from voice.session import CallSession
from voice.store.calls import Store


@pytest.fixture(scope="module")
def noisy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    with LocalServer(tmp_path_factory.mktemp("noisy")) as server:
        yield server


@pytest.fixture(scope="module")
def vad_only_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """The VAD alone stops the agent: any backchannel does, as a misheard check would."""
    folder = tmp_path_factory.mktemp("vad-only")
    with LocalServer(folder, extra_env={"BARGE_IN_WORDS": "0"}) as server:
        yield server


def events_of(server: LocalServer, call_sid: str) -> list[dict]:
    path = next(server.recordings.rglob(f"{call_sid}.jsonl"))
    return [json.loads(line) for line in path.read_text().splitlines()]


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


def test_backchannel_words() -> None:
    assert is_backchannel("Mm-hmm.") and is_backchannel("Okay, yeah.") and is_backchannel("I see")
    assert not is_backchannel("No.") and not is_backchannel("No, stop.")
    assert not is_backchannel("") and not is_backchannel("Okay, where is my order?")
    assert len(real_words("Okay, where is my order?")) == 4
    assert len(real_words("uh-huh, right")) == 0
    # Acknowledgements said as phrases ("It's okay" is how Whisper read "okay" in cafe
    # noise); over a question they answer it.
    assert is_backchannel("It's okay.") and is_backchannel("That’s right.")
    assert real_words("That's right.", question=True) == {"okay"}
    assert real_words("It's the wrong size.") == {"it's", "the", "wrong", "size"}
    # Whisper's spelling of noise is no word, over the agent no turn.
    assert is_backchannel("D.F. D.F.") and is_backchannel("G-n-n-n-N, G-n-n-n")
    assert is_backchannel("D-E-R, D-E-R")
    assert not is_backchannel("Ride! Ride!") and not is_backchannel("mother-in-law")
    assert not is_backchannel("An x-ray") and not is_backchannel("I-I want")


def heard(
    text: str,
    audio_s: float = 0.7,
    no_speech: float = 0.2,
    logprob: float = -0.5,
    question: bool = False,
) -> int:
    transcript = Transcript(text, "en", 1.0, no_speech, audio_s, 0.05, logprob)
    return words_heard(transcript, question)


def test_agreement_over_a_statement_is_go_on_over_a_question_an_answer() -> None:
    # "Yes" (cafe babble turns "yeah" into it) over "Your order shipped on Monday." says go on.
    assert heard("Yes.") == 0 and heard("Yeah, okay.") == 0 and is_backchannel("Yes.")
    # Over "Shall I cancel it?" the same words answer it: they stop the agent and are a turn.
    assert heard("Yes.", question=True) == 1 and heard("Yeah, okay.", question=True) == 2
    assert not is_backchannel("Yes.", question=True)
    assert not is_backchannel("I see", question=True)
    # Continuers and a laugh never take the turn; "no" always does.
    assert heard("Mm-hmm.", question=True) == 0 and heard("Ha ha. Ha ha.", question=True) == 0
    assert is_backchannel("Uh-huh.", question=True) and is_backchannel("Ha ha.")
    assert heard("No.") == 1 and heard("No.", question=True) == 1
    assert not is_backchannel("No.")


def test_the_caller_is_asked_once_a_question_begins_to_play() -> None:
    now = [0.0]
    tracker = PlaybackTracker(lambda: now[0])
    statement = tracker.queued(1, 0, "Your order shipped on Monday.", 2.0, last=False)
    tracker.queued(1, 1, "Shall I cancel it?", 1.5, last=False)
    assert tracker.agent_speaking and not tracker.asking  # the question is still queued
    now[0] = 2.0
    tracker.mark_played(statement.mark)
    assert tracker.asking  # playing now: a "yes" may answer it
    tracker.cleared()
    assert not tracker.asking  # the agent is silent: nothing is being asked over


class _Plays(FrameProcessor):
    """Test scaffolding: a `PlayedFrame` stands for Twilio's mark that a sentence played; an
    interruption drops what is queued, as the barge-in detector's `clear` does."""

    def __init__(self, session: CallSession) -> None:
        super().__init__()
        self._session = session

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, _PlayedFrame):
            self._session.playback.mark_played(frame.mark)
            return
        if isinstance(frame, InterruptionFrame):
            self._session.playback.cleared()
        await self.push_frame(frame, direction)


@dataclass
class _PlayedFrame(SystemFrame):
    mark: str = ""


def said(text: str, no_speech: float = 0.1, logprob: float = -0.3) -> TranscriptionFrame:
    """A caller turn as the transcriber passes it on, with how sure Whisper was."""
    transcript = Transcript(text, "en", 1.0, no_speech, 1.0, 0.1, logprob)
    result = CallerUtterance(transcript, 0.0, 1.0, 0.0, 0.0)
    return TranscriptionFrame(text, "caller", "2026-12-05T00:00:00Z", result=result)


async def through_the_filter(
    tmp_path: Path, sentences: list[str], frames: list[Frame]
) -> tuple[list[str], list[dict]]:
    """What passes the backchannel filter while the agent says `sentences` (one reply; a
    `_PlayedFrame` names a sentence by its index), and the call's events."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    store = Store(f"sqlite:///{tmp_path / 'calls.db'}")
    session = CallSession("CA" + "3" * 32, "MZ" + "3" * 32, "+15550001111", tmp_path, store)
    for i, text in enumerate(sentences):
        session.playback.queued(1, i, text, 2.0, last=False)
    session.playback.queued(1, len(sentences), "", 0.0, last=True)
    pipeline = Pipeline([_Plays(session), BackchannelFilter(session)])
    # Each frame settles before the next: marks and speech starts race otherwise.
    paced = [step for frame in frames for step in (frame, SleepFrame(sleep=0.05))]
    down, _ = await run_test(pipeline, frames_to_send=paced, expected_down_frames=None)
    session.close("completed")
    events = [json.loads(line) for line in session.recorder.events_path.read_text().splitlines()]
    passed = [RESUME if isinstance(f, ResumeFrame) else f.text for f in down if _kept(f)]
    return passed, events


RESUME = "(the agent says again what was cut)"


def _kept(frame: Frame) -> bool:
    return isinstance(frame, TranscriptionFrame | ResumeFrame)


def played(index: int) -> _PlayedFrame:
    return _PlayedFrame(mark=f"r1s{index}")


async def test_a_yeah_begun_over_a_statement_is_no_answer_to_the_question_after_it(
    tmp_path: Path,
) -> None:
    frames = [
        VADUserStartedSpeakingFrame(),  # over the statement...
        played(0),  # ...whose transcript comes with the question on
        said("Yeah."),
        VADUserStartedSpeakingFrame(),  # over the question: an answer
        said("Yeah."),
        # Babble Whisper doubts anyone said is no turn either; words it is sure of are.
        said("I'll see you in the next one.", no_speech=0.55, logprob=-1.2),
        said("Where is it now?"),
        played(1),
    ]
    sentences = ["Your order shipped on Monday.", "Shall I cancel it?"]
    passed, events = await through_the_filter(tmp_path, sentences, frames)
    assert passed == ["Yeah.", "Where is it now?"], passed
    assert [e["text"] for e in events if e["type"] == "backchannel"] == ["Yeah."], events
    doubted = [e["text"] for e in events if e["type"] == "doubtful_over_agent"]
    assert doubted == ["I'll see you in the next one."], events


async def test_a_yeah_begun_over_a_statement_stays_no_answer_once_the_agent_has_asked(
    tmp_path: Path,
) -> None:
    # The question was short: it had played out before the "yeah" was transcribed.
    frames = [VADUserStartedSpeakingFrame(), played(0), played(1), played(2), said("Yeah.")]
    sentences = ["Your order shipped on Monday.", "Cancel it?"]
    passed, _ = await through_the_filter(tmp_path, sentences, frames)
    assert passed == [], passed


async def test_an_okay_to_a_statement_the_agent_has_finished_gets_its_answer(
    tmp_path: Path,
) -> None:
    frames = [VADUserStartedSpeakingFrame(), played(0), played(1), said("Okay.")]
    passed, _ = await through_the_filter(tmp_path, ["Your refund is on its way."], frames)
    assert passed == ["Okay."], passed


async def test_a_backchannel_that_stopped_the_agent_is_no_turn_the_agent_goes_on(
    tmp_path: Path,
) -> None:
    # The barge-in check misheard "yeah, yeah" through cafe babble and stopped the agent; the
    # whole utterance, transcribed at its end, is a backchannel after all.
    sentences = ["Your order shipped on Monday.", "It should arrive by Friday."]
    stop = [VADUserStartedSpeakingFrame(), InterruptionFrame()]
    passed, events = await through_the_filter(tmp_path, sentences, [*stop, said("Yeah, yeah.")])
    assert passed == [RESUME], passed
    backchannel = next(e for e in events if e["type"] == "backchannel")
    assert backchannel["stopped_agent"] is True, backchannel
    # So are words Whisper doubts anyone said.
    doubted = said("In the U.S.", no_speech=0.55, logprob=-1.2)
    passed, _ = await through_the_filter(tmp_path / "doubt", sentences, [*stop, doubted])
    assert passed == [RESUME], passed
    # Real words that stopped the agent are the caller's turn.
    passed, _ = await through_the_filter(tmp_path / "turn", sentences, [*stop, said("Wait.")])
    assert passed == ["Wait."], passed
    # A "yeah" begun over a question answers it.
    passed, _ = await through_the_filter(
        tmp_path / "answer", ["Shall I cancel it?"], [*stop, said("Yeah.")]
    )
    assert passed == ["Yeah."], passed


def test_whisper_doubts_words_only_when_unsure_of_both_speech_and_words() -> None:
    def doubtful(no_speech: float, logprob: float) -> bool:
        return Transcript("Yes.", "en", 1.0, no_speech, 1.0, 0.1, logprob).doubtful

    # Cafe babble alone, read as a sentence (bench/noise.py, docs/benchmarks.md).
    assert doubtful(0.55, -1.2) and doubtful(0.48, -0.97)
    # A short "Yes." in cafe noise at 5 dB (0.45, -0.81); a clean turn Whisper misheard.
    assert not doubtful(0.45, -0.81) and not doubtful(0.08, -0.97)
    assert not doubtful(0.6, -0.5)  # sure of the words it heard


def test_barge_in_counts_different_real_words_only() -> None:
    assert heard("I order") == 2 and heard("No, wait, stop!") == 3
    assert heard("Okay. Okay.") == 0 and heard("Uh-huh, right") == 0
    # Whisper guessing one word again and again from its start: one word.
    assert heard("Rise... Rise... Rise... Rise...") == 1 and heard("No, no, no") == 1
    # More words than anyone says in 0.6 s of audio: made up from babble, not counted.
    assert heard("I got to get out of here.", audio_s=0.62) == 0
    assert heard("I got to get out of here.", audio_s=1.4) == 7
    # Whisper's own verdict that there was no speech, or a stock hallucination.
    assert heard("I order", no_speech=0.9) == 0 and heard("Thank you.") == 0
    # Whisper unsure of its words (cafe babble read as "I'm sorry." at -1.5): the next check.
    assert heard("I'm sorry.", logprob=-1.5) == 0 and heard("I'm sorry.", logprob=-0.9) == 2
    assert heard("I'll get in.") == 3  # "I'll" is one word
    # How Whisper spells a sound it cannot read: letters alone ("yeah, yeah" in cafe noise),
    # one syllable over and over ("uh-huh"). A word with letters in it still counts.
    assert heard("D.F. D.F.") == 0 and heard("T.F.") == 0 and heard("Sa-sa-sa-sa-sa") == 0
    assert heard("I need a P.D.F.", audio_s=1.2) == 3 and heard("Ha-ha-ha, wait") == 1


def test_an_early_barge_in_check_needs_one_word_more() -> None:
    # A single word in the first moments of speech is how a backchannel starts ("yeah" is
    # heard "yes" from its first 0.2 s); two different words are a sentence under way.
    assert words_needed(1, 0.2) == 2 and words_needed(1, EARLY_S - 0.01) == 2
    assert words_needed(1, EARLY_S) == 1 and words_needed(2, 0.6) == 2


def test_a_check_with_real_words_in_it_looks_again_sooner() -> None:
    def said(text: str, logprob: float = -0.5) -> int:
        return words_said(Transcript(text, "en", 1.0, 0.1, 0.6, 0.05, logprob))

    # "I" heard early, where two words are needed, or "I order" that Whisper was unsure of
    # (cafe babble under it): nearly decided, the next check comes sooner.
    assert recheck_after(said("I")) == RECHECK_ONE_SHORT_S < RECHECK_S
    assert recheck_after(said("I order", logprob=-1.13)) == RECHECK_ONE_SHORT_S
    # A backchannel, nothing at all, or more words than anyone says in 0.6 s: the usual pace,
    # no extra chances to mishear it.
    assert recheck_after(said("Yeah.")) == RECHECK_S
    assert recheck_after(said("")) == RECHECK_S
    assert recheck_after(said("I got to get out of here now.")) == RECHECK_S


async def test_echo_alone_never_interrupts_the_agent(noisy_server: LocalServer, samples: Path):
    result = await simulate_call(
        [samples / "hello.wav"],
        url=noisy_server.media_url,
        settings=noisy_server.settings,
        transcribe=False,
        line=PhoneLine(echo=EchoPath(delay_ms=150, attenuation_db=20)),
    )
    events = events_of(noisy_server, result.call_sid)
    assert not result.clears, result.clears
    assert not [e for e in events if e["type"] == "barge_in"]
    agent = [e for e in events if e["type"] == "agent_turn"]
    assert agent and not any(e["interrupted"] for e in agent), agent
    # The caller's one turn was heard right, and the agent's own words never became a turn.
    caller = [e["text"] for e in events if e["type"] == "caller_turn"]
    assert len(caller) == 1, caller
    assert {"calling", "order"} <= words(caller[0]), caller


async def test_a_real_interruption_still_stops_the_agent(noisy_server: LocalServer, samples: Path):
    result = await simulate_call(
        [samples / "long_question.wav"],
        url=noisy_server.media_url,
        settings=noisy_server.settings,
        transcribe=False,
        barge_in=True,
        line=PhoneLine(echo=EchoPath(delay_ms=150, attenuation_db=20)),
    )
    assert result.clears, "talking over the agent must still stop it"
    turn = result.turns[0]
    # Stopped while the caller was still talking (how fast is bench/noise.py's to measure:
    # the words check waits for a transcription, slow on a loaded CPU).
    assert turn.caller_start_s < result.clears[0] < turn.caller_end_s, (result.clears, turn)
    events = events_of(noisy_server, result.call_sid)
    barge = [e for e in events if e["type"] == "barge_in"]
    assert len(barge) == 1 and len(real_words(barge[0]["text"])) >= 1, barge


async def yeah_yeah_over_the_greeting(
    server: LocalServer, samples: Path
) -> tuple[SimulationResult, list[dict]]:
    """A caller's "yeah, yeah" one second into the greeting: what happened, and the events."""
    result = await simulate_call(
        [samples / "yeah_yeah.wav"],
        url=server.media_url,
        settings=server.settings,
        transcribe=False,
        barge_in=True,
        reply_timeout_s=10.0,
    )
    return result, events_of(server, result.call_sid)


async def test_a_backchannel_does_not_stop_the_agent(noisy_server: LocalServer, samples: Path):
    result, events = await yeah_yeah_over_the_greeting(noisy_server, samples)
    assert not result.clears, result.clears
    greeting = next(e for e in events if e["type"] == "agent_turn")
    assert greeting["interrupted"] is False, greeting
    # Nor did "yeah, yeah" get an answer of its own: the greeting was the agent's only turn.
    assert [e["type"] for e in events].count("agent_turn") == 1, events


async def test_a_backchannel_that_stopped_the_agent_has_it_go_on(
    vad_only_server: LocalServer, samples: Path
):
    result, events = await yeah_yeah_over_the_greeting(vad_only_server, samples)
    assert result.clears, "the VAD alone stops the agent at any speech"
    backchannel = next(e for e in events if e["type"] == "backchannel")
    assert backchannel["stopped_agent"] is True, backchannel
    # The agent said again what the caller did not hear, and "yeah, yeah" got no answer.
    agent = [e for e in events if e["type"] == "agent_turn"]
    resumed = next(e for e in events if e["type"] == "resumed")
    assert len(agent) == 2 and agent[0]["interrupted"] is True, agent
    assert agent[1]["text"] == resumed["text"] and agent[1]["interrupted"] is False, agent
    assert agent[0]["generated"].endswith(resumed["text"]), (agent, resumed)
