"""Attacks on accounts from the outside: each test performs one attack on a real
application (real SMTP server, real database) and asserts that it fails."""

from __future__ import annotations

import re
import typing as t
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from flask_bastion.accounts import User, accounts_state
from flask_bastion.accounts.models import ApiToken

from .accounts_helpers import BASE, GOOD_PASSWORD, Site, make_site

JSON = {"Accept": "application/json"}


@pytest.fixture
def site(smtp_server: t.Any, tmp_path: t.Any) -> Iterator[Site]:
    made = make_site(smtp_server, BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/a.db")
    yield made
    made.mails()


def users(site: Site) -> list[User]:
    with site.app.app_context():
        return list(accounts_state(site.app).db().scalars(sa.select(User)))


def api_tokens(site: Site) -> list[ApiToken]:
    with site.app.app_context():
        return list(accounts_state(site.app).db().scalars(sa.select(ApiToken)))


def create_token(client: t.Any, scopes: list[str] | None = None) -> str:
    response = client.post(
        f"{BASE}/account/tokens", data={"name": "t", "scopes": scopes or ["api"], "days": "30"}
    )
    assert response.status_code == 201
    [token] = re.findall(rb"bst_[A-Za-z0-9_-]{43}", response.data)
    return token.decode()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# Bearer tokens on the account pages


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("GET", "/account", None),
        ("GET", "/account/sessions", None),
        ("POST", "/account/sessions", {"action": "revoke_others"}),
        ("POST", "/account/confirm", {"password": GOOD_PASSWORD}),
        ("POST", "/account/password", {"current_password": GOOD_PASSWORD, "new_password": "x"}),
        ("POST", "/account/tokens", {"name": "x", "scopes": ["api"], "days": 30}),
        ("POST", "/account/delete", {"current_password": GOOD_PASSWORD}),
        ("POST", "/account/email", {"new_email": "evil@example.com"}),
    ],
    ids=["overview", "sessions", "revoke-sessions", "confirm", "password", "tokens", "delete",
         "email"],
)  # fmt: skip
def test_a_bearer_token_cannot_use_the_account_pages(
    site: Site, method: str, path: str, data: dict[str, t.Any] | None
) -> None:
    """A stolen API token reaches the API only, never the account pages."""
    browser = site.user("ann@example.com")
    token = create_token(browser)
    api = site.app.test_client()
    response = api.open(BASE + path, method=method, json=data, headers={**bearer(token), **JSON})
    assert response.status_code in (401, 403)
    assert browser.get(f"{BASE}/account").status_code == 200  # still signed in
    assert len(users(site)) == 1 and len(api_tokens(site)) == 1


def test_a_bearer_token_with_a_fresh_cookie_cannot_create_tokens(site: Site) -> None:
    """Token and a fresh session cookie together: the token's identity, never fresh."""
    browser = site.user("ann@example.com")
    token = create_token(browser)
    response = browser.post(
        f"{BASE}/account/tokens",
        json={"name": "x", "scopes": ["api"], "days": 30},
        headers={**bearer(token), "Sec-Fetch-Site": "cross-site", **JSON},
    )
    assert response.status_code in (401, 403)
    assert len(api_tokens(site)) == 1
