"""Managers, logins and sessions, and the CSRF token every form carries.

A session is a random token in an HttpOnly cookie; the database keeps only its SHA-256 with an
expiry and the session's CSRF token (synchroniser-token pattern). Logging in always starts a new
session, so a token planted before login is worthless.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from review.passwords import dummy_hash, hash_password, password_problem, verify_password
from voice.store.rows import rows_changed
from voice.store.schema import Manager, ReviewSession

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
PHONE_PATTERN = re.compile(r"^\+[1-9][0-9]{6,14}$")  # E.164
# The password hash of a removed manager: no password matches it. The row stays so that their
# tags and notes keep their name (and no migration is needed); `add-manager` may revive it.
REMOVED = "!removed"


@dataclass(frozen=True)
class Viewer:
    """The logged-in manager, as the routes see them."""

    manager_id: int
    name: str
    csrf_token: str
    token_hash: str


class ManagerError(ValueError):
    pass


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    """SQLite hands datetimes back naive; everything stored here is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def save_manager(
    engine: Engine, name: str, password: str, *, reset: bool = False, phone: str | None = None
) -> None:
    """Create a manager, or with `reset` set a new password (and end their sessions).
    `phone` (E.164) is their own number: call-backs ring it first, take-overs go to it."""
    if not NAME_PATTERN.match(name):
        raise ManagerError(
            "a name is 1-64 letters, digits or . _ @ - (starting with a letter or digit)"
        )
    if phone is not None and phone and not PHONE_PATTERN.fullmatch(phone):
        raise ManagerError("a phone number is + and the country code, e.g. +15551234567")
    problem = password_problem(password)
    if problem:
        raise ManagerError(problem)
    with Session(engine) as db, db.begin():
        manager = db.scalar(select(Manager).where(Manager.name == name))
        if manager is not None and manager.password_hash == REMOVED and reset:
            raise ManagerError(f"manager {name!r} was removed (add them again without --reset)")
        if manager is not None and manager.password_hash != REMOVED and not reset:
            raise ManagerError(f"manager {name!r} exists (use --reset to change the password)")
        if manager is None and reset:
            raise ManagerError(f"no manager named {name!r}")
        if manager is None:
            manager = Manager(name=name, created_at=_now())
            db.add(manager)
        manager.password_hash = hash_password(password)
        manager.failed_logins, manager.locked_until = 0, None
        if phone is not None:
            manager.phone = phone
        if manager.id is not None:
            db.execute(delete(ReviewSession).where(ReviewSession.manager_id == manager.id))


def remove_manager(engine: Engine, name: str) -> int:
    """Take `name`'s access away: their password no longer works and every session they have
    ends at once. Returns how many sessions were ended."""
    with Session(engine) as db, db.begin():
        manager = db.scalar(select(Manager).where(Manager.name == name))
        if manager is None or manager.password_hash == REMOVED:
            raise ManagerError(f"no manager named {name!r}")
        manager.password_hash = REMOVED
        ended = db.execute(delete(ReviewSession).where(ReviewSession.manager_id == manager.id))
        return rows_changed(ended)


def authenticate(engine: Engine, name: str, password: str) -> int | None:
    """The manager's id when the name and password match.

    Accounts never pause: that would let anyone who knows a name keep its manager out.
    Guessing is slowed per (client address, name) by `review.throttle` before this is called.
    (`failed_logins` and `locked_until` are no longer used.)
    """
    with Session(engine) as db:  # closed before the (deliberately slow) hash check
        row = db.execute(
            select(Manager.id, Manager.password_hash).where(Manager.name == name)
        ).first()
    if row is None or row.password_hash == REMOVED:
        verify_password(password, dummy_hash())  # as slow as a wrong password
        return None
    return row.id if verify_password(password, row.password_hash) else None


# A session's idle clock is written at most this often (not on every request).
TOUCH_EVERY = timedelta(minutes=1)


def start_session(
    engine: Engine, manager_id: int, hours: float, idle_minutes: float | None = None
) -> str:
    """A new session; returns the token for the cookie (never stored as is).

    It ends `hours` after it started, or `idle_minutes` after it was last used, whichever
    comes first: `expires_at` is the idle deadline, moved on by `load_session`."""
    token, now = secrets.token_urlsafe(32), _now()
    lifetime = timedelta(hours=hours)
    if idle_minutes is not None:
        lifetime = min(lifetime, timedelta(minutes=idle_minutes))
    with Session(engine) as db, db.begin():
        db.execute(delete(ReviewSession).where(ReviewSession.expires_at < now))
        db.add(
            ReviewSession(
                token_hash=token_hash(token),
                manager_id=manager_id,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + lifetime,
            )
        )
    return token


def load_session(
    engine: Engine,
    token: str | None,
    *,
    hours: float | None = None,
    idle_minutes: float | None = None,
) -> Viewer | None:
    """The session's viewer, or None when there is none or it has ended: past `expires_at`,
    more than `hours` after it started, or (`idle_minutes`) unused that long. Using it moves
    its idle deadline on (written at most once a minute)."""
    if not token or len(token) > 128:
        return None
    digest = token_hash(token)
    with Session(engine) as db:
        row = db.execute(
            select(ReviewSession, Manager.name)
            .join(Manager, Manager.id == ReviewSession.manager_id)
            .where(ReviewSession.token_hash == digest, Manager.password_hash != REMOVED)
        ).first()
    now = _now()
    if row is None or _utc(row[0].expires_at) <= now:
        return None
    session, name = row
    ends = _utc(session.created_at) + timedelta(hours=hours) if hours is not None else None
    if ends is not None and ends <= now:
        return None
    if idle_minutes is not None:
        _touch(engine, digest, _utc(session.expires_at), now, idle_minutes, ends)
    return Viewer(session.manager_id, name, session.csrf_token, digest)


def _touch(
    engine: Engine,
    digest: str,
    expires: datetime,
    now: datetime,
    idle_minutes: float,
    ends: datetime | None,
) -> None:
    """Move the idle deadline to `idle_minutes` from now (never past the session's end). A
    deadline further out than that (a session from before idle timeouts, or a shorter
    setting) is brought in."""
    renewed = now + timedelta(minutes=idle_minutes)
    if ends is not None:
        renewed = min(renewed, ends)
    if renewed < expires or renewed - expires >= TOUCH_EVERY:
        with Session(engine) as db, db.begin():
            db.execute(
                update(ReviewSession)
                .where(ReviewSession.token_hash == digest)
                .values(expires_at=renewed)
            )


def end_session(engine: Engine, digest: str) -> None:
    with Session(engine) as db, db.begin():
        db.execute(delete(ReviewSession).where(ReviewSession.token_hash == digest))


def same_token(expected: str, given: str | None) -> bool:
    """Constant-time comparison; an empty or missing token never matches."""
    return (
        bool(expected)
        and bool(given)
        and hmac.compare_digest(expected.encode("utf-8"), (given or "").encode("utf-8"))
    )
