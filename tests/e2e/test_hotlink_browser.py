"""Hotlinking in a real browser: another site's ``<img>`` of Vault's static files fails,
Vault's own page and an allowed partner's page show it.

Vault runs on ``http://127.0.0.1:PORT`` (development profile: plain HTTP on loopback).
The hotlinker's page is served from ``http://localhost:OTHER``, a different site, and a
partner's page from ``http://localhost:PARTNER``, which Vault lists in
``BASTION_CONTENT_HOTLINK_ALLOW``. Each page embeds the image given in its query string
and records whether it loaded in ``window.result``. What the server answered is read
from the browser's own network events and from the ``hotlink_refused`` signal.

Vault's default ``Cross-Origin-Resource-Policy: same-origin`` alone would already keep
the browser from showing the image on another site, but only after the server sent it;
the proof here is that the server refused it (403) before sending any byte, and that
the partner's page, whose response says ``cross-origin``, shows it.
"""

from __future__ import annotations

import html
import secrets
import typing as t
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask, request_finished
from flask import request as flask_request
from werkzeug.wrappers import Request, Response

from flask_bastion import signals
from flask_bastion.content import REASON_CROSS_SITE
from vault import create_app

from .conftest import Server

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment
    from playwright.sync_api import BrowserContext, Page

pytestmark = pytest.mark.slow

EMBED = """<!doctype html><title>Gallery</title>
<img id="picture" src="{src}"
     onload="window.result = 'loaded'" onerror="window.result = 'failed'">"""
IMAGE_PATH = "/static/favicon.svg"


def embedding_site(environ: WSGIEnvironment, start_response: StartResponse) -> t.Iterable[bytes]:
    """Another site: ``/embed?src=URL`` is a page showing that image."""
    req = Request(environ)
    src = req.args.get("src", "")
    if req.path != "/embed" or not src.startswith("http://127.0.0.1:"):
        return Response("not found", 404)(environ, start_response)
    body = EMBED.format(src=html.escape(src))
    return Response(body, mimetype="text/html")(environ, start_response)


@dataclass
class Sites:
    vault: str
    hotlinker: str
    partner: str
    #: (reason, origin) of each refusal Vault's server sent a signal for.
    refusals: list[tuple[str, str | None]] = field(default_factory=list)
    #: The image's ``?from=`` -> the status Vault's server answered with.
    answers: dict[str, int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, int, int, int]]:
    folder: Path = tmp_path_factory.mktemp("vault")
    with Server(embedding_site) as hotlinker, Server(embedding_site) as partner:
        app = create_app(
            {
                "SECRET_KEY": secrets.token_hex(32),
                "DATABASE_URL": f"sqlite:///{folder / 'vault.sqlite3'}",
                "BASTION_PROFILE": "development",
                "BASTION_CONTENT_HOTLINK_ALLOW": [f"http://localhost:{partner.port}"],
            }
        )
        with Server(app) as vault:
            yield app, vault.port, hotlinker.port, partner.port


@pytest.fixture
def sites(servers: tuple[Flask, int, int, int]) -> Iterator[Sites]:
    app, vault_port, hotlinker_port, partner_port = servers
    found = Sites(
        f"http://127.0.0.1:{vault_port}",
        f"http://localhost:{hotlinker_port}",
        f"http://localhost:{partner_port}",
    )

    def on_refusal(sender: Flask, reason: str, origin: str | None, **extra: t.Any) -> None:
        found.refusals.append((reason, origin))

    def on_finished(sender: Flask, response: Response, **extra: t.Any) -> None:
        # Only the images the tests embed, not the favicon Vault's pages link to.
        if flask_request.path == IMAGE_PATH and "from" in flask_request.args:
            found.answers[flask_request.args["from"]] = response.status_code

    with (
        signals.hotlink_refused.connected_to(on_refusal, app),
        request_finished.connected_to(on_finished, app),
    ):
        yield found


def show_image(page: Page, site: str, image: str) -> str:
    """Open ``site``'s page embedding ``image``: whether the image loaded."""
    page.goto(f"{site}/embed?src={image}")
    page.wait_for_function("window.result !== undefined")
    return t.cast(str, page.evaluate("window.result"))


def test_hotlinked_image_is_refused_by_the_server(context: BrowserContext, sites: Sites) -> None:
    """Another site's <img> of Vault's favicon gets 403 and does not load. (The browser
    then blocks the error page as an opaque response, so the status is read on the
    server.)"""
    image = f"{sites.vault}{IMAGE_PATH}?from=hotlinker"
    assert show_image(context.new_page(), sites.hotlinker, image) == "failed"
    assert sites.answers == {"hotlinker": 403}
    assert sites.refusals == [(REASON_CROSS_SITE, sites.hotlinker)]


def test_vaults_own_page_loads_the_image(context: BrowserContext, sites: Sites) -> None:
    """The same image, embedded by a page of Vault's own origin, loads."""
    page = context.new_page()
    page.goto(f"{sites.vault}/login")
    image = f"{sites.vault}{IMAGE_PATH}?from=vault"
    with page.expect_response(lambda r: r.url == image) as answer:
        loaded = page.evaluate(
            """(src) => new Promise((resolve) => {
                const img = new Image();
                img.onload = () => resolve("loaded");
                img.onerror = () => resolve("failed");
                img.src = src;
            })""",
            image,
        )
    assert (loaded, answer.value.status) == ("loaded", 200)
    assert sites.answers == {"vault": 200}
    assert sites.refusals == []


def test_partner_page_loads_the_image(context: BrowserContext, sites: Sites) -> None:
    """An allowed partner's page shows it: 200 with Cross-Origin-Resource-Policy:
    cross-origin, which the browser needs to show it there."""
    image = f"{sites.vault}{IMAGE_PATH}?from=partner"
    page = context.new_page()
    with page.expect_response(lambda r: r.url == image) as answer:
        assert show_image(page, sites.partner, image) == "loaded"
    assert answer.value.status == 200
    assert answer.value.all_headers()["cross-origin-resource-policy"] == "cross-origin"
    assert sites.answers == {"partner": 200}
    assert sites.refusals == []


def test_following_a_link_to_the_image_is_not_hotlinking(
    context: BrowserContext, sites: Sites
) -> None:
    """Opening the image itself (a navigation, as from a link on another site) works."""
    page = context.new_page()
    response = page.goto(f"{sites.vault}{IMAGE_PATH}?from=navigation")
    assert response is not None and response.status == 200
    assert sites.refusals == []
