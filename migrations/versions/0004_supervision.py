"""The live supervisor console: live call state, supervisor actions, call-back attempts.

`live_calls` holds each call in progress as the worker holding it last wrote it;
`supervisor_actions` is every manager action on a call and the command queue of the worker
holding it; `callback_attempts` is each outbound "Call back now" and its outcome. A callback
request can be marked done with a note, a manager has a phone number of their own, and an
agent turn a supervisor typed names them.
Idempotent like the others: a database whose tables `create_all` made from the current models
already has all of it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

TZ = sa.DateTime(timezone=True)


def _str(name: str, length: int | None = None, **kw) -> sa.Column:
    kind = sa.Text() if length is None else sa.String(length)
    return sa.Column(name, kind, nullable=False, **kw)


def _opt(name: str, kind: sa.types.TypeEngine) -> sa.Column:
    return sa.Column(name, kind, nullable=True)


def _req(name: str, kind: sa.types.TypeEngine, **kw) -> sa.Column:
    return sa.Column(name, kind, nullable=False, **kw)


def _tables() -> list[sa.Table]:
    schema = sa.MetaData()
    live = sa.Table(
        "live_calls",
        schema,
        _str("call_sid", 64, primary_key=True),
        _str("worker", 128),
        _str("worker_name", 128),
        _str("caller", 32),
        _str("caller_name", 120),
        _req("started_at", TZ, index=True),
        _req("updated_at", TZ, index=True),
        _opt("ended_at", TZ),
        _str("status", 16, index=True),
        _str("end_reason", 32),
        _str("intent", 40),
        _req("facts", sa.JSON()),
        _str("pending_question"),
        _str("pending_action", 40),
        _req("blocked_actions", sa.JSON()),
        _str("sentiment_label", 8),
        _opt("sentiment_score", sa.Float()),
        _opt("escalation_probability", sa.Float()),
        _str("speaking", 8),
        _req("turns", sa.Integer()),
        _req("version", sa.Integer()),
    )
    actions = sa.Table(
        "supervisor_actions",
        schema,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _str("call_sid", 64, index=True),
        _str("manager", 64),
        _str("kind", 16),
        _str("text"),
        _str("state", 12),
        _str("worker", 128),
        _str("result"),
        _req("created_at", TZ, index=True),
        _opt("done_at", TZ),
        sa.Index("ix_supervisor_actions_state_call", "state", "call_sid"),
    )
    attempts = sa.Table(
        "callback_attempts",
        schema,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _req("request_id", sa.Integer(), index=True),
        _str("manager", 64),
        _str("twilio_sid", 64, index=True),
        _req("placed_at", TZ, index=True),
        _req("updated_at", TZ),
        _str("status", 16),
        _str("outcome", 16),
        _str("detail"),
    )
    return [live, actions, attempts]


# Columns added to tables that exist (with a server default for the rows already there).
NEW_COLUMNS = {
    "callback_requests": [
        sa.Column("done_at", TZ, nullable=True),
        sa.Column("done_by", sa.String(64), nullable=False, server_default=sa.text("''")),
        sa.Column("done_note", sa.Text(), nullable=False, server_default=sa.text("''")),
    ],
    "turns": [  # an agent turn a supervisor typed: the manager's name
        sa.Column("supervisor", sa.String(64), nullable=False, server_default=sa.text("''")),
    ],
    "review_managers": [
        sa.Column("phone", sa.String(16), nullable=False, server_default=sa.text("''")),
    ],
}


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    for table in _tables():
        if not inspector.has_table(table.name):
            table.create(bind)
    for table_name, columns in NEW_COLUMNS.items():
        have = {c["name"] for c in inspector.get_columns(table_name)}
        for column in columns:
            if column.name not in have:
                op.add_column(table_name, column)


def downgrade() -> None:
    for table_name, columns in NEW_COLUMNS.items():
        with op.batch_alter_table(table_name) as batch:
            for column in columns:
                batch.drop_column(column.name)
    for table in reversed(_tables()):
        table.drop(op.get_bind())
