"""Temporary support groups: agents lent a queue's skills for a while, then given them back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from core.errors import DomainError
from queues.config import QueueConfig
from queues.models import Agent, AgentPost, AgentSkill, Post
from supervision.models import SupportPull


class SupportError(DomainError):
    code = "support-refused"


@dataclass(frozen=True, slots=True)
class SupportGroup:
    """Who is in a group: agents holding a post, a team, or named logins."""

    name: str
    post: Post | None = None
    team: str | None = None
    logins: tuple[str, ...] = ()


def parse_groups(text: str) -> dict[str, SupportGroup]:
    """Read 'name=post:back_office; name2=team:x; name3=login1,login2' (raises ValueError)."""
    groups: dict[str, SupportGroup] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, selector = (x.strip() for x in part.partition("="))
        if not sep or not name or not selector:
            raise ValueError(f"{part!r} is not name=selector")
        kind, _, value = selector.partition(":")
        if kind == "post" and value:
            groups[name] = SupportGroup(name, post=Post(value))
        elif kind == "team" and value:
            groups[name] = SupportGroup(name, team=value)
        else:
            logins = tuple(x.strip() for x in selector.split(",") if x.strip())
            groups[name] = SupportGroup(name, logins=logins)
    return groups


def members(session: Session, group: SupportGroup) -> list[Agent]:
    """The group's active agents."""
    query = select(Agent).where(Agent.active.is_(True)).options(selectinload(Agent.skills))
    if group.post is not None:
        query = query.join(AgentPost).where(AgentPost.post == group.post)
    elif group.team is not None:
        query = query.where(Agent.team == group.team)
    else:
        query = query.where(Agent.login.in_(group.logins))
    return list(session.scalars(query.order_by(Agent.id)))


def pull(
    session: Session,
    group: SupportGroup,
    queue: QueueConfig,
    *,
    level: int,
    by: int | None,
    automatic: bool,
    now: datetime,
) -> list[int]:
    """Lend the group's agents the queue's skills they lack; the agents changed. Flushes.

    Each lent skill is logged as a `SupportPull`, so `release` removes exactly those and
    nothing an agent held before. Pulling a group already pulled into the queue adds nothing.
    """
    changed = []
    for agent in members(session, group):
        held = agent.skill_levels()
        lent = False
        for skill in queue.skills:
            if held.get(skill, 0) > 0:
                continue
            agent.skills.append(AgentSkill(skill=skill, level=level))
            session.add(
                SupportPull(
                    group_name=group.name,
                    queue=queue.name,
                    agent_id=agent.id,
                    skill=skill,
                    automatic=automatic,
                    pulled_at=now,
                    pulled_by=by,
                )
            )
            lent = True
        if lent:
            changed.append(agent.id)
    session.flush()
    return changed


def release(
    session: Session,
    group: str | None,
    queue: str | None,
    *,
    now: datetime,
    automatic_only: bool = False,
) -> list[int]:
    """Take back the skills lent (to `group`, for `queue`; None: any); the agents changed.

    Idempotent: released pulls are not released again. Flushes.
    """
    query = select(SupportPull).where(SupportPull.released_at.is_(None))
    if group is not None:
        query = query.where(SupportPull.group_name == group)
    if queue is not None:
        query = query.where(SupportPull.queue == queue)
    if automatic_only:
        query = query.where(SupportPull.automatic.is_(True))
    changed: list[int] = []
    for lent in session.scalars(query):
        still_lent = session.scalar(
            select(SupportPull.id).where(
                SupportPull.agent_id == lent.agent_id,
                SupportPull.skill == lent.skill,
                SupportPull.released_at.is_(None),
                SupportPull.id != lent.id,
            )
        )
        lent.released_at = now
        if still_lent is None:  # another open pull needs the same skill: keep it
            skill = session.get(AgentSkill, (lent.agent_id, lent.skill))
            if skill is not None:
                session.delete(skill)
        if lent.agent_id not in changed:
            changed.append(lent.agent_id)
    session.flush()
    session.expire_all()
    return changed


def open_pulls(session: Session) -> list[dict[str, object]]:
    """Groups currently pulled in, per queue (for the wallboard)."""
    seen: dict[tuple[str, str], dict[str, object]] = {}
    for lent in session.scalars(
        select(SupportPull).where(SupportPull.released_at.is_(None)).order_by(SupportPull.id)
    ):
        row = seen.setdefault(
            (lent.group_name, lent.queue),
            {"group": lent.group_name, "queue": lent.queue, "agents": [], "automatic": False},
        )
        agents = row["agents"]
        assert isinstance(agents, list)
        if lent.agent_id not in agents:
            agents.append(lent.agent_id)
        row["automatic"] = bool(row["automatic"]) or lent.automatic
    return list(seen.values())
