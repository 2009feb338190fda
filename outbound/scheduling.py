"""Scheduling decisions of the outbound engine, pure and given `now`: who gets a task
(`choose_assignee`), when the next attempt may be (`next_calling_time`, `schedule_after`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from config.hours import BusinessHours
from outbound.errors import OutsideCallingHours
from outbound.models import Outcome, TaskStatus
from queues.models import AgentState


@dataclass(frozen=True, slots=True)
class Candidate:
    """An agent as assignment sees them."""

    agent_id: int
    posts: frozenset[str]
    skills: dict[str, int]
    languages: frozenset[str]
    state: str
    open_tasks: int
    working: str | None = None  # the rotating post worked now (`Agent.post_now`)


def choose_assignee(
    post: str, skill: str, language: str, agents: Sequence[Candidate]
) -> int | None:
    """The eligible agent with the lightest load, or None.

    Eligible: holds `post`, has `skill` (any level), speaks `language`. Among them: those
    working `post` now before those who hold it but work another (rotating posts), then
    signed-in agents (any state but offline) before offline ones, then fewest open tasks,
    then the higher skill level, then the lower agent id (deterministic).
    """
    eligible = [
        a for a in agents if post in a.posts and skill in a.skills and language in a.languages
    ]
    if not eligible:
        return None
    best = min(
        eligible,
        key=lambda a: (
            a.working != post,
            a.state == AgentState.OFFLINE,
            a.open_tasks,
            -a.skills[skill],
            a.agent_id,
        ),
    )
    return best.agent_id


def next_calling_time(hours: BusinessHours, at: datetime) -> datetime:
    """`at` if calls are allowed then, else the next opening in the customer's time zone."""
    if hours.is_open(at):
        return at
    local = at.astimezone(hours.tz)
    for days in range(0, 15):
        day = local.date() + timedelta(days=days)
        for span in sorted(hours.spans, key=lambda s: s.opens):
            if span.weekday != day.weekday() or day in hours.holidays:
                continue
            start = datetime.combine(day, span.opens, tzinfo=hours.tz)
            if start > local and hours.is_open(start):
                return start.astimezone(at.tzinfo)
    raise OutsideCallingHours("no calling hours in the next two weeks")


@dataclass(frozen=True, slots=True)
class Next:
    status: TaskStatus
    at: datetime | None  # the next attempt, for a pending task


def schedule_after(
    outcome: Outcome,
    attempts: int,
    *,
    now: datetime,
    max_attempts: int,
    backoff: Sequence[timedelta],
    hours: BusinessHours,
) -> Next:
    """What follows an attempt's outcome (pure). `attempts` counts this one if it was counted.

    Resolved, or an answering machine that took an automated call's message → done; wrong
    number or refused → failed. Unanswered, busy, still missing information, or an automated
    call hung up before its end → again after backoff[attempts - 1] (the last wait repeats),
    moved to the next calling hours, until `max_attempts` counted attempts → failed. An
    attempt that never reached the customer's phone (agent unreachable, unconfirmed dial) is
    retried a minute later without counting.
    """
    if outcome in (Outcome.REACHED_RESOLVED, Outcome.REACHED_MACHINE):
        return Next(TaskStatus.DONE, None)
    if outcome in (Outcome.WRONG_NUMBER, Outcome.REFUSED):
        return Next(TaskStatus.FAILED, None)
    if outcome in (Outcome.AGENT_UNREACHABLE, Outcome.DIAL_UNCONFIRMED):
        return Next(TaskStatus.PENDING, next_calling_time(hours, now + timedelta(minutes=1)))
    if attempts >= max_attempts:
        return Next(TaskStatus.FAILED, None)
    wait = backoff[min(max(attempts, 1), len(backoff)) - 1]
    return Next(TaskStatus.PENDING, next_calling_time(hours, now + wait))
