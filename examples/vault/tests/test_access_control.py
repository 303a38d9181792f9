"""Every notes route, page and API, refuses whoever may not act on the note.

The routes come from ``app.url_map``: a new ``notes.*`` or ``api.*`` route without an entry
in :data:`ATTEMPTS` fails :func:`test_every_route_has_an_attempt`, so no route is left
out of the checks below. The actors are A (the owner), B (a stranger), R (a read share),
E (an edit share) and an anonymous visitor; after every refused attempt, A's note and its
shares are as they were.
"""

from __future__ import annotations

import time
import typing as t
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from flask_bastion.accounts import accounts_state
from flask_bastion.accounts.core import normalise_email
from flask_bastion.accounts.tokens import create_api_token
from vault.db import get_db, init_db
from vault.models import Note, NoteShare, User

BASE = "https://localhost"
PASSWORD = "a long and memorable team passphrase"
EMAILS = {
    "owner": "a@example.com",
    "stranger": "b@example.com",
    "reader": "r@example.com",
    "editor": "e@example.com",
}
#: What each actor may do with A's note, written out here rather than read from the
#: policy, so a wrong policy fails these tests.
MAY: dict[str, frozenset[str]] = {
    "owner": frozenset({"read", "edit", "delete", "share"}),
    "stranger": frozenset(),
    "reader": frozenset({"read"}),
    "editor": frozenset({"read", "edit"}),
}
ALL_SCOPES = ("notes:read", "notes:write")
EDIT_FORM = {"title": "changed", "body": "changed"}
#: (endpoint, method) -> the action it needs on A's note ("list" and "create" need none)
#: and the bodies to send (a form for pages, JSON for the API).
ATTEMPTS: dict[tuple[str, str], tuple[str, list[dict[str, t.Any]]]] = {
    ("notes.index", "GET"): ("list", [{}]),
    ("notes.create", "GET"): ("create", [{}]),
    ("notes.create", "POST"): ("create", [{"title": "mine", "body": "mine"}]),
    ("notes.show", "GET"): ("read", [{}]),
    ("notes.edit", "GET"): ("edit", [{}]),
    ("notes.edit", "POST"): ("edit", [EDIT_FORM]),
    ("notes.remove", "POST"): ("delete", [{}]),
    ("notes.share", "GET"): ("share", [{}]),
    (
        "notes.share",
        "POST",
    ): (
        "share",
        [
            {"email": EMAILS["stranger"], "access": "edit"},
            {"email": EMAILS["reader"], "access": "edit"},
            {"revoke": "{reader_id}"},
        ],
    ),
    ("api.list_notes", "GET"): ("list", [{}]),
    ("api.create_note", "POST"): ("create", [{"title": "mine"}]),
    ("api.get_note", "GET"): ("read", [{}]),
    ("api.update_note", "PATCH"): ("edit", [EDIT_FORM]),
    ("api.delete_note", "DELETE"): ("delete", [{}]),
}


@dataclass
class World:
    app: Flask
    note_id: str
    ids: dict[str, int]
    tokens: dict[str, str]
    _browsers: dict[str, FlaskClient]

    def browser(self, actor: str) -> FlaskClient:
        """A browser signed in as ``actor`` (anonymous: signed in as no one)."""
        if actor not in self._browsers:
            client = browser(self.app)
            if actor != "anonymous":
                data = {"email": EMAILS[actor], "password": PASSWORD}
                assert client.post(f"{BASE}/login", data=data).status_code == 303, actor
            self._browsers[actor] = client
        return self._browsers[actor]


