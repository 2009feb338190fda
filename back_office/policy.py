"""The return policy as data (`config/return_policy.toml`) and the pure checklist it gives an RMA.

`load_policy` reads and validates the file into a frozen `ReturnPolicy`, collecting every
problem as "file:line: reason" (`PolicyError.problems`), as the menu and queue loaders do. The
runtime loads it once at start-up, so a bad file stops the call centre before it serves.

`checklist(facts, policy, now=)` is the policy applied to one return or exchange: a `Check` for
every rule (met, not met, or not known yet, with a short English reason), never only the first
failure. Each rule has a stable code (`Rule`) the console labels in Chinese and English.
`approvable` says whether every rule is met.

Windows count calendar days in the policy's time zone: a window of N days starts the day after
delivery and ends at the end of the N-th day. The request's own time decides (when the customer
asked), not the time of review; `now` stands in for a request not filed yet.
"""

from __future__ import annotations

import enum
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from config.sourcemap import SourceMap
from core.models import RmaKind, RmaReason

NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
DEFAULT_CATEGORY = "default"


class PolicyError(ValueError):
    """A return policy file that cannot be used; `problems` lists each as 'file:line: reason'."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid return policy file:\n  " + "\n  ".join(problems))


class UnknownReason(ValueError):
    """A reason the policy does not class (not on its list, or the unshipped cancellation)."""

    code = "unknown-reason"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"reason {reason!r} is not on the return policy's list")


class ReasonClass(enum.StrEnum):
    """Which window, categories and shipping fee apply to a reason."""

    NO_REASON = "no_reason"  # the customer changed their mind (or the size)
    QUALITY = "quality"  # the shop or the carrier is at fault


#: Reasons the policy must class: every reason of the order system's list except the
#: cancellation of an unshipped order, which is refunded without review.
REVIEWED_REASONS = tuple(r.value for r in RmaReason if r is not RmaReason.UNSHIPPED_CANCEL)


@dataclass(frozen=True, slots=True)
class CategoryRules:
    """The policy for one product category, with `[category.default]` already applied."""

    name: str
    no_reason_days: int
    quality_days: int
    no_reason_returnable: bool  # may be returned with a no_reason reason
    opened_returnable: bool  # an opened item may be returned with a no_reason reason
    no_reason_fee_kept_fen: int
    quality_fee_kept_fen: int

    def window_days(self, reason_class: ReasonClass) -> int:
        if reason_class is ReasonClass.QUALITY:
            return self.quality_days
        return self.no_reason_days

    def fee_kept_fen(self, reason_class: ReasonClass) -> int:
        if reason_class is ReasonClass.QUALITY:
            return self.quality_fee_kept_fen
        return self.no_reason_fee_kept_fen


@dataclass(frozen=True, slots=True)
class ReturnPolicy:
    """The whole policy: the time zone days are counted in, each reason's class, each category."""

    timezone: ZoneInfo
    reasons: Mapping[str, ReasonClass]
    categories: Mapping[str, CategoryRules]  # always holds DEFAULT_CATEGORY
    path: Path

    def rules_for(self, category: str) -> CategoryRules:
        """The category's rules; a category the file does not list gets the default's."""
        return self.categories.get(category) or self.categories[DEFAULT_CATEGORY]

    def reason_class(self, reason: str) -> ReasonClass:
        """The class of `reason`; raises UnknownReason for a reason the policy does not class."""
        try:
            return self.reasons[reason]
        except KeyError:
            raise UnknownReason(reason) from None

    def fee_kept_fen(self, category: str, reason: str) -> int:
        """The shipping fee the policy keeps from a refund for this category and reason."""
        return self.rules_for(category).fee_kept_fen(self.reason_class(reason))


# --- the checklist ------------------------------------------------------------------------


