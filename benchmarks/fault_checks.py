"""The fault run's invariants (benchmarks/faults.py): pure functions over plain records.

After a run has settled, benchmarks/faults.py reads the database, Redis and the local phone
network's own record of every leg into the records below; each check returns the violations
it finds (empty: the invariant holds). Nothing here touches a process, a file or a clock, so
tests/benchmarks/test_fault_checks.py feeds each check records that break it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

#: Twilio's final call statuses.
FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
#: Queue entry statuses that are still open (the caller is, or should be, on the line).
OPEN_ENTRIES = frozenset({"waiting", "assigned"})
#: Entry statuses that hand the caller on to voicemail or a callback.
VOICEMAIL_ENTRIES = frozenset({"voicemail"})
CALLBACK_ENTRIES = frozenset({"callback", "scheduled"})
#: Events that end a stay in a queue: the caller left (the Enqueue's action), an agent
#: answered (the caller is redirected out of the queue into the agent's conference).
QUEUE_EXITS = frozenset({"dequeued", "agent_answered", "abandoned"})
#: Agent states that need a live leg to the agent's endpoint.
LEG_STATES = frozenset({"reserved", "on_call"})
#: Recording rows that are processed, or will be retried by what already runs.
PROCESSED_RECORDINGS = frozenset({"stored", "purged"})
RETRYABLE_RECORDINGS = frozenset({"pending", "processing"})

CALLERS = "no caller lost"
AGENTS_TWICE = "no agent assigned twice at once"
AGENTS_STUCK = "no agent stuck"
RECORDINGS = "no recording lost"
DIALS = "no duplicate outbound dial"
EVENTS = "event log complete"
STACK = "the stack stayed up"
INVARIANTS = (CALLERS, AGENTS_TWICE, AGENTS_STUCK, RECORDINGS, DIALS, EVENTS, STACK)


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str  # one of INVARIANTS
    subject: str  # the CallSid, agent, recording or number concerned
    detail: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Entry:
    """A queue entry of a call, from the database."""

    status: str
    talk_ended: bool = False
    callback_requested: bool = False
    callback_reached: bool = False  # the callback's call to the customer joined an agent
    callback_overdue: bool = False  # booked, due for a while, and still not being made

    @property
    def answered_by_callback(self) -> bool:
        """`connected` here is the callback's conversation, not the caller's first call."""
        return self.callback_requested and self.callback_reached


@dataclass(frozen=True, slots=True)
class CallerCall:
    """A caller's call to the hotline: the network's leg and the database's record of it.

    `hung_up_by` is the network's (party: the caller; hotline: our TwiML; api: our REST
    request; peer: the agent's side of a bridge; network: an application error or shutdown).
    `reached_agent` is true when the caller's leg joined a conference with an agent in it.
    """

    sid: str
    live: bool
    hung_up_by: str | None
    reached_agent: bool
    application_error: bool = False
    in_database: bool = True
    entries: tuple[Entry, ...] = ()
    voicemail: bool = False  # a voicemail was recorded for the call
    self_service: bool = False  # the IVR served the caller (a self_service event)


def caller_outcome(call: CallerCall) -> str | None:
    """How the call ended, in the words of the invariant, or None if the caller was lost."""
    if any(e.status == "connected" for e in call.entries) and call.reached_agent:
        return "answered"
    if call.voicemail or any(e.status in VOICEMAIL_ENTRIES for e in call.entries):
        return "voicemail"
    if any(e.status in CALLBACK_ENTRIES or e.callback_requested for e in call.entries):
        return "callback"
    if call.hung_up_by == "party":
        return "abandoned" if call.entries else "hung up in the IVR"
    if call.self_service and call.hung_up_by == "hotline" and not call.entries:
        return "self-service"
    return None


def check_callers(calls: Iterable[CallerCall]) -> list[Violation]:
    """Every caller ended answered, abandoned by the caller, or sent to voicemail or a
    callback; no entry is left open, and none says answered for a caller no agent reached."""
    found = []
    for call in calls:

        def bad(detail: str, sid: str = call.sid) -> None:
            found.append(Violation(CALLERS, sid, detail))

        if call.live:
            bad("still on the line after the run settled")
            continue
        if not call.in_database:
            bad(f"no record of the call in the database (ended by {call.hung_up_by})")
            continue
        if call.application_error:
            bad(f"the caller heard an application error (ended by {call.hung_up_by})")
        open_entries = [e.status for e in call.entries if e.status in OPEN_ENTRIES]
        open_entries += [
            "connected (talk never ended)"
            for e in call.entries
            if e.status == "connected" and not e.talk_ended
        ]
        if open_entries:
            bad(f"queue entry left open after the caller's leg ended: {', '.join(open_entries)}")
        if any(e.callback_overdue for e in call.entries):
            bad("the callback was booked and due, but never made")
        if (
            any(e.status == "connected" and not e.answered_by_callback for e in call.entries)
            and not call.reached_agent
        ):
            bad("the entry says connected but the caller never reached an agent")
        if caller_outcome(call) is None and not call.application_error:
            statuses = ", ".join(e.status for e in call.entries) or "no queue entry"
            bad(f"ended by {call.hung_up_by} without being served ({statuses})")
    return found


@dataclass(frozen=True, slots=True)
class Assignment:
    """An agent busy with one thing from `start` to `end` (seconds; None: not ended)."""

    agent: str
    subject: str  # the leg's CallSid, or the queue entry / outbound attempt
    start: float
    end: float | None
    source: str = "network"  # network (legs to the agent's endpoint) or database


def check_assignments(assignments: Iterable[Assignment]) -> list[Violation]:
    """No agent has two overlapping assignments of the same source."""
    by_agent: dict[tuple[str, str], list[Assignment]] = defaultdict(list)
    for a in assignments:
        by_agent[(a.agent, a.source)].append(a)
    found = []
    for (agent, source), items in sorted(by_agent.items()):
        items.sort(key=lambda a: a.start)
        busy_until: Assignment | None = None
        for a in items:
            if busy_until is not None and (busy_until.end is None or a.start < busy_until.end):
                found.append(
                    Violation(
                        AGENTS_TWICE,
                        agent,
                        f"{source}: {a.subject} began while {busy_until.subject} was not over",
                    )
                )
            if (
                busy_until is None
                or busy_until.end is not None
                and (a.end is None or a.end > busy_until.end)
            ):
                busy_until = a
    return found


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """An agent at the end of the run: the database's state and the live legs to them."""

    login: str
    state: str
    state_age_s: float  # seconds since the state began
    live_legs: int  # legs to the agent's endpoint still live on the network


