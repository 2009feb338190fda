"""Line numbers for TOML keys, which tomllib does not keep, so menu errors can name the line."""

from __future__ import annotations

import re

_KEY_PART = re.compile(r"""\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_\-]+)\s*""")
_INLINE_KEY = re.compile(r"""[{,]\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_\-]+)\s*=""")

Path_ = tuple[str, ...]


def _unquote(part: str) -> str:
    return part[1:-1] if part[:1] in "\"'" else part


def _dotted(text: str) -> tuple[Path_, int] | None:
    """Parse a dotted key at the start of `text`; return its parts and where it ended."""
    parts: list[str] = []
    pos = 0
    while True:
        m = _KEY_PART.match(text, pos)
        if not m:
            return None
        parts.append(_unquote(m.group(1)))
        pos = m.end()
        if pos < len(text) and text[pos] == ".":
            pos += 1
            continue
        return tuple(parts), pos


class SourceMap:
    """Maps key paths such as ('node', 'main', 'options', '1') to the line that defines them."""

    def __init__(self, text: str) -> None:
        self.lines: dict[Path_, int] = {}
        table: Path_ = ()
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("[") and not line.startswith("[["):
                parsed = _dotted(line[1:])
                if parsed:
                    table = parsed[0]
                    self.lines.setdefault(table, number)
                continue
            parsed = _dotted(line)
            if not parsed or parsed[1] >= len(line) or line[parsed[1]] != "=":
                continue
            path = table + parsed[0]
            for end in range(len(table) + 1, len(path) + 1):  # a.b.c = … also defines a.b
                self.lines.setdefault(path[:end], number)
            value = line[parsed[1] + 1 :]
            if value.lstrip().startswith("{"):
                for m in _INLINE_KEY.finditer(value):
                    self.lines.setdefault(path + (_unquote(m.group(1)),), number)

    def line(self, *path: str) -> int:
        """The line of the longest known prefix of `path` (1 if none is known)."""
        for end in range(len(path), 0, -1):
            found = self.lines.get(tuple(path[:end]))
            if found:
                return found
        return 1
