"""Categories, departments and keyword rules as data (`config/work_orders.toml`), and the pure
classifier that suggests a category, sub-category and department from a description.

`load_rules(path)` reads and validates the file into a frozen `WorkOrderRules`, collecting
every problem as "file:line: reason" (`RulesError.problems`), as the menu and return policy
loaders do. The runtime loads it once at start-up, so a bad file stops the call centre before
it serves; `callcenter work-orders check` runs the same validation on a copy.

`suggest(text, rules)` is the classifier: no database, no clock. `validate(...)` names each bad
field of a category / sub-category / department chosen by a person (the 422s of the forms and
the API). `read_cases` and `evaluate` run a test set of descriptions against the rules.

Matching, the same for every keyword:

- The description and the keywords are normalised alike: NFKC (full-width letters, digits and
  punctuation become half-width), case-folded, curly apostrophes made straight, runs of
  white space made one space.
- A keyword is found as a substring, except that where it begins or ends with a Latin letter
  or digit, the description must not continue with one there: "use" does not match "user",
  while 碎屏 matches anywhere. A keyword ending in `*` may continue ("refund*" matches
  "refunds" and "refunded"). Spaces in a keyword match any run of white space.
- A keyword may join terms with " & ": it matches when every term is found, in any order
  ("screen & crack*" matches "the screen has a crack in it").

Scoring: each rule with at least one keyword found adds its weight (once, however many of its
keywords are found) to its category. The category with the highest total wins; a tie goes to
the category with the heaviest single rule found, then to the one whose first rule found comes
earlier in the file. The sub-category comes from the heaviest rule found in the winning
category that names one (the earlier in the file on a tie), and the department from that rule,
else from the sub-category, else from the category. Nothing found: the fallback category
(`other`) with score 0.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.sourcemap import SourceMap

#: The category suggested when no rule matches; the file must define it.
FALLBACK_CATEGORY = "other"
CATEGORY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
DEPARTMENT_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")  # a team name, like aftersales-a
RULE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
MAX_WEIGHT = 100
MAX_KEYWORD = 60
LANGUAGES = ("zh", "en")

_LATIN = re.compile(r"[a-z0-9]")
_SPACES = re.compile(r"\s+")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u00b4": "'", "`": "'"})


class RulesError(ValueError):
    """A work order rules file that cannot be used; `problems` lists each as 'file:line: reason'."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid work order rules file:\n  " + "\n  ".join(problems))


class CasesError(ValueError):
    """A test set of descriptions that cannot be read; `problems` as 'file:line: reason'."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid test set:\n  " + "\n  ".join(problems))


def normalise(text: str) -> str:
    """The form descriptions and keywords are compared in: NFKC, case-folded, straight
    apostrophes, single spaces, stripped. Pure."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_APOSTROPHES)
    return _SPACES.sub(" ", folded).strip()


# --- the value -----------------------------------------------------------------------------


def _label(zh: str, en: str, lang: str) -> str:
    return zh if lang.lower().startswith("zh") else en


@dataclass(frozen=True, slots=True)
class Department:
    """A department's group that work orders are passed to; `name` is its team name."""

    name: str
    zh: str
    en: str

    def label(self, lang: str) -> str:
        """The label in `lang` ("zh…" gives Chinese, anything else English)."""
        return _label(self.zh, self.en, lang)


@dataclass(frozen=True, slots=True)
class Subcategory:
    """A sub-category; `department` overrides its category's when set."""

    name: str
    zh: str
    en: str
    department: str | None

    def label(self, lang: str) -> str:
        return _label(self.zh, self.en, lang)


@dataclass(frozen=True, slots=True)
class Category:
    """A category with its default department and its sub-categories, in file order."""

    name: str
    zh: str
    en: str
    department: str
    subcategories: Mapping[str, Subcategory]

    def label(self, lang: str) -> str:
        return _label(self.zh, self.en, lang)


@dataclass(frozen=True, slots=True)
class Keyword:
    """One keyword as written in the file, and the patterns of its terms (all must match)."""

    text: str
    patterns: tuple[re.Pattern[str], ...]

    def found_in(self, normalised: str) -> bool:
        """True when every term is found in the (already normalised) description."""
        return all(p.search(normalised) for p in self.patterns)


