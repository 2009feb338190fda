"""The catalogue as the back office needs it: each product's category (the return policy's
windows are per category) and its stock (an exchange's replacement is taken from it).

The catalogue system sends items (JSON API, CSV import); `upsert_items` is idempotent by SKU.
Services flush; the caller commits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from back_office import fields
from back_office.models import CatalogueItem
from core.errors import DomainError

#: The category of a SKU the catalogue does not know (the policy file's fallback).
DEFAULT_CATEGORY = "default"
CATEGORY = re.compile(r"^[a-z0-9_-]{1,40}$")
FIELDS = ("sku", "name", "category", "stock")
MAX_ITEMS = 10_000
MAX_STOCK = 10**9


class InvalidCatalogue(DomainError):
    """Items that cannot be stored; `details.fields` names each bad field (`[3].stock`)."""

    code = "invalid-catalogue"


@dataclass(frozen=True, slots=True)
class ItemIn:
    sku: str
    name: str
    category: str
    stock: int


def parse_item(raw: Any) -> ItemIn:
    """Validate one catalogue item; raise InvalidCatalogue naming every bad field (pure)."""
    if not isinstance(raw, dict):
        raise InvalidCatalogue("an item must be an object", fields={"": "not an object"})
    errors: fields.Errors = {}
    sku = fields.text(raw, "sku", errors, 40, required=True)
    name = fields.text(raw, "name", errors, 200, required=True)
    category = fields.text(raw, "category", errors, 40, required=True)
    if category and not CATEGORY.match(category):
        errors["category"] = "lower-case letters, digits, - or _"
    stock = fields.whole(raw, "stock", errors, low=0, high=MAX_STOCK)
    fields.unknown(raw, FIELDS, errors)
    if errors:
        raise InvalidCatalogue(f"{len(errors)} bad field(s)", fields=errors)
    assert sku and name and category
    return ItemIn(sku, name, category, stock)


def parse_items(raw: Any) -> list[ItemIn]:
    """Validate a list of items; raise InvalidCatalogue naming every bad field of every item
    (`[index].field`), so that nothing is stored when anything is wrong (pure)."""
    if not isinstance(raw, list) or not raw:
        raise InvalidCatalogue("the body must be a non-empty JSON list", fields={"": "not a list"})
    if len(raw) > MAX_ITEMS:
        raise InvalidCatalogue(f"at most {MAX_ITEMS} items", fields={"": "too many items"})
    errors: fields.Errors = {}
    items: list[ItemIn] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(raw):
        try:
            item = parse_item(entry)
        except InvalidCatalogue as exc:
            for name, message in exc.details["fields"].items():
                errors[f"[{index}].{name}" if name else f"[{index}]"] = message
            continue
        if item.sku in seen:
            errors[f"[{index}].sku"] = f"{item.sku} again (first at [{seen[item.sku]}])"
        seen.setdefault(item.sku, index)
        items.append(item)
    if errors:
        raise InvalidCatalogue(f"{len(errors)} bad field(s)", fields=errors)
    return items


@dataclass(frozen=True, slots=True)
class Upserted:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def upsert_item(session: Session, item: ItemIn, *, now: datetime) -> str:
    """Create or update one item; `created`, `updated` or `unchanged` (the same item again
    changes nothing, not even its time). Flushes."""
    found = session.get(CatalogueItem, item.sku)
    if found is None:
        session.add(CatalogueItem(**_values(item), updated_at=now))
        session.flush()
        return "created"
    if all(getattr(found, k) == v for k, v in _values(item).items()):
        return "unchanged"
    for name, value in _values(item).items():
        setattr(found, name, value)
    found.updated_at = now
    session.flush()
    return "updated"


def upsert_items(session: Session, items: Sequence[ItemIn], *, now: datetime) -> Upserted:
    """Upsert every item (idempotent by SKU); how many were created, updated, unchanged."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for item in items:
        counts[upsert_item(session, item, now=now)] += 1
    return Upserted(**counts)


def _values(item: ItemIn) -> dict[str, Any]:
    return {"sku": item.sku, "name": item.name, "category": item.category, "stock": item.stock}


def stock_of(session: Session, sku: str) -> int:
    """How many of `sku` are in stock (0 for a SKU the catalogue does not know)."""
    return int(session.scalar(select(CatalogueItem.stock).where(CatalogueItem.sku == sku)) or 0)


def category_of(session: Session, sku: str) -> str:
    """The category of `sku`; DEFAULT_CATEGORY for a SKU the catalogue does not know."""
    found = session.scalar(select(CatalogueItem.category).where(CatalogueItem.sku == sku))
    return found or DEFAULT_CATEGORY
