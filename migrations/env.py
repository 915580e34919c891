"""Alembic's environment: one function for the CLI and for `voice.store.calls.Store` at start-up.

`Store` hands over its open connection in `config.attributes["connection"]`; the CLI
(`alembic upgrade head`, `alembic revision --autogenerate`) connects to DATABASE_URL.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import Connection

config = context.config


def models() -> MetaData:
    """Every table the code declares (all in `voice.store.schema`), for autogenerate to compare
    the database with."""
    from voice.store.schema import Base

    return Base.metadata


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Leave alone tables no model declares (review's FTS5 index and its shadow tables):
    autogenerate would otherwise propose dropping them."""
    return not (type_ == "table" and reflected and compare_to is None)


def run(connection: Connection, target: MetaData | None) -> None:
    context.configure(
        connection=connection,
        target_metadata=target,
        include_object=include_object,
        render_as_batch=True,  # SQLite can only ALTER through table copies
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def database_url() -> str:
    from voice.settings import Settings

    return config.get_main_option("sqlalchemy.url") or Settings().database


shared = config.attributes.get("connection")
if shared is not None:
    run(shared, config.attributes.get("target_metadata"))
else:
    if config.config_file_name:  # the CLI's logging; never when the service calls us
        fileConfig(config.config_file_name)
    with create_engine(database_url()).connect() as cli_connection:
        run(cli_connection, models())
