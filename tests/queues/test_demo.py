"""The demo agents: a small floor able to serve every shipped queue in its languages."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.settings import DEFAULT_QUEUES
from queues.config import load_queues
from queues.demo import DEMO_PASSWORD, seed_agents
from queues.models import Agent, AgentEvent, AgentState, Post, Role
from queues.passwords import authenticate
from queues.presence import list_agents

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def test_seed_agents_once(session: Session) -> None:
    assert seed_agents(session, now=NOW).created
    again = seed_agents(session, now=NOW)
    assert not again.created and again.agents == 0
    agents = list_agents(session)
    assert len(agents) == 23 and all(a.state is AgentState.OFFLINE for a in agents)
    assert session.scalar(select(func.count()).select_from(AgentEvent)) == 23
    posts = [set(a.posts) for a in agents]
    assert sum(Post.MIDDLE_OFFICE in p for p in posts) == 2
    assert sum(Post.BACK_OFFICE in p for p in posts) == 3  # one front-desk agent rotates
    assert any(len(p) > 1 for p in posts)
    assert authenticate(session, "li.na", DEMO_PASSWORD) is not None


def test_the_demo_holds_the_seven_posts_and_the_departments(session: Session) -> None:
    seed_agents(session, now=NOW)
    agents = list_agents(session)
    held = {post for a in agents for post in a.held_posts()}
    held |= {p.value for a in agents for p in a.posts}
    assert held == {p.value for p in Post} | {r.value for r in Role}
    departments = {a.team for a in agents if Role.DEPARTMENT in a.roles}
    assert departments == {
        "aftersales-a",
        "aftersales-b",
        "logistics",
        "finance",
        "merchandising",
        "technical",
    }
    leads = {a.team for a in agents if Role.TEAM_LEAD in a.roles}
    assert leads == {"front-a", "front-b"}


def test_seeding_an_older_demo_database_adds_only_the_missing_accounts(session: Session) -> None:
    seed_agents(session, now=NOW)
    gone = session.scalar(select(Agent).where(Agent.login == "xie.bo"))
    assert gone is not None
    session.delete(gone)
    session.flush()
    again = seed_agents(session, now=NOW)
    assert again.created and again.agents == 1
    assert len(list_agents(session)) == 23


def test_every_shipped_queue_has_a_demo_agent_for_each_of_its_languages(session: Session) -> None:
    seed_agents(session, now=NOW)
    queues = load_queues(Path(DEFAULT_QUEUES))
    agents = list_agents(session)
    for name in queues:
        queue = queues[name]
        # The returns queue is the back office's (customers put through from an RMA notice);
        # every other queue is the front desk's.
        post = Post.BACK_OFFICE if name == "returns" else Post.FRONT_DESK
        serving = [a for a in agents if post in a.posts]
        for language in queue.languages:
            assert any(
                set(queue.skills) <= set(a.skill_levels()) and language in a.languages
                for a in serving
            ), (name, language)
    skills = {s for a in list_agents(session) for s in a.skill_levels()}
    assert skills <= queues.skills
