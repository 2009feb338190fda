"""The layer table and the import checker that tests/test_architecture.py runs on the repository.

One table, `LAYERS`, places every top-level package and module of the repository at a rank
(the rules read off the ranks), names the packages held to a shorter list than their rank
allows, and the few web modules outside the application layer. `check_architecture(root)`
walks the tree under `root`, reads every import with `ast` (module level, inside functions and
under `TYPE_CHECKING` alike) and returns one problem per broken rule, naming the file, the line
and the import. The same function checks the repository and the small trees of the tests that
show each rule failing.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Layers:
    """Where each top-level package sits, and the rules read off those places."""

    #: package or top-level module → rank. A package may import only packages of a strictly
    #: lower rank, plus itself.
    ranks: Mapping[str, int]
    #: From this rank up: the application layer and what sits on it, the only places that may
    #: import the web, CLI and job frameworks.
    application: int
    #: Packages held to a shorter list of ours than their rank allows, whatever the ranks say:
    #: the kernel imports no domain, the phone network nothing but config.
    only: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: Third-party frameworks that belong to entry points: Flask (and its Werkzeug), click, RQ.
    frameworks: frozenset[str] = frozenset({"flask", "werkzeug", "click", "rq"})
    #: Modules below the application layer that may import some of those frameworks anyway,
    #: each named (a module that no longer exists is reported, so the list cannot rot).
    web_modules: Mapping[str, frozenset[str]] = field(default_factory=dict)


LAYERS = Layers(
    ranks={
        "config": 0,  # settings, hours, source maps of data files
        "core": 1,  # the kernel: db, shared models, calls, telephony gateway, audit
        "phone_network": 1,  # the local phone network, apart from the kernel
        "queues": 2,
        "recordings": 3,
        "ivr_menus": 3,
        "outbound": 3,  # the outbound call engine; its clients register their task kinds
        "queue_callbacks": 4,
        "middle_office": 4,
        "back_office": 4,  # RMA review, hand-offs to finance and logistics, status calls
        "work_orders": 4,  # work orders, their SLA clocks, departments, callbacks, complaints
        "qc": 4,
        "reports": 5,
        "supervision": 6,  # the floor supervisor's alerts, figures, dispatch and monitoring
        "callcenter": 9,  # the application layer: Flask, click and RQ entry points
        "wsgi": 10,
        "benchmarks": 11,  # serves wsgi.py's app to measure it
        "tests": 12,
    },
    application=9,
    only={
        "config": frozenset(),
        "core": frozenset({"config"}),
        "phone_network": frozenset({"config"}),
    },
    # The phone network is a program of its own, Twilio's stand-in: its HTTP front (the REST
    # API the gateway calls, the control API of scripted parties, their form parsing and the
    # server) is a Flask app apart from ours. The rest of the package stays framework-free.
    web_modules={
        module: frozenset({"flask", "werkzeug"})
        for module in (
            "phone_network.server",
            "phone_network.rest_api",
            "phone_network.control_api",
            "phone_network.rest_forms",
        )
    },
)


@dataclass(frozen=True)
class Import:
    """One import statement's target, as written in one file."""

    path: Path  # relative to the root
    line: int
    text: str  # the statement, e.g. "from core.db import Base"
    target: str  # the module it names: one of ours when `ours`, else the third-party name
    ours: bool

    def where(self) -> str:
        return f"{self.path}:{self.line}: `{self.text}`"


def top_level_units(root: Path) -> dict[str, Path]:
    """Every top-level package (a directory with __init__.py) and module (a .py file)."""
    units: dict[str, Path] = {}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and (entry / "__init__.py").is_file():
            units[entry.name] = entry
        elif entry.is_file() and entry.suffix == ".py":
            units[entry.stem] = entry
    return units


