"""Full-text search over transcripts: SQLite FTS5 when available, LIKE/ILIKE anywhere else.

Both paths mean the same thing: every term (a word, or a "quoted phrase") occurs somewhere in the
call's transcript. FTS5 matches terms as word prefixes ("refund" finds "refunds"); LIKE matches
substrings. The FTS5 index is contentless (the text stays in `turns` only) and is brought up to
date incrementally before each search: turns are append-only, so new rows are those with an id
above the last one indexed. It is review's own table; the call path never writes to it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Integer, and_, column, exists, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql.elements import ColumnElement

from voice.logs import get_logger
from voice.store import Call, Turn

log = get_logger(__name__)

FTS_TABLE = "review_turns_fts"
STATE_TABLE = "review_turns_fts_state"
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
                db.execute(text(f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
                                "text, content='', tokenize='unicode61 remove_diacritics 2')"))
                db.execute(text(f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} ("
                                "id INTEGER PRIMARY KEY CHECK (id = 1), "
                                "last_turn_id INTEGER NOT NULL)"))
                db.execute(text(f"INSERT OR IGNORE INTO {STATE_TABLE} VALUES (1, 0)"))
            self.uses_fts = True
        except OperationalError:  # no FTS5 in this SQLite build
            if self.mode == "fts":
                raise
            self.uses_fts = False

    def sync(self, engine: Engine) -> int:
        """Index turns added since the last search; returns how many were new.

        The insert reads the bookmark inside its own write transaction, so two processes
        syncing at once cannot index a turn twice. A sync that fails (the database busy for
        longer than its timeout) leaves the index a little behind; the search still runs.
        """
        if not self.uses_fts:
            return 0
        with self._lock:
            with engine.connect() as db:
                last = db.scalar(text(f"SELECT last_turn_id FROM {STATE_TABLE}")) or 0
                newest = db.scalar(select(Turn.id).order_by(Turn.id.desc()).limit(1)) or 0
            if newest <= last:
                return 0
            try:
                with engine.begin() as db:
                    db.execute(text(
                        f"INSERT INTO {FTS_TABLE}(rowid, text) SELECT id, text FROM turns "
                        f"WHERE id > (SELECT last_turn_id FROM {STATE_TABLE}) AND id <= :newest"),
                        {"newest": newest})
                    db.execute(text(f"UPDATE {STATE_TABLE} SET last_turn_id = "
                                    "max(last_turn_id, :newest)"), {"newest": newest})
            except OperationalError:
                log.warning("transcript index not brought up to date", exc_info=True)
                return 0
            return newest - last

    def condition(self, terms: Sequence[str]) -> ColumnElement[bool] | None:
        """A WHERE clause on `calls` for calls whose transcript has every term."""
        clauses = [self._fts_clause(i, t) if self.uses_fts else self._like_clause(t)
                   for i, t in enumerate(terms)]
        clauses = [c for c in clauses if c is not None]
        return and_(*clauses) if clauses else None

    @staticmethod
    def _fts_clause(position: int, term: str) -> ColumnElement[bool] | None:
        expression = fts_expression(term)
        if expression is None:
            return None
        matches = (text(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :q{position}")
                   .bindparams(**{f"q{position}": expression})
                   .columns(column("rowid", Integer)))
        return Call.call_sid.in_(select(Turn.call_sid).where(Turn.id.in_(matches)))

    @staticmethod
    def _like_clause(term: str) -> ColumnElement[bool]:
        return exists().where(Turn.call_sid == Call.call_sid,
                              Turn.text.ilike(_like_pattern(term), escape="\\"))


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
    window = text_[start:start + width]
    pieces: list[tuple[str, bool]] = [("…", False)] if start else []
    cursor = 0
    for match in re.finditer(pattern, window, flags=re.IGNORECASE):
        pieces += [(window[cursor:match.start()], False), (match.group(0), True)]
        cursor = match.end()
    pieces.append((window[cursor:] + ("…" if start + width < len(text_) else ""), False))
    return [p for p in pieces if p[0]]
