"""Attacks on accounts from the outside: each test performs one attack on a real
application (real SMTP server, real database) and asserts that it fails."""

from __future__ import annotations

import re
import threading
import typing as t
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from flask_bastion.accounts import User, accounts_state
from flask_bastion.accounts.models import ApiToken

from .accounts_helpers import BASE, GOOD_PASSWORD, OTHER_PASSWORD, Site, make_site, strip_volatile

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


# Password guessing through the account pages


@pytest.mark.parametrize("path", ["/account/password", "/account/delete"])
def test_current_password_fields_are_not_an_unthrottled_oracle(site: Site, path: str) -> None:
    """Guesses at "current password" with a stolen fresh session count as failed
    sign-ins: after the lock, even the right password is refused."""
    client = site.user("ann@example.com")
    for _ in range(12):
        client.post(
            BASE + path,
            data={"current_password": "wrong guess number x", "new_password": OTHER_PASSWORD},
        )
    right = client.post(
        BASE + path, data={"current_password": GOOD_PASSWORD, "new_password": OTHER_PASSWORD}
    )
    assert right.status_code in (401, 422, 429)
    assert len(users(site)) == 1


def test_current_password_guesses_hit_the_per_address_limit(
    smtp_server: t.Any, tmp_path: t.Any
) -> None:
    """Beyond the per-address limit, "current password" answers "too many attempts"."""
    limited = make_site(
        smtp_server,
        BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/l.db",
        BASTION_LOCKOUT_IP_LIMIT=1,
    )
    client = limited.user("ann@example.com")
    data = {"current_password": "wrong guess number x"}
    client.post(f"{BASE}/account/delete", data=data, headers=JSON)
    response = client.post(f"{BASE}/account/delete", data=data, headers=JSON)
    assert response.status_code == 422
    assert response.json["errors"]["current_password"] == ["Too many attempts. Try again later."]


# Mail bombs


def test_forgot_cannot_flood_a_mailbox(site: Site) -> None:
    """Asking for reset links in a loop sends a handful of mails, not one per request."""
    site.user("ann@example.com")
    before = len(site.mails("ann@example.com"))
    for _ in range(20):
        assert (
            site.client().post(f"{BASE}/forgot", data={"email": "ann@example.com"}).status_code
            == 200
        )
    assert len(site.mails("ann@example.com")) - before <= 5


def test_register_with_a_taken_address_cannot_flood_its_owner(site: Site) -> None:
    """Registering a taken address in a loop sends its owner a handful of mails."""
    site.user("ann@example.com")
    before = len(site.mails("ann@example.com"))
    for _ in range(20):
        assert site.register(site.client(), "ann@example.com").status_code == 200
    assert len(site.mails("ann@example.com")) - before <= 5


def test_signing_in_to_an_unverified_account_cannot_flood_the_address(site: Site) -> None:
    """An attacker who registered someone's address and signs in again and again does
    not send that address a verification mail each time."""
    site.register(site.client(), "victim@example.com")
    for _ in range(20):
        assert site.login(site.client(), "victim@example.com").status_code == 403
    assert len(site.mails("victim@example.com")) <= 6


def test_a_forgot_flood_does_not_keep_a_new_account_from_its_link(site: Site) -> None:
    """Flooding "forgot" for an unregistered address does not stop its verification."""
    for _ in range(10):
        site.client().post(f"{BASE}/forgot", data={"email": "new@example.com"})
    site.register(site.client(), "new@example.com")
    assert site.last_link("new@example.com", "/verify/").startswith("/verify/")


def test_email_change_cannot_flood_another_address(site: Site) -> None:
    """A signed-in user cannot mail an arbitrary address over and over."""
    client = site.user("ann@example.com")
    for _ in range(20):
        client.post(f"{BASE}/account/email", data={"new_email": "victim@example.com"})
    assert len(site.mails("victim@example.com")) <= 5