class Rule(enum.StrEnum):
    """The policy's rules, in the order the checklist lists them. The values are stable codes:
    the console labels them (zh and en) and tests name them."""

    DELIVERED = "delivered"
    WITHIN_WINDOW = "within_window"
    CATEGORY_RETURNABLE = "category_returnable"
    OPENED_ALLOWED = "opened_allowed"
    INSPECTION_PASSED = "inspection_passed"
    SKU_MATCHES = "sku_matches"
    QUANTITY_ON_ORDER = "quantity_on_order"


@dataclass(frozen=True, slots=True)
class Check:
    """One rule's result: met (True), not met (False) or not known yet (None), and why."""

    rule: Rule
    met: bool | None
    why: str


@dataclass(frozen=True, slots=True)
class RmaFacts:
    """What the checklist needs to know about one return or exchange, as plain values."""

    kind: RmaKind
    reason: str  # an RmaReason value
    category: str  # the catalogue's category of the item
    delivered_at: datetime | None  # None: the order has not been delivered
    requested_at: datetime | None  # when the customer asked; None: not filed yet (now counts)
    opened: bool
    inspection: bool | None  # passed the warehouse's inspection; None: not inspected yet
    sku_matches: bool | None  # the returned SKU is the order line's; None: not confirmed yet
    quantity: int  # items returned or exchanged
    ordered_quantity: int | None  # items on the order line; None: the line is not known


def checklist(facts: RmaFacts, policy: ReturnPolicy, *, now: datetime) -> list[Check]:
    """Every rule of the policy applied to `facts`, in `Rule` order, each met or not or unknown.

    Pure: no database and no clock (`now` is given; it stands in for the request time of an
    RMA not filed yet, and a delivery recorded after `now` has not happened). All the rules are
    judged, so the reviewer sees every reason that fails at once.
    """
    _require_aware("now", now)
    _require_aware("delivered_at", facts.delivered_at)
    _require_aware("requested_at", facts.requested_at)
    rules = policy.rules_for(facts.category)
    reason_class = policy.reasons.get(facts.reason)
    return [
        _delivered(facts, now=now),
        _within_window(facts, policy, rules, reason_class, now=now),
        _category_returnable(facts, rules, reason_class),
        _opened_allowed(facts, rules, reason_class),
        _inspection_passed(facts),
        _sku_matches(facts),
        _quantity_on_order(facts),
    ]


def approvable(checks: Sequence[Check]) -> bool:
    """True only when every rule is met: a rule not met, or not known yet, holds the RMA."""
    return bool(checks) and all(check.met is True for check in checks)


def failing(checks: Sequence[Check]) -> list[Check]:
    """The rules not met (not those merely unknown yet), in checklist order."""
    return [check for check in checks if check.met is False]


def _require_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def _unknown(rule: Rule, why: str) -> Check:
    return Check(rule, None, why)


def _delivered(facts: RmaFacts, *, now: datetime) -> Check:
    if facts.delivered_at is None:
        return Check(Rule.DELIVERED, False, "the order has not been delivered")
    if facts.delivered_at > now:
        return Check(Rule.DELIVERED, False, "the delivery is recorded for a later time than now")
    return Check(Rule.DELIVERED, True, "delivered")


def _local_day(moment: datetime, policy: ReturnPolicy) -> date:
    return moment.astimezone(policy.timezone).date()


def _within_window(
    facts: RmaFacts,
    policy: ReturnPolicy,
    rules: CategoryRules,
    reason_class: ReasonClass | None,
    *,
    now: datetime,
) -> Check:
    if facts.delivered_at is None or facts.delivered_at > now:
        return _unknown(
            Rule.WITHIN_WINDOW, "the window counts from delivery, which has not happened"
        )
    if reason_class is None:
        return _unknown(Rule.WITHIN_WINDOW, f"no window for reason {facts.reason!r}")
    asked_at = facts.requested_at or now
    days = rules.window_days(reason_class)
    delivered_on = _local_day(facts.delivered_at, policy)
    last_day = delivered_on + timedelta(days=days)
    after = (_local_day(asked_at, policy) - delivered_on).days
    label = "no-reason" if reason_class is ReasonClass.NO_REASON else "quality"
    asked = "asked" if facts.requested_at is not None else "today is"
    day_word = "day" if after == 1 else "days"
    if after <= days:
        return Check(
            Rule.WITHIN_WINDOW,
            True,
            f"{asked} {after} {day_word} after delivery, within the {days}-day {label} window "
            f"(last day {last_day.isoformat()})",
        )
    return Check(
        Rule.WITHIN_WINDOW,
        False,
        f"{asked} {after} {day_word} after delivery; the {days}-day {label} window ended "
        f"{last_day.isoformat()}",
    )


