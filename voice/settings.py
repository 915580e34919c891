"""One settings object for the whole service, read from the environment and `.env`."""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_FILE = Path(".env")
# An empty value for these (`export TWILIO_AUTH_TOKEN=`, a blank line in `.env`) means unset:
# otherwise an empty environment variable would hide the token in `.env`, the server would
# check signatures against "" and every request would get 403.
EMPTY_MEANS_UNSET = ("TWILIO_AUTH_TOKEN", "PUBLIC_URL", "STREAM_TOKEN_SECRET")
TOKEN_LINE = re.compile(r"^\s*(export\s+)?TWILIO_AUTH_TOKEN\s*=", re.IGNORECASE)
STREAM_SECRET_LINE = re.compile(r"^\s*(export\s+)?STREAM_TOKEN_SECRET\s*=", re.IGNORECASE)


class _EmptyIsUnset(PydanticBaseSettingsSource):
    """An environment or `.env` source that drops empty values of EMPTY_MEANS_UNSET."""

    def __init__(self, inner: PydanticBaseSettingsSource) -> None:
        super().__init__(inner.settings_cls)
        self._inner = inner

    def _set_current_state(self, state: dict[str, Any]) -> None:
        super()._set_current_state(state)
        self._inner._set_current_state(state)

    def _set_settings_sources_data(self, states: dict[str, dict[str, Any]]) -> None:
        super()._set_settings_sources_data(states)
        self._inner._set_settings_sources_data(states)

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._inner.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        return {
            key: value
            for key, value in self._inner().items()
            if not (key.upper() in EMPTY_MEANS_UNSET and str(value).strip() == "")
        }