# Malformed input


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/login", {"email": "ann@example.com", "password": "\ud800\udfff x \ud800"}),
        ("/login", {"email": "a\ud800@example.com", "password": "x"}),
        ("/register", {"email": "ann@example.com", "password": "\ud800" * 20}),
        ("/register", {"email": "\ud800nn@example.com", "password": GOOD_PASSWORD}),
        ("/forgot", {"email": "\ud800nn@example.com"}),
        ("/login", {"email": "ann\x00@example.com", "password": "x"}),
        ("/login", {"email": ["ann@example.com"], "password": {"a": 1}}),
        ("/login", {"email": None, "password": None}),
        ("/register", {"email": 1e308, "password": True}),
    ],
    ids=["surrogate-password", "surrogate-email", "surrogate-new-password",
         "surrogate-register", "surrogate-forgot", "nul-email", "arrays", "nulls", "numbers"],
)  # fmt: skip
def test_malformed_json_fields_are_4xx(site: Site, path: str, body: dict[str, t.Any]) -> None:
    """Lone surrogates, NUL bytes and wrong types are field errors, never a 500."""
    site.user("ann@example.com")
    response = site.client().post(BASE + path, json=body, headers=JSON)
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize(
    "data",
    [
        {"name": "x\ud800", "scopes": ["api"], "days": 30},
        {"name": "x\x00y", "scopes": ["api"], "days": 30},
        {"action": "revoke", "id": "9" * 30},
        {"action": "revoke", "id": -(2**70)},
        {"action": "revoke", "id": "1e5"},
    ],
    ids=["surrogate-name", "nul-name", "huge-id", "huge-negative-id", "float-id"],
)
def test_malformed_token_forms_are_4xx(site: Site, data: dict[str, t.Any]) -> None:
    """A token name or ID no database takes is a 4xx, never a 500 or 503."""
    client = site.user("ann@example.com")
    response = client.post(f"{BASE}/account/tokens", json=data, headers=JSON)
    assert 400 <= response.status_code < 500


def test_broken_utf8_and_wrong_content_types_are_4xx(site: Site) -> None:
    """Undecodable bodies and unexpected content types are a 4xx."""
    client = site.client()
    for body, kind in [
        (b'{"email": "\xff\xfe", "password": "x"}', "application/json"),
        (b"email=%ff%fe&password=%00", "application/x-www-form-urlencoded"),
        (b"\x00" * 100, "application/octet-stream"),
        (b"[1, 2, 3]", "application/json"),
        (b'"just a string"', "application/json"),
    ]:
        for path in ("/login", "/register", "/forgot"):
            response = client.post(BASE + path, data=body, content_type=kind)
            assert 400 <= response.status_code < 500, (path, body)


def test_header_injection_through_the_address_is_refused(site: Site) -> None:
    """An address carrying a line break is refused before any mail is built."""
    for email in ["ann@example.com\r\nBcc: evil@example.com", '"a\\r\\nBcc: x"@example.com']:
        response = site.register(site.client(), email)
        assert response.status_code == 422
    assert site.mails() == []


def test_links_in_mails_never_come_from_a_forged_host(site: Site) -> None:
    """A forged Host (or X-Forwarded-Host) is refused or ignored: links point home."""
    site.user("ann@example.com")
    client = site.client()
    forged = client.post("https://evil.example/forgot", data={"email": "ann@example.com"})
    assert forged.status_code == 400
    client.post(
        f"{BASE}/forgot",
        data={"email": "ann@example.com"},
        headers={"X-Forwarded-Host": "evil.example", "Forwarded": "host=evil.example"},
    )
    bodies = [m.get_body(("plain",)).get_content() for m in site.mails("ann@example.com")]
    assert not any("evil.example" in body for body in bodies)


# The database is down


def test_a_database_that_is_down_gives_503(smtp_server: t.Any) -> None:
    """Every accounts page answers 503 when the database cannot be reached."""
    down = make_site(
        smtp_server,
        BASTION_ACCOUNTS_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none",
        BASTION_STORES_CONNECT_TIMEOUT=1,
    )
    client = down.client()
    for path, data in [
        ("/login", {"email": "ann@example.com", "password": GOOD_PASSWORD}),
        ("/register", {"email": "ann@example.com", "password": GOOD_PASSWORD}),
        ("/forgot", {"email": "ann@example.com"}),
        (f"/reset/{'A' * 43}", None),
        (f"/verify/{'A' * 43}", None),
    ]:
        response = client.post(BASE + path, data=data) if data else client.get(BASE + path)
        assert response.status_code == 503, path
        assert "Retry-After" in response.headers
    token = "bst_" + "A" * 43
    assert client.get(f"{BASE}/api/me", headers=bearer(token)).status_code == 503


