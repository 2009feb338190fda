"""back office: RMA review fields and states, inspections, catalogue, webhook targets

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 21:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

#: Old RMA statuses → the state machine's (back_office.states); and back, for a downgrade.
RENAMED = {
    "requested": "awaiting_inspection",
    "inspecting": "in_review",
    "exchange_shipped": "replacement_shipped",
}
RESTORED = {
    "awaiting_inspection": "requested",
    "in_review": "inspecting",
    "refund_pending": "approved",
    "replacement_pending": "approved",
    "replacement_shipped": "exchange_shipped",
}


def _recode(mapping: dict[str, str]) -> None:
    rmas = sa.table("rmas", sa.column("status", sa.String))
    for old, new in mapping.items():
        op.execute(rmas.update().where(rmas.c.status == old).values(status=new))


def upgrade() -> None:
    op.create_table(
        "bo_catalogue",
        sa.Column("sku", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sku", name=op.f("pk_bo_catalogue")),
    )
    op.create_table(
        "bo_inspections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rma_id", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("inspector", sa.String(length=60), nullable=False),
        sa.Column("inspected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["rma_id"], ["rmas.id"], name=op.f("fk_bo_inspections_rma_id_rmas"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bo_inspections")),
        sa.UniqueConstraint("rma_id", name=op.f("uq_bo_inspections_rma_id")),
    )
    op.create_table(
        "bo_rma_intakes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rma_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revisions", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rma_id"], ["rmas.id"], name=op.f("fk_bo_rma_intakes_rma_id_rmas"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bo_rma_intakes")),
        sa.UniqueConstraint("number", name=op.f("uq_bo_rma_intakes_number")),
        sa.UniqueConstraint("rma_id", name=op.f("uq_bo_rma_intakes_rma_id")),
    )
    with op.batch_alter_table("rmas", schema=None) as batch_op:
        batch_op.add_column(sa.Column("description", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("quantity", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("order_item_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("opened", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("source", sa.String(length=10), server_default="api", nullable=False)
        )
        batch_op.add_column(sa.Column("decided_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("decision_reason", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("decision_notes", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("finance_reference", sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column("tracking_number", sa.String(length=40), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_rmas_order_item_id_order_items"),
            "order_items",
            ["order_item_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_rmas_decided_by_agents"),
            "agents",
            ["decided_by"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index("ix_rmas_status_updated", ["status", "updated_at"], unique=False)
    _recode(RENAMED)
    with op.batch_alter_table("mo_webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("target", sa.String(length=20), server_default="order_system", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("mo_webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_column("target")
    _recode(RESTORED)
    with op.batch_alter_table("rmas", schema=None) as batch_op:
        batch_op.drop_index("ix_rmas_status_updated")
        batch_op.drop_constraint(batch_op.f("fk_rmas_decided_by_agents"), type_="foreignkey")
        batch_op.drop_constraint(
            batch_op.f("fk_rmas_order_item_id_order_items"), type_="foreignkey"
        )
        for column in (
            "tracking_number",
            "finance_reference",
            "decision_notes",
            "decision_reason",
            "decided_at",
            "decided_by",
            "source",
            "opened",
            "order_item_id",
            "quantity",
            "description",
        ):
            batch_op.drop_column(column)
    op.drop_table("bo_rma_intakes")
    op.drop_table("bo_inspections")
    op.drop_table("bo_catalogue")
