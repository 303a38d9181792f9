"""Vault's accounts: the first administrator, sign-up through the outbox, the header that
shows who is signed in, and the account pages in Vault's layout."""

from __future__ import annotations

import email
import re
import typing as t
from pathlib import Path

import pyotp
from flask import Flask
from sqlalchemy import select
from vault_testing import browser

from vault.db import get_db
from vault.models import User

BASE = "https://localhost"
PASSWORD = "a long and memorable team passphrase"


def outbox_links(app: Flask, tmp_path: Path, path: str) -> list[str]:
    from flask_bastion.mail import flush_mail

    flush_mail(app, timeout=10)
    links: list[str] = []
    for file in sorted((tmp_path / "outbox").glob("*.eml")):
        message = email.message_from_bytes(file.read_bytes(), policy=email.policy.default)
        body = t.cast(t.Any, message).get_body(("plain",)).get_content()
        links += re.findall(rf"https://localhost({re.escape(path)}\S+)", body)
    return links


def test_create_admin_prints_the_one_time_password_once(vault: Flask) -> None:
    """The first run prints a password; the second has none to show."""
    runner = vault.test_cli_runner()
    first = runner.invoke(args=["create-admin"])
    assert first.exit_code == 0
    password = re.search(r"one-time password\n\n    (\S+)\n", first.output)
    assert password is not None and len(password.group(1)) >= 20
    second = runner.invoke(args=["create-admin"])
    assert "no password to show" in second.output
    assert password.group(1) not in second.output
    with vault.app_context():
        [admin] = get_db().scalars(select(User)).all()
        assert admin.is_admin and admin.must_change_password
        assert password.group(1) not in (admin.password_hash or "")


def test_admin_must_change_the_one_time_password_then_enrol_first(vault: Flask) -> None:
    """After signing in with the one-time password, every page leads to the change, then
    to the enrolment of an authenticator app (administrators need a second factor)."""
    output = vault.test_cli_runner().invoke(args=["create-admin"]).output
    one_time = re.search(r"password\n\n    (\S+)\n", output).group(1)  # type: ignore[union-attr]
    client = browser(vault)
    response = client.post(
        f"{BASE}/login", data={"email": "admin@example.com", "password": one_time}
    )
    assert response.headers["Location"] == "/account/password"
    assert client.get(f"{BASE}/").headers["Location"] == "/account/password"
    changed = client.post(
        f"{BASE}/account/password",
        data={"current_password": one_time, "new_password": PASSWORD},
    )
    assert changed.status_code == 303
    assert client.get(f"{BASE}/").headers["Location"] == "/account/mfa/totp"
    page = client.get(f"{BASE}/account/mfa/totp", headers={"Accept": "application/json"})
    code = pyotp.TOTP(page.json["secret"]).now()
    assert client.post(f"{BASE}/account/mfa/totp", data={"code": code}).status_code == 200
    home = client.get(f"{BASE}/")
    assert home.status_code == 200
    assert b"Signed in as admin@example.com" in home.data


def test_sign_up_verify_and_sign_in_through_the_outbox(vault: Flask, tmp_path: Path) -> None:
    """A visitor registers, confirms from the outbox mail and signs in."""
    client = browser(vault)
    register = client.post(
        f"{BASE}/register", data={"email": "ann@example.com", "password": PASSWORD}
    )
    assert register.status_code == 200
    [link] = outbox_links(vault, tmp_path, "/verify/")
    confirmed = client.post(BASE + link, follow_redirects=True)
    assert b"Your email address is confirmed" in confirmed.data
    assert b'class="site-header"' in confirmed.data  # the account pages use Vault's layout
    client.post(f"{BASE}/login", data={"email": "ann@example.com", "password": PASSWORD})
    home = client.get(f"{BASE}/")
    assert b"Signed in as ann@example.com" in home.data
    assert b"Sign out" in home.data


def test_anonymous_header_offers_sign_in(vault: Flask) -> None:
    """A visitor who is not signed in sees the sign-in and sign-up links."""
    page = browser(vault).get(f"{BASE}/")
    assert b'href="/login"' in page.data and b'href="/register"' in page.data