@dataclass(frozen=True, slots=True)
class Rule:
    """Keywords that point at a category (and maybe a sub-category and a department)."""

    name: str
    keywords: tuple[Keyword, ...]
    category: str
    subcategory: str | None
    department: str | None
    weight: int
    order: int  # its place in the file, from 0: the last tie-break


@dataclass(frozen=True, slots=True)
class WorkOrderRules:
    """The whole file: departments, categories and rules, each in file order."""

    departments: Mapping[str, Department]
    categories: Mapping[str, Category]
    rules: tuple[Rule, ...]
    path: Path

    def department_for(self, category: str, subcategory: str | None = None) -> str:
        """The default department of a category, or of its sub-category when that sets one."""
        cat = self.categories[category]
        sub = cat.subcategories.get(subcategory) if subcategory else None
        return (sub.department if sub else None) or cat.department


@dataclass(frozen=True, slots=True)
class Suggestion:
    """What the rules suggest for a description. `matched` lists the keywords (as written in
    the file) of the rules that chose the category; `score` is its total weight, 0 for the
    fallback; `runners_up` the other categories found, as (category, score), best first."""

    category: str
    subcategory: str | None
    department: str
    matched: tuple[str, ...]
    score: int
    runners_up: tuple[tuple[str, int], ...] = ()


# --- the classifier ------------------------------------------------------------------------


def suggest(text: str, rules: WorkOrderRules) -> Suggestion:
    """The category, sub-category and department the keyword rules suggest for `text`.

    Pure and deterministic (the scoring and tie-breaks are the module's docstring). A text that
    no rule matches gets the fallback category `other`, its department, no keywords, score 0.
    """
    normalised = normalise(text)
    found: list[tuple[Rule, list[str]]] = []
    for rule in rules.rules:
        hits = [kw.text for kw in rule.keywords if kw.found_in(normalised)]
        if hits:
            found.append((rule, hits))
    if not found:
        return Suggestion(
            category=FALLBACK_CATEGORY,
            subcategory=None,
            department=rules.department_for(FALLBACK_CATEGORY),
            matched=(),
            score=0,
        )
    by_category: dict[str, list[tuple[Rule, list[str]]]] = {}
    for rule, hits in found:
        by_category.setdefault(rule.category, []).append((rule, hits))

    def rank(item: tuple[str, list[tuple[Rule, list[str]]]]) -> tuple[int, int, int]:
        entries = item[1]
        return (
            sum(r.weight for r, _ in entries),
            max(r.weight for r, _ in entries),
            -min(r.order for r, _ in entries),
        )

    ranked = sorted(by_category.items(), key=rank, reverse=True)
    category, entries = ranked[0]
    heaviest = sorted(entries, key=lambda e: (-e[0].weight, e[0].order))
    subcategory = next((r.subcategory for r, _ in heaviest if r.subcategory), None)
    lead = next((r for r, _ in heaviest if r.subcategory == subcategory), heaviest[0][0])
    department = lead.department or rules.department_for(category, subcategory)
    return Suggestion(
        category=category,
        subcategory=subcategory,
        department=department,
        matched=tuple(kw for _, hits in entries for kw in hits),
        score=rank(ranked[0])[0],
        runners_up=tuple((name, rank((name, e))[0]) for name, e in ranked[1:]),
    )


def validate(
    category: str | None,
    subcategory: str | None,
    department: str | None,
    rules: WorkOrderRules,
) -> dict[str, str]:
    """Each bad field of a chosen classification, as field name → why; empty when all is well.

    `category` is required. `subcategory` (None or "" for none) must be one of the category's.
    `department` (None or "" for none: whether one is required is the caller's business) must be
    a known department. Pure; for the 422s of the desk's form and the API.
    """
    errors: dict[str, str] = {}
    cat = rules.categories.get(category) if category else None
    if not category:
        errors["category"] = "required"
    elif cat is None:
        errors["category"] = f"unknown category {category!r} (known: {', '.join(rules.categories)})"
    if subcategory and cat is not None and subcategory not in cat.subcategories:
        known = ", ".join(cat.subcategories) or "none"
        errors["subcategory"] = (
            f"unknown sub-category {subcategory!r} of {category!r} (known: {known})"
        )
    if department and department not in rules.departments:
        errors["department"] = (
            f"unknown department {department!r} (known: {', '.join(rules.departments)})"
        )
    return errors


