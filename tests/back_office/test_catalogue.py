"""The catalogue: items validated as a whole list, upserted idempotently by SKU, and the stock
and category lookups the review uses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from back_office import catalogue
from back_office.models import CatalogueItem
from tests.conftest import NOW

SHOES = {"sku": "SHO-1", "name": "跑鞋", "category": "shoes", "stock": 4}


def test_every_bad_field_of_every_item_is_named() -> None:
    with pytest.raises(catalogue.InvalidCatalogue) as caught:
        catalogue.parse_items(
            [
                SHOES,
                {"sku": "", "name": "x", "category": "Shoes!", "stock": -1},
                "not an item",
                {**SHOES, "colour": "red"},
            ]
        )
    assert caught.value.code == "invalid-catalogue"
    assert caught.value.details["fields"] == {
        "[1].sku": "required",
        "[1].category": "lower-case letters, digits, - or _",
        "[1].stock": "must be from 0 to 1000000000",
        "[2]": "not an object",
        "[3].colour": "unknown field",
    }


def test_a_sku_twice_in_one_list_is_refused() -> None:
    with pytest.raises(catalogue.InvalidCatalogue) as caught:
        catalogue.parse_items([SHOES, {**SHOES, "stock": 1}])
    assert caught.value.details["fields"] == {"[1].sku": "SHO-1 again (first at [0])"}


@pytest.mark.parametrize("body", [[], {}, None])
def test_the_body_must_be_a_non_empty_list(body: object) -> None:
    with pytest.raises(catalogue.InvalidCatalogue):
        catalogue.parse_items(body)


def test_upsert_is_idempotent_by_sku(session: Session) -> None:
    items = catalogue.parse_items([SHOES, {**SHOES, "sku": "LIP-1", "category": "cosmetics"}])
    assert catalogue.upsert_items(session, items, now=NOW) == catalogue.Upserted(created=2)
    later = NOW + timedelta(hours=1)
    assert catalogue.upsert_items(session, items, now=later) == catalogue.Upserted(unchanged=2)
    assert session.get(CatalogueItem, "SHO-1").updated_at == NOW  # type: ignore[union-attr]
    restocked = catalogue.parse_items([{**SHOES, "stock": 0}])
    assert catalogue.upsert_items(session, restocked, now=later) == catalogue.Upserted(updated=1)
    assert session.get(CatalogueItem, "SHO-1").updated_at == later  # type: ignore[union-attr]
    assert len(session.scalars(select(CatalogueItem)).all()) == 2


def test_stock_and_category_with_their_defaults(session: Session) -> None:
    catalogue.upsert_items(session, catalogue.parse_items([SHOES]), now=NOW)
    assert catalogue.stock_of(session, "SHO-1") == 4
    assert catalogue.category_of(session, "SHO-1") == "shoes"
    assert catalogue.stock_of(session, "UNKNOWN") == 0
    assert catalogue.category_of(session, "UNKNOWN") == catalogue.DEFAULT_CATEGORY == "default"
