"""Task kinds: each reason to phone a customer is data the engine reads, registered by its client.

A client (the middle office's order review, the queue callback; next the RMA notice, the
work-order callback, the return visit, the survey) registers its kind once, when its module is
imported; the engine imports none of them. The composition root (`callcenter.runtime`) imports
every client, so each process knows every kind before it handles a task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from outbound.models import OutboundAttempt, OutboundTask
from queues.models import Post


class Subject(Protocol):
    """What an outbound call's events mean for the thing the task is about (in the engine's
    transaction; flush, never commit)."""

    def call_key(self, session: Session, task: OutboundTask) -> str | None:
        """The call the agent is reserved for (None: the attempt's conference name)."""

    def agent_leg(self, session: Session, task: OutboundTask, attempt: OutboundAttempt) -> None:
        """The agent's leg has its CallSid."""

    def reached(
        self, session: Session, task: OutboundTask, attempt: OutboundAttempt, now: datetime
    ) -> None:
        """The customer answered."""

    def talk_ended(
        self, session: Session, task: OutboundTask, attempt: OutboundAttempt, now: datetime
    ) -> None:
        """The agent's leg ended after the customer answered."""

    def attempt_over(
        self, session: Session, task: OutboundTask, attempt: OutboundAttempt | None, now: datetime
    ) -> None:
        """An attempt ended without a talk, or the task closed (`task.status` says which)."""


class NoSubject:
    """A subject the call's events do not change (an order review is worked on the work list)."""

    def call_key(self, session: Session, task: OutboundTask) -> str | None:
        return None

    def agent_leg(self, session: Session, task: OutboundTask, attempt: OutboundAttempt) -> None:
        return None

    def reached(
        self, session: Session, task: OutboundTask, attempt: OutboundAttempt, now: datetime
    ) -> None:
        return None

    def talk_ended(
        self, session: Session, task: OutboundTask, attempt: OutboundAttempt, now: datetime
    ) -> None:
        return None

    def attempt_over(
        self, session: Session, task: OutboundTask, attempt: OutboundAttempt | None, now: datetime
    ) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Line:
    """One sentence of an automated call: a message key of the catalogue (messages.toml) and
    its values, already in the call's language (numbers as digits, amounts in words). The
    boundary renders it with the menus, so the engine needs no catalogue of its own."""

    key: str
    values: tuple[tuple[str, str], ...] = ()


#: What an automated call says: (session, task, language, machine) → its sentences; `machine`
#: asks for the short message an answering machine gets (no menu follows it).
Script = Callable[[Session, OutboundTask, str, bool], list[Line]]


@dataclass(frozen=True, slots=True)
class TaskKind:
    name: str
    subject_type: str
    post: Post
    #: Offered by the inbound router at the caller's place in line, to whichever eligible
    #: agent is free then (not assigned ahead, not on a work list); a talk that took place
    #: is its outcome (reached and resolved), the notes go in the desk's wrap-up.
    routed: bool
    label: str
    greeting: str = "outbound_greeting"  # what the customer hears first (messages.toml)
    subject: Subject = field(default_factory=NoSubject)
    #: Dialled by the engine itself when due, with no agent (`outbound.automated`): the
    #: customer hears `script`, then may press 1 to hear it again or 0 to be put through to
    #: `queue` (served with the `skill` of the task, at the customer's tier).
    automated: bool = False
    script: Script | None = None
    queue: str | None = None

    def __post_init__(self) -> None:
        if self.automated and (self.routed or self.script is None):
            raise ValueError(f"automated kind {self.name!r} needs a script and is not routed")


#: Every registered kind by name.
KINDS: dict[str, TaskKind] = {}


class UnknownKind(LookupError):
    """A task of a kind no client registered (its client was not imported)."""


def register(kind: TaskKind) -> TaskKind:
    """Make `kind` known to the engine (once; the same kind again is a no-op)."""
    known = KINDS.setdefault(kind.name, kind)
    if known != kind:
        raise ValueError(f"task kind {kind.name!r} is already registered differently")
    return kind


def kind_of(name: str) -> TaskKind:
    try:
        return KINDS[name]
    except KeyError:
        raise UnknownKind(f"no client registered the task kind {name!r}") from None


def subject_of(task: OutboundTask) -> Subject:
    return kind_of(task.kind).subject
