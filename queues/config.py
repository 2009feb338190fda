"""Inbound queues as data: load and validate the queue file into frozen QueueConfig values.

The file (`config/queues.toml`, setting `CALLCENTER_QUEUES_PATH`) has four kinds of table:

- `[defaults]`: keys every `[queue.<name>]` inherits unless it sets them itself;
- `[queue.<name>]`: one inbound queue (skills, languages, service level, maximum wait and
  what happens then, hold music and announcements);
- `[priority]`: tier priorities and the aging rate the router uses (see `PriorityRule`);
- `[agents]`: presence settings (wrap-up length, ring timeout, break reason codes).

Like the menu loader, every problem is collected and reported once, each as
"file:line: reason" (`QueueConfigError.problems`); a value inherited from `[defaults]` is
reported at its line there.
"""

from __future__ import annotations

import enum
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.sourcemap import SourceMap
from core.models import Language, Tier
from queues.routing import PriorityRule

NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
KNOWN_LANGUAGES = frozenset(lang.value for lang in Language)
#: Break reasons the system itself uses; the file's list must contain them.
REQUIRED_BREAK_REASONS = frozenset({"missed"})
#: Handle time assumed for wait estimates until a queue has enough recent calls to average.
DEFAULT_HANDLE_S = 240


class MaxWaitAction(enum.StrEnum):
    """What happens to a caller who has waited a queue's `max_wait_s`."""

    OVERFLOW = "overflow"  # move to `overflow_to`, keeping arrival time and priority
    VOICEMAIL = "voicemail"  # leave a message
    CALLBACK = "callback"  # offered a callback that keeps their place


class QueueConfigError(ValueError):
    """A queue file that cannot be used; `problems` lists each as 'file:line: reason'."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid queue file:\n  " + "\n  ".join(problems))


@dataclass(frozen=True, slots=True)
class ServiceLevel:
    """`target_percent` of calls answered within `answer_within_s` seconds."""

    answer_within_s: int
    target_percent: float


@dataclass(frozen=True, slots=True)
class HoldSettings:
    """What a waiting caller hears: music, and how often the announcements come."""

    music: str
    announce_every_s: int  # position and/or estimated wait
    announce_position: bool
    announce_wait: bool
    comfort_every_s: int  # "thank you for waiting, your call is important to us"


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """One inbound queue, with every default already applied."""

    name: str
    skills: tuple[str, ...]  # an agent needs all of them
    languages: tuple[str, ...]  # languages the queue serves
    service_level: ServiceLevel
    max_wait_s: int
    at_max_wait: MaxWaitAction
    overflow_to: str | None  # set exactly when at_max_wait is OVERFLOW
    hold: HoldSettings
    line: int  # where [queue.<name>] starts, for messages
    default_handle_s: int = DEFAULT_HANDLE_S  # the wait estimate's handle time without history


DEFAULT_DISPOSITIONS = ("resolved", "follow_up", "escalated", "wrong_queue", "no_action")


@dataclass(frozen=True, slots=True)
class PresenceSettings:
    """Agent presence: wrap-up ends by itself after `wrap_up_s`; break reason codes."""

    wrap_up_s: int
    ring_timeout_s: int  # ring-no-answer: the agent goes to break "missed"
    break_reasons: tuple[str, ...]
    #: Wrap-up dispositions an agent chooses from at the desk (how the call ended for the business).
    dispositions: tuple[str, ...] = DEFAULT_DISPOSITIONS


@dataclass(frozen=True, slots=True)
class QueueSet:
    """Every inbound queue of the file, with the router's priority rule and presence settings."""

    queues: Mapping[str, QueueConfig]
    priority: PriorityRule
    presence: PresenceSettings
    path: Path

    def __getitem__(self, name: str) -> QueueConfig:
        return self.queues[name]

    def __contains__(self, name: object) -> bool:
        return name in self.queues

    def __iter__(self) -> Iterator[str]:
        return iter(self.queues)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.queues)

    @property
    def skills(self) -> frozenset[str]:
        """Every skill some queue requires."""
        return frozenset(s for q in self.queues.values() for s in q.skills)

    def overflow_chain(self, name: str) -> tuple[str, ...]:
        """The queue and those it overflows to, in order (the loader refuses cycles)."""
        chain = [name]
        while (nxt := self.queues[chain[-1]].overflow_to) is not None:
            chain.append(nxt)
        return tuple(chain)


