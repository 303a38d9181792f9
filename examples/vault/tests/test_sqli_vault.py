"""SQL injection through every parameter of every Vault route, on SQLite and PostgreSQL.

The routes come from ``app.url_map``, so a new route is fuzzed without touching this file.
For each route and method, the parameters are found by asking the application: a benign
request is sent while the request records which query, form and JSON keys the view and
Flask-Bastion's pipeline read, and the names of the fields of the forms its page shows
are added. Then every payload of ``tests/corpora/sql.txt`` (tautologies, UNION, stacked
queries, comments, time-based, boolean-based, quotes of every dialect, NUL, Unicode quotes,
JSON type confusion) goes into each path parameter and each field, one at a time, as the
identity the route is for (anonymous, a signed-in member, an administrator, a bearer
token). For every request:

* the answer is never a 5xx;
* no time-based payload executed: they sleep :data:`SLEEP` seconds when they run, so a
  request that takes that long is an injection (attack detection, not a speed test; the
  latency distributions are measured in ``benchmarks/sqli_latency.py``);

and after each route the other users' rows (accounts, notes, shares, tokens, roles,
second factors) are exactly what they were before.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import ipaddress
import re
import secrets
import time
import typing as t
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from conftest import private_schema
from flask import Flask, Request
from flask.testing import FlaskClient
from sqlalchemy import MetaData, select
from test_admin import admin_client
from test_notes import BASE, add_user, create, sign_in, token
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import Rule

from flask_bastion.crypto import new_key
from vault import create_app
from vault.db import database, get_db, init_db
from vault.models import Attachment, User

pytestmark = pytest.mark.slow


def _corpus() -> t.Any:
    path = Path(__file__).resolve().parents[3] / "tests" / "corpora" / "__init__.py"
    spec = importlib.util.spec_from_file_location("corpora", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: Seconds a time-based payload sleeps when it runs: a request this slow is an injection.
SLEEP = 6
PAYLOADS: list[str] = [p.text.replace("SLEEP", str(SLEEP)) for p in _corpus().load("sql.txt")]
#: JSON values of another type than the string a field expects.
JSON_VALUES: list[object] = [
    0, -1, 1.5, 2**63, True, None, [], {}, ["' OR 1=1 --"], {"$ne": None}, {"' OR 1=1 --": 1},
]  # fmt: skip
ATTACKER = "mallory@example.com"
#: Where payloads come from; sign-ins come from the test client's 127.0.0.1.
FUZZ_ADDRESSES = ipaddress.IPv4Address("127.1.0.0")
VICTIMS = ("ann@example.com", "bob@example.com")
#: Columns that say whose a row is.
OWNER_COLUMNS = ("user_id", "owner_id", "note_id")


# What a view reads: a request class that records the keys looked up


_read: set[tuple[str, str]] | None = None


def _note(source: str, key: object) -> None:
    if _read is not None and isinstance(key, str):
        _read.add((source, key))


class _Fields(ImmutableMultiDict[str, t.Any]):
    """Query or form fields that record each key looked up."""

    source = "fields"

    def __getitem__(self, key: str) -> t.Any:
        _note(self.source, key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        _note(self.source, key)
        return super().__contains__(key)

    def get(self, key: str, default: t.Any = None, type: t.Any = None) -> t.Any:
        _note(self.source, key)
        return super().get(key, default, type)

    def getlist(self, key: str, type: t.Any = None) -> list[t.Any]:
        _note(self.source, key)
        return super().getlist(key, type)


class _Files(_Fields):
    """Uploaded files that record each field name looked up."""

    source = "files"


class _Json(dict[str, t.Any]):
    """A JSON object that records each key looked up."""

    def __getitem__(self, key: str) -> t.Any:
        _note("json", key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        _note("json", key)
        return super().__contains__(key)

    def get(self, key: str, default: t.Any = None) -> t.Any:
        _note("json", key)
        return super().get(key, default)


class RecordingRequest(Request):
    parameter_storage_class = _Fields

    def _load_form_data(self) -> None:
        super()._load_form_data()
        self.__dict__["files"] = _Files(self.__dict__["files"])

    def get_json(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        data = super().get_json(*args, **kwargs)
        return _Json(data) if type(data) is dict else data


class _FormFields(HTMLParser):
    """The names of the fields of the forms of a page that post to ``action``."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.inside = False
        self.names: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self.inside = urlsplit(found.get("action") or self.action).path == self.action
        elif self.inside and tag in ("input", "textarea", "select", "button") and found.get("name"):
            self.names.add(t.cast(str, found["name"]))


# The arena: victims with data, an attacker with every identity


