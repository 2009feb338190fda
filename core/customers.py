"""Finding customers, orders and RMA requests for caller identification and self-service."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from core.models import Customer, CustomerPhone, Order, Rma


def find_by_phone(session: Session, e164: str | None) -> Customer | None:
    """The customer who owns this E.164 number, if any. Read-only."""
    if not e164:
        return None
    return session.scalar(select(Customer).join(CustomerPhone).where(CustomerPhone.e164 == e164))


def find_by_reference(session: Session, digits: str) -> tuple[Customer, str] | None:
    """A customer by the account number or order number a caller keyed, with which matched."""
    customer = session.scalar(select(Customer).where(Customer.account_number == digits))
    if customer is not None:
        return customer, "account"
    order = session.scalar(
        select(Order).options(selectinload(Order.customer)).where(Order.number == digits)
    )
    if order is not None:
        return order.customer, "order"
    return None


def find_order(session: Session, customer_id: int, number: str) -> Order | None:
    """The order with this number, only if it belongs to this customer. Read-only."""
    return session.scalar(
        select(Order).where(Order.number == number, Order.customer_id == customer_id)
    )


def find_rma(session: Session, customer_id: int, number: str) -> Rma | None:
    """The RMA request with this number, only if it belongs to this customer. Read-only."""
    return session.scalar(select(Rma).where(Rma.number == number, Rma.customer_id == customer_id))
