"""One active booking per doctor and start time.

A partial unique index over the active appointments (booked or moved; a cancelled one frees its
slot), so two calls that both saw a slot free can't both book it: the second insert fails and
the agent says the slot was just taken. Idempotent like the baseline: a database whose tables
`create_all` made from the current models already has the index.

A database that already holds two active bookings for one slot stops here with the rows named,
rather than having one of them cancelled behind a patient's back: a person must choose.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

INDEX = "uq_appointments_active_slot"
ACTIVE = "status IN ('booked', 'moved')"
COLUMNS = ["clinic_id", "doctor", "starts_at"]


def _double_bookings(bind: sa.Connection) -> list[sa.Row]:
    return list(
        bind.execute(
            sa.text(
                f"SELECT clinic_id, doctor, starts_at, COUNT(*) FROM appointments WHERE {ACTIVE} "
                "GROUP BY clinic_id, doctor, starts_at HAVING COUNT(*) > 1"
            )
        )
    )


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if any(i["name"] == INDEX for i in inspector.get_indexes("appointments")):
        return
    clashes = _double_bookings(bind)
    if clashes:
        listed = "; ".join(f"clinic {c} {d} at {s} ({n} bookings)" for c, d, s, n in clashes)
        raise RuntimeError(
            f"appointments already double-booked, cancel or move all but one of "
            f"each before upgrading: {listed}"
        )
    op.create_index(
        INDEX,
        "appointments",
        COLUMNS,
        unique=True,
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="appointments")
