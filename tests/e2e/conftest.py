"""Real-browser fixtures: Debian's Chromium driven by Playwright, and threaded WSGI servers.

The browser is never downloaded: Playwright starts ``/usr/bin/chromium`` (``make test``
installs Debian's package when it is missing). Without it the tests skip, or fail under
``BASTION_REQUIRE_SERVICES=1`` (CI) so a missing browser never passes silently.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import typing as t
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest
from werkzeug.serving import BaseWSGIServer, make_server

if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication
    from playwright.sync_api import Browser, BrowserContext

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Upper bound for any single browser wait, in milliseconds.
TIMEOUT_MS = 15_000


def unavailable(message: str) -> t.NoReturn:
    """Skip the test, or fail it when ``BASTION_REQUIRE_SERVICES=1``."""
    if os.environ.get("BASTION_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} but BASTION_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)


class Server:
    """A threaded werkzeug server for ``app`` on a free loopback port."""

    def __init__(self, app: WSGIApplication, host: str = "127.0.0.1") -> None:
        self.server: BaseWSGIServer = make_server(host, 0, app, threaded=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()
        _collect_abandoned_files()


def _collect_abandoned_files() -> None:
    """Finalise now the files of responses Chromium abandoned (see below), swallowing only
    their ResourceWarning, so it cannot surface later in an unrelated test."""
    previous = sys.unraisablehook

    def hook(unraisable: t.Any) -> None:
        if not repr(unraisable.object).startswith("<_io.FileIO"):
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        gc.collect()
    finally:
        sys.unraisablehook = previous


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium with a fresh temporary profile, shared by the browser
    tests and closed after them: Playwright's sync API keeps its event loop registered as
    running in the main thread while it is open, and Flask cannot run an ``async def``
    view (asgiref's AsyncToSync) in a thread with a running loop."""
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium, or run `make test` as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser context (no cookies) per test: one victim's browser."""
    new = browser.new_context()
    new.set_default_timeout(TIMEOUT_MS)
    try:
        yield new
    finally:
        new.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Chromium drops connections it no longer needs (a favicon download when the page
    closes); werkzeug's development server then leaves that response's open file to the
    garbage collector, which reports it as an unraisable ResourceWarning in whichever test
    runs next. It is the test server's, not the application's: ignore exactly that."""
    for item in items:
        if "/e2e/" in str(item.path):
            item.add_marker(
                pytest.mark.filterwarnings(
                    "ignore:Exception ignored in. <_io.FileIO"
                    ":pytest.PytestUnraisableExceptionWarning"
                )
            )