_QUEUE_KEYS = frozenset(
    {
        "skills",
        "languages",
        "answer_within_s",
        "target_percent",
        "max_wait_s",
        "at_max_wait",
        "overflow_to",
        "music",
        "announce_every_s",
        "announce_position",
        "announce_wait",
        "comfort_every_s",
        "default_handle_s",
    }
)
_QUEUE_REQUIRED = _QUEUE_KEYS - {"overflow_to", "default_handle_s"}
_PRIORITY_KEYS = frozenset({t.value for t in Tier} | {"aging_per_minute"})
_AGENT_KEYS = frozenset({"wrap_up_s", "ring_timeout_s", "break_reasons", "dispositions"})
_TOP_KEYS = frozenset({"defaults", "queue", "priority", "agents"})


class _Source:
    """The parsed file with its line map; `at` formats a problem's place."""

    def __init__(self, path: Path, data: dict[str, Any], lines: SourceMap) -> None:
        self.path = path
        self.data = data
        self.lines = lines
        self.problems: list[str] = []

    def at(self, *key: str) -> str:
        return f"{self.path}:{self.lines.line(*key)}"

    def refuse(self, key: tuple[str, ...], reason: str) -> None:
        self.problems.append(f"{self.at(*key)}: {reason}")


def load_queues(path: Path) -> QueueSet:
    """Read and validate the queue file; raise QueueConfigError listing every problem.

    Pure apart from reading the file: no database, no clock.
    """
    path = Path(path)
    text = path.read_bytes().decode("utf-8", errors="replace")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise QueueConfigError([_toml_problem(path, exc)]) from None
    src = _Source(path, data, SourceMap(text))

    for key in sorted(set(data) - _TOP_KEYS):
        value = data[key]
        src.refuse(
            (key, next(iter(value))) if isinstance(value, dict) and value else (key,),
            f"unknown key {key!r} (expected [defaults], [queue.<name>], [priority] or [agents])",
        )
    defaults = _table(src, "defaults")
    for key in sorted(set(defaults) - _QUEUE_KEYS):
        src.refuse(("defaults", key), f"unknown key {key!r} in [defaults]")

    raw_queues = _table(src, "queue")
    if not raw_queues:
        src.refuse(("queue",), "no queues: add at least one [queue.<name>] table")
    queues: dict[str, QueueConfig] = {}
    for name, table in raw_queues.items():
        queue = _queue(src, name, table, defaults)
        if queue is not None:
            queues[name] = queue
    _check_overflow(src, queues)
    priority = _priority(src)
    presence = _presence(src)
    if src.problems:
        raise QueueConfigError(list(dict.fromkeys(src.problems)))  # a bad default: once
    assert priority is not None and presence is not None
    return QueueSet(queues=queues, priority=priority, presence=presence, path=path)


def _toml_problem(path: Path, exc: tomllib.TOMLDecodeError) -> str:
    message = str(exc)
    m = re.search(r"\(at line (\d+), column \d+\)", message)
    reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
    if reason.startswith("Cannot overwrite a value") or "already" in reason.lower():
        reason = f"duplicate key ({reason})"
    return f"{path}:{m.group(1) if m else 1}: {reason}"


def _table(src: _Source, name: str) -> dict[str, Any]:
    value = src.data.get(name, {})
    if not isinstance(value, dict):
        src.refuse((name,), f"{name} must be a table ([{name}])")
        return {}
    return value


