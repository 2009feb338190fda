"""Cancelling the order just read out, in the pure engine over the shipped menus, and the
loader's checks of cancel_order nodes: no app, no database."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from config.settings import DEFAULT_MENUS, DEFAULT_QUEUES
from ivr_menus.engine import (
    Ask,
    Caller,
    Cancel,
    CancelOutcome,
    Lookup,
    OrderInView,
    after_cancel,
    after_lookup,
    answer,
    enter,
)
from ivr_menus.loader import load_menus
from ivr_menus.model import NodeKind
from tests.ivr_menus.test_loader import VALID, menus_dir, problems_of

DEFAULT_Q = Path(DEFAULT_QUEUES)
MENUS = load_menus(Path(DEFAULT_MENUS), queues_path=DEFAULT_Q)
OPEN = OrderInView("2611050001", "approved", True, 45_800)
COD = OrderInView("2611050001", "pending_review", True, 0)
SHIPPED = OrderInView("2611050001", "shipped", False, 45_800)
CANCELLED = OrderInView("2611050001", "cancelled", False, 0)
CALLER = Caller(language="zh", identified=True, name="王芳", tier="vip")


def texts(step: object) -> list[str]:
    return [u.text for u in step.say]  # type: ignore[attr-defined]


def read_out(order: OrderInView | None) -> Ask:
    lookup = Lookup("order_status", NodeKind.ORDER_STATUS, "2611050001", 1)
    readout = {"zh": "您的订单……", "en": "Your order ..."}
    step = after_lookup(MENUS, lookup, replace(CALLER, order=order), readout=readout).step
    assert isinstance(step, Ask)
    return step


def test_an_order_that_has_not_shipped_is_offered_for_cancelling_after_its_read_out() -> None:
    step = read_out(OPEN)
    assert step.node_id == "order_cancel_offer"
    assert "取消这个订单并退款请按2" in texts(step)[-1]


@pytest.mark.parametrize("order", [SHIPPED, CANCELLED, None])
def test_other_orders_are_not_offered_for_cancelling(order: OrderInView | None) -> None:
    step = read_out(order)
    assert step.node_id == "order_done"
    assert "取消" not in texts(step)[-1]


def test_the_confirmation_names_the_order_digit_by_digit_and_the_refund() -> None:
    step = answer(
        MENUS, "order_cancel_offer", replace(CALLER, order=OPEN), digits="2", speech=None, attempt=1
    ).step
    assert isinstance(step, Ask) and step.node_id == "order_cancel"
    assert texts(step) == [
        "您要取消订单二六，幺幺零五，零零零幺。将为您退款四百五十八元整。确认取消请按1，返回请按2。"
    ]
    english = replace(CALLER, language="en", order=COD)
    step = enter(MENUS, "order_cancel", english).step
    assert texts(step) == [
        "You are cancelling order 2 6, 1 1 0 5, 0 0 0 1. It is paid on delivery, so there is "
        "nothing to refund. To confirm, press 1. To go back, press 2."
    ]


@pytest.mark.parametrize(("digits", "speech"), [("1", None), (None, "确认取消")])
def test_confirming_asks_for_the_cancellation(digits: str | None, speech: str | None) -> None:
    caller = replace(CALLER, order=OPEN)
    step = answer(MENUS, "order_cancel", caller, digits=digits, speech=speech, attempt=1).step
    assert step == Cancel("order_cancel", "2611050001", 1, "order_done")


def test_going_back_cancels_nothing() -> None:
    caller = replace(CALLER, order=OPEN)
    step = answer(MENUS, "order_cancel", caller, digits="2", speech=None, attempt=1).step
    assert isinstance(step, Ask) and step.node_id == "order_done"


def test_an_invalid_key_replays_the_confirmation() -> None:
    caller = replace(CALLER, order=OPEN)
    step = answer(MENUS, "order_cancel", caller, digits="7", speech=None, attempt=1).step
    assert isinstance(step, Ask) and (step.node_id, step.attempt) == ("order_cancel", 2)
    assert texts(step)[0] == "抱歉，您的输入无效。"


def test_the_result_is_spoken_then_the_order_menu() -> None:
    cancel = Cancel("order_cancel", "2611050001", 1, "order_done")
    done = CancelOutcome("cancelled", "2611050001", 45_800, "7000000012")
    step = after_cancel(MENUS, cancel, replace(CALLER, order=OPEN), done).step
    assert isinstance(step, Ask) and step.node_id == "order_done"
    assert texts(step)[0] == (
        "订单二六，幺幺零五，零零零幺已取消，四百五十八元整将退回您的原支付账户，"
        "退款单号七零，零零零零，零零幺二。"
    )
    unpaid = after_cancel(MENUS, cancel, CALLER, CancelOutcome("cancelled", "2611050001")).step
    assert texts(unpaid)[0] == "订单二六，幺幺零五，零零零幺已取消。"


def test_an_order_that_shipped_meanwhile_is_refused_and_a_return_offered() -> None:
    cancel = Cancel("order_cancel", "2611050001", 1, "order_done")
    step = after_cancel(MENUS, cancel, CALLER, CancelOutcome("shipped", "2611050001")).step
    assert isinstance(step, Ask) and step.node_id == "order_cancel_refused"
    assert texts(step) == [
        "订单二六，幺幺零五，零零零幺已经发货，无法取消。您可以在收到商品后申请退货。",
        "申请退货或换货请按1，人工服务请按0，返回主菜单请按9。",
    ]
    returns = answer(MENUS, "order_cancel_refused", CALLER, digits="1", speech=None, attempt=1)
    assert isinstance(returns.step, Ask) and returns.step.node_id == "returns"


def test_a_caller_asking_to_cancel_a_shipped_order_hears_the_refusal() -> None:
    caller = replace(CALLER, order=SHIPPED)
    step = answer(MENUS, "order_done", caller, digits=None, speech="我要取消", attempt=1).step
    assert isinstance(step, Ask) and step.node_id == "order_cancel_refused"
    assert "已经发货，无法取消" in texts(step)[0]


def test_an_order_already_cancelled_is_said_so() -> None:
    step = enter(MENUS, "order_cancel", replace(CALLER, order=CANCELLED)).step
    assert isinstance(step, Ask) and step.node_id == "order_done"
    assert texts(step)[0] == "订单二六，幺幺零五，零零零幺已经取消了。"


def test_without_an_order_in_view_nothing_is_cancelled() -> None:
    step = enter(MENUS, "order_cancel", CALLER).step
    assert isinstance(step, Ask) and step.node_id == "order_done"
    again = answer(MENUS, "order_cancel", CALLER, digits="1", speech=None, attempt=1).step
    assert not isinstance(again, Cancel)


CANCEL_NODE = """
[node.cancel]
kind = "cancel_order"
prompt.zh = "取消{number}？{refund}"
prompt.en = "Cancel {number}? {refund}"
options."1" = { goto = "agent", confirm = true }
options."2" = { goto = "agent" }
refused = "agent"
on_failure = "agent"
"""


def with_cancel(node: str) -> str:
    return VALID.replace(
        'options."1" = { goto = "agent" }', 'options."1" = { goto = "cancel" }'
    ) + (node)


def test_a_cancel_order_node_loads(tmp_path: Path) -> None:
    menus = load_menus(menus_dir(tmp_path, with_cancel(CANCEL_NODE)), queues_path=DEFAULT_Q)
    assert menus.nodes["cancel"].kind is NodeKind.CANCEL_ORDER
    assert menus.nodes["cancel"].confirmation() == menus.nodes["cancel"].options[0]


def test_a_cancel_order_node_needs_exactly_one_confirming_option(tmp_path: Path) -> None:
    found = problems_of(tmp_path, with_cancel(CANCEL_NODE.replace(", confirm = true", "")))
    assert found == [
        f"{tmp_path}/menus/hotline.toml:25: cancel_order node 'cancel' needs exactly one option "
        "with confirm = true (found 0)"
    ]


def test_a_cancel_prompt_may_name_only_the_number_and_the_refund(tmp_path: Path) -> None:
    found = problems_of(tmp_path, with_cancel(CANCEL_NODE.replace('{refund}"\n', '{amount}"\n', 1)))
    assert found == [
        f"{tmp_path}/menus/hotline.toml:23: the prompt may name only {{number}} and {{refund}}, "
        "not amount (node 'cancel')"
    ]


def test_confirm_is_only_for_cancel_order_nodes(tmp_path: Path) -> None:
    found = problems_of(
        tmp_path, VALID.replace('{ goto = "agent" }', '{ goto = "agent", confirm = true }')
    )
    assert found == [
        f"{tmp_path}/menus/hotline.toml:13: confirm is only for cancel_order nodes (node 'start')"
    ]
