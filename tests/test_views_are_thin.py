"""Views stay thin: every view the app serves has at most 15 lines of body.

A view parses input, calls one service, renders; the orchestration lives in services that take
`now` and their collaborators. The count is the body's lines after the docstring (decorators,
signature and docstring do not count; blank and comment lines inside the body do).
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 15


def body_lines(fn: Callable[..., Any]) -> int:
    """The lines of `fn`'s body after its docstring."""
    source = textwrap.dedent(inspect.getsource(fn))
    node = next(
        n
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    )
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    if not body:
        return 0
    end = body[-1].end_lineno
    assert end is not None
    return end - body[0].lineno + 1


def _ours(fn: Callable[..., Any]) -> Callable[..., Any] | None:
    """The function behind a view, if this project wrote it (not Flask's static files)."""
    view_class = getattr(fn, "view_class", None)
    if view_class is not None:  # a class-based view: its dispatch_request is the body
        fn = view_class.dispatch_request
    fn = inspect.unwrap(fn)
    if not inspect.isfunction(fn):
        return None
    path = Path(inspect.getsourcefile(fn) or "").resolve()
    if not path.is_relative_to(ROOT) or {"site-packages", "dist-packages"} & set(path.parts):
        return None
    return fn


def too_long(app: Flask) -> list[str]:
    """Every view of `app` over MAX_LINES, named with its endpoint and its place."""
    found = []
    for endpoint, view in sorted(app.view_functions.items()):
        fn = _ours(view)
        if fn is None or (lines := body_lines(fn)) <= MAX_LINES:
            continue
        where = Path(inspect.getsourcefile(fn) or "").resolve().relative_to(ROOT)
        line = inspect.getsourcelines(fn)[1]
        found.append(f"{endpoint} ({fn.__qualname__}) at {where}:{line}: {lines} lines")
    return found


def test_every_view_has_at_most_15_lines(app: Flask) -> None:
    assert len([v for v in app.view_functions.values() if _ours(v)]) > 50  # all blueprints
    assert too_long(app) == []


# --- the check itself ---------------------------------------------------------------------


def _short(
    name: str = "a signature on lines of its own",
) -> str:
    """A docstring

    on three lines."""
    said = name.title()
    # a comment counts
    return said * 2


def _long() -> str:
    x = 0
    x += 1
    x += 2
    x += 3
    x += 4
    x += 5
    x += 6
    x += 7
    x += 8
    x += 9
    x += 10
    x += 11
    x += 12
    x += 13
    x += 14
    return str(x)


def test_the_count_leaves_out_signature_and_docstring() -> None:
    assert body_lines(_short) == 3
    assert body_lines(_long) == 16


def test_a_long_view_is_named_with_its_file_and_line() -> None:
    app = Flask(__name__)
    app.add_url_rule("/short", "short", _short)
    app.add_url_rule("/long", "long", _long)
    line = inspect.getsourcelines(_long)[1]
    assert too_long(app) == [f"long (_long) at tests/test_views_are_thin.py:{line}: 16 lines"]
