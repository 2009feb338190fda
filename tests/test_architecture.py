"""Architecture rules (the layer table of tests/architecture.py), and migrations match the models.

The rules run on the repository, one test per rule, and each is shown to fail on a small tree
built in tmp_path that breaks it.
"""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.db import Base
from tests.architecture import (
    LAYERS,
    RULES,
    Layers,
    Problem,
    check_architecture,
    top_level_units,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def repository_problems() -> list[Problem]:
    return check_architecture(ROOT)


@pytest.mark.parametrize("rule", RULES)
def test_the_repository_keeps_the_rule(rule: str, repository_problems: list[Problem]) -> None:
    broken = [str(p) for p in repository_problems if p.rule == rule]
    assert broken == [], f"{RULES[rule]}:\n" + "\n".join(broken)


def test_the_walk_finds_every_top_level_package_and_module_and_the_table_ranks_them() -> None:
    units = top_level_units(ROOT)
    assert {"callcenter", "core", "phone_network", "benchmarks", "tests", "wsgi"} <= set(units)
    assert units["wsgi"] == ROOT / "wsgi.py"
    assert set(units) == set(LAYERS.ranks)


def test_no_benchmark_script_is_named_like_a_package() -> None:
    """`python benchmarks/X.py` puts benchmarks/ first on the path: a script named like one of
    our packages would be imported in its place (benchmarks/outbound.py once hid outbound/)."""
    scripts = {p.stem for p in (ROOT / "benchmarks").glob("*.py")}
    assert scripts & set(LAYERS.ranks) == set()


def test_mypy_holds_every_package_below_the_application_layer_to_strict() -> None:
    """The kernel and every domain package are type-checked by `make lint`: one added to the
    table is added to mypy's list too, or this fails."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    below = {p for p, r in LAYERS.ranks.items() if r < LAYERS.application}
    assert config["strict"] is True
    assert set(config["files"]) == below


def test_the_table_puts_the_kernel_and_the_network_below_every_domain() -> None:
    ranks = LAYERS.ranks
    below = max(ranks["config"], ranks["core"], ranks["phone_network"])
    domains = {p for p, r in ranks.items() if below < r < LAYERS.application}
    assert domains >= {
        "queues",
        "recordings",
        "ivr_menus",
        "outbound",
        "queue_callbacks",
        "middle_office",
        "qc",
        "reports",
    }
    assert ranks["callcenter"] == LAYERS.application
    assert LAYERS.only == {"config": set(), "core": {"config"}, "phone_network": {"config"}}


# The tests of the test: small trees that break one rule each.


def build(root: Path, files: dict[str, str]) -> Path:
    """Write `files` under root, with an __init__.py in every folder that holds a .py file."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        for folder in path.relative_to(root).parents:
            if folder != Path(".") and path.suffix == ".py":
                (root / folder / "__init__.py").touch()
    return root


def layers(**ranks: int) -> Layers:
    return replace(LAYERS, ranks=ranks, only={}, web_modules={})


def found(problems: list[Problem], rule: str) -> list[str]:
    return [p.message for p in problems if p.rule == rule]


def test_a_clean_tree_has_no_problem(tmp_path: Path) -> None:
    build(
        tmp_path,
        {
            "config/settings.py": "X = 1\n",
            "core/db.py": "from config.settings import X\n",
            "queues/routing.py": "from core import db\nfrom . import models\n",
            "queues/models.py": "from core.db import X\n",
            "app/views.py": "import flask\nfrom queues.routing import db\n",
            "wsgi.py": "from app.views import flask\n",
        },
    )
    assert check_architecture(tmp_path, layers(config=0, core=1, queues=2, app=9, wsgi=10)) == []


def test_a_package_missing_from_the_table_is_reported(tmp_path: Path) -> None:
    build(tmp_path, {"core/db.py": "", "staffing/rota.py": "", "manage.py": "", "docs/x.md": ""})
    problems = check_architecture(tmp_path, layers(core=1, reports=5))
    assert sorted(found(problems, "placed")) == [
        "manage.py: top-level module 'manage' has no rank in the layer table: "
        "place it in LAYERS.ranks (tests/architecture.py)",
        "staffing: top-level package 'staffing' has no rank in the layer table: "
        "place it in LAYERS.ranks (tests/architecture.py)",
        "the layer table ranks 'reports', which is not here",
    ]


def test_an_import_back_up_is_reported_with_its_file_and_line(tmp_path: Path) -> None:
    build(
        tmp_path,
        {
            "core/calls.py": "import os\n\n\ndef f():\n    from queues.models import Agent\n",
            "queues/models.py": "Agent = 1\n",
        },
    )
    problems = check_architecture(tmp_path, layers(core=1, queues=2))
    assert found(problems, "down") == [
        "core/calls.py:5: `from queues.models import Agent`: core (rank 1) imports queues "
        "(rank 2): an import may only point to a lower rank"
    ]


def test_an_import_between_packages_of_one_rank_is_reported(tmp_path: Path) -> None:
    build(
        tmp_path,
        {
            "recordings/jobs.py": "import typing\n"
            "if typing.TYPE_CHECKING:\n    import ivr_menus.x\n",
            "ivr_menus/x.py": "",
        },
    )
    problems = check_architecture(tmp_path, layers(recordings=3, ivr_menus=3))
    assert found(problems, "down") == [
        "recordings/jobs.py:3: `import ivr_menus.x`: recordings (rank 3) imports ivr_menus "
        "(rank 3): an import may only point to a lower rank"
    ]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("from pkg.b import f\n", "from pkg.a import g\n"),  # module level
        ("from pkg import b\n", "def g():\n    from . import a\n"),  # inside a function
        (
            "from pkg.b import f\n",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import g\n",
        ),
    ],
    ids=["module-level", "in-function", "type-checking"],
)
def test_a_circle_inside_a_package_is_reported(tmp_path: Path, a: str, b: str) -> None:
    build(tmp_path, {"pkg/a.py": a, "pkg/b.py": b, "pkg/c.py": "from pkg import a\n"})
    problems = check_architecture(tmp_path, layers(pkg=2))
    [circle] = found(problems, "circle")
    assert circle.startswith("import circle among pkg.a, pkg.b; its imports:")
    assert "pkg/a.py:1: `" in circle and "pkg/b.py:" in circle and "pkg/c.py" not in circle