def browser(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_SEC_FETCH_SITE"] = "same-origin"
    return client


_hashes: dict[str, str] = {}


def password_hash() -> str:
    """One hash of PASSWORD for every account of every test (argon2id is slow on purpose)."""
    if not _hashes:
        _hashes[PASSWORD] = accounts_state().passwords.hash(PASSWORD)
    return _hashes[PASSWORD]


@pytest.fixture
def world(make_app: Callable[..., Flask]) -> World:
    app = make_app(TRUSTED_HOSTS=["localhost"], BASTION_SESSIONS_STORE="memory")
    with app.app_context():
        init_db()
        db = get_db()
        now = time.time()
        users = {}
        for actor, email in EMAILS.items():
            users[actor] = User(
                email=email,
                email_key=normalise_email(email),
                password_hash=password_hash(),
                email_verified_at=now,
                active=True,
                created_at=now,
            )
            db.add(users[actor])
        db.flush()
        note = Note(
            owner_id=users["owner"].id,
            title="A's plan",
            body="secret",
            created_at=now,
            updated_at=now,
        )
        db.add(note)
        db.flush()
        db.add(NoteShare(note_id=note.id, user_id=users["reader"].id, access="read"))
        db.add(NoteShare(note_id=note.id, user_id=users["editor"].id, access="edit"))
        db.commit()
        ids = {actor: user.id for actor, user in users.items()}
        tokens = {
            actor: create_api_token(user, "test", ALL_SCOPES, 1)[0] for actor, user in users.items()
        }
        note_id = note.id
    return World(app, note_id, ids, tokens, {})


def routes(app: Flask) -> set[tuple[str, str]]:
    """Every (endpoint, method) of the notes pages and the API."""
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(("notes.", "api.")):
            for method in rule.methods or ():
                if method not in ("HEAD", "OPTIONS"):
                    found.add((rule.endpoint, method))
    return found


def snapshot(world: World) -> tuple[t.Any, ...] | None:
    """A's note and its shares, as stored."""
    with world.app.app_context():
        note = get_db().get(Note, world.note_id)
        if note is None:
            return None
        shares = get_db().execute(
            select(NoteShare.user_id, NoteShare.access)
            .where(NoteShare.note_id == world.note_id)
            .order_by(NoteShare.user_id)
        )
        return (note.owner_id, note.title, note.body, note.updated_at, tuple(shares))


def attempt(
    world: World,
    endpoint: str,
    method: str,
    data: dict[str, t.Any],
    *,
    client: FlaskClient,
    token: str | None = None,
) -> TestResponse:
    """Send one attempt: a form to a page, JSON with ``token`` to the API."""
    with world.app.test_request_context(base_url=BASE):
        args = {"note_id": world.note_id} if "<note_id>" in _rule(world.app, endpoint) else {}
        url = url_for(endpoint, **args)
    data = {key: str(value).format(reader_id=world.ids["reader"]) for key, value in data.items()}
    if endpoint.startswith("api."):
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        json = data if method in ("POST", "PATCH") else None
        return client.open(BASE + url, method=method, json=json, headers=headers)
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    form = data if method == "POST" else None
    return client.open(BASE + url, method=method, data=form, headers=headers)


def _rule(app: Flask, endpoint: str) -> str:
    return next(rule.rule for rule in app.url_map.iter_rules() if rule.endpoint == endpoint)


def test_every_route_has_an_attempt(world: World) -> None:
    """The attempts cover exactly the notes and API routes of the url_map."""
    assert routes(world.app) == set(ATTEMPTS)


def _signed_in_cases() -> list[tuple[str, str, str]]:
    return [
        (actor, endpoint, method)
        for actor in ("stranger", "reader", "editor")
        for (endpoint, method), (action, _) in ATTEMPTS.items()
        if action not in MAY[actor] and action not in ("list", "create")
    ]


@pytest.mark.parametrize(
    ("actor", "endpoint", "method"),
    _signed_in_cases(),
    ids=[f"{a}-{e}-{m}" for a, e, m in _signed_in_cases()],
)
def test_refused_with_404_and_note_unchanged(
    world: World, actor: str, endpoint: str, method: str
) -> None:
    """A signed-in user without the right gets the 404 of a missing note; nothing changes."""
    before = snapshot(world)
    missing_id = "x" * 16
    for data in ATTEMPTS[endpoint, method][1]:
        response = attempt(
            world,
            endpoint,
            method,
            data,
            client=world.browser(actor)
            if endpoint.startswith("notes.")
            else world.app.test_client(),
            token=world.tokens[actor] if endpoint.startswith("api.") else None,
        )
        assert response.status_code == 404, (actor, endpoint, method, data)
        assert snapshot(world) == before
    # The same answer as for a note that does not exist.
    world.note_id, real_id = missing_id, world.note_id
    client = world.browser(actor) if endpoint.startswith("notes.") else world.app.test_client()
    token = world.tokens[actor] if endpoint.startswith("api.") else None
    missing = attempt(
        world, endpoint, method, ATTEMPTS[endpoint, method][1][0], client=client, token=token
    )
    world.note_id = real_id
    assert missing.status_code == 404
    assert missing.headers.get("Content-Type") == response.headers.get("Content-Type")


@pytest.mark.parametrize(
    ("endpoint", "method"), sorted(ATTEMPTS), ids=[f"{e}-{m}" for e, m in sorted(ATTEMPTS)]
)
def test_anonymous_is_refused(world: World, endpoint: str, method: str) -> None:
    """An anonymous page request is sent to sign in; an API request gets 401 Bearer."""
    before = snapshot(world)
    for data in ATTEMPTS[endpoint, method][1]:
        response = attempt(world, endpoint, method, data, client=world.browser("anonymous"))
        if endpoint.startswith("api."):
            assert response.status_code == 401
            assert response.headers["WWW-Authenticate"].lower().startswith("bearer")
            assert response.mimetype == "application/problem+json"
        else:
            assert response.status_code == 303
            assert response.headers["Location"].startswith("/login")
        assert snapshot(world) == before


@pytest.mark.parametrize(
    ("endpoint", "method"),
    sorted(key for key in ATTEMPTS if key[0].startswith("api.")),
)
def test_api_ignores_the_session_cookie(world: World, endpoint: str, method: str) -> None:
    """The owner's signed-in browser, without a token, gets 401 Bearer from the API."""
    before = snapshot(world)
    data = ATTEMPTS[endpoint, method][1][0]
    response = attempt(world, endpoint, method, data, client=world.browser("owner"))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].lower().startswith("bearer")
    assert snapshot(world) == before


