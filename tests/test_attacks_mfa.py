"""Attacks on the second factor and on passkeys, as an outsider would try them: skipping
the code, guessing it across new sign-ins, replaying codes in racing requests, numbers
the database cannot hold, a factor removed behind the enrolment hold, passkey answers
for another relying party or ceremony, and guessing passkeys without a sign-in limit."""

from __future__ import annotations

import threading
import typing as t
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from flask_bastion.accounts import accounts_state
from flask_bastion.accounts.second_factor import MAX_TRIES
from flask_bastion.accounts.services import throttle_for
from flask_bastion.authz import define_role, grant_role
from flask_bastion.mfa import TotpCredential, totp_enabled

from .accounts_helpers import BASE, Site, make_site
from .test_mfa_flow import EMAIL, JSON, SECRET_RE, code, user_row, verify, with_mfa
from .test_passkeys import Authenticator, options, rows, sign_in, with_passkey


@pytest.fixture
def site(smtp_server: t.Any, tmp_path: t.Any) -> Iterator[Site]:
    made = make_site(smtp_server, BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/a.db")
    yield made
    made.mails()


def half_signed_in(site: Site) -> tuple[t.Any, str, list[str]]:
    client, secret, codes = with_mfa(site)
    assert site.login(client, EMAIL).headers["Location"].endswith("/login/verify")
    return client, secret, codes


# Skipping the second step


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/me"),
        ("POST", "/api/echo"),
        ("POST", "/account/tokens"),
        ("POST", "/account/passkeys/register/options"),
        ("POST", "/account/mfa/disable"),
        ("GET", "/account/mfa/totp"),
    ],
)
def test_a_half_signed_in_json_client_reaches_nothing(site: Site, method: str, path: str) -> None:
    """JSON and API calls of a half-signed-in session are 401, never served."""
    client, _, _ = half_signed_in(site)
    response = client.open(BASE + path, method=method, json={"name": "x"}, headers=JSON)
    assert response.status_code == 401
    assert client.get(f"{BASE}/account", headers=JSON).status_code == 401


def test_new_sign_ins_do_not_reset_the_code_guesses(site: Site) -> None:
    """Each password sign-in allows MAX_TRIES - 1 codes, but a right password must not
    wipe the wrong codes before it: the account locks as it would for passwords."""
    _, secret, _ = with_mfa(site)
    for _ in range(3):
        client = site.client()  # a new attempt: the cookies of the last one dropped
        site.clock.now += 61
        assert site.login(client, EMAIL).headers["Location"].endswith("/login/verify")
        for _ in range(MAX_TRIES - 1):
            site.clock.now += 61
            verify(client, "000000")
    with site.app.app_context():
        status = throttle_for().status(EMAIL)
    assert status.failures >= 10
    assert status.locked
    client = site.client()
    site.clock.now += 61
    site.login(client, EMAIL)
    assert verify(client, code(site, secret)).headers["Location"].endswith("/login")
    assert client.get(f"{BASE}/account", headers=JSON).status_code == 401


def test_a_right_code_after_a_right_password_starts_the_counters_afresh(site: Site) -> None:
    """The owner who finishes the sign-in clears the wrong codes of earlier attempts."""
    client, secret, _ = with_mfa(site)
    site.login(client, EMAIL)
    verify(client, "000000")
    site.clock.now += 30
    assert verify(client, code(site, secret)).status_code == 303
    with site.app.app_context():
        assert throttle_for().status(EMAIL).failures == 0


# Racing replays on PostgreSQL


def _race(calls: list[Callable[[], t.Any]]) -> list[t.Any]:
    barrier = threading.Barrier(len(calls))
    results: list[t.Any] = []

    def run(call: Callable[[], t.Any]) -> None:
        barrier.wait()
        results.append(call())

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.fixture
def pg_site(smtp_server: t.Any, pg_url: str) -> Iterator[Site]:
    made = make_site(smtp_server, BASTION_ACCOUNTS_DATABASE_URL=pg_url)
    yield made
    made.mails()


def _pending_clients(site: Site, count: int) -> tuple[list[t.Any], str, list[str]]:
    first, secret, codes = with_mfa(site)
    clients = [first, *(site.client() for _ in range(count - 1))]
    for client in clients:
        assert site.login(client, EMAIL).headers["Location"].endswith("/login/verify")
    return clients, secret, codes


def _signed_in(response: t.Any) -> bool:
    return response.status_code == 303 and response.headers["Location"].endswith("/account")


def test_one_totp_code_racing_in_two_sign_ins_signs_in_once(pg_site: Site) -> None:
    """Two half-signed-in sessions post the same code at once: one is signed in."""
    clients, secret, _ = _pending_clients(pg_site, 3)
    now = code(pg_site, secret)
    results = _race([lambda c=c: verify(c, now) for c in clients])
    assert sum(_signed_in(r) for r in results) == 1
    assert sorted(r.status_code for r in results) == [303, 401, 401]


def test_one_recovery_code_racing_in_two_sign_ins_signs_in_once(pg_site: Site) -> None:
    """The same recovery code posted by three sessions at once is spent once."""
    clients, _, codes = _pending_clients(pg_site, 3)
    results = _race([lambda c=c: verify(c, codes[0], "recovery_code") for c in clients])
    assert sum(_signed_in(r) for r in results) == 1


