"""Authorization: roles and permissions in the database (SQLite and PostgreSQL), the view
decorators, the object policy and its 404, the end of sessions on a role change, the
``flask bastion users`` commands, signals and security log lines."""

from __future__ import annotations

import logging
import re
import threading
import typing as t
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask, jsonify, render_template_string, request
from flask.cli import ScriptInfo
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from werkzeug.exceptions import NotFound

from flask_bastion import ConfigurationError, get_state, signals
from flask_bastion.accounts import User, accounts_state, current_user, find_user
from flask_bastion.accounts.models import ApiToken, Role, RolePermission, UserRole
from flask_bastion.authz import (
    REASON_OBJECT,
    REASON_PERMISSION,
    REASON_ROLE,
    Policy,
    authorize,
    authorized,
    define_role,
    get_or_404,
    grant_role,
    has_permission,
    has_role,
    permission_required,
    permissions_of,
    revoke_role,
    roles_accepted,
    roles_of,
    roles_required,
)
from flask_bastion.authz import roles as authz_roles
from flask_bastion.cli import bastion_cli
from flask_bastion.exceptions import AccessDenied, LastHolderError, ObjectDenied, RoleError

from .accounts_helpers import BASE, GOOD_PASSWORD, Site, make_site
from .conftest import make_app

JSON = {"Accept": "application/json"}


class NotesBase(DeclarativeBase):
    pass


class Note(NotesBase):
    __tablename__ = "test_authz_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[str] = mapped_column(sa.String(64))
    title: Mapped[str] = mapped_column(sa.String(80))


class PinnedNote(Note):
    """A subclass: the rules of ``Note`` apply to it."""


policy = Policy()


@policy.rule(Note, "read")
def read_note(user: t.Any, note: Note) -> bool:
    return bool(user.is_authenticated) and note.owner_id == user.get_id()


@policy.rule(Note, "vague")
def vague_rule(user: t.Any, note: Note) -> t.Any:
    return "yes"  # truthy, but not True: denies


def add_routes(app: Flask) -> None:
    @app.get("/admin")
    @roles_required("admin")
    def admin() -> t.Any:
        return "admin area"

    @app.get("/both")
    @roles_required("admin", "editor")
    def both() -> t.Any:
        return "both"

    @app.get("/editor")
    @roles_accepted("editor", "admin")
    def editor() -> t.Any:
        return "editor area"

    @app.get("/purge")
    @permission_required("notes:delete")
    def purge() -> t.Any:
        return "purged"

    @app.get("/async/admin")
    @roles_required("admin")
    async def admin_async() -> t.Any:
        return "admin area"

    @app.get("/async/editor")
    @roles_accepted("editor", "admin")
    async def editor_async() -> t.Any:
        return "editor area"

    @app.get("/async/purge")
    @permission_required("notes:delete")
    async def purge_async() -> t.Any:
        return "purged"

    @app.get("/notes/<int:note_id>")
    def note(note_id: int) -> t.Any:
        return get_or_404(Note, note_id, request.args.get("action", "read")).title

    @app.get("/by-text/<note_id>")
    def by_text(note_id: str) -> t.Any:
        return get_or_404(Note, note_id, "read").title

    @app.get("/authorize/<int:note_id>")
    def authorize_view(note_id: int) -> t.Any:
        found = accounts_state().db().get(Note, note_id)
        return authorize(found, "read").title

    @app.get("/listing")
    def listing() -> t.Any:
        notes = accounts_state().db().scalars(sa.select(Note).order_by(Note.id))
        return jsonify([n.title for n in notes if authorized(n, "read")])

    @app.get("/page")
    def page() -> t.Any:
        notes = accounts_state().db().scalars(sa.select(Note).order_by(Note.id))
        return render_template_string(
            "{{ has_role('admin') }} {{ has_permission('notes:delete') }}"
            "{% for n in notes %} {{ authorized(n, 'read') }}{% endfor %}",
            notes=list(notes),
        )

    @app.post("/roles")
    def change_role() -> t.Any:
        data = request.get_json()
        user = find_user(data["email"])
        change = revoke_role if data.get("remove") else grant_role
        return jsonify(changed=change(user, data["role"]))


@pytest.fixture
def site(smtp_server: t.Any, tmp_path: t.Any) -> Iterator[Site]:
    # Roles here, not their second factor (tests/test_mfa_flow.py): no role is held on
    # the enrolment page.
    made = make_site(
        smtp_server,
        BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/a.db",
        BASTION_ACCOUNTS_MFA_REQUIRED_ROLES=[],
    )
    add_routes(made.app)
    policy.init_app(made.app)
    with made.app.app_context():
        NotesBase.metadata.create_all(accounts_state(made.app).engine)
        define_role("admin", ["notes:delete", "users:manage"], "Administrators")
        define_role("editor", ["notes:edit"])
    yield made
    made.mails()


