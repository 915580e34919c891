"""What managers add to a call: tags (a short label, once per call) and notes (free text)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from review.filters import clean_tag
from review.formatting import as_utc
from voice.store.schema import CallNote, CallTag, Manager

MAX_NOTE = 4000


@dataclass
class Note:
    author: str
    text: str
    created_at: datetime


def tags_for(engine: Engine, call_sid: str) -> list[str]:
    with Session(engine) as db:
        return list(
            db.scalars(
                select(CallTag.tag).where(CallTag.call_sid == call_sid).order_by(CallTag.tag)
            )
        )


def popular_tags(engine: Engine, limit: int = 30) -> list[str]:
    """Tags in use, most used first (the list's tag filter offers them)."""
    with Session(engine) as db:
        return list(
            db.scalars(
                select(CallTag.tag)
                .group_by(CallTag.tag)
                .order_by(func.count().desc(), CallTag.tag)
                .limit(limit)
            )
        )


def add_tag(engine: Engine, call_sid: str, raw: str, manager_id: int) -> str | None:
    """Tag the call; returns the cleaned tag, or None when nothing usable was given."""
    tag = clean_tag(raw)
    if not tag:
        return None
    try:
        with Session(engine) as db, db.begin():
            db.add(
                CallTag(
                    call_sid=call_sid, tag=tag, manager_id=manager_id, created_at=datetime.now(UTC)
                )
            )
    except IntegrityError:  # already tagged so: adding twice is not an error
        pass
    return tag


def remove_tag(engine: Engine, call_sid: str, raw: str) -> None:
    with Session(engine) as db, db.begin():
        db.execute(
            delete(CallTag).where(CallTag.call_sid == call_sid, CallTag.tag == clean_tag(raw))
        )


class NoteTooLong(ValueError):
    """A note over MAX_NOTE characters: refused whole, never cut."""

    def __init__(self, length: int) -> None:
        super().__init__(
            f"A note can be at most {MAX_NOTE} characters; this one has {length}. "
            "Nothing was saved: shorten it and save again."
        )
        self.length = length


def clean_note(text: str) -> str:
    """Browsers send a textarea's line breaks as CRLF (and count each as one character)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def add_note(engine: Engine, call_sid: str, text: str, manager_id: int) -> bool:
    """False for an empty note; NoteTooLong for one over MAX_NOTE characters."""
    text = clean_note(text)
    if len(text) > MAX_NOTE:
        raise NoteTooLong(len(text))
    if not text:
        return False
    with Session(engine) as db, db.begin():
        db.add(
            CallNote(
                call_sid=call_sid, text=text, manager_id=manager_id, created_at=datetime.now(UTC)
            )
        )
    return True


def notes_for(engine: Engine, call_sid: str) -> list[Note]:
    """Oldest first, as a conversation about the call reads."""
    with Session(engine) as db:
        rows = db.execute(
            select(Manager.name, CallNote.text, CallNote.created_at)
            .join(Manager, Manager.id == CallNote.manager_id)
            .where(CallNote.call_sid == call_sid)
            .order_by(CallNote.id)
        )
        return [Note(name, text, as_utc(at)) for name, text, at in rows]
