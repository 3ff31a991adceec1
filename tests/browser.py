"""Headless Chromium for the browser tests: Debian's binary driven by Playwright (no download).

Screenshots of every page a test visits are written to $TEST_ARTIFACTS (default
var/test-artifacts/screens) so a person can look at them after a run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bed import REPO

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", REPO / "var" / "test-artifacts" / "screens"))
# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make between
# page actions are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


class Shooter:
    """Takes a numbered full-page screenshot of the page after each step of a test."""

    def __init__(self, page: object, test_name: str) -> None:
        self.page = page
        self.folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def __call__(self, label: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        return path


@pytest.fixture
def page(chromium: object, request: pytest.FixtureRequest) -> Iterator[object]:
    context = chromium.new_context(viewport={"width": 1280, "height": 860})  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.shoot = Shooter(page, request.node.name)
    yield page
    context.close()
