"""Load menu files (TOML) into a MenuSet, refusing every problem with file, line and reason."""

from __future__ import annotations

import re
import string
import tomllib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.sourcemap import SourceMap
from ivr_menus.model import (
    INPUT_KINDS,
    MenuSet,
    Node,
    NodeKind,
    Option,
    Voice,
    Where,
)
from queues.config import QueueConfigError, load_queues
from queues.routing import QueueRoute

DTMF_KEY = re.compile(r"^[0-9*#]$")
NODE_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

#: Every message the engine and the read-outs use; each language must define all of them.
REQUIRED_MESSAGES = frozenset(
    {
        "no_input",
        "invalid",
        "queue_offer_callback",
        "queue_max_wait_callback",
        "queue_transfer",
        "callback_confirm",
        "callback_invalid",
        "callback_booked",
        "callback_intro",
        "agent_leaving",
        "whisper",
        "whisper_callback",
        "caller_gone",
        "outbound_whisper",
        "outbound_greeting",
        "notice_refunded",
        "notice_shipped",
        "notice_machine_refunded",
        "notice_machine_shipped",
        "notice_menu",
        "notice_goodbye",
        "notice_transfer",
        "tier_vip",
        "tier_returning",
        "tier_new",
        "transfer",
        "apology",
        "goodbye",
        "hold",
        "leave_message",
        "greeting_vip",
        "greeting_returning",
        "greeting_new",
        "not_found_reference",
        "not_found_order",
        "not_found_rma",
        "not_identified",
        "voicemail_thanks",
        "order_readout",
        "rma_readout",
        "rma_refund",
        "rma_replacement",
        "order_pending_review",
        "order_approved",
        "order_shipped",
        "order_delivered",
        "order_cancelled",
        "rma_return",
        "rma_exchange",
        "rma_awaiting_inspection",
        "rma_in_review",
        "rma_approved",
        "rma_rejected",
        "rma_refund_pending",
        "rma_refunded",
        "rma_replacement_pending",
        "rma_replacement_shipped",
        "rma_closed",
        "queue_next",
        "queue_position",
        "queue_position_one",
        "queue_wait",
        "queue_wait_one",
        "queue_wait_long",
        "queue_no_agents",
        "queue_comfort",
        # Cancelling an unshipped order from the order status (cancel_order nodes).
        "order_cancel_refund",
        "order_cancel_nothing_paid",
        "order_cancel_done",
        "order_cancel_done_unpaid",
        "order_cancel_already",
        "order_cancel_refused",
        "order_cancel_unavailable",
    }
)
#: What a cancel_order node's prompt may name: the order (digit by digit), the refund sentence.
CANCEL_PROMPT_FIELDS = frozenset({"number", "refund"})

_NODE_KEYS = {
    NodeKind.MENU: {"options", "on_failure"},
    NodeKind.HOURS: {"next", "closed"},
    NodeKind.IDENTIFY: {"next", "on_failure"},
    NodeKind.ORDER_STATUS: {"next", "on_failure", "cancellable"},
    NodeKind.RMA_STATUS: {"next", "on_failure"},
    NodeKind.CANCEL_ORDER: {"options", "on_failure", "refused"},
    NodeKind.ENQUEUE: {"queue", "skill", "priority"},
    NodeKind.VOICEMAIL: set(),
    NodeKind.HANGUP: set(),
}
_REQUIRED_KEYS = {
    NodeKind.MENU: {"options", "on_failure"},
    NodeKind.HOURS: {"next", "closed"},
    NodeKind.IDENTIFY: {"next", "on_failure"},
    NodeKind.ORDER_STATUS: {"next", "on_failure"},
    NodeKind.RMA_STATUS: {"next", "on_failure"},
    NodeKind.CANCEL_ORDER: {"options", "on_failure", "refused"},
    NodeKind.ENQUEUE: {"queue", "skill"},
}
_COMMON_KEYS = {"kind", "prompt", "max_attempts", "timeout"}
_NO_PROMPT = frozenset({NodeKind.HOURS, NodeKind.ENQUEUE})