# --- test sets -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    """One description of a test set with the category a person gave it."""

    description: str
    expected: str
    line: int


@dataclass(frozen=True, slots=True)
class Miss:
    """A description the rules classified otherwise than expected."""

    case: Case
    suggestion: Suggestion


@dataclass(frozen=True, slots=True)
class Evaluation:
    """How a test set fared: cases, those classified right, and each miss in file order."""

    total: int
    right: int
    misses: tuple[Miss, ...]

    @property
    def share(self) -> float:
        """The share classified right, from 0 to 1 (0 for an empty set)."""
        return self.right / self.total if self.total else 0.0


def evaluate(cases: Iterable[Case], rules: WorkOrderRules) -> Evaluation:
    """Classify every case and count those whose suggested category is the expected one. Pure."""
    total = right = 0
    misses: list[Miss] = []
    for case in cases:
        total += 1
        suggestion = suggest(case.description, rules)
        if suggestion.category == case.expected:
            right += 1
        else:
            misses.append(Miss(case, suggestion))
    return Evaluation(total=total, right=right, misses=tuple(misses))


def read_cases(path: Path | str, rules: WorkOrderRules) -> list[Case]:
    """A test set from a CSV file (a header with `description` and `category` columns; other
    columns are ignored) or a TOML file (`[[case]]` tables with `description` and `category`).

    Every problem (unreadable, empty description, a category the rules do not know) raises
    CasesError with its file and line. Reads the file only.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise CasesError([f"{path}:1: cannot read the file ({reason})"]) from None
    problems: list[str] = []
    if path.suffix.lower() == ".toml":
        raw = _toml_cases(path, text, problems)
    else:
        raw = _csv_cases(path, text, problems)
    cases: list[Case] = []
    for description, expected, line in raw:
        if not description.strip():
            problems.append(f"{path}:{line}: empty description")
        elif expected not in rules.categories:
            problems.append(f"{path}:{line}: unknown category {expected!r}")
        else:
            cases.append(Case(description.strip(), expected, line))
    if not cases and not problems:
        problems.append(f"{path}:1: no cases")
    if problems:
        raise CasesError(problems)
    return cases


def _csv_cases(path: Path, text: str, problems: list[str]) -> list[tuple[str, str, int]]:
    reader = csv.DictReader(io.StringIO(text))
    columns = reader.fieldnames or []
    if "description" not in columns or "category" not in columns:
        problems.append(f"{path}:1: the header must name the description and category columns")
        return []
    found: list[tuple[str, str, int]] = []
    start = 1  # the header's line; a quoted cell may span lines, so follow the reader
    for row in reader:
        line = start + 1
        start = reader.line_num
        found.append(((row["description"] or ""), (row["category"] or "").strip(), line))
    return found


def _toml_cases(path: Path, text: str, problems: list[str]) -> list[tuple[str, str, int]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problems.append(_toml_problem(path, exc))
        return []
    starts = [n for n, ln in enumerate(text.splitlines(), start=1) if ln.strip() == "[[case]]"]
    listed = data.get("case")
    if not isinstance(listed, list):
        problems.append(f"{path}:1: expected [[case]] tables with description and category")
        return []
    found: list[tuple[str, str, int]] = []
    for i, item in enumerate(listed):
        line = starts[i] if i < len(starts) else 1
        description, expected = item.get("description"), item.get("category")
        if not isinstance(description, str) or not isinstance(expected, str):
            problems.append(f"{path}:{line}: a case needs description and category strings")
            continue
        found.append((description, expected, line))
    return found


# --- loading the file ----------------------------------------------------------------------

_TOP_KEYS = ("department", "category", "rule")
_LABEL_KEYS = ("zh", "en")
_CATEGORY_KEYS = (*_LABEL_KEYS, "department", "sub")
_SUB_KEYS = (*_LABEL_KEYS, "department")
_RULE_KEYS = ("keywords", "category", "subcategory", "department", "weight")


class _Source:
    """The parsed file with its line map; `refuse` records a problem at a key's line."""

    def __init__(self, path: Path, text: str, data: dict[str, Any]) -> None:
        self.path = path
        self.text_lines = text.splitlines()
        self.data = data
        self.lines = SourceMap(text)
        self.problems: list[str] = []

    def line(self, *key: str) -> int:
        """The line of `key`, or of the longest prefix of it that the file names; a table the
        file only names through its sub-tables ([category.x] names [category]) is at the
        first of them."""
        for end in range(len(key), 0, -1):
            prefix = key[:end]
            found = self.lines.lines.get(prefix) or min(
                (n for k, n in self.lines.lines.items() if k[:end] == prefix), default=0
            )
            if found:
                return found
        return 1

    def refuse(self, key: tuple[str, ...], reason: str, *, line: int | None = None) -> None:
        self.problems.append(f"{self.path}:{line or self.line(*key)}: {reason}")

    def item_line(self, key: tuple[str, ...], index: int) -> int:
        """The line of the `index`-th (from 0) string of the possibly multi-line array at
        `key`: strings are counted by their opening quotes, after the key's `=`."""
        start = self.line(*key)
        seen = -1
        for number in range(start, len(self.text_lines) + 1):
            text = self.text_lines[number - 1]
            if number == start:
                text = text.split("=", 1)[-1]
            elif "=" in _code(text):
                break  # the array ended: the next key starts
            seen += len(re.findall(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'', _code(text)))
            if seen >= index:
                return number
        return start


