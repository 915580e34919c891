"""Stream grants: what the signed voice webhook said about a call, kept for its media stream.

`/twilio/voice` (signed by Twilio) writes one row per CallSid: the caller's number from the
webhook and the nonce of the one-use token it put in the TwiML. The media stream's `start`
may reach another worker, so the row is in the database; the stream takes the caller's number
from here, never from what the stream itself says. Using a grant marks it, atomically, so a
token works once across every worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from voice.store.rows import rows_changed
from voice.store.schema import StreamGrant

KEEP_AFTER_EXPIRY = timedelta(hours=1)  # then the calls row guards against replays


@dataclass(frozen=True)
class Grant:
    call_sid: str
    caller: str
    nonce: str
    expires_at: datetime
    used: bool = False


def _utc(value: datetime) -> datetime:
    """SQLite hands datetimes back naive; everything stored here is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _grant(row: StreamGrant) -> Grant:
    return Grant(row.call_sid, row.caller, row.nonce, _utc(row.expires_at), row.used_at is not None)


def save_grant(
    engine: Engine, call_sid: str, caller: str, nonce: str, expires_at: datetime
) -> Grant:
    """The grant for `call_sid`: the one already stored (a retried or replayed webhook gets the
    same token, used or not), else a new one. Old grants are swept on the way."""
    now = datetime.now(UTC)
    with Session(engine) as db, db.begin():
        db.execute(delete(StreamGrant).where(StreamGrant.expires_at < now - KEEP_AFTER_EXPIRY))
        row = db.get(StreamGrant, call_sid)
        if row is not None:
            return _grant(row)
    try:
        with Session(engine) as db, db.begin():
            row = StreamGrant(
                call_sid=call_sid, caller=caller[:32], nonce=nonce, expires_at=expires_at
            )
            db.add(row)
            return Grant(call_sid, row.caller, nonce, expires_at)
    except IntegrityError:  # another worker answered the same webhook at the same moment
        found = get_grant(engine, call_sid)
        assert found is not None
        return found


def get_grant(engine: Engine, call_sid: str) -> Grant | None:
    with Session(engine) as db:
        row = db.get(StreamGrant, call_sid)
        return _grant(row) if row is not None else None


def use_grant(engine: Engine, call_sid: str, nonce: str) -> bool:
    """Mark the grant used; False when it was used already (or is not this nonce's)."""
    with Session(engine) as db, db.begin():
        result = db.execute(
            update(StreamGrant)
            .where(
                StreamGrant.call_sid == call_sid,
                StreamGrant.nonce == nonce,
                StreamGrant.used_at.is_(None),
            )
            .values(used_at=datetime.now(UTC))
        )
        return rows_changed(result) == 1


def grants_for(engine: Engine) -> list[Grant]:
    """Every stored grant (tests and drills)."""
    with Session(engine) as db:
        return [_grant(row) for row in db.scalars(select(StreamGrant))]
