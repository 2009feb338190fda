"""Retention of call records and voicemails: personal data stripped past it, figures kept."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.jobs.retention import purge
from callcenter.runtime import Runtime
from core.audit import AuditEvent
from core.models import Call, CallDirection, CallStatus, Customer, Voicemail
from queues.models import QueuedCall, QueuedCallStatus
from queues.retention import purge_expired_calls
from tests.conftest import NOW


def call(session: Session, days_ago: int, customer: Customer) -> Call:
    started = NOW - timedelta(days=days_ago)
    row = Call(
        sid=f"CA{days_ago:032d}",
        direction=CallDirection.INBOUND,
        status=CallStatus.COMPLETED,
        from_number="+8613800138000",
        to_number="+864001234567",
        caller_e164="+8613800138000",
        customer_id=customer.id,
        started_at=started,
        duration_s=120,
    )
    session.add(row)
    session.flush()
    session.add(
        QueuedCall(
            call_id=row.id,
            call_sid=row.sid,
            queue="general",
            skill="general",
            language="zh",
            tier="new",
            enqueued_at=started,
            status=QueuedCallStatus.CONNECTED,
            callback_to="+8613800138000",
            disposition="resolved",
            notes="客户说地址是南京西路 1 号",
        )
    )
    session.add(
        Voicemail(
            call_id=row.id,
            recording_sid=f"RE{days_ago:032d}",
            recording_url=f"https://api.twilio.com/RE{days_ago}",
            created_at=started,
        )
    )
    session.flush()
    return row


def test_records_past_their_retention_lose_who_called_and_keep_the_figures(
    session: Session,
) -> None:
    customer = Customer(name="王芳", account_number="A-RET-1")
    session.add(customer)
    session.flush()
    old, mid, new = (
        call(session, 800, customer),
        call(session, 100, customer),
        call(session, 10, customer),
    )
    done = purge_expired_calls(session, now=NOW, calls_days=730, voicemails_days=90)
    assert (done.calls, done.voicemails) == (1, 2)
    session.expire_all()
    assert (old.caller_e164, old.customer_id, old.from_number, old.to_number) == (
        None,
        None,
        "",
        "",
    )
    assert (old.duration_s, old.status) == (120, CallStatus.COMPLETED)  # the figures stay
    entry = session.scalar(select(QueuedCall).where(QueuedCall.call_id == old.id))
    assert entry is not None and (entry.callback_to, entry.notes, entry.disposition) == (
        None,
        None,
        "resolved",
    )
    assert mid.caller_e164 == "+8613800138000" and new.customer_id == customer.id
    voicemails = {v.call_id: v for v in session.scalars(select(Voicemail))}
    assert voicemails[old.id].status == voicemails[mid.id].status == "purged"
    assert voicemails[mid.id].recording_url == ""
    assert voicemails[new.id].recording_url.startswith("https://")
    again = purge_expired_calls(session, now=NOW, calls_days=730, voicemails_days=90)
    assert (again.calls, again.voicemails) == (0, 0)  # idempotent
    audits = session.scalars(select(AuditEvent).where(AuditEvent.actor == "system")).all()
    assert sorted((a.action, a.subject_id) for a in audits) == [
        ("call.purge", "1 calls"),
        ("voicemail.purge", "2 voicemails"),
    ]


def test_the_cron_duty_applies_the_retention_settings(
    make_runtime: Callable[..., Runtime], session_factory: sessionmaker[Session], redis: object
) -> None:
    with session_factory.begin() as s:
        customer = Customer(name="李娜", account_number="A-RET-2")
        s.add(customer)
        s.flush()
        call(s, 40, customer)
    rt = make_runtime(session_factory, calls_retention_days=30, voicemails_retention_days=365)
    done = purge(rt)
    assert (done.calls, done.voicemails) == (1, 0)
    from callcenter.stack import DUTIES

    assert "calls-retention" in {d.name for d in DUTIES}
