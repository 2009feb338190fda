"""SLA policies as data (`config/sla.toml`): the targets of a work order's two clocks, per
category and priority, with a default.

`load_sla_policies(path)` reads and validates the file and raises `SlaPolicyError` listing
every problem as "file:line: reason" (the lines come from `config.sourcemap`), as the return
policy and the menu loaders do. `SlaPolicies.for_work_order(category, priority)` merges the
tables key by key, most general first: [default], [priority.N], [category.NAME],
[category.NAME.priority.N]. Pure apart from reading the file.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from config.sourcemap import SourceMap

HOURS_MODES = ("all", "business")
UNREACHED_MODES = ("counts", "pauses")
_KEYS = ("first_feedback_hours", "resolution_hours", "hours", "warning_share", "unreached_callback")
#: What [default] must give (unreached_callback is optional: "counts").
_REQUIRED = ("first_feedback_hours", "resolution_hours", "hours", "warning_share")
_TOP_KEYS = ("default", "priority", "category")
#: The longest target a policy may set (a year): beyond it a target is surely a typo.
MAX_HOURS = 24 * 366


class SlaPolicyError(ValueError):
    """The SLA policy file is wrong; `problems` lists each as "file:line: reason"."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """The targets of one work order's clocks."""

    first_feedback: timedelta = timedelta(hours=2)
    resolution: timedelta = timedelta(hours=24)
    business_hours: bool = False  # True: only the centre's opening hours count
    warning_share: float = 0.8  # the clock warns once this share of its target has passed
    #: True: a callback that did not reach the customer pauses the resolution clock until the
    #: work order's next event (a reached call, a move, a reply, ...).
    unreached_pauses: bool = False


@dataclass(frozen=True, slots=True)
class SlaPolicies:
    """Every policy of the file; `for_work_order` picks and merges them."""

    default: SlaPolicy = SlaPolicy()
    #: Overrides (the keys a table sets) by priority, by category, by (category, priority).
    by_priority: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    by_category: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    by_both: Mapping[tuple[str, int], Mapping[str, Any]] = field(default_factory=dict)
    path: Path | None = None

    def for_work_order(self, category: str, priority: int) -> SlaPolicy:
        """The policy of a work order of `category` and `priority` (pure)."""
        policy = self.default
        for overrides in (
            self.by_priority.get(priority),
            self.by_category.get(category),
            self.by_both.get((category, priority)),
        ):
            if overrides:
                policy = replace(policy, **overrides)
        return policy


def _overrides(table: Mapping[str, Any]) -> dict[str, Any]:
    """The SlaPolicy fields a validated table sets."""
    found: dict[str, Any] = {}
    if "first_feedback_hours" in table:
        found["first_feedback"] = timedelta(hours=table["first_feedback_hours"])
    if "resolution_hours" in table:
        found["resolution"] = timedelta(hours=table["resolution_hours"])
    if "hours" in table:
        found["business_hours"] = table["hours"] == "business"
    if "warning_share" in table:
        found["warning_share"] = float(table["warning_share"])
    if "unreached_callback" in table:
        found["unreached_pauses"] = table["unreached_callback"] == "pauses"
    return found


class _Source:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = SourceMap(text)
        self.problems: list[str] = []

    def refuse(self, key: tuple[str, ...], reason: str) -> None:
        self.problems.append(f"{self.path}:{self.lines.line(*key)}: {reason}")


