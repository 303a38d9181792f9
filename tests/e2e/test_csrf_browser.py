"""CSRF in a real browser: another site's form and fetch are rejected, Vault's own form works.

Vault runs on ``http://localhost:PORT`` and the attacker's pages on
``http://127.0.0.1:OTHER``, a different site. The victim's browser first opens Vault's
form, so it holds Vault's anonymous CSRF cookie (a form gives no session: the token is
bound to that cookie), then visits the attacker. What reached the server is counted
with Flask's ``request_started`` and Flask-Bastion's ``csrf_rejected`` signals.

Chromium also keeps the ``SameSite=Lax`` cookies off these cross-site posts, so an
unchanged theme alone would not prove much; the proof is on the server side: the forged
request arrived, said ``Sec-Fetch-Site: cross-site``, and was rejected before the view.
"""

from __future__ import annotations

import secrets
import typing as t
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask, request_started
from flask import request as flask_request
from werkzeug.wrappers import Request, Response

from flask_bastion import signals
from flask_bastion.csrf import REASON_CROSS_ORIGIN
from vault import create_app

from .conftest import Server

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment
    from playwright.sync_api import BrowserContext, Page

pytestmark = pytest.mark.slow

ATTACK_FORM = """<!doctype html><title>Win a prize</title>
<form id="f" method="post" action="{target}"><input name="theme" value="{theme}"></form>
<script>document.getElementById("f").submit();</script>"""

ATTACK_FETCH = """<!doctype html><title>Win a prize</title>
<script>
fetch("{target}", {{
  method: "POST",
  mode: "no-cors",
  credentials: "include",
  body: new URLSearchParams({{theme: "{theme}"}}),
}}).finally(() => {{ window.attackDone = true; }});
</script>"""


@dataclass
class Observed:
    """What Vault's server saw: POSTs that arrived and CSRF rejections."""

    #: (path, Sec-Fetch-Site) of each POST.
    posts: list[tuple[str, str | None]] = field(default_factory=list)
    rejections: list[str] = field(default_factory=list)


@dataclass
class Sites:
    vault: str
    attacker: str
    app: Flask
    observed: Observed


def attacker_app(target: str) -> t.Callable[[WSGIEnvironment, StartResponse], t.Iterable[bytes]]:
    """The attacker's site: pages that post ``?theme=`` (default dark) to ``target``."""
    pages = {"/form": ATTACK_FORM, "/fetch": ATTACK_FETCH}

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> t.Iterable[bytes]:
        req = Request(environ)
        theme = req.args.get("theme", "dark")
        if req.path not in pages or theme not in ("light", "dark"):
            return Response("not found", 404)(environ, start_response)
        html = pages[req.path].format(target=target, theme=theme)
        return Response(html, mimetype="text/html")(environ, start_response)

    return app


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, int, int]]:
    """Vault (development profile, plain HTTP on loopback) and the attacker's server."""
    folder: Path = tmp_path_factory.mktemp("vault")
    app = create_app(
        {
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": f"sqlite:///{folder / 'vault.sqlite3'}",
            "BASTION_PROFILE": "development",
        }
    )
    with Server(app) as vault:
        target = f"http://localhost:{vault.port}/preferences"
        with Server(attacker_app(target)) as attacker:
            yield app, vault.port, attacker.port


@pytest.fixture
def sites(servers: tuple[Flask, int, int]) -> Iterator[Sites]:
    app, vault_port, attacker_port = servers
    observed = Observed()

    def on_request(sender: Flask, **extra: t.Any) -> None:
        if flask_request.method == "POST":
            fetch_site = flask_request.headers.get("Sec-Fetch-Site")
            observed.posts.append((flask_request.path, fetch_site))

    def on_rejection(sender: Flask, reason: str, **extra: t.Any) -> None:
        observed.rejections.append(reason)

    with (
        request_started.connected_to(on_request, app),
        signals.csrf_rejected.connected_to(on_rejection, app),
    ):
        yield Sites(
            f"http://localhost:{vault_port}",
            f"http://127.0.0.1:{attacker_port}",
            app,
            observed,
        )


