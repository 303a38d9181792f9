"""Vault's content protection: static files refuse other sites' embedding, and private
areas are noindex for everyone."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from test_notes import BASE, add_user, sign_in, token

from vault.db import init_db

ROBOTS = "noindex, nofollow"
CROSS_SITE_IMAGE = {
    "Sec-Fetch-Site": "cross-site",
    "Sec-Fetch-Dest": "image",
    "Referer": "https://hotlinker.example/gallery",
}


@pytest.fixture
def vault(make_app: Callable[..., Flask]) -> Flask:
    app = make_app(TRUSTED_HOSTS=["localhost"], BASTION_SESSIONS_STORE="memory")
    with app.app_context():
        init_db()
        add_user("ann@example.com")
    return app


def _get(client: FlaskClient, path: str, **headers: str) -> tuple[int, dict[str, str]]:
    response = client.get(f"{BASE}{path}", headers=headers)
    response.get_data()
    response.close()
    return response.status_code, dict(response.headers)


@pytest.mark.parametrize("path", ["/static/favicon.svg", "/static/vault.css"])
def test_static_files_refuse_another_sites_embedding(vault: Flask, path: str) -> None:
    """Another site's <img> (or CSS-as-image) of Vault's static files gets 403."""
    status, _ = _get(vault.test_client(), path, **CROSS_SITE_IMAGE)
    assert status == 403


def test_static_files_load_on_vaults_own_pages(vault: Flask) -> None:
    """Vault's own pages, and a typed URL, load them."""
    client = vault.test_client()
    own = {**CROSS_SITE_IMAGE, "Sec-Fetch-Site": "same-origin", "Referer": BASE + "/"}
    assert _get(client, "/static/favicon.svg", **own)[0] == 200
    assert _get(client, "/static/favicon.svg")[0] == 200


def test_static_file_without_fetch_metadata_checks_the_referer(vault: Flask) -> None:
    """An older browser's image request is judged by Referer and file extension."""
    client = vault.test_client()
    foreign = {"Referer": "https://hotlinker.example/"}
    assert _get(client, "/static/favicon.svg", **foreign)[0] == 403
    assert _get(client, "/static/vault.css", **foreign)[0] == 200


@pytest.mark.parametrize(
    "path", ["/account", "/account/sessions", "/notes", "/notes/new", "/admin/", "/api/v1/notes"]
)
def test_private_areas_are_noindex_even_for_anonymous_visitors(vault: Flask, path: str) -> None:
    """The sign-in redirect or 401 of a private area is noindex too."""
    status, headers = _get(vault.test_client(), path)
    assert status in (302, 303, 401)
    assert headers["X-Robots-Tag"] == ROBOTS


def test_public_pages_are_indexable_for_anonymous_visitors(vault: Flask) -> None:
    """The home and sign-in pages stay indexable."""
    for path in ("/", "/login", "/register"):
        assert "X-Robots-Tag" not in _get(vault.test_client(), path)[1]


def test_every_page_of_a_signed_in_user_is_noindex(vault: Flask) -> None:
    """Once signed in, even the home page is noindex."""
    client = sign_in(vault)
    for path in ("/", "/notes", "/account", "/preferences"):
        status, headers = _get(client, path)
        assert (status, headers["X-Robots-Tag"]) == (200, ROBOTS)


def test_api_answers_are_noindex(vault: Flask) -> None:
    """A bearer-token API answer is noindex."""
    response = vault.test_client().get(f"{BASE}/api/v1/notes", headers=token(vault))
    assert (response.status_code, response.headers["X-Robots-Tag"]) == (200, ROBOTS)
