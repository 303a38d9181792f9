"""The default CSP and Subresource Integrity in a real browser, on Vault's pages.

Vault runs with every Flask-Bastion default (the development profile only allows plain
HTTP on loopback), so its pages carry the default ``default-src 'none'`` policy and
``sri()`` digests on the script and stylesheet. A second server stands for a CDN or
caching proxy in front of Vault that has been tampered with: it passes every request
through to the same application, except that it answers ``/static/vault.js`` and
``/static/vault.css`` with altered copies. Each page records the CSP violations it
raises, from the ``securitypolicyviolation`` event, in ``window.violations``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import typing as t
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.wrappers import Response

from vault import create_app

from .conftest import Server

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from playwright.sync_api import BrowserContext, ConsoleMessage, Page

pytestmark = pytest.mark.slow

RECORD_VIOLATIONS = """
window.violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.violations.push(event.effectiveDirective + " " + event.blockedURI);
});
"""

#: The altered copies: each would visibly take effect if the browser ran or applied it.
TAMPERED = {
    "/static/vault.js": (
        'document.documentElement.classList.replace("no-js", "js"); window.tampered = true;\n',
        "text/javascript",
    ),
    "/static/vault.css": ("body { display: grid; }\n", "text/css"),
}


@dataclass
class Sites:
    vault: str
    #: The same application behind the tampering proxy.
    tampered: str
    app: Flask


def tampering_proxy(app: WSGIApplication) -> WSGIApplication:
    """``app``, with the files in :data:`TAMPERED` answered by their altered copies."""

    def proxy(environ: WSGIEnvironment, start_response: StartResponse) -> t.Iterable[bytes]:
        altered = TAMPERED.get(environ["PATH_INFO"])
        if altered is None:
            return app(environ, start_response)
        body, mimetype = altered
        return Response(body, mimetype=mimetype)(environ, start_response)

    return proxy


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    folder: Path = tmp_path_factory.mktemp("vault")
    app = create_app(
        {
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": f"sqlite:///{folder / 'vault.sqlite3'}",
            "BASTION_PROFILE": "development",
        }
    )
    with Server(app) as vault, Server(tampering_proxy(app)) as tampered:
        yield Sites(f"http://localhost:{vault.port}", f"http://localhost:{tampered.port}", app)


@dataclass
class Tab:
    page: Page
    #: Text of every console error.
    errors: list[str]

    def violations(self) -> list[str]:
        return t.cast(list[str], self.page.evaluate("window.violations"))

    def html_class(self) -> str | None:
        return self.page.get_attribute("html", "class")

    def body_display(self) -> str:
        return t.cast(str, self.page.evaluate("getComputedStyle(document.body).display"))


@pytest.fixture
def tab(context: BrowserContext) -> Tab:
    """A page that records CSP violations and console errors."""
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    return Tab(page, errors)


def file_integrity(app: Flask, name: str) -> str:
    assert app.static_folder is not None
    digest = hashlib.sha384((Path(app.static_folder) / name).read_bytes()).digest()
    return "sha384-" + base64.b64encode(digest).decode()


def test_vault_page_carries_the_digests_of_its_files(tab: Tab, sites: Sites) -> None:
    """Vault's script and stylesheet tags carry the SHA-384 digests of the files."""
    tab.page.goto(f"{sites.vault}/")
    script = tab.page.get_attribute("script[src$='/static/vault.js']", "integrity")
    style = tab.page.get_attribute("link[rel=stylesheet]", "integrity")
    assert script == file_integrity(sites.app, "vault.js")
    assert style == file_integrity(sites.app, "vault.css")


@pytest.mark.parametrize("path", ["/", "/preferences"], ids=["home", "preferences"])
def test_vault_script_and_style_load_under_the_default_policy(
    tab: Tab, sites: Sites, path: str
) -> None:
    """With the default CSP and SRI, Vault's script runs and its stylesheet applies,
    with no CSP violation and no console error."""
    tab.page.goto(f"{sites.vault}{path}")
    tab.page.wait_for_function("document.documentElement.classList.contains('js')")
    assert tab.body_display() == "flex"  # vault.css: body { display: flex }
    assert tab.violations() == []
    assert tab.errors == []


def test_default_policy_refuses_what_it_does_not_name(tab: Tab, sites: Sites) -> None:
    """default-src 'none' is enforced: a frame, which no directive allows, is refused."""
    tab.page.goto(f"{sites.vault}/")
    tab.page.evaluate(
        "document.body.append(Object.assign(document.createElement('iframe'), {src: '/'}))"
    )
    tab.page.wait_for_function("window.violations.length > 0")
    assert tab.violations() == [f"frame-src {sites.vault}/"]


def test_tampered_script_is_blocked(tab: Tab, sites: Sites) -> None:
    """An altered vault.js, served with the right nonce, does not run: its digest is wrong."""
    with tab.page.expect_console_message(lambda m: "vault.js" in m.text):
        tab.page.goto(f"{sites.tampered}/")
    assert tab.page.evaluate("window.tampered") is None
    assert tab.html_class() == "no-js"
    assert any("integrity" in e and "/static/vault.js" in e for e in tab.errors)
    assert tab.violations() == []  # the CSP allowed it; SRI blocked it


def test_tampered_stylesheet_is_blocked(tab: Tab, sites: Sites) -> None:
    """An altered vault.css is not applied: its digest is wrong."""
    with tab.page.expect_console_message(lambda m: "vault.css" in m.text):
        tab.page.goto(f"{sites.tampered}/")
    assert tab.body_display() == "block"  # neither the altered "grid" nor vault.css's "flex"
    assert any("integrity" in e and "/static/vault.css" in e for e in tab.errors)
    assert tab.violations() == []