class Arena(t.NamedTuple):
    app: Flask
    clients: dict[str, FlaskClient]
    bearer: dict[str, str]
    path_values: dict[str, str]
    victim_keys: set[str]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def arena(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Arena]:
    """Vault with two victims (notes, a share, a token) and an attacker: a member with a
    note and a token, and an administrator."""
    sqlite = f"sqlite:///{tmp_path_factory.mktemp('sqli') / 'vault.sqlite3'}"
    place = private_schema() if request.param == "postgresql" else contextlib.nullcontext(sqlite)
    with place as url:
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": secrets.token_hex(32),
                "BASTION_CRYPTO_KEYS": [new_key()],
                "DATABASE_URL": url,
                "TRUSTED_HOSTS": ["localhost"],
                "BASTION_SESSIONS_STORE": "memory",
                "BASTION_MAIL_OUTBOX": str(tmp_path_factory.mktemp("outbox")),
                "BASTION_UPLOADS_FOLDER": str(tmp_path_factory.mktemp("uploads")),
                # Tens of thousands of requests: past every rate limit and scanning-burst
                # ban, which would answer in the views' place (they have their own tests).
                "BASTION_RATELIMIT_ENABLED": False,
                "BASTION_IPFILTER_NOTFOUND_BURST": 0,
            }
        )
        app.request_class = RecordingRequest
        with app.app_context():
            init_db()
            victims = [add_user(email) for email in VICTIMS]
            add_user(ATTACKER)
        ann = sign_in(app, VICTIMS[0])
        shared = create(ann, "Ann's plan", "the *secret* plan")
        ann.post(f"{BASE}/notes/{shared}/share", data={"email": VICTIMS[1], "access": "read"})
        minutes = {"file": (io.BytesIO(b"the secret minutes"), "minutes.txt")}
        assert ann.post(f"{BASE}/notes/{shared}/attachments", data=minutes).status_code == 303
        token(app, VICTIMS[0])
        admin = admin_client(app)
        with app.app_context():
            admin_id = (
                get_db().scalars(select(User.id).where(User.email_key == "admin@example.com")).one()
            )
            # The victim's attachment: the attacker's requests name it under their own note.
            attachment_id = get_db().scalars(select(Attachment.id)).one()
        yield Arena(
            app,
            {"admin": admin},
            token(app, ATTACKER),
            {
                "user_id": str(admin_id),
                "passkey_id": "1",
                "token": "x",
                "filename": "vault.css",
                "attachment_id": attachment_id,
            },
            {str(v) for v in victims} | {shared},
        )
        with app.app_context():
            database().engine.dispose()


def snapshot(app: Flask, keys: set[str]) -> dict[str, list[tuple[t.Any, ...]]]:
    """Every row of every table that belongs to a victim: the account row, and rows whose
    ``user_id``, ``owner_id`` or ``note_id`` is a victim's or a victim's note."""
    with app.app_context():
        engine = database().engine
        meta = MetaData()
        meta.reflect(bind=engine)
        rows: dict[str, list[tuple[t.Any, ...]]] = {}
        with engine.connect() as connection:
            for table in meta.sorted_tables:
                owners = [c for c in table.c if c.name in OWNER_COLUMNS]
                if table.name == "users":
                    owners.append(table.c.id)
                if not owners:
                    continue
                found = [
                    tuple(row)
                    for row in connection.execute(select(table))
                    if any(str(row._mapping[c.name]) in keys for c in owners)
                ]
                rows[table.name] = sorted(found, key=repr)
        return rows


# The routes


def _routes() -> list[tuple[str, str]]:
    app = create_app(
        {"SECRET_KEY": "x" * 32, "DATABASE_URL": "sqlite://", "BASTION_CRYPTO_KEYS": [new_key()]}
    )
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted(t.cast(set[str], rule.methods) - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method))
    return sorted(found)


ROUTES = _routes()


def identities(endpoint: str) -> list[str]:
    """Who calls a route: the API with a token, the admin area as an administrator,
    everything else as a member; everything but the admin area also anonymously."""
    if endpoint.startswith("api."):
        return ["anonymous", "bearer"]
    if endpoint.startswith("admin."):
        return ["admin"]
    return ["anonymous", "member"]


def member(arena: Arena) -> FlaskClient:
    """The attacker's member session, signed in again (and unlocked, since payloads in
    password fields count as failures) when an earlier route ended it or it is no longer
    fresh."""
    client = arena.clients.get("member")
    if client is None or client.get(f"{BASE}/account/tokens").status_code != 200:
        arena.app.test_cli_runner().invoke(args=["bastion", "users", "unlock", ATTACKER])
        client = arena.clients["member"] = sign_in(arena.app, ATTACKER)
    return client