@pytest.fixture
def victim(context: BrowserContext, sites: Sites) -> Page:
    """A browser tab that has opened Vault's preferences, so it holds Vault's cookie."""
    page = context.new_page()
    page.goto(f"{sites.vault}/preferences")
    return page


def theme_of(page: Page, sites: Sites) -> str | None:
    """The theme Vault applies for this browser's session."""
    page.goto(f"{sites.vault}/preferences")
    return page.get_attribute("body", "class")


def test_vault_form_sets_only_the_anonymous_csrf_cookie(
    context: BrowserContext, victim: Page
) -> None:
    """Before the attack the victim's browser holds Vault's anonymous CSRF cookie, and no
    session: viewing a form stores nothing on the server."""
    cookies = context.cookies()
    assert [(c["name"], c["domain"], c["httpOnly"], c["sameSite"]) for c in cookies] == [
        ("csrf", "localhost", True, "Lax")
    ]


def test_same_origin_save_creates_the_session(victim: Page, sites: Sites) -> None:
    """Saving the form writes the session, so the browser then holds its cookie too."""
    victim.check("input[name=theme][value=dark]")
    victim.click("button[type=submit]")
    victim.wait_for_url(f"{sites.vault}/preferences?saved=1")
    names = sorted(c["name"] for c in victim.context.cookies())
    assert names == ["csrf", "session"]


def test_cross_site_form_post_is_rejected(victim: Page, sites: Sites) -> None:
    """An auto-submitting form on another site gets 403 and reaches no view."""
    target = f"{sites.vault}/preferences"
    with victim.expect_response(lambda r: r.url == target and r.request.method == "POST") as answer:
        victim.goto(f"{sites.attacker}/form")
    assert answer.value.status == 403
    assert sites.observed.posts == [("/preferences", "cross-site")]
    assert sites.observed.rejections == [REASON_CROSS_ORIGIN]


def test_cross_site_form_post_changes_nothing(victim: Page, sites: Sites) -> None:
    """After the forged form post, the victim's theme is unchanged."""
    target = f"{sites.vault}/preferences"
    with victim.expect_response(lambda r: r.url == target and r.request.method == "POST"):
        victim.goto(f"{sites.attacker}/form")
    assert theme_of(victim, sites) == "theme-light"


def test_cross_site_no_cors_fetch_is_rejected(victim: Page, sites: Sites) -> None:
    """A credentialed no-cors fetch from another site is rejected by the server."""
    victim.goto(f"{sites.attacker}/fetch")
    victim.wait_for_function("window.attackDone === true")
    assert sites.observed.posts == [("/preferences", "cross-site")]
    assert sites.observed.rejections == [REASON_CROSS_ORIGIN]
    assert theme_of(victim, sites) == "theme-light"


def test_same_origin_form_post_succeeds(victim: Page, sites: Sites) -> None:
    """Vault's own form, submitted from Vault's origin, changes the theme."""
    victim.check("input[name=theme][value=dark]")
    victim.click("button[type=submit]")
    victim.wait_for_url(f"{sites.vault}/preferences?saved=1")
    assert victim.get_attribute("body", "class") == "theme-dark"
    assert sites.observed.posts == [("/preferences", "same-origin")]
    assert sites.observed.rejections == []


def test_same_origin_change_survives_cross_site_attack(victim: Page, sites: Sites) -> None:
    """A forged post cannot undo or redo a choice: the saved theme stays as chosen."""
    victim.check("input[name=theme][value=dark]")
    victim.click("button[type=submit]")
    victim.wait_for_url(f"{sites.vault}/preferences?saved=1")
    victim.goto(f"{sites.attacker}/fetch?theme=light")
    victim.wait_for_function("window.attackDone === true")
    assert sites.observed.rejections == [REASON_CROSS_ORIGIN]
    assert theme_of(victim, sites) == "theme-dark"
