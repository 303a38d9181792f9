"""Vault's passkeys in a real browser: add a passkey after signing in, sign out, sign in
with the passkey alone, then with the password and the passkey as the second factor,
under Vault's Content-Security-Policy with no violation.

Chromium's DevTools virtual authenticator stands in for the device: a CTAP2 platform
authenticator holding discoverable credentials, whose user is verified. Vault runs on
``http://localhost:PORT``, a secure context for WebAuthn, so the RP ID is ``localhost``.
"""

from __future__ import annotations

import time
import typing as t
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from flask_bastion.accounts import accounts_state
from flask_bastion.accounts.core import normalise_email
from flask_bastion.mfa.models import Passkey

from .conftest import Server
from .vault_site import make_vault, no_violations, watched_page

if t.TYPE_CHECKING:
    from flask import Flask
    from playwright.sync_api import BrowserContext, Page

pytestmark = pytest.mark.slow

PASSWORD = "a quiet harbour at dawn with gulls"
EMAIL = "pia@example.com"


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, str]]:
    folder: Path = tmp_path_factory.mktemp("vault-passkeys")
    app = make_vault(folder)
    with app.app_context():
        state = accounts_state()
        now = time.time()
        db = state.db()
        db.add(
            state.user_model(
                email=EMAIL,
                email_key=normalise_email(EMAIL),
                password_hash=state.passwords.hash(PASSWORD),
                email_verified_at=now,
                active=True,
                created_at=now,
                password_changed_at=now,
                must_change_password=False,
            )
        )
        db.commit()
    with Server(app) as server:
        yield app, f"http://localhost:{server.port}"


@pytest.fixture
def page(context: BrowserContext) -> Page:
    new = watched_page(context)
    cdp = context.new_cdp_session(new)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    return new


def sign_in_with_password(page: Page, base: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.click("main button[type=submit]")


def test_add_a_passkey_and_sign_in_with_it(page: Page, vault: tuple[Flask, str]) -> None:
    """A passkey added on the account signs in alone, and as the second factor."""
    app, base = vault
    sign_in_with_password(page, base)
    page.wait_for_url(f"{base}/account")
    page.goto(f"{base}/account/passkeys")
    page.get_by_label("Name of the new passkey").fill("Test laptop")
    page.click("#passkey-register")
    page.wait_for_selector("text=The passkey is added")
    assert page.is_visible("text=Test laptop")
    no_violations(page)
    with app.app_context():
        rows = accounts_state().db().scalars(select(Passkey)).all()
        assert [(row.name, row.sign_count >= 0) for row in rows] == [("Test laptop", True)]

    page.click("header >> text=Sign out")
    page.wait_for_url(f"{base}/login")
    page.click("#passkey-sign-in")
    page.wait_for_url(f"{base}/account")
    assert page.is_visible(f"text=Signed in as {EMAIL}")
    no_violations(page)

    page.click("header >> text=Sign out")
    page.wait_for_url(f"{base}/login")
    sign_in_with_password(page, base)
    page.wait_for_url(f"{base}/login/verify")
    page.click("#passkey-sign-in")
    page.wait_for_url(f"{base}/account")
    assert page.is_visible(f"text=Signed in as {EMAIL}")
    no_violations(page)