class Caller:
    """Sends requests to one route as one identity, and checks each answer."""

    def __init__(self, arena: Arena, rule: Rule, method: str, who: str) -> None:
        self.arena, self.rule, self.method = arena, rule, method
        if who == "member":
            self.client = member(arena)
        else:
            self.client = arena.clients[who] if who == "admin" else arena.app.test_client()
        self.client.environ_base["HTTP_SEC_FETCH_SITE"] = "same-origin"
        self.headers = arena.bearer if who == "bearer" else {}
        # A note of the attacker's own for routes that take one: a fresh one, as an
        # earlier route may have deleted the last.
        own = create(member(arena), "Mallory's", "mine") if "note_id" in rule.arguments else ""
        self.path_values = {**arena.path_values, "note_id": own}
        self.sent = 0

    def url(self, path_values: dict[str, str] | None = None) -> str:
        """The route's URL; a path parameter without a benign value of its own gets "1"
        (a new route's ID: not found, which is all a benign value needs to be)."""
        values = {**self.path_values, **(path_values or {})}
        return BASE + re.sub(
            r"<(?:[^:<>]+:)?([^<>]+)>",
            lambda m: quote(values.get(m.group(1), "1"), safe=""),
            self.rule.rule,
        )

    def send(self, path_values: dict[str, str] | None = None, **kwargs: t.Any) -> t.Any:
        url = self.url(path_values)
        started = time.perf_counter()
        # Each payload from its own address, as from a botnet: the sign-in throttle counts
        # failures per address, and the payloads must reach the views.
        self.sent += 1
        address = {"REMOTE_ADDR": str(FUZZ_ADDRESSES + self.sent % 2**16)}
        response = self.client.open(
            url, method=self.method, headers=self.headers, environ_overrides=address, **kwargs
        )
        elapsed = time.perf_counter() - started
        response.close()
        where = (self.method, url, kwargs)
        assert response.status_code < 500, where
        assert elapsed < SLEEP, ("an injected sleep ran", elapsed, where)
        return response

    def parameters(self) -> set[tuple[str, str]]:
        """The (source, name) pairs the route reads, found by asking it: the keys a
        benign request looks up, and for a change, the fields of the forms on its page."""
        global _read
        _read = set()
        try:
            if self.method == "GET":
                self.send()
                return set(_read)
            self.send(data={})
            self.send(json={})
            if "GET" in (self.rule.methods or ()):
                url = self.url()
                page = self.client.get(url, headers=self.headers)
                if page.mimetype == "text/html":
                    fields = _FormFields(urlsplit(url).path)
                    fields.feed(page.get_data(as_text=True))
                    _read |= {("fields", name) for name in fields.names}
            return set(_read)
        finally:
            _read = None


def fuzz(arena: Arena, endpoint: str, method: str) -> int:
    """Every payload into every parameter of ``endpoint`` for each of its identities;
    the number of requests sent."""
    [rule] = [r for r in arena.app.url_map.iter_rules() if r.endpoint == endpoint]
    sent = 0
    for who in identities(endpoint):
        caller = Caller(arena, rule, method, who)
        found = caller.parameters()
        for name in rule.arguments:
            for payload in PAYLOADS:
                caller.send({name: payload})
        for source, name in sorted(found):
            for payload in PAYLOADS:
                if source == "json":
                    caller.send(json={name: payload})
                elif source == "files":  # the payload as the uploaded file's name
                    caller.send(data={name: (io.BytesIO(b"attachment\n"), payload)})
                elif method == "GET":
                    caller.send(query_string={name: payload})
                else:
                    caller.send(data={name: payload})
            if source == "json":
                for value in JSON_VALUES:
                    caller.send(json={name: value})
        if method != "GET":
            # The whole body as the payload, for the parsers before any view.
            for payload in PAYLOADS:
                caller.send(data=payload.encode(), content_type="application/json")
        sent += caller.sent
    return sent


def test_the_corpus_covers_every_family() -> None:
    """Tautologies to type confusion, with time-based payloads that would sleep."""
    groups = {p.group for p in _corpus().load("sql.txt")}
    assert {"tautologies", "union", "stacked queries", "time-based", "nul and control characters",
            "unicode quotes", "type confusion"} <= groups  # fmt: skip
    assert sum(f"({SLEEP})" in p or f"{SLEEP}000" in p for p in PAYLOADS) >= 8


@pytest.mark.parametrize(("endpoint", "method"), ROUTES, ids=[f"{m} {e}" for e, m in ROUTES])
def test_no_route_can_be_injected(arena: Arena, endpoint: str, method: str) -> None:
    """Every payload in every parameter: no 5xx, no injected sleep, other users' rows
    unchanged."""
    before = snapshot(arena.app, arena.victim_keys)
    assert fuzz(arena, endpoint, method) > 0
    assert snapshot(arena.app, arena.victim_keys) == before
