"""One settings object for the whole service, read from the environment and `.env`."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_FILE = Path(".env")


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
    database_url: str = Field("", alias="DATABASE_URL")
    recordings_dir: Path = Field(Path("recordings"), alias="RECORDINGS_DIR")
    # `callcentre purge` deletes calls older than this many days; 0 keeps them forever.
    retention_days: float = Field(0, ge=0, alias="RETENTION_DAYS")

    # Models. Empty means the packaged default; any local path or hub name is accepted.
    stt_model: str = Field("", alias="STT_MODEL")
    stt_beam_size: int = Field(1, alias="STT_BEAM_SIZE")
    stt_language: str = Field("en", alias="STT_LANGUAGE")
    stt_batch: bool = Field(False, alias="STT_BATCH")
    llm_backend: str = Field("transformers", alias="LLM_BACKEND")  # or "openai"
    llm_model: str = Field("", alias="LLM_MODEL")
    llm_base_url: str = Field("http://127.0.0.1:8000/v1", alias="LLM_BASE_URL")
    llm_api_key: str = Field("not-needed", alias="LLM_API_KEY")
    llm_max_new_tokens: int = Field(60, alias="LLM_MAX_NEW_TOKENS")
    # Let the LLM word answers from policy passages ("auto": only a served, capable model).
    llm_compose_answers: str = Field("auto", alias="LLM_COMPOSE_ANSWERS")
    tts_engine: str = Field("hibari", alias="TTS_ENGINE")  # hibari | piper | coqui
    tts_voice: str = Field("", alias="TTS_VOICE")
    tts_timeout_s: float = Field(1.5, gt=0, alias="TTS_TIMEOUT_S")
    device: str = Field("auto", alias="DEVICE")  # auto | cpu | cuda

    # Turn taking.
    vad_stop_secs: float = Field(0.6, alias="VAD_STOP_SECS")
    vad_start_secs: float = Field(0.2, alias="VAD_START_SECS")
    vad_confidence: float = Field(0.6, alias="VAD_CONFIDENCE")
    turn_pause_secs: float = Field(0.2, alias="TURN_PAUSE_SECS")
    turn_complete_secs: float = Field(0.45, alias="TURN_COMPLETE_SECS")
    smart_turn: bool = Field(False, alias="SMART_TURN")
    smart_turn_threshold: float = Field(0.5, alias="SMART_TURN_THRESHOLD")
    early_stt: bool = Field(True, alias="EARLY_STT")
    barge_in_min_secs: float = Field(0.3, alias="BARGE_IN_MIN_SECS")
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
    escalation_request_probability: float = Field(0.6, alias="ESCALATION_REQUEST_PROBABILITY")
    escalation_repeat_failures: int = Field(2, alias="ESCALATION_REPEAT_FAILURES")
    transfer_timeout_s: float = Field(10.0, alias="TRANSFER_TIMEOUT_S")

    # Calls one process takes at once; beyond it callers hear "busy" instead of a slow agent.
    max_calls: int = Field(3, ge=1, alias="MAX_CALLS")

    log_level: str = Field("INFO", alias="LOG_LEVEL")
    log_json: bool = Field(True, alias="LOG_JSON")

    @property
    def database(self) -> str:
        """SQLAlchemy URL; default is a SQLite file beside the recordings."""
        return self.database_url or f"sqlite:///{self.recordings_dir / 'callcentre.db'}"

    @property
    def compose_answers(self) -> bool:
        if self.llm_compose_answers == "auto":
            return self.llm_backend == "openai"
        return self.llm_compose_answers.lower() in ("1", "true", "yes")

    @property
    def public_base(self) -> str:
        return self.public_url.rstrip("/")

    @property
    def stream_url(self) -> str:
        """The Media Streams URL Twilio connects to (and signs): wss:// for an https PUBLIC_URL."""
        parts = urlsplit(self.public_base)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return f"{scheme}://{parts.netloc}/twilio/media"
    escalation_sharp_min_words: int = Field(4, alias="ESCALATION_SHARP_MIN_WORDS")

    def public(self, path: str) -> str:
        """The full public URL of one of our routes, as Twilio calls (and signs) it."""
        return f"{self.public_base}{path}"


def ensure_auth_token(env_file: Path = ENV_FILE) -> str | None:
    """Create a development TWILIO_AUTH_TOKEN in `.env` when none is configured.

    Returns the new token, or None when one was already set. Unsigned requests are never
    accepted: a local server gets a random token that the simulator reads from the same file.
    """
    if Settings().twilio_auth_token:
        return None
    token = secrets.token_hex(16)
    existing = env_file.read_text() if env_file.exists() else ""
    prefix = "" if not existing or existing.endswith("\n") else "\n"
    env_file.write_text(f"{existing}{prefix}TWILIO_AUTH_TOKEN={token}\n")
    get_settings.cache_clear()
    return token


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