def _code(line: str) -> str:
    """A line without its comment (a # outside quotes)."""
    return re.sub(r'("(?:[^"\\]|\\.)*"|\'[^\']*\')|#.*', lambda m: m.group(1) or "", line)


def load_rules(path: Path | str) -> WorkOrderRules:
    """Read and validate the work order rules file; raise RulesError listing every problem.

    Pure apart from reading the file: no database, no clock.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise RulesError([f"{path}:1: cannot read the file ({exc.strerror})"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError([_toml_problem(path, exc)]) from None
    src = _Source(path, text, data)
    for key in sorted(set(data) - set(_TOP_KEYS)):
        src.refuse(
            (key,),
            f"unknown key {key!r} (expected [department.<name>], [category.<name>] "
            "and [rule.<name>])",
        )
    departments = _departments(src)
    categories = _categories(src, departments)
    rules = _rules(src, departments, categories)
    if src.problems:
        raise RulesError(sorted(src.problems, key=_line_of))  # in file order, for the editor
    return WorkOrderRules(
        departments=departments, categories=categories, rules=tuple(rules), path=path
    )


def _line_of(problem: str) -> int:
    m = re.search(r":(\d+): ", problem)
    return int(m.group(1)) if m else 0


def _toml_problem(path: Path, exc: tomllib.TOMLDecodeError) -> str:
    message = str(exc)
    m = re.search(r"\(at line (\d+), column \d+\)", message)
    reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
    if reason.startswith(("Cannot overwrite a value", "Cannot declare")) or (
        "already" in reason.lower()
    ):
        reason = f"duplicate key ({reason})"
    return f"{path}:{m.group(1) if m else 1}: {reason}"


def _tables(src: _Source, name: str) -> dict[str, Any]:
    """The top-level table of named tables `name` ([name.<x>]); refused when missing."""
    value = src.data.get(name)
    if value is None:
        src.refuse((name,), f"missing [{name}.<name>] tables")
        return {}
    if not isinstance(value, dict):
        src.refuse((name,), f"{name} must be tables ([{name}.<name>])")
        return {}
    return value


def _labels(src: _Source, at: tuple[str, ...], table: Mapping[str, Any]) -> tuple[str, str]:
    """The zh and en labels of a table; each missing or empty one is refused."""
    found: list[str] = []
    for lang in _LABEL_KEYS:
        value = table.get(lang)
        if not isinstance(value, str) or not value.strip():
            what = "missing" if value is None else f"must be a non-empty string, got {value!r}"
            src.refuse((*at, lang), f"{lang} label {what} in [{'.'.join(at)}]")
            found.append("")
        else:
            found.append(value.strip())
    return found[0], found[1]


def _unknown_keys(
    src: _Source, at: tuple[str, ...], table: Mapping[str, Any], known: Sequence[str]
) -> None:
    for key in table:
        if key not in known:
            src.refuse(
                (*at, key),
                f"unknown key {key!r} in [{'.'.join(at)}] (known: {', '.join(known)})",
            )


def _departments(src: _Source) -> dict[str, Department]:
    found: dict[str, Department] = {}
    for name, raw in _tables(src, "department").items():
        at = ("department", name)
        if not DEPARTMENT_NAME.match(name):
            src.refuse(at, f"department name {name!r} must be lowercase letters, digits, - and _")
            continue
        if not isinstance(raw, dict):
            src.refuse(at, f"department {name!r} must be a table ([department.{name}])")
            continue
        _unknown_keys(src, at, raw, _LABEL_KEYS)
        zh, en = _labels(src, at, raw)
        found[name] = Department(name, zh, en)
    return found


def _department_ref(
    src: _Source, at: tuple[str, ...], value: Any, departments: Mapping[str, Department]
) -> str | None:
    """A department named at `at`, or None (refused) when it is not a known one."""
    if not isinstance(value, str) or value not in departments:
        known = ", ".join(departments) or "none defined"
        src.refuse(at, f"unknown department {value!r} (known: {known})")
        return None
    return value


def _categories(src: _Source, departments: Mapping[str, Department]) -> dict[str, Category]:
    table = _tables(src, "category")
    found: dict[str, Category] = {}
    for name, raw in table.items():
        at = ("category", name)
        if not CATEGORY_NAME.match(name):
            src.refuse(at, f"category name {name!r} must be lowercase letters, digits and _")
            continue
        if not isinstance(raw, dict):
            src.refuse(at, f"category {name!r} must be a table ([category.{name}])")
            continue
        _unknown_keys(src, at, raw, _CATEGORY_KEYS)
        zh, en = _labels(src, at, raw)
        if "department" not in raw:
            src.refuse(at, f"[category.{name}] needs a default department")
            department = None
        else:
            department = _department_ref(src, (*at, "department"), raw["department"], departments)
        subs = _subcategories(src, name, raw.get("sub", {}), departments)
        if department is not None:
            found[name] = Category(name, zh, en, department, subs)
    if table and FALLBACK_CATEGORY not in table:
        src.refuse(
            ("category",),
            f"missing [category.{FALLBACK_CATEGORY}]: it is suggested when no rule matches",
        )
    return found


def _subcategories(
    src: _Source, category: str, table: Any, departments: Mapping[str, Department]
) -> dict[str, Subcategory]:
    if not isinstance(table, dict):
        src.refuse(("category", category, "sub"), "sub must be tables ([category.<c>.sub.<s>])")
        return {}
    found: dict[str, Subcategory] = {}
    for name, raw in table.items():
        at = ("category", category, "sub", name)
        if not CATEGORY_NAME.match(name):
            src.refuse(at, f"sub-category name {name!r} must be lowercase letters, digits and _")
            continue
        if not isinstance(raw, dict):
            src.refuse(at, f"sub-category {name!r} must be a table")
            continue
        _unknown_keys(src, at, raw, _SUB_KEYS)
        zh, en = _labels(src, at, raw)
        department = None
        if "department" in raw:
            department = _department_ref(src, (*at, "department"), raw["department"], departments)
        found[name] = Subcategory(name, zh, en, department)
    return found


def _rules(
    src: _Source, departments: Mapping[str, Department], categories: Mapping[str, Category]
) -> list[Rule]:
    found: list[Rule] = []
    first_seen: dict[str, tuple[str, int]] = {}  # normalised keyword → (rule, line)
    for order, (name, raw) in enumerate(_tables(src, "rule").items()):
        at = ("rule", name)
        if not RULE_NAME.match(name):
            src.refuse(at, f"rule name {name!r} must be lowercase letters, digits and _")
            continue
        if not isinstance(raw, dict):
            src.refuse(at, f"rule {name!r} must be a table ([rule.{name}])")
            continue
        _unknown_keys(src, at, raw, _RULE_KEYS)
        category = _rule_category(src, name, raw.get("category"), categories)
        ok = category is not None
        subcategory = raw.get("subcategory")
        if subcategory is not None and category is not None:
            subs = categories[category].subcategories
            if not isinstance(subcategory, str) or subcategory not in subs:
                src.refuse(
                    (*at, "subcategory"),
                    f"unknown sub-category {subcategory!r} of {category!r} "
                    f"(known: {', '.join(subs) or 'none'})",
                )
                ok = False
        department = raw.get("department")
        if department is not None and (
            _department_ref(src, (*at, "department"), department, departments) is None
        ):
            ok = False
        weight = raw.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, int):
            src.refuse((*at, "weight"), f"weight must be a whole number, got {weight!r}")
            ok = False
        elif not 1 <= weight <= MAX_WEIGHT:
            src.refuse((*at, "weight"), f"weight must be from 1 to {MAX_WEIGHT}, got {weight}")
            ok = False
        keywords = _keywords(src, name, raw.get("keywords"), first_seen)
        if ok and category is not None and keywords:
            found.append(
                Rule(name, keywords, category, subcategory, department, weight, order=order)
            )
    return found


def _rule_category(
    src: _Source, rule: str, value: Any, categories: Mapping[str, Category]
) -> str | None:
    """The category a rule points at, or None: missing or unknown (refused here), or a
    category of the file that is itself broken (refused where it is defined)."""
    if value is None:
        src.refuse(("rule", rule), f"[rule.{rule}] needs a category")
        return None
    if isinstance(value, str) and value in categories:
        return value
    written = src.data.get("category")
    if not (isinstance(written, dict) and value in written):
        known = ", ".join(categories) or "none defined"
        src.refuse(("rule", rule, "category"), f"unknown category {value!r} (known: {known})")
    return None


def _keywords(
    src: _Source, rule: str, value: Any, first_seen: dict[str, tuple[str, int]]
) -> tuple[Keyword, ...]:
    at = ("rule", rule, "keywords")
    if value is None:
        src.refuse(at[:2], f"[rule.{rule}] needs keywords (a list of words or phrases)")
        return ()
    if not isinstance(value, list) or not value:
        src.refuse(at, "keywords must be a non-empty list of strings")
        return ()
    found: list[Keyword] = []
    for index, item in enumerate(value):
        line = src.item_line(at, index)
        if not isinstance(item, str):
            src.refuse(at, f"keyword {item!r} must be a string", line=line)
            continue
        keyword, reason = compile_keyword(item)
        if keyword is None:
            src.refuse(at, f"keyword {item!r}: {reason}", line=line)
            continue
        key = " & ".join(sorted(normalise(t) for t in item.split("&")))
        if key in first_seen:
            other, other_line = first_seen[key]
            src.refuse(
                at,
                f"keyword {item!r} is already in rule {other!r} (line {other_line}): "
                "a keyword belongs to one rule",
                line=line,
            )
            continue
        first_seen[key] = (rule, line)
        found.append(keyword)
    return tuple(found)


def compile_keyword(text: str) -> tuple[Keyword | None, str]:
    """The keyword as the classifier uses it, or None and why it cannot be one. Pure."""
    terms = [normalise(t) for t in text.split("&")]
    if not text.strip() or any(not t for t in terms):
        return None, "empty (or an empty term around &)"
    if len(text) > MAX_KEYWORD:
        return None, f"longer than {MAX_KEYWORD} characters"
    patterns: list[re.Pattern[str]] = []
    for term in terms:
        prefix = term.endswith("*")
        body = term.rstrip("*").strip()
        if "*" in body:
            return None, "* may only end a term"
        if not body:
            return None, "* needs a word before it"
        if prefix and not _LATIN.match(body[-1]):
            return None, "* may only follow a Latin letter or digit"
        pattern = r"\s+".join(re.escape(word) for word in body.split(" "))
        if _LATIN.match(body[0]):
            pattern = r"(?<![a-z0-9])" + pattern
        if _LATIN.match(body[-1]) and not prefix:
            pattern += r"(?![a-z0-9])"
        patterns.append(re.compile(pattern))
    return Keyword(text, tuple(patterns)), ""
