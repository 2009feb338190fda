"""The back office's console through the Flask test client: the work list and an RMA's page in
both languages, approve with an edited refund (the hand-off's job queued after the commit), a
second agent's approval told who was first (page and JSON), reject with a reason, 422s naming
the field, and the page's protections (CSRF, nonces, masked customers)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.app import create_app
from callcenter.jobs.outbound import deliver_decision
from callcenter.runtime import Runtime
from core.models import Rma, RmaStatus
from outbound.models import OutboundTask
from queues.models import Actor, AgentState
from queues.passwords import hash_password
from queues.presence import change_state
from tests.back_office.reviewing import back_office_agent, in_review, stock_catalogue
from tests.builders import add_agent
from tests.conftest import NOW
from tests.middle_office.conftest import RecordingTelephony

PASSWORD = "correct horse battery"


@pytest.fixture
def rt(
    make_runtime: Callable[..., Runtime],
    session_factory: sessionmaker[Session],
    redis: object,
) -> Runtime:
    return make_runtime(session_factory, telephony=RecordingTelephony())


@pytest.fixture
def rmas(session_factory: sessionmaker[Session]) -> dict[str, int]:
    """Two back-office agents, a return and an exchange in review; the ids by name."""
    with session_factory.begin() as s:
        stock_catalogue(s)
        ids = {}
        for login, name in (("wu.fang", "吴芳"), ("xu.tao", "徐涛")):
            agent = back_office_agent(s, login, name)
            agent.password_hash = hash_password(PASSWORD)
            ids[login] = agent.id
        ids["return"] = in_review(s).id
        ids["exchange"] = in_review(
            s, kind="exchange", reason="wrong_size", replacement_sku="SHO-2"
        ).id
        front = add_agent(s, "li.na", skills={"general": 3})
        front.password_hash = hash_password(PASSWORD)
    return ids


def signed_in(rt: Runtime, login: str) -> FlaskClient:
    client = create_app(runtime=rt).test_client()
    page = client.get("/desk/login").get_data(as_text=True)
    client.post(
        "/desk/login", data={"login": login, "password": PASSWORD, "csrf_token": token(page)}
    )
    return client


def token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def test_the_work_list_shows_the_rmas_in_review_in_both_languages(
    rt: Runtime, rmas: dict[str, int], session_factory: sessionmaker[Session]
) -> None:
    client = signed_in(rt, "wu.fang")
    response = client.get("/back/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    with session_factory() as s:
        numbers = [s.get(Rma, rmas[k]).number for k in ("return", "exchange")]  # type: ignore[union-attr]
    assert all(f'data-rma="{n}"' in html for n in numbers)
    assert "退换货审核" in html and "RMAs waiting for review" in html
    assert "质检通过 Inspection passed" in html and "库存 stock 2" in html
    assert "建议 proposed ¥399.00" in html  # a quality return: nothing kept
    assert "王芳" not in html and "王*" in html  # the customer is masked
    nonce = re.search(r'<style nonce="([^"]+)"', html)
    assert nonce is not None
    assert f"'nonce-{nonce.group(1)}'" in response.headers["Content-Security-Policy"]
    desk = client.get("/desk/").get_data(as_text=True)
    assert 'href="/back/"' in desk


def test_approve_with_an_edited_refund_then_the_second_agent_is_told_who_was_first(
    rt: Runtime, rmas: dict[str, int], session_factory: sessionmaker[Session]
) -> None:
    first, second = signed_in(rt, "wu.fang"), signed_in(rt, "xu.tao")
    url = f"/back/rmas/{rmas['return']}"
    page = first.get(url).get_data(as_text=True)
    assert 'id="refund-yuan"' in page and 'value="399.00"' in page
    second_page = second.get(url).get_data(as_text=True)  # the second agent has it open too
    form = {"csrf_token": token(page), "sku": "SHO-1", "refund_amount_fen": "35000"}
    done = first.post(f"{url}/approve", data=form)
    assert done.status_code == 303 and done.headers["Location"].endswith("/back/")
    assert "已批准 Approved" in first.get("/back/").get_data(as_text=True)
    with session_factory() as s:
        rma = s.get(Rma, rmas["return"])
        assert rma is not None
        assert (rma.status, rma.refund_amount_fen) == (RmaStatus.APPROVED, 35_000)
    [job] = rt.queue("low").jobs
    assert job.func is deliver_decision
    form = {"csrf_token": token(second_page), "sku": "SHO-1", "refund_amount_fen": "39900"}
    late = second.post(f"{url}/approve", data=form)
    assert late.status_code == 303 and late.headers["Location"].endswith(url)
    again = second.get(url).get_data(as_text=True)
    assert "已被 吴芳 于 2026-11-23 11:00 批准" in again
    assert "Already approved by 吴芳 at 2026-11-23 11:00 (Asia/Shanghai)" in again
    assert 'role="alert"' in again
    as_json = second.post(
        f"{url}/approve",
        json={"sku": "SHO-1", "refund_amount_fen": 1},
        headers={"X-CSRF-Token": token(second_page)},
    )
    assert as_json.status_code == 409
    error = as_json.get_json()["error"]
    assert (error["code"], error["details"]["status"], error["details"]["decided_by_name"]) == (
        "illegal-move",
        "approved",
        "吴芳",
    )
    assert len(rt.queue("low").jobs) == 1


@pytest.mark.parametrize(
    ("refund", "message"),
    [("399.5", "whole number of fen"), ("99999999", "left on this line")],
)
def test_a_bad_refund_is_named_and_nothing_changes(
    rt: Runtime,
    rmas: dict[str, int],
    session_factory: sessionmaker[Session],
    refund: str,
    message: str,
) -> None:
    client = signed_in(rt, "wu.fang")
    url = f"/back/rmas/{rmas['return']}"
    csrf = token(client.get(url).get_data(as_text=True))
    response = client.post(
        f"{url}/approve",
        json={"sku": "SHO-1", "refund_amount_fen": refund if "." in refund else int(refund)},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 422
    fields = response.get_json()["error"]["details"]["fields"]
    assert list(fields) == ["refund_amount_fen"] and message in fields["refund_amount_fen"]
    page = client.post(f"{url}/approve", data={"csrf_token": csrf, "refund_amount_fen": refund})
    assert page.status_code == 303
    html = client.get(url).get_data(as_text=True)
    assert "请更正 Please correct" in html and "sku:" in html
    with session_factory() as s:
        assert s.get(Rma, rmas["return"]).status is RmaStatus.IN_REVIEW  # type: ignore[union-attr]
    assert rt.queue("low").jobs == []


def test_reject_with_a_reason_plans_a_call_on_the_work_list(
    rt: Runtime, rmas: dict[str, int], session_factory: sessionmaker[Session]
) -> None:
    client = signed_in(rt, "wu.fang")
    url = f"/back/rmas/{rmas['exchange']}"
    page = client.get(url).get_data(as_text=True)
    assert "超出退换期限 Outside the window" in page and "库存 stock 2" in page
    form = {"csrf_token": token(page), "reason": "sku_mismatch", "notes": "退回的是别的鞋"}
    assert client.post(f"{url}/reject", data=form).status_code == 303
    html = client.get("/back/").get_data(as_text=True)
    assert "已驳回 Rejected" in html
    with session_factory() as s:
        task = s.scalars(select(OutboundTask)).one()
        assert (task.kind, task.subject_id, task.agent_id) == (
            "rma_status",
            rmas["exchange"],
            rmas["wu.fang"],
        )
    assert f'data-task="{task.id}"' in html and "商品与订单不符 SKU mismatch" in html
    assert "+86139" not in html  # the number is masked


def test_an_exchange_out_of_stock_is_offered_as_a_return(
    rt: Runtime, rmas: dict[str, int], session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as s:
        s.execute(
            select(Rma).where(Rma.id == rmas["exchange"])
        ).scalar_one().replacement_sku = "SHO-9"
    client = signed_in(rt, "wu.fang")
    url = f"/back/rmas/{rmas['exchange']}"
    csrf = token(client.get(url).get_data(as_text=True))
    form: dict[str, Any] = {"csrf_token": csrf, "sku": "SHO-1", "replacement_sku": "SHO-9"}
    client.post(f"{url}/approve", data=form)
    html = client.get(url).get_data(as_text=True)
    assert "可改为退货 Out of stock: offer a return instead" in html
    assert client.post(f"{url}/convert", data={"csrf_token": csrf}).status_code == 303
    page = client.get(url).get_data(as_text=True)
    assert "退货 Return" in page and 'id="refund-yuan"' in page


def test_a_post_without_the_csrf_token_is_refused(rt: Runtime, rmas: dict[str, int]) -> None:
    client = signed_in(rt, "wu.fang")
    response = client.post(f"/back/rmas/{rmas['return']}/approve", data={"sku": "SHO-1"})
    assert response.status_code in (400, 403)


def test_a_front_desk_agent_does_not_see_the_back_office(rt: Runtime, rmas: dict[str, int]) -> None:
    client = signed_in(rt, "li.na")
    assert client.get("/back/").status_code == 403
    assert 'href="/back/"' not in client.get("/desk/").get_data(as_text=True)


def test_a_page_for_an_unknown_rma_is_not_found(rt: Runtime, rmas: dict[str, int]) -> None:
    client = signed_in(rt, "wu.fang")
    assert (
        client.get("/back/rmas/999999", headers={"Accept": "application/json"}).status_code == 404
    )


def test_a_status_call_is_worked_from_the_page_by_click_to_call(
    make_runtime: Callable[..., Runtime],
    session_factory: sessionmaker[Session],
    redis: object,
    rmas: dict[str, int],
) -> None:
    telephony = RecordingTelephony()
    rt = make_runtime(session_factory, telephony=telephony, jobs_async=False, outbound_cps=50)
    client = signed_in(rt, "wu.fang")
    url = f"/back/rmas/{rmas['return']}"
    csrf = token(client.get(url).get_data(as_text=True))
    client.post(f"{url}/call", data={"csrf_token": csrf, "why": "照片不清楚"})
    with session_factory() as s:
        task = s.scalars(select(OutboundTask)).one()
    refused = client.post(f"/back/tasks/{task.id}/call", data={"csrf_token": csrf})
    assert refused.status_code == 303 and telephony.placed == []  # not available yet
    assert "set yourself available" in client.get("/back/").get_data(as_text=True)
    with session_factory.begin() as s:
        change_state(
            s, rmas["wu.fang"], AgentState.AVAILABLE, reason=None, actor=Actor.AGENT, now=NOW
        )
    assert client.post(f"/back/tasks/{task.id}/call", data={"csrf_token": csrf}).status_code == 303
    assert "正在呼叫 Calling task" in client.get("/back/").get_data(as_text=True)
    assert [p["to"] for p in telephony.placed] == ["client:agent_wu_fang"]
