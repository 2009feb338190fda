"""Refund amounts, in integer fen: the amount proposed to the reviewer, and the checks on the
amount the reviewer enters. Pure: no database, no clock.

Money is never a float here. A float (even 100.0), a Decimal, a string or a bool given as an
amount is refused: `propose_refund` raises TypeError (its inputs come from the database and the
policy, so a float is a bug), `validate_refund` reports it as a problem (its amount comes from
a person or a partner system, so it is input to answer).
"""

from __future__ import annotations

from back_office.policy import ReturnPolicy


def _is_fen(value: object) -> bool:
    """An integer that is not a bool (True is an int to Python, not an amount of money)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _require_fen(name: str, value: object, *, minimum: int) -> int:
    if not _is_fen(value):
        raise TypeError(f"{name} must be an integer (fen), got {type(value).__name__}")
    assert isinstance(value, int)
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def propose_refund(
    unit_price_fen: int, quantity: int, reason: str, policy: ReturnPolicy, category: str
) -> int:
    """The refund proposed for a return: price × quantity, less the shipping fee the policy keeps
    for this category and reason, never below 0.

    Raises TypeError for a non-integer price or quantity, ValueError for a negative price or a
    quantity below 1, and `policy.UnknownReason` for a reason the policy does not class.
    """
    price = _require_fen("unit_price_fen", unit_price_fen, minimum=0)
    count = _require_fen("quantity", quantity, minimum=1)
    kept = policy.fee_kept_fen(category, reason)
    return max(0, price * count - kept)


def refundable_fen(*, line_paid_fen: int, refunded_before_fen: int) -> int:
    """What is left to refund on an order line: paid less earlier refunds (never below 0)."""
    paid = _require_fen("line_paid_fen", line_paid_fen, minimum=0)
    before = _require_fen("refunded_before_fen", refunded_before_fen, minimum=0)
    return max(0, paid - before)


def validate_refund(
    amount_fen: object, *, line_paid_fen: int, refunded_before_fen: int
) -> list[str]:
    """Every problem with a refund of `amount_fen` on an order line; [] when it may be paid.

    The amount must be a whole number of fen, more than 0, and at most what was paid for the
    line less what was refunded on it before. The line's figures come from the database: a
    non-integer or negative one raises (TypeError, ValueError) instead of being reported.
    """
    left = refundable_fen(line_paid_fen=line_paid_fen, refunded_before_fen=refunded_before_fen)
    if not _is_fen(amount_fen):
        return [f"the refund must be a whole number of fen, got {amount_fen!r}"]
    assert isinstance(amount_fen, int)
    problems: list[str] = []
    if amount_fen <= 0:
        problems.append(f"the refund must be more than 0 fen, got {amount_fen}")
    if amount_fen > left:
        problems.append(
            f"the refund of {amount_fen} fen is more than the {left} fen left on this line "
            f"(paid {line_paid_fen}, refunded before {refunded_before_fen})"
        )
    return problems
