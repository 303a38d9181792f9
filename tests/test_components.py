"""The component pipeline: registry order, named stages, one refusal path, response
callbacks, per-request state, view markers and the absence of import cycles."""

from __future__ import annotations

import ast
import logging
import typing as t
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Blueprint, Flask, Request, request
from flask.views import MethodView
from werkzeug.exceptions import Forbidden

from flask_bastion import (
    Bastion,
    csp,
    csrf_exempt,
    https_exempt,
    no_store,
    security_headers,
    signals,
)
from flask_bastion.components import Registry, Stage
from flask_bastion.context import RequestState, get_state, request_state
from flask_bastion.exceptions import ConfigurationError, Rejection
from flask_bastion.markers import View, marked_views
from flask_bastion.refusal import refuse
from flask_bastion.sessions import MemoryStore, StoreError
from flask_bastion.sessions.interface import REASON_READ_FAILED, REASON_WRITE_FAILED

from .conftest import HTTPS, SECRET, make_app

SRC = Path(__file__).parent.parent / "src" / "flask_bastion"
CROSS = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}


class Blocked(Rejection, Forbidden):
    """An application's own rejection."""

    event = "app.blocked"


@dataclass
class Recorder:
    """An application component that records the order it runs in."""

    name: str
    stage: Stage
    calls: list[str]
    refuse_with: str | None = None
    header: tuple[str, str] | None = None
    seen: list[object] = field(default_factory=list)

    def init_app(self, app: Flask) -> None:
        self.calls.append(f"init:{self.name}")

    def before_request(self, request: Request, state: RequestState) -> None:
        self.calls.append(self.name)
        if self.header is not None:
            name, value = self.header
            state.on_response(lambda status, headers: headers.append((name, value)))
        if self.refuse_with is not None:
            refuse(Blocked(self.refuse_with))


def _app_with(*components: t.Any, **config: t.Any) -> Flask:
    app = Flask("components")
    app.config.update(SECRET_KEY=SECRET, TRUSTED_HOSTS=["localhost"], **config)
    app.config.setdefault("BASTION_SESSIONS_STORE", "memory")
    # The callback tests use RateLimit as their example header: the built-in limit is off.
    app.config.setdefault("BASTION_RATELIMIT_DEFAULT", None)

    @app.route("/", methods=["GET", "POST"])
    def index() -> str:
        return "view"

    Bastion(app, components=components)
    return app


def test_builtin_components_run_in_stage_order() -> None:
    """The built-ins are ordered by stage: input, transport, filter, limit, session,
    authentication, forgery, authorization, response (the key ring and the sanitizer
    filters, which have no hook, after the headers), and the mailer, which has no hook,
    last."""
    names = get_state(make_app()).components.names
    assert names == [
        "proxy",
        "errors",
        "debugger",
        "inputs",
        "uploads",
        "https",
        "hotlink",
        "ipfilter",
        "ratelimit",
        "sessions",
        "lockout",
        "csrf",
        "authz",
        "content",
        "headers",
        "csp",
        "crypto",
        "sanitize",
        "mail",
    ]
    stages = [c.stage for c in get_state(make_app()).components]
    assert stages == sorted(stages)


def test_application_component_runs_at_its_named_stage() -> None:
    """A component at AUTHENTICATE runs after the session is loaded and before CSRF."""
    calls: list[str] = []
    auth = Recorder("auth", Stage.AUTHENTICATE, calls)
    app = _app_with(auth)
    names = get_state(app).components.names
    assert names.index("sessions") < names.index("auth") < names.index("csrf")
    assert calls == ["init:auth"]
    response = app.test_client().get("/", base_url=HTTPS)
    assert response.status_code == 200
    assert calls == ["init:auth", "auth"]