class MenuError(ValueError):
    """Menu files that cannot be used; `problems` lists each as 'file:line: reason'."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid IVR menus:\n  " + "\n  ".join(problems))


@dataclass
class _Source:
    path: Path
    data: dict[str, Any]
    lines: SourceMap

    def where(self, *path: str) -> Where:
        return Where(self.path, self.lines.line(*path))


def _read(path: Path, problems: list[str]) -> _Source | None:
    text = path.read_bytes().decode("utf-8", errors="replace")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = m.group(1) if m else "1"
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        if reason.startswith("Cannot overwrite a value") or "already" in reason:
            reason = f"duplicate key ({reason})"
        problems.append(f"{path}:{line}: {reason}")
        return None
    return _Source(path, data, SourceMap(text))


def _files(path: Path) -> list[Path]:
    return sorted(path.glob("*.toml")) if path.is_dir() else [path]


def load_queue_names(path: Path | None) -> frozenset[str]:
    """Names of the inbound queues in the queue file, which is validated in full first.

    A bad queue file stops the menus loading: its problems are raised as a MenuError, each
    with the queue file's name and line.
    """
    if path is None or not path.is_file():
        return frozenset()
    try:
        return load_queues(path).names
    except QueueConfigError as exc:
        raise MenuError(exc.problems) from None


def load_menus(path: Path, *, queues_path: Path | None = None) -> MenuSet:
    """Read and validate every menu file under `path`; raise MenuError listing all problems."""
    problems: list[str] = []
    files = _files(Path(path))
    if not files:
        raise MenuError([f"{path}: no menu files (*.toml)"])
    sources = [s for s in (_read(f, problems) for f in files) if s is not None]
    if problems:
        raise MenuError(problems)
    queues = load_queue_names(queues_path)

    hotline = [(s, s.data["hotline"]) for s in sources if "hotline" in s.data]
    if len(hotline) != 1:
        where = ", ".join(str(s.where("hotline")) for s, _ in hotline) or str(files[0]) + ":1"
        raise MenuError([f"{where}: expected exactly one [hotline] table, found {len(hotline)}"])
    hsrc, htable = hotline[0]
    languages = tuple(htable.get("languages") or ())
    if not languages or not all(isinstance(lang, str) for lang in languages):
        problems.append(f"{hsrc.where('hotline', 'languages')}: languages must list at least one")
        raise MenuError(problems)
    defaults = {"max_attempts": htable.get("max_attempts", 3), "timeout": htable.get("timeout", 6)}

    voices = _voices(sources, languages, problems)
    messages = _messages(sources, languages, problems)
    nodes = _nodes(sources, languages, defaults, queues, problems)
    entry = htable.get("entry")
    closed_route = htable.get("closed_route")
    if closed_route is not None and closed_route not in nodes:
        at = hsrc.where("hotline", "closed_route")
        problems.append(f"{at}: unknown closed_route node {closed_route!r}")
    if entry not in nodes:
        problems.append(f"{hsrc.where('hotline', 'entry')}: unknown entry node {entry!r}")
    else:
        roots = [entry] + ([closed_route] if closed_route in nodes else [])
        _check_graph(nodes, roots, problems)
    if problems:
        raise MenuError(problems)
    return MenuSet(
        entry=entry,
        closed_route=closed_route,
        languages=languages,
        nodes=nodes,
        voices=voices,
        messages=messages,
        queues=queues,
    )


def _voices(
    sources: list[_Source], languages: tuple[str, ...], problems: list[str]
) -> dict[str, Voice]:
    voices: dict[str, Voice] = {}
    for src in sources:
        for lang, spec in src.data.get("voices", {}).items():
            if not isinstance(spec, dict) or not isinstance(spec.get("language"), str):
                problems.append(f'{src.where("voices", lang)}: voice needs language = "xx-XX"')
                continue
            voices[lang] = Voice(spec["language"], spec.get("voice"))
    for lang in languages:
        if lang not in voices:
            problems.append(f"{sources[0].path}:1: no [voices] entry for language {lang!r}")
    return voices


def _messages(
    sources: list[_Source], languages: tuple[str, ...], problems: list[str]
) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    where: dict[str, Where] = {}
    for src in sources:
        for lang, table in src.data.get("messages", {}).items():
            if lang not in languages:
                problems.append(
                    f"{src.where('messages', lang)}: {lang!r} is not a hotline language"
                )
                continue
            found.setdefault(lang, {}).update({k: str(v) for k, v in table.items()})
            where.setdefault(lang, src.where("messages", lang))
    for lang in languages:
        missing = sorted(REQUIRED_MESSAGES - set(found.get(lang, {})))
        if missing:
            place = where.get(lang, Where(sources[0].path, 1))
            problems.append(f"{place}: messages missing in language {lang!r}: {', '.join(missing)}")
    return found


def _nodes(
    sources: list[_Source],
    languages: tuple[str, ...],
    defaults: Mapping[str, Any],
    queues: frozenset[str],
    problems: list[str],
) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    for src in sources:
        for node_id, table in src.data.get("node", {}).items():
            here = src.where("node", node_id)
            if node_id in nodes:
                problems.append(
                    f"{here}: duplicate node id {node_id!r} (also at {nodes[node_id].where})"
                )
                continue
            node = _node(src, node_id, table, languages, defaults, queues, problems)
            if node is not None:
                nodes[node_id] = node
    return nodes


def _node(
    src: _Source,
    node_id: str,
    table: Any,
    languages: tuple[str, ...],
    defaults: Mapping[str, Any],
    queues: frozenset[str],
    problems: list[str],
) -> Node | None:
    here = src.where("node", node_id)
    if not NODE_ID.match(node_id):
        problems.append(f"{here}: node id {node_id!r} must be lowercase letters, digits and _")
    if not isinstance(table, dict):
        problems.append(f"{here}: node {node_id!r} must be a table")
        return None
    kind = next((k for k in NodeKind if k.value == table.get("kind")), None)
    if kind is None:
        kinds = ", ".join(k.value for k in NodeKind)
        problems.append(
            f"{src.where('node', node_id, 'kind')}: node {node_id!r} has kind "
            f"{table.get('kind')!r}; expected one of {kinds}"
        )
        return None
    for key in sorted(set(table) - _COMMON_KEYS - _NODE_KEYS[kind]):
        problems.append(f"{src.where('node', node_id, key)}: unknown key {key!r} in {kind} node")
    for key in sorted(_REQUIRED_KEYS.get(kind, set()) - set(table)):
        problems.append(f"{here}: {kind} node {node_id!r} needs {key!r}")

    prompt = table.get("prompt", {})
    if not isinstance(prompt, dict):
        problems.append(
            f"{src.where('node', node_id, 'prompt')}: prompt must be a table of languages"
        )
        prompt = {}
    if kind not in _NO_PROMPT or prompt:
        for lang in languages:
            if not str(prompt.get(lang, "")).strip():
                problems.append(
                    f"{src.where('node', node_id, 'prompt')}: prompt missing in "
                    f"language {lang!r} (node {node_id!r})"
                )
    for lang in sorted(set(prompt) - set(languages)):
        problems.append(
            f"{src.where('node', node_id, 'prompt', lang)}: {lang!r} is not a hotline language"
        )

    options = _options(src, node_id, table.get("options", {}), languages, problems)
    if kind is NodeKind.CANCEL_ORDER:
        _check_cancel(src, node_id, prompt, options, problems)
    else:
        for option in options:
            if option.confirm:
                problems.append(
                    f"{src.where('node', node_id, 'options', option.key)}: confirm is only "
                    f"for cancel_order nodes (node {node_id!r})"
                )
    route = None
    if kind is NodeKind.ENQUEUE and "queue" in table:
        queue = str(table["queue"])
        if queues and queue not in queues:
            problems.append(
                f"{src.where('node', node_id, 'queue')}: unknown queue {queue!r} "
                f"(not in the queue file)"
            )
        route = QueueRoute(
            queue, str(table.get("skill", "")), _int(src, table, "priority", 0, problems, node_id)
        )
    refs = {o.target: src.where("node", node_id, "options", o.key) for o in options}
    refs.update(
        {
            table[k]: src.where("node", node_id, k)
            for k in ("next", "on_failure", "closed", "cancellable", "refused")
            if isinstance(table.get(k), str)
        }
    )
    return Node(
        id=node_id,
        kind=kind,
        where=here,
        refs=refs,
        prompt={k: str(v) for k, v in prompt.items()},
        options=options,
        next=table.get("next"),
        on_failure=table.get("on_failure"),
        closed=table.get("closed"),
        cancellable=table.get("cancellable"),
        refused=table.get("refused"),
        route=route,
        max_attempts=_int(src, table, "max_attempts", defaults["max_attempts"], problems, node_id),
        timeout=_int(src, table, "timeout", defaults["timeout"], problems, node_id),
    )


def _int(
    src: _Source,
    table: Mapping[str, Any],
    key: str,
    default: int,
    problems: list[str],
    node_id: str,
) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1000:
        problems.append(f"{src.where('node', node_id, key)}: {key} must be a whole number 0-1000")
        return default
    return value


def _options(
    src: _Source, node_id: str, table: Any, languages: tuple[str, ...], problems: list[str]
) -> tuple[Option, ...]:
    if not isinstance(table, dict):
        problems.append(f"{src.where('node', node_id, 'options')}: options must be a table")
        return ()
    options = []
    for key, spec in table.items():
        where = src.where("node", node_id, "options", key)
        if not DTMF_KEY.match(key):
            problems.append(f"{where}: option key {key!r} is not one digit 0-9, * or #")
            continue
        if isinstance(spec, str):
            spec = {"goto": spec}
        if not isinstance(spec, dict) or not isinstance(spec.get("goto"), str):
            problems.append(f'{where}: option {key!r} needs goto = "<node id>"')
            continue
        language = spec.get("language")
        if language is not None and language not in languages:
            problems.append(f"{where}: option {key!r} sets unknown language {language!r}")
        unknown = set(spec) - {"goto", "language", "speech", "confirm"}
        if unknown:
            problems.append(
                f"{where}: unknown key(s) {', '.join(sorted(unknown))} in option {key!r}"
            )
        confirm = spec.get("confirm", False)
        if not isinstance(confirm, bool):
            problems.append(f"{where}: confirm of option {key!r} must be true or false")
            confirm = False
        speech = spec.get("speech", [])
        options.append(
            Option(
                key,
                spec["goto"],
                language,
                tuple(str(s).lower() for s in speech if str(s).strip()),
                confirm,
            )
        )
    return tuple(options)


def _check_cancel(
    src: _Source,
    node_id: str,
    prompt: Mapping[str, Any],
    options: tuple[Option, ...],
    problems: list[str],
) -> None:
    """A cancel_order node: exactly one option confirms; its prompt names only {number} and
    {refund} (filled in for the order the caller just heard)."""
    confirming = [o.key for o in options if o.confirm]
    if len(confirming) != 1:
        problems.append(
            f"{src.where('node', node_id, 'options')}: cancel_order node {node_id!r} needs "
            f"exactly one option with confirm = true (found {len(confirming)})"
        )
    for lang, text in prompt.items():
        try:
            names = {f for _, f, _, _ in string.Formatter().parse(str(text)) if f is not None}
        except ValueError as exc:
            names = {f"malformed: {exc}"}
        unknown = sorted(names - CANCEL_PROMPT_FIELDS)
        if unknown:
            problems.append(
                f"{src.where('node', node_id, 'prompt', lang)}: the prompt may name only "
                f"{{number}} and {{refund}}, not {', '.join(unknown)} (node {node_id!r})"
            )


def _check_graph(nodes: Mapping[str, Node], roots: list[str], problems: list[str]) -> None:
    for node in nodes.values():
        for target in node.targets():
            if target not in nodes:
                where = node.refs.get(target, node.where)
                problems.append(f"{where}: unknown target {target!r} in node {node.id!r}")
        if node.kind in INPUT_KINDS | {NodeKind.MENU, NodeKind.CANCEL_ORDER} and (
            node.max_attempts < 1
        ):
            problems.append(f"{node.where}: node {node.id!r} needs max_attempts of at least 1")
    seen = set(roots)
    todo = deque(roots)
    while todo:
        for target in nodes[todo.popleft()].targets():
            if target in nodes and target not in seen:
                seen.add(target)
                todo.append(target)
    for node_id in sorted(set(nodes) - seen, key=lambda n: nodes[n].where.line):
        node = nodes[node_id]
        problems.append(f"{node.where}: node {node_id!r} is unreachable from entry {roots[0]!r}")