class Settings(BaseSettings):
    """Every knob of the service. Names in capitals are the environment variables."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # Twilio and the public edge (contract names).
    twilio_account_sid: str = Field("AC" + "0" * 32, alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: str = Field("", alias="TWILIO_AUTH_TOKEN")
    twilio_api_base: str = Field("https://api.twilio.com", alias="TWILIO_API_BASE")
    public_url: str = Field("http://127.0.0.1:8080", alias="PUBLIC_URL")
    human_agent_number: str = Field("", alias="HUMAN_AGENT_NUMBER")
    # The number call-backs are placed from (one of your Twilio numbers, E.164).
    twilio_caller_id: str = Field("", alias="TWILIO_CALLER_ID")
    database_url: str = Field("", alias="DATABASE_URL")
    recordings_dir: Path = Field(Path("recordings"), alias="RECORDINGS_DIR")
    # The policy documents (*.md) the agent answers from. Absolute by default: `serve` may run
    # from any folder (the local test server runs in a temporary one).
    knowledge_dir: Path = Field(
        Path(__file__).resolve().parent.parent / "data" / "knowledge", alias="KNOWLEDGE_DIR"
    )
    # Rehearsals only: pin the agent's day (YYYY-MM-DD; its clock reads AGENT_TIME on it), so
    # "tomorrow" and the seeded business mean the same whatever day a scenario runs.
    agent_today: date | None = Field(None, alias="AGENT_TODAY")
    agent_time: time = Field(time(10, 0), alias="AGENT_TIME")
    # `callcentre purge` deletes calls older than this many days; 0 keeps them forever.
    retention_days: float = Field(0, ge=0, alias="RETENTION_DAYS")

    # Models. Empty means the packaged default; any local path or hub name is accepted.
    stt_model: str = Field("", alias="STT_MODEL")
    stt_beam_size: int = Field(1, alias="STT_BEAM_SIZE")
    stt_language: str = Field("en", alias="STT_LANGUAGE")
    stt_batch: bool = Field(False, alias="STT_BATCH")
    # The shortest Whisper window (s). 10 s encodes ~6x faster than Whisper's own 30 s; it read
    # numbers worse ("four five two one" became "4 times 2 1"), so an utterance it hears a
    # number in is decoded again at 30 s: scenario turns WER 0.045 and 14/19 digit strings
    # (30 s: 0.047, 14/19), 46/80 read digit strings (30 s: 44/80). docs/benchmarks.md, issue 15.
    stt_window_secs: float = Field(10.0, ge=5.0, le=30.0, alias="STT_WINDOW_SECS")
    llm_backend: str = Field("transformers", alias="LLM_BACKEND")  # or "openai"
    llm_model: str = Field("", alias="LLM_MODEL")
    llm_base_url: str = Field("http://127.0.0.1:8000/v1", alias="LLM_BASE_URL")
    llm_api_key: str = Field("not-needed", alias="LLM_API_KEY")
    llm_max_new_tokens: int = Field(60, alias="LLM_MAX_NEW_TOKENS")
    # Let the LLM word the replies around the facts ("auto": only a served, capable model; the
    # packaged one words worse than the templates, see docs/understanding.md).
    llm_compose_answers: str = Field("auto", alias="LLM_COMPOSE_ANSWERS")
    tts_engine: str = Field("hibari", alias="TTS_ENGINE")  # hibari | piper | coqui
    tts_voice: str = Field("", alias="TTS_VOICE")
    tts_timeout_s: float = Field(1.5, gt=0, alias="TTS_TIMEOUT_S")
    device: str = Field("auto", alias="DEVICE")  # auto | cpu | cuda

    # Turn taking.
    vad_stop_secs: float = Field(0.6, alias="VAD_STOP_SECS")
    vad_start_secs: float = Field(0.2, alias="VAD_START_SECS")
    vad_confidence: float = Field(0.6, alias="VAD_CONFIDENCE")
    # pipecat's loudness gate (0-1, smoothed over ~0.4 s): its slow rise delays every start.
    vad_min_volume: float = Field(0.6, ge=0, le=1, alias="VAD_MIN_VOLUME")
    turn_pause_secs: float = Field(0.2, alias="TURN_PAUSE_SECS")
    turn_complete_secs: float = Field(0.45, alias="TURN_COMPLETE_SECS")
    smart_turn: bool = Field(False, alias="SMART_TURN")
    smart_turn_threshold: float = Field(0.5, alias="SMART_TURN_THRESHOLD")
    early_stt: bool = Field(True, alias="EARLY_STT")
    # Transcribe a turn in pieces while it is spoken (voice/pipeline/incremental_stt.py): a long
    # turn's end waits only for its last words. A piece that reads out digits is transcribed
    # again with the piece before it (alone, "four five two one" once came out "four times two
    # one"). Measured in docs/benchmarks.md (issue 15).
    incremental_stt: bool = Field(True, alias="INCREMENTAL_STT")
    stt_piece_min_secs: float = Field(2.0, gt=0, alias="STT_PIECE_MIN_SECS")
    stt_piece_max_secs: float = Field(10.0, gt=0, alias="STT_PIECE_MAX_SECS")
    # Speech over the agent before it is checked (with BARGE_IN_WORDS) or, without, stops it.
    barge_in_min_secs: float = Field(0.2, alias="BARGE_IN_MIN_SECS")
    # Noisy lines and speakerphones (issue 16; measured in docs/benchmarks.md).
    # Discount caller audio that is the agent's own voice coming back (voice/pipeline/echo.py).
    echo_gate: bool = Field(True, alias="ECHO_GATE")
    # Words (not backchannels) the caller must say over the agent before it stops; 0: the
    # VAD's speech alone interrupts, after BARGE_IN_MIN_SECS (voice/pipeline/barge_in.py).
    barge_in_words: int = Field(1, ge=0, le=5, alias="BARGE_IN_WORDS")
    # A backchannel ("mm-hm", "okay") heard while the agent talks is not a turn.
    backchannel_filter: bool = Field(True, alias="BACKCHANNEL_FILTER")
    silence_reprompt_secs: float = Field(7.0, alias="SILENCE_REPROMPT_SECS")
    silence_max_reprompts: int = Field(2, alias="SILENCE_MAX_REPROMPTS")

    # Sentiment and escalation.
    sentiment_model: str = Field("", alias="SENTIMENT_MODEL")  # empty: the versioned artefact
    escalation_window_turns: int = Field(3, alias="ESCALATION_WINDOW_TURNS")
    escalation_negative_threshold: float = Field(-0.4, alias="ESCALATION_NEGATIVE_THRESHOLD")
    escalation_upset_probability: float = Field(0.5, alias="ESCALATION_UPSET_PROBABILITY")
    escalation_min_negative_turns: int = Field(2, alias="ESCALATION_MIN_NEGATIVE_TURNS")
    escalation_sharp_threshold: float = Field(-0.8, alias="ESCALATION_SHARP_THRESHOLD")
    escalation_sharp_probability: float = Field(0.9, alias="ESCALATION_SHARP_PROBABILITY")
    escalation_sharp_min_words: int = Field(4, alias="ESCALATION_SHARP_MIN_WORDS")
    escalation_repeat_failures: int = Field(2, alias="ESCALATION_REPEAT_FAILURES")
    transfer_timeout_s: float = Field(10.0, alias="TRANSFER_TIMEOUT_S")

    # Calls one process takes at once; beyond it callers hear "busy" instead of a slow agent.
    # 4: the most realistic calls a 2-core box held with p95 < 1.5 s and no gap in the agent's
    # audio in every run (bench/load.py, docs/benchmarks.md; 6 passed two runs of three).
    max_calls: int = Field(6, ge=1, alias="MAX_CALLS")

    # Security of the edge (telephony/stream_tokens.py, review/throttle.py).
    # Signs the one-use token `/twilio/voice` puts in the TwiML for the media stream; every
    # worker must share it (`serve` generates one into `.env` when unset). Never logged.
    stream_token_secret: str = Field("", alias="STREAM_TOKEN_SECRET", repr=False)
    stream_token_ttl_s: float = Field(60.0, gt=0, le=600, alias="STREAM_TOKEN_TTL_S")
    # Addresses (IPs or CIDRs, comma-separated; "*" for any) whose X-Forwarded-For and
    # X-Forwarded-Proto are believed. Empty (the default): nobody's, the TCP peer is the client.
    trusted_proxies: str = Field("", alias="TRUSTED_PROXIES")
    # The HTTP edge (telephony/connections.py, telephony/limits.py): seconds a client has to
    # send a request's head (after connecting, or after its last response), and again its
    # body; connections still owing a head, per client address and in all (past a cap the
    # oldest is closed). /metrics wants `Authorization: Bearer METRICS_TOKEN` (empty: off, 404);
    # /docs, /redoc and /openapi.json exist only with API_DOCS.
    http_read_timeout_s: float = Field(10.0, gt=0, le=300, alias="HTTP_READ_TIMEOUT_S")
    http_max_waiting_per_client: int = Field(10, ge=1, alias="HTTP_MAX_WAITING_PER_CLIENT")
    http_max_waiting: int = Field(200, ge=1, alias="HTTP_MAX_WAITING")
    metrics_token: str = Field("", alias="METRICS_TOKEN", repr=False)
    api_docs: bool = Field(False, alias="API_DOCS")

    # The live console (review/live.py): this worker's name in listen-in URLs (`?worker=`), by
    # which the reverse proxy routes a manager's listen socket to the worker holding the call.
    # Empty: host:pid (fine for one worker).
    worker_name: str = Field("", alias="WORKER_NAME")

    log_level: str = Field("INFO", alias="LOG_LEVEL")
    log_json: bool = Field(True, alias="LOG_JSON")

    # The managers' review pages (review/config.py gives them short names).
    # "auto": Secure cookies when PUBLIC_URL or the request is https (a local http run still
    # logs in); "always" behind a TLS proxy that does not forward the scheme; "never" for tests.
    review_cookie_secure: Literal["auto", "always", "never"] = Field(
        "auto", alias="REVIEW_COOKIE_SECURE"
    )
    review_session_hours: float = Field(12.0, gt=0, le=24 * 30, alias="REVIEW_SESSION_HOURS")
    # A session unused this long ends too (REVIEW_SESSION_HOURS is the most it ever lasts).
    review_idle_minutes: float = Field(30.0, gt=0, le=24 * 60, alias="REVIEW_IDLE_MINUTES")
    # IANA name; dates are shown and filtered in this zone.
    review_timezone: str = Field("UTC", alias="REVIEW_TIMEZONE")
    review_page_size: int = Field(50, ge=10, le=200, alias="REVIEW_PAGE_SIZE")
    # auto: SQLite FTS5 when present, else LIKE.
    review_search: Literal["auto", "fts", "like"] = Field("auto", alias="REVIEW_SEARCH")

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        return (
            init_settings,
            _EmptyIsUnset(env_settings),
            _EmptyIsUnset(dotenv_settings),
            file_secret_settings,
        )

    @field_validator("review_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def database(self) -> str:
        """SQLAlchemy URL; default is a SQLite file beside the recordings."""
        return self.database_url or f"sqlite:///{self.recordings_dir / 'callcentre.db'}"

    @property
    def compose_answers(self) -> bool:
        if self.llm_compose_answers == "auto":
            return self.llm_backend == "openai"
        return self.llm_compose_answers.lower() in ("1", "true", "yes")

    def now(self) -> datetime:
        """The agent's clock: the real one, or AGENT_TIME on the pinned AGENT_TODAY."""
        if self.agent_today is None:
            return datetime.now()
        return datetime.combine(self.agent_today, self.agent_time)

    @property
    def public_base(self) -> str:
        return self.public_url.rstrip("/")

    @property
    def stream_url(self) -> str:
        """The Media Streams URL Twilio connects to (and signs): wss:// for an https PUBLIC_URL."""
        parts = urlsplit(self.public_base)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return f"{scheme}://{parts.netloc}/twilio/media"

    def public(self, path: str) -> str:
        """The full public URL of one of our routes, as Twilio calls (and signs) it."""
        return f"{self.public_base}{path}"