# Forgery


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/login", {"email": "ann@example.com", "password": GOOD_PASSWORD}),
        ("/logout", {}),
        ("/account/sessions", {"action": "revoke_others"}),
        ("/account/tokens", {"name": "x", "scopes": ["api"], "days": "30"}),
        ("/account/tokens", {"action": "revoke", "id": "1"}),
        ("/account/delete", {"current_password": GOOD_PASSWORD}),
        ("/account/email", {"new_email": "evil@example.com"}),
        ("/account/password", {"current_password": GOOD_PASSWORD, "new_password": OTHER_PASSWORD}),
        ("/account/confirm", {"password": GOOD_PASSWORD}),
        ("/register", {"email": "x@example.com", "password": GOOD_PASSWORD}),
        ("/forgot", {"email": "ann@example.com"}),
    ],
)
def test_cross_site_posts_are_refused(site: Site, path: str, data: dict[str, str]) -> None:
    """A form posted from another site, without a CSRF token, changes nothing."""
    client = site.user("ann@example.com")
    response = client.post(
        BASE + path,
        data=data,
        headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert client.get(f"{BASE}/account").status_code == 200
    assert len(users(site)) == 1 and api_tokens(site) == []


# Brute force


def test_x_forwarded_for_does_not_reset_the_per_address_limit(
    smtp_server: t.Any, tmp_path: t.Any
) -> None:
    """Without proxy trust, a spoofed X-Forwarded-For is one address, not many."""
    limited = make_site(
        smtp_server,
        BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/x.db",
        BASTION_LOCKOUT_IP_LIMIT=3,
    )
    client = limited.client()
    statuses = [
        client.post(
            f"{BASE}/login",
            data={"email": f"user{i}@example.com", "password": OTHER_PASSWORD},
            headers={"X-Forwarded-For": f"203.0.113.{i}", "X-Real-IP": f"203.0.113.{i}"},
        ).status_code
        for i in range(6)
    ]
    assert statuses[-1] == 429


def test_ipv6_addresses_of_one_network_share_the_per_address_limit(
    smtp_server: t.Any, tmp_path: t.Any
) -> None:
    """Hopping addresses within one IPv6 /64 does not reset the limit."""
    limited = make_site(
        smtp_server,
        BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/x.db",
        BASTION_LOCKOUT_IP_LIMIT=3,
    )
    statuses = []
    for i in range(6):
        client = limited.client()
        client.environ_base["REMOTE_ADDR"] = f"2001:db8:0:1:{i:x}::{i + 1:x}"
        statuses.append(limited.login(client, f"u{i}@example.com", OTHER_PASSWORD).status_code)
    assert statuses[-1] == 429


@pytest.mark.parametrize(
    "variant",
    ["ANN@example.com", " ann@example.com ", "ann@EXAMPLE.COM", "\uff41nn@example.com"],
    ids=["case", "spaces", "domain-case", "fullwidth"],
)
def test_spelling_variants_share_the_account_lock(site: Site, variant: str) -> None:
    """Guesses spread over spellings of one address count against one account."""
    site.user("ann@example.com")
    for i in range(12):
        email = variant if i % 2 else "ann@example.com"
        client = site.client()
        client.environ_base["REMOTE_ADDR"] = f"198.51.100.{i}"
        site.login(client, email, OTHER_PASSWORD)
    assert site.login(site.client(), "ann@example.com").status_code == 401


# Tokens


def _reset_link(site: Site) -> str:
    site.client().post(f"{BASE}/forgot", data={"email": "ann@example.com"})
    return site.last_link("ann@example.com", "/reset/")


def _race(site: Site, link: str, passwords: list[str]) -> list[int]:
    barrier = threading.Barrier(len(passwords))
    statuses: list[int] = []

    def post(password: str) -> None:
        client = site.client()
        barrier.wait()
        statuses.append(client.post(BASE + link, data={"password": password}).status_code)

    threads = [threading.Thread(target=post, args=(p,)) for p in passwords]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


RACERS = [OTHER_PASSWORD, "purple elephant dances slowly", "quiet river under amber sky"]


def test_two_posts_racing_on_one_reset_link_set_one_password(site: Site) -> None:
    """Racing POSTs on one reset link: exactly one wins (shared SQLite file)."""
    site.user("ann@example.com")
    statuses = _race(site, _reset_link(site), RACERS)
    assert sorted(statuses).count(303) == 1
    assert all(s in (303, 400, 503) for s in statuses)
    winners = [
        p for p in RACERS if site.login(site.client(), "ann@example.com", p).status_code == 303
    ]
    assert len(winners) == 1


def test_racing_reset_posts_on_postgresql(smtp_server: t.Any, pg_url: str) -> None:
    """Racing POSTs on one reset link: exactly one wins (PostgreSQL)."""
    pg = make_site(smtp_server, BASTION_ACCOUNTS_DATABASE_URL=pg_url)
    pg.user("ann@example.com")
    statuses = _race(pg, _reset_link(pg), RACERS)
    assert statuses.count(303) == 1
    assert all(s in (303, 400) for s in statuses)


def test_an_email_change_link_changes_only_its_own_account(site: Site) -> None:
    """Ann's change-of-address link, used while Bob is signed in, never touches Bob."""
    ann = site.user("ann@example.com")
    bob = site.user("bob@example.com")
    ann.post(f"{BASE}/account/email", data={"new_email": "ann@new.example"})
    link = site.last_link("ann@new.example", "/account/email/")
    bob.post(BASE + link)
    emails = sorted(u.email for u in users(site))
    assert emails == ["ann@new.example", "bob@example.com"]
    assert bob.post(BASE + link).status_code == 400


def test_a_verification_link_dies_with_an_email_change(site: Site) -> None:
    """A link mailed to the old address is void once the address changed."""
    ann = site.user("ann@example.com")
    site.client().post(f"{BASE}/forgot", data={"email": "ann@example.com"})
    reset = site.last_link("ann@example.com", "/reset/")
    ann.post(f"{BASE}/account/email", data={"new_email": "ann@new.example"})
    ann.post(BASE + site.last_link("ann@new.example", "/account/email/"))
    assert site.client().get(BASE + reset).status_code == 400


@pytest.mark.parametrize(
    "header",
    ["Bearer  {t} ", "BEARER {t}", "bearer\t{t}", "Bearer {t},Bearer {t}", "Bearer {u}"],
    ids=["spaces", "upper", "tab", "twice", "truncated"],
)
def test_bearer_header_variants(site: Site, header: str) -> None:
    """Spacing and case variants either authenticate or 401, never a session or a 500."""
    token = create_token(site.user("ann@example.com"))
    value = header.format(t=token, u=token[:-1])
    response = site.app.test_client().get(f"{BASE}/api/me", headers={"Authorization": value})
    assert response.status_code in (200, 401)
    assert "Set-Cookie" not in response.headers


# Session fixation


def _session_cookie(client: t.Any) -> str | None:
    cookie = client.get_cookie("__Host-session")
    return cookie.value if cookie is not None else None


def test_a_planted_session_id_is_worthless_after_sign_in(site: Site) -> None:
    """An ID an attacker planted before sign-in does not carry the signed-in user."""
    site.user("ann@example.com")
    victim = site.client()
    victim.get(f"{BASE}/login")
    victim.post(f"{BASE}/login", data={"email": "x@example.com", "password": "wrong one here"})
    planted = _session_cookie(victim)
    assert site.login(victim, "ann@example.com").status_code == 303
    assert _session_cookie(victim) != planted
    attacker = site.client()
    if planted is not None:
        attacker.set_cookie("__Host-session", planted, domain="localhost")
    assert attacker.get(f"{BASE}/account").status_code == 303


def test_password_change_rotates_the_session(site: Site) -> None:
    """After a password change, the cookie from before it signs nobody in."""
    client = site.user("ann@example.com")
    before = _session_cookie(client)
    client.post(
        f"{BASE}/account/password",
        data={"current_password": GOOD_PASSWORD, "new_password": OTHER_PASSWORD},
    )
    assert _session_cookie(client) != before
    thief = site.client()
    thief.set_cookie("__Host-session", before or "", domain="localhost")
    assert thief.get(f"{BASE}/account").status_code == 303


def test_a_deleted_account_leaves_no_session_or_token(site: Site) -> None:
    """After deletion, another device's session and the account's tokens are dead."""
    client = site.user("ann@example.com")
    token = create_token(client)
    other = site.client()
    site.login(other, "ann@example.com")
    client.post(f"{BASE}/account/delete", data={"current_password": GOOD_PASSWORD})
    assert other.get(f"{BASE}/account").status_code == 303
    assert site.app.test_client().get(f"{BASE}/api/me", headers=bearer(token)).status_code == 401


def test_a_deactivated_users_token_stops_working(site: Site) -> None:
    """Setting active=False ends the user's API tokens at once."""
    token = create_token(site.user("ann@example.com"))
    with site.app.app_context():
        db = accounts_state(site.app).db()
        db.scalars(sa.select(User)).one().active = False
        db.commit()
    assert site.app.test_client().get(f"{BASE}/api/me", headers=bearer(token)).status_code == 401


# Enumeration


def _shape(response: t.Any, *names: bytes) -> tuple[t.Any, ...]:
    body = strip_volatile(response.data)
    for name in names:
        body = body.replace(name, b"X")
    cookies = sorted(c.split("=", 1)[0] for c in response.headers.getlist("Set-Cookie"))
    headers = sorted(
        k for k, _ in response.headers.items() if k not in ("Set-Cookie", "Content-Length")
    )
    return response.status_code, body, cookies, headers, response.headers.get("Location")


@pytest.mark.parametrize("accept", ["text/html", "application/json"])
@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/login", {"password": OTHER_PASSWORD}),
        ("/forgot", {}),
        ("/register", {"password": GOOD_PASSWORD}),
    ],
)
def test_known_and_unknown_addresses_answer_alike(
    site: Site, path: str, fields: dict[str, str], accept: str
) -> None:
    """Status, body, cookies and headers are the same for an account and a stranger."""
    site.user("ann@example.com")
    site.client().get(f"{BASE}/login")  # the dummy hash is made before either is timed
    known = site.client().post(
        BASE + path, data={"email": "ann@example.com", **fields}, headers={"Accept": accept}
    )
    unknown = site.client().post(
        BASE + path, data={"email": "bob@example.com", **fields}, headers={"Accept": accept}
    )
    assert _shape(known, b"ann") == _shape(unknown, b"bob")


