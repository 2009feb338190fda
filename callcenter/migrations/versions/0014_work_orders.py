"""work orders: the work order, its timeline of events, linked calls

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 21:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

STATUSES = ("open", "with_department", "in_progress", "waiting_on_customer", "answered", "closed")


def upgrade() -> None:
    op.create_table(
        "work_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("client_key", sa.String(length=80), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("rma_id", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("subcategory", sa.String(length=40), nullable=True),
        sa.Column("department", sa.String(length=40), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(*STATUSES, name="workorderstatus", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("owner_team", sa.String(length=40), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("suggested_category", sa.String(length=40), nullable=True),
        sa.Column("suggested_department", sa.String(length=40), nullable=True),
        sa.Column("suggestion_overridden", sa.Boolean(), nullable=False),
        sa.Column("resolution_code", sa.String(length=40), nullable=True),
        sa.Column("resolved_on_contact", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["agents.id"],
            name=op.f("fk_work_orders_assignee_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_work_orders_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_work_orders_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["agents.id"],
            name=op.f("fk_work_orders_owner_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["rma_id"], ["rmas.id"], name=op.f("fk_work_orders_rma_id_rmas")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_orders")),
        sa.UniqueConstraint("client_key", name=op.f("uq_work_orders_client_key")),
        sa.UniqueConstraint("number", name=op.f("uq_work_orders_number")),
    )
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_work_orders_customer_created", ["customer_id", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_work_orders_customer_id"), ["customer_id"])
        batch_op.create_index(batch_op.f("ix_work_orders_order_id"), ["order_id"])
        batch_op.create_index(batch_op.f("ix_work_orders_rma_id"), ["rma_id"])
        batch_op.create_index(
            "ix_work_orders_status_department", ["status", "department"], unique=False
        )
    op.create_table(
        "work_order_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=60), nullable=False),
        sa.Column("dedupe_key", sa.String(length=120), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["agents.id"],
            name=op.f("fk_work_order_events_author_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_work_order_events_work_order_id_work_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_events")),
        sa.UniqueConstraint(
            "work_order_id",
            "dedupe_key",
            name=op.f("uq_work_order_events_work_order_id_dedupe_key"),
        ),
    )
    with op.batch_alter_table("work_order_events", schema=None) as batch_op:
        batch_op.create_index("ix_work_order_events_kind_at", ["kind", "at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_work_order_events_work_order_id"), ["work_order_id"], unique=False
        )
    op.create_table(
        "work_order_calls",
        sa.Column("work_order_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name=op.f("fk_work_order_calls_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_work_order_calls_work_order_id_work_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("work_order_id", "call_id", name=op.f("pk_work_order_calls")),
    )
    with op.batch_alter_table("work_order_calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_work_order_calls_call_id"), ["call_id"], unique=False)


def downgrade() -> None:
    op.drop_table("work_order_calls")
    op.drop_table("work_order_events")
    op.drop_table("work_orders")