def test_refusal_in_an_application_component_stops_the_pipeline() -> None:
    """A refusal at AUTHENTICATE means CSRF and the view never run; the response comes
    from the one refusal path: safe page, Vary: Accept, signal, log line."""
    calls: list[str] = []
    app = _app_with(Recorder("auth", Stage.AUTHENTICATE, calls, refuse_with="no entry"))
    csrf_seen: list[str] = []
    rejected: list[dict[str, t.Any]] = []

    def on_csrf(sender: Flask, **extra: t.Any) -> None:
        csrf_seen.append(extra["reason"])

    def on_rejected(sender: Flask, **extra: t.Any) -> None:
        rejected.append(extra)

    with (
        signals.csrf_rejected.connected_to(on_csrf, app),
        signals.request_rejected.connected_to(on_rejected, app),
    ):
        response = app.test_client().post("/", base_url=HTTPS, headers=CROSS)
    assert response.status_code == 403
    assert "no entry" in response.get_data(as_text=True)
    assert "Accept" in response.headers["Vary"]
    assert csrf_seen == []
    assert rejected == [{"reason": "no entry", "status": 403}]


def test_refusal_log_line_carries_event_reason_and_status(caplog: pytest.LogCaptureFixture) -> None:
    """Every refusal writes one structured line to the security log."""
    app = _app_with(Recorder("auth", Stage.AUTHENTICATE, [], refuse_with="no entry"))
    with caplog.at_level(logging.INFO, "flask_bastion.security"):
        app.test_client().get("/", base_url=HTTPS)
    [record] = [r for r in caplog.records if r.name == "flask_bastion.security"]
    assert (record.event, record.reason, record.status) == ("app.blocked", "no entry", 403)  # type: ignore[attr-defined]
    assert record.levelno == logging.WARNING


def test_refusal_as_problem_json() -> None:
    """A JSON client gets the same refusal as RFC 9457 with Vary: Accept."""
    app = _app_with(Recorder("auth", Stage.AUTHENTICATE, [], refuse_with="no entry"))
    response = app.test_client().get("/", base_url=HTTPS, headers={"Accept": "application/json"})
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["detail"] == "no entry"
    assert "Accept" in response.headers["Vary"]


def test_response_callback_adds_a_header_for_that_request_only() -> None:
    """A header registered with on_response is sent on the request that asked for it."""
    calls: list[str] = []
    limiter = Recorder("limit", Stage.LIMIT, calls, header=("RateLimit", "limit=10"))
    app = _app_with(limiter)
    response = app.test_client().get("/", base_url=HTTPS)
    assert response.headers["RateLimit"] == "limit=10"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_response_callback_sees_refusals_too() -> None:
    """Callbacks run on every response of the request, a refusal's included."""
    calls: list[str] = []
    limiter = Recorder("limit", Stage.LIMIT, calls, header=("Retry-After", "30"))
    blocker = Recorder("auth", Stage.AUTHENTICATE, calls, refuse_with="later")
    response = _app_with(limiter, blocker).test_client().get("/", base_url=HTTPS)
    assert response.status_code == 403
    assert response.headers["Retry-After"] == "30"


def test_no_callbacks_means_no_extra_headers() -> None:
    """A request whose components registered nothing gets only the planned headers."""
    response = _app_with().test_client().get("/", base_url=HTTPS)
    assert "RateLimit" not in response.headers


def test_one_before_request_function_whatever_the_components() -> None:
    """Components are composed into one Flask hook, however many there are."""
    extra = [Recorder(f"c{i}", Stage.AUTHORIZE, []) for i in range(5)]
    app = _app_with(*extra)
    assert len(app.before_request_funcs[None]) == 1
    assert app.after_request_funcs == {}


@dataclass
class OnlyUnsafe(Recorder):
    """A recorder with work only for unsafe requests to ``index``."""

    asked: list[tuple[str | None, bool]] = field(default_factory=list)

    def runs_for(self, endpoint: str | None, safe: bool) -> bool:
        self.asked.append((endpoint, safe))
        return endpoint == "index" and not safe


