"""Self-service read-outs: an order's or RMA's status as a sentence in the caller's language."""

from __future__ import annotations

from core.models import Order, Rma, RmaKind
from core.speech import say_amount, say_digits
from ivr_menus.model import MenuSet

# Chinese sentences follow each other without a space; most other languages need one.
_SENTENCE_GAP = {"zh": "", "ja": ""}


def order_readout(menus: MenuSet, order: Order) -> dict[str, str]:
    """Language → sentence: number digit by digit, amount in words, status. Pure."""
    return {
        lang: menus.message(
            lang,
            "order_readout",
            number=say_digits(order.number, lang),
            amount=say_amount(order.amount_fen, lang),
            status=menus.message(lang, f"order_{order.status.value}"),
        )
        for lang in menus.languages
    }


def rma_readout(menus: MenuSet, rma: Rma) -> dict[str, str]:
    """Language → sentence: kind, number, status, and the refund or replacement once known."""
    out = {}
    for lang in menus.languages:
        text = menus.message(
            lang,
            "rma_readout",
            kind=menus.message(lang, f"rma_{rma.kind.value}"),
            number=say_digits(rma.number, lang),
            status=menus.message(lang, f"rma_{rma.status.value}"),
        )
        sentences = [text]
        if rma.kind is RmaKind.RETURN and rma.refund_amount_fen is not None:
            amount = say_amount(rma.refund_amount_fen, lang)
            sentences.append(menus.message(lang, "rma_refund", amount=amount))
        if rma.kind is RmaKind.EXCHANGE and rma.replacement_sku:
            sentences.append(menus.message(lang, "rma_replacement", sku=rma.replacement_sku))
        out[lang] = _SENTENCE_GAP.get(lang, " ").join(sentences)
    return out