def _category_returnable(
    facts: RmaFacts, rules: CategoryRules, reason_class: ReasonClass | None
) -> Check:
    if reason_class is None:
        return Check(
            Rule.CATEGORY_RETURNABLE,
            False,
            f"reason {facts.reason!r} is not on the return policy's list",
        )
    if reason_class is ReasonClass.QUALITY:
        return Check(Rule.CATEGORY_RETURNABLE, True, "any category may go back for a fault")
    if rules.no_reason_returnable:
        return Check(
            Rule.CATEGORY_RETURNABLE, True, f"{facts.category} may go back without a fault"
        )
    return Check(
        Rule.CATEGORY_RETURNABLE,
        False,
        f"{facts.category} cannot go back without a quality problem",
    )


def _opened_allowed(
    facts: RmaFacts, rules: CategoryRules, reason_class: ReasonClass | None
) -> Check:
    if not facts.opened:
        return Check(Rule.OPENED_ALLOWED, True, "not opened")
    if reason_class is None:
        return _unknown(Rule.OPENED_ALLOWED, f"opened, and reason {facts.reason!r} is unknown")
    if reason_class is ReasonClass.QUALITY:
        return Check(Rule.OPENED_ALLOWED, True, "opened, but it goes back for a fault")
    if rules.opened_returnable:
        return Check(Rule.OPENED_ALLOWED, True, f"opened {facts.category} may go back")
    return Check(
        Rule.OPENED_ALLOWED,
        False,
        f"opened {facts.category} cannot go back without a quality problem",
    )


def _inspection_passed(facts: RmaFacts) -> Check:
    if facts.inspection is None:
        return _unknown(Rule.INSPECTION_PASSED, "not inspected yet")
    if facts.inspection:
        return Check(Rule.INSPECTION_PASSED, True, "passed inspection")
    return Check(Rule.INSPECTION_PASSED, False, "failed inspection")


def _sku_matches(facts: RmaFacts) -> Check:
    if facts.sku_matches is None:
        return _unknown(Rule.SKU_MATCHES, "not yet checked against the order line")
    if facts.sku_matches:
        return Check(Rule.SKU_MATCHES, True, "the item is the order line's")
    return Check(Rule.SKU_MATCHES, False, "the item is not the order line's SKU")


def _quantity_on_order(facts: RmaFacts) -> Check:
    if facts.quantity < 1:
        return Check(Rule.QUANTITY_ON_ORDER, False, f"quantity {facts.quantity} is below 1")
    if facts.ordered_quantity is None:
        return _unknown(Rule.QUANTITY_ON_ORDER, "the order line is not known")
    if facts.quantity > facts.ordered_quantity:
        return Check(
            Rule.QUANTITY_ON_ORDER,
            False,
            f"{facts.quantity} asked for, but the order line holds {facts.ordered_quantity}",
        )
    return Check(
        Rule.QUANTITY_ON_ORDER, True, f"{facts.quantity} of {facts.ordered_quantity} ordered"
    )


# --- loading the file ---------------------------------------------------------------------

_TOP_KEYS = ("policy", "reasons", "category")
_POLICY_KEYS = ("timezone",)
_DAY_KEYS = ("no_reason_days", "quality_days")
_FLAG_KEYS = ("no_reason_returnable", "opened_returnable")
_FEE_KEYS = ("no_reason_fee_kept_fen", "quality_fee_kept_fen")
_CATEGORY_KEYS = _DAY_KEYS + _FLAG_KEYS + _FEE_KEYS


