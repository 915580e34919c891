"""Baseline: every table as it stood when the schema moved to Alembic.

Idempotent on purpose, so it also adopts a database created before Alembic (by
`create_all`, from any earlier version of the models) in place: a missing table is created, a
missing column is added with its default (the rows already there get it), a missing index is
built. Nothing present is dropped or altered. On a new database it simply creates everything.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

schema = sa.MetaData()
TZ = sa.DateTime(timezone=True)


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True)


def _str(name: str, length: int | None = None, **kw) -> sa.Column:
    kind = sa.Text() if length is None else sa.String(length)
    return sa.Column(name, kind, nullable=False, **kw)


def _opt(name: str, kind: sa.types.TypeEngine) -> sa.Column:
    return sa.Column(name, kind, nullable=True)


def _req(name: str, kind: sa.types.TypeEngine, **kw) -> sa.Column:
    return sa.Column(name, kind, nullable=False, **kw)


sa.Table(
    "calls",
    schema,
    _str("call_sid", 64, primary_key=True),
    _str("stream_sid", 64),
    _str("worker", 128),
    _str("caller", 32, index=True),
    _req("started_at", TZ, index=True),
    _opt("ended_at", TZ),
    _opt("duration_s", sa.Float()),
    _req("turns", sa.Integer()),
    _str("end_reason", 32),
    _str("outcome", 16),
    _str("summary"),
    _str("topics"),
    _req("escalated", sa.Boolean(), index=True),
    _str("escalation_rule", 32),
    _str("escalation_reason"),
    _opt("escalation_turn", sa.Integer()),
    _opt("min_sentiment", sa.Float()),
    _opt("median_latency_ms", sa.Float()),
    _str("recording_path"),
    _str("events_path"),
)
sa.Table(
    "turns",
    schema,
    _id(),
    _str("call_sid", 64, index=True),
    _req("index", sa.Integer()),
    _str("role", 8),
    _str("text"),
    _req("start_s", sa.Float()),
    _req("end_s", sa.Float()),
    _str("language", 8),
    _opt("latency_ms", sa.Float()),
    _req("interrupted", sa.Boolean()),
    _str("sentiment_label", 8),
    _opt("sentiment_score", sa.Float()),
    _opt("escalation_probability", sa.Float()),
    sa.ForeignKeyConstraint(["call_sid"], ["calls.call_sid"]),
)
sa.Table(
    "callback_requests",
    schema,
    _id(),
    _str("call_sid", 64, index=True),
    _str("phone", 32),
    _str("name", 128),
    _str("reason"),
    _str("summary"),
    _req("created_at", TZ, index=True),
    _str("status", 16, index=True),
)
sa.Table(
    "customers",
    schema,
    _id(),
    _str("phone", 16, unique=True),
    _str("name", 120),
    _str("email", 200),
)
sa.Table(
    "orders",
    schema,
    _id(),
    _str("number", 16, unique=True),
    _req("customer_id", sa.Integer(), index=True),
    _str("status", 16),
    _req("items", sa.JSON()),
    _req("ordered_on", sa.Date()),
    _opt("shipped_on", sa.Date()),
    _opt("delivered_on", sa.Date()),
    _opt("eta", sa.Date()),
    _str("carrier", 32),
    _str("tracking", 64),
    sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
)
sa.Table(
    "returns",
    schema,
    _id(),
    _str("order_number", 16, unique=True),
    _str("reason"),
    _str("status", 16),
    _req("refund_cents", sa.BigInteger()),
    _req("created_at", TZ),
    sa.ForeignKeyConstraint(["order_number"], ["orders.number"]),
)
sa.Table(
    "accounts",
    schema,
    _id(),
    _str("number", 20, unique=True),
    _req("customer_id", sa.Integer(), index=True),
    _str("kind", 16),
    _req("balance_cents", sa.BigInteger()),
    _str("currency", 3),
    sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
)
sa.Table(
    "cards",
    schema,
    _id(),
    _str("last4", 4),
    _req("account_id", sa.Integer(), index=True),
    _str("status", 16),
    _opt("blocked_at", TZ),
    sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
    sa.UniqueConstraint("account_id", "last4"),
)
sa.Table(
    "clinics",
    schema,
    _id(),
    _str("name", 80, unique=True),
    _str("address", 200),
    _str("phone", 16),
    _req("hours", sa.JSON()),
    _req("kinds", sa.JSON()),
    _req("doctors", sa.JSON()),
    _req("slot_minutes", sa.Integer()),
)
sa.Table(
    "appointments",
    schema,
    _id(),
    _req("customer_id", sa.Integer(), index=True),
    _req("clinic_id", sa.Integer(), index=True),
    _str("kind", 40),
    _str("doctor", 80),
    _req("starts_at", sa.DateTime(), index=True),
    _req("minutes", sa.Integer()),
    _str("status", 16),
    sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
    sa.ForeignKeyConstraint(["clinic_id"], ["clinics.id"]),
)
sa.Table(
    "review_managers",
    schema,
    _id(),
    _str("name", 64, unique=True),
    _str("password_hash", 255),
    _req("created_at", TZ),
    _req("failed_logins", sa.Integer()),
    _opt("locked_until", TZ),
)
sa.Table(
    "review_sessions",
    schema,
    _str("token_hash", 64, primary_key=True),
    _req("manager_id", sa.Integer(), index=True),
    _str("csrf_token", 64),
    _req("created_at", TZ),
    _req("expires_at", TZ, index=True),
    sa.ForeignKeyConstraint(["manager_id"], ["review_managers.id"], ondelete="CASCADE"),
)
sa.Table(
    "review_tags",
    schema,
    _id(),
    _str("call_sid", 64, index=True),
    _str("tag", 32, index=True),
    _req("manager_id", sa.Integer()),
    _req("created_at", TZ),
    sa.ForeignKeyConstraint(["manager_id"], ["review_managers.id"]),
    sa.UniqueConstraint("call_sid", "tag"),
)
sa.Table(
    "review_notes",
    schema,
    _id(),
    _str("call_sid", 64, index=True),
    _req("manager_id", sa.Integer()),
    _str("text"),
    _req("created_at", TZ),
    sa.ForeignKeyConstraint(["manager_id"], ["review_managers.id"]),
)


def _backfill(column: sa.Column) -> sa.Column:
    """The column to add to a table that already has rows: NOT NULL needs a server default
    for them; a column with no sensible one (a date) is added nullable instead."""
    kind = column.type
    if column.nullable:  # the rows already there get NULL, as a new row would
        default = None
    elif isinstance(kind, sa.Boolean):
        default = sa.false()
    elif isinstance(kind, sa.Integer | sa.Float):
        default = sa.text("0")
    elif isinstance(kind, sa.String):  # Text is a String
        default = sa.text("''")
    else:
        default = None
    nullable = column.nullable or default is None
    return sa.Column(column.name, kind, nullable=nullable, server_default=default)


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    for table in schema.sorted_tables:
        if not inspector.has_table(table.name):
            table.create(bind)
            continue
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in have:
                op.add_column(table.name, _backfill(column))
        indexes = {i["name"] for i in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in indexes:
                index.create(bind)


def downgrade() -> None:
    schema.drop_all(op.get_bind())