@pytest.mark.parametrize(
    ("endpoint", "method"),
    sorted(key for key in ATTEMPTS if key[0].startswith("notes.")),
)
def test_pages_refuse_api_tokens(world: World, endpoint: str, method: str) -> None:
    """The owner's own token cannot use the pages (no scopes there, no forgery check)."""
    before = snapshot(world)
    data = ATTEMPTS[endpoint, method][1][0]
    response = attempt(
        world, endpoint, method, data, client=world.app.test_client(), token=world.tokens["owner"]
    )
    assert response.status_code == 401
    assert snapshot(world) == before


@pytest.mark.parametrize(
    ("endpoint", "method"),
    sorted(key for key in ATTEMPTS if key[0].startswith("api.") and key[1] != "GET"),
)
def test_read_scope_cannot_write(world: World, endpoint: str, method: str) -> None:
    """The owner's notes:read token gets 403 on every writing API route."""
    with world.app.app_context():
        owner = get_db().get(User, world.ids["owner"])
        token, _ = create_api_token(owner, "read only", ["notes:read"], 1)
    before = snapshot(world)
    data = ATTEMPTS[endpoint, method][1][0]
    response = attempt(world, endpoint, method, data, client=world.app.test_client(), token=token)
    assert response.status_code == 403
    assert snapshot(world) == before


@pytest.mark.parametrize(
    ("endpoint", "method"),
    sorted(key for key in ATTEMPTS if key[1] == "GET" and ATTEMPTS[key][0] != "create"),
)
def test_read_scope_can_read(world: World, endpoint: str, method: str) -> None:
    """Reading needs notes:read only (and the pages need a browser)."""
    with world.app.app_context():
        owner = get_db().get(User, world.ids["owner"])
        token, _ = create_api_token(owner, "read only", ["notes:read"], 1)
    if endpoint.startswith("notes."):
        response = attempt(world, endpoint, method, {}, client=world.browser("owner"))
    else:
        response = attempt(world, endpoint, method, {}, client=world.app.test_client(), token=token)
    assert response.status_code == 200


@pytest.mark.parametrize("actor", ["stranger", "reader", "editor", "owner"])
@pytest.mark.parametrize("channel", ["page", "api"])
def test_lists_show_exactly_the_visible_notes(world: World, actor: str, channel: str) -> None:
    """A's note is listed for A, R and E, and not for B."""
    if channel == "page":
        response = attempt(world, "notes.index", "GET", {}, client=world.browser(actor))
    else:
        response = attempt(
            world,
            "api.list_notes",
            "GET",
            {},
            client=world.app.test_client(),
            token=world.tokens[actor],
        )
    assert response.status_code == 200
    assert (world.note_id in response.get_data(as_text=True)) is (actor != "stranger")


@pytest.mark.parametrize("channel", ["page", "api"])
def test_reader_can_read(world: World, channel: str) -> None:
    """R reads A's note, through the page and the API."""
    if channel == "page":
        response = attempt(world, "notes.show", "GET", {}, client=world.browser("reader"))
    else:
        response = attempt(
            world,
            "api.get_note",
            "GET",
            {},
            client=world.app.test_client(),
            token=world.tokens["reader"],
        )
    assert response.status_code == 200
    assert "secret" in response.get_data(as_text=True)


@pytest.mark.parametrize("channel", ["page", "api"])
def test_editor_can_edit(world: World, channel: str) -> None:
    """E changes A's note, and A stays its owner with the same shares."""
    before = snapshot(world)
    if channel == "page":
        response = attempt(world, "notes.edit", "POST", EDIT_FORM, client=world.browser("editor"))
        assert response.status_code == 303
    else:
        response = attempt(
            world,
            "api.update_note",
            "PATCH",
            EDIT_FORM,
            client=world.app.test_client(),
            token=world.tokens["editor"],
        )
        assert response.status_code == 200
    after = snapshot(world)
    assert before is not None and after is not None
    assert after[1:3] == ("changed", "changed")
    assert (after[0], after[4]) == (before[0], before[4])