def modules_of(root: Path, units: Mapping[str, Path]) -> dict[str, Path]:
    """Dotted module name → file, for every .py file of every unit (package __init__ included)."""
    modules: dict[str, Path] = {}
    for unit in units.values():
        files = [unit] if unit.is_file() else sorted(unit.rglob("*.py"))
        for path in files:
            parts = path.relative_to(root).with_suffix("").parts
            if any(p.startswith(".") or p == "__pycache__" for p in parts):
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: Mapping[str, Path]) -> str | None:
    """The longest prefix of a dotted name that is one of our modules."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def imports_of(
    module: str, path: Path, root: Path, modules: Mapping[str, Path]
) -> Iterator[Import]:
    """Every import in one file, wherever it stands, resolved to the module it loads."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = path.relative_to(root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".") if package else []
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from a import b` loads the module a.b when there is one, else names in a.
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        text = ast.unparse(node)
        for name in dict.fromkeys(names):
            ours = _resolve(name, modules)
            yield Import(rel, node.lineno, text, ours or name, ours is not None)


def _top(module: str) -> str:
    return module.split(".")[0]


def _circles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


@dataclass(frozen=True)
class Problem:
    """One broken rule: which rule (see RULES) and a message naming the file and the import."""

    rule: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"


#: The rules check_architecture applies, by the name its problems carry.
RULES = {
    "placed": "every top-level package and module has a rank, and every rank a package",
    "down": "an import into another package points to a strictly lower rank",
    "only": "the kernel imports no domain, the phone network only config (LAYERS.only)",
    "frameworks": "Flask, Werkzeug, click and RQ are imported only in the application layer",
    "circle": "no import circle between modules, inside a package or across",
}


def check_architecture(root: Path, layers: Layers = LAYERS) -> list[Problem]:
    """Every broken layer rule in the tree under `root`, one problem each (none when clean)."""
    problems: list[Problem] = []

    def flag(rule: str, message: str) -> None:
        problems.append(Problem(rule, message))

    ranks = layers.ranks
    units = top_level_units(root)
    for name, path in units.items():
        if name not in ranks:
            kind = "package" if path.is_dir() else "module"
            flag(
                "placed",
                f"{path.relative_to(root)}: top-level {kind} {name!r} has no rank in the layer "
                "table: place it in LAYERS.ranks (tests/architecture.py)",
            )
    for name in ranks.keys() - units.keys():
        flag("placed", f"the layer table ranks {name!r}, which is not here")
    modules = modules_of(root, units)
    for name in layers.web_modules.keys() - modules.keys():
        flag("frameworks", f"the layer table lets {name!r} import a framework; it is not here")

    graph: dict[str, set[str]] = {m: set() for m in modules}
    edges: dict[tuple[str, str], list[Import]] = {}
    for module, path in modules.items():
        mine = _top(module)
        rank = ranks.get(mine)  # None: unplaced, reported above; its circles still count
        for imp in imports_of(module, path, root, modules):
            theirs = _top(imp.target)
            if not imp.ours:
                exempt = layers.web_modules.get(module, frozenset())
                below = rank is not None and rank < layers.application
                if below and theirs in layers.frameworks - exempt:
                    flag(
                        "frameworks",
                        f"{imp.where()}: {theirs} belongs to the application layer "
                        f"(rank {layers.application} and up), not to {mine} (rank {rank})",
                    )
                continue
            if imp.target != module:
                graph[module].add(imp.target)
                edges.setdefault((module, imp.target), []).append(imp)
            if rank is None or theirs == mine or theirs not in ranks:
                continue
            if ranks[theirs] >= rank:
                flag(
                    "down",
                    f"{imp.where()}: {mine} (rank {rank}) imports {theirs} "
                    f"(rank {ranks[theirs]}): an import may only point to a lower rank",
                )
            allowed = layers.only.get(mine)
            if allowed is not None and theirs not in allowed:
                flag(
                    "only",
                    f"{imp.where()}: {mine} may import "
                    + (f"only {', '.join(sorted(allowed))}" if allowed else "nothing")
                    + f" of ours, not {theirs}",
                )

    for circle in _circles(graph):
        members = set(circle)
        links = dict.fromkeys(
            imp.where()
            for (source, target), imps in sorted(edges.items())
            if source in members and target in members
            for imp in imps
        )
        flag(
            "circle",
            f"import circle among {', '.join(circle)}; its imports:\n    " + "\n    ".join(links),
        )
    return problems
