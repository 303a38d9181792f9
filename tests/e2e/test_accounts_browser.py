"""Vault's accounts in a real browser: sign up, confirm from the outbox, sign in, see who
is signed in, sign out, under Vault's Content-Security-Policy with no violation.

Vault runs on ``http://localhost:PORT`` under the development profile (plain HTTP on
loopback); mail goes to the console backend's outbox folder, which the test reads like a
mailbox. Every page records CSP violations the browser reports (the
``securitypolicyviolation`` event and console errors), and the test asserts there are none.
"""

from __future__ import annotations

import email
import email.policy
import re
import typing as t
from collections.abc import Iterator
from pathlib import Path

import pytest

from flask_bastion.mail import flush_mail

from .conftest import Server
from .vault_site import WATCH_CSP, make_vault, no_violations, watched_page  # noqa: F401 (re-exported)

if t.TYPE_CHECKING:
    from flask import Flask
    from playwright.sync_api import BrowserContext, Page

pytestmark = pytest.mark.slow

PASSWORD = "a quiet harbour at dawn with gulls"


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, str, Path]]:
    folder: Path = tmp_path_factory.mktemp("vault-accounts")
    app = make_vault(folder)
    with Server(app) as server:
        yield app, f"http://localhost:{server.port}", folder / "outbox"


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return watched_page(context)


def mailed_link(app: Flask, outbox: Path, to: str, path: str) -> str:
    flush_mail(app, timeout=10)
    for file in sorted(outbox.glob("*.eml"), reverse=True):
        message = email.message_from_bytes(file.read_bytes(), policy=email.policy.default)
        if to in str(message["To"]):
            body = t.cast(t.Any, message).get_body(("plain",)).get_content()
            found = re.search(rf"(http://localhost:\d+{re.escape(path)}\S+)", body)
            if found:
                return found.group(1)
    raise AssertionError(f"no {path} link for {to}")


def test_sign_up_confirm_sign_in_and_out(page: Page, vault: tuple[Flask, str, Path]) -> None:
    """The whole first visit of a new user, clicking through Vault's own pages."""
    app, base, outbox = vault
    page.goto(f"{base}/")
    page.click("text=Create an account")
    page.get_by_label("Email address").fill("ann@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    assert page.get_attribute("#password", "autocomplete") == "new-password"
    page.click("button[type=submit]")
    page.wait_for_selector("text=Check your inbox")
    no_violations(page)

    page.goto(mailed_link(app, outbox, "ann@example.com", "/verify/"))
    page.click("text=Confirm my address")
    page.wait_for_url(f"{base}/login")
    assert page.is_visible("text=Your email address is confirmed")
    assert page.get_attribute("#email", "autocomplete") == "username"
    assert page.get_attribute("#password", "autocomplete") == "current-password"
    page.get_by_label("Email address").fill("ann@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/account")
    assert page.is_visible("text=Signed in as ann@example.com")
    no_violations(page)

    page.click("header >> text=Sign out")
    page.wait_for_url(f"{base}/login")
    page.goto(f"{base}/account")
    assert page.url.startswith(f"{base}/login?next=/account")
    no_violations(page)


def test_wrong_password_shows_the_error_beside_the_form(
    page: Page, vault: tuple[Flask, str, Path]
) -> None:
    """A failed sign-in says so in words, in an alert the screen reader announces."""
    _, base, _ = vault
    page.goto(f"{base}/login")
    page.get_by_label("Email address").fill("nobody@example.com")
    page.get_by_label("Password").fill("not the right password at all")
    page.click("main button[type=submit]")
    alert = page.get_by_role("alert")
    assert "incorrect" in alert.inner_text()
    no_violations(page)
