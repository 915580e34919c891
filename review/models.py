"""The tables review owns (managers, their sessions, the tags and notes they leave on calls),
declared with every other table in `voice.store.schema`, and creating them."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from voice.store.schema import REVIEW_TABLES, Base


def create_review_tables(engine: Engine) -> None:
    """Create review's tables if missing (safe on every start; touches no other table)."""
    Base.metadata.create_all(engine, tables=REVIEW_TABLES)
