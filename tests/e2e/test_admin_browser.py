"""Vault's admin area in a real browser: the first administrator signs in with the one-time
password ``create-admin`` printed, is made to change it and to set up an authenticator app
before anything else, then deactivates a member from /admin; a member's browser is refused
every admin page. Every page renders under Vault's Content-Security-Policy with no
violation.
"""

from __future__ import annotations

import re
import typing as t
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select

from vault.db import get_db
from vault.models import User

from .conftest import Server
from .vault_site import make_vault, no_violations, watched_page

if t.TYPE_CHECKING:
    from flask import Flask
    from playwright.sync_api import BrowserContext, Page

pytestmark = pytest.mark.slow

ADMIN = "admin@example.com"
MEMBER = "member@example.com"
ADMIN_PASSWORD = "a long and memorable team passphrase"
MEMBER_PASSWORD = "quiet notes kept behind a locked door"


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, str, str]]:
    """Vault on ``http://localhost:PORT``, its one-time admin password, and a member."""
    folder: Path = tmp_path_factory.mktemp("vault-admin")
    app = make_vault(folder)
    runner = app.test_cli_runner()
    output = runner.invoke(args=["create-admin"]).output
    found = re.search(r"password\n\n    (\S+)\n", output)
    assert found is not None, output
    created = runner.invoke(
        args=["bastion", "users", "create", MEMBER, "--password-stdin"],
        input=MEMBER_PASSWORD + "\n",
    )
    assert created.exit_code == 0, created.output
    with Server(app) as server:
        yield app, f"http://localhost:{server.port}", found.group(1)


def sign_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.click("main button[type=submit]")


def member_row(app: Flask) -> User:
    with app.app_context():
        user = get_db().scalars(select(User).where(User.email_key == MEMBER)).one()
        get_db().expunge(user)
        return user


def test_first_admin_sets_up_then_deactivates_a_member(
    context: BrowserContext, vault: tuple[Flask, str, str]
) -> None:
    """One-time password, forced password change, forced TOTP set-up, then /admin works."""
    app, base, one_time = vault
    page = watched_page(context)
    sign_in(page, base, ADMIN, one_time)
    page.wait_for_url(f"{base}/account/password*")
    # Nothing else is served before the password is changed.
    page.goto(f"{base}/admin/")
    page.wait_for_url(f"{base}/account/password*")
    page.get_by_label("Current password").fill(one_time)
    page.get_by_label("New password").fill(ADMIN_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/account/mfa/totp*")
    assert page.is_visible("text=Your role needs a second factor")
    assert page.locator(".qr svg").count() == 1
    # The admin area stays closed until the second factor is set up.
    page.goto(f"{base}/admin/")
    page.wait_for_url(f"{base}/account/mfa/totp*")
    secret = page.inner_text("#totp-secret").replace(" ", "")
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).now())
    page.click("main button[type=submit]")
    page.wait_for_selector("text=recovery", timeout=15_000)
    no_violations(page)

    page.goto(f"{base}/admin/?q=member")
    page.click(f"text={MEMBER}")
    page.wait_for_selector(f"h1:has-text('{MEMBER}')")
    page.click("text=Deactivate")
    page.wait_for_selector("text=no (deactivated)")
    no_violations(page)
    assert member_row(app).active is False

    page.click("text=Reactivate")
    page.wait_for_selector("text=Deactivate")
    assert member_row(app).active is True


def test_a_member_is_refused_every_admin_page(
    context: BrowserContext, vault: tuple[Flask, str, str]
) -> None:
    """A signed-in member gets 403 on the list and on an account's page."""
    app, base, _ = vault
    page = watched_page(context)
    sign_in(page, base, MEMBER, MEMBER_PASSWORD)
    page.wait_for_url(f"{base}/account")
    for path in ("/admin/", f"/admin/users/{member_row(app).id}"):
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status == 403, path
    no_violations(page)
