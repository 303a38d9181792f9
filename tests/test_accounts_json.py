"""Every accounts flow as a JSON client (``Accept: application/json`` and JSON bodies):
answers are JSON documents, refusals RFC 9457 problem documents, and the refusals that
must not reveal an account are the same document for known and unknown addresses."""

from __future__ import annotations

import typing as t
from collections.abc import Iterator

import pytest

from flask_bastion.mail import flush_mail

from .accounts_helpers import BASE, GOOD_PASSWORD, OTHER_PASSWORD, Site, make_site

JSON = {"Accept": "application/json"}
NEW_PASSWORD = "violet tugboat orchestra"


@pytest.fixture
def site(smtp_server: t.Any, tmp_path: t.Any) -> Iterator[Site]:
    made = make_site(smtp_server, BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/a.db")
    yield made
    made.mails()  # the background worker is done before the server stops


def call(client: t.Any, path: str, body: dict[str, t.Any] | None = None) -> t.Any:
    """GET ``path`` (no body) or POST ``body`` as JSON, asking for JSON."""
    if body is None:
        return client.get(BASE + path, headers=JSON)
    return client.post(BASE + path, json=body, headers=JSON)


def document(response: t.Any, status: int = 200) -> dict[str, t.Any]:
    """The JSON answer of ``response``, checked to be JSON with ``status``."""
    assert response.status_code == status, response.data
    expected = "application/json" if status < 400 else "application/problem+json"
    assert response.mimetype == expected
    assert "Accept" in response.headers["Vary"]
    return t.cast(dict[str, t.Any], response.json)


def signed_in(site: Site, email: str = "ann@example.com") -> t.Any:
    """A JSON client of a new, verified, signed-in user."""
    client = site.client()
    assert document(call(client, "/register", {"email": email, "password": GOOD_PASSWORD}))
    token = site.last_link(email, "/verify/")
    assert document(call(client, token)) == {}  # GET: nothing used yet
    assert document(call(client, token, {})) == {"verified": True}
    login = document(call(client, "/login", {"email": email, "password": GOOD_PASSWORD}))
    assert login["user"]["email"] == email
    return client


def test_sign_up_verify_sign_in_and_out(site: Site) -> None:
    """Registration, verification, sign-in, the overview and sign-out in JSON."""
    client = signed_in(site)
    overview = document(call(client, "/account"))
    assert overview["user"]["email_verified"] is True
    assert document(call(client, "/logout", {})) == {"signed_out": True}
    assert document(call(client, "/account"), 401)["status"] == 401


def test_reset_and_unlock_links(site: Site) -> None:
    """Forgot, the reset link (GET then POST) and an unlock link, in JSON."""
    signed_in(site)
    client = site.client()
    forgot = document(call(client, "/forgot", {"email": "ann@example.com"}))
    assert forgot["status"] == "ok"
    link = site.last_link("ann@example.com", "/reset/")
    assert document(call(client, link)) == {}
    refused = document(call(client, link, {"password": "plum ferry jol"}), 422)
    assert refused["errors"]["password"] == ["Use at least 15 characters."]
    assert document(call(client, link, {"password": NEW_PASSWORD})) == {"password_changed": True}
    for wait in (0, 0, 0, 0, 0, 1, 2, 4, 8, 16):
        site.clock.now += wait
        call(client, "/login", {"email": "ann@example.com", "password": OTHER_PASSWORD})
    unlock = site.last_link("ann@example.com", "/unlock/")
    assert document(call(client, unlock)) == {}
    assert document(call(client, unlock, {})) == {"unlocked": True}
    assert document(call(client, unlock, {}), 400)["title"].startswith("This link is invalid")


def test_account_pages(site: Site) -> None:
    """Confirm, password, address, devices, tokens and deletion in JSON."""
    client = signed_in(site)
    site.clock.now += 601
    assert document(call(client, "/account/password"), 401)["status"] == 401  # not fresh
    wrong = document(call(client, "/account/confirm", {"password": OTHER_PASSWORD}), 401)
    assert wrong["title"] == "The password is incorrect."
    confirmed = call(client, "/account/confirm", {"password": GOOD_PASSWORD})
    assert document(confirmed) == {"confirmed": True}
    changed = call(
        client,
        "/account/password",
        {"current_password": GOOD_PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert document(changed) == {"password_changed": True}
    assert document(call(client, "/account/email", {"new_email": "ann@new.example"}))
    link = site.last_link("ann@new.example", "/account/email/")
    assert document(call(client, link)) == {}
    assert document(call(client, link, {})) == {"email": "ann@new.example"}
    devices = document(call(client, "/account/sessions"))
    assert [s["current"] for s in devices["sessions"]] == [True]
    others = call(client, "/account/sessions", {"action": "revoke_others"})
    assert document(others) == {"status": "ok"}
    token = document(call(client, "/account/tokens", {"name": "ci", "scopes": ["api"]}), 201)
    assert [t_["prefix"] for t_ in document(call(client, "/account/tokens"))["tokens"]] == [
        token["prefix"]
    ]
    refused = document(call(client, "/account/delete", {"current_password": GOOD_PASSWORD}), 422)
    assert "current_password" in refused["errors"]
    deleted = call(client, "/account/delete", {"current_password": NEW_PASSWORD})
    assert document(deleted) == {"deleted": True}


def test_sign_in_failures_are_one_document_for_known_and_unknown(site: Site) -> None:
    """Wrong password, unknown address and a delayed account: the same 401 document."""
    signed_in(site)
    client = site.client()
    wrong = call(client, "/login", {"email": "ann@example.com", "password": OTHER_PASSWORD})
    unknown = call(client, "/login", {"email": "bob@example.com", "password": OTHER_PASSWORD})
    for _ in range(4):
        call(client, "/login", {"email": "ann@example.com", "password": OTHER_PASSWORD})
    delayed = call(client, "/login", {"email": "ann@example.com", "password": GOOD_PASSWORD})
    assert document(wrong, 401) == document(unknown, 401) == document(delayed, 401)
    assert wrong.data == unknown.data == delayed.data


def test_registration_and_forgot_answer_one_document_for_taken_and_free(site: Site) -> None:
    """A taken address and a free one get the same JSON on /register and /forgot."""
    signed_in(site)
    client = site.client()
    for path, body in (
        ("/register", {"password": GOOD_PASSWORD}),
        ("/forgot", {}),
    ):
        taken = call(client, path, {"email": "ann@example.com", **body})
        free = call(client, path, {"email": "bob@example.com", **body})
        assert document(taken) == document(free), path


def test_an_address_over_its_limit_gets_a_429_problem(smtp_server: t.Any, tmp_path: t.Any) -> None:
    """The per-address limit answers a problem document with Retry-After."""
    site = make_site(
        smtp_server,
        BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/a.db",
        BASTION_LOCKOUT_IP_LIMIT=1,
    )
    client = site.client()
    call(client, "/login", {"email": "bob@example.com", "password": OTHER_PASSWORD})
    limited = call(client, "/login", {"email": "eve@example.com", "password": OTHER_PASSWORD})
    assert document(limited, 429)["title"].startswith("Too many failed sign-ins")
    assert int(limited.headers["Retry-After"]) >= 1


def test_an_unverified_account_gets_a_403_problem(site: Site) -> None:
    """The right password on an unverified account: a 403 problem and a new link."""
    client = site.client()
    call(client, "/register", {"email": "ann@example.com", "password": GOOD_PASSWORD})
    flush_mail(site.app)  # the account is created after the response
    answer = call(client, "/login", {"email": "ann@example.com", "password": GOOD_PASSWORD})
    assert document(answer, 403)["title"].startswith("Confirm your email address")