def grant(site: Site, email: str, role: str) -> None:
    with site.app.app_context():
        grant_role(find_user(email), role)


def add_note(site: Site, owner: str, title: str) -> int:
    with site.app.app_context():
        db = accounts_state(site.app).db()
        note = Note(owner_id=find_user(owner).get_id(), title=title)
        db.add(note)
        db.commit()
        return note.id


def new_user(site: Site, email: str) -> t.Any:
    """A verified user row, without a browser."""
    with site.app.app_context():
        state = accounts_state(site.app)
        user = User(
            email=email,
            email_key=email,
            password_hash=state.passwords.hash(GOOD_PASSWORD),
            created_at=site.clock(),
            email_verified_at=site.clock(),
        )
        state.db().add(user)
        state.db().commit()
        return user


def rows(site: Site, model: type[t.Any]) -> list[tuple[t.Any, ...]]:
    with site.app.app_context():
        table = model.__table__
        return [tuple(r) for r in accounts_state(site.app).db().execute(sa.select(table))]


def strip_volatile(body: bytes) -> bytes:
    """``body`` without its request ID and CSP nonce."""
    body = re.sub(rb'nonce="[^"]+"', b'nonce="X"', body)
    return re.sub(rb"[0-9a-f]{24}", b"RID", body)


# Roles and permissions


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_roles_and_permissions_round_trip(
    database: str, smtp_server: t.Any, tmp_path: t.Any, request: pytest.FixtureRequest
) -> None:
    """Defined, granted, read, redefined and revoked roles land in the tables as said."""
    url = (
        f"sqlite:///{tmp_path}/a.db" if database == "sqlite" else request.getfixturevalue("pg_url")
    )
    site = make_site(smtp_server, BASTION_ACCOUNTS_DATABASE_URL=url)
    ann = new_user(site, "ann@example.com")
    with site.app.app_context():
        define_role("editor", ["notes:edit", "notes:read"], "Edits notes")
        assert grant_role(ann, "editor") is True
        assert roles_of(ann) == {"editor"}
        assert permissions_of(ann) == {"notes:edit", "notes:read"}
        assert has_role(ann, "editor") and not has_role(ann, "admin")
        assert has_permission(ann, "notes:read") and not has_permission(ann, "notes:delete")
        define_role("editor", ["notes:read", "notes:publish"], "Edits and publishes")
        assert permissions_of(ann) == {"notes:read", "notes:publish"}
    assert rows(site, Role) == [("editor", "Edits and publishes")]
    assert sorted(rows(site, RolePermission)) == [
        ("editor", "notes:publish"),
        ("editor", "notes:read"),
    ]
    assert rows(site, UserRole) == [(ann.get_id(), "editor")]
    with site.app.app_context():
        assert revoke_role(ann, "editor") is True
        assert roles_of(ann) == frozenset()
    assert rows(site, UserRole) == []
    accounts_state(site.app).engine.dispose()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_two_holders_revoking_each_other_leave_one(
    database: str,
    smtp_server: t.Any,
    tmp_path: t.Any,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The race of two administrators removing each other's role at the same moment:
    both requests are held together after their authorization, then both revoke with
    keep_one. Exactly one wins, one administrator is left; before keep_one both won and
    nobody was left."""
    url = (
        f"sqlite:///{tmp_path}/a.db" if database == "sqlite" else request.getfixturevalue("pg_url")
    )
    site = make_site(smtp_server, BASTION_ACCOUNTS_DATABASE_URL=url)
    ann, bob = new_user(site, "ann@example.com"), new_user(site, "bob@example.com")
    with site.app.app_context():
        define_role("admin", ["users:manage"])
        grant_role(ann, "admin")
        grant_role(bob, "admin")
    barrier = threading.Barrier(2, timeout=30)
    real_target = authz_roles._target

    def held(user: t.Any) -> str:
        barrier.wait()
        return real_target(user)

    monkeypatch.setattr(authz_roles, "_target", held)
    outcomes: list[str] = []

    def revoke(user: t.Any) -> None:
        with site.app.app_context():
            try:
                revoke_role(user, "admin", keep_one=True)
                outcomes.append("revoked")
            except LastHolderError:
                outcomes.append("refused")

    threads = [threading.Thread(target=revoke, args=(user,)) for user in (ann, bob)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["refused", "revoked"]
    assert len(rows(site, UserRole)) == 1
    monkeypatch.undo()
    with site.app.app_context(), pytest.raises(LastHolderError):
        revoke_role(
            ann if rows(site, UserRole)[0][0] == ann.get_id() else bob, "admin", keep_one=True
        )
    assert len(rows(site, UserRole)) == 1
    accounts_state(site.app).engine.dispose()


def test_granting_twice_and_revoking_what_is_not_held_change_nothing(site: Site) -> None:
    """A second grant and a revocation of a role not held return False."""
    ann = new_user(site, "ann@example.com")
    with site.app.app_context():
        assert grant_role(ann, "editor") is True
        assert grant_role(ann, "editor") is False
        assert revoke_role(ann, "admin") is False
    assert rows(site, UserRole) == [(ann.get_id(), "editor")]


def test_an_undefined_role_cannot_be_granted(site: Site) -> None:
    """Granting a role nobody defined raises RoleError and writes nothing."""
    ann = new_user(site, "ann@example.com")
    with site.app.app_context(), pytest.raises(RoleError, match="unknown role"):
        grant_role(ann, "wizard")
    assert rows(site, UserRole) == []


def test_an_anonymous_user_has_no_roles_and_cannot_get_one(site: Site) -> None:
    """The anonymous user holds nothing, and giving it a role is an error."""
    with site.app.test_request_context():
        assert roles_of(current_user) == frozenset()
        assert permissions_of(current_user) == frozenset()
        with pytest.raises(RoleError, match="anonymous"):
            grant_role(current_user, "admin")


@pytest.mark.parametrize(
    ("name", "permissions"),
    [("", []), ("has space", []), ("-lead", []), ("x" * 65, []), ("ok", ["bad perm"])],
    ids=["empty", "space", "leading-dash", "too-long", "bad-permission"],
)
def test_invalid_role_and_permission_names_are_refused(
    site: Site, name: str, permissions: list[str]
) -> None:
    """define_role refuses names outside letters, digits and _ . : - (64 at most)."""
    with site.app.app_context(), pytest.raises(RoleError):
        define_role(name, permissions)


def test_roles_are_read_once_per_request(site: Site) -> None:
    """Any number of checks in one request cost one query."""
    ann = new_user(site, "ann@example.com")
    grant(site, "ann@example.com", "admin")
    statements: list[str] = []
    engine = accounts_state(site.app).engine
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        with site.app.test_request_context():
            for _ in range(3):
                assert has_role(ann, "admin") and has_permission(ann, "users:manage")
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    assert len([s for s in statements if "bastion_user_roles" in s]) == 1


def test_a_grant_in_the_request_is_seen_by_the_next_check(site: Site) -> None:
    """A role change in a request drops that user's cached roles."""
    ann = new_user(site, "ann@example.com")
    with site.app.test_request_context():
        assert not has_role(ann, "editor")
        grant_role(ann, "editor")
        assert has_role(ann, "editor")
        define_role("editor", ["notes:edit", "notes:read"])
        assert has_permission(ann, "notes:read")


def test_redefining_a_role_unchanged_writes_nothing(site: Site) -> None:
    """define_role with what the role already has only reads."""
    statements: list[str] = []
    engine = accounts_state(site.app).engine
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        with site.app.app_context():
            define_role("editor", ["notes:edit"])
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    assert statements and all(s.lstrip().startswith("SELECT") for s in statements)


@contextmanager
def insert_first(site: Site, table: str, statement: t.Any) -> Iterator[None]:
    """Run ``statement`` on another connection just before this process first inserts
    into ``table``: another worker winning the race."""
    engine = accounts_state(site.app).engine
    done: list[bool] = []

    def race(conn: t.Any, cursor: t.Any, sql: str, *args: t.Any) -> None:
        if not done and sql.startswith(f"INSERT INTO {table}"):
            done.append(True)
            other = sa.create_engine(engine.url)
            with other.begin() as connection:
                connection.execute(statement)
            other.dispose()

    sa.event.listen(engine, "before_cursor_execute", race)
    try:
        yield
    finally:
        sa.event.remove(engine, "before_cursor_execute", race)
    assert done


def test_define_role_survives_a_concurrent_definition(site: Site) -> None:
    """Two workers defining one role at once: the loser reads it again and adjusts it."""
    with (
        site.app.app_context(),
        insert_first(site, "bastion_roles", sa.insert(Role).values(name="ops", description="x")),
    ):
        define_role("ops", ["servers:restart"], "Operations")
    assert ("ops", "Operations") in rows(site, Role)
    assert ("ops", "servers:restart") in rows(site, RolePermission)


def test_a_concurrent_grant_is_not_granted_twice(site: Site) -> None:
    """A grant that loses the race to an identical one returns False."""
    ann = new_user(site, "ann@example.com")
    insert = sa.insert(UserRole).values(user_id=ann.get_id(), role="editor")
    with site.app.app_context(), insert_first(site, "bastion_user_roles", insert):
        assert grant_role(ann, "editor") is False
    assert rows(site, UserRole) == [(ann.get_id(), "editor")]


def test_deleting_an_account_deletes_its_roles(site: Site) -> None:
    """A later account given the same ID must not inherit the roles."""
    client = site.user("ann@example.com")
    grant(site, "ann@example.com", "admin")
    client = site.client()
    site.login(client, "ann@example.com")
    response = client.post(f"{BASE}/account/delete", data={"current_password": GOOD_PASSWORD})
    assert response.status_code == 303
    assert rows(site, UserRole) == []


# View decorators


def test_anonymous_visitors_are_sent_to_sign_in(site: Site) -> None:
    """A guarded view redirects an anonymous browser to /login with next."""
    response = site.client().get(f"{BASE}/admin")
    assert response.status_code == 303
    assert response.location == "/login?next=/admin"


def test_anonymous_json_clients_get_401(site: Site) -> None:
    """A JSON client without a session gets a 401 problem document."""
    response = site.client().get(f"{BASE}/purge", headers=JSON)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    ("path", "reason"),
    [("/admin", REASON_ROLE), ("/editor", REASON_ROLE), ("/purge", REASON_PERMISSION)],
    ids=["roles_required", "roles_accepted", "permission_required"],
)
def test_signed_in_users_without_the_grant_get_403(site: Site, path: str, reason: str) -> None:
    """A signed-in user lacking the role or permission gets 403 with the reason."""
    client = site.user("ann@example.com")
    response = client.get(BASE + path, headers=JSON)
    assert response.status_code == 403
    assert response.json["detail"] == reason


