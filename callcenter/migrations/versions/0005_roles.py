"""staff roles: QC, floor supervisor, team lead, manager

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 17:00:01.986037
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_roles",
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "qc",
                "supervisor",
                "team_lead",
                "manager",
                name="role",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_agent_roles_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", "role", name=op.f("pk_agent_roles")),
    )


def downgrade() -> None:
    op.drop_table("agent_roles")
