"""Accounts end to end: registration, verification, sign-in, sign-out, reset, the account
pages and personal API tokens, with mail through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import hashlib
import re
import typing as t
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from flask_bastion import signals
from flask_bastion.accounts import User, accounts_state
from flask_bastion.accounts.models import AccountToken, ApiToken
from flask_bastion.accounts.nexturl import safe_next

from .accounts_helpers import (
    BASE,
    GOOD_PASSWORD,
    OTHER_PASSWORD,
    Site,
    make_site,
    strip_volatile,
)


@pytest.fixture
def site(smtp_server: t.Any, tmp_path: t.Any) -> Iterator[Site]:
    made = make_site(smtp_server, BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/a.db")
    yield made
    made.mails()  # the background worker is done before the server stops


def users(site: Site) -> list[User]:
    with site.app.app_context():
        return list(accounts_state(site.app).db().scalars(sa.select(User)))


# Registration and verification


def test_register_sends_a_verification_link_that_confirms_the_address(site: Site) -> None:
    """Registering mails a link; following it (POST) marks the address verified."""
    client = site.client()
    response = site.register(client, "ann@example.com")
    assert response.status_code == 200
    assert b"Check your inbox" in response.data
    [user] = users(site)
    assert user.email_verified_at is None and user.password_hash.startswith("$argon2id$")
    link = site.last_link("ann@example.com", "/verify/")
    assert client.get(BASE + link).status_code == 200  # a button, not yet used
    assert users(site)[0].email_verified_at is None
    assert client.post(BASE + link).headers["Location"].endswith("/login")
    assert users(site)[0].email_verified_at == site.clock.now
    assert client.post(BASE + link).status_code == 400  # single use


def test_registering_a_taken_address_answers_the_same_and_mails_the_owner(site: Site) -> None:
    """A taken address gets the same status and page; its owner is told; no new row."""
    site.user("ann@example.com")
    first = site.register(site.client(), "new@example.com")
    taken = site.register(site.client(), "ANN@example.com")
    assert (taken.status_code, strip_volatile(taken.data)) == (
        first.status_code,
        strip_volatile(first.data),
    )
    assert len(users(site)) == 2
    subjects = [m["Subject"] for m in site.mails("ann@example.com")]
    assert "Someone tried to create an account with your address" in subjects


def test_registration_reports_every_password_problem_next_to_the_field(site: Site) -> None:
    """A weak password gets a 422 with the problems beside the password field."""
    response = site.register(site.client(), "ann@example.com", "short")
    assert response.status_code == 422
    assert b'id="password-error"' in response.data
    assert b'aria-invalid="true"' in response.data
    assert users(site) == []


def test_registration_answers_json_with_a_problem_document(site: Site) -> None:
    """A JSON client gets an RFC 9457 problem with field errors."""
    response = site.client().post(
        f"{BASE}/register",
        json={"email": "not-an-address", "password": 5},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert set(response.json["errors"]) == {"email", "password"}


# Sign-in


def test_login_rotates_the_session_and_signs_the_user_in(site: Site) -> None:
    """A good sign-in rotates the session cookie and reaches the account page."""
    client = site.user("ann@example.com")
    page = client.get(f"{BASE}/account")
    assert page.status_code == 200
    assert b"ann@example.com" in page.data


def test_unknown_address_and_wrong_password_answer_alike(site: Site) -> None:
    """Unknown account and wrong password: same status, same page."""
    site.user("ann@example.com")
    wrong = site.login(site.client(), "ann@example.com", OTHER_PASSWORD)
    unknown = site.login(site.client(), "bob@example.com", OTHER_PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert strip_volatile(wrong.data).replace(b"ann", b"X") == strip_volatile(unknown.data).replace(
        b"bob", b"X"
    )


def test_unverified_account_with_the_right_password_gets_a_new_link(site: Site) -> None:
    """Before verification the right password gets a 403 and a fresh link."""
    client = site.client()
    site.register(client, "ann@example.com")
    before = len(site.mails("ann@example.com"))
    response = site.login(client, "ann@example.com")
    assert response.status_code == 403
    assert len(site.mails("ann@example.com")) == before + 1


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/account/sessions", "/account/sessions"),
        ("//evil.example/", "/account"),
        ("/\\evil.example", "/account"),
        ("https://evil.example/", "/account"),
        ("/%2F%2Fevil.example", "/account"),
        ("%2F%2Fevil.example", "/account"),
    ],
    ids=["path", "scheme-relative", "backslash", "absolute", "encoded", "encoded-start"],
)
def test_login_follows_only_a_same_site_next(site: Site, target: str, expected: str) -> None:
    """``next`` is followed only when it is a path on this site."""
    site.user("ann@example.com")
    client = site.client()
    response = client.post(
        f"{BASE}/login",
        data={"email": "ann@example.com", "password": GOOD_PASSWORD, "next": target},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == expected


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https://evil.example",
        "javascript:alert(1)",
        "/%5Cevil.example",
        "/%2f%2fevil.example",
        "/%252F%252Fevil.example",
        "/\t/evil.example",
        "/%09/evil.example",
        "/\x00x",
        "",
        None,
        "relative",
        "/" + "a" * 3000,
    ],
)
def test_safe_next_refuses_other_sites(target: t.Any) -> None:
    """Every form of another host is refused."""
    assert safe_next(target) is None


def test_safe_next_keeps_paths_and_queries() -> None:
    """A path with a query string on this site is kept as written."""
    assert safe_next("/notes/3?tab=share#top") == "/notes/3?tab=share#top"


def test_logout_is_post_only_and_deletes_the_session(site: Site) -> None:
    """GET /logout is refused; POST ends the session on the server."""
    client = site.user("ann@example.com")
    assert client.get(f"{BASE}/logout").status_code == 405
    response = client.post(f"{BASE}/logout")
    assert response.status_code == 303
    assert "cookies" in response.headers["Clear-Site-Data"]
    assert client.get(f"{BASE}/account").status_code == 303


def test_login_required_redirects_with_a_safe_next(site: Site) -> None:
    """An anonymous visitor is sent to sign in, and back afterwards."""
    response = site.client().get(f"{BASE}/account/sessions?x=1")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login?next=/account/sessions?x%3D1"


def test_forms_speak_to_password_managers(site: Site) -> None:
    """Identifier and password fields carry the autocomplete tokens managers read."""
    client = site.client()
    login = client.get(f"{BASE}/login").data
    assert b'autocomplete="username"' in login and b'autocomplete="current-password"' in login
    assert b'<label for="email">' in login
    register = client.get(f"{BASE}/register").data
    assert b'autocomplete="email"' in register and b'autocomplete="new-password"' in register


# Forgotten password


def test_reset_changes_the_password_revokes_sessions_and_does_not_sign_in(site: Site) -> None:
    """A reset link sets the password, signs every device out and signs nobody in."""
    other_device = site.user("ann@example.com")
    client = site.client()
    assert client.post(f"{BASE}/forgot", data={"email": "ann@example.com"}).status_code == 200
    link = site.last_link("ann@example.com", "/reset/")
    form = client.get(BASE + link)
    assert b'autocomplete="new-password"' in form.data
    assert b'autocomplete="username"' in form.data
    response = client.post(BASE + link, data={"password": OTHER_PASSWORD})
    assert response.headers["Location"].endswith("/login")
    assert other_device.get(f"{BASE}/account").status_code == 303  # signed out
    assert client.get(f"{BASE}/account").status_code == 303  # not signed in
    assert site.login(site.client(), "ann@example.com", GOOD_PASSWORD).status_code == 401
    assert site.login(site.client(), "ann@example.com", OTHER_PASSWORD).status_code == 303
    assert client.post(BASE + link, data={"password": OTHER_PASSWORD}).status_code == 400


def test_forgot_answers_alike_for_unknown_addresses_and_mails_nobody(site: Site) -> None:
    """The forgot form gives the same page for unknown addresses and sends nothing."""
    site.user("ann@example.com")
    known = site.client().post(f"{BASE}/forgot", data={"email": "ann@example.com"})
    unknown = site.client().post(f"{BASE}/forgot", data={"email": "bob@example.com"})
    assert (known.status_code, strip_volatile(known.data)) == (
        unknown.status_code,
        strip_volatile(unknown.data),
    )
    assert site.mails("bob@example.com") == []


def test_reset_link_expires_after_an_hour(site: Site) -> None:
    """A reset link older than its lifetime is refused."""
    site.user("ann@example.com")
    client = site.client()
    client.post(f"{BASE}/forgot", data={"email": "ann@example.com"})
    link = site.last_link("ann@example.com", "/reset/")
    site.clock.now += 3601
    assert client.get(BASE + link).status_code == 400
    assert client.post(BASE + link, data={"password": OTHER_PASSWORD}).status_code == 400


def test_reset_link_dies_when_the_password_changes_another_way(site: Site) -> None:
    """A password change voids reset links issued before it."""
    client = site.user("ann@example.com")
    site.client().post(f"{BASE}/forgot", data={"email": "ann@example.com"})
    link = site.last_link("ann@example.com", "/reset/")
    changed = client.post(
        f"{BASE}/account/password",
        data={"current_password": GOOD_PASSWORD, "new_password": OTHER_PASSWORD},
    )
    assert changed.status_code == 303
    assert site.client().get(BASE + link).status_code == 400


@pytest.mark.parametrize(
    "token",
    ["A" * 43, "short", "x" * 400, "%00", "../../etc/passwd"],
    ids=["forged", "short", "long", "nul", "traversal"],
)
def test_forged_links_are_refused(site: Site, token: str) -> None:
    """Forged or malformed tokens are a 400 (or 404 for paths), never a 500."""
    client = site.client()
    for path in ("/verify/", "/reset/", "/unlock/"):
        response = client.get(BASE + path + token)
        assert response.status_code in (400, 404)


def test_a_verification_token_is_not_a_reset_token(site: Site) -> None:
    """A token works only for its own purpose."""
    client = site.client()
    site.register(client, "ann@example.com")
    token = site.last_link("ann@example.com", "/verify/").rsplit("/", 1)[1]
    assert client.get(f"{BASE}/reset/{token}").status_code == 400


def test_tokens_are_stored_hashed(site: Site) -> None:
    """The table holds the SHA-256 of a mailed token, never the token."""
    site.register(site.client(), "ann@example.com")
    token = site.last_link("ann@example.com", "/verify/").rsplit("/", 1)[1]
    with site.app.app_context():
        [row] = accounts_state(site.app).db().scalars(sa.select(AccountToken))
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in repr(vars(row))


# Account pages


def test_sensitive_pages_ask_for_the_password_again_after_a_while(site: Site) -> None:
    """After the fresh window, /account/password sends the user to confirm first."""
    client = site.user("ann@example.com")
    site.clock.now += 601
    response = client.get(f"{BASE}/account/password")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/account/confirm?next=/account/password")
    confirmed = client.post(
        f"{BASE}/account/confirm", data={"password": GOOD_PASSWORD, "next": "/account/password"}
    )
    assert confirmed.headers["Location"] == "/account/password"
    assert client.get(f"{BASE}/account/password").status_code == 200


def test_password_change_needs_the_current_password_and_signs_out_others(site: Site) -> None:
    """The current password is required; other devices are signed out; a mail is sent."""
    client = site.user("ann@example.com")
    other = site.client()
    site.login(other, "ann@example.com")
    wrong = client.post(
        f"{BASE}/account/password",
        data={"current_password": "nope nope nope nope", "new_password": OTHER_PASSWORD},
    )
    assert wrong.status_code == 422
    right = client.post(
        f"{BASE}/account/password",
        data={"current_password": GOOD_PASSWORD, "new_password": OTHER_PASSWORD},
    )
    assert right.status_code == 303
    assert client.get(f"{BASE}/account").status_code == 200
    assert other.get(f"{BASE}/account").status_code == 303
    assert "Your password was changed" in [m["Subject"] for m in site.mails("ann@example.com")]


def test_email_change_confirms_the_new_address_and_tells_the_old(site: Site) -> None:
    """The new address confirms by link; the old one is told; sign-in uses the new one."""
    client = site.user("ann@example.com")
    response = client.post(f"{BASE}/account/email", data={"new_email": "ann@new.example"})
    assert response.status_code == 200
    assert users(site)[0].email == "ann@example.com"  # not until confirmed
    link = site.last_link("ann@new.example", "/account/email/")
    assert client.post(BASE + link).status_code == 303
    assert users(site)[0].email == "ann@new.example"
    old_subjects = [m["Subject"] for m in site.mails("ann@example.com")]
    assert "Your email address was changed" in old_subjects
    assert site.login(site.client(), "ann@new.example").status_code == 303


def test_devices_page_lists_and_revokes_sessions(site: Site) -> None:
    """Your devices lists both sessions and signs out the other one."""
    client = site.user("ann@example.com")
    other = site.client()
    site.login(other, "ann@example.com")
    listed = client.get(f"{BASE}/account/sessions", headers={"Accept": "application/json"})
    assert len(listed.json["sessions"]) == 2
    assert (
        client.post(f"{BASE}/account/sessions", data={"action": "revoke_others"}).status_code == 303
    )
    assert other.get(f"{BASE}/account").status_code == 303
    assert client.get(f"{BASE}/account").status_code == 200


def test_delete_account_removes_the_user_and_every_session(site: Site) -> None:
    """Deleting needs the password and removes the row and the sessions."""
    client = site.user("ann@example.com")
    response = client.post(f"{BASE}/account/delete", data={"current_password": GOOD_PASSWORD})
    assert response.status_code == 303
    assert users(site) == []
    assert client.get(f"{BASE}/account").status_code == 303


# Personal API tokens


def create_token(client: t.Any, scopes: list[str] | None = None, days: int = 30) -> str:
    response = client.post(
        f"{BASE}/account/tokens",
        data={"name": "backup", "scopes": scopes or ["api"], "days": str(days)},
    )
    assert response.status_code == 201
    [token] = re.findall(rb"bst_[A-Za-z0-9_-]{43}", response.data)
    return token.decode()


def test_api_token_signs_in_a_bearer_request_without_a_cookie(site: Site) -> None:
    """A bearer token reaches the API as its user, and no cookie is ever set."""
    token = create_token(site.user("ann@example.com"))
    api = site.app.test_client()
    response = api.get(f"{BASE}/api/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json["email"] == "ann@example.com"
    assert "Set-Cookie" not in response.headers


def test_bearer_requests_are_not_subject_to_csrf(site: Site) -> None:
    """A POST with a bearer token passes without Origin or token, even cross-site."""
    token = create_token(site.user("ann@example.com"))
    response = site.app.test_client().post(
        f"{BASE}/api/echo",
        json={"a": 1},
        headers={"Authorization": f"Bearer {token}", "Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 200
    assert response.json == {"got": {"a": 1}}


@pytest.mark.parametrize(
    "header",
    ["Bearer bst_" + "A" * 43, "Bearer nonsense", "Bearer ", "bearer bst_x"],
    ids=["unknown", "malformed", "empty", "short"],
)
def test_invalid_bearer_tokens_get_401(site: Site, header: str) -> None:
    """A bad bearer token is a 401 with an RFC 6750 challenge and no cookie."""
    response = site.app.test_client().get(f"{BASE}/api/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert "invalid_token" in response.headers["WWW-Authenticate"]
    assert "Set-Cookie" not in response.headers


def test_revoked_and_expired_tokens_stop_working(site: Site) -> None:
    """Revocation and expiry both end a token."""
    client = site.user("ann@example.com")
    token = create_token(client, days=1)
    api = site.app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    assert api.get(f"{BASE}/api/me", headers=auth).status_code == 200
    site.clock.now += 86_401
    assert api.get(f"{BASE}/api/me", headers=auth).status_code == 401
    site.clock.now -= 86_401
    listed = client.get(f"{BASE}/account/tokens", headers={"Accept": "application/json"})
    [row] = listed.json["tokens"]
    assert token not in listed.get_data(as_text=True)
    client.post(f"{BASE}/account/tokens", data={"action": "revoke", "id": row["id"]})
    assert api.get(f"{BASE}/api/me", headers=auth).status_code == 401


def test_a_user_cannot_revoke_another_users_token(site: Site) -> None:
    """Revoking a token ID that belongs to someone else is a 404."""
    token = create_token(site.user("ann@example.com"))
    bob = site.user("bob@example.com")
    with site.app.app_context():
        [row] = accounts_state(site.app).db().scalars(sa.select(ApiToken))
        token_id = row.id
    response = bob.post(f"{BASE}/account/tokens", data={"action": "revoke", "id": token_id})
    assert response.status_code == 404
    api = site.app.test_client()
    assert (
        api.get(f"{BASE}/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    )


def test_api_tokens_are_stored_hashed_with_a_visible_prefix(site: Site) -> None:
    """The table holds the hash and the first characters only."""
    token = create_token(site.user("ann@example.com"))
    with site.app.app_context():
        [row] = accounts_state(site.app).db().scalars(sa.select(ApiToken))
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert row.prefix == token[:12]


def test_token_scopes_are_enforced(site: Site, smtp_server: t.Any, tmp_path: t.Any) -> None:
    """A token without the view's scope gets 403."""
    scoped = make_site(
        smtp_server,
        accounts={"scopes": {"api": "all", "read": "read only"}},
        BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/b.db",
    )
    token = create_token(scoped.user("ann@example.com"), scopes=["read"])
    response = scoped.app.test_client().get(
        f"{BASE}/api/me", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403


def test_signals_fire_for_account_events(site: Site) -> None:
    """Sign-in, failure, sign-out and token creation each send their signal."""
    seen: list[str] = []

    def record(name: str) -> t.Any:
        return lambda sender, **extra: seen.append(name)

    receivers = {
        "in": signals.user_logged_in,
        "failed": signals.login_failed,
        "out": signals.user_logged_out,
        "token": signals.api_token_created,
    }
    handlers = {name: record(name) for name in receivers}
    for name, signal in receivers.items():
        signal.connect(handlers[name], site.app)
    client = site.user("ann@example.com")
    site.login(site.client(), "ann@example.com", OTHER_PASSWORD)
    create_token(client)
    client.post(f"{BASE}/logout")
    assert {"in", "failed", "out", "token"} <= set(seen)


# Configuration and edges


def test_features_switch_views_off(smtp_server: t.Any, tmp_path: t.Any) -> None:
    """With no optional features only sign-in, sign-out and the account core remain."""
    bare = make_site(
        smtp_server,
        BASTION_ACCOUNTS_FEATURES=[],
        BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/f.db",
    )
    client = bare.client()
    for path in ("/register", "/forgot", "/account/tokens", "/account/sessions", "/account/delete"):
        assert client.get(BASE + path).status_code == 404, path
    login = client.get(f"{BASE}/login")
    assert login.status_code == 200
    assert b'href="/register"' not in login.data and b'href="/forgot"' not in login.data


def test_url_prefix_moves_every_view(smtp_server: t.Any, tmp_path: t.Any) -> None:
    """BASTION_ACCOUNTS_URL_PREFIX puts the views under a path."""
    moved = make_site(
        smtp_server,
        BASTION_ACCOUNTS_URL_PREFIX="/auth",
        BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/p.db",
    )
    client = moved.client()
    assert client.get(f"{BASE}/auth/login").status_code == 200
    assert client.get(f"{BASE}/login").status_code == 404
    assert client.get(f"{BASE}/auth/account").headers["Location"].startswith("/auth/login?")


def test_accounts_default_to_the_application_database(smtp_server: t.Any, tmp_path: t.Any) -> None:
    """Without BASTION_ACCOUNTS_DATABASE_URL the tables go to DATABASE_URL."""
    url = f"sqlite:///{tmp_path}/app.db"
    default = make_site(smtp_server, DATABASE_URL=url)
    default.register(default.client(), "ann@example.com")
    default.mails()  # the account is stored after the response
    tables = sa.inspect(sa.create_engine(url)).get_table_names()
    assert {"bastion_users", "bastion_account_tokens", "bastion_api_tokens"} <= set(tables)


def test_accounts_without_the_blueprint_keep_the_functions(
    smtp_server: t.Any, tmp_path: t.Any
) -> None:
    """Accounts(blueprint=False) registers no view; current_user still works."""
    own = make_site(
        smtp_server,
        accounts={"blueprint": False},
        BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/n.db",
    )
    assert "bastion_accounts.login" not in own.app.view_functions
    with own.app.test_request_context(BASE):
        from flask_bastion.accounts import current_user

        assert not current_user.is_authenticated
        assert current_user.get_id() is None and not current_user


def test_a_deactivated_user_is_signed_out_on_the_next_request(site: Site) -> None:
    """Setting active=False ends the user's sessions at their next request."""
    client = site.user("ann@example.com")
    with site.app.app_context():
        db = accounts_state(site.app).db()
        db.scalars(sa.select(User)).one().active = False
        db.commit()
    assert client.get(f"{BASE}/account").status_code == 303
    assert site.login(site.client(), "ann@example.com").status_code == 401


def test_json_sign_in_returns_the_user(site: Site) -> None:
    """A JSON client signs in with a JSON body and gets the user back."""
    site.user("ann@example.com")
    client = site.client()
    response = client.post(
        f"{BASE}/login",
        json={"email": "ann@example.com", "password": GOOD_PASSWORD},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.json["user"]["email"] == "ann@example.com"
    me = client.get(f"{BASE}/account", headers={"Accept": "application/json"})
    assert me.json["user"]["email_verified"] is True


def test_json_clients_get_401_instead_of_redirects(site: Site) -> None:
    """login_required and fresh_login_required answer 401 to a JSON client."""
    anonymous = site.client().get(f"{BASE}/account", headers={"Accept": "application/json"})
    assert anonymous.status_code == 401
    assert anonymous.mimetype == "application/problem+json"
    client = site.user("ann@example.com")
    site.clock.now += 601
    stale = client.get(f"{BASE}/account/tokens", headers={"Accept": "application/json"})
    assert stale.status_code == 401


@pytest.mark.parametrize(
    "data",
    [{}, {"email": "ann@example.com"}, {"password": "x"}, {"email": "a" * 300, "password": "x"}],
    ids=["nothing", "no-password", "no-email", "long-email"],
)
def test_incomplete_sign_in_forms_are_422(site: Site, data: dict[str, str]) -> None:
    """Missing or oversized fields are a 422 with the fields named, never a 500."""
    response = site.client().post(f"{BASE}/login", data=data)
    assert response.status_code == 422


def test_confirm_refuses_a_wrong_password(site: Site) -> None:
    """Re-authentication with the wrong password is a 401 and keeps the page stale."""
    client = site.user("ann@example.com")
    site.clock.now += 601
    response = client.post(f"{BASE}/account/confirm", data={"password": OTHER_PASSWORD})
    assert response.status_code == 401
    assert client.get(f"{BASE}/account/password").status_code == 303
    assert client.post(f"{BASE}/account/confirm", data={}).status_code == 422


def test_delete_needs_the_right_password(site: Site) -> None:
    """A wrong password keeps the account."""
    client = site.user("ann@example.com")
    response = client.post(f"{BASE}/account/delete", data={"current_password": OTHER_PASSWORD})
    assert response.status_code == 422
    assert len(users(site)) == 1
    assert client.get(f"{BASE}/account/delete").status_code == 200


def test_email_change_to_a_taken_address_answers_alike(site: Site) -> None:
    """Moving to a taken address looks the same; its owner hears of it; no link is sent."""
    site.user("bob@example.com")
    client = site.user("ann@example.com")
    client.get(f"{BASE}/account")  # shows, and so clears, the flash of the verification
    free = client.post(f"{BASE}/account/email", data={"new_email": "ann2@example.com"})
    taken = client.post(f"{BASE}/account/email", data={"new_email": "bob@example.com"})
    assert (free.status_code, strip_volatile(free.data)) == (
        taken.status_code,
        strip_volatile(taken.data),
    )
    subjects = [m["Subject"] for m in site.mails("bob@example.com")]
    assert "Someone tried to use your email address" in subjects
    with pytest.raises(AssertionError):
        site.last_link("bob@example.com", "/account/email/")


@pytest.mark.parametrize(
    ("data", "field"),
    [({"new_email": "ann@example.com"}, "new_email"), ({"new_email": "nope"}, "new_email")],
    ids=["same-address", "invalid"],
)
def test_email_change_refuses_bad_addresses(site: Site, data: dict[str, str], field: str) -> None:
    """The current address or an invalid one is a field error."""
    client = site.user("ann@example.com")
    response = client.post(
        f"{BASE}/account/email", data=data, headers={"Accept": "application/json"}
    )
    assert response.status_code == 422
    assert field in response.json["errors"]


def test_devices_page_refuses_unknown_devices_and_actions(site: Site) -> None:
    """Revoking a device that is not yours is a 404; an unknown action a 400."""
    client = site.user("ann@example.com")
    page = client.get(f"{BASE}/account/sessions")
    assert page.status_code == 200 and b"(this device)" in page.data
    unknown = client.post(f"{BASE}/account/sessions", data={"action": "revoke", "key": "nope"})
    assert unknown.status_code == 404
    assert client.post(f"{BASE}/account/sessions", data={"action": "x"}).status_code == 400


def test_devices_page_signs_out_one_device(site: Site) -> None:
    """Revoking another device by its key signs it out."""
    client = site.user("ann@example.com")
    other = site.client()
    site.login(other, "ann@example.com")
    listed = client.get(f"{BASE}/account/sessions", headers={"Accept": "application/json"})
    [key] = [s["key"] for s in listed.json["sessions"] if not s["current"]]
    response = client.post(f"{BASE}/account/sessions", data={"action": "revoke", "key": key})
    assert response.status_code == 303
    assert other.get(f"{BASE}/account").status_code == 303


@pytest.mark.parametrize(
    "data",
    [
        {"name": "x", "scopes": ["nope"], "days": "30"},
        {"name": "x", "days": "30"},
        {"name": "x", "scopes": ["api"], "days": "0"},
        {"name": "x", "scopes": ["api"], "days": "100000"},
        {"name": "x", "scopes": ["api"], "days": "soon"},
        {"name": "", "scopes": ["api"], "days": "30"},
    ],
    ids=["unknown-scope", "no-scope", "zero-days", "too-many-days", "words", "no-name"],
)
def test_token_form_refuses_bad_input(site: Site, data: dict[str, t.Any]) -> None:
    """Bad scopes, lifetimes or names are a 422, and no token is made."""
    client = site.user("ann@example.com")
    response = client.post(f"{BASE}/account/tokens", data=data)
    assert response.status_code == 422
    assert b"bst_" not in response.data
    with site.app.app_context():
        assert list(accounts_state(site.app).db().scalars(sa.select(ApiToken))) == []


def test_token_form_takes_json(site: Site) -> None:
    """A JSON client creates a token with a JSON body and sees it once."""
    client = site.user("ann@example.com")
    response = client.post(
        f"{BASE}/account/tokens",
        json={"name": "ci", "scopes": ["api"], "days": 7},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 201
    assert response.json["token"].startswith("bst_")
    bad = client.post(
        f"{BASE}/account/tokens",
        json={"name": "ci", "scopes": "api", "days": 7},
        headers={"Accept": "application/json"},
    )
    assert bad.status_code == 422


def test_verify_link_get_and_bad_post(site: Site) -> None:
    """A bad verification link is a 400 on GET and on POST."""
    client = site.client()
    assert client.get(f"{BASE}/verify/{'A' * 43}").status_code == 400
    assert client.post(f"{BASE}/verify/{'A' * 43}").status_code == 400


def test_account_events_are_logged_without_addresses(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """Sign-in, failure and sign-out each write a security log line naming the user by ID
    only."""
    caplog.set_level("DEBUG", logger="flask_bastion.security")
    client = site.user("ann@example.com")
    site.login(site.client(), "ann@example.com", OTHER_PASSWORD)
    client.post(f"{BASE}/logout")
    events = {r.event: r for r in caplog.records if hasattr(r, "event")}  # type: ignore[attr-defined]
    assert {"accounts.registered", "accounts.logged_in", "accounts.login_failed"} <= set(events)
    assert "accounts.logged_out" in events
    assert events["accounts.logged_in"].user_id == users(site)[0].get_id()  # type: ignore[attr-defined]
    assert events["accounts.login_failed"].reason == "password"  # type: ignore[attr-defined]
    assert all("ann@example.com" not in r.getMessage() for r in caplog.records)
    assert all("ann@example.com" not in str(vars(r)) for r in caplog.records if hasattr(r, "event"))


def test_a_refused_password_comes_with_strength_advice(site: Site) -> None:
    """Besides the rules it breaks, a refused password gets the estimator's advice, as
    guidance beside the field (HTML) and under ``hints`` (JSON)."""
    page = site.client().post(
        f"{BASE}/register", data={"email": "ann@example.com", "password": "password1"}
    )
    assert page.status_code == 422
    assert b'id="password-advice"' in page.data
    document = site.client().post(
        f"{BASE}/register",
        json={"email": "ann@example.com", "password": "password1"},
        headers={"Accept": "application/json"},
    )
    assert document.json["hints"]["password"]
    accepted = site.register(site.client(), "bob@example.com")
    assert accepted.status_code == 200
