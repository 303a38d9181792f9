"""Two-factor sign-in and the two-factor account pages end to end: the half-signed-in
session and its hold, codes from the injected clock, replay, the attempt limit and the
lockout, expiry, recovery codes with a real mail, enrolment (forced by role), JSON."""

from __future__ import annotations

import re
import typing as t
from collections.abc import Iterator

import pyotp
import pytest
import sqlalchemy as sa

from flask_bastion import signals
from flask_bastion.accounts import User, accounts_state
from flask_bastion.accounts.second_factor import ENDED, EXPIRED, MAX_TRIES, PENDING_TTL
from flask_bastion.accounts.services import throttle_for
from flask_bastion.accounts.signin import LOGIN_FAILED
from flask_bastion.authz import define_role, grant_role
from flask_bastion.mfa import TotpCredential, totp_enabled
from flask_bastion.mfa.models import RememberedBrowser
from flask_bastion.mfa.remember import COOKIE_NAME, REMEMBER_DAYS

from .accounts_helpers import BASE, GOOD_PASSWORD, OTHER_PASSWORD, Site, make_site

JSON = {"Accept": "application/json"}
SECRET_RE = re.compile(rb'id="totp-secret">([A-Z2-7]{32})<')
CODE_RE = re.compile(rb"[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}")
EMAIL = "ann@example.com"


