"""recordings

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 17:04:18.974100
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "recording",
                "pending",
                "processing",
                "stored",
                "failed",
                "purged",
                name="recordingstatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("twilio_status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=10), nullable=True),
        sa.Column("source_url", sa.String(length=500), nullable=False),
        sa.Column("duration_s", sa.Integer(), nullable=True),
        sa.Column("channels", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("queued_call_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("queue", sa.String(length=40), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("job_enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("processing_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failure_code", sa.String(length=40), nullable=True),
        sa.Column("failure_reason", sa.String(length=500), nullable=True),
        sa.Column("measures", sa.JSON(), nullable=True),
        sa.Column("peaks", sa.JSON(), nullable=True),
        sa.Column("audio_seconds", sa.Double(), nullable=True),
        sa.Column("storage_key", sa.String(length=255), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("content_type", sa.String(length=40), nullable=True),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("twilio_deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_recordings_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_recordings_call_id_calls"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_recordings_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["queued_call_id"],
            ["queued_calls.id"],
            name=op.f("fk_recordings_queued_call_id_queued_calls"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
        sa.UniqueConstraint("sid", name=op.f("uq_recordings_sid")),
    )
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recordings_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_recordings_call_id"), ["call_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_recordings_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_recordings_queue"), ["queue"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_recordings_queued_call_id"), ["queued_call_id"], unique=False
        )
        batch_op.create_index(
            "ix_recordings_status_created", ["status", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index("ix_recordings_status_created")
        batch_op.drop_index(batch_op.f("ix_recordings_queued_call_id"))
        batch_op.drop_index(batch_op.f("ix_recordings_queue"))
        batch_op.drop_index(batch_op.f("ix_recordings_customer_id"))
        batch_op.drop_index(batch_op.f("ix_recordings_call_id"))
        batch_op.drop_index(batch_op.f("ix_recordings_agent_id"))

    op.drop_table("recordings")
