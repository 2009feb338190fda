"""Alerts: abnormal conditions seen on the floor, raised once, kept until acknowledged."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from config.settings import Settings
from core.db import insert_ignoring_conflict
from core.errors import DomainError
from queues.config import QueueSet
from queues.connect import Followup
from queues.models import Agent, AgentState
from supervision import support
from supervision.figures import RECENT, waiting_by_queue, window_stats
from supervision.models import Alert, AlertKind
from work_orders.sweep import escalated

QUEUE_KINDS = (AlertKind.LONGEST_WAIT, AlertKind.VIP_WAIT, AlertKind.SERVICE_LEVEL)


class AlertNotFound(DomainError):
    code = "alert-not-found"


@dataclass(frozen=True, slots=True)
class Thresholds:
    wait_s: int = 120
    vip_wait_s: int = 10
    away_min: int = 15
    sl_min_calls: int = 5

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(
            wait_s=settings.supervisor_alert_wait_s,
            vip_wait_s=settings.supervisor_alert_vip_wait_s,
            away_min=settings.supervisor_alert_away_min,
            sl_min_calls=settings.supervisor_alert_sl_min_calls,
        )


@dataclass(frozen=True, slots=True)
class Condition:
    kind: AlertKind
    subject: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.subject}"[:124]


@dataclass
class AlertRun:
    raised: list[int] = field(default_factory=list)  # alert ids
    cleared: list[int] = field(default_factory=list)
    followup: Followup = field(default_factory=Followup)  # agents whose skills changed


def conditions(
    session: Session, queues: QueueSet, thresholds: Thresholds, *, now: datetime
) -> list[Condition]:
    """Every abnormal condition that holds at `now` (read-only)."""
    found: list[Condition] = []
    for queue, w in waiting_by_queue(session).items():
        if (
            w.oldest is not None
            and (waited := (now - w.oldest).total_seconds()) > thresholds.wait_s
        ):
            found.append(
                Condition(
                    AlertKind.LONGEST_WAIT,
                    queue,
                    f"{queue}: a caller has waited {round(waited)} s",
                    {"queue": queue, "waited_s": round(waited)},
                )
            )
        if w.vip_oldest is not None:
            waited = (now - w.vip_oldest).total_seconds()
            if waited > thresholds.vip_wait_s:
                found.append(
                    Condition(
                        AlertKind.VIP_WAIT,
                        queue,
                        f"{queue}: a VIP caller has waited {round(waited)} s",
                        {"queue": queue, "waited_s": round(waited)},
                    )
                )
    recent, _ = window_stats(session, queues, now - RECENT, now - RECENT, now=now)
    for queue, stats in recent.items():
        level = stats.service_level()
        if queue not in queues or level is None or stats.ended < thresholds.sl_min_calls:
            continue
        target = queues[queue].service_level.target_percent
        if level < target:
            found.append(
                Condition(
                    AlertKind.SERVICE_LEVEL,
                    queue,
                    f"{queue}: service level {level} % in the last 30 min (target {target} %)",
                    {"queue": queue, "service_level": level, "target": target},
                )
            )
    away_since = now - timedelta(minutes=thresholds.away_min)
    for agent in session.scalars(
        select(Agent).where(
            Agent.active.is_(True), Agent.state == AgentState.BREAK, Agent.state_since <= away_since
        )
    ):
        minutes = round((now - agent.state_since).total_seconds() / 60)
        found.append(
            Condition(
                AlertKind.AGENT_AWAY,
                str(agent.id),
                f"{agent.display_name} on break ({agent.state_reason or '-'}) for {minutes} min",
                {"agent_id": agent.id, "reason": agent.state_reason, "minutes": minutes},
            )
        )
    found.extend(_escalations(session))
    return found


def _escalations(session: Session) -> list[Condition]:
    """Work orders whose SLA breach escalated them and that are not closed: the floor
    supervisor sees each until it is closed (the sweep escalates each breach once)."""
    found: list[Condition] = []
    for work_order in escalated(session):
        assert work_order.escalated_at is not None
        found.append(
            Condition(
                AlertKind.WORK_ORDER_ESCALATED,
                work_order.number,
                f"工单超时已升级 work order {work_order.number} ({work_order.category}, "
                f"{work_order.department or 'front desk'}) breached its SLA: escalated",
                {
                    "work_order": work_order.number,
                    "department": work_order.department,
                    "escalated_at": work_order.escalated_at.isoformat(),
                },
            )
        )
    return found


def evaluate_alerts(
    session: Session,
    queues: QueueSet,
    thresholds: Thresholds,
    *,
    now: datetime,
    auto_group: support.SupportGroup | None = None,
    support_level: int = 1,
) -> AlertRun:
    """Raise an alert for each new condition and clear those that no longer hold. Flushes.

    Idempotent and safe to run from several processes: an alert is keyed by its open
    condition (`Alert.open_key`), so a condition that goes on holding is raised once. A
    cleared alert stays on the wallboard until acknowledged. With `auto_group`, a wait or
    service-level alert pulls that group into the queue, and the group is released when no
    such alert of the queue holds any more; the followup republishes those agents.
    """
    run = AlertRun()
    holding = {c.key: c for c in conditions(session, queues, thresholds, now=now)}
    for cond in holding.values():
        inserted = insert_ignoring_conflict(
            session,
            Alert,
            {
                "kind": cond.kind,
                "subject": cond.subject,
                "message": cond.message[:200],
                "open_key": cond.key,
                "raised_at": now,
                "data": cond.data,
            },
            ["open_key"],
        )
        if inserted:
            alert_id = session.scalar(select(Alert.id).where(Alert.open_key == cond.key))
            assert alert_id is not None
            run.raised.append(alert_id)
            if auto_group is not None and cond.kind in QUEUE_KINDS and cond.subject in queues:
                changed = support.pull(
                    session,
                    auto_group,
                    queues[cond.subject],
                    level=support_level,
                    by=None,
                    automatic=True,
                    now=now,
                )
                _publish(run.followup, changed)
    for alert in session.scalars(select(Alert).where(Alert.open_key.is_not(None))):
        if alert.open_key not in holding:
            alert.open_key = None
            alert.cleared_at = now
            run.cleared.append(alert.id)
    session.flush()
    if auto_group is not None:
        still = {c.subject for c in holding.values() if c.kind in QUEUE_KINDS}
        for queue in {
            p["queue"] for p in support.open_pulls(session) if p["group"] == auto_group.name
        } - still:
            changed = support.release(
                session, auto_group.name, str(queue), now=now, automatic_only=True
            )
            _publish(run.followup, changed)
    return run


def _publish(follow: Followup, agent_ids: list[int]) -> None:
    for agent_id in agent_ids:
        if agent_id not in follow.publish:
            follow.publish.append(agent_id)
            follow.route_agents.append(agent_id)


def evaluate_configured(
    session: Session, queues: QueueSet, settings: Settings, *, now: datetime
) -> AlertRun:
    """`evaluate_alerts` with the thresholds, automatic support group and support level the
    settings name (the periodic tick's step). Flushes; idempotent as `evaluate_alerts` is.

    The caller carries out `AlertRun.followup` once its transaction has committed.
    """
    groups = support.parse_groups(settings.supervisor_support_groups)
    return evaluate_alerts(
        session,
        queues,
        Thresholds.from_settings(settings),
        now=now,
        auto_group=groups.get(settings.supervisor_auto_support_group),
        support_level=settings.supervisor_support_level,
    )


def acknowledge(session: Session, alert_id: int, *, by: int, now: datetime) -> Alert:
    """Mark an alert seen (the first acknowledgement counts). Flushes."""
    session.execute(
        update(Alert)
        .where(Alert.id == alert_id, Alert.acknowledged_at.is_(None))
        .values(acknowledged_at=now, acknowledged_by=by),
        execution_options={"synchronize_session": False},
    )
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise AlertNotFound(f"no alert {alert_id}", alert_id=alert_id)
    session.refresh(alert)
    return alert


def shown(session: Session) -> list[dict[str, Any]]:
    """Alerts on the wallboard: every one not acknowledged, newest first."""
    return [
        {
            "id": a.id,
            "kind": a.kind.value,
            "subject": a.subject,
            "message": a.message,
            "raised_at": a.raised_at.isoformat(),
            "holding": a.open_key is not None,
        }
        for a in session.scalars(
            select(Alert).where(Alert.acknowledged_at.is_(None)).order_by(Alert.id.desc())
        )
    ]
