"""Agents of the front, middle and back office: accounts, skills, presence state and its log."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.ext.associationproxy import AssociationProxy, association_proxy
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.db import Base, utcnow
from callcenter.models import Language, str_enum


class Post(enum.StrEnum):
    """Posts split by call direction; front, middle and back office rotate, so one agent may
    hold several."""

    FRONT_DESK = "front_desk"  # inbound: answers the hotline
    MIDDLE_OFFICE = "middle_office"  # outbound: manual order review
    BACK_OFFICE = "back_office"  # outbound: RMA review


class AgentState(enum.StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"  # may be offered a caller
    RESERVED = "reserved"  # a caller was assigned; the agent's leg is ringing
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"  # after a call: notes and disposition; ends by itself
    BREAK = "break"  # with a reason code (lunch, training, missed, …)


class Actor(enum.StrEnum):
    """Who asked for a state change."""

    AGENT = "agent"  # the agent, from the desk
    SYSTEM = "system"  # the router, call callbacks, timers
    SUPERVISOR = "supervisor"  # a team lead or floor supervisor (or an operator's command)


class Agent(Base):
    """A person who takes or makes calls, with their current presence state."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(40), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str | None] = mapped_column(String(255))  # None: cannot log in
    team: Mapped[str] = mapped_column(String(40), default="")
    client_identity: Mapped[str] = mapped_column(String(64), unique=True)  # Twilio Client
    phone_e164: Mapped[str | None] = mapped_column(String(16))  # rings here if not in a browser
    state: Mapped[AgentState] = mapped_column(
        str_enum(AgentState), default=AgentState.OFFLINE, index=True
    )
    state_reason: Mapped[str | None] = mapped_column(String(40))  # break reason, or a note
    state_since: Mapped[datetime] = mapped_column(default=utcnow)
    # The call the agent is reserved for, on, or wrapping up; None in the other states.
    call_sid: Mapped[str | None] = mapped_column(String(64))
    last_call_ended_at: Mapped[datetime | None]  # "longest idle" starts here
    active: Mapped[bool] = mapped_column(default=True)  # False: account disabled
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    skills: Mapped[list[AgentSkill]] = relationship(
        back_populates="agent", cascade="all, delete-orphan", order_by="AgentSkill.skill"
    )
    post_rows: Mapped[list[AgentPost]] = relationship(
        cascade="all, delete-orphan", order_by="AgentPost.post"
    )
    language_rows: Mapped[list[AgentLanguage]] = relationship(
        cascade="all, delete-orphan", order_by="AgentLanguage.language"
    )
    posts: AssociationProxy[list[Post]] = association_proxy(
        "post_rows", "post", creator=lambda post: AgentPost(post=post)
    )
    languages: AssociationProxy[list[Language]] = association_proxy(
        "language_rows", "language", creator=lambda lang: AgentLanguage(language=lang)
    )

    def skill_levels(self) -> dict[str, int]:
        return {s.skill: s.level for s in self.skills}


class AgentPost(Base):
    __tablename__ = "agent_posts"

    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    post: Mapped[Post] = mapped_column(str_enum(Post), primary_key=True)


class AgentLanguage(Base):
    __tablename__ = "agent_languages"

    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[Language] = mapped_column(str_enum(Language), primary_key=True)


class AgentSkill(Base):
    """A skill an agent has (a queue's required skill), with a level from 1 to 5."""

    __tablename__ = "agent_skills"
    __table_args__ = (CheckConstraint("level BETWEEN 1 AND 5", name="level_1_to_5"),)

    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    skill: Mapped[str] = mapped_column(String(40), primary_key=True)
    level: Mapped[int] = mapped_column(default=3)

    agent: Mapped[Agent] = relationship(back_populates="skills")


class AgentEvent(Base):
    """The append-only presence log: every state change of an agent, with who and when."""

    __tablename__ = "agent_events"
    __table_args__ = (Index("ix_agent_events_agent_at", "agent_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    from_state: Mapped[AgentState | None] = mapped_column(str_enum(AgentState))  # None: created
    to_state: Mapped[AgentState] = mapped_column(str_enum(AgentState))
    reason: Mapped[str | None] = mapped_column(String(40))
    actor: Mapped[Actor] = mapped_column(str_enum(Actor))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    call_sid: Mapped[str | None] = mapped_column(String(64), index=True)
