"""connecting queued calls: assignment, agent leg, callback request, wrap-up

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 16:17:07.616503
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("queued_calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assignment_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("agent_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("agent_call_sid", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("talk_ended_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("rings", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("callback_to", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("callback_requested_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("disposition", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("notes", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("wrapped_up_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_queued_calls_agent_call_sid"), ["agent_call_sid"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_queued_calls_agent_id"), ["agent_id"], unique=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_queued_calls_assignment_id"), ["assignment_id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_queued_calls_agent_id_agents"),
            "agents",
            ["agent_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("queued_calls", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_queued_calls_agent_id_agents"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_queued_calls_assignment_id"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_queued_calls_agent_id"))
        batch_op.drop_index(batch_op.f("ix_queued_calls_agent_call_sid"))
        batch_op.drop_column("wrapped_up_at")
        batch_op.drop_column("notes")
        batch_op.drop_column("disposition")
        batch_op.drop_column("callback_requested_at")
        batch_op.drop_column("callback_to")
        batch_op.drop_column("rings")
        batch_op.drop_column("talk_ended_at")
        batch_op.drop_column("answered_at")
        batch_op.drop_column("assigned_at")
        batch_op.drop_column("agent_call_sid")
        batch_op.drop_column("agent_id")
        batch_op.drop_column("assignment_id")
