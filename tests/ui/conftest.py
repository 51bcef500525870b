"""Real Chromium (Debian's package, through Playwright) against a real gateway.

Playwright downloads no browser here: it drives ``/usr/bin/chromium``
(``CCBRIDGE_TEST_CHROMIUM`` overrides the path). Without one the UI tests
fail under ``CI=true`` and are skipped otherwise, like the PostgreSQL tests.
The gateway is the proxy tests' one, on SQLite; tests marked ``both_engines``
(sign-in, every page loading, a channel made in the UI serving a request) run
on PostgreSQL too. Every page records console errors and uncaught
exceptions; a test fails if any were logged.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final, NoReturn

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from tests.proxy.conftest import (  # noqa: F401  (fixtures shared with the proxy tests)
    MASTER_KEY,
    Running,
    _databases,
    _reaper,
    gateway,
    upstreams,
)
from tests.proxy.conftest import pytest_configure as _proxy_configure

CHROMIUM: Final = os.environ.get("CCBRIDGE_TEST_CHROMIUM", "/usr/bin/chromium")
OUTPUT: Final = Path(__file__).parent / "output"  # screenshots; in .gitignore
VIEWPORT: Final = {"width": 1280, "height": 860}


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"Chromium is required in CI: {reason}", pytrace=False)
    pytest.skip(f"no Chromium: {reason}")


ENGINES: Final = ("sqlite", "postgres")
_shot_dirs: dict[int, Path] = {}  # id(page) → its screenshot folder


def pytest_configure(config: pytest.Config) -> None:
    _proxy_configure(config)
    config.addinivalue_line("markers", "both_engines: run this UI test on SQLite and PostgreSQL")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run the ``both_engines`` tests on each engine (overrides the fixture below)."""
    if "engine" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_engines"):
        metafunc.parametrize("engine", ENGINES)


@pytest.fixture
def engine() -> str:
    """Most UI tests run on SQLite only: the API they drive is tested on both engines."""
    return "sqlite"


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One Chromium for the session."""
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"{CHROMIUM} not found (apt-get install chromium)")
    async with async_playwright() as pw:
        # NOTE(ui): --no-sandbox because tests and CI run as root.
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        await browser.close()


class Console:
    """Console errors and page exceptions seen by a page."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self._expected: list[tuple[int, str]] = []

    def expect_status(self, status: int, path: str) -> None:
        """Allow Chromium's network error line for an answer the test provokes."""
        self._expected.append((status, path))

    def on_console(self, msg: ConsoleMessage) -> None:
        if msg.type not in ("error", "warning"):
            return
        url = msg.location.get("url", "")
        for status, path in self._expected:
            if f"status of {status} " in msg.text and url.split("?")[0].endswith(path):
                return
        self.errors.append(f"{msg.type}: {msg.text} ({url})")

    def on_error(self, ex: Any) -> None:
        self.errors.append(f"uncaught: {ex}")


@pytest.fixture
async def console() -> Console:
    """The console record of the test's page."""
    return Console()


@pytest.fixture
async def page(
    browser: Browser,
    console: Console,
    engine: str,
    gateway: Running,  # noqa: F811  (set up first so the page closes before it stops)
) -> AsyncIterator[Page]:
    """A fresh browser context and page; fails the test on console errors.

    The page's open streams (the live log tail) close with it, before the
    gateway shuts down and would otherwise wait for them.
    """
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    page.on("console", console.on_console)
    page.on("pageerror", console.on_error)
    page.set_default_timeout(10_000)
    _shot_dirs[id(page)] = OUTPUT if engine == "sqlite" else OUTPUT / engine
    yield page
    _shot_dirs.pop(id(page), None)
    await context.close()
    assert console.errors == [], "console errors:\n" + "\n".join(console.errors)


async def sign_in(page: Page, running: Running, key: str = MASTER_KEY) -> None:
    """Open the UI and sign in; wait for the dashboard."""
    await page.goto(running.url + "/")
    await page.get_by_label("Admin key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("heading", name="Dashboard").wait_for()


async def shot(page: Page, name: str) -> None:
    """Save a full-page screenshot to tests/ui/output/[ENGINE/]NAME.png (SQLite: no folder)."""
    folder = _shot_dirs.get(id(page), OUTPUT)
    folder.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
