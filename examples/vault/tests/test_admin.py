"""Vault's admin area: only administrators, after a fresh sign-in with their second
factor, reach /admin; every action changes the account it names and is refused to
everyone else."""

from __future__ import annotations

import re
import typing as t

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from vault_testing import browser
from werkzeug.exceptions import HTTPException

from flask_bastion.accounts.models import UserRole
from flask_bastion.authz import roles_of
from vault import admin as admin_module
from vault.db import get_db
from vault.models import User

BASE = "https://localhost"
PASSWORD = "a long and memorable team passphrase"
MEMBER = "member@example.com"


def admin_client(app: Flask) -> FlaskClient:
    """The first administrator, signed in: one-time password changed, app enrolled."""
    output = app.test_cli_runner().invoke(args=["create-admin"]).output
    one_time = re.search(r"password\n\n    (\S+)\n", output).group(1)  # type: ignore[union-attr]
    client = browser(app)
    client.post(f"{BASE}/login", data={"email": "admin@example.com", "password": one_time})
    client.post(
        f"{BASE}/account/password", data={"current_password": one_time, "new_password": PASSWORD}
    )
    page = client.get(f"{BASE}/account/mfa/totp", headers={"Accept": "application/json"})
    code = pyotp.TOTP(page.json["secret"]).now()
    assert client.post(f"{BASE}/account/mfa/totp", data={"code": code}).status_code == 200
    return client


