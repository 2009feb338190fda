"""The fault run's invariants hold on sound records and catch each kind of violation."""

from __future__ import annotations

from benchmarks.fault_checks import (
    AGENTS_STUCK,
    AGENTS_TWICE,
    CALLERS,
    DIALS,
    EVENTS,
    INVARIANTS,
    RECORDINGS,
    STACK,
    AgentRecord,
    Assignment,
    CallerCall,
    DialRecord,
    Entry,
    EventLog,
    NetworkRecording,
    RecordingRow,
    Violation,
    caller_outcome,
    check_agents_free,
    check_assignments,
    check_callers,
    check_dials,
    check_event_logs,
    check_recordings,
    check_stack,
    tally,
)

ANSWERED = CallerCall(
    "CA1",
    live=False,
    hung_up_by="peer",
    reached_agent=True,
    entries=(Entry("connected", talk_ended=True),),
)


def details(violations: list[Violation]) -> list[str]:
    return [v.detail for v in violations]


def test_served_callers_pass_with_their_outcome() -> None:
    calls = [
        ANSWERED,
        CallerCall(
            "CA2",
            live=False,
            hung_up_by="party",
            reached_agent=False,
            entries=(Entry("abandoned"),),
        ),
        CallerCall(
            "CA3",
            live=False,
            hung_up_by="party",
            reached_agent=False,
            entries=(Entry("voicemail"),),
            voicemail=True,
        ),
        CallerCall(
            "CA4",
            live=False,
            hung_up_by="hotline",
            reached_agent=False,
            entries=(Entry("callback", callback_requested=True),),
        ),
        CallerCall("CA5", live=False, hung_up_by="party", reached_agent=False),
        CallerCall("CA6", live=False, hung_up_by="hotline", reached_agent=False, self_service=True),
    ]
    assert [caller_outcome(c) for c in calls] == [
        "answered",
        "abandoned",
        "voicemail",
        "callback",
        "hung up in the IVR",
        "self-service",
    ]
    assert check_callers(calls) == []


def test_each_way_to_lose_a_caller_is_a_violation() -> None:
    calls = [
        CallerCall("CA1", live=True, hung_up_by=None, reached_agent=False),
        CallerCall("CA2", live=False, hung_up_by="network", reached_agent=False, in_database=False),
        CallerCall(
            "CA3",
            live=False,
            hung_up_by="network",
            reached_agent=False,
            application_error=True,
            entries=(Entry("abandoned"),),
        ),
        CallerCall(
            "CA4", live=False, hung_up_by="party", reached_agent=False, entries=(Entry("waiting"),)
        ),
        CallerCall(
            "CA5",
            live=False,
            hung_up_by="party",
            reached_agent=False,
            entries=(Entry("connected", talk_ended=True),),
        ),
        CallerCall(
            "CA6", live=False, hung_up_by="api", reached_agent=False, entries=(Entry("abandoned"),)
        ),
        CallerCall(
            "CA7",
            live=False,
            hung_up_by="peer",
            reached_agent=True,
            entries=(Entry("connected", talk_ended=False),),
        ),
    ]
    found = check_callers(calls)
    assert {v.invariant for v in found} == {CALLERS}
    assert [v.subject for v in found] == ["CA1", "CA2", "CA3", "CA4", "CA5", "CA6", "CA7"]
    assert details(found)[3] == "queue entry left open after the caller's leg ended: waiting"
    assert details(found)[4] == "the entry says connected but the caller never reached an agent"
    assert details(found)[5] == "ended by api without being served (abandoned)"


def test_a_callback_conversation_counts_only_if_the_callback_reached_an_agent() -> None:
    def caller(entry: Entry) -> CallerCall:
        return CallerCall(
            "CA1", live=False, hung_up_by="party", reached_agent=False, entries=(entry,)
        )

    made = Entry("connected", talk_ended=True, callback_requested=True, callback_reached=True)
    lost = Entry("connected", talk_ended=True, callback_requested=True, callback_reached=False)
    assert check_callers([caller(made)]) == []
    stuck = Entry("callback", callback_requested=True, callback_overdue=True)
    assert details(check_callers([caller(stuck)])) == [
        "the callback was booked and due, but never made"
    ]
    assert details(check_callers([caller(lost)])) == [
        "the entry says connected but the caller never reached an agent"
    ]


def test_overlapping_assignments_of_one_agent_are_caught_per_source() -> None:
    fine = [
        Assignment("a", "CA1", 0, 10),
        Assignment("a", "CA2", 10, 20),
        Assignment("b", "CA3", 5, 30),
        Assignment("a", "entry-1", 5, 15, source="database"),  # another source: not compared
    ]
    assert check_assignments(fine) == []
    twice = [
        Assignment("a", "CA1", 0, 10),
        Assignment("a", "CA2", 9, 20),
        Assignment("b", "CA3", 0, None),
        Assignment("b", "CA4", 100, 110),
        Assignment("c", "CA5", 0, 50),
        Assignment("c", "CA6", 10, 20),
        Assignment("c", "CA7", 30, 40),
    ]
    found = check_assignments(twice)
    assert {v.invariant for v in found} == {AGENTS_TWICE}
    assert [(v.subject, v.detail) for v in found] == [
        ("a", "network: CA2 began while CA1 was not over"),
        ("b", "network: CA4 began while CA3 was not over"),
        ("c", "network: CA6 began while CA5 was not over"),
        ("c", "network: CA7 began while CA5 was not over"),
    ]