def load_sla_policies(
    path: Path | str, *, known_categories: Collection[str] | None = None
) -> SlaPolicies:
    """Read and validate the SLA policy file; raise SlaPolicyError listing every problem.
    With `known_categories`, a [category.NAME] naming another category is refused."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise SlaPolicyError([f"{path}:1: cannot read the file ({exc.strerror})"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise SlaPolicyError([f"{path}:{m.group(1) if m else 1}: {reason}"]) from None
    src = _Source(path, text)
    for key in sorted(set(data) - set(_TOP_KEYS)):
        src.refuse(
            (key,),
            f"unknown table {key!r} (expected [default], [priority.N], [category.NAME] "
            "and [category.NAME.priority.N])",
        )
    default = data.get("default")
    if not isinstance(default, dict):
        src.refuse(("default",), "missing [default] table (every key, e.g. first_feedback_hours)")
        default = {}
    else:
        _check_table(src, ("default",), default)
        for key in _REQUIRED:
            if key not in default:
                src.refuse(("default",), f"[default] needs {key}")
    by_priority = _priorities(src, ("priority",), data.get("priority"))
    by_category: dict[str, Mapping[str, Any]] = {}
    by_both: dict[tuple[str, int], Mapping[str, Any]] = {}
    categories = data.get("category", {})
    if not isinstance(categories, dict):
        src.refuse(("category",), "category must hold tables ([category.NAME])")
        categories = {}
    for name, table in categories.items():
        at = ("category", name)
        if not isinstance(table, dict):
            src.refuse(at, f"category.{name} must be a table ([category.{name}])")
            continue
        if known_categories is not None and name not in known_categories:
            src.refuse(at, f"unknown category {name!r} (known: {', '.join(known_categories)})")
        own = {k: v for k, v in table.items() if k != "priority"}
        _check_table(src, at, own)
        by_category[name] = _overrides(own)
        if "priority" in table:
            for priority, overrides in _priorities(
                src, (*at, "priority"), table["priority"]
            ).items():
                by_both[(name, priority)] = overrides
    if src.problems:
        raise SlaPolicyError(sorted(src.problems, key=_line_of))
    return SlaPolicies(
        default=replace(SlaPolicy(), **_overrides(default)),
        by_priority=by_priority,
        by_category=by_category,
        by_both=by_both,
        path=path,
    )


def _priorities(src: _Source, at: tuple[str, ...], value: object) -> dict[int, Mapping[str, Any]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        src.refuse(at, f"{'.'.join(at)} must hold tables ([{'.'.join(at)}.N])")
        return {}
    found: dict[int, Mapping[str, Any]] = {}
    for key, table in value.items():
        here = (*at, key)
        if not key.isdigit():
            src.refuse(here, f"priority {key!r} is not a whole number (0 new, 1 returning, 2 VIP)")
            continue
        if not isinstance(table, dict):
            src.refuse(here, f"{'.'.join(here)} must be a table")
            continue
        _check_table(src, here, table)
        found[int(key)] = _overrides(table)
    return found


def _check_table(src: _Source, at: tuple[str, ...], table: Mapping[str, Any]) -> None:
    name = ".".join(at)
    for key in sorted(set(table) - set(_KEYS)):
        src.refuse((*at, key), f"unknown key {key!r} in [{name}] (expected {', '.join(_KEYS)})")
    for key in ("first_feedback_hours", "resolution_hours"):
        if key not in table:
            continue
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            src.refuse((*at, key), f"{key} must be a number of hours, got {value!r}")
        elif not 0 < value <= MAX_HOURS:
            src.refuse((*at, key), f"{key} must be more than 0 and at most {MAX_HOURS}")
    if "hours" in table and table["hours"] not in HOURS_MODES:
        src.refuse((*at, "hours"), f'hours must be "all" or "business", got {table["hours"]!r}')
    if "unreached_callback" in table and table["unreached_callback"] not in UNREACHED_MODES:
        src.refuse(
            (*at, "unreached_callback"),
            f'unreached_callback must be "counts" or "pauses", got {table["unreached_callback"]!r}',
        )
    if "warning_share" in table:
        share = table["warning_share"]
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share < 1:
            src.refuse(
                (*at, "warning_share"),
                f"warning_share must be a share between 0 and 1 (0.8: at 80 %), got {share!r}",
            )
    feedback, resolution = table.get("first_feedback_hours"), table.get("resolution_hours")
    if (
        isinstance(feedback, int | float)
        and isinstance(resolution, int | float)
        and not isinstance(feedback, bool)
        and not isinstance(resolution, bool)
        and feedback > resolution
    ):
        src.refuse(
            (*at, "first_feedback_hours"),
            "first_feedback_hours is longer than resolution_hours",
        )


def _line_of(problem: str) -> int:
    m = re.search(r":(\d+): ", problem)
    return int(m.group(1)) if m else 0
