"""Vault's notes: the owner's pages, sharing, search, rendering and the JSON API."""

from __future__ import annotations

import time
import typing as t
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from flask_bastion.accounts import accounts_state
from flask_bastion.accounts.core import normalise_email
from flask_bastion.accounts.tokens import create_api_token
from vault.db import get_db, init_db
from vault.models import BODY_MAX, TITLE_MAX, Note, NoteShare, User

BASE = "https://localhost"
PASSWORD = "a long and memorable team passphrase"
JSON = {"Accept": "application/json"}
_hashes: dict[str, str] = {}


def add_user(email: str) -> int:
    if not _hashes:
        _hashes[PASSWORD] = accounts_state().passwords.hash(PASSWORD)
    now = time.time()
    user = User(
        email=email,
        email_key=normalise_email(email),
        password_hash=_hashes[PASSWORD],
        email_verified_at=now,
        active=True,
        created_at=now,
    )
    get_db().add(user)
    get_db().commit()
    return user.id


@pytest.fixture
def vault(make_app: Callable[..., Flask]) -> Flask:
    app = make_app(TRUSTED_HOSTS=["localhost"], BASTION_SESSIONS_STORE="memory")
    with app.app_context():
        init_db()
        add_user("ann@example.com")
        add_user("bob@example.com")
    return app


def sign_in(app: Flask, email: str = "ann@example.com") -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_SEC_FETCH_SITE"] = "same-origin"
    response = client.post(f"{BASE}/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 303
    return client


def token(
    app: Flask, email: str = "ann@example.com", scopes: t.Iterable[str] = ()
) -> dict[str, str]:
    with app.app_context():
        user = get_db().scalars(select(User).where(User.email == email)).one()
        value, _ = create_api_token(user, "t", scopes or ("notes:read", "notes:write"), 1)
    return {**JSON, "Authorization": f"Bearer {value}"}


def notes(app: Flask) -> list[Note]:
    with app.app_context():
        return list(get_db().scalars(select(Note)))


def create(client: FlaskClient, title: str = "Plan", body: str = "*hi*") -> str:
    response = client.post(f"{BASE}/notes/new", data={"title": title, "body": body})
    assert response.status_code == 303
    return response.headers["Location"].rsplit("/", 1)[1]


def test_create_and_show_a_note(vault: Flask) -> None:
    """A new note is stored with a random ID and shown with its Markdown rendered."""
    client = sign_in(vault)
    note_id = create(client, "Plan", "*hi* <script>alert(1)</script>")
    assert len(note_id) == 16 and not note_id.isdigit()
    page = client.get(f"{BASE}/notes/{note_id}").get_data(as_text=True)
    assert "<em>hi</em>" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in page


def test_title_is_escaped(vault: Flask) -> None:
    """A title is text, escaped in the list and on the note's page."""
    client = sign_in(vault)
    note_id = create(client, "<b>bold</b>")
    for path in ("/notes", f"/notes/{note_id}"):
        page = client.get(BASE + path).get_data(as_text=True)
        assert "&lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold" not in page


@pytest.mark.parametrize(
    ("title", "body"),
    [("", "x"), ("   ", "x"), ("t" * (TITLE_MAX + 1), "x"), ("t", "b" * (BODY_MAX + 1))],
    ids=["empty-title", "blank-title", "long-title", "long-body"],
)
def test_invalid_note_is_refused(vault: Flask, title: str, body: str) -> None:
    """A note without a title or over the limits is refused with 422 and not stored."""
    client = sign_in(vault)
    response = client.post(f"{BASE}/notes/new", data={"title": title, "body": body})
    assert response.status_code == 422
    assert notes(vault) == []


def test_edit_a_note(vault: Flask) -> None:
    """The owner changes the title and body."""
    client = sign_in(vault)
    note_id = create(client)
    assert client.get(f"{BASE}/notes/{note_id}/edit").status_code == 200
    bad = client.post(f"{BASE}/notes/{note_id}/edit", data={"title": "", "body": ""})
    assert bad.status_code == 422
    response = client.post(f"{BASE}/notes/{note_id}/edit", data={"title": "New", "body": "b"})
    assert response.status_code == 303
    [note] = notes(vault)
    assert (note.title, note.body) == ("New", "b")


def test_delete_a_note_and_its_shares(vault: Flask) -> None:
    """Deleting a note removes it and its shares."""
    client = sign_in(vault)
    note_id = create(client)
    client.post(
        f"{BASE}/notes/{note_id}/share", data={"email": "bob@example.com", "access": "read"}
    )
    assert client.post(f"{BASE}/notes/{note_id}/delete").status_code == 303
    assert notes(vault) == []
    with vault.app_context():
        assert get_db().scalars(select(NoteShare)).all() == []


def test_share_change_and_revoke(vault: Flask) -> None:
    """The owner shares by address, changes the access and revokes it."""
    client = sign_in(vault)
    note_id = create(client)
    url = f"{BASE}/notes/{note_id}/share"
    assert client.post(url, data={"email": "Bob@Example.com", "access": "read"}).status_code == 303
    assert "bob@example.com: read" in client.get(url).get_data(as_text=True)
    client.post(url, data={"email": "bob@example.com", "access": "edit"})
    with vault.app_context():
        [share] = get_db().scalars(select(NoteShare)).all()
        assert share.access == "edit"
        bob_id = share.user_id
    bob = sign_in(vault, "bob@example.com")
    assert "shared with you" in bob.get(f"{BASE}/notes").get_data(as_text=True)
    assert client.post(url, data={"revoke": str(bob_id)}).status_code == 303
    assert bob.get(f"{BASE}/notes/{note_id}").status_code == 404


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"email": "nobody@example.com", "access": "read"}, 422),
        ({"email": "ann@example.com", "access": "read"}, 422),
        ({"email": "bob@example.com", "access": "owner"}, 422),
        ({"email": "x" * 300, "access": "read"}, 422),
        ({"revoke": "bob"}, 400),
    ],
    ids=["unknown-address", "self", "bad-access", "long-address", "bad-revoke"],
)
def test_bad_share_is_refused(vault: Flask, data: dict[str, str], status: int) -> None:
    """Sharing with no account, oneself, an unknown access or a bad revoke is refused."""
    client = sign_in(vault)
    note_id = create(client)
    assert client.post(f"{BASE}/notes/{note_id}/share", data=data).status_code == status
    with vault.app_context():
        assert get_db().scalars(select(NoteShare)).all() == []