def test_agents_on_a_call_or_ringing_need_a_live_leg_and_wrap_up_ends() -> None:
    """At the end of the run, after it settled: every caller has gone, so a live leg to an
    agent is a leg to nobody."""
    agents = [
        AgentRecord("stranded", "on_call", 480, live_legs=1),
        AgentRecord("ok-free", "available", 400, live_legs=0),
        AgentRecord("ok-wrapping", "wrap_up", 3, live_legs=0),
        AgentRecord("stuck-on-call", "on_call", 700, live_legs=0),
        AgentRecord("stuck-ringing", "reserved", 90, live_legs=0),
        AgentRecord("stuck-wrap-up", "wrap_up", 60, live_legs=0),
    ]
    found = check_agents_free(agents, wrap_up_s=10)
    assert {v.invariant for v in found} == {AGENTS_STUCK}
    assert [str(v) for v in found] == [
        "stranded: on_call for 480 s on a leg still live after the run settled",
        "stuck-on-call: on_call for 700 s with no live leg",
        "stuck-ringing: reserved for 90 s with no live leg",
        "stuck-wrap-up: wrap-up for 60 s did not end by itself",
    ]


def test_every_completed_recording_is_processed_queued_or_a_voicemail() -> None:
    network = [
        NetworkRecording("RE1", "CA1", "completed"),
        NetworkRecording("RE2", "CA2", "completed"),
        NetworkRecording("RE3", "CA3", "completed"),
        NetworkRecording("RE4", "CA4", "absent"),  # nothing to process
        NetworkRecording("RE5", "CA5", "completed"),
    ]
    rows = {
        "RE1": RecordingRow("RE1", "stored"),
        "RE2": RecordingRow("RE2", "pending", job_waiting=True),
    }
    assert check_recordings(network, rows, voicemails=frozenset({"RE3", "RE5"})) == []
    rows["RE2"] = RecordingRow("RE2", "pending", job_waiting=False)
    rows["RE5"] = RecordingRow("RE5", "failed", failure="download-failed")
    found = check_recordings(network, rows, voicemails=frozenset())
    assert {v.invariant for v in found} == {RECORDINGS}
    assert [str(v) for v in found] == [
        "RE2: pending with no processing job waiting in RQ",
        "RE3: call CA3: completed at the network, unknown to the database",
        "RE5: failed (download-failed)",
    ]


def test_only_a_recording_too_short_to_hold_speech_may_be_found_silent() -> None:
    silent = RecordingRow("RE1", "failed", failure="silent-recording")
    blip = NetworkRecording("RE1", "CA1", "completed", duration_s=0)
    talk = NetworkRecording("RE1", "CA1", "completed", duration_s=12)
    assert check_recordings([blip], {"RE1": silent}) == []
    assert [str(v) for v in check_recordings([talk], {"RE1": silent})] == [
        "RE1: failed (silent-recording)"
    ]


def test_a_customer_dialled_more_often_than_claimed_is_a_duplicate() -> None:
    fine = [DialRecord("+861", ("CA1",), 1, frozenset({"CA1"})), DialRecord("+862", (), 1)]
    assert check_dials(fine) == []
    found = check_dials(
        [
            DialRecord("+861", ("CA1", "CA2"), 1, frozenset({"CA1"})),
            DialRecord("+862", ("CA3",), 1, frozenset()),
        ]
    )
    assert {v.invariant for v in found} == {DIALS}
    assert [str(v) for v in found] == [
        "+861: 2 calls placed for 1 claimed dial(s)",
        "+862: a call the database never recorded: CA3",
    ]


def test_an_event_log_needs_arrival_end_and_a_way_out_of_each_queue() -> None:
    whole = EventLog(
        "CA1",
        (
            "incoming",
            "identified",
            "enqueued",
            "status:in-progress",
            "dequeued",
            "status:completed",
        ),
        "completed",
    )
    answered = EventLog(
        "CA4",
        ("incoming", "enqueued", "assigned", "agent_answered", "status:completed"),
        "completed",
    )
    assert check_event_logs([whole, answered]) == []
    found = check_event_logs(
        [
            EventLog("CA2", ("enqueued", "status:in-progress"), "in-progress"),
            EventLog("CA3", ("incoming", "status:completed"), "completed"),
            EventLog(
                "CA5",
                ("incoming", "enqueued", "dequeued", "enqueued", "status:completed"),
                "completed",
            ),
        ]
    )
    assert [(v.invariant, str(v)) for v in found] == [
        (
            EVENTS,
            "CA2: missing incoming, a final status, a way out of the queue after enqueued, "
            "a final status in the calls row (it says in-progress)",
        ),
        (EVENTS, "CA5: missing a way out of the queue after enqueued"),
    ]


def test_tally_lists_every_invariant_even_when_it_held() -> None:
    counted = tally([Violation(DIALS, "+861", "x")])
    assert list(counted) == list(INVARIANTS)
    assert len(counted[DIALS]) == 1 and counted[CALLERS] == []


def test_each_exit_of_the_stack_is_a_violation() -> None:
    assert check_stack([]) == []
    found = check_stack(["callcenter run exited with code 1"])
    assert [(v.invariant, str(v)) for v in found] == [
        (STACK, "callcenter run: callcenter run exited with code 1")
    ]
