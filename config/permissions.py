"""Who may read or do what: the posts and the permission table, as TOML data.

`config/permissions.toml` names every post (the three rotating agent posts, the fixed staff
posts and the departments) and every permission, and for each permission the posts that hold
it with a scope: `all`, or `team` (only what concerns the holder's own team). It is the only
source of truth: the web layer's guard (`callcenter/access.py`) asks `Permissions.scope`, the
desk's links and the masking rule read it, and the route × post test compares every route of
the app with it. `load_permissions` refuses every problem with file, line and reason.
"""

from __future__ import annotations

import enum
import re
import tomllib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.sourcemap import SourceMap

ROOT = Path(__file__).resolve().parent
DEFAULT_PERMISSIONS = ROOT / "permissions.toml"
PERMISSION_NAME = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")
POST_NAME = re.compile(r"^[a-z][a-z0-9_]{0,23}$")


class Scope(enum.StrEnum):
    """How far a grant reaches: everything, or only what concerns the holder's own team."""

    ALL = "all"
    TEAM = "team"


class PermissionsError(ValueError):
    """A permission file that cannot be used; `problems` lists each as 'file:line: reason'."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid permission file:\n  " + "\n  ".join(problems))


@dataclass(frozen=True, slots=True)
class PostDef:
    """A post: its label, and whether agents rotate through it (one at a time, at the desk)."""

    name: str
    label: str
    rotating: bool


@dataclass(frozen=True, slots=True)
class Permission:
    name: str
    help: str
    grants: Mapping[str, Scope]  # post -> scope


@dataclass(frozen=True, slots=True)
class Permissions:
    """The loaded table. Pure: no database, no request."""

    posts: Mapping[str, PostDef]
    permissions: Mapping[str, Permission]

    def scope(self, permission: str, held: Iterable[str]) -> Scope | None:
        """The widest scope any of the `held` posts has for `permission`, or None (refused).

        An unknown permission raises KeyError: code names only permissions of the table."""
        grants = self.permissions[permission].grants
        scopes = {grants[post] for post in held if post in grants}
        if Scope.ALL in scopes:
            return Scope.ALL
        return Scope.TEAM if scopes else None

    def allows(self, permission: str, held: Iterable[str]) -> bool:
        return self.scope(permission, held) is not None

    def holders(self, permission: str) -> frozenset[str]:
        return frozenset(self.permissions[permission].grants)


def load_permissions(path: Path, *, known_posts: Collection[str] | None = None) -> Permissions:
    """Read and validate the permission file; raise PermissionsError listing every problem.

    `known_posts`, when given, are the posts the code knows (the database's enums): the file
    must name exactly these. Pure apart from reading the file."""
    path = Path(path)
    text = path.read_bytes().decode("utf-8", errors="replace")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise PermissionsError([f"{path}:{m.group(1) if m else 1}: {reason}"]) from None
    lines = SourceMap(text)
    problems: list[str] = []

    def refuse(key: tuple[str, ...], reason: str) -> None:
        problems.append(f"{path}:{lines.line(*key)}: {reason}")

    for key in sorted(set(data) - {"post", "permission"}):
        refuse((key,), f"unknown key {key!r} (expected [post.<name>] or [permission.<name>])")
    posts = _posts(data.get("post"), refuse)
    if known_posts is not None:
        for name in sorted(set(known_posts) - set(posts)):
            refuse(("post",), f"post {name!r} is missing: add [post.{name}]")
        for name in sorted(set(posts) - set(known_posts)):
            refuse(
                ("post", name), f"unknown post {name!r} (known: {', '.join(sorted(known_posts))})"
            )
    permissions = _permissions(data.get("permission"), posts, refuse)
    if problems:
        raise PermissionsError(problems)
    return Permissions(posts=posts, permissions=permissions)


def _posts(raw: Any, refuse: Any) -> dict[str, PostDef]:
    if not isinstance(raw, dict) or not raw:
        refuse(("post",), "no posts: add [post.<name>] tables")
        return {}
    posts: dict[str, PostDef] = {}
    for name, table in raw.items():
        if not POST_NAME.match(name):
            refuse(("post", name), f"post name {name!r}: lower case letters, digits and _")
            continue
        if not isinstance(table, dict):
            refuse(("post", name), f"[post.{name}] must be a table")
            continue
        for key in sorted(set(table) - {"label", "rotating"}):
            refuse(("post", name, key), f"unknown key {key!r} in [post.{name}]")
        label, rotating = table.get("label"), table.get("rotating", False)
        if not isinstance(label, str) or not label.strip():
            refuse(("post", name), f"[post.{name}] needs a label")
            continue
        if not isinstance(rotating, bool):
            refuse(("post", name, "rotating"), "rotating must be true or false")
            continue
        posts[name] = PostDef(name, label, rotating)
    return posts


def _permissions(raw: Any, posts: Mapping[str, PostDef], refuse: Any) -> dict[str, Permission]:
    if not isinstance(raw, dict) or not raw:
        refuse(("permission",), 'no permissions: add [permission."<name>"] tables')
        return {}
    found: dict[str, Permission] = {}
    for name, table in raw.items():
        key = ("permission", name)
        if not PERMISSION_NAME.match(name) or not isinstance(table, dict):
            refuse(
                key,
                f'permission {name!r}: a quoted dotted name such as [permission."reports.read"]',
            )
            continue
        help_text = table.get("help")
        if not isinstance(help_text, str) or not help_text.strip():
            refuse(key, f'[permission."{name}"] needs a help text (what it allows)')
        grants: dict[str, Scope] = {}
        for post, scope in table.items():
            if post == "help":
                continue
            if post not in posts:
                refuse((*key, post), f'unknown post {post!r} in [permission."{name}"]')
            elif scope not in {s.value for s in Scope}:
                refuse((*key, post), f"scope {scope!r} for {post}: expected 'all' or 'team'")
            else:
                grants[post] = Scope(scope)
        found[name] = Permission(name, str(help_text or ""), grants)
    return found
