"""Attacks on Vault's notes, sharing, admin area and API from the outside: error bodies
an API client cannot parse, shares to accounts nobody proved, IDs the database cannot
hold, and API tokens on the admin area."""

from __future__ import annotations

import time
import typing as t

import pytest
from flask import Flask
from sqlalchemy import select, update
from test_admin import admin_client
from test_notes import BASE, add_user, any_vault, create, sign_in, token

from vault.db import get_db
from vault.models import NoteShare, User

__all__ = ["any_vault"]  # the fixture, used by name below

PROBLEM = "application/problem+json"


def _problem(response: t.Any, status: int) -> dict[str, t.Any]:
    assert response.status_code == status
    assert response.mimetype == PROBLEM
    body = t.cast(dict[str, t.Any], response.get_json())
    assert body["status"] == status
    return body


# The API answers problem documents, whatever the client accepts


ACCEPTS = [{}, {"Accept": "*/*"}, {"Accept": "text/html"}, {"Accept": "text/html,*/*;q=0.8"}]


@pytest.mark.parametrize("accept", ACCEPTS, ids=["none", "any", "html", "browser"])
def test_api_errors_are_problem_documents_for_any_accept(
    any_vault: Flask, accept: dict[str, str]
) -> None:
    """401, 403, 404, 400 and 422 from /api/v1 are RFC 9457 JSON, never an HTML page."""
    client = any_vault.test_client()
    url = f"{BASE}/api/v1/notes"
    missing = _problem(client.get(url, headers=accept), 401)
    assert missing["title"] == "Unauthorized"
    bad = client.get(url, headers={**accept, "Authorization": "Bearer bst_nonsense"})
    _problem(bad, 401)
    reader = {**token(any_vault, scopes=["notes:read"]), **accept}
    _problem(client.post(url, json={"title": "x"}, headers=reader), 403)
    writer = {**token(any_vault), **accept}
    _problem(client.get(f"{url}/nothere", headers=writer), 404)
    _problem(client.post(url, data="not json", headers=writer), 400)
    _problem(client.post(url, json={"title": 5}, headers=writer), 422)


# Shares to accounts nobody proved


def _unconfirmed(app: Flask, email: str, *, active: bool = True) -> None:
    with app.app_context():
        add_user(email)
        get_db().execute(
            update(User)
            .where(User.email == email)
            .values(email_verified_at=None if active else time.time(), active=active)
        )
        get_db().commit()


@pytest.mark.parametrize("active", [True, False], ids=["unverified", "deactivated"])
def test_a_note_cannot_be_shared_with_an_account_nobody_can_use(
    any_vault: Flask, active: bool
) -> None:
    """An address registered by someone who never confirmed it (perhaps not its owner),
    or a deactivated account, gets no share: the same answer as no account at all."""
    _unconfirmed(any_vault, "carol@example.com", active=active)
    client = sign_in(any_vault)
    note_id = create(client)
    url = f"{BASE}/notes/{note_id}/share"
    refused = client.post(url, data={"email": "carol@example.com", "access": "edit"})
    unknown = client.post(url, data={"email": "nobody@example.com", "access": "edit"})
    assert refused.status_code == unknown.status_code == 422
    assert "There is no account with this address." in refused.get_data(as_text=True)
    with any_vault.app_context():
        assert get_db().scalars(select(NoteShare)).all() == []


# IDs and text the database cannot hold


@pytest.mark.parametrize(
    "path",
    [
        "/notes/%00",
        "/notes/%ff%fe",
        "/notes/" + "a" * 5000,
        "/notes/%00/edit",
        "/notes/%00/share",
    ],
    ids=["nul", "not-utf8", "huge", "nul-edit", "nul-share"],
)
def test_note_ids_the_database_cannot_hold_are_4xx(any_vault: Flask, path: str) -> None:
    """A NUL (refused with the request, 400), bytes that are not UTF-8, or 5,000
    characters as a note ID: a 4xx, never a database error; a problem document from
    the API."""
    expected = 400 if "%00" in path else 404
    client = sign_in(any_vault)
    assert client.get(BASE + path).status_code == expected
    api = any_vault.test_client()
    api_path = path.replace("/notes/", "/api/v1/notes/", 1).split("/edit")[0].split("/share")[0]
    _problem(api.get(BASE + api_path, headers=token(any_vault)), expected)


def test_a_share_revoke_past_64_bits_changes_nothing(any_vault: Flask) -> None:
    """Revoking a user ID the database cannot hold is a 4xx and leaves the shares."""
    client = sign_in(any_vault)
    note_id = create(client)
    url = f"{BASE}/notes/{note_id}/share"
    client.post(url, data={"email": "bob@example.com", "access": "read"})
    for value in ("9" * 10, "9" * 18, "9" * 40, "0" * 12 + "1" * 12):
        assert client.post(url, data={"revoke": value}).status_code == 400, value
    with any_vault.app_context():
        assert len(get_db().scalars(select(NoteShare)).all()) == 1


@pytest.mark.parametrize("digits", [10, 19, 30])
def test_an_admin_url_past_the_id_range_is_404(any_vault: Flask, digits: int) -> None:
    """/admin/users/<huge> never reaches the database as a number it cannot hold."""
    client = admin_client(any_vault)
    url = f"{BASE}/admin/users/{'9' * digits}"
    assert client.get(url).status_code == 404
    assert client.post(url, data={"action": "grant"}).status_code in (404, 405)


# API tokens on the admin area


def test_an_api_token_cannot_use_the_admin_area(any_vault: Flask) -> None:
    """A bearer token (even an admin's) is refused on /admin: the area needs a fresh
    browser sign-in with the second factor."""
    headers = token(any_vault)
    client = any_vault.test_client()
    assert client.get(f"{BASE}/admin/", headers=headers).status_code == 401
    with any_vault.app_context():
        bob = get_db().scalars(select(User).where(User.email == "bob@example.com")).one()
        bob_id = bob.id
    url = f"{BASE}/admin/users/{bob_id}"
    response = client.post(url, data={"action": "deactivate"}, headers=headers)
    assert response.status_code in (401, 403)
    with any_vault.app_context():
        assert get_db().get(User, bob_id).active  # type: ignore[union-attr]


# The admin area's account search


def test_the_account_search_is_text_not_a_pattern(any_vault: Flask) -> None:
    """?q= with a NUL (which PostgreSQL cannot compare) is a page, not a 500; % and _
    match themselves, not every address."""
    client = admin_client(any_vault)
    assert client.get(f"{BASE}/admin/?q=%00").status_code == 200
    for wildcard in ("%", "_", "%@%"):
        rows = client.get(f"{BASE}/admin/", query_string={"q": wildcard}).get_data(as_text=True)
        assert "ann@example.com" not in rows, wildcard
