"""Stream grants: the caller's number and one-use stream token for each answered call.

`/twilio/voice` stores one row per CallSid; the media stream (possibly on another worker) takes
the caller's number from it and marks it used. Idempotent like the others: a database whose
tables `create_all` made from the current models already has the table.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "stream_grants"
INDEX = "ix_stream_grants_expires_at"
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table(TABLE):
        op.create_table(
            TABLE,
            sa.Column("call_sid", sa.String(64), primary_key=True, nullable=False),
            sa.Column("caller", sa.String(32), nullable=False),
            sa.Column("nonce", sa.String(64), nullable=False),
            sa.Column("expires_at", TZ, nullable=False),
            sa.Column("used_at", TZ, nullable=True),
        )
    if not any(i["name"] == INDEX for i in sa.inspect(op.get_bind()).get_indexes(TABLE)):
        op.create_index(INDEX, TABLE, ["expires_at"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name=TABLE)
    op.drop_table(TABLE)