@pytest.fixture
def site(smtp_server: t.Any, tmp_path: t.Any) -> Iterator[Site]:
    made = make_site(smtp_server, BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/a.db")
    yield made
    made.mails()  # the background worker is done before the server stops


def code(site: Site, secret: str) -> str:
    """The code the authenticator app shows now, on the site's clock."""
    return pyotp.TOTP(secret).at(site.clock.now)


def enrol(site: Site, client: t.Any) -> tuple[str, list[str]]:
    """Set up an authenticator for the signed-in ``client``: the secret and the codes."""
    page = client.get(f"{BASE}/account/mfa/totp")
    assert page.status_code == 200
    secret = SECRET_RE.search(page.data)
    assert secret is not None
    found = secret.group(1).decode()
    done = client.post(f"{BASE}/account/mfa/totp", data={"code": code(site, found)})
    assert done.status_code == 200
    return found, [c.decode() for c in CODE_RE.findall(done.data)]


def with_mfa(site: Site) -> tuple[t.Any, str, list[str]]:
    """A signed-out client of a user with an authenticator; the next code is a new step."""
    client = site.user(EMAIL)
    secret, codes = enrol(site, client)
    assert client.post(f"{BASE}/logout").status_code == 303
    site.clock.now += 30
    return site.client(), secret, codes


def half_signed_in(site: Site) -> tuple[t.Any, str, list[str]]:
    """A client past the password of a user with an authenticator, awaiting the code."""
    client, secret, codes = with_mfa(site)
    response = site.login(client, EMAIL)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/login/verify")
    return client, secret, codes


def verify(client: t.Any, value: str, field: str = "code") -> t.Any:
    return client.post(f"{BASE}/login/verify", data={field: value})


def user_row(site: Site) -> User:
    with site.app.app_context():
        return accounts_state(site.app).db().scalars(sa.select(User)).one()


# The second step of sign-in


def test_the_password_alone_does_not_sign_in_an_account_with_a_second_factor(
    site: Site,
) -> None:
    """Past the password, the session is only half signed in: /account is held."""
    client, _, _ = half_signed_in(site)
    response = client.get(f"{BASE}/account")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/login/verify")


def test_the_code_page_asks_for_a_one_time_code(site: Site) -> None:
    """The code field is labelled, numeric and one-time-code; a recovery field is there."""
    client, _, _ = half_signed_in(site)
    page = client.get(f"{BASE}/login/verify")
    assert page.status_code == 200
    assert b'<label for="code">' in page.data
    assert b'autocomplete="one-time-code"' in page.data
    assert b'inputmode="numeric"' in page.data
    assert b'name="recovery_code"' in page.data


def test_a_right_code_signs_in_and_continues_to_the_account(site: Site) -> None:
    """The code from the app (at the injected clock) finishes the sign-in."""
    client, secret, _ = half_signed_in(site)
    with signals.user_logged_in.connected_to(
        lambda sender, **kw: seen.append(kw["method"]), site.app
    ):
        seen: list[str] = []
        response = verify(client, code(site, secret))
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/account")
    assert client.get(f"{BASE}/account").status_code == 200
    assert seen == ["totp"]


def test_the_sign_in_returns_to_the_page_it_started_from(site: Site) -> None:
    """The ``next`` of the sign-in survives the second step."""
    client, secret, _ = with_mfa(site)
    client.post(
        f"{BASE}/login", data={"email": EMAIL, "password": GOOD_PASSWORD, "next": "/account/mfa"}
    )
    response = verify(client, code(site, secret))
    assert response.headers["Location"].endswith("/account/mfa")


def test_a_code_is_accepted_once(site: Site) -> None:
    """The same code, in the same step, does not finish a second sign-in (replay)."""
    client, secret, _ = half_signed_in(site)
    used = code(site, secret)
    assert verify(client, used).status_code == 303
    client.post(f"{BASE}/logout")
    assert site.login(client, EMAIL).status_code == 303
    response = verify(client, used)
    assert response.status_code == 401
    assert b'id="code-error"' in response.data


def test_a_wrong_code_is_refused_beside_the_field(site: Site) -> None:
    """A wrong code is a 401 with the error next to the field, and mfa_failed is sent."""
    client, _, _ = half_signed_in(site)
    with signals.mfa_failed.connected_to(lambda sender, **kw: seen.append(kw["method"]), site.app):
        seen: list[str] = []
        response = verify(client, "000000")
    assert response.status_code == 401
    assert b'id="code-error"' in response.data
    assert seen == ["totp"]


def test_an_empty_code_is_a_field_error(site: Site) -> None:
    """No code at all is a 422, not a counted attempt."""
    client, _, _ = half_signed_in(site)
    assert verify(client, "").status_code == 422


def test_five_wrong_codes_end_the_attempt(site: Site) -> None:
    """The fifth wrong code clears the half-signed-in state: back to the password."""
    client, secret, _ = half_signed_in(site)
    for _ in range(MAX_TRIES - 1):
        assert verify(client, "000000").status_code == 401
    ended = verify(client, "000000")
    assert ended.status_code == 303
    assert ended.headers["Location"].endswith("/login")
    assert ENDED.encode() in client.get(f"{BASE}/login").data
    after = verify(client, code(site, secret))  # the right code, too late
    assert after.headers["Location"].endswith("/login")
    assert client.get(f"{BASE}/account").headers["Location"].startswith("/login?")


def test_wrong_codes_count_in_the_account_lockout(site: Site) -> None:
    """Every wrong code is a failed sign-in of the account for the throttle."""
    client, _, _ = half_signed_in(site)
    for _ in range(3):
        verify(client, "000000")
    with site.app.app_context():
        assert throttle_for().status(EMAIL).failures == 3


def test_a_locked_account_ends_the_attempt(site: Site) -> None:
    """When the account is locked meanwhile, a code is not even checked."""
    client, secret, _ = half_signed_in(site)
    with site.app.test_request_context():
        throttle = throttle_for()
        for _ in range(12):
            if throttle.check(EMAIL, "203.0.113.9").allowed:
                throttle.failed(EMAIL, "203.0.113.9")
            site.clock.now += 17  # past each short delay, within the five minutes
        assert throttle.status(EMAIL).locked
    response = verify(client, code(site, secret))
    assert response.headers["Location"].endswith("/login")
    assert LOGIN_FAILED.encode() in client.get(f"{BASE}/login").data


def test_the_half_signed_in_state_expires_after_five_minutes(site: Site) -> None:
    """A right code after the deadline sends the user back to the password."""
    client, secret, _ = half_signed_in(site)
    site.clock.now += PENDING_TTL + 1
    response = verify(client, code(site, secret))
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/login")
    assert EXPIRED.encode() in client.get(f"{BASE}/login").data


def test_the_code_page_without_a_pending_sign_in_goes_to_the_login(site: Site) -> None:
    """Nobody half signed in: /login/verify sends to /login."""
    response = site.client().get(f"{BASE}/login/verify")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/login")


def test_a_half_signed_in_session_reaches_no_other_page(site: Site) -> None:
    """Every GET route except the code page and static files redirects to the code page."""
    client, _, _ = half_signed_in(site)
    allowed = {"bastion_accounts.login_verify", "static"}
    checked = 0
    for rule in site.app.url_map.iter_rules():
        if "GET" not in (rule.methods or set()) or rule.endpoint in allowed:
            continue
        path = re.sub(r"<[^>]+>", "1", rule.rule)
        response = client.get(BASE + path)
        assert response.status_code == 303, path
        assert response.headers["Location"].endswith("/login/verify"), path
        checked += 1
    assert checked > 10


def test_a_half_signed_in_session_can_sign_out(site: Site) -> None:
    """Sign-out ends the half-signed-in state."""
    client, _, _ = half_signed_in(site)
    assert client.post(f"{BASE}/logout").status_code == 303
    assert client.get(f"{BASE}/login").status_code == 200


def test_a_deleted_account_ends_the_attempt(site: Site) -> None:
    """The account went away between the password and the code: back to the password."""
    client, secret, _ = half_signed_in(site)
    with site.app.app_context():
        db = accounts_state(site.app).db()
        db.execute(sa.update(User).values(active=False))
        db.commit()
    assert verify(client, code(site, secret)).headers["Location"].endswith("/login")


def test_an_account_that_must_change_its_password_goes_there_after_the_code(
    site: Site,
) -> None:
    """The second factor comes first, then the one-time password's hold."""
    client, secret, _ = with_mfa(site)
    with site.app.app_context():
        db = accounts_state(site.app).db()
        db.execute(sa.update(User).values(must_change_password=True))
        db.commit()
    site.login(client, EMAIL)
    response = verify(client, code(site, secret))
    assert response.headers["Location"].endswith("/account/password")


# Recovery codes at sign-in


def test_a_recovery_code_signs_in_once_and_mails_the_owner(site: Site) -> None:
    """A recovery code finishes the sign-in, is spent, and its owner is told by email."""
    client, _, codes = half_signed_in(site)
    response = verify(client, codes[0].upper().replace("-", " "), "recovery_code")
    assert response.status_code == 303
    assert client.get(f"{BASE}/account").status_code == 200
    [mail] = [m for m in site.mails(EMAIL) if "recovery code" in m["Subject"]]
    assert "9 recovery codes left" in mail.get_body(("plain",)).get_content()
    client.post(f"{BASE}/logout")
    site.login(client, EMAIL)
    assert verify(client, codes[0], "recovery_code").status_code == 401


# The account pages


def test_the_enrolment_page_shows_an_inline_svg_and_the_secret(site: Site) -> None:
    """The QR code is inline SVG that needs nothing the strict CSP forbids."""
    client = site.user(EMAIL)
    page = client.get(f"{BASE}/account/mfa/totp")
    assert page.status_code == 200
    assert SECRET_RE.search(page.data)
    svg = re.search(rb"<svg.*?</svg>", page.data, re.S)
    assert svg is not None
    assert b"style" not in svg.group(0) and b"<script" not in svg.group(0)
    assert b"href" not in svg.group(0)
    csp = page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp
    assert page.headers["Cache-Control"] == "no-store"


def test_enrolment_shows_the_recovery_codes_once_without_caching(site: Site) -> None:
    """Confirming shows ten codes with no-store; the overview shows only their count."""
    client = site.user(EMAIL)
    page = client.get(f"{BASE}/account/mfa/totp")
    secret = SECRET_RE.search(page.data)
    assert secret is not None
    done = client.post(
        f"{BASE}/account/mfa/totp", data={"code": code(site, secret.group(1).decode())}
    )
    assert done.status_code == 200
    assert done.headers["Cache-Control"] == "no-store"
    codes = CODE_RE.findall(done.data)
    assert len(set(codes)) == 10
    overview = client.get(f"{BASE}/account/mfa")
    assert b"Recovery codes left: <strong>10</strong>" in overview.data
    assert not CODE_RE.search(overview.data)
    assert user_row(site) is not None
    with site.app.app_context():
        assert totp_enabled(user_row(site))


def test_a_wrong_enrolment_code_keeps_the_same_secret(site: Site) -> None:
    """A wrong code is a 422 beside the field, and the page shows the pending secret."""
    client = site.user(EMAIL)
    first = SECRET_RE.search(client.get(f"{BASE}/account/mfa/totp").data)
    response = client.post(f"{BASE}/account/mfa/totp", data={"code": "000000"})
    assert response.status_code == 422
    assert b'id="code-error"' in response.data
    again = SECRET_RE.search(response.data)
    assert first is not None and again is not None and first.group(1) == again.group(1)


def test_the_enrolment_page_of_an_enrolled_account_goes_to_the_overview(site: Site) -> None:
    """An account with an app cannot enrol a second one over it."""
    client = site.user(EMAIL)
    enrol(site, client)
    response = client.get(f"{BASE}/account/mfa/totp")
    assert response.headers["Location"].endswith("/account/mfa")


def test_new_recovery_codes_are_shown_once_and_replace_the_old(site: Site) -> None:
    """Regenerating shows ten new codes (no-store); an old code no longer signs in."""
    client = site.user(EMAIL)
    _, old = enrol(site, client)
    response = client.post(f"{BASE}/account/mfa/recovery")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    new = CODE_RE.findall(response.data)
    assert len(new) == 10 and old[0].encode() not in new
    client.post(f"{BASE}/logout")
    site.clock.now += 30
    site.login(client, EMAIL)
    assert verify(client, old[0], "recovery_code").status_code == 401
    assert verify(client, new[0].decode(), "recovery_code").status_code == 303


def test_new_recovery_codes_need_an_authenticator(site: Site) -> None:
    """Without an app there is nothing to recover: 409."""
    client = site.user(EMAIL)
    assert client.post(f"{BASE}/account/mfa/recovery").status_code == 409


def test_turning_the_second_factor_off_signs_in_with_the_password_again(site: Site) -> None:
    """After disabling, the password alone signs in; mfa_disabled is sent."""
    client = site.user(EMAIL)
    enrol(site, client)
    with signals.mfa_disabled.connected_to(lambda sender, **kw: seen.append(1), site.app):
        seen: list[int] = []
        response = client.post(f"{BASE}/account/mfa/disable")
    assert response.headers["Location"].endswith("/account/mfa")
    assert seen == [1]
    assert b"Off:" in client.get(f"{BASE}/account/mfa").data
    client.post(f"{BASE}/logout")
    assert site.login(client, EMAIL).headers["Location"].endswith("/account")


def test_the_pages_need_a_fresh_sign_in(site: Site) -> None:
    """Past the fresh window, the pages ask for the password first."""
    client = site.user(EMAIL)
    site.clock.now += 3600
    for path in ("/account/mfa", "/account/mfa/totp"):
        response = client.get(BASE + path)
        assert response.headers["Location"].startswith("/account/confirm"), path


def test_the_pages_refuse_a_bearer_token(site: Site) -> None:
    """A bearer request never reaches the two-factor pages."""
    client = site.client()
    response = client.get(f"{BASE}/account/mfa", headers={"Authorization": "Bearer bst_x"})
    assert response.status_code == 401


def test_has_second_factor_follows_the_enrolment(site: Site) -> None:
    """UserMixin.has_second_factor is True once an app is confirmed, False once off."""
    client = site.user(EMAIL)
    with site.app.app_context():
        assert user_row(site).has_second_factor is False
    enrol(site, client)
    with site.app.app_context():
        user = user_row(site)
        assert user.has_second_factor is True
        from flask_bastion.mfa import disable_mfa

        disable_mfa(user)
        assert user.has_second_factor is False


def test_mfa_events_are_logged_without_secrets(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """Enrolment and a wrong code write mfa.* events naming the user by ID only."""
    caplog.set_level("INFO", logger="flask_bastion.security")
    client, _, _ = half_signed_in(site)
    verify(client, "000000")
    events = {getattr(r, "event", None) for r in caplog.records}
    assert {"mfa.enabled", "mfa.recovery_codes_generated", "mfa.failed"} <= events
    assert all(EMAIL not in str(vars(r)) for r in caplog.records if hasattr(r, "event"))


# A role that must use a second factor


def admin(site: Site) -> t.Any:
    """A signed-out client of a user with the role ``admin``."""
    client = site.user(EMAIL)
    client.post(f"{BASE}/logout")
    with site.app.app_context():
        define_role("admin")
        grant_role(user_row(site), "admin")
    return client


def test_a_role_that_needs_a_second_factor_is_held_on_the_enrolment_page(site: Site) -> None:
    """An admin without an app reaches nothing but the enrolment page."""
    client = admin(site)
    site.login(client, EMAIL)
    for path in ("/account", "/account/password", "/account/mfa", "/account/sessions"):
        response = client.get(BASE + path)
        assert response.status_code == 303, path
        assert response.headers["Location"].endswith("/account/mfa/totp"), path
    page = client.get(f"{BASE}/account/mfa/totp")
    assert b"Your role needs a second factor" in page.data


def test_the_enrolment_hold_ends_once_an_app_is_confirmed(site: Site) -> None:
    """After enrolling, the admin reaches the account pages."""
    client = admin(site)
    site.login(client, EMAIL)
    enrol(site, client)
    assert client.get(f"{BASE}/account").status_code == 200


def test_turning_it_off_puts_the_role_back_on_the_enrolment_page(site: Site) -> None:
    """An admin who disables the app is held on the enrolment page at once."""
    client = admin(site)
    site.login(client, EMAIL)
    enrol(site, client)
    response = client.post(f"{BASE}/account/mfa/disable")
    assert response.headers["Location"].endswith("/account/mfa/totp")
    assert client.get(f"{BASE}/account").headers["Location"].endswith("/account/mfa/totp")


def test_no_hold_when_no_role_needs_a_second_factor(smtp_server: t.Any, tmp_path: t.Any) -> None:
    """With an empty BASTION_ACCOUNTS_MFA_REQUIRED_ROLES an admin signs in as before."""
    site = make_site(
        smtp_server,
        BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/a.db",
        BASTION_ACCOUNTS_MFA_REQUIRED_ROLES=[],
    )
    client = admin(site)
    site.login(client, EMAIL)
    assert client.get(f"{BASE}/account").status_code == 200
    site.mails()


# JSON clients


def call(client: t.Any, path: str, body: dict[str, t.Any] | None = None) -> t.Any:
    if body is None:
        return client.get(BASE + path, headers=JSON)
    return client.post(BASE + path, json=body, headers=JSON)


def test_json_clients_sign_in_in_two_steps(site: Site) -> None:
    """200 {"mfa_required": true}, 401 for other URLs, problem documents, then the user."""
    client, secret, _ = with_mfa(site)
    login = call(client, "/login", {"email": EMAIL, "password": GOOD_PASSWORD})
    assert login.status_code == 200
    assert login.json == {"mfa_required": True, "verify_url": "/login/verify"}
    assert call(client, "/account").status_code == 401
    assert call(client, "/login/verify").json == {"mfa_required": True}
    wrong = call(client, "/login/verify", {"code": "000000"})
    assert wrong.status_code == 401
    assert wrong.mimetype == "application/problem+json"
    assert "code" in wrong.json["errors"]
    right = call(client, "/login/verify", {"code": code(site, secret)})
    assert right.status_code == 200
    assert right.json["user"]["email"] == EMAIL
    assert call(client, "/account").status_code == 200


def test_json_clients_learn_that_the_attempt_expired(site: Site) -> None:
    """An expired attempt is a 401 problem document without field errors."""
    client, secret, _ = with_mfa(site)
    call(client, "/login", {"email": EMAIL, "password": GOOD_PASSWORD})
    site.clock.now += PENDING_TTL + 1
    expired = call(client, "/login/verify", {"code": code(site, secret)})
    assert expired.status_code == 401
    assert expired.json["title"] == EXPIRED
    assert "errors" not in expired.json


def test_json_enrolment_returns_the_secret_and_the_codes(site: Site) -> None:
    """The enrolment page gives a JSON client the secret and URI, then the codes."""
    client = site.user(EMAIL)
    page = call(client, "/account/mfa/totp")
    assert page.json["uri"].startswith("otpauth://totp/")
    done = call(client, "/account/mfa/totp", {"code": code(site, page.json["secret"])})
    assert len(done.json["recovery_codes"]) == 10
    assert call(client, "/account/mfa").json == {"totp": True, "recovery_codes_left": 10}
    with site.app.app_context():
        row = accounts_state(site.app).db().scalars(sa.select(TotpCredential)).one()
        assert row.confirmed_at == site.clock.now


def test_an_empty_enrolment_code_is_a_field_error(site: Site) -> None:
    """Confirming without a code is a 422 beside the field."""
    client = site.user(EMAIL)
    client.get(f"{BASE}/account/mfa/totp")
    response = client.post(f"{BASE}/account/mfa/totp", data={"code": ""})
    assert response.status_code == 422
    assert b'id="code-error"' in response.data


def test_wrong_codes_that_lock_the_account_mail_the_unlock_link(
    smtp_server: t.Any, tmp_path: t.Any
) -> None:
    """The wrong code that sets the lock sends its owner the unlock link."""
    site = make_site(
        smtp_server,
        BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/a.db",
        BASTION_LOCKOUT_FREE_ATTEMPTS=3,
        BASTION_LOCKOUT_THRESHOLD=3,
    )
    client, _, _ = half_signed_in(site)
    for _ in range(3):
        verify(client, "000000")
    assert site.last_link(EMAIL, "/unlock/")


def test_an_admin_with_a_one_time_password_changes_it_then_enrols(site: Site) -> None:
    """The password hold comes first; the enrolment hold follows it."""
    client = admin(site)
    with site.app.app_context():
        db = accounts_state(site.app).db()
        db.execute(sa.update(User).values(must_change_password=True))
        db.commit()
    assert site.login(client, EMAIL).headers["Location"].endswith("/account/password")
    assert client.get(f"{BASE}/account").headers["Location"].endswith("/account/password")
    changed = client.post(
        f"{BASE}/account/password",
        data={"current_password": GOOD_PASSWORD, "new_password": OTHER_PASSWORD},
    )
    assert changed.status_code == 303
    assert client.get(f"{BASE}/account").headers["Location"].endswith("/account/mfa/totp")


# Remember this browser


def remembered(site: Site) -> tuple[t.Any, str, t.Any]:
    """A signed-out client that ticked "remember this browser"; the response that set it."""
    client, secret, _ = half_signed_in(site)
    response = client.post(
        f"{BASE}/login/verify", data={"code": code(site, secret), "remember": "1"}
    )
    assert response.status_code == 303
    client.post(f"{BASE}/logout")
    site.clock.now += 30
    return client, secret, response


def test_a_remembered_browser_skips_the_code(site: Site) -> None:
    """With the cookie, the password alone signs in."""
    client, _, _ = remembered(site)
    response = site.login(client, EMAIL)
    assert response.headers["Location"].endswith("/account")
    assert client.get(f"{BASE}/account").status_code == 200


def test_the_remember_cookie_is_host_only_secure_httponly_and_lax(site: Site) -> None:
    """__Host- prefix, Secure, HttpOnly, SameSite=Lax, path /, 30 days; no token stored."""
    _, _, response = remembered(site)
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(COOKIE_NAME)]
    for part in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=2592000"):
        assert part in cookie
    assert "Domain" not in cookie
    token = cookie.split("=", 1)[1].split(";")[0].split(":")[1].rsplit(".", 1)[0]
    with site.app.app_context():
        [row] = accounts_state(site.app).db().scalars(sa.select(RememberedBrowser))
        assert token not in (row.token_hash, row.stamp)


def test_a_remembered_browser_is_forgotten_after_thirty_days(site: Site) -> None:
    """Past its 30 days the code is asked for again."""
    client, _, _ = remembered(site)
    site.clock.now += REMEMBER_DAYS * 86_400
    assert site.login(client, EMAIL).headers["Location"].endswith("/login/verify")


def test_a_password_change_voids_remembered_browsers(site: Site) -> None:
    """After a new password, the remembered browser asks for the code again."""
    client, _, _ = remembered(site)
    site.login(client, EMAIL)
    changed = client.post(
        f"{BASE}/account/password",
        data={"current_password": GOOD_PASSWORD, "new_password": OTHER_PASSWORD},
    )
    assert changed.status_code == 303
    client.post(f"{BASE}/logout")
    assert site.login(client, EMAIL, OTHER_PASSWORD).headers["Location"].endswith("/login/verify")


def test_turning_the_factor_off_forgets_remembered_browsers(site: Site) -> None:
    """disable_mfa deletes the rows."""
    client, _, _ = remembered(site)
    site.login(client, EMAIL)
    client.post(f"{BASE}/account/mfa/disable")
    with site.app.app_context():
        assert accounts_state(site.app).db().scalars(sa.select(RememberedBrowser)).all() == []


@pytest.mark.parametrize(
    "value",
    ["1:" + "A" * 43 + ".forged", "garbage", "", "1:.x"],
    ids=["forged", "unsigned", "empty", "no-token"],
)
def test_a_forged_remember_cookie_skips_nothing(site: Site, value: str) -> None:
    """A cookie the server did not sign is ignored."""
    client, _, _ = with_mfa(site)
    client.set_cookie(COOKIE_NAME, value, domain="localhost", secure=True)
    assert site.login(client, EMAIL).headers["Location"].endswith("/login/verify")


def test_a_remember_cookie_is_for_its_user_only(site: Site) -> None:
    """Another account's password in the remembered browser still needs its code."""
    client, _, _ = remembered(site)
    other = site.user("bob@example.com")
    enrol(site, other)
    site.clock.now += 30
    assert site.login(client, "bob@example.com").headers["Location"].endswith("/login/verify")


def test_a_signed_cookie_without_its_row_skips_nothing(site: Site) -> None:
    """Deleting the rows (as an administrator may) forgets the browser."""
    client, _, _ = remembered(site)
    with site.app.app_context():
        db = accounts_state(site.app).db()
        db.execute(sa.delete(RememberedBrowser))
        db.commit()
    assert site.login(client, EMAIL).headers["Location"].endswith("/login/verify")


def test_a_token_of_a_role_that_needs_a_second_factor_waits_for_enrolment(site: Site) -> None:
    """An API token made before the role came works only once the account has enrolled."""
    from flask_bastion.accounts.tokens import create_api_token

    client = site.user(EMAIL)
    with site.app.test_request_context():
        token, _ = create_api_token(user_row(site), "ci", ["api"], 30)
    api = site.app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    assert api.get(f"{BASE}/api/me", headers=auth).status_code == 200
    with site.app.app_context():
        define_role("admin")
        grant_role(user_row(site), "admin")
    assert api.get(f"{BASE}/api/me", headers=auth).status_code == 401
    site.login(client, EMAIL)
    enrol(site, client)
    assert api.get(f"{BASE}/api/me", headers=auth).status_code == 200


# The owner is told of every change of the second factor


def changed(site: Site) -> list[str]:
    """The bodies of the "second factor changed" mails to EMAIL, oldest first."""
    return [
        m.get_body(("plain",)).get_content()
        for m in site.mails(EMAIL)
        if m["Subject"] == "The second factor of your account changed"
    ]


def test_setting_up_regenerating_and_turning_off_mail_the_owner(site: Site) -> None:
    """Turning the app on, new recovery codes, and turning it off: one mail each."""
    client = site.user(EMAIL)
    enrol(site, client)
    assert client.post(f"{BASE}/account/mfa/recovery").status_code == 200
    assert client.post(f"{BASE}/account/mfa/disable").status_code == 303
    bodies = changed(site)
    assert len(bodies) == 3
    assert "An authenticator app was set up" in bodies[0]
    assert "New recovery codes were made" in bodies[1]
    assert "turned off" in bodies[2]


def test_turning_off_nothing_mails_nobody(site: Site) -> None:
    """Disabling without an app changes nothing, so no mail goes out."""
    client = site.user(EMAIL)
    assert client.post(f"{BASE}/account/mfa/disable").status_code == 303
    assert changed(site) == []
