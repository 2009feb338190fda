"""The middle office's requests, past the form: domain calls in the request's unit of work, and
the jobs and router updates that follow its commit. No Flask here.

Each function takes the unit of work, the Runtime (jobs, settings), the acting agent where
there is one, and `now`; it returns what the view shows.
"""

from __future__ import annotations

from datetime import datetime

from callcenter.jobs import outbound as jobs
from callcenter.jobs import recordings as recording_jobs
from callcenter.jobs import router as router_jobs
from callcenter.runtime import Runtime
from core import privacy
from core.db import UnitOfWork
from core.models import Order
from core.webhooks import WebhookDelivery
from middle_office import review
from middle_office.models import ReviewTask
from outbound import attempts, legs, outcomes
from outbound.errors import TaskNotFound
from outbound.models import OutboundAttempt, OutboundTask
from outbound.reconcile import FINAL as FINAL_LEG
from queue_callbacks.recordings import record_outbound_status
from queues.connect import Followup
from recordings.services import StatusUpdate

#: An order's fields that say who and where a customer is: masked on the pages.
PERSONAL_ORDER_FIELDS = ("recipient_name", "recipient_phone", "address")


def call_task(
    uow: UnitOfWork, rt: Runtime, task_id: int, *, agent_id: int, now: datetime
) -> OutboundAttempt:
    """Click-to-call: the agent starts an attempt on the task (`attempts.start_attempt`, one
    per click however often it comes). After the commit the agent leaves the router's pool
    and their leg is dialled first, then the customer's."""
    attempt = attempts.start_attempt(
        uow.session, task_id, agent_id=agent_id, now=now, policy=jobs.policy_for(rt)
    )
    router_jobs.after_commit(uow, rt, Followup(publish=[agent_id]))  # out of the pool
    uow.after_commit(rt.enqueue, jobs.dial_agent, attempt.id, retries=jobs.DIAL_RETRIES)
    return attempt


def save_outcome(
    uow: UnitOfWork,
    rt: Runtime,
    task_id: int,
    *,
    agent_id: int,
    actor: str,
    outcome: str,
    notes: str,
    now: datetime,
) -> OutboundTask:
    """The agent's outcome and notes of the task's last attempt (`outcomes.record_outcome`).
    Saving it ends the agent's wrap-up: after the commit they are back in the router's pool."""
    task = outcomes.record_outcome(
        uow.session,
        task_id,
        agent_id=agent_id,
        actor=actor,
        outcome=outcome,
        notes=notes,
        now=now,
        policy=jobs.policy_for(rt),
    )
    router_jobs.after_commit(uow, rt, Followup(publish=[agent_id], route_agents=[agent_id]))
    return task


def decide_review(
    uow: UnitOfWork,
    rt: Runtime,
    review_id: int,
    *,
    approve: bool,
    reason: str,
    agent_id: int,
    actor: str,
    now: datetime,
) -> WebhookDelivery:
    """Approve or cancel a review (`review.decide`); after the commit the decision's webhook
    to the order system is sent by a job (retried on the row's own schedule)."""
    delivery = review.decide(
        uow.session,
        review_id,
        approve=approve,
        reason=reason,
        agent_id=agent_id,
        actor=actor,
        now=now,
    )
    uow.after_commit(rt.enqueue, jobs.deliver_decision, delivery.id, queue="low")
    return delivery


def file_recording(
    uow: UnitOfWork, rt: Runtime, attempt_id: int, update: StatusUpdate, *, now: datetime
) -> None:
    """A recording status callback of an outbound call (`record_outbound_status`); after the
    commit, the recording's processing job is queued (once)."""
    claimed = record_outbound_status(uow.session, attempt_id, update, now=now)
    if claimed is not None:
        uow.after_commit(recording_jobs.enqueue_processing, rt, claimed)


def reveal_task(
    uow: UnitOfWork, task_id: int, *, agent_id: int, actor: str, now: datetime
) -> dict[str, str]:
    """The number a task calls, in full (the page shows it masked); audited (`customer.unmask`)
    in the same transaction. TaskNotFound for an unknown task."""
    task = uow.session.get(OutboundTask, task_id)
    if task is None:
        raise TaskNotFound(f"no task {task_id}")
    shown = {"to_number": task.to_number}
    privacy.note_unmask(
        uow.session,
        actor_id=agent_id,
        actor=actor,
        subject_type="outbound_task",
        subject_id=task_id,
        fields=list(shown),
        now=now,
    )
    return shown


def reveal_review(
    uow: UnitOfWork, review_id: int, *, agent_id: int, actor: str, now: datetime
) -> dict[str, str]:
    """The reviewed order's recipient, phone and address in full; audited (`customer.unmask`).
    ReviewNotFound for an unknown review."""
    task = uow.session.get(ReviewTask, review_id)
    order = uow.session.get(Order, task.order_id) if task is not None else None
    if order is None:
        raise review.ReviewNotFound(f"no review {review_id}")
    shown = {name: getattr(order, name) or "" for name in PERSONAL_ORDER_FIELDS}
    privacy.note_unmask(
        uow.session,
        actor_id=agent_id,
        actor=actor,
        subject_type="order",
        subject_id=order.number,
        fields=list(shown),
        now=now,
    )
    return shown


def agent_leg_status(
    uow: UnitOfWork, rt: Runtime, attempt_id: int, call_sid: str, status: str, *, now: datetime
) -> None:
    """A status callback of an outbound attempt's agent leg: keep its CallSid, and once it is
    final end the leg (`legs.agent_leg_ended`; idempotent); after the commit, a customer's leg
    that may still ring is hung up. The reconciliation duty applies a lost one through here."""
    legs.record_agent_call(uow.session, attempt_id, call_sid)
    if status in FINAL_LEG:
        leg = legs.agent_leg_ended(
            uow.session, attempt_id, status, now=now, policy=jobs.policy_for(rt)
        )
        if leg:
            uow.after_commit(rt.enqueue, jobs.hang_up, leg, retries=jobs.DIAL_RETRIES)


def customer_leg_status(
    uow: UnitOfWork, rt: Runtime, attempt_id: int, call_sid: str, status: str, *, now: datetime
) -> None:
    """A status callback of an outbound attempt's customer leg: keep its CallSid, and once it
    is final end the leg (`legs.customer_leg_ended`; idempotent); after the commit, the
    agent's leg of an unanswered attempt is hung up. The reconciliation duty applies a lost
    one through here."""
    legs.record_customer_call(uow.session, attempt_id, call_sid)
    if status in FINAL_LEG:
        leg = legs.customer_leg_ended(
            uow.session, attempt_id, status, now=now, policy=jobs.policy_for(rt)
        )
        if leg:
            uow.after_commit(rt.enqueue, jobs.hang_up, leg, retries=jobs.DIAL_RETRIES)