def test_component_runs_only_where_it_has_work() -> None:
    """``runs_for`` is asked once per endpoint and kind of method; a component answering
    False is not called, one without ``runs_for`` is called for every request; methods
    the route does not take are unrouted, and invented ones add no entries."""
    calls: list[str] = []
    picky = OnlyUnsafe("picky", Stage.AUTHORIZE, calls)
    always = Recorder("always", Stage.AUTHORIZE, calls)
    app = _app_with(picky, always, BASTION_CSRF_ENABLED=False)
    client = app.test_client()
    calls.clear()
    for _ in range(2):
        assert client.get("/", base_url=HTTPS).status_code == 200
    assert calls == ["always", "always"]
    calls.clear()
    for method in ("POST", "PURGE", "X-INVENTED"):
        client.open("/", method=method, base_url=HTTPS)
    client.get("/missing", base_url=HTTPS)
    assert calls == ["picky", "always", "always", "always", "always"]
    assert sorted(picky.asked, key=str) == [
        ("index", False),
        ("index", True),
        (None, False),
        (None, True),
    ]


def test_builtin_components_skip_views_they_do_not_guard() -> None:
    """A GET to an unprotected view runs neither the forgery check, nor hotlink
    protection, nor the proxy request ID without a trusted proxy; a POST runs CSRF."""

    def chain(app: Flask, safe: bool) -> set[str]:
        with app.app_context():
            hooks = get_state(app).components.before_chain("index", safe)
        return {hook.__self__.name for hook in hooks}  # type: ignore[attr-defined]

    app = make_app()
    assert {"csrf", "hotlink", "errors"}.isdisjoint(chain(app, True))
    assert {"inputs", "ipfilter", "ratelimit", "sessions", "debugger"} <= chain(app, True)
    assert "csrf" in chain(app, False)
    assert "errors" in chain(make_app(BASTION_PROXY_TRUSTED_HOPS=1), True)


def test_component_factories_get_the_config() -> None:
    """A factory in components= is called with the application's configuration."""
    made: list[object] = []

    def factory(config: t.Any) -> Recorder:
        made.append(config)
        return Recorder("made", Stage.AUDIT, [])

    app = _app_with(factory)
    assert made == [get_state(app).config]
    assert get_state(app).components.names[-1] == "made"


def test_add_component_before_init_app() -> None:
    """Bastion.add_component registers for applications initialised afterwards."""
    bastion = Bastion()
    bastion.add_component(Recorder("late", Stage.FILTER, []))
    app = Flask("late")
    app.config.update(SECRET_KEY=SECRET, BASTION_SESSIONS_STORE="memory")
    bastion.init_app(app)
    names = get_state(app).components.names
    assert names.index("https") < names.index("late") < names.index("sessions")


@pytest.mark.parametrize(
    "component",
    [object(), Recorder("csrf", Stage.AUDIT, []), Recorder("x", 55, [])],  # type: ignore[arg-type]
    ids=["not-a-component", "name-taken", "stage-not-a-stage"],
)
def test_bad_component_is_a_configuration_error(component: object) -> None:
    """A registry refuses what is not a component, and a second one of the same name."""
    with pytest.raises(ConfigurationError) as info:
        _app_with(component)
    assert info.value.key == "components"


def test_registry_keeps_insertion_order_within_a_stage() -> None:
    """Two components of one stage run in the order they were added."""
    registry = Registry([Recorder("b", Stage.LIMIT, []), Recorder("a", Stage.LIMIT, [])])
    registry.add(Recorder("first", Stage.INPUT, []))
    assert registry.names == ["first", "b", "a"]
    assert len(registry) == 3
    assert registry["a"].name == "a"
    with pytest.raises(KeyError):
        registry["missing"]


def test_request_state_is_extensible_by_type() -> None:
    """A component keeps its own per-request data under its own type."""

    @dataclass
    class LimitState:
        remaining: int

    app = make_app()
    with app.test_request_context("/", base_url=HTTPS):
        app.preprocess_request()
        state = request_state()
        assert state.get(LimitState) is None
        state.put(LimitState(3))
        assert state.get(LimitState) == LimitState(3)


