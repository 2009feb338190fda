"""The outbound call engine: one mechanism for every reason to phone a customer.

A task kind (`outbound.kinds`) is data its client registers: which post may work it, whether it
is worked from the work list by click-to-call (order reviews), offered by the inbound router
at the caller's place in line (queue callbacks, `routed`), or dialled by the engine itself
with no agent (RMA notices, `automated`: the client gives the words, `script`), and what the
call's events mean for its subject (`Subject`: nothing for a review; the queue entry's
statuses for a callback, `queue_callbacks.entries`; the RMA's closing for a notice). The
engine imports none of its clients. Decisions are pure and take `now`: who gets a task
(`choose_assignee`), when the next attempt may be (`schedule_after`, `next_calling_time`).
Services flush and never commit.

For the agents' kinds, the agent's presence follows the attempt, as for an inbound call, so
the router never offers a caller to an agent on an outbound call: reserved when the attempt
starts (from available), on call when their leg answers, wrap-up when it ends after
answering, break "missed" when it was never answered. Saving the outcome ends the wrap-up.

Dialling is the two-transaction pattern (STYLE §4.9), twice per attempt (agent leg first,
then the customer):

1. claim and commit: a compare-and-set on the attempt (`queued → dialing_agent`,
   `agent_on → dialing_customer`) stamps the claim time;
2. dial (after the commit, in a job, paced by the CPS token bucket);
3. record the CallSid in a second transaction.

A retried job finds the attempt already claimed and does nothing: a claim without a CallSid
is reconciled by the tick after `RECONCILE_AFTER` (the attempt ends `dial_unconfirmed`, the
task goes back to the work list), never dialled again.

An automated kind's task has no agent and one leg: the tick finds it due, and a job claims it
(`pending → calling`, the attempt created `dialing_customer`), dials the customer with
answering-machine detection, and records the CallSid, the same two transactions with the same
checks (calling hours, do-not-call list, pacing) and the same retries and reconciling
(`outbound.automated`).

Modules, each importing only those above it in this list:

    models       tables: tasks, attempts, the do-not-call list
    errors       OutboundError and its subclasses (each with a stable `code`)
    policy       calling policy as one value: hours, holidays, retries, ring timeout, pacing
    pacing       the dial pacer: a CPS token bucket in Redis shared by every worker
    kinds        the registry of task kinds and the `Subject` protocol clients implement
    scheduling   pure decisions: choose_assignee, next_calling_time, schedule_after
    tasks        create, assign, the work list, reschedule and close, the do-not-call list
    attempts     start_attempt, the conference's name, the attempt's and the agent's moves
    legs         the agent's and the customer's legs: claim, record, answered, ended
    automated    automated kinds: due tasks, claim and dial without an agent, who answered,
                 heard to the end, put through to the kind's queue
    outcomes     the agent's outcome (record_outcome) and the tick's repair (reconcile)
"""
