"""agents: posts, languages, skills and the presence log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 15:19:38.680211
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(length=40), nullable=False),
        sa.Column("display_name", sa.String(length=120), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("team", sa.String(length=40), nullable=False),
        sa.Column("client_identity", sa.String(length=64), nullable=False),
        sa.Column("phone_e164", sa.String(length=16), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "offline",
                "available",
                "reserved",
                "on_call",
                "wrap_up",
                "break",
                name="agentstate",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("state_reason", sa.String(length=40), nullable=True),
        sa.Column("state_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=True),
        sa.Column("last_call_ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint("client_identity", name=op.f("uq_agents_client_identity")),
        sa.UniqueConstraint("login", name=op.f("uq_agents_login")),
    )
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agents_state"), ["state"], unique=False)

    op.create_table(
        "agent_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column(
            "from_state",
            sa.Enum(
                "offline",
                "available",
                "reserved",
                "on_call",
                "wrap_up",
                "break",
                name="agentstate",
                native_enum=False,
                length=24,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_state",
            sa.Enum(
                "offline",
                "available",
                "reserved",
                "on_call",
                "wrap_up",
                "break",
                name="agentstate",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column(
            "actor",
            sa.Enum("agent", "system", "supervisor", name="actor", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_agent_events_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_events")),
    )
    with op.batch_alter_table("agent_events", schema=None) as batch_op:
        batch_op.create_index("ix_agent_events_agent_at", ["agent_id", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_agent_events_call_sid"), ["call_sid"], unique=False)

    op.create_table(
        "agent_languages",
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column(
            "language",
            sa.Enum("zh", "en", name="language", native_enum=False, length=24),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_agent_languages_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", "language", name=op.f("pk_agent_languages")),
    )
    op.create_table(
        "agent_posts",
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column(
            "post",
            sa.Enum(
                "front_desk",
                "middle_office",
                "back_office",
                name="post",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_agent_posts_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", "post", name=op.f("pk_agent_posts")),
    )
    op.create_table(
        "agent_skills",
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("skill", sa.String(length=40), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.CheckConstraint("level BETWEEN 1 AND 5", name=op.f("ck_agent_skills_level_1_to_5")),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_agent_skills_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", "skill", name=op.f("pk_agent_skills")),
    )


def downgrade() -> None:
    op.drop_table("agent_skills")
    op.drop_table("agent_posts")
    op.drop_table("agent_languages")
    with op.batch_alter_table("agent_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_events_call_sid"))
        batch_op.drop_index("ix_agent_events_agent_at")

    op.drop_table("agent_events")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agents_state"))

    op.drop_table("agents")