@pytest.mark.parametrize(
    ("role", "path", "status"),
    [
        ("admin", "/admin", 200),
        ("admin", "/purge", 200),
        ("editor", "/editor", 200),
        ("admin", "/editor", 200),
        ("admin", "/both", 403),
        ("editor", "/admin", 403),
    ],
    ids=["role", "permission", "accepted", "accepted-other", "required-all", "other-role"],
)
def test_decorators_follow_the_users_roles(site: Site, role: str, path: str, status: int) -> None:
    """roles_required needs all, roles_accepted any one, permission_required all."""
    client = site.user("ann@example.com")
    grant(site, "ann@example.com", role)
    client = site.client()
    site.login(client, "ann@example.com")
    assert client.get(BASE + path).status_code == status


def test_403_is_logged_and_signalled_with_the_endpoint(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """A refusal sends access_denied and logs authz.denied with the endpoint."""
    client = site.user("ann@example.com")
    seen: list[dict[str, t.Any]] = []
    with (
        signals.access_denied.connected_to(lambda app, **kw: seen.append(kw), site.app),
        caplog.at_level(logging.INFO, "flask_bastion.security"),
    ):
        client.get(f"{BASE}/admin")
    user_id = user_of_id(site, "ann@example.com")
    assert seen == [
        {
            "reason": REASON_ROLE,
            "status": 403,
            "endpoint": "admin",
            "action": None,
            "user_id": user_id,
        }
    ]
    [line] = [r for r in caplog.records if getattr(r, "event", None) == "authz.denied"]
    assert (line.endpoint, line.status, line.user_id) == ("admin", 403, user_id)  # type: ignore[attr-defined]


ASYNC_TWINS = pytest.mark.parametrize(
    ("path", "reason", "role", "text"),
    [
        ("/admin", REASON_ROLE, "admin", "admin area"),
        ("/editor", REASON_ROLE, "editor", "editor area"),
        ("/purge", REASON_PERMISSION, "admin", "purged"),
    ],
    ids=["roles_required", "roles_accepted", "permission_required"],
)


@ASYNC_TWINS
def test_an_async_view_is_awaited_for_a_user_with_the_grant(
    site: Site, path: str, reason: str, role: str, text: str
) -> None:
    """A user holding the role or permission gets the ``async def`` view's response."""
    site.user("ann@example.com")
    grant(site, "ann@example.com", role)
    client = site.client()
    site.login(client, "ann@example.com")
    response = client.get(f"{BASE}/async{path}")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == text


@ASYNC_TWINS
@pytest.mark.parametrize("headers", [{}, JSON], ids=["browser", "json"])
def test_an_async_view_sends_anonymous_visitors_to_sign_in(
    site: Site, path: str, reason: str, role: str, text: str, headers: dict[str, str]
) -> None:
    """An anonymous browser is sent to sign in and a JSON client gets 401, as from a sync
    view, and the async view never runs."""
    client = site.client()
    sync = client.get(BASE + path, headers=headers)
    async_ = client.get(f"{BASE}/async{path}", headers=headers)
    assert async_.status_code == sync.status_code == (401 if headers else 303)
    if headers:
        assert async_.mimetype == "application/problem+json"
        assert async_.json["detail"] == sync.json["detail"]
    else:
        assert async_.location == f"/login?next=/async{path}"


@ASYNC_TWINS
def test_an_async_view_refuses_a_user_without_the_grant_as_a_sync_view_does(
    site: Site, caplog: pytest.LogCaptureFixture, path: str, reason: str, role: str, text: str
) -> None:
    """A user lacking the role or permission gets the same 403, access_denied signal and
    authz.denied line from an async view as from a sync one."""
    client = site.user("ann@example.com")
    seen: list[dict[str, t.Any]] = []
    with (
        signals.access_denied.connected_to(lambda app, **kw: seen.append(kw), site.app),
        caplog.at_level(logging.INFO, "flask_bastion.security"),
    ):
        sync = client.get(BASE + path, headers=JSON)
        async_ = client.get(f"{BASE}/async{path}", headers=JSON)
    assert async_.status_code == sync.status_code == 403
    assert async_.json["detail"] == sync.json["detail"] == reason
    endpoint = path.strip("/")
    assert [kw.pop("endpoint") for kw in seen] == [endpoint, f"{endpoint}_async"]
    assert seen[0] == seen[1]
    lines = [r for r in caplog.records if getattr(r, "event", None) == "authz.denied"]
    assert [line.status for line in lines] == [403, 403]  # type: ignore[attr-defined]


def user_of_id(site: Site, email: str) -> str:
    with site.app.app_context():
        return str(find_user(email).get_id())


def test_decorators_need_valid_names() -> None:
    """A decorator with no name or an invalid one fails when applied, not per request."""
    with pytest.raises(TypeError):
        roles_required()
    with pytest.raises(RoleError):
        permission_required("not a name")


def test_access_denied_is_a_403_rejection() -> None:
    """AccessDenied is a 403; ObjectDenied a 404 with werkzeug's own text."""
    assert AccessDenied(REASON_ROLE, endpoint="x").code == 403
    hidden = ObjectDenied(REASON_OBJECT, endpoint="x", action="read")
    assert hidden.code == 404
    assert hidden.description == NotFound.description


# Object policy


def test_the_owner_reads_the_note(site: Site) -> None:
    """A rule that allows returns the object."""
    client = site.user("ann@example.com")
    note = add_note(site, "ann@example.com", "Ann's plans")
    assert client.get(f"{BASE}/notes/{note}").text == "Ann's plans"
    assert client.get(f"{BASE}/authorize/{note}").text == "Ann's plans"


def test_a_missing_and_a_forbidden_note_answer_alike(site: Site) -> None:
    """Another user's note and a note that does not exist get the same 404 body."""
    site.user("ann@example.com")
    bob = site.user("bob@example.com")
    note = add_note(site, "ann@example.com", "Ann's plans")
    for headers in ({}, JSON):
        forbidden = bob.get(f"{BASE}/notes/{note}", headers=headers)
        missing = bob.get(f"{BASE}/notes/{note + 1000}", headers=headers)
        assert forbidden.status_code == missing.status_code == 404
        assert strip_volatile(forbidden.data) == strip_volatile(missing.data)
        assert forbidden.headers.get("Content-Type") == missing.headers.get("Content-Type")
        assert b"Ann" not in forbidden.data


def test_an_anonymous_visitor_gets_404_for_a_note(site: Site) -> None:
    """The rule gets the anonymous user and refuses; the answer is a 404."""
    site.user("ann@example.com")
    note = add_note(site, "ann@example.com", "Ann's plans")
    assert site.client().get(f"{BASE}/notes/{note}").status_code == 404


@pytest.mark.parametrize("action", ["delete", "vague"], ids=["no-rule", "truthy-not-true"])
def test_object_actions_are_denied_by_default(site: Site, action: str) -> None:
    """An action without a rule, or a rule that returns anything but True, denies."""
    client = site.user("ann@example.com")
    note = add_note(site, "ann@example.com", "Ann's plans")
    assert client.get(f"{BASE}/notes/{note}?action={action}").status_code == 404


def test_an_application_without_a_policy_denies_every_object(
    smtp_server: t.Any, tmp_path: t.Any
) -> None:
    """No policy bound: nothing is authorized."""
    bare = make_site(smtp_server, BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/b.db")
    add_routes(bare.app)
    with bare.app.app_context():
        NotesBase.metadata.create_all(accounts_state(bare.app).engine)
    client = bare.user("ann@example.com")
    note = add_note(bare, "ann@example.com", "Ann's plans")
    assert client.get(f"{BASE}/notes/{note}").status_code == 404
    bare.mails()


def test_a_rule_covers_subclasses(site: Site) -> None:
    """A rule registered for a class applies to its subclasses."""
    with site.app.test_request_context():
        assert not authorized(PinnedNote(owner_id="1", title="t"), "read")
        assert not authorized(None, "read")
    assert policy.allows(FakeUser("7"), PinnedNote(owner_id="7", title="t"), "read")


class FakeUser:
    is_authenticated = True

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id

    def get_id(self) -> str:
        return self.user_id


def test_a_text_id_that_is_no_number_is_missing(site: Site) -> None:
    """get_or_404 with a non-numeric text key answers 404 without a query."""
    client = site.user("ann@example.com")
    note = add_note(site, "ann@example.com", "Ann's plans")
    assert client.get(f"{BASE}/by-text/{note}").text == "Ann's plans"
    assert client.get(f"{BASE}/by-text/x1").status_code == 404


@pytest.mark.parametrize("digits", [10, 19, 40])
def test_a_text_id_past_the_columns_range_is_missing(site: Site, digits: int) -> None:
    """get_or_404 with a number the integer key cannot hold answers 404, not a
    database error (SQLite overflows past 64 bits, PostgreSQL's INTEGER past 31)."""
    client = site.user("ann@example.com")
    assert client.get(f"{BASE}/by-text/{'9' * digits}").status_code == 404


def test_object_denial_is_logged_without_the_object(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused object logs authz.denied with endpoint and action, never its data."""
    site.user("ann@example.com")
    bob = site.user("bob@example.com")
    note = add_note(site, "ann@example.com", "Ann's secret plans")
    seen: list[dict[str, t.Any]] = []
    with (
        signals.access_denied.connected_to(lambda app, **kw: seen.append(kw), site.app),
        caplog.at_level(logging.INFO, "flask_bastion.security"),
    ):
        bob.get(f"{BASE}/notes/{note}")
        bob.get(f"{BASE}/notes/{note + 1000}")  # missing: nothing to log
    assert seen == [
        {
            "reason": REASON_OBJECT,
            "status": 404,
            "endpoint": "note",
            "action": "read",
            "user_id": user_of_id(site, "bob@example.com"),
        }
    ]
    [line] = [r for r in caplog.records if getattr(r, "event", None) == "authz.denied"]
    assert (line.endpoint, line.action, line.status) == ("note", "read", 404)  # type: ignore[attr-defined]
    assert "secret" not in caplog.text


def test_listing_and_templates_see_only_what_is_allowed(site: Site) -> None:
    """authorized() filters a list; templates get has_role, has_permission, authorized."""
    ann = site.user("ann@example.com")
    site.user("bob@example.com")
    add_note(site, "ann@example.com", "mine")
    add_note(site, "bob@example.com", "theirs")
    assert ann.get(f"{BASE}/listing").json == ["mine"]
    assert ann.get(f"{BASE}/page").text == "False False True False"
    grant(site, "ann@example.com", "admin")
    ann = site.client()
    site.login(ann, "ann@example.com")
    assert ann.get(f"{BASE}/page").text == "True True True False"


def test_a_rule_is_registered_once_per_model_and_action() -> None:
    """A second rule for the same (model, action) is a configuration error."""
    with pytest.raises(ConfigurationError, match="already has a rule"):
        policy.rule(Note, "read")(read_note)
    with pytest.raises(TypeError):
        policy.rule(Note)


def test_an_application_has_one_policy(site: Site) -> None:
    """Binding a second policy fails; binding the same one again is harmless."""
    policy.init_app(site.app)
    with pytest.raises(ConfigurationError, match="object policy already"):
        Policy().init_app(site.app)
    assert get_state(site.app).component("authz").policy is policy


def test_a_database_failure_is_a_503(site: Site) -> None:
    """Role and object checks answer 503 when their tables cannot be read."""
    client = site.user("ann@example.com")
    note = add_note(site, "ann@example.com", "Ann's plans")
    with accounts_state(site.app).engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE bastion_user_roles"))
        connection.execute(sa.text("DROP TABLE test_authz_notes"))
    assert client.get(f"{BASE}/admin").status_code == 503
    assert client.get(f"{BASE}/notes/{note}").status_code == 503


# Role changes end sessions


def test_a_role_change_signs_the_target_out_everywhere(site: Site) -> None:
    """Granting or revoking a role revokes every session of the user it changes."""
    admin = site.user("root@example.com")
    target = site.user("ann@example.com")
    assert target.get(f"{BASE}/api/me", headers=JSON).status_code == 200
    response = admin.post(f"{BASE}/roles", json={"email": "ann@example.com", "role": "editor"})
    assert response.json == {"changed": True}
    assert target.get(f"{BASE}/api/me", headers=JSON).status_code == 401
    assert admin.get(f"{BASE}/api/me", headers=JSON).status_code == 200
    again = site.client()
    site.login(again, "ann@example.com")
    admin.post(f"{BASE}/roles", json={"email": "ann@example.com", "role": "editor", "remove": 1})
    assert again.get(f"{BASE}/api/me", headers=JSON).status_code == 401


def test_changing_ones_own_role_keeps_this_session_on_a_new_id(site: Site) -> None:
    """The user's other devices are signed out; this one moves to a new session ID."""
    me = site.user("ann@example.com")
    other = site.client()
    site.login(other, "ann@example.com")
    response = me.post(f"{BASE}/roles", json={"email": "ann@example.com", "role": "admin"})
    assert "Set-Cookie" in response.headers
    assert me.get(f"{BASE}/admin").status_code == 200
    assert other.get(f"{BASE}/api/me", headers=JSON).status_code == 401


def test_role_changes_are_signalled_and_logged(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """role_changed carries user, role and granted; the log line names no address."""
    ann = new_user(site, "ann@example.com")
    seen: list[tuple[str, bool]] = []
    with (
        signals.role_changed.connected_to(
            lambda app, **kw: seen.append((kw["user"].email, kw["role"], kw["granted"])),
            site.app,
        ),
        caplog.at_level(logging.INFO, "flask_bastion.security"),
        site.app.app_context(),
    ):
        grant_role(ann, "editor")
        revoke_role(ann, "editor")
    assert seen == [("ann@example.com", "editor", True), ("ann@example.com", "editor", False)]
    lines = [r for r in caplog.records if getattr(r, "event", None) == "authz.role_changed"]
    assert [(r.role, r.granted) for r in lines] == [("editor", True), ("editor", False)]  # type: ignore[attr-defined]
    assert "ann@example.com" not in caplog.text


# The command line


def invoke(site: Site, *args: str, input: str | None = None) -> t.Any:
    return site.app.test_cli_runner().invoke(args=["bastion", "users", *args], input=input)


def test_create_prints_a_one_time_password_once(site: Site) -> None:
    """A created account is verified, must change its password, and the printed one works."""
    result = invoke(site, "create", "Root@Example.com", "--role", "admin")
    assert result.exit_code == 0, result.output
    password = result.output.rsplit(": ", 1)[1].strip()
    with site.app.app_context():
        user = find_user("root@example.com")
        assert user.must_change_password is True
        assert user.email_verified_at == site.clock()
        assert roles_of(user) == {"admin"}
        assert accounts_state(site.app).passwords.verify(user.password_hash, password)
    client = site.client()
    assert site.login(client, "root@example.com", password).status_code == 303
    assert client.get(f"{BASE}/admin").location == "/account/password"


def test_create_reads_a_password_from_stdin(site: Site) -> None:
    """--password-stdin takes the password as given and prints none."""
    result = invoke(site, "create", "ann@example.com", "--password-stdin", input=GOOD_PASSWORD)
    assert result.exit_code == 0, result.output
    assert GOOD_PASSWORD not in result.output and "password" not in result.output
    with site.app.app_context():
        assert find_user("ann@example.com").must_change_password is False
    assert site.login(site.client(), "ann@example.com").status_code == 303


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["create", "not-an-address"], None, "Invalid value for EMAIL"),
        (["create", "x@example.com", "--role", "wizard"], None, "Unknown role 'wizard'"),
        (["create", "x@example.com", "--password-stdin"], "short", "at least"),
        (["create", "ann@example.com"], None, "exists"),
        (["set-role", "nobody@example.com", "admin"], None, "No account"),
        (["set-role", "ann@example.com", "wizard"], None, "unknown role"),
    ],
    ids=["bad-address", "unknown-role", "weak-password", "taken", "no-account", "bad-role"],
)
def test_commands_refuse_with_a_clear_error(
    site: Site, args: list[str], stdin: str | None, message: str
) -> None:
    """Refusals exit non-zero with a message, never a traceback, and write nothing."""
    new_user(site, "ann@example.com")
    result = invoke(site, *args, input=stdin)
    assert result.exit_code != 0
    assert message in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert len(rows(site, User)) == 1
    assert rows(site, UserRole) == []


def test_set_role_grants_and_removes(site: Site) -> None:
    """set-role adds the row, --remove deletes it; a no-op says so."""
    ann = new_user(site, "ann@example.com")
    assert "Granted" in invoke(site, "set-role", "ann@example.com", "editor").output
    assert rows(site, UserRole) == [(ann.get_id(), "editor")]
    assert "already has" in invoke(site, "set-role", "ann@example.com", "editor").output
    assert "Revoked" in invoke(site, "set-role", "ann@example.com", "editor", "--remove").output
    assert rows(site, UserRole) == []
    result = invoke(site, "set-role", "ann@example.com", "editor", "--remove")
    assert "does not have" in result.output


def test_set_role_signs_the_user_out(site: Site) -> None:
    """A role change from the command line revokes the user's sessions."""
    client = site.user("ann@example.com")
    invoke(site, "set-role", "ann@example.com", "admin")
    assert client.get(f"{BASE}/api/me", headers=JSON).status_code == 401


def test_lock_deactivates_and_revokes_sessions_and_tokens(site: Site) -> None:
    """lock: active=False, every session and API token revoked."""
    client = site.user("ann@example.com")
    client.post(
        f"{BASE}/account/tokens",
        data={"name": "cli", "days": "30", "scopes": "api"},
    )
    assert len(rows(site, ApiToken)) == 1
    result = invoke(site, "lock", "ann@example.com")
    assert result.exit_code == 0, result.output
    assert "1 session(s)" in result.output
    with site.app.app_context():
        assert find_user("ann@example.com").active is False
        assert accounts_state(site.app).db().scalars(sa.select(ApiToken)).one().revoked_at
    assert client.get(f"{BASE}/api/me", headers=JSON).status_code == 401
    assert site.login(site.client(), "ann@example.com").status_code == 401


def test_unlock_reactivates_and_lifts_the_sign_in_lock(site: Site) -> None:
    """unlock: active=True and the brute-force lock lifted (by "admin")."""
    new_user(site, "ann@example.com")
    invoke(site, "lock", "ann@example.com")
    throttle = get_state(site.app).component("lockout").throttle
    with site.app.test_request_context():
        for _ in range(10):
            assert throttle.check("ann@example.com", "203.0.113.9").allowed
            throttle.failed("ann@example.com", "203.0.113.9")
            site.clock.now += 61  # past each delay, within the window
        assert throttle.status("ann@example.com").locked
    unlocked: list[str] = []
    with signals.account_unlocked.connected_to(
        lambda app, **kw: unlocked.append(kw["by"]), site.app
    ):
        result = invoke(site, "unlock", "ann@example.com")
    assert result.exit_code == 0, result.output
    assert unlocked == ["admin"]
    with site.app.app_context():
        assert find_user("ann@example.com").active is True
        assert not throttle.status("ann@example.com").locked
    assert site.login(site.client(), "ann@example.com").status_code == 303


def test_revoke_sessions_signs_the_user_out_everywhere(site: Site) -> None:
    """revoke-sessions ends every session of the account and says how many."""
    first = site.user("ann@example.com")
    second = site.client()
    site.login(second, "ann@example.com")
    result = invoke(site, "revoke-sessions", "ann@example.com")
    assert "Revoked 2 session(s)" in result.output
    for client in (first, second):
        assert client.get(f"{BASE}/api/me", headers=JSON).status_code == 401


def test_a_database_failure_is_a_clean_error(site: Site) -> None:
    """An unreadable accounts table gives a usage error without the URL."""
    with accounts_state(site.app).engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE bastion_users"))
    result = invoke(site, "revoke-sessions", "ann@example.com")
    assert result.exit_code == 1
    assert "could not be reached" in result.output and "sqlite" not in result.output


def test_users_commands_need_accounts() -> None:
    """Without accounts, `flask bastion users` does not exist."""
    app = make_app()
    result = app.test_cli_runner().invoke(args=["bastion", "users", "--help"])
    assert result.exit_code == 2
    assert "No such command 'users'" in result.output
    listed = app.test_cli_runner().invoke(args=["bastion", "--help"]).output
    assert "users" not in listed


def test_users_commands_are_listed_with_accounts(site: Site) -> None:
    """With accounts, `flask bastion --help` lists users, also inside an app context."""
    assert "users" in site.app.test_cli_runner().invoke(args=["bastion", "--help"]).output
    with site.app.app_context():
        assert "users" in CliRunner().invoke(bastion_cli, ["--help"]).output


def test_users_commands_are_hidden_where_no_application_loads(
    tmp_path: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no application to load (the entry point alone), users is not offered."""
    monkeypatch.chdir(tmp_path)
    info = ScriptInfo()
    assert "users" not in CliRunner().invoke(bastion_cli, ["--help"], obj=info).output
    assert "users" not in CliRunner().invoke(bastion_cli, ["--help"]).output


def test_reset_mfa_turns_the_second_factor_off_and_signs_out(site: Site) -> None:
    """reset-mfa deletes the authenticator and recovery codes and ends every session."""
    import pyotp

    from flask_bastion.mfa import confirm_totp, enrol_totp, totp_enabled

    client = site.user("ann@example.com")
    with site.app.test_request_context():
        user = find_user("ann@example.com")
        secret = enrol_totp(user)
        confirm_totp(user, pyotp.TOTP(secret).at(site.clock.now))
        assert totp_enabled(user)
    result = invoke(site, "reset-mfa", "ann@example.com")
    assert result.exit_code == 0, result.output
    assert "turned off; 1 session(s) revoked" in result.output
    with site.app.test_request_context():
        assert not totp_enabled(find_user("ann@example.com"))
    assert client.get(f"{BASE}/api/me", headers=JSON).status_code == 401
    again = invoke(site, "reset-mfa", "ann@example.com")
    assert "was not on" in again.output


def test_reset_mfa_also_removes_passkeys(site: Site) -> None:
    """A lost device may hold a passkey too: reset-mfa deletes every passkey."""
    import sqlalchemy as sa

    from flask_bastion.mfa.models import Passkey

    site.user("ann@example.com")
    with site.app.test_request_context():
        user = find_user("ann@example.com")
        db = accounts_state(site.app).db()
        db.add(
            Passkey(
                user_id=user.get_id(),
                credential_id="Y3JlZGVudGlhbA",
                public_key=b"key",
                name="phone",
                created_at=site.clock.now,
            )
        )
        db.commit()
        assert user.has_second_factor
    result = invoke(site, "reset-mfa", "ann@example.com")
    assert "turned off" in result.output
    with site.app.test_request_context():
        assert accounts_state(site.app).db().scalars(sa.select(Passkey)).all() == []
    [mail] = [
        m
        for m in site.mails("ann@example.com")
        if m["Subject"] == "The second factor of your account changed"
    ]
    assert "An administrator removed every second factor" in mail.get_body(("plain",)).get_content()
