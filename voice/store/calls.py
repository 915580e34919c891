"""The call store: calls and their turns, in SQLite by default or any SQLAlchemy URL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import (
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from voice.logs import get_logger
from voice.privacy import mask_text
from voice.store.schema import Call, Turn

log = get_logger("voice.store")  # the name its logs have always carried


def _now() -> datetime:
    return datetime.now(UTC)


class Store:
    """Short transactions only: every write commits at once so a crash loses nothing."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        migrate(self.engine)

    def start_call(
        self,
        call_sid: str,
        caller: str,
        stream_sid: str,
        recording_path: str,
        events_path: str,
        worker: str = "",
        started_at: datetime | None = None,
    ) -> None:
        """`started_at` defaults to now; a queued write passes when the call really started."""
        with Session(self.engine) as db, db.begin():
            call = db.get(Call, call_sid) or Call(
                call_sid=call_sid, started_at=started_at or _now()
            )
            call.caller, call.stream_sid, call.worker = caller, stream_sid, worker
            call.recording_path, call.events_path = recording_path, events_path
            db.add(call)

    def add_turn(
        self,
        call_sid: str,
        role: str,
        text: str,
        start_s: float,
        end_s: float,
        language: str = "",
        latency_ms: float | None = None,
        interrupted: bool = False,
        supervisor: str = "",
    ) -> None:
        with Session(self.engine) as db, db.begin():
            call = db.get(Call, call_sid)
            if call is None:
                return
            index = db.scalar(select(func.count()).where(Turn.call_sid == call_sid)) or 0
            db.add(
                Turn(
                    call_sid=call_sid,
                    index=index,
                    role=role,
                    text=text,
                    start_s=start_s,
                    end_s=end_s,
                    language=language,
                    latency_ms=latency_ms,
                    interrupted=interrupted,
                    supervisor=supervisor[:64],
                )
            )
            if role == "caller":
                call.turns += 1

    def finish_call(self, call_sid: str, reason: str, ended_at: datetime | None = None) -> None:
        with Session(self.engine) as db, db.begin():
            call = db.get(Call, call_sid)
            if call is None or call.ended_at is not None:
                return
            call.ended_at = ended_at or _now()
            started = (
                call.started_at if call.started_at.tzinfo else call.started_at.replace(tzinfo=UTC)
            )
            call.duration_s = (call.ended_at - started).total_seconds()
            call.end_reason = reason
            latencies = sorted(t.latency_ms for t in call.turn_rows if t.latency_ms is not None)
            if latencies:
                call.median_latency_ms = latencies[len(latencies) // 2]

    def set_sentiment(
        self, call_sid: str, label: str, score: float, escalation_probability: float
    ) -> None:
        """Attach the sentiment of the caller's latest turn; keep the call's lowest score."""
        with Session(self.engine) as db, db.begin():
            turn = db.scalars(
                select(Turn)
                .where(Turn.call_sid == call_sid, Turn.role == "caller")
                .order_by(Turn.index.desc())
                .limit(1)
            ).first()
            call = db.get(Call, call_sid)
            if turn is None or call is None:
                return
            turn.sentiment_label, turn.sentiment_score = label, score
            turn.escalation_probability = escalation_probability
            if call.min_sentiment is None or score < call.min_sentiment:
                call.min_sentiment = score

    def set_escalation(self, call_sid: str, rule: str, reason: str, turn: int | None) -> None:
        with Session(self.engine) as db, db.begin():
            call = db.get(Call, call_sid)
            if call is not None:
                call.escalated, call.escalation_rule = True, rule
                call.escalation_reason, call.escalation_turn = mask_text(reason), turn

    def get_call(self, call_sid: str) -> Call | None:
        with Session(self.engine, expire_on_commit=False) as db:
            call = db.get(Call, call_sid)
            if call is not None:
                call.turn_rows  # noqa: B018 - load the turns while the session is open
            return call

    def recent_calls(self, limit: int = 50) -> list[Call]:
        with Session(self.engine, expire_on_commit=False) as db:
            return list(db.scalars(select(Call).order_by(Call.started_at.desc()).limit(limit)))


MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
MIGRATION_LOCK = 7301  # Postgres advisory lock key: one worker migrates, the others wait


def migrate(engine: Engine) -> None:
    """`alembic upgrade head`, in one transaction on `engine`, before anything else uses it.

    A database from before Alembic (tables but no `alembic_version`) is adopted by the
    idempotent baseline: missing tables and columns are added, then it is stamped.
    """
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        if _pre_alembic(connection):
            log.info("adopting a database created before migrations", url=_safe_url(engine))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _pre_alembic(connection: Connection) -> bool:
    inspector = inspect(connection)
    return inspector.has_table("calls") and not inspector.has_table("alembic_version")


def _safe_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (review) never block the writer
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