def member_client(app: Flask) -> FlaskClient:
    """A member made with `flask bastion users create`, signed in."""
    result = app.test_cli_runner().invoke(
        args=["bastion", "users", "create", MEMBER, "--password-stdin"], input=PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
    client = browser(app)
    response = client.post(f"{BASE}/login", data={"email": MEMBER, "password": PASSWORD})
    assert response.status_code == 303
    return client


def member(app: Flask) -> User:
    with app.app_context():
        found = get_db().scalars(select(User).where(User.email_key == MEMBER)).one()
        get_db().expunge(found)
        return t.cast(User, found)


def test_anonymous_visitors_are_sent_to_sign_in(vault: Flask) -> None:
    """/admin asks an anonymous visitor to sign in."""
    response = browser(vault).get(f"{BASE}/admin/")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login?next=/admin/")


def test_members_are_refused(vault: Flask) -> None:
    """A signed-in member gets 403 on every admin URL, GET and POST."""
    client = member_client(vault)
    user_id = member(vault).id
    assert client.get(f"{BASE}/admin/").status_code == 403
    assert client.get(f"{BASE}/admin/users/{user_id}").status_code == 403
    response = client.post(f"{BASE}/admin/users/{user_id}", data={"action": "grant"})
    assert response.status_code == 403
    with vault.app_context():
        assert roles_of(member(vault)) == frozenset()


def test_the_admin_lists_and_finds_accounts(vault: Flask) -> None:
    """The list shows every account; ?q= filters by address."""
    member_client(vault)
    client = admin_client(vault)
    listed = client.get(f"{BASE}/admin/")
    assert listed.status_code == 200
    assert MEMBER.encode() in listed.data and b"admin@example.com" in listed.data
    found = client.get(f"{BASE}/admin/?q=MEMBER").get_data(as_text=True)
    rows = found.split("<tbody>")[1]
    assert MEMBER in rows and "admin@example.com" not in rows
    page = client.get(f"{BASE}/admin/users/{member(vault).id}")
    assert page.status_code == 200 and b"Sign out every device" in page.data


def test_deactivating_signs_the_member_out_and_reactivating_lets_them_back(vault: Flask) -> None:
    """Deactivate ends the member's sessions; reactivate restores sign-in."""
    signed_in = member_client(vault)
    client = admin_client(vault)
    user_id = member(vault).id
    response = client.post(f"{BASE}/admin/users/{user_id}", data={"action": "deactivate"})
    assert response.status_code == 303
    assert member(vault).active is False
    assert signed_in.get(f"{BASE}/account").status_code == 303
    refused = browser(vault).post(f"{BASE}/login", data={"email": MEMBER, "password": PASSWORD})
    assert refused.status_code == 401
    client.post(f"{BASE}/admin/users/{user_id}", data={"action": "reactivate"})
    again = browser(vault).post(f"{BASE}/login", data={"email": MEMBER, "password": PASSWORD})
    assert again.status_code == 303


def test_roles_are_granted_and_removed(vault: Flask) -> None:
    """Make administrator, then remove the role."""
    member_client(vault)
    client = admin_client(vault)
    user_id = member(vault).id
    client.post(f"{BASE}/admin/users/{user_id}", data={"action": "grant"})
    with vault.app_context():
        assert roles_of(member(vault)) == {"admin"}
    client.post(f"{BASE}/admin/users/{user_id}", data={"action": "revoke"})
    with vault.app_context():
        assert roles_of(member(vault)) == frozenset()


@pytest.mark.parametrize("action", ["deactivate", "revoke"])
def test_administrators_cannot_lock_themselves_out(vault: Flask, action: str) -> None:
    """Deactivating oneself or dropping one's own role is refused."""
    client = admin_client(vault)
    with vault.app_context():
        admin_id = (
            get_db().scalars(select(User.id).where(User.email_key == "admin@example.com")).one()
        )
    response = client.post(f"{BASE}/admin/users/{admin_id}", data={"action": action})
    assert response.status_code == 400
    assert client.get(f"{BASE}/admin/").status_code == 200


def test_unknown_actions_and_accounts_are_refused(vault: Flask) -> None:
    """An unknown action is a 400; an unknown account a 404."""
    member_client(vault)
    client = admin_client(vault)
    user_id = member(vault).id
    assert client.post(f"{BASE}/admin/users/{user_id}", data={"action": "x"}).status_code == 400
    assert client.get(f"{BASE}/admin/users/99999").status_code == 404


def test_revoking_sessions_and_resetting_the_second_factor(vault: Flask) -> None:
    """Sign out every device; reset the second factor of an account that has one."""
    signed_in = member_client(vault)
    client = admin_client(vault)
    user_id = member(vault).id
    client.post(f"{BASE}/admin/users/{user_id}", data={"action": "revoke_sessions"})
    assert signed_in.get(f"{BASE}/account").status_code == 303
    response = client.post(f"{BASE}/admin/users/{user_id}", data={"action": "reset_mfa"})
    assert response.status_code == 303
    unlocked = client.post(f"{BASE}/admin/users/{user_id}", data={"action": "unlock"})
    assert unlocked.status_code == 303


def test_admin_actions_need_a_same_site_request(vault: Flask) -> None:
    """A cross-site post to an admin action is refused before the view."""
    member_client(vault)
    client = admin_client(vault)
    user_id = member(vault).id
    response = client.post(
        f"{BASE}/admin/users/{user_id}",
        data={"action": "grant"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 403
    with vault.app_context():
        assert roles_of(member(vault)) == frozenset()


def admin_routes(app: Flask) -> list[tuple[str, str]]:
    """(rule, method) of every admin route in the url_map."""
    return sorted(
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("admin.")
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    )


@pytest.mark.parametrize("action", ["deactivate", "grant", "reset_mfa", "revoke_sessions"])
def test_a_member_calling_every_admin_url_changes_nothing(vault: Flask, action: str) -> None:
    """Every admin route from the url_map, as a member and anonymously, is refused (403,
    or sent to sign in) and leaves the target account as it was."""
    client = member_client(vault)
    before = member(vault)
    routes = admin_routes(vault)
    one = "/admin/users/<int(max=2147483647):user_id>"
    assert {rule for rule, _ in routes} == {"/admin/", one, "/admin/bans", "/admin/bans/lift"}
    for rule, method in routes:
        path = rule.replace("<int(max=2147483647):user_id>", str(before.id))
        response = client.open(f"{BASE}{path}", method=method, data={"action": action})
        assert response.status_code == 403, (rule, method)
        anonymous = browser(vault).open(f"{BASE}{path}", method=method, data={"action": action})
        assert anonymous.status_code == 303, (rule, method)
        assert anonymous.headers["Location"].startswith("/login")
    after = member(vault)
    assert (after.active, after.email) == (before.active, before.email)
    with vault.app_context():
        assert roles_of(after) == frozenset()
    assert client.get(f"{BASE}/account").status_code == 200


def test_the_last_active_administrator_is_kept(vault: Flask) -> None:
    """Two administrators acting on each other at the same moment: once one of them has
    been deactivated (or lost the role), the other's request, already past its
    authorization, is refused with 409 instead of leaving Vault without an administrator."""
    member_client(vault)
    client = admin_client(vault)
    user_id = member(vault).id
    assert client.post(f"{BASE}/admin/users/{user_id}", data={"action": "grant"}).status_code == 303
    with vault.app_context():
        db = get_db()
        first = db.scalars(select(User).where(User.email_key == "admin@example.com")).one()
        first.active = False  # the other administrator's request committed first
        db.commit()
    for action in ("deactivate", "revoke"):
        with vault.test_request_context():
            with pytest.raises(HTTPException) as refused:
                if action == "deactivate":
                    admin_module._keep_an_administrator(get_db().get(User, user_id))
                else:
                    db = get_db()
                    db.delete(
                        db.scalars(select(UserRole).where(UserRole.user_id != str(user_id))).one()
                    )
                    db.commit()
                    admin_module._revoke_admin(get_db().get(User, user_id))
            assert refused.value.code == 409
    assert member(vault).active is True
    with vault.app_context():
        assert roles_of(member(vault)) == {"admin"}