def test_request_id_from_a_trusted_proxy_is_kept() -> None:
    """The input stage takes a well-formed request ID from a trusted proxy."""
    app = make_app(BASTION_PROXY_TRUSTED_HOPS=1)
    response = app.test_client().get(
        "/", base_url=HTTPS, headers={"X-Request-ID": "proxy-id-12345678"}
    )
    assert response.headers["X-Request-ID"] == "proxy-id-12345678"


# -- view markers ------------------------------------------------------------------------------


class Hook(MethodView):
    def post(self) -> str:
        return "class view"


def _marked_app() -> Flask:
    """The same markers on a function view, a class-based view and a blueprint."""
    app = make_app(BASTION_HTTPS_REDIRECT=True)

    @app.post("/fn")
    @csrf_exempt
    @https_exempt
    @no_store
    @security_headers(frame_options="SAMEORIGIN")
    @csp(img_src=["'self'", "https://tiles.example.org"])
    def fn() -> str:
        return "function view"

    marked = csrf_exempt(https_exempt(no_store(Hook)))
    marked = security_headers(frame_options="SAMEORIGIN")(marked)
    marked = csp(img_src=["'self'", "https://tiles.example.org"])(marked)
    app.add_url_rule("/cls", view_func=marked.as_view("cls"))

    bp = Blueprint("bp", __name__)

    @bp.post("/inside")
    def inside() -> str:
        return "blueprint view"

    for decorate in (
        csrf_exempt,
        https_exempt,
        no_store,
        security_headers(frame_options="SAMEORIGIN"),
        csp(img_src=["'self'", "https://tiles.example.org"]),
    ):
        decorate(bp)
    app.register_blueprint(bp, url_prefix="/bp")

    # An application route whose endpoint merely starts with the blueprint's name.
    app.add_url_rule("/lookalike", "bp.lookalike", lambda: "unmarked", methods=["POST"])
    return app


@pytest.mark.parametrize("path", ["/fn", "/cls", "/bp/inside"], ids=["function", "class", "bp"])
def test_markers_work_the_same_on_every_kind_of_view(path: str) -> None:
    """csrf_exempt, https_exempt, no_store, security_headers and csp apply alike."""
    client = _marked_app().test_client()
    plain = client.post(path, base_url="http://localhost", headers=CROSS)
    assert plain.status_code == 200  # neither redirected nor refused
    assert plain.headers["Cache-Control"] == "no-store"
    assert plain.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "img-src 'self' https://tiles.example.org" in plain.headers["Content-Security-Policy"]


def test_blueprint_markers_do_not_reach_lookalike_endpoints() -> None:
    """An app route named 'bp.lookalike' is not part of blueprint 'bp'."""
    client = _marked_app().test_client()
    response = client.post("/lookalike", base_url=HTTPS, headers=CROSS)
    assert response.status_code == 403
    assert "Cache-Control" not in response.headers or "no-store" not in response.headers.get(
        "Cache-Control", ""
    )
    assert client.post("/lookalike", base_url="http://localhost").status_code == 308


def test_marked_views_lists_every_marked_endpoint() -> None:
    """marked_views() finds the marks wherever they were set (the deploy checks use it)."""
    found = {view.endpoint: set(view.marks) for view in marked_views(_marked_app())}
    expected = {"csrf_exempt", "https_exempt", "no_store", "security_headers", "csp"}
    assert found == {"fn": expected, "cls": expected, "bp.inside": expected}


def test_view_without_marks() -> None:
    """An unrouted request and an unmarked view have no marks."""
    app = make_app()
    assert View(app, None).marks == {}
    assert View(app, "index").get("csrf_exempt", False) is False


def test_stacked_security_headers_merge() -> None:
    """Two @security_headers on one view combine."""
    app = make_app()

    @app.get("/two")
    @security_headers(frame_options="SAMEORIGIN")
    @security_headers(referrer_policy="no-referrer")
    def two() -> str:
        return "two"

    response = app.test_client().get("/two", base_url=HTTPS)
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_marking_a_registered_blueprint_raises() -> None:
    """A blueprint already registered cannot be marked (it would silently do nothing)."""
    app = make_app()
    bp = Blueprint("late", __name__)
    app.register_blueprint(bp)
    with pytest.raises(AssertionError):
        no_store(bp)