def _queue(src: _Source, name: str, table: Any, defaults: Mapping[str, Any]) -> QueueConfig | None:
    here = ("queue", name)
    if not NAME.match(name):
        src.refuse(here, f"queue name {name!r} must be lowercase letters, digits and _")
    if not isinstance(table, dict):
        src.refuse(here, f"queue {name!r} must be a table")
        return None
    for key in sorted(set(table) - _QUEUE_KEYS):
        src.refuse((*here, key), f"unknown key {key!r} in queue {name!r}")
    # Each value with the place it came from: the queue's own line, or the default's.
    merged: dict[str, tuple[Any, tuple[str, ...]]] = {
        k: (v, ("defaults", k)) for k, v in defaults.items() if k in _QUEUE_KEYS
    }
    merged.update({k: (v, (*here, k)) for k, v in table.items() if k in _QUEUE_KEYS})
    missing = sorted(_QUEUE_REQUIRED - set(merged))
    if missing:
        src.refuse(here, f"queue {name!r} needs {', '.join(missing)} (or a default)")
        return None
    before = len(src.problems)

    def get(key: str) -> tuple[Any, tuple[str, ...]]:
        return merged[key]

    def bad(at: tuple[str, ...], reason: str) -> None:
        # An inherited value is wrong for every queue: say so once, at [defaults].
        who = "[defaults]" if at[0] == "defaults" else f"queue {name!r}"
        src.refuse(at, f"{who}: {reason}")

    skills = _names(bad, *get("skills"), what="skills")
    languages = _names(bad, *get("languages"), what="languages")
    for lang in languages:
        if lang not in KNOWN_LANGUAGES:
            known = ", ".join(sorted(KNOWN_LANGUAGES))
            bad(get("languages")[1], f"unknown language {lang!r} (known: {known})")
    durations: dict[str, int] = {}
    if "default_handle_s" not in merged:
        merged["default_handle_s"] = (DEFAULT_HANDLE_S, here)
    for key in (
        "answer_within_s",
        "max_wait_s",
        "announce_every_s",
        "comfort_every_s",
        "default_handle_s",
    ):
        value, at = get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            bad(at, f"{key} must be a positive number of seconds, got {value!r}")
        else:
            durations[key] = value
    target, target_at = get("target_percent")
    if isinstance(target, bool) or not isinstance(target, int | float) or not 1 <= target <= 100:
        bad(target_at, f"target_percent must be 1-100, got {target!r}")
    within, longest = durations.get("answer_within_s"), durations.get("max_wait_s")
    if within is not None and longest is not None and within > longest:
        bad(
            get("answer_within_s")[1],
            f"answer_within_s ({within}) is longer than max_wait_s ({longest})",
        )
    action_value, action_at = get("at_max_wait")
    try:
        action: MaxWaitAction | None = MaxWaitAction(action_value)
    except ValueError:
        choices = ", ".join(a.value for a in MaxWaitAction)
        bad(action_at, f"at_max_wait {action_value!r} is not one of {choices}")
        action = None
    overflow_to: str | None = None
    if "overflow_to" in merged:
        value, at = get("overflow_to")
        if not isinstance(value, str):
            bad(at, "overflow_to must be a queue name")
        elif action is MaxWaitAction.OVERFLOW:
            overflow_to = value
        elif at[0] == "queue":  # an inherited overflow_to is simply unused here
            bad(at, 'overflow_to needs at_max_wait = "overflow"')
    elif action is MaxWaitAction.OVERFLOW:
        bad(action_at, 'at_max_wait = "overflow" needs overflow_to')
    music, music_at = get("music")
    if not isinstance(music, str) or not NAME.match(music):
        bad(music_at, "music must be a name (lowercase letters, digits, _)")
    flags = {}
    for key in ("announce_position", "announce_wait"):
        value, at = get(key)
        if not isinstance(value, bool):
            bad(at, f"{key} must be true or false")
        flags[key] = bool(value)
    if len(src.problems) > before or action is None:
        return None
    return QueueConfig(
        name=name,
        skills=skills,
        languages=languages,
        service_level=ServiceLevel(durations["answer_within_s"], float(target)),
        max_wait_s=durations["max_wait_s"],
        at_max_wait=action,
        overflow_to=overflow_to,
        hold=HoldSettings(
            music=music,
            announce_every_s=durations["announce_every_s"],
            announce_position=flags["announce_position"],
            announce_wait=flags["announce_wait"],
            comfort_every_s=durations["comfort_every_s"],
        ),
        line=src.lines.line(*here),
        default_handle_s=durations["default_handle_s"],
    )


def _names(
    bad: Callable[[tuple[str, ...], str], None], value: Any, at: tuple[str, ...], *, what: str
) -> tuple[str, ...]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and NAME.match(v) for v in value)
    ):
        bad(at, f"{what} must be a non-empty list of names (lowercase letters, digits, _)")
        return ()
    if len(set(value)) != len(value):
        bad(at, f"{what} lists a name twice")
    return tuple(value)


