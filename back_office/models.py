"""Tables of the back office. The RMA itself is the kernel's (`core.models.Rma`: the IVR reads
its status out); here are what the back office keeps beside it: what the order system last sent
for each RMA, the warehouse's inspection of the returned item, and the catalogue's stock."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base
from core.models import Rma


class RmaIntake(Base):
    """What the order system last sent for an RMA: the fingerprint behind idempotent intake."""

    __tablename__ = "bo_rma_intakes"

    id: Mapped[int] = mapped_column(primary_key=True)
    rma_id: Mapped[int] = mapped_column(ForeignKey("rmas.id", ondelete="CASCADE"), unique=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    source: Mapped[str] = mapped_column(String(10))  # api, csv
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of the normalised request
    received_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    revisions: Mapped[int] = mapped_column(default=1)

    rma: Mapped[Rma] = relationship()


class Inspection(Base):
    """The warehouse's quality inspection of a returned item: one current result per RMA (a
    second inspection replaces the first while the RMA is not decided)."""

    __tablename__ = "bo_inspections"

    id: Mapped[int] = mapped_column(primary_key=True)
    rma_id: Mapped[int] = mapped_column(ForeignKey("rmas.id", ondelete="CASCADE"), unique=True)
    passed: Mapped[bool]
    notes: Mapped[str] = mapped_column(Text, default="")
    inspector: Mapped[str] = mapped_column(String(60), default="")
    inspected_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(10))  # api, csv
    recorded_at: Mapped[datetime]

    rma: Mapped[Rma] = relationship()


class CatalogueItem(Base):
    """A product as the catalogue knows it: its category (the return policy's windows are per
    category) and the stock an exchange's replacement is taken from."""

    __tablename__ = "bo_catalogue"

    sku: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(40))
    stock: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime]
