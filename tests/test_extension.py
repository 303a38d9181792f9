"""Composition: hook order, per-view plans, request state."""

from __future__ import annotations

import threading

from flask import Flask, copy_current_request_context, g, render_template_string, request

from flask_bastion import Bastion, csp_nonce, no_store
from flask_bastion.context import ENVIRON_KEY, request_state

from .conftest import HTTPS, SECRET, make_app


def _ordered_app(calls: list[str]) -> Flask:
    app = Flask("ordered")
    app.config["SECRET_KEY"] = SECRET

    @app.before_request
    def app_before_registered_first() -> None:
        calls.append("app-before:" + str(ENVIRON_KEY in request.environ))

    @app.after_request
    def app_after_registered_first(response):  # type: ignore[no-untyped-def]
        calls.append("app-after:" + str("X-Frame-Options" in response.headers))
        return response

    @app.get("/")
    def index() -> str:
        calls.append("view:" + str(ENVIRON_KEY in request.environ))
        return "ok"

    Bastion(app)
    return app


def test_bastion_before_hook_runs_before_the_apps() -> None:
    """Bastion's before_request runs first, even for hooks registered before init_app."""
    calls: list[str] = []
    _ordered_app(calls).test_client().get("/", base_url=HTTPS)
    assert calls[:2] == ["app-before:True", "view:True"]


def test_bastion_after_hook_runs_last() -> None:
    """The app's after_request sees the response before Bastion adds its headers."""
    calls: list[str] = []
    response = _ordered_app(calls).test_client().get("/", base_url=HTTPS)
    assert "app-after:False" in calls
    assert response.headers["X-Frame-Options"] == "DENY"


def test_redirect_short_circuits_app_hooks_and_view() -> None:
    """A plain-HTTP request is redirected before the app's hooks or view run."""
    calls: list[str] = []
    response = _ordered_app(calls).test_client().get("/", base_url="http://localhost")
    assert response.status_code == 308
    assert "app-before" not in calls
    assert not any(c.startswith("view") for c in calls)


def test_hook_positions() -> None:
    """Bastion's before hook comes first; the response layer wraps the WSGI app."""
    app = Flask("positions")
    app.config["SECRET_KEY"] = SECRET
    app.before_request(lambda: None)
    app.after_request(lambda r: r)
    Bastion(app, proxy_trusted_hops=1)
    assert app.before_request_funcs[None][0].__name__ == "bastion_before_request"
    assert len(app.after_request_funcs[None]) == 1
    assert type(app.wsgi_app).__name__ == "ProxyMiddleware"
    assert type(app.wsgi_app.wsgi_app).__name__ == "ResponseLayer"  # type: ignore[attr-defined]


def test_request_state_lives_in_the_environ() -> None:
    """Per-request data lives in the environ under one key; ``g`` is left to the
    application. An application context without a request keeps its own on g."""
    app = make_app()
    with app.test_request_context("/", base_url=HTTPS):
        app.preprocess_request()
        state = request.environ[ENVIRON_KEY]
        assert state is request_state()
        assert state.request_id and state.endpoint == "index"
        assert vars(g._get_current_object()) == {}
        assert request.path == "/"
    with app.app_context():
        assert request_state() is request_state() is g._bastion


def test_thread_with_the_request_context_shares_its_state() -> None:
    """A thread given the request's context (copy_current_request_context) renders the
    nonce of the response's policy and logs under its request ID."""
    app = make_app()
    seen: dict[str, str] = {}

    @app.get("/threaded")
    def threaded() -> str:
        @copy_current_request_context
        def work() -> None:
            seen["nonce"] = csp_nonce()
            seen["request_id"] = request_state().request_id

        worker = threading.Thread(target=work)
        worker.start()
        worker.join()
        return "ok"

    response = app.test_client().get("/threaded", base_url=HTTPS)
    assert f"'nonce-{seen['nonce']}'" in response.headers["Content-Security-Policy"]
    assert seen["request_id"] == response.headers["X-Request-ID"]


def test_middleware_handing_flask_a_copy_of_the_environ() -> None:
    """A WSGI middleware installed before Bastion that gives Flask a copy of the environ
    (so the pipeline's state is not in the environ the response step sees) still gets
    the view's own headers, the page's nonce and the request's ID."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, TRUSTED_HOSTS=["localhost"])
    app.config["BASTION_SESSIONS_STORE"] = "memory"
    inner = app.wsgi_app
    app.wsgi_app = lambda environ, start: inner(dict(environ), start)  # type: ignore[method-assign]
    seen: dict[str, str] = {}

    @app.get("/private")
    @no_store
    def private() -> str:
        seen["request_id"] = request_state().request_id
        return render_template_string('<script nonce="{{ csp_nonce() }}"></script>')

    Bastion(app)
    response = app.test_client().get("/private", base_url=HTTPS)
    nonce = response.get_data(as_text=True).split('"')[1]
    assert f"'nonce-{nonce}'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Request-ID"] == seen["request_id"]
    assert "no-store" in response.headers["Cache-Control"]


def test_plans_are_cached_per_endpoint_and_scheme() -> None:
    """Each endpoint's headers are computed once per scheme and reused."""
    app = make_app(BASTION_HTTPS_REDIRECT=False)
    client = app.test_client()
    for _ in range(3):
        client.get("/", base_url=HTTPS)
        client.get("/", base_url="http://localhost")
        client.get("/missing", base_url=HTTPS)
    state = app.extensions["bastion"]
    assert set(state._plans) == {("index", True), ("index", False), (None, True)}