def test_search_is_a_bound_substring_match(vault: Flask) -> None:
    """?q= finds notes by title or body, case-insensitively; % and ' are plain text."""
    client = sign_in(vault)
    create(client, "Groceries", "milk")
    create(client, "Taxes", "100% done")
    create(client, "Other", "nothing")

    def titles(query: str) -> set[str]:
        page = client.get(f"{BASE}/notes", query_string={"q": query}).get_data(as_text=True)
        return {title for title in ("Groceries", "Taxes", "Other") if title in page}

    assert titles("MILK") == {"Groceries"}
    assert titles("tax") == {"Taxes"}
    assert titles("%") == {"Taxes"}
    assert titles("' OR '1'='1") == set()
    assert titles("") == {"Groceries", "Taxes", "Other"}


def test_nav_links_to_notes_when_signed_in(vault: Flask) -> None:
    """The header links to the notes for a signed-in user only."""
    assert b'href="/notes"' in sign_in(vault).get(f"{BASE}/").data
    assert b'href="/notes"' not in vault.test_client().get(f"{BASE}/").data


# The API


def test_api_create_get_list_patch_delete(vault: Flask) -> None:
    """The API's round trip: 201 with Location, read, list, change, 204."""
    client, headers = vault.test_client(), token(vault)
    created = client.post(f"{BASE}/api/v1/notes", json={"title": "T", "body": "b"}, headers=headers)
    assert created.status_code == 201
    note = created.get_json()
    assert created.headers["Location"] == f"/api/v1/notes/{note['id']}"
    assert (note["title"], note["body"], note["access"]) == ("T", "b", "owner")
    got = client.get(BASE + created.headers["Location"], headers=headers)
    assert got.get_json() == note
    listed = client.get(f"{BASE}/api/v1/notes?q=t", headers=headers).get_json()
    assert [item["id"] for item in listed["notes"]] == [note["id"]]
    patched = client.patch(BASE + created.headers["Location"], json={"body": "c"}, headers=headers)
    assert patched.get_json()["body"] == "c" and patched.get_json()["title"] == "T"
    patched = client.patch(
        BASE + created.headers["Location"], json={"title": " U "}, headers=headers
    )
    assert patched.get_json()["title"] == "U"
    assert client.delete(BASE + created.headers["Location"], headers=headers).status_code == 204
    assert notes(vault) == []


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"data": "{not json", "content_type": "application/json"}, 400),
        ({"data": "title=x", "content_type": "application/x-www-form-urlencoded"}, 400),
        ({"json": ["title"]}, 422),
        ({"json": {}}, 422),
        ({"json": {"title": 5}}, 422),
        ({"json": {"title": None}}, 422),
        ({"json": {"title": "  "}}, 422),
        ({"json": {"title": "t" * (TITLE_MAX + 1)}}, 422),
        ({"json": {"title": "t", "body": "b" * (BODY_MAX + 1)}}, 422),
        ({"json": {"title": "t", "owner_id": 2}}, 422),
        ({"json": {"title": "t", "id": "mine"}}, 422),
    ],
    ids=[
        "bad-json", "form", "array", "no-title", "number", "null", "blank", "long-title",
        "long-body", "owner-id", "id",
    ],
)  # fmt: skip
def test_api_validates_bodies(vault: Flask, kwargs: dict[str, t.Any], status: int) -> None:
    """A bad body is a 400 or 422 problem document, and nothing is stored."""
    response = vault.test_client().post(f"{BASE}/api/v1/notes", headers=token(vault), **kwargs)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == status
    assert notes(vault) == []


