"""The outbound engine's errors: domain errors with a stable `code` (HTTP-free; the boundary maps
them to statuses)."""

from __future__ import annotations

from core.errors import DomainError


class OutboundError(DomainError):
    code = "outbound-error"


class TaskNotFound(OutboundError):
    code = "task-not-found"


class TaskNotOpen(OutboundError):
    code = "task-not-open"


class NotYourTask(OutboundError):
    code = "not-your-task"


class NotDue(OutboundError):
    code = "not-due"


class OutsideCallingHours(OutboundError):
    code = "outside-calling-hours"


class DoNotCallListed(OutboundError):
    code = "do-not-call"


class AgentNotAvailable(OutboundError):
    code = "agent-not-available"


class BadOutcome(OutboundError):
    code = "bad-outcome"