@pytest.mark.parametrize("state", ["unverified", "deactivated"])
def test_unverified_and_deactivated_accounts_answer_a_wrong_password_alike(
    site: Site, state: str
) -> None:
    """A wrong password on an unverified or a deactivated account looks like a stranger."""
    if state == "unverified":
        site.register(site.client(), "ann@example.com")
    else:
        site.user("ann@example.com")
        with site.app.app_context():
            db = accounts_state(site.app).db()
            db.scalars(sa.select(User)).one().active = False
            db.commit()
    known = site.login(site.client(), "ann@example.com", OTHER_PASSWORD)
    unknown = site.login(site.client(), "bob@example.com", OTHER_PASSWORD)
    assert _shape(known, b"ann") == _shape(unknown, b"bob")


# One-time passwords


def _must_change(site: Site, email: str) -> None:
    with site.app.app_context():
        db = accounts_state(site.app).db()
        db.scalars(sa.select(User).where(User.email == email)).one().must_change_password = True
        db.commit()


def test_a_one_time_password_account_cannot_use_an_older_api_token(site: Site) -> None:
    """While the one-time password is unchanged, the account's tokens serve nothing."""
    token = create_token(site.user("ann@example.com"))
    _must_change(site, "ann@example.com")
    response = site.app.test_client().get(f"{BASE}/api/me", headers=bearer(token))
    assert response.status_code in (401, 403)