def test_api_patch_validates_bodies(vault: Flask) -> None:
    """A PATCH with an unknown field changes nothing."""
    client, headers = vault.test_client(), token(vault)
    created = client.post(f"{BASE}/api/v1/notes", json={"title": "T"}, headers=headers)
    location = BASE + created.headers["Location"]
    response = client.patch(location, json={"title": "U", "owner_id": 2}, headers=headers)
    assert response.status_code == 422
    assert notes(vault)[0].title == "T"


def test_api_invalid_token_is_refused(vault: Flask) -> None:
    """An unknown token is a 401 with error=invalid_token."""
    headers = {**JSON, "Authorization": "Bearer bst_nonsense"}
    response = vault.test_client().get(f"{BASE}/api/v1/notes", headers=headers)
    assert response.status_code == 401
    assert "invalid_token" in response.headers["WWW-Authenticate"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def any_vault(request: pytest.FixtureRequest, make_app: Callable[..., Flask]) -> Flask:
    """Vault on SQLite, and on PostgreSQL (a private schema) when DATABASE_URL is set."""
    config: dict[str, t.Any] = {}
    if request.param == "postgresql":
        config["DATABASE_URL"] = request.getfixturevalue("postgres_url")
    app = make_app(TRUSTED_HOSTS=["localhost"], BASTION_SESSIONS_STORE="memory", **config)
    with app.app_context():
        init_db()
        add_user("ann@example.com")
        add_user("bob@example.com")
    return app


def test_nul_characters_are_refused_not_stored(any_vault: Flask) -> None:
    """A NUL in a note, a search, an address or the API is a 4xx, never a server error."""
    client = sign_in(any_vault)
    note_id = create(client, "Plan", "100% ready")
    assert client.post(f"{BASE}/notes/new", data={"title": "a\x00", "body": ""}).status_code == 422
    edit = client.post(f"{BASE}/notes/{note_id}/edit", data={"title": "a", "body": "\x00"})
    assert edit.status_code == 422
    share = client.post(
        f"{BASE}/notes/{note_id}/share", data={"email": "bob@example.com\x00", "access": "read"}
    )
    assert share.status_code == 422
    assert "Plan" in client.get(f"{BASE}/notes?q=%25%00").get_data(as_text=True)
    headers = token(any_vault)
    api = any_vault.test_client()
    assert api.get(f"{BASE}/api/v1/notes?q=%00", headers=headers).status_code == 200
    posted = api.post(f"{BASE}/api/v1/notes", json={"title": "\x00"}, headers=headers)
    assert posted.status_code == 422
    assert [note.title for note in notes(any_vault)] == ["Plan"]


def test_account_deletion_cascades(any_vault: Flask) -> None:
    """Deleting an account deletes its notes and the shares others gave it."""
    ann = sign_in(any_vault)
    bob = sign_in(any_vault, "bob@example.com")
    create(ann, "Ann's")
    bobs = create(bob, "Bob's")
    bob.post(f"{BASE}/notes/{bobs}/share", data={"email": "ann@example.com", "access": "edit"})
    with any_vault.app_context():
        db = get_db()
        db.delete(db.scalars(select(User).where(User.email == "ann@example.com")).one())
        db.commit()
        assert db.scalars(select(NoteShare)).all() == []
    assert [note.title for note in notes(any_vault)] == ["Bob's"]
