"""Agents (accounts, skills, presence and its log) and the queue entries of inbound calls."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.ext.associationproxy import AssociationProxy, association_proxy
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, utcnow
from core.models import Language, str_enum


class Post(enum.StrEnum):
    """Posts split by call direction; front, middle and back office rotate, so one agent may
    hold several."""

    FRONT_DESK = "front_desk"  # inbound: answers the hotline
    MIDDLE_OFFICE = "middle_office"  # outbound: manual order review
    BACK_OFFICE = "back_office"  # outbound: RMA review


class Role(enum.StrEnum):
    """What an account may see and do beyond its own desk (every account has the desk)."""

    QC = "qc"  # quality control: replays and scores recordings
    SUPERVISOR = "supervisor"  # floor supervisor: wallboard, dispatch, monitoring
    TEAM_LEAD = "team_lead"  # a team's lead: wallboard, reports, recordings of the team
    MANAGER = "manager"  # the centre's manager
    DEPARTMENT = "department"  # a department's user (after-sales, logistics, finance, ...)


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
    # The rotating post worked now (None or one no longer held: the first held, `post_now`).
    current_post: Mapped[Post | None] = mapped_column(str_enum(Post))
    state_reason: Mapped[str | None] = mapped_column(String(40))  # break reason, or a note
    state_since: Mapped[datetime] = mapped_column(default=utcnow)
    # The call the agent is reserved for, on, or wrapping up; None in the other states.
    call_sid: Mapped[str | None] = mapped_column(String(64))
    last_call_ended_at: Mapped[datetime | None]  # "longest idle" starts here
    active: Mapped[bool] = mapped_column(default=True)  # False: account disabled
    # Console sessions carry it; signing out and a password change move it on, which ends
    # every session of the account at once (callcenter.desk.auth).
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
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
    role_rows: Mapped[list[AgentRole]] = relationship(
        cascade="all, delete-orphan", order_by="AgentRole.role", lazy="selectin"
    )
    posts: AssociationProxy[list[Post]] = association_proxy(
        "post_rows", "post", creator=lambda post: AgentPost(post=post)
    )
    languages: AssociationProxy[list[Language]] = association_proxy(
        "language_rows", "language", creator=lambda lang: AgentLanguage(language=lang)
    )
    roles: AssociationProxy[list[Role]] = association_proxy(
        "role_rows", "role", creator=lambda role: AgentRole(role=role)
    )

    @property
    def post_now(self) -> Post | None:
        """The rotating post worked now: the one chosen at the desk if still held, else the
        first held (front desk first), or None for staff without a rotating post."""
        held = sorted(self.posts, key=list(Post).index)
        if self.current_post in held:
            return self.current_post
        return held[0] if held else None

    def held_posts(self) -> frozenset[str]:
        """The posts that count for permissions (config/permissions.toml): the fixed ones and
        the rotating post worked now, not the other rotating posts held."""
        now = self.post_now
        return frozenset({r.value for r in self.roles} | ({now.value} if now else set()))

    def has_role(self, *wanted: Role) -> bool:
        """True if the account holds any of `wanted`."""
        return bool(set(self.roles).intersection(wanted))

    def skill_levels(self) -> dict[str, int]:
        return {s.skill: s.level for s in self.skills}


class AgentPost(Base):
    __tablename__ = "agent_posts"

    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    post: Mapped[Post] = mapped_column(str_enum(Post), primary_key=True)


class AgentRole(Base):
    __tablename__ = "agent_roles"

    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[Role] = mapped_column(str_enum(Role), primary_key=True)


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


class QueuedCallStatus(enum.StrEnum):
    """Where a queue entry stands; `waiting`, `callback`, `scheduled`, `assigned` and (until its
    talk ends) `connected` are open, the rest final."""

    WAITING = "waiting"  # in the hold loop, on the Redis waiting list
    ASSIGNED = "assigned"  # the router gave the caller an agent; the agent's leg rings
    CONNECTED = "connected"  # the agent answered (then the caller joined the conference)
    ABANDONED = "abandoned"  # the caller hung up while waiting or ringing (or a callback failed)
    CALLBACK = "callback"  # asked to be called back: off the line, still on the waiting list
    SCHEDULED = "scheduled"  # a callback waiting for its next attempt or for calling hours,
    # off the waiting list; `queue_callbacks.entries.release_due` puts it back in its place
    OVERFLOWED = "overflowed"  # moved to the queue's overflow queue
    VOICEMAIL = "voicemail"  # left the queue without an agent; offered a voicemail


class QueuedCall(Base):
    """One stay of a call in one queue: who waited, with which routing attributes, and how it ended.

    The system of record behind the Redis waiting list (whose entry id is this row's id), so
    `callcenter queues rebuild` can restore every caller's place from here.
    """

    __tablename__ = "queued_calls"
    __table_args__ = (
        UniqueConstraint("call_id", "queue", "enqueued_at"),
        Index("ix_queued_calls_status_queue", "status", "queue"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    queue: Mapped[str] = mapped_column(String(40))
    skill: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(8))
    tier: Mapped[str] = mapped_column(String(16))  # an unidentified caller counts as "new"
    route_priority: Mapped[int] = mapped_column(default=0)
    vip: Mapped[bool] = mapped_column(default=False)
    enqueued_at: Mapped[datetime]
    status: Mapped[QueuedCallStatus] = mapped_column(
        str_enum(QueuedCallStatus), default=QueuedCallStatus.WAITING
    )
    left_at: Mapped[datetime | None]
    wait_s: Mapped[int | None]  # seconds from enqueued_at to leaving the queue
    reason: Mapped[str | None] = mapped_column(String(40))  # Twilio's QueueResult, or ours
    # QueueTime (seconds waited) at the last position/wait announcement and comfort message:
    # the hold loop's memory between two fetches of the waitUrl.
    announced_at_s: Mapped[int | None]
    comforted_at_s: Mapped[int | None]
    # The connection: which agent the router gave the caller (the latest one, if the first
    # did not answer), the agent's call leg, and when the agent answered and the talk ended.
    assignment_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), index=True
    )
    agent_call_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    assigned_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]  # the agent answered: the end of the wait (ASA)
    talk_ended_at: Mapped[datetime | None]
    rings: Mapped[int] = mapped_column(default=0)  # agent legs placed for this entry
    # A callback request: the number to call (E.164) and when the caller asked.
    callback_to: Mapped[str | None] = mapped_column(String(16))
    callback_requested_at: Mapped[datetime | None]
    # Wrap-up, written by the agent at the desk.
    disposition: Mapped[str | None] = mapped_column(String(40))
    notes: Mapped[str | None] = mapped_column(Text)
    wrapped_up_at: Mapped[datetime | None]