def check_agents_free(agents: Iterable[AgentRecord], *, wrap_up_s: float) -> list[Violation]:
    """No agent is on a call or ringing without a live leg, none is left on a live leg once
    the run has settled (every caller gone: a leg to nobody), and no wrap-up outlives its
    timer (`wrap_up_s` plus the slack the caller allows, e.g. a few router ticks)."""
    found = []
    for agent in agents:
        if agent.live_legs > 0:
            found.append(
                Violation(
                    AGENTS_STUCK,
                    agent.login,
                    f"{agent.state} for {agent.state_age_s:.0f} s on a leg still live after "
                    "the run settled",
                )
            )
        elif agent.state in LEG_STATES and agent.live_legs == 0:
            found.append(
                Violation(
                    AGENTS_STUCK,
                    agent.login,
                    f"{agent.state} for {agent.state_age_s:.0f} s with no live leg",
                )
            )
        elif agent.state == "wrap_up" and agent.state_age_s > wrap_up_s:
            found.append(
                Violation(
                    AGENTS_STUCK,
                    agent.login,
                    f"wrap-up for {agent.state_age_s:.0f} s did not end by itself",
                )
            )
    return found


@dataclass(frozen=True, slots=True)
class NetworkRecording:
    """A recording the network holds (Twilio's list)."""

    sid: str
    call_sid: str
    status: str
    duration_s: int = 0


#: A recording this short holds nothing anyone said (a leg hung up as it was answered, its
#: caller gone): the pipeline's `silent-recording` verdict on it is right, not a loss.
SILENT_MAX_S = 1