def test_a_circle_through_three_packages_is_reported_as_a_circle(tmp_path: Path) -> None:
    build(
        tmp_path,
        {
            "low/x.py": "import top.z\n",
            "mid/y.py": "from low.x import f\n",
            "top/z.py": "from mid import y\n",
        },
    )
    problems = check_architecture(tmp_path, layers(low=1, mid=2, top=3))
    assert found(problems, "circle") == [
        "import circle among low.x, mid.y, top.z; its imports:\n"
        "    low/x.py:1: `import top.z`\n"
        "    mid/y.py:1: `from low.x import f`\n"
        "    top/z.py:1: `from mid import y`"
    ]
    assert found(problems, "down") == [
        "low/x.py:1: `import top.z`: low (rank 1) imports top (rank 3): "
        "an import may only point to a lower rank"
    ]


@pytest.mark.parametrize(
    "statement",
    [
        "from flask import Blueprint",
        "import werkzeug.exceptions",
        "import click",
        "from rq import Queue",
    ],
)
def test_a_framework_imported_outside_the_application_layer_is_reported(
    tmp_path: Path, statement: str
) -> None:
    build(
        tmp_path,
        {
            "queues/jobs.py": f"def enqueue():\n    {statement}\n",
            "app/cli.py": f"{statement}\n",
            "wsgi.py": f"{statement}\n",
        },
    )
    problems = check_architecture(tmp_path, layers(queues=2, app=9, wsgi=10))
    framework = statement.split()[1].split(".")[0]
    assert found(problems, "frameworks") == [
        f"queues/jobs.py:2: `{statement}`: {framework} belongs to the application layer "
        "(rank 9 and up), not to queues (rank 2)"
    ]


def test_a_named_web_module_may_use_only_the_frameworks_it_is_granted(tmp_path: Path) -> None:
    build(
        tmp_path,
        {
            "net/server.py": "import flask\nimport rq\n",
            "net/calls.py": "import flask\n",
        },
    )
    web_modules = {"net.server": frozenset({"flask"}), "net.gone": frozenset({"flask"})}
    granted = replace(layers(net=1), web_modules=web_modules)
    assert found(check_architecture(tmp_path, granted), "frameworks") == [
        "the layer table lets 'net.gone' import a framework; it is not here",
        "net/calls.py:1: `import flask`: flask belongs to the application layer "
        "(rank 9 and up), not to net (rank 1)",
        "net/server.py:2: `import rq`: rq belongs to the application layer "
        "(rank 9 and up), not to net (rank 1)",
    ]


@pytest.mark.parametrize(
    ("package", "statement", "expected"),
    [
        ("phone_network", "from core.calls import x", "only config of ours, not core"),
        ("core", "from reports import kpis", "only config of ours, not reports"),
        ("config", "import core.calls", "nothing of ours, not core"),
    ],
)
def test_the_kernel_imports_no_domain_and_the_network_only_config(
    tmp_path: Path, package: str, statement: str, expected: str
) -> None:
    files = {"config/settings.py": "", "core/calls.py": "", "reports/kpis.py": ""}
    build(tmp_path, {**files, "phone_network/network.py": "", f"{package}/mod.py": statement})
    # The importer ranked above the rest, so that the import points down: only the list of
    # what it may import catches it.
    ranks = dict.fromkeys(["config", "core", "reports", "phone_network"], 0) | {package: 5}
    problems = check_architecture(tmp_path, replace(layers(**ranks), only=LAYERS.only))
    assert found(problems, "down") == []
    assert found(problems, "only") == [
        f"{package}/mod.py:1: `{statement}`: {package} may import {expected}"
    ]


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_migration_config_keeps_a_url_with_percent_signs() -> None:
    from callcenter.migrate import alembic_config
    from core.db import make_engine

    url = "postgresql+psycopg://cc:p%40ss@127.0.0.1:5432/cc?host=%2Fvar%2Frun"
    engine = make_engine(url)
    assert alembic_config(engine).get_main_option("sqlalchemy.url") == engine.url.render_as_string(
        hide_password=False
    )


def test_sqlite_writers_take_turns_and_a_lost_connection_frees_the_lock(tmp_path: Path) -> None:
    import threading

    from sqlalchemy import text

    from core.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))

    def add() -> None:
        for _ in range(20):
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (1)"))

    threads = [threading.Thread(target=add) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    conn = engine.connect()
    conn.execute(text("SELECT 1"))  # begins a transaction: holds the lock
    conn.invalidate()  # lost mid-transaction
    with engine.begin() as other:  # would wait 30 s if the lock had leaked
        assert other.scalar(text("SELECT count(*) FROM t")) == 80
    engine.dispose()


def test_insert_ignoring_conflict_tells_an_insert_from_a_skipped_duplicate(
    session: Session,
) -> None:
    from core.calls import log_event, upsert_call
    from tests.conftest import NOW, new_call_sid

    call, _ = upsert_call(
        session, new_call_sid(), direction="inbound", from_number="", to_number="", now=NOW
    )
    assert log_event(session, call, "x", now=NOW, dedupe_key="k")
    assert not log_event(session, call, "x", now=NOW, dedupe_key="k")  # on both databases
