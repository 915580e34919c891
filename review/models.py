"""The tables review owns: managers, their sessions, and the tags and notes they leave on calls.

Tags and notes name a call by its CallSid without a foreign key on purpose: whatever deletes old
calls (retention) must never be blocked by a manager's note.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from voice.store.calls import Base


class Manager(Base):
    __tablename__ = "review_managers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Unused: wrong passwords are throttled per (address, name) in memory (review/throttle.py),
    # so no account ever pauses. Kept to need no migration.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # The manager's own phone (E.164): rung first by "Call back now", and the number a call
    # they take over is handed to (HUMAN_AGENT_NUMBER when empty).
    phone: Mapped[str] = mapped_column(String(16), default="")


class ReviewSession(Base):
    __tablename__ = "review_sessions"

    # SHA-256 of the cookie's token: a copy of the database does not hand out live sessions.
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    manager_id: Mapped[int] = mapped_column(
        ForeignKey("review_managers.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class CallTag(Base):
    __tablename__ = "review_tags"
    __table_args__ = (UniqueConstraint("call_sid", "tag"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    tag: Mapped[str] = mapped_column(String(32), index=True)
    manager_id: Mapped[int] = mapped_column(ForeignKey("review_managers.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CallNote(Base):
    __tablename__ = "review_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    manager_id: Mapped[int] = mapped_column(ForeignKey("review_managers.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


REVIEW_TABLES = [Manager.__table__, ReviewSession.__table__, CallTag.__table__, CallNote.__table__]


def create_review_tables(engine: Engine) -> None:
    """Create review's tables if missing (safe on every start; touches no other table)."""
    Base.metadata.create_all(engine, tables=REVIEW_TABLES)