# Enrolment without side effects on GET


def test_the_enrolment_page_writes_nothing_to_the_database(site: Site) -> None:
    """GET /account/mfa/totp stores no credential; reloading shows the same secret."""
    client = site.user(EMAIL)
    first = SECRET_RE.search(client.get(f"{BASE}/account/mfa/totp").data)
    again = client.get(f"{BASE}/account/mfa/totp", headers=JSON).get_json()["secret"]
    assert first is not None and first.group(1).decode() == again
    with site.app.app_context():
        db = accounts_state(site.app).db()
        assert db.scalars(sa.select(TotpCredential)).all() == []
    done = client.post(f"{BASE}/account/mfa/totp", data={"code": code(site, again)})
    assert done.status_code == 200
    with site.app.app_context():
        assert totp_enabled(user_row(site))


def test_a_pending_secret_of_another_session_is_not_confirmed(site: Site) -> None:
    """The secret shown to one browser is not the one another browser confirms."""
    client = site.user(EMAIL)
    shown = client.get(f"{BASE}/account/mfa/totp", headers=JSON).get_json()["secret"]
    other = site.client()
    site.login(other, EMAIL)
    response = other.post(f"{BASE}/account/mfa/totp", data={"code": code(site, shown)})
    assert response.status_code == 422
    with site.app.app_context():
        assert not totp_enabled(user_row(site))


# Numbers the database cannot hold


@pytest.mark.parametrize("action", ["rename", "delete"])
def test_a_huge_passkey_id_is_a_404(site: Site, action: str) -> None:
    """A passkey ID past 64 bits is a 404, not a database error."""
    client = site.user(EMAIL)
    path = f"{BASE}/account/passkeys/{'9' * 30}/{action}"
    assert client.post(path, data={"name": "x"}).status_code == 404


# A factor removed behind the enrolment hold


def test_deleting_the_last_passkey_of_an_admin_holds_it_on_enrolment(site: Site) -> None:
    """An admin whose only second factor was a passkey is held on the enrolment page as
    soon as it is deleted, as after turning the app off."""
    _, device = with_passkey(site)
    with site.app.app_context():
        define_role("admin")
        grant_role(user_row(site), "admin")
    client = site.client()
    site.login(client, EMAIL)
    made = options(client, "/login/passkey/options")
    answer = {"credential": device.get(made)}
    assert client.post(f"{BASE}/login/passkey/verify", json=answer, headers=JSON).status_code == 200
    assert client.get(f"{BASE}/account").status_code == 200
    response = client.post(f"{BASE}/account/passkeys/{rows(site)[0].id}/delete")
    assert response.headers["Location"].endswith("/account/mfa/totp")
    held = client.get(f"{BASE}/account")
    assert held.status_code == 303
    assert held.headers["Location"].endswith("/account/mfa/totp")


# Passkeys


def test_a_passkey_answer_for_another_rp_id_is_refused(site: Site) -> None:
    """An assertion signed for another relying party ID is refused."""
    client, device = with_passkey(site)
    client.post(f"{BASE}/logout")
    made = options(client, "/login/passkey/options")
    answer = device.get({**made, "rpId": "evil.example"})
    response = client.post(
        f"{BASE}/login/passkey/verify", json={"credential": answer}, headers=JSON
    )
    assert response.status_code == 401


def test_a_registration_challenge_does_not_sign_in(site: Site) -> None:
    """The challenge of a registration is not one of sign-in."""
    client, device = with_passkey(site)
    made = options(client, "/account/passkeys/register/options")
    answer = device.get({"challenge": made["challenge"], "rpId": made["rp"]["id"]})
    client.post(f"{BASE}/logout")
    response = client.post(
        f"{BASE}/login/passkey/verify", json={"credential": answer}, headers=JSON
    )
    assert response.status_code == 401


def test_passkey_guessing_hits_the_per_address_limit(smtp_server: t.Any, tmp_path: t.Any) -> None:
    """Failed passkey sign-ins count in the address's sign-in limit: once it is spent,
    even a right passkey is a 429 with Retry-After."""
    site = make_site(
        smtp_server,
        BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/a.db",
        BASTION_LOCKOUT_IP_LIMIT=3,
    )
    client, device = with_passkey(site)
    client.post(f"{BASE}/logout")
    stranger = Authenticator(handle="MQ")
    for _ in range(3):
        assert sign_in(client, stranger).status_code == 401
    refused = sign_in(client, device)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.mimetype == "application/problem+json"
    assert client.get(f"{BASE}/account", headers=JSON).status_code == 401
    # The password sign-in shares the budget.
    assert site.login(site.client(), EMAIL).status_code == 429
    site.mails()


def test_password_failures_count_in_the_passkey_limit(smtp_server: t.Any, tmp_path: t.Any) -> None:
    """An address that spent its budget on passwords cannot go on with passkeys."""
    site = make_site(
        smtp_server,
        BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/a.db",
        BASTION_LOCKOUT_IP_LIMIT=2,
    )
    client, device = with_passkey(site)
    client.post(f"{BASE}/logout")
    for email in ("x@example.com", "y@example.com"):
        site.login(site.client(), email, "wrong wrong wrong wrong")
    assert sign_in(client, device).status_code == 429
    site.mails()
