"""Refund amounts in integer fen: the proposal from the order line and the checks on an entry."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from back_office.policy import REVIEWED_REASONS, UnknownReason, load_policy
from back_office.refunds import propose_refund, refundable_fen, validate_refund
from config.settings import DEFAULT_RETURN_POLICY

POLICY = load_policy(DEFAULT_RETURN_POLICY)

fen = st.integers(min_value=0, max_value=10**12)


def test_a_no_reason_refund_keeps_the_categorys_shipping_fee() -> None:
    assert propose_refund(399_00, 2, "no_longer_wanted", POLICY, "apparel") == 798_00 - 1200
    assert propose_refund(899_00, 1, "wrong_size", POLICY, "shoes") == 899_00 - 1800


def test_a_quality_refund_is_the_whole_price() -> None:
    for reason in ("quality_problem", "damaged_in_transit", "wrong_item", "missing_parts"):
        assert propose_refund(1_080_00, 3, reason, POLICY, "cosmetics") == 3_240_00


def test_an_unlisted_category_keeps_the_default_fee() -> None:
    assert propose_refund(50_00, 1, "no_longer_wanted", POLICY, "garden") == 50_00 - 1200


def test_the_proposal_is_never_below_zero() -> None:
    assert propose_refund(5_00, 1, "no_longer_wanted", POLICY, "apparel") == 0
    assert propose_refund(0, 1, "quality_problem", POLICY, "apparel") == 0


@pytest.mark.parametrize(
    ("price", "quantity", "error"),
    [
        (99.5, 1, TypeError),
        (100.0, 1, TypeError),  # a float is refused even when it is whole
        (Decimal(100), 1, TypeError),
        ("100", 1, TypeError),
        (True, 1, TypeError),
        (100, 1.0, TypeError),
        (-1, 1, ValueError),
        (100, 0, ValueError),
    ],
)
def test_the_proposal_refuses_anything_but_integer_fen(
    price: object, quantity: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        propose_refund(price, quantity, "quality_problem", POLICY, "apparel")  # type: ignore[arg-type]


def test_the_proposal_refuses_a_reason_the_policy_does_not_class() -> None:
    with pytest.raises(UnknownReason):
        propose_refund(100_00, 1, "unshipped_cancel", POLICY, "apparel")


def test_a_refund_within_what_is_left_is_valid() -> None:
    assert validate_refund(500_00, line_paid_fen=798_00, refunded_before_fen=0) == []
    assert validate_refund(798_00, line_paid_fen=798_00, refunded_before_fen=0) == []
    assert validate_refund(298_00, line_paid_fen=798_00, refunded_before_fen=500_00) == []


def test_more_than_paid_less_earlier_refunds_is_refused_with_the_figures() -> None:
    assert validate_refund(298_01, line_paid_fen=798_00, refunded_before_fen=500_00) == [
        "the refund of 29801 fen is more than the 29800 fen left on this line "
        "(paid 79800, refunded before 50000)"
    ]


@pytest.mark.parametrize("amount", [0, -100])
def test_zero_or_negative_is_refused(amount: int) -> None:
    assert validate_refund(amount, line_paid_fen=100_00, refunded_before_fen=0) == [
        f"the refund must be more than 0 fen, got {amount}"
    ]


@pytest.mark.parametrize("amount", [12.5, 100.0, Decimal("100"), "100", None, True])
def test_anything_but_a_whole_number_of_fen_is_refused(amount: object) -> None:
    assert validate_refund(amount, line_paid_fen=100_00, refunded_before_fen=0) == [
        f"the refund must be a whole number of fen, got {amount!r}"
    ]


def test_a_fully_refunded_line_takes_no_more() -> None:
    problems = validate_refund(1, line_paid_fen=100_00, refunded_before_fen=100_00)
    assert problems == [
        "the refund of 1 fen is more than the 0 fen left on this line "
        "(paid 10000, refunded before 10000)"
    ]


def test_bad_line_figures_are_a_bug_not_input() -> None:
    with pytest.raises(TypeError):
        validate_refund(1, line_paid_fen=100.0, refunded_before_fen=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="refunded_before_fen"):
        validate_refund(1, line_paid_fen=100, refunded_before_fen=-1)


# --- properties ---------------------------------------------------------------------------


@given(amount=st.integers(min_value=-(10**12), max_value=10**12), paid=fen, before=fen)
def test_a_valid_refund_is_never_above_paid_less_earlier_refunds_nor_below_one_fen(
    amount: int, paid: int, before: int
) -> None:
    ok = validate_refund(amount, line_paid_fen=paid, refunded_before_fen=before) == []
    assert ok == (1 <= amount <= paid - before)


@given(amount=st.floats(allow_nan=True, allow_infinity=True), paid=fen, before=fen)
def test_a_float_is_never_a_valid_refund(amount: float, paid: int, before: int) -> None:
    assert validate_refund(amount, line_paid_fen=paid, refunded_before_fen=before) != []


@given(
    price=st.integers(min_value=0, max_value=10**9),
    quantity=st.integers(min_value=1, max_value=1000),
    reason=st.sampled_from(REVIEWED_REASONS),
    category=st.sampled_from([*POLICY.categories, "not_listed"]),
)
def test_the_proposal_is_never_negative_nor_above_the_line_and_always_valid_when_positive(
    price: int, quantity: int, reason: str, category: str
) -> None:
    proposed = propose_refund(price, quantity, reason, POLICY, category)
    paid = price * quantity
    assert isinstance(proposed, int) and 0 <= proposed <= paid
    assert proposed == max(0, paid - POLICY.fee_kept_fen(category, reason))
    if proposed > 0:
        assert validate_refund(proposed, line_paid_fen=paid, refunded_before_fen=0) == []


@given(paid=fen, before=fen)
def test_what_is_left_is_never_negative(paid: int, before: int) -> None:
    left = refundable_fen(line_paid_fen=paid, refunded_before_fen=before)
    assert left == max(0, paid - before)