def _check_overflow(src: _Source, queues: Mapping[str, QueueConfig]) -> None:
    for name, queue in queues.items():
        if queue.overflow_to is not None and queue.overflow_to not in queues:
            src.refuse(
                ("queue", name, "overflow_to"),
                f"queue {name!r} overflows to unknown queue {queue.overflow_to!r}",
            )
    reported: set[str] = set()
    for start in queues:
        path = [start]
        nxt = queues[start].overflow_to
        while nxt is not None and nxt in queues and nxt not in path:
            path.append(nxt)
            nxt = queues[nxt].overflow_to
        if nxt is None or nxt not in path:
            continue
        cycle = path[path.index(nxt) :]
        if reported & set(cycle):
            continue
        reported.update(cycle)
        first = min(cycle, key=lambda n: queues[n].line)  # report at the cycle's first queue
        order = cycle[cycle.index(first) :] + cycle[: cycle.index(first)]
        inherited = "overflow_to" not in src.data["queue"][first]
        where = ("defaults", "overflow_to") if inherited else ("queue", first, "overflow_to")
        src.refuse(where, f"overflow cycle: {' → '.join([*order, first])}")


def _priority(src: _Source) -> PriorityRule | None:
    table = _table(src, "priority")
    if "priority" not in src.data:
        src.refuse(("priority",), "missing [priority] table (tier priorities and aging rate)")
        return None
    for key in sorted(set(table) - _PRIORITY_KEYS):
        src.refuse(("priority", key), f"unknown key {key!r} in [priority]")
    tiers: dict[str, int] = {}
    for tier in Tier:
        value = table.get(tier.value)
        if isinstance(value, bool) or not isinstance(value, int):
            src.refuse(
                ("priority", tier.value) if tier.value in table else ("priority",),
                f"[priority] needs a whole number for tier {tier.value!r}",
            )
            continue
        tiers[tier.value] = value
    aging = table.get("aging_per_minute")
    if isinstance(aging, bool) or not isinstance(aging, int | float) or aging <= 0:
        src.refuse(
            ("priority", "aging_per_minute") if "aging_per_minute" in table else ("priority",),
            f"[priority] aging_per_minute must be a positive number, got {aging!r}",
        )
        return None
    return PriorityRule(tier_priority=tiers, aging_per_minute=float(aging))


def _presence(src: _Source) -> PresenceSettings | None:
    table = _table(src, "agents")
    if "agents" not in src.data:
        src.refuse(("agents",), "missing [agents] table (wrap_up_s, ring_timeout_s, break_reasons)")
        return None
    for key in sorted(set(table) - _AGENT_KEYS):
        src.refuse(("agents", key), f"unknown key {key!r} in [agents]")
    seconds: dict[str, int] = {}
    for key in ("wrap_up_s", "ring_timeout_s"):
        value = table.get(key)
        at = ("agents", key) if key in table else ("agents",)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            src.refuse(at, f"[agents] {key} must be a positive number of seconds, got {value!r}")
        else:
            seconds[key] = value
    reasons = table.get("break_reasons")
    at = ("agents", "break_reasons") if "break_reasons" in table else ("agents",)
    if not isinstance(reasons, list) or not all(
        isinstance(r, str) and NAME.match(r) for r in reasons
    ):
        src.refuse(at, "[agents] break_reasons must be a list of reason codes")
        return None
    if len(set(reasons)) != len(reasons):
        src.refuse(at, "[agents] break_reasons lists a reason twice")
    for needed in sorted(REQUIRED_BREAK_REASONS - set(reasons)):
        src.refuse(at, f"[agents] break_reasons must include {needed!r} (used by the router)")
    dispositions = table.get("dispositions", list(DEFAULT_DISPOSITIONS))
    at = ("agents", "dispositions") if "dispositions" in table else ("agents",)
    if (
        not isinstance(dispositions, list)
        or not dispositions
        or not all(isinstance(d, str) and NAME.match(d) for d in dispositions)
        or len(set(dispositions)) != len(dispositions)
    ):
        src.refuse(at, "[agents] dispositions must be a non-empty list of distinct codes")
        return None
    if len(seconds) < 2:
        return None
    return PresenceSettings(
        wrap_up_s=seconds["wrap_up_s"],
        ring_timeout_s=seconds["ring_timeout_s"],
        break_reasons=tuple(reasons),
        dispositions=tuple(dispositions),
    )
