"""outbound attempts under way: an index by status and agent

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 20:45:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mo_outbound_attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mo_outbound_attempts_status_agent", ["status", "agent_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("mo_outbound_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_mo_outbound_attempts_status_agent")