def test_a_one_time_password_account_is_held_on_the_password_page(site: Site) -> None:
    """JSON, API and account endpoints all lead to the password page, nowhere else."""
    site.user("ann@example.com")
    _must_change(site, "ann@example.com")
    client = site.client()
    assert site.login(client, "ann@example.com").headers["Location"] == "/account/password"
    for path in ("/account", "/account/tokens", "/api/me", "/account/sessions"):
        response = client.get(BASE + path, headers=JSON)
        assert response.status_code == 303, path
        assert response.headers["Location"] == "/account/password"
    assert client.post(f"{BASE}/api/echo", json={}).status_code == 303


def test_a_one_time_password_account_can_confirm_after_the_fresh_window(site: Site) -> None:
    """Past the fresh window the password page asks to confirm, and confirming works
    (no redirect loop between the two)."""
    site.user("ann@example.com")
    _must_change(site, "ann@example.com")
    client = site.client()
    site.login(client, "ann@example.com")
    site.clock.now += 601
    page = client.get(f"{BASE}/account/password")
    assert page.headers["Location"].startswith("/account/confirm")
    assert client.get(BASE + page.headers["Location"]).status_code == 200
    confirmed = client.post(
        f"{BASE}/account/confirm", data={"password": GOOD_PASSWORD, "next": "/account/password"}
    )
    assert confirmed.headers["Location"] == "/account/password"
    changed = client.post(
        f"{BASE}/account/password",
        data={"current_password": GOOD_PASSWORD, "new_password": OTHER_PASSWORD},
    )
    assert changed.status_code == 303
    assert client.get(f"{BASE}/account").status_code == 200


