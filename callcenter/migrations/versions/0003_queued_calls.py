"""queued calls

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 15:38:58.599723
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queued_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("queue", sa.String(length=40), nullable=False),
        sa.Column("skill", sa.String(length=40), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("route_priority", sa.Integer(), nullable=False),
        sa.Column("vip", sa.Boolean(), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "waiting",
                "assigned",
                "connected",
                "abandoned",
                "callback",
                "overflowed",
                "voicemail",
                name="queuedcallstatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("wait_s", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("announced_at_s", sa.Integer(), nullable=True),
        sa.Column("comforted_at_s", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name=op.f("fk_queued_calls_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queued_calls")),
        sa.UniqueConstraint(
            "call_id",
            "queue",
            "enqueued_at",
            name=op.f("uq_queued_calls_call_id_queue_enqueued_at"),
        ),
    )
    with op.batch_alter_table("queued_calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_queued_calls_call_id"), ["call_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_queued_calls_call_sid"), ["call_sid"], unique=False)
        batch_op.create_index("ix_queued_calls_status_queue", ["status", "queue"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("queued_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_queued_calls_status_queue")
        batch_op.drop_index(batch_op.f("ix_queued_calls_call_sid"))
        batch_op.drop_index(batch_op.f("ix_queued_calls_call_id"))

    op.drop_table("queued_calls")