@dataclass(frozen=True, slots=True)
class RecordingRow:
    """The database's row of a recording, and whether a processing job for it waits in RQ."""

    sid: str
    status: str
    job_waiting: bool = False
    failure: str | None = None


def check_recordings(
    network: Iterable[NetworkRecording],
    rows: Mapping[str, RecordingRow],
    voicemails: frozenset[str] = frozenset(),
) -> list[Violation]:
    """Every completed recording is a voicemail, processed, or queued for retry; one of a
    second or less may instead be found silent."""
    found = []
    for rec in network:
        if rec.status != "completed" or rec.sid in voicemails:
            continue
        row = rows.get(rec.sid)
        if row is None:
            detail = f"call {rec.call_sid}: completed at the network, unknown to the database"
        elif _accounted_for(rec, row):
            continue
        elif row.status in RETRYABLE_RECORDINGS:
            detail = f"{row.status} with no processing job waiting in RQ"
        else:
            detail = f"{row.status}" + (f" ({row.failure})" if row.failure else "")
        found.append(Violation(RECORDINGS, rec.sid, detail))
    return found


def _accounted_for(rec: NetworkRecording, row: RecordingRow) -> bool:
    """Processed, waiting for its job, or rightly found silent."""
    if row.status in PROCESSED_RECORDINGS:
        return True
    if row.status in RETRYABLE_RECORDINGS:
        return row.job_waiting
    return (
        row.status == "failed"
        and row.failure == "silent-recording"
        and rec.duration_s <= SILENT_MAX_S
    )


@dataclass(frozen=True, slots=True)
class DialRecord:
    """The outbound calls to one customer number: the network's legs, and the dials the
    database claimed (outbound attempts that reached the customer-dial step)."""

    number: str
    network_sids: tuple[str, ...]
    claimed_dials: int
    recorded_sids: frozenset[str] = field(default_factory=frozenset)


def check_dials(records: Iterable[DialRecord]) -> list[Violation]:
    """No customer is dialled more often than the engine claimed a dial for them, and every
    leg the network placed is one the database knows."""
    found = []
    for r in records:
        if len(r.network_sids) > r.claimed_dials:
            found.append(
                Violation(
                    DIALS,
                    r.number,
                    f"{len(r.network_sids)} calls placed for {r.claimed_dials} claimed dial(s)",
                )
            )
        unknown = sorted(set(r.network_sids) - r.recorded_sids)
        if unknown and len(r.network_sids) <= r.claimed_dials:
            found.append(
                Violation(DIALS, r.number, f"a call the database never recorded: {unknown[0]}")
            )
    return found


@dataclass(frozen=True, slots=True)
class EventLog:
    """A hotline call's event kinds in order ("status" events as "status:<value>"), and its
    status in the database."""

    sid: str
    kinds: tuple[str, ...]
    status: str


def check_event_logs(logs: Iterable[EventLog]) -> list[Violation]:
    """Every call's log has its arrival, its end (a final status, in the row too), and a way
    out of every queue it entered."""
    found = []
    for log in logs:
        missing = []
        if "incoming" not in log.kinds:
            missing.append("incoming")
        if not any(k.removeprefix("status:") in FINAL_STATUSES for k in log.kinds):
            missing.append("a final status")
        if "enqueued" in log.kinds:
            last = len(log.kinds) - 1 - log.kinds[::-1].index("enqueued")
            if not QUEUE_EXITS.intersection(log.kinds[last:]):
                missing.append("a way out of the queue after enqueued")
        if log.status not in FINAL_STATUSES:
            missing.append(f"a final status in the calls row (it says {log.status})")
        if missing:
            found.append(Violation(EVENTS, log.sid, "missing " + ", ".join(missing)))
    return found


def check_stack(exits: Iterable[str]) -> list[Violation]:
    """`callcenter run` never exits because one of its children died (each exit: how)."""
    return [Violation(STACK, "callcenter run", how) for how in exits]


def tally(violations: Sequence[Violation]) -> dict[str, list[Violation]]:
    """Violations by invariant, every invariant present (an empty list: it held)."""
    out: dict[str, list[Violation]] = {name: [] for name in INVARIANTS}
    for v in violations:
        out.setdefault(v.invariant, []).append(v)
    return out
