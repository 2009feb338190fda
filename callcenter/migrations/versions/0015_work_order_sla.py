"""work order SLA: the clocks' snapshot (due times, state, next check) and the escalation

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 21:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_TIMES = ("feedback_due_at", "resolution_due_at", "next_check_at", "clocks_at", "escalated_at")


def upgrade() -> None:
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        for name in _TIMES:
            batch_op.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("sla_state", sa.String(length=12), nullable=True))
        batch_op.create_index("ix_work_orders_next_check_at", ["next_check_at"])
        batch_op.create_index("ix_work_orders_escalated_at", ["escalated_at"])
    # Work orders already open get their first check at once (the sweep computes their clocks).
    op.execute("UPDATE work_orders SET next_check_at = created_at WHERE status <> 'closed'")


def downgrade() -> None:
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_work_orders_escalated_at")
        batch_op.drop_index("ix_work_orders_next_check_at")
        batch_op.drop_column("sla_state")
        for name in reversed(_TIMES):
            batch_op.drop_column(name)