class _Source:
    """The parsed file with its line map; `refuse` records a problem at a key's line."""

    def __init__(self, path: Path, text: str, data: dict[str, Any]) -> None:
        self.path = path
        self.text_lines = text.splitlines()
        self.data = data
        self.lines = SourceMap(text)
        self.problems: list[str] = []

    def refuse(self, key: tuple[str, ...], reason: str, *, line: int | None = None) -> None:
        self.problems.append(f"{self.path}:{line or self.lines.line(*key)}: {reason}")

    def item_line(self, key: tuple[str, ...], item: str, nth: int = 1) -> int:
        """The line of the `nth` quoted `item` in the (possibly multi-line) array at `key`."""
        start = self.lines.line(*key)
        seen = 0
        quoted = (f'"{item}"', f"'{item}'")
        for number in range(start, len(self.text_lines) + 1):
            text = self.text_lines[number - 1]
            seen += sum(text.count(q) for q in quoted)
            if seen >= nth:
                return number
            if number > start and "=" in text.split("#", 1)[0]:
                break  # the array ended: the next key starts
        return start


def load_policy(path: Path | str) -> ReturnPolicy:
    """Read and validate the return policy file; raise PolicyError listing every problem.

    Pure apart from reading the file: no database, no clock.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise PolicyError([f"{path}:1: cannot read the file ({exc.strerror})"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError([_toml_problem(path, exc)]) from None
    src = _Source(path, text, data)
    for key in sorted(set(data) - set(_TOP_KEYS)):
        src.refuse(
            (key,), f"unknown key {key!r} (expected [policy], [reasons] and [category.<name>])"
        )
    timezone = _timezone(src)
    reasons = _reasons(src)
    categories = _categories(src)
    if src.problems:
        raise PolicyError(sorted(src.problems, key=_line_of))  # in file order, for the editor
    assert timezone is not None
    return ReturnPolicy(timezone=timezone, reasons=reasons, categories=categories, path=path)


def _line_of(problem: str) -> int:
    """The line number of a 'file:line: reason' problem."""
    m = re.search(r":(\d+): ", problem)
    return int(m.group(1)) if m else 0


def _toml_problem(path: Path, exc: tomllib.TOMLDecodeError) -> str:
    message = str(exc)
    m = re.search(r"\(at line (\d+), column \d+\)", message)
    reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
    if reason.startswith("Cannot overwrite a value") or "already" in reason.lower():
        reason = f"duplicate key ({reason})"
    return f"{path}:{m.group(1) if m else 1}: {reason}"


def _table(src: _Source, name: str) -> dict[str, Any] | None:
    """The top-level table `name`, or None (refused) when it is missing or not a table."""
    value = src.data.get(name)
    if value is None:
        src.refuse((name,), f"missing [{name}] table")
        return None
    if not isinstance(value, dict):
        src.refuse((name,), f"{name} must be a table ([{name}])")
        return None
    return value


def _timezone(src: _Source) -> ZoneInfo | None:
    table = _table(src, "policy")
    if table is None:
        return None
    for key in sorted(set(table) - set(_POLICY_KEYS)):
        src.refuse(("policy", key), f"unknown key {key!r} in [policy]")
    name = table.get("timezone")
    if name is None:
        src.refuse(("policy",), '[policy] needs timezone (e.g. "Asia/Shanghai")')
        return None
    if not isinstance(name, str) or not name:
        src.refuse(("policy", "timezone"), f"timezone must be a time zone name, got {name!r}")
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        src.refuse(("policy", "timezone"), f"{name!r} is not an IANA time zone")
        return None


def _reasons(src: _Source) -> dict[str, ReasonClass]:
    table = _table(src, "reasons")
    if table is None:
        return {}
    classes = {c.value: c for c in ReasonClass}
    known = ", ".join(REVIEWED_REASONS)
    found: dict[str, ReasonClass] = {}
    first_line: dict[str, int] = {}
    for class_name, listed in table.items():
        at = ("reasons", class_name)
        if class_name not in classes:
            src.refuse(
                at,
                f"unknown reason class {class_name!r} in [reasons] "
                f"(expected {' and '.join(classes)})",
            )
            continue
        if not isinstance(listed, list) or not all(isinstance(r, str) for r in listed):
            src.refuse(at, f"{class_name} must be a list of reason names")
            continue
        seen_here: dict[str, int] = {}
        for reason in listed:
            seen_here[reason] = seen_here.get(reason, 0) + 1
            line = src.item_line(at, reason, seen_here[reason])
            if reason == RmaReason.UNSHIPPED_CANCEL:
                src.refuse(
                    at,
                    f"{reason!r} is refunded without review and takes no class",
                    line=line,
                )
            elif reason not in REVIEWED_REASONS:
                src.refuse(at, f"unknown reason {reason!r} (known: {known})", line=line)
            elif reason in found:
                src.refuse(
                    at,
                    f"reason {reason!r} is listed twice (first at line {first_line[reason]})",
                    line=line,
                )
            else:
                found[reason] = classes[class_name]
                first_line[reason] = line
    for reason in REVIEWED_REASONS:
        if reason not in found and not any(
            reason in v for v in table.values() if isinstance(v, list)
        ):
            src.refuse(
                ("reasons",),
                f"reason {reason!r} is not listed: put it under no_reason or quality",
            )
    return found


def _categories(src: _Source) -> dict[str, CategoryRules]:
    table = _table(src, "category")
    if table is None:
        return {}
    default = table.get(DEFAULT_CATEGORY)
    base: dict[str, Any] = {}
    if default is None:
        src.refuse(
            ("category",),
            f"missing [category.{DEFAULT_CATEGORY}]: it holds the rules of every category "
            "not listed, and the keys a listed one leaves out",
            line=min((src.lines.line("category", name) for name in table), default=None),
        )
    elif isinstance(default, dict):
        for key in _CATEGORY_KEYS:
            if key not in default:
                src.refuse(
                    ("category", DEFAULT_CATEGORY),
                    f"[category.{DEFAULT_CATEGORY}] needs {key}",
                )
        base = _values(src, DEFAULT_CATEGORY, default)
    categories: dict[str, CategoryRules] = {}
    for name, raw in table.items():
        at = ("category", name)
        if not NAME.match(name):
            src.refuse(at, f"category name {name!r} must be lowercase letters, digits and _")
        if not isinstance(raw, dict):
            src.refuse(at, f"category {name!r} must be a table ([category.{name}])")
            continue
        own = base if name == DEFAULT_CATEGORY else _values(src, name, raw)
        merged = {**base, **own}
        if all(key in merged for key in _CATEGORY_KEYS):
            categories[name] = CategoryRules(name=name, **merged)
    return categories


def _values(src: _Source, name: str, table: Mapping[str, Any]) -> dict[str, Any]:
    """The category's own keys that are valid; each bad one is refused at its line."""
    values: dict[str, Any] = {}
    for key, value in table.items():
        at = ("category", name, key)
        if key not in _CATEGORY_KEYS:
            src.refuse(
                at,
                f"unknown key {key!r} in [category.{name}] (known: {', '.join(_CATEGORY_KEYS)})",
            )
        elif key in _FLAG_KEYS:
            if isinstance(value, bool):
                values[key] = value
            else:
                src.refuse(at, f"{key} must be true or false, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int):
            unit = "days" if key in _DAY_KEYS else "fen (an integer, no decimals)"
            src.refuse(at, f"{key} must be a whole number of {unit}, got {value!r}")
        elif value < 0:
            src.refuse(at, f"{key} must not be negative, got {value}")
        else:
            values[key] = value
    return values
