"""The IVR's decisions as pure functions: where a caller goes next, and what they hear.

Nothing here touches the database, the clock or HTTP: the caller's state comes in as a
`Caller` (with `is_open` already decided for the current time), and a `Decision` comes out.
Lookups of orders and accounts are the caller's job: the engine asks for one with a `Lookup`
step and is told the result through `after_lookup`. Cancelling the order the caller just heard
is the caller's job too: a `Cancel` step, and the outcome through `after_cancel`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from core.speech import say_amount, say_digits
from ivr_menus.model import INPUT_KINDS, MenuSet, Node, NodeKind, Option
from queues.routing import QueueRoute

MAX_HOPS = 32  # pass-through nodes followed in one step before the menus count as looping
_REFERENCE = re.compile(r"^\d{4,20}$")


class UnknownNode(LookupError):
    """A webhook named a node the menus do not have (a stale or forged URL)."""


@dataclass(frozen=True, slots=True)
class OrderInView:
    """The order the caller last heard read out, as a cancel_order node needs it."""

    number: str
    status: str  # the order's status (core.models.OrderStatus value)
    cancellable: bool  # it has not shipped: it may be cancelled and refunded without review
    refund_fen: int  # what cancelling it refunds (0: nothing was paid)


#: Order statuses a cancellation is refused for with "it has shipped: return it instead".
SHIPPED = frozenset({"shipped", "delivered"})


@dataclass(frozen=True, slots=True)
class Caller:
    language: str | None = None  # None until chosen: prompts are then said in every language
    identified: bool = False
    name: str | None = None
    tier: str | None = None
    is_open: bool = True
    order: OrderInView | None = None  # the order last read out to them on this call


@dataclass(frozen=True, slots=True)
class Utterance:
    text: str
    language: str


@dataclass(frozen=True, slots=True)
class Ask:
    """Say something and wait for a key (menus) or a keyed number ended by '#' (input nodes)."""

    node_id: str
    say: tuple[Utterance, ...]
    attempt: int
    keyed: bool
    timeout: int
    language: str
    hints: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Transfer:
    node_id: str
    say: tuple[Utterance, ...]
    route: QueueRoute


@dataclass(frozen=True, slots=True)
class LeaveMessage:
    node_id: str
    say: tuple[Utterance, ...]


@dataclass(frozen=True, slots=True)
class End:
    node_id: str
    say: tuple[Utterance, ...]


@dataclass(frozen=True, slots=True)
class Lookup:
    """The caller keyed a reference; look it up and call `after_lookup` with the result."""

    node_id: str
    kind: NodeKind
    reference: str
    attempt: int


@dataclass(frozen=True, slots=True)
class Cancel:
    """The caller confirmed: cancel `order` and call `after_cancel` with the outcome; the
    caller then goes on to `then` (the confirming option's target)."""

    node_id: str
    order: str
    attempt: int
    then: str


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    """What the cancellation did: `result` is "cancelled" (now or before, by us),
    "already_cancelled" (some other way), "shipped" (refused: a return instead) or
    "unavailable" (it could not be done here)."""

    result: str
    order: str
    refund_fen: int = 0
    rma: str | None = None


Step = Ask | Transfer | LeaveMessage | End | Lookup | Cancel


@dataclass(frozen=True, slots=True)
class Decision:
    step: Step
    language: str | None = None  # the caller's language after this step (None: not chosen)


def _languages(menus: MenuSet, caller: Caller) -> tuple[str, ...]:
    return (caller.language,) if caller.language else menus.languages


def say_message(menus: MenuSet, caller: Caller, key: str, **values: str) -> tuple[Utterance, ...]:
    """A catalogue message in the caller's language, or in every language if none is chosen."""
    return tuple(
        Utterance(menus.message(lang, key, **values), lang) for lang in _languages(menus, caller)
    )


def _say_prompt(menus: MenuSet, caller: Caller, node: Node) -> tuple[Utterance, ...]:
    return tuple(
        Utterance(node.prompt[lang], lang)
        for lang in _languages(menus, caller)
        if lang in node.prompt
    )


def _say_per_language(
    menus: MenuSet, caller: Caller, key: str, order: str, amount_fen: int = 0, **values: str
) -> tuple[Utterance, ...]:
    """A catalogue message naming an order (digit by digit) and an amount, in the caller's
    language or every language."""
    return tuple(
        Utterance(
            menus.message(
                lang,
                key,
                number=say_digits(order, lang),
                amount=say_amount(amount_fen, lang),
                **values,
            ),
            lang,
        )
        for lang in _languages(menus, caller)
    )


def _confirm_prompt(menus: MenuSet, caller: Caller, node: Node) -> tuple[Utterance, ...]:
    """A cancel_order node's prompt for the order in view: its number and what is refunded."""
    order = caller.order
    assert order is not None
    out = []
    for lang in _languages(menus, caller):
        if lang not in node.prompt:
            continue
        if order.refund_fen > 0:
            refund = menus.message(
                lang, "order_cancel_refund", amount=say_amount(order.refund_fen, lang)
            )
        else:
            refund = menus.message(lang, "order_cancel_nothing_paid")
        text = node.prompt[lang].format(number=say_digits(order.number, lang), refund=refund)
        out.append(Utterance(text, lang))
    return tuple(out)


def _cancel_detour(menus: MenuSet, node: Node, caller: Caller) -> tuple[str, tuple[Utterance, ...]]:
    """Where a cancel_order node sends a caller whose order may not be cancelled, and what
    they hear first: already cancelled, shipped (a return instead), or not here."""
    order = caller.order
    confirm = node.confirmation()
    if order is None:
        return _onward(node, node.on_failure), say_message(menus, caller, "not_found_order")
    if order.status == "cancelled" and confirm is not None:
        return confirm.target, _say_per_language(
            menus, caller, "order_cancel_already", order.number
        )
    if order.status in SHIPPED:
        refused = _say_per_language(menus, caller, "order_cancel_refused", order.number)
        return _onward(node, node.refused), refused
    unavailable = _say_per_language(menus, caller, "order_cancel_unavailable", order.number)
    return _onward(node, node.on_failure), unavailable


def greeting(menus: MenuSet, caller: Caller) -> tuple[Utterance, ...]:
    """A greeting suited to the caller's tier (VIPs are told they are served first)."""
    tier = caller.tier if caller.tier in ("vip", "returning") else "new"
    return say_message(menus, caller, f"greeting_{tier}", name=caller.name or "")


def _node(menus: MenuSet, node_id: str) -> Node:
    node = menus.nodes.get(node_id)
    if node is None:
        raise UnknownNode(node_id)
    return node


def _onward(node: Node, target: str | None) -> str:
    """Where a node passes the call on; the loader requires the target, so None is a bad menu."""
    if target is None:
        raise UnknownNode(f"{node.id} passes the call on to no node")
    return target


def enter(
    menus: MenuSet,
    node_id: str,
    caller: Caller,
    *,
    attempt: int = 1,
    before: tuple[Utterance, ...] = (),
) -> Decision:
    """Arrive at a node: follow pass-through nodes, then ask, transfer, take a message or end."""
    for _ in range(MAX_HOPS):
        node = _node(menus, node_id)
        if node.kind is NodeKind.HOURS:
            node_id = _onward(node, node.next if caller.is_open else node.closed)
            continue
        if node.kind is NodeKind.IDENTIFY and caller.identified:
            before += greeting(menus, caller)
            node_id = _onward(node, node.next)
            continue
        if node.kind is NodeKind.ENQUEUE and not caller.is_open and menus.closed_route:
            node_id = menus.closed_route
            continue
        if node.kind in (NodeKind.ORDER_STATUS, NodeKind.RMA_STATUS) and not caller.identified:
            before += say_message(menus, caller, "not_identified")
            node_id = _onward(node, node.on_failure)
            continue
        if node.kind is NodeKind.CANCEL_ORDER and not (caller.order and caller.order.cancellable):
            node_id, said = _cancel_detour(menus, node, caller)
            before += said
            continue
        if node.kind is NodeKind.CANCEL_ORDER:
            said = before + _confirm_prompt(menus, caller, node)
        else:
            said = before + _say_prompt(menus, caller, node)
        step: Step
        if node.kind is NodeKind.ENQUEUE:
            assert node.route is not None
            if not node.prompt:
                said += say_message(menus, caller, "transfer")
            step = Transfer(node.id, said, node.route)
        elif node.kind is NodeKind.VOICEMAIL:
            step = LeaveMessage(node.id, said)
        elif node.kind is NodeKind.HANGUP:
            step = End(node.id, said)
        else:
            hints = tuple(kw for o in node.options for kw in o.speech)
            step = Ask(
                node.id,
                said,
                attempt,
                keyed=node.kind in INPUT_KINDS,
                timeout=node.timeout,
                language=caller.language or menus.default_language,
                hints=hints,
            )
        return Decision(step, caller.language)
    raise UnknownNode(f"{node_id} (more than {MAX_HOPS} pass-through nodes: a loop)")


def _match(node: Node, digits: str | None, speech: str | None) -> Option | None:
    if digits:
        return node.option(digits) if len(digits) == 1 else None
    if speech:
        text = speech.strip().lower()
        if len(text) == 1 and node.option(text):
            return node.option(text)
        for option in node.options:
            if any(keyword in text for keyword in option.speech):
                return option
    return None


def reference_from(digits: str | None, speech: str | None) -> str | None:
    """The number a caller keyed (ended by '#') or said, if it looks like a reference."""
    if digits:
        ref = digits.rstrip("#")
        return ref if _REFERENCE.match(ref) else None
    if speech:
        ref = "".join(ch for ch in speech if ch.isdigit() and ch.isascii())
        return ref if _REFERENCE.match(ref) else None
    return None


def retry(menus: MenuSet, node: Node, caller: Caller, attempt: int, reason: str) -> Decision:
    """Replay the node's prompt after `reason`, or leave by its failure route when tries run out."""
    said = say_message(menus, caller, reason)
    if attempt < node.max_attempts:
        return enter(menus, node.id, caller, attempt=attempt + 1, before=said)
    assert node.on_failure is not None
    return enter(menus, node.on_failure, caller, before=said)


def answer(
    menus: MenuSet,
    node_id: str,
    caller: Caller,
    *,
    digits: str | None,
    speech: str | None,
    attempt: int,
) -> Decision:
    """The caller answered (or did not) at a node that asked; decide the next step."""
    node = _node(menus, node_id)
    attempt = max(1, min(attempt, node.max_attempts))
    nothing = not digits and not (speech and speech.strip())
    if node.kind in (NodeKind.MENU, NodeKind.CANCEL_ORDER):
        option = _match(node, digits, speech)
        if option is None:
            return retry(menus, node, caller, attempt, "no_input" if nothing else "invalid")
        if option.confirm:
            if caller.order is None:  # nothing in view (a stale URL): say so and go on
                return enter(menus, node.id, caller)
            # Whatever the order's status now, the cancellation decides (a repeated webhook
            # gets the first one's result; an order that shipped meanwhile, the refusal).
            return Decision(
                Cancel(node.id, caller.order.number, attempt, option.target), caller.language
            )
        chosen = replace(caller, language=option.language or caller.language)
        return enter(menus, option.target, chosen)
    if node.kind in INPUT_KINDS:
        if node.kind is not NodeKind.IDENTIFY and not caller.identified:
            return enter(menus, node.id, caller)
        ref = reference_from(digits, speech)
        if ref is None:
            return retry(menus, node, caller, attempt, "no_input" if nothing else "invalid")
        return Decision(Lookup(node.id, node.kind, ref, attempt), caller.language)
    return enter(menus, node.id, caller)  # this node asks nothing: carry on from it


_NOT_FOUND = {
    NodeKind.IDENTIFY: "not_found_reference",
    NodeKind.ORDER_STATUS: "not_found_order",
    NodeKind.RMA_STATUS: "not_found_rma",
}


def after_lookup(
    menus: MenuSet, lookup: Lookup, caller: Caller, *, readout: Mapping[str, str] | None
) -> Decision:
    """Continue after a lookup: `readout` (language → text) if found, None if not.

    For an identify node `caller` is already the identified caller and the readout is unused.
    """
    node = _node(menus, lookup.node_id)
    if readout is None:
        return retry(menus, node, caller, lookup.attempt, _NOT_FOUND[node.kind])
    assert node.next is not None
    if node.kind is NodeKind.IDENTIFY:
        return enter(menus, node.next, caller, before=greeting(menus, caller))
    said = tuple(Utterance(readout[lang], lang) for lang in _languages(menus, caller))
    onward = node.next
    if node.cancellable and caller.order is not None and caller.order.cancellable:
        onward = node.cancellable  # it has not shipped: offer to cancel it
    return enter(menus, onward, caller, before=said)


def after_cancel(
    menus: MenuSet, cancel: Cancel, caller: Caller, outcome: CancelOutcome
) -> Decision:
    """Continue after the cancellation `cancel` asked for: its result said, then the caller
    goes on (cancelled: the confirming option's target; shipped: the node's `refused` route,
    a return instead; otherwise its failure route)."""
    node = _node(menus, cancel.node_id)
    if outcome.result == "cancelled":
        key = "order_cancel_done" if outcome.refund_fen > 0 else "order_cancel_done_unpaid"
        said = tuple(
            Utterance(
                menus.message(
                    lang,
                    key,
                    number=say_digits(outcome.order, lang),
                    amount=say_amount(outcome.refund_fen, lang),
                    rma=say_digits(outcome.rma, lang) if outcome.rma else "",
                ),
                lang,
            )
            for lang in _languages(menus, caller)
        )
        return enter(menus, cancel.then, caller, before=said)
    if outcome.result == "already_cancelled":
        said = _say_per_language(menus, caller, "order_cancel_already", outcome.order)
        return enter(menus, cancel.then, caller, before=said)
    if outcome.result == "shipped":
        said = _say_per_language(menus, caller, "order_cancel_refused", outcome.order)
        return enter(menus, _onward(node, node.refused), caller, before=said)
    said = _say_per_language(menus, caller, "order_cancel_unavailable", outcome.order)
    return enter(menus, _onward(node, node.on_failure), caller, before=said)
