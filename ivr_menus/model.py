"""The IVR as frozen data: nodes, options, queue routes and the message catalogue."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from queues.routing import QueueRoute


class NodeKind(enum.StrEnum):
    MENU = "menu"  # say a prompt, take one key or a spoken keyword, go to the chosen option
    HOURS = "hours"  # open → one node, closed (after hours or a holiday) → another
    IDENTIFY = "identify"  # identified by number → next; else key an order/account number
    ORDER_STATUS = "order_status"  # key an order number, hear its status
    RMA_STATUS = "rma_status"  # key a return/exchange number, hear its status
    CANCEL_ORDER = "cancel_order"  # confirm, then cancel and refund the order just read out
    ENQUEUE = "enqueue"  # wait for an agent in an inbound queue
    VOICEMAIL = "voicemail"  # leave a message
    HANGUP = "hangup"  # say goodbye and end the call


#: Kinds that ask the caller to key a reference number (ended by '#').
INPUT_KINDS = frozenset({NodeKind.IDENTIFY, NodeKind.ORDER_STATUS, NodeKind.RMA_STATUS})
#: Kinds that end the IVR part of the call.
TERMINAL_KINDS = frozenset({NodeKind.ENQUEUE, NodeKind.VOICEMAIL, NodeKind.HANGUP})


@dataclass(frozen=True, slots=True)
class Where:
    """A place in a menu file, for error messages: file and 1-based line."""

    file: Path
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Option:
    key: str  # one DTMF key: 0-9, * or #
    target: str
    language: str | None = None  # choosing this option sets the caller's language
    speech: tuple[str, ...] = ()  # spoken keywords that choose it, any language
    confirm: bool = False  # CANCEL_ORDER: this option carries the cancellation out


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    kind: NodeKind
    where: Where
    prompt: Mapping[str, str] = field(default_factory=dict)  # language → text
    options: tuple[Option, ...] = ()
    next: str | None = None  # identify/self-service success; HOURS: when open
    on_failure: str | None = None  # tries used up (menus: no valid choice; input: not found)
    closed: str | None = None  # HOURS: when closed
    cancellable: str | None = None  # ORDER_STATUS: after an order that may still be cancelled
    refused: str | None = None  # CANCEL_ORDER: the order has shipped (a return instead)
    route: QueueRoute | None = None
    max_attempts: int = 3
    timeout: int = 6
    refs: Mapping[str, Where] = field(default_factory=dict)  # target → where it is named

    def option(self, key: str) -> Option | None:
        return next((o for o in self.options if o.key == key), None)

    def confirmation(self) -> Option | None:
        """CANCEL_ORDER: the option that confirms (the loader requires exactly one)."""
        return next((o for o in self.options if o.confirm), None)

    def targets(self) -> list[str]:
        """Every node id this node can lead to."""
        found = [o.target for o in self.options]
        found += [
            t
            for t in (self.next, self.on_failure, self.closed, self.cancellable, self.refused)
            if t
        ]
        return found


@dataclass(frozen=True, slots=True)
class Voice:
    language: str  # BCP-47 tag for <Say>/<Gather>, e.g. zh-CN
    voice: str | None = None  # e.g. Polly.Zhiyu


@dataclass(frozen=True)
class MenuSet:
    """A validated hotline: entry node, languages (first = default), nodes and messages."""

    entry: str
    languages: tuple[str, ...]
    nodes: Mapping[str, Node]
    voices: Mapping[str, Voice]
    messages: Mapping[str, Mapping[str, str]]  # language → key → text
    queues: frozenset[str] = frozenset()
    # While the centre is closed, every route to an agent (enqueue node) goes here instead,
    # so self-service keeps working around the clock.
    closed_route: str | None = None

    @property
    def default_language(self) -> str:
        return self.languages[0]

    def agent_language(self, spoken: Sequence[str]) -> str:
        """The language an agent hears whispers in: the hotline's default language if they
        speak it (or we do not know what they speak), else the first of theirs it has."""
        usable = [lang for lang in spoken if lang in self.languages]
        if not usable or self.default_language in usable:
            return self.default_language
        return usable[0]

    def message(self, language: str, key: str, **values: str) -> str:
        return self.messages[language][key].format(**values)
