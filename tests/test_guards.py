"""The one wrapper of the checking view decorators: the check runs first, its answer
replaces the view's, and an ``async def`` view is awaited (Flask answers 500 to a
coroutine)."""

from __future__ import annotations

import inspect
import typing as t

import pytest
from flask import Flask, abort, request

from flask_bastion.guards import guard_view


def check(kwargs: dict[str, t.Any]) -> t.Any:
    """Refuses ``?deny``, answers ``?answer`` itself, and hands the view ``seen``."""
    if "deny" in request.args:
        abort(403)
    if "answer" in request.args:
        return "from the check", 202
    kwargs["seen"] = "checked"
    return None


def make_app() -> Flask:
    app = Flask(__name__)
    calls: list[str] = []
    app.config["CALLS"] = calls

    def view(seen: str) -> str:
        calls.append("sync")
        return f"sync {seen}"

    async def view_async(seen: str) -> str:
        calls.append("async")
        return f"async {seen}"

    app.get("/sync", endpoint="sync")(guard_view(view, check))
    app.get("/async", endpoint="async")(guard_view(view_async, check))
    return app


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_view_runs_after_the_check_with_its_arguments(kind: str) -> None:
    """A passing check hands its keyword arguments to the view, which answers."""
    app = make_app()
    response = app.test_client().get(f"/{kind}")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == f"{kind} checked"
    assert app.config["CALLS"] == [kind]


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize(
    ("query", "status", "text"),
    [("deny", 403, None), ("answer", 202, "from the check")],
    ids=["raises", "answers"],
)
def test_a_refusing_check_answers_and_the_view_never_runs(
    kind: str, query: str, status: int, text: str | None
) -> None:
    """A check that raises or returns a response ends the request before the view."""
    app = make_app()
    response = app.test_client().get(f"/{kind}?{query}")
    assert response.status_code == status
    if text is not None:
        assert response.get_data(as_text=True) == text
    assert app.config["CALLS"] == []


def test_the_wrapper_keeps_the_views_kind_and_name() -> None:
    """Flask awaits the wrapper of an async view: it is a coroutine function too."""

    def view() -> str:
        return ""

    async def view_async() -> str:
        return ""

    assert not inspect.iscoroutinefunction(guard_view(view, check))
    wrapped = guard_view(view_async, check)
    assert inspect.iscoroutinefunction(wrapped)
    assert wrapped.__name__ == "view_async"
