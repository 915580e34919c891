"""Full-text search over transcripts: SQLite FTS5 when available, LIKE/ILIKE anywhere else.

Both paths mean the same thing: every term (a word, or a "quoted phrase") occurs somewhere in the
call's transcript. FTS5 matches terms as word prefixes ("refund" finds "refunds"); LIKE matches
substrings. The FTS5 index is contentless (the text stays in `turns` only) and is brought up to
date incrementally before each search: turns are append-only, so new rows are those with an id
above the last one indexed (the bookmark). It is review's own table; the call path never writes
to it (retention takes purged turns' words out of it).

`turns` has no AUTOINCREMENT, so SQLite hands out max(id)+1: once the newest turns are deleted
(retention purging every call, say), new turns get ids at or below the bookmark again. The
bookmark therefore also names the turn it points at (CallSid and index, never reused); when
that turn is gone or another one holds its id, the index is rebuilt from `turns` once.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Integer, and_, column, exists, func, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql.elements import ColumnElement

from voice.logs import get_logger
from voice.store.schema import Call, Turn

log = get_logger(__name__)

FTS_TABLE = "review_turns_fts"
STATE_TABLE = "review_turns_fts_state"  # last_turn_id: every turn up to it is indexed
MARK_TABLE = "review_turns_fts_mark"  # which turn last_turn_id was when it was written
MAX_TERMS = 8
_TERMS = re.compile(r'"([^"]+)"|(\S+)')


def parse_terms(query: str) -> list[str]:
    """'refund "order number"' -> ['refund', 'order number'] (lower case, at most 8)."""
    terms = []
    for phrase, word in _TERMS.findall(query or ""):
        term = " ".join((phrase or word).split()).strip().lower()
        if term and term not in terms:
            terms.append(term)
    return terms[:MAX_TERMS]


def fts_expression(term: str) -> str | None:
    """One term as a safe FTS5 phrase: only its words, quoted (no operators), the last one
    matched as a prefix."""
    words = re.findall(r"\w+", term)
    return '"' + " ".join(words) + '"*' if words else None


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass
class TranscriptSearch:
    """One per engine; `mode` is "auto", "fts" or "like" (REVIEW_SEARCH)."""

    mode: str = "auto"
    uses_fts: bool = False

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def prepare(self, engine: Engine) -> None:
        """Create the FTS5 table when the database can (SQLite built with FTS5)."""
        if self.mode == "like" or engine.dialect.name != "sqlite":
            self.uses_fts = False
            return
        try:
            with engine.begin() as db:
                db.execute(
                    text(
                        f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
                        "text, content='', tokenize='unicode61 remove_diacritics 2')"
                    )
                )
                db.execute(
                    text(
                        f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} ("
                        "id INTEGER PRIMARY KEY CHECK (id = 1), "
                        "last_turn_id INTEGER NOT NULL)"
                    )
                )
                db.execute(text(f"INSERT OR IGNORE INTO {STATE_TABLE} VALUES (1, 0)"))
                db.execute(
                    text(
                        f"CREATE TABLE IF NOT EXISTS {MARK_TABLE} ("
                        "id INTEGER PRIMARY KEY CHECK (id = 1), "
                        "turn_id INTEGER NOT NULL, call_sid TEXT NOT NULL, "
                        "turn_index INTEGER NOT NULL)"
                    )
                )
            self.uses_fts = True
        except OperationalError:  # no FTS5 in this SQLite build
            if self.mode == "fts":
                raise
            self.uses_fts = False

    def sync(self, engine: Engine) -> int:
        """Index turns added since the last search (all of them after a rebuild); returns how
        many were indexed.

        A quick read decides whether there is anything to do; the work itself runs in one
        write transaction that takes SQLite's write lock before it reads the bookmark, so two
        processes syncing at once, or retention purging meanwhile, cannot leave the index and
        its bookmark out of step. A sync that fails (the database busy for longer than its
        timeout) leaves the index a little behind; the search still runs.
        """
        if not self.uses_fts:
            return 0
        with self._lock:
            with engine.connect() as db:
                last, intact = _bookmark(db)
                newest = _newest(db)
            if intact and newest <= last:
                return 0
            try:
                with engine.begin() as db:
                    db.execute(text(f"UPDATE {STATE_TABLE} SET last_turn_id = last_turn_id"))
                    return _bring_up_to_date(db)
            except OperationalError:
                log.warning("transcript index not brought up to date", exc_info=True)
                return 0

    def condition(self, terms: Sequence[str]) -> ColumnElement[bool] | None:
        """A WHERE clause on `calls` for calls whose transcript has every term."""
        clauses = [
            self._fts_clause(i, t) if self.uses_fts else self._like_clause(t)
            for i, t in enumerate(terms)
        ]
        found = [c for c in clauses if c is not None]
        return and_(*found) if found else None

    @staticmethod
    def _fts_clause(position: int, term: str) -> ColumnElement[bool] | None:
        expression = fts_expression(term)
        if expression is None:
            return None
        matches = (
            text(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :q{position}")
            .bindparams(**{f"q{position}": expression})
            .columns(column("rowid", Integer))
        )
        return Call.call_sid.in_(select(Turn.call_sid).where(Turn.id.in_(matches)))

    @staticmethod
    def _like_clause(term: str) -> ColumnElement[bool]:
        return exists().where(
            Turn.call_sid == Call.call_sid, Turn.text.ilike(_like_pattern(term), escape="\\")
        )


def _newest(db: Connection) -> int:
    return db.scalar(select(func.max(Turn.id))) or 0


def _bookmark(db: Connection) -> tuple[int, bool]:
    """(last indexed turn id, whether that id still holds the turn it held when indexed)."""
    row = db.execute(
        text(
            f'SELECT s.last_turn_id, m.call_sid, m.turn_index, t.call_sid, t."index" '
            f"FROM {STATE_TABLE} s LEFT JOIN {MARK_TABLE} m ON m.turn_id = s.last_turn_id "
            "LEFT JOIN turns t ON t.id = s.last_turn_id"
        )
    ).first()
    if row is None or not row[0]:
        return 0, True  # nothing indexed yet
    last, marked_sid, marked_index, sid, index = row
    return last, marked_sid is not None and (marked_sid, marked_index) == (sid, index)


def _bring_up_to_date(db: Connection) -> int:
    """Inside a write transaction: rebuild the index if the bookmark no longer holds, then
    index the turns above it and move the bookmark to the newest turn."""
    last, intact = _bookmark(db)
    newest = _newest(db)
    if not intact:
        log.info("transcript index rebuilt: the turn it had reached is gone", last_turn_id=last)
        db.execute(text(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('delete-all')"))
        last = 0
    added = 0
    if newest > last:
        added = db.execute(
            text(
                f"INSERT INTO {FTS_TABLE}(rowid, text) SELECT id, text FROM turns "
                "WHERE id > :last AND id <= :newest"
            ),
            {"last": last, "newest": newest},
        ).rowcount
    db.execute(text(f"UPDATE {STATE_TABLE} SET last_turn_id = :newest"), {"newest": newest})
    db.execute(text(f"DELETE FROM {MARK_TABLE}"))
    if newest:
        db.execute(
            text(
                f"INSERT INTO {MARK_TABLE} (id, turn_id, call_sid, turn_index) "
                'SELECT 1, id, call_sid, "index" FROM turns WHERE id = :newest'
            ),
            {"newest": newest},
        )
    return max(added, 0)


def highlight(text_: str, terms: Sequence[str], width: int = 140) -> list[tuple[str, bool]]:
    """A window of `text_` around the first match, as (piece, is_match) for the template to
    escape and mark; empty when no term occurs."""
    pattern = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True) if t)
    if not pattern:
        return []
    found = re.search(pattern, text_, flags=re.IGNORECASE)
    if found is None:
        return []
    start = max(0, found.start() - width // 3)
    window = text_[start : start + width]
    pieces: list[tuple[str, bool]] = [("…", False)] if start else []
    cursor = 0
    for match in re.finditer(pattern, window, flags=re.IGNORECASE):
        pieces += [(window[cursor : match.start()], False), (match.group(0), True)]
        cursor = match.end()
    pieces.append((window[cursor:] + ("…" if start + width < len(text_) else ""), False))
    return [p for p in pieces if p[0]]