# -- import structure ----------------------------------------------------------------------------


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path: Path) -> Iterator[str]:
    """Names the module imports at module level (not under ``if TYPE_CHECKING:`` and not
    inside a function, which are deliberate late imports); a name that is not one of the
    package's modules is dropped by the caller."""
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            target = node.module or "" if not node.level else f"{base}.{node.module or ''}"
            target = target.rstrip(".")
            # "from . import signals" imports the module flask_bastion.signals, not the
            # package's own names; "from . import StoreError" depends on the package.
            submodules = [f"{target}.{alias.name}" for alias in node.names]
            found = [m for m in submodules if _is_module(m)]
            yield from found
            if len(found) < len(submodules):
                yield target


def _is_module(name: str) -> bool:
    path = SRC.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def test_package_has_no_import_cycles() -> None:
    """No module imports, at module level, something that imports it back."""
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        graph[_module_name(path)] = set(_runtime_imports(path))
    modules = set(graph)
    for name in graph:
        graph[name] = {m for m in graph[name] if m in modules and m != name}

    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> None:
        if node in done:
            return
        assert node not in visiting, "import cycle: " + " -> ".join(
            [*visiting[visiting.index(node) :], node]
        )
        visiting.append(node)
        for child in sorted(graph[node]):
            visit(child)
        visiting.pop()
        done.add(node)

    for name in sorted(graph):
        visit(name)


@pytest.mark.parametrize(
    "module", ["flask_bastion.sessions", "flask_bastion.csrf", "flask_bastion.content"]
)
def test_pipeline_modules_do_not_import_cli_or_checks(module: str) -> None:
    """Nothing in the request pipeline imports the CLI or the checks at module level."""
    forbidden = {"flask_bastion.cli", "flask_bastion.checks"}
    reachable: set[str] = set()
    pending = [module]
    paths = {_module_name(p): p for p in SRC.rglob("*.py")}
    while pending:
        name = pending.pop()
        if name in reachable or name not in paths:
            continue
        reachable.add(name)
        # Importing a package's __init__ is how Python reaches the module at all; the
        # __init__'s own imports are the public API, not this module's dependencies.
        pending.extend(m for m in _runtime_imports(paths[name]) if not name.startswith(m + "."))
    assert not {m for m in reachable if any(m == f or m.startswith(f + ".") for f in forbidden)}


def test_request_path_uses_request_object() -> None:
    """The composed hook passes the request and its state to each component."""
    seen: list[object] = []

    @dataclass
    class Peek:
        name: str = "peek"
        stage: Stage = Stage.AUTHORIZE

        def init_app(self, app: Flask) -> None:
            pass

        def before_request(self, req: Request, state: RequestState) -> None:
            seen.append((req.path, state is request_state(), req is request._get_current_object()))  # type: ignore[attr-defined]

    _app_with(Peek()).test_client().get("/", base_url=HTTPS)
    assert seen == [("/", True, True)]


class _BrokenStore(MemoryStore):
    """A memory store whose reads or writes fail, as an unreachable backend's do."""

    def __init__(self, fail: str) -> None:
        super().__init__()
        self.fail = fail

    def get(self, key: str) -> t.Any:
        if self.fail == "read":
            raise StoreError("session store: ConnectionError")
        return super().get(key)

    def create(self, record: t.Any) -> None:
        if self.fail == "write":
            raise StoreError("session store: ConnectionError")
        super().create(record)


