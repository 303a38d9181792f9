"""A revalidated page keeps running its nonced scripts in a real browser.

A page served with an ``ETag`` and ``Cache-Control: no-cache`` is stored by the browser
and revalidated on every reload: the browser sends ``If-None-Match`` and, when the page
has not changed, the server answers ``304 Not Modified`` without a body. The browser then
shows the stored body with the stored headers *updated from the 304* (RFC 9111 section
4.3.4). The stored body holds the nonce of the first response; were the 304 to carry a
Content-Security-Policy with a fresh nonce, Chromium would replace the stored policy and
block every script of the page it shows.
"""

from __future__ import annotations

import threading
import typing as t
from collections.abc import Iterable, Iterator

import pytest
from flask import Flask, make_response, render_template_string, request

from flask_bastion import Bastion

from ..conftest import SECRET
from .conftest import Server

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from playwright.sync_api import BrowserContext, ConsoleMessage

pytestmark = pytest.mark.slow

PAGE = """<!doctype html><title>revalidated</title>
<p id="out">script did not run</p>
<script nonce="{{ csp_nonce() }}">
  window.ran = true;
  document.getElementById("out").textContent = "script ran";
</script>"""

#: The page's version: the ETag stays the same while the page's content does, although
#: every response carries another nonce.
VERSION = "v1"


class StatusLog:
    """WSGI wrapper recording the status and CSP of every response to ``/page``."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self.lock = threading.Lock()
        #: (status code, Content-Security-Policy or None, If-None-Match or None)
        self.seen: list[tuple[int, str | None, str | None]] = []

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def recording(status: str, headers: list[tuple[str, str]], exc_info: t.Any = None) -> t.Any:
            if environ.get("PATH_INFO") == "/page":
                policy = next(
                    (v for k, v in headers if k.lower() == "content-security-policy"), None
                )
                with self.lock:
                    self.seen.append((int(status[:3]), policy, environ.get("HTTP_IF_NONE_MATCH")))
            return start_response(status, headers, exc_info)

        return self.app(environ, recording)


def revalidating_app() -> Flask:
    app = Flask(__name__)
    # The development profile serves http://127.0.0.1 without the HTTPS redirect; the CSP
    # and its nonce are the same under every profile.
    app.config.update(SECRET_KEY=SECRET, BASTION_SESSIONS_STORE="memory")

    @app.get("/page")
    def page() -> t.Any:
        response = make_response(render_template_string(PAGE))
        response.set_etag(VERSION)
        response.headers["Cache-Control"] = "no-cache"  # stored, but revalidated each time
        return response.make_conditional(request)

    Bastion(app, profile="development")
    return app


@pytest.fixture
def served() -> Iterator[tuple[str, StatusLog]]:
    log = StatusLog(revalidating_app())
    with Server(log) as server:
        yield f"http://127.0.0.1:{server.port}/page", log


def test_reloaded_page_runs_its_nonced_script(
    context: BrowserContext, served: tuple[str, StatusLog]
) -> None:
    """After a reload answered with 304, the cached page's nonced script still runs: the
    304 carried no CSP, so the browser kept the policy whose nonce the body holds."""
    url, log = served
    page = context.new_page()
    refused: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused.append(message.text)

    page.on("console", on_console)
    page.goto(url)
    assert page.evaluate("window.ran === true")
    first = log.seen[-1]
    assert first[0] == 200 and first[1] is not None and "'nonce-" in first[1]

    page.evaluate("window.ran = false")
    page.reload()
    assert page.text_content("#out") == "script ran"
    assert page.evaluate("window.ran === true")

    # The reload really was a revalidation answered with 304, not a fresh 200.
    statuses = [(status, bool(policy), etag) for status, policy, etag in log.seen]
    assert statuses[-1] == (304, False, f'"{VERSION}"'), statuses
    assert refused == []
