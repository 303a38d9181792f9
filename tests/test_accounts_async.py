"""The accounts view decorators on ``async def`` views: ``login_required``,
``fresh_login_required`` and ``require_scope`` await the view when they let the request
through, and refuse exactly as they refuse for a sync view."""

from __future__ import annotations

import typing as t
from collections.abc import Iterator

import pytest
from flask import Flask, jsonify

from flask_bastion.accounts import (
    current_user,
    fresh_login_required,
    login_required,
    require_scope,
)

from .accounts_helpers import BASE, Site, make_site
from .test_accounts import create_token

JSON = {"Accept": "application/json"}


def add_twin_routes(app: Flask) -> None:
    """Each decorator over a sync view under ``/sync`` and an async one under ``/async``."""

    def me() -> t.Any:
        return jsonify(email=current_user.email)

    async def me_async() -> t.Any:
        return me()

    for prefix, view in (("/sync", me), ("/async", me_async)):
        name = prefix.strip("/")
        app.get(f"{prefix}/me", endpoint=f"{name}_me")(login_required(view))
        app.get(f"{prefix}/fresh", endpoint=f"{name}_fresh")(fresh_login_required(view))
        app.get(f"{prefix}/recent", endpoint=f"{name}_recent")(
            fresh_login_required(max_age=60)(view)
        )
        app.get(f"{prefix}/scoped", endpoint=f"{name}_scoped")(
            login_required(require_scope("api")(view))
        )


@pytest.fixture
def site(smtp_server: t.Any, tmp_path: t.Any) -> Iterator[Site]:
    made = make_site(
        smtp_server,
        accounts={"scopes": {"api": "all", "read": "read only"}},
        BASTION_ACCOUNTS_DATABASE_URL=f"sqlite:///{tmp_path}/a.db",
    )
    add_twin_routes(made.app)
    yield made
    made.mails()


def assert_same_answer(sync: t.Any, async_: t.Any) -> None:
    """The async view's answer is the sync view's, but for the path and request ID."""
    assert async_.status_code == sync.status_code
    assert async_.mimetype == sync.mimetype
    if sync.location is not None:
        assert async_.location == sync.location.replace("/sync/", "/async/")
    if sync.mimetype == "application/problem+json":
        different = {"request_id", "instance"}  # per request, or the path
        assert {k: v for k, v in async_.json.items() if k not in different} == {
            k: v for k, v in sync.json.items() if k not in different
        }


@pytest.mark.parametrize("path", ["/me", "/fresh", "/recent", "/scoped"])
def test_a_signed_in_user_reaches_an_async_view(site: Site, path: str) -> None:
    """A freshly signed-in browser gets the async view's own response."""
    client = site.user("ann@example.com")
    response = client.get(f"{BASE}/async{path}")
    assert response.status_code == 200
    assert response.json == {"email": "ann@example.com"}


@pytest.mark.parametrize("path", ["/me", "/scoped"])
def test_a_bearer_token_with_the_scope_reaches_an_async_view(site: Site, path: str) -> None:
    """A bearer request with the view's scope gets the async view's response."""
    token = create_token(site.user("ann@example.com"), scopes=["api"])
    response = site.app.test_client().get(
        f"{BASE}/async{path}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    assert response.json == {"email": "ann@example.com"}


@pytest.mark.parametrize("path", ["/me", "/fresh", "/recent", "/scoped"])
@pytest.mark.parametrize("headers", [{}, JSON], ids=["browser", "json"])
def test_an_async_view_refuses_anonymous_visitors_as_a_sync_view_does(
    site: Site, path: str, headers: dict[str, str]
) -> None:
    """An anonymous browser is sent to sign in, a JSON client gets a 401 problem
    document, and the async view never runs."""
    client = site.client()
    sync = client.get(f"{BASE}/sync{path}", headers=headers)
    async_ = client.get(f"{BASE}/async{path}", headers=headers)
    assert sync.status_code == (401 if headers else 303)
    assert_same_answer(sync, async_)
    if not headers:
        assert async_.location == f"/login?next=/async{path}"


@pytest.mark.parametrize(
    ("path", "age"), [("/fresh", 601), ("/recent", 61)], ids=["default", "max_age"]
)
@pytest.mark.parametrize("headers", [{}, JSON], ids=["browser", "json"])
def test_an_async_view_refuses_a_stale_sign_in_as_a_sync_view_does(
    site: Site, path: str, age: int, headers: dict[str, str]
) -> None:
    """After the fresh window a browser is sent to confirm its password and a JSON
    client gets 401, for an async view as for a sync one."""
    client = site.user("ann@example.com")
    site.clock.now += age
    sync = client.get(f"{BASE}/sync{path}", headers=headers)
    async_ = client.get(f"{BASE}/async{path}", headers=headers)
    assert sync.status_code == (401 if headers else 303)
    assert_same_answer(sync, async_)
    if not headers:
        assert async_.location == f"/account/confirm?next=/async{path}"


def test_an_async_view_refuses_a_token_without_the_scope(site: Site) -> None:
    """A token without the view's scope gets the same 403 from an async view, and a
    bearer request is never fresh."""
    token = create_token(site.user("ann@example.com"), scopes=["read"])
    api = site.app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    for path, status in (("/scoped", 403), ("/fresh", 401)):
        sync = api.get(f"{BASE}/sync{path}", headers=auth)
        async_ = api.get(f"{BASE}/async{path}", headers=auth)
        assert sync.status_code == status
        assert_same_answer(sync, async_)
