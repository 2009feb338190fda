"""supervisor: alerts, support pulls, monitoring

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 17:04:25.862706
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supervisor_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "longest_wait",
                "vip_wait",
                "service_level",
                "agent_away",
                name="alertkind",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("message", sa.String(length=200), nullable=False),
        sa.Column("open_key", sa.String(length=124), nullable=True),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"],
            ["agents.id"],
            name=op.f("fk_supervisor_alerts_acknowledged_by_agents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervisor_alerts")),
        sa.UniqueConstraint("open_key", name=op.f("uq_supervisor_alerts_open_key")),
    )
    with op.batch_alter_table("supervisor_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_supervisor_alerts_ack", ["acknowledged_at"], unique=False)

    op.create_table(
        "support_pulls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_name", sa.String(length=40), nullable=False),
        sa.Column("queue", sa.String(length=40), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("skill", sa.String(length=40), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("pulled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pulled_by", sa.Integer(), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_support_pulls_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pulled_by"],
            ["agents.id"],
            name=op.f("fk_support_pulls_pulled_by_agents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_pulls")),
    )
    with op.batch_alter_table("support_pulls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_support_pulls_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(
            "ix_support_pulls_open", ["group_name", "queue", "released_at"], unique=False
        )

    op.create_table(
        "monitorings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("supervisor_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column(
            "mode",
            sa.Enum("listen", "whisper", "barge", name="monitormode", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("call_sid", sa.String(length=64), nullable=True),
        sa.Column("conference_sid", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_monitorings_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["queued_calls.id"],
            name=op.f("fk_monitorings_entry_id_queued_calls"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["supervisor_id"],
            ["agents.id"],
            name=op.f("fk_monitorings_supervisor_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitorings")),
    )
    with op.batch_alter_table("monitorings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_monitorings_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_monitorings_entry_id"), ["entry_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("monitorings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitorings_entry_id"))
        batch_op.drop_index(batch_op.f("ix_monitorings_agent_id"))

    op.drop_table("monitorings")
    with op.batch_alter_table("support_pulls", schema=None) as batch_op:
        batch_op.drop_index("ix_support_pulls_open")
        batch_op.drop_index(batch_op.f("ix_support_pulls_agent_id"))

    op.drop_table("support_pulls")
    with op.batch_alter_table("supervisor_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_supervisor_alerts_ack")

    op.drop_table("supervisor_alerts")
