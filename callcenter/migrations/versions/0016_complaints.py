"""complaints: a complaint work order's severity, remedy and follow-up

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 22:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

STAGES = (
    "received",
    "classified",
    "decided",
    "carried_out",
    "closed",
    "followed_up",
    "reopened",
)


def upgrade() -> None:
    op.create_table(
        "complaints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=False),
        sa.Column(
            "stage",
            sa.Enum(*STAGES, name="stage", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("severity", sa.String(length=16), nullable=True),
        sa.Column("remedy", sa.String(length=16), nullable=True),
        sa.Column("remedy_details", sa.JSON(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("carried_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rounds", sa.Integer(), nullable=False),
        sa.Column("follow_up_task_id", sa.Integer(), nullable=True),
        sa.Column("follow_up_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("follow_up_rating", sa.Integer(), nullable=True),
        sa.Column("followed_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["agents.id"],
            name=op.f("fk_complaints_decided_by_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["follow_up_task_id"],
            ["mo_outbound_tasks.id"],
            name=op.f("fk_complaints_follow_up_task_id_mo_outbound_tasks"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_complaints_work_order_id_work_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaints")),
        sa.UniqueConstraint("work_order_id", name=op.f("uq_complaints_work_order_id")),
    )


def downgrade() -> None:
    op.drop_table("complaints")
