"""Preferences: a state-changing form guarded by Flask-Bastion's CSRF protection."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from flask_bastion import signals
from flask_bastion.csrf import REASON_CROSS_ORIGIN, REASON_TOKEN_MISSING

HTTPS = "https://localhost"
TOKEN = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')


def form_token(client: FlaskClient) -> str:
    """The CSRF token of the preferences form, as a browser would read it."""
    match = TOKEN.search(client.get("/preferences", base_url=HTTPS).get_data(as_text=True))
    assert match is not None
    return match.group(1)


def post(
    client: FlaskClient, data: dict[str, str], headers: dict[str, str] | None = None
) -> TestResponse:
    return client.post("/preferences", data=data, headers=headers, base_url=HTTPS)


def body_class(client: FlaskClient, path: str = "/preferences") -> str:
    match = re.search(r'<body class="([^"]*)">', client.get(path, base_url=HTTPS).get_data(True))
    assert match is not None
    return match.group(1)


def test_form_renders_with_csrf_field(client: FlaskClient) -> None:
    """GET /preferences shows a POST form carrying the CSRF field."""
    response = client.get("/preferences", base_url=HTTPS)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<form class="preferences" method="post" action="/preferences">' in html
    assert TOKEN.search(html) is not None


def test_default_theme_is_light(client: FlaskClient) -> None:
    """A visitor who chose nothing gets the light theme, checked in the form."""
    html = client.get("/preferences", base_url=HTTPS).get_data(as_text=True)
    assert '<body class="theme-light">' in html
    assert 'value="light" checked' in html


def test_valid_theme_redirects_with_303(client: FlaskClient) -> None:
    """A valid choice is stored and answered with 303 to the confirmation."""
    response = post(client, {"theme": "dark", "csrf_token": form_token(client)})
    assert response.status_code == 303
    assert response.headers["Location"] == "/preferences?saved=1"


def test_valid_theme_is_applied(client: FlaskClient) -> None:
    """After saving, every page's <body> carries the chosen theme."""
    post(client, {"theme": "dark", "csrf_token": form_token(client)})
    assert (body_class(client), body_class(client, "/")) == ("theme-dark", "theme-dark")


def test_confirmation_after_save(client: FlaskClient) -> None:
    """The page the redirect leads to confirms the change, without flash messages."""
    html = client.get("/preferences?saved=1", base_url=HTTPS).get_data(as_text=True)
    assert "Your preferences are saved." in html


def test_same_origin_browser_needs_no_token(client: FlaskClient) -> None:
    """A modern browser's same-origin post passes on Fetch Metadata alone."""
    form_token(client)
    response = post(client, {"theme": "dark"}, {"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 303
    assert body_class(client) == "theme-dark"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"theme": "blue"}, id="unknown"),
        pytest.param({"theme": "Dark"}, id="wrong-case"),
        pytest.param({"theme": "dark "}, id="trailing-space"),
        pytest.param({"theme": ""}, id="empty"),
        pytest.param({}, id="missing"),
        pytest.param({"theme": '"><script>alert(1)</script>'}, id="markup"),
    ],
)
def test_invalid_theme_is_400_and_not_stored(client: FlaskClient, data: dict[str, str]) -> None:
    """A value outside the allowlist is a 400 and changes nothing."""
    response = post(client, {**data, "csrf_token": form_token(client)})
    assert response.status_code == 400
    assert body_class(client) == "theme-light"


def test_cross_site_post_is_403_and_not_stored(app: Flask, client: FlaskClient) -> None:
    """A post from another site is rejected before the view: nothing is stored."""
    seen: list[str] = []
    form_token(client)
    with signals.csrf_rejected.connected_to(
        lambda sender, reason, **extra: seen.append(reason), app
    ):
        response = post(
            client,
            {"theme": "dark"},
            {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        )
    assert response.status_code == 403
    assert seen == [REASON_CROSS_ORIGIN]
    assert body_class(client) == "theme-light"


def test_cross_site_post_with_stolen_token_is_403(client: FlaskClient) -> None:
    """Even a valid token does not let a cross-site post through."""
    response = post(
        client,
        {"theme": "dark", "csrf_token": form_token(client)},
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert body_class(client) == "theme-light"


def test_tokenless_post_without_fetch_metadata_is_403(client: FlaskClient) -> None:
    """An old browser (no Sec-Fetch-Site, no Origin) with a session must send the token."""
    form_token(client)
    response = post(client, {"theme": "dark"}, {"Accept": "application/json"})
    assert response.status_code == 403
    assert response.get_json(force=True)["detail"] == REASON_TOKEN_MISSING
    assert body_class(client) == "theme-light"


def test_nav_links_to_preferences(client: FlaskClient) -> None:
    """The main navigation links to the preferences page."""
    html = client.get("/", base_url=HTTPS).get_data(as_text=True)
    assert '<a class="nav-link" href="/preferences">Preferences</a>' in html


def test_preferences_page_has_no_inline_style(client: FlaskClient) -> None:
    """The theme is a class, never an inline style the CSP would block."""
    html = client.get("/preferences", base_url=HTTPS).get_data(as_text=True)
    assert re.search(r"<style|\sstyle=", html) is None


def session_rows(app: Flask) -> int:
    """Sessions in Vault's session store (the SQL store on Vault's database)."""
    store = app.session_interface.store  # type: ignore[attr-defined]
    if not sa.inspect(store.engine).has_table(store.table.name):
        return 0
    with store.engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(store.table)).scalar())


def test_anonymous_form_views_store_no_session(app: Flask) -> None:
    """Five cookieless visits of the form create no session row: the token needs none."""
    for _ in range(5):
        response = app.test_client().get("/preferences", base_url=HTTPS)
        assert TOKEN.search(response.get_data(as_text=True)) is not None
    assert session_rows(app) == 0


def test_old_browser_saves_with_the_anonymous_token(app: Flask) -> None:
    """A browser without Fetch Metadata saves with the form's token and the anonymous
    cookie alone; the save creates the session, and a forged token changes nothing."""
    browser = FlaskClient(app, app.response_class, use_cookies=True)
    token = form_token(browser)
    forged = post(browser, {"theme": "dark", "csrf_token": "A" * 86})
    assert forged.status_code == 403
    assert session_rows(app) == 0
    response = post(browser, {"theme": "dark", "csrf_token": token})
    assert response.status_code == 303
    assert session_rows(app) == 1
    assert body_class(browser) == "theme-dark"