# Redirects


@pytest.mark.parametrize(
    "target",
    [
        "/\t/evil.example",
        "/\n/evil.example",
        "/%5Cevil.example",
        "/%5cevil.example",
        "\\/evil.example",
        " //evil.example",
        "/\u2215\u2215evil.example",
        "///evil.example",
        "https:/evil.example",
        "//evil.example@localhost",
    ],
)
@pytest.mark.parametrize("view", ["login", "confirm"])
def test_next_never_leaves_the_site(site: Site, view: str, target: str) -> None:
    """No spelling of another host in ``next`` is followed by sign-in or confirm."""
    client = site.user("ann@example.com")
    if view == "login":
        client = site.client()
        data = {"email": "ann@example.com", "password": GOOD_PASSWORD, "next": target}
        response = client.post(f"{BASE}/login?next={target}", data=data)
    else:
        response = client.post(
            f"{BASE}/account/confirm", data={"password": GOOD_PASSWORD, "next": target}
        )
    location = response.headers["Location"]
    assert location.startswith("/") and not location.startswith("//")
    assert "\\" not in location and location.isprintable() and not urlsplit(location).netloc


def test_json_sign_in_ignores_next_in_the_body(site: Site) -> None:
    """A JSON sign-in answers with data, never a redirect to the body's ``next``."""
    site.user("ann@example.com")
    response = site.client().post(
        f"{BASE}/login",
        json={"email": "ann@example.com", "password": GOOD_PASSWORD, "next": "//evil.example"},
        headers=JSON,
    )
    assert response.status_code == 200 and "Location" not in response.headers


# Pre-hijacking


def test_reset_by_the_real_owner_kills_tokens_made_before_verification(
    smtp_server: t.Any, tmp_path: t.Any
) -> None:
    """An attacker who registered someone's address (verification not required) and
    made an API token loses it when the owner takes the account back by reset."""
    lax = make_site(
        smtp_server,
        BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/h.db",
        BASTION_ACCOUNTS_REQUIRE_VERIFIED_EMAIL=False,
    )
    attacker = lax.client()
    lax.register(attacker, "victim@example.com")
    assert lax.login(attacker, "victim@example.com").status_code == 303
    token = create_token(attacker)
    owner = lax.client()
    owner.post(f"{BASE}/forgot", data={"email": "victim@example.com"})
    link = lax.last_link("victim@example.com", "/reset/")
    assert owner.post(BASE + link, data={"password": OTHER_PASSWORD}).status_code == 303
    assert attacker.get(f"{BASE}/account").status_code == 303
    assert lax.app.test_client().get(f"{BASE}/api/me", headers=bearer(token)).status_code == 401


def test_the_mail_limit_is_a_setting(smtp_server: t.Any, tmp_path: t.Any) -> None:
    """BASTION_LOCKOUT_MAIL_LIMIT bounds the reset mails to one address per window."""
    site = make_site(
        smtp_server,
        BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/m.db",
        BASTION_LOCKOUT_MAIL_LIMIT=3,
    )
    site.user("ann@example.com")  # registering counts one (its link is sent regardless)
    before = len(site.mails("ann@example.com"))
    for _ in range(4):
        site.client().post(f"{BASE}/forgot", data={"email": "ann@example.com"})
    assert len(site.mails("ann@example.com")) == before + 2
    site.clock.now += 3600
    site.client().post(f"{BASE}/forgot", data={"email": "ann@example.com"})
    assert len(site.mails("ann@example.com")) == before + 3