def ensure_auth_token(env_file: Path = ENV_FILE) -> str | None:
    """Create a development TWILIO_AUTH_TOKEN in `.env` when none is configured.

    Returns the new token, or None when one was already set (environment or `.env`; an empty
    value counts as unset). Unsigned requests are never accepted: a local server gets a random
    token that the simulator reads from the same file. Idempotent: `.env` never holds more
    than one token line (an empty one is filled in, not followed by another); other lines stay.
    """
    return _ensure_secret(env_file, "twilio_auth_token", "TWILIO_AUTH_TOKEN", TOKEN_LINE)


def ensure_stream_token_secret(env_file: Path = ENV_FILE) -> bool:
    """Create STREAM_TOKEN_SECRET in `.env` when none is configured, as for the auth token.

    True when one was generated. The secret itself is never returned, printed or logged:
    nothing but the server needs it (the simulator only passes the token back)."""
    return (
        _ensure_secret(env_file, "stream_token_secret", "STREAM_TOKEN_SECRET", STREAM_SECRET_LINE)
        is not None
    )


def _ensure_secret(env_file: Path, field: str, name: str, line_pattern: re.Pattern) -> str | None:
    if getattr(Settings(_env_file=env_file), field):
        return None
    value = secrets.token_hex(16 if field == "twilio_auth_token" else 32)
    lines = env_file.read_text().splitlines() if env_file.exists() else []
    kept = [line for line in lines if not line_pattern.match(line)]
    at = next((i for i, line in enumerate(lines) if line_pattern.match(line)), len(kept))
    kept.insert(at, f"{name}={value}")
    env_file.write_text("\n".join(kept) + "\n")
    env_file.chmod(0o600)  # a secret: readable by its owner only
    get_settings.cache_clear()
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