@pytest.mark.parametrize(
    ("fail", "reason"),
    [("read", REASON_READ_FAILED), ("write", REASON_WRITE_FAILED)],
    ids=["read", "write"],
)
def test_session_store_503_goes_through_the_refusal_path(
    fail: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Read and write failures of the session store both signal, log once and answer a
    503 with Retry-After and Vary: Accept."""
    app = make_app()

    @app.post("/write")
    def write() -> str:
        from flask import session

        session["x"] = 1
        return "written"

    app.session_interface.store = _BrokenStore(fail)  # type: ignore[attr-defined]
    client = app.test_client()
    seen: list[dict[str, t.Any]] = []

    def on_unavailable(sender: Flask, **extra: t.Any) -> None:
        seen.append(extra)

    if fail == "read":
        client.set_cookie("__Host-session", "A" * 43, domain="localhost")
    with (
        signals.store_unavailable.connected_to(on_unavailable, app),
        caplog.at_level(logging.INFO, "flask_bastion.security"),
    ):
        response = client.post("/write", base_url=HTTPS, headers={"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "Accept" in response.headers["Vary"]
    assert "Set-Cookie" not in response.headers
    assert seen == [{"reason": reason, "status": 503}]
    events = [getattr(r, "event", None) for r in caplog.records]
    assert events == ["session.store_unavailable"]


def test_architecture_example_runs_as_documented() -> None:
    """The component example in docs/architecture.md works: writes are refused with its
    reason, reads pass."""
    text = (Path(__file__).parent.parent / "docs" / "architecture.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    app = Flask("maintenance")
    app.config.update(SECRET_KEY=SECRET, TRUSTED_HOSTS=["localhost"])
    app.config["BASTION_SESSIONS_STORE"] = "memory"
    app.add_url_rule("/", "index", lambda: "ok", methods=["GET", "POST"])
    namespace: dict[str, t.Any] = {"app": app}
    exec(compile(code, "architecture.md", "exec"), namespace)  # noqa: S102  (our own docs)
    client = app.test_client()
    assert client.get("/", base_url=HTTPS).status_code == 200
    refused = client.post("/", base_url=HTTPS, headers={"Sec-Fetch-Site": "same-origin"})
    assert refused.status_code == 403
    assert "Writes are paused for maintenance." in refused.get_data(as_text=True)


def test_untrusted_host_goes_through_the_refusal_path(caplog: pytest.LogCaptureFixture) -> None:
    """Flask's 400 for a Host outside TRUSTED_HOSTS is a refusal like Bastion's own: safe
    page with its reason, Vary: Accept, the request_rejected signal and a log line."""
    from flask_bastion.errors import REASON_UNTRUSTED_HOST

    app = make_app()
    seen: list[dict[str, t.Any]] = []

    def on_rejected(sender: Flask, **extra: t.Any) -> None:
        seen.append(extra)

    with (
        signals.request_rejected.connected_to(on_rejected, app),
        caplog.at_level(logging.INFO, "flask_bastion.security"),
    ):
        response = app.test_client().get("/", base_url="https://evil.example")
    assert response.status_code == 400
    assert REASON_UNTRUSTED_HOST in response.get_data(as_text=True)
    assert "Accept" in response.headers["Vary"]
    assert seen == [{"reason": REASON_UNTRUSTED_HOST, "status": 400}]
    assert [getattr(r, "event", None) for r in caplog.records] == ["request.rejected"]


def test_failing_response_callback_keeps_the_response(caplog: pytest.LogCaptureFixture) -> None:
    """A response callback that raises is logged; the response still goes out with its
    security headers and the other callbacks' headers, never as the server's bare 500."""

    def broken(status: str, headers: list[tuple[str, str]]) -> None:
        raise RuntimeError("callback bug")

    @dataclass
    class Broken:
        name: str = "broken"
        stage: Stage = Stage.LIMIT

        def init_app(self, app: Flask) -> None:
            pass

        def before_request(self, request: Request, state: RequestState) -> None:
            state.on_response(broken)
            state.on_response(lambda status, headers: headers.append(("RateLimit", "ok")))

    with caplog.at_level(logging.ERROR, "flask_bastion"):
        response = _app_with(Broken()).test_client().get("/", base_url=HTTPS)
    assert response.status_code == 200
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["RateLimit"] == "ok"
    assert any("callback bug" in (r.exc_text or "") for r in caplog.records)
