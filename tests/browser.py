"""Headless Chromium for the page tests: the system's chromium driven by playwright.

Tests that use it set `pytestmark = BROWSER_MARKS`: they are slow, marked `browser`, and skipped
with the reason when chromium or the `playwright` package (the dev extra) is missing, unless
CALLCENTER_REQUIRE_BROWSER=1 (as CI sets it): then a missing browser fails them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None  # type: ignore[assignment]

__all__ = ["BROWSER_MARKS", "Page", "chromium_page", "expect", "screenshots"]

REQUIRED = os.environ.get("CALLCENTER_REQUIRE_BROWSER") == "1"
MISSING = (
    "no chromium on PATH (apt-get install chromium)"
    if CHROMIUM is None
    else "playwright is not installed (dev extra)"
    if sync_playwright is None
    else None
)

BROWSER_MARKS = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(MISSING is not None and not REQUIRED, reason=MISSING or ""),
]


@contextmanager
def chromium_page(width: int, height: int) -> Iterator[Page]:
    """A fresh page of a headless system chromium (zh-CN), closed afterwards."""
    if MISSING is not None:
        pytest.fail(f"CALLCENTER_REQUIRE_BROWSER=1, but {MISSING}")
    assert sync_playwright is not None and CHROMIUM is not None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def screenshots(tmp_path: Path) -> Callable[[Page, str], None]:
    """Saves a full-page screenshot by name to $CALLCENTER_SCREENSHOTS (default: tmp_path)."""
    folder = Path(os.environ.get("CALLCENTER_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)

    return shot
