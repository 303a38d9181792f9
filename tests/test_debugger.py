"""The production profile refuses Werkzeug's debugger however it is switched on."""

from __future__ import annotations

import logging
import sys
import textwrap
import typing as t
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.cli import ScriptInfo, run_command
from werkzeug.debug import DebuggedApplication
from werkzeug.test import Client

from flask_bastion import Bastion, signals
from flask_bastion.checks import run_checks
from flask_bastion.codescan import starts_debugger
from flask_bastion.debugger import REASON_DEBUG_ON, REASON_DEBUGGER_WRAPS
from flask_bastion.exceptions import ConfigurationError

from .conftest import HTTPS, SECRET, make_app

SECRET_IN_VIEW = "hunter2-database-password"


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, t.Any]]:
    """Calls that reached werkzeug's ``run_simple``: recorded, never serving."""
    calls: list[dict[str, t.Any]] = []

    def fake_run_simple(host: str, port: int, app: t.Any, **options: t.Any) -> None:
        calls.append({"host": host, "port": port, **options})

    monkeypatch.setattr("werkzeug.serving.run_simple", fake_run_simple)  # app.run
    monkeypatch.setattr("flask.cli.run_simple", fake_run_simple)  # flask run
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    return calls


def _crashing_app(**config: t.Any) -> tuple[Flask, list[str]]:
    ran: list[str] = []
    app = make_app(**config)

    @app.get("/crash")
    def crash() -> str:
        ran.append("crash")
        raise RuntimeError(f"cannot connect with password {SECRET_IN_VIEW}")

    return app, ran


@pytest.fixture
def rejections() -> Iterator[list[dict[str, t.Any]]]:
    seen: list[dict[str, t.Any]] = []

    def record(sender: Flask, **extra: t.Any) -> None:
        seen.append(extra)

    signals.request_rejected.connect(record)
    yield seen
    signals.request_rejected.disconnect(record)


# -- DEBUG switched on after init_app ------------------------------------------------------


def test_debug_switched_on_after_init_app_refuses_every_request(
    rejections: list[dict[str, t.Any]], caplog: pytest.LogCaptureFixture
) -> None:
    """app.debug = True after Bastion(app): no view runs and no traceback is shown."""
    app, ran = _crashing_app()
    app.debug = True
    with caplog.at_level(logging.CRITICAL, "flask_bastion.security"):
        response = app.test_client().get("/crash", base_url=HTTPS)
    assert response.status_code == 500
    assert ran == []
    body = response.get_data(as_text=True)
    assert SECRET_IN_VIEW not in body and "Traceback" not in body
    assert response.headers["X-Frame-Options"] == "DENY"
    assert rejections == [{"reason": REASON_DEBUG_ON, "status": 500}]
    assert [r.event for r in caplog.records] == ["debugger.refused"]  # type: ignore[attr-defined]


def test_debug_via_config_after_init_app_is_refused() -> None:
    """app.config["DEBUG"] = True after init_app is the same switch."""
    app, ran = _crashing_app()
    app.config["DEBUG"] = True
    assert app.test_client().get("/crash", base_url=HTTPS).status_code == 500
    assert ran == []


def test_debugger_wrapper_cannot_show_a_traceback(
    rejections: list[dict[str, t.Any]],
) -> None:
    """DebuggedApplication(app), as `flask run --debugger` builds it: every request gets
    Bastion's safe 500, the view never runs, so the debugger has no traceback to show."""
    app, ran = _crashing_app()
    client = Client(DebuggedApplication(app, evalex=True))
    response = client.get("/crash", base_url=HTTPS)
    assert response.status_code == 500
    assert ran == []
    body = response.get_data(as_text=True)
    assert SECRET_IN_VIEW not in body
    assert "Traceback" not in body and "__debugger__" not in body
    assert rejections[-1] == {"reason": REASON_DEBUGGER_WRAPS, "status": 500}


def test_development_profile_keeps_the_debugger() -> None:
    """Under the development profile the debugger works as Flask documents."""
    app, ran = _crashing_app(BASTION_PROFILE="development", DEBUG=True)
    client = Client(DebuggedApplication(app, evalex=True))
    response = client.get("/crash", base_url=HTTPS)
    assert ran == ["crash"]
    assert response.status_code == 500
    assert "__debugger__" in response.get_data(as_text=True)


# -- app.run --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((), {"debug": True}),
        (("127.0.0.1", 5000, True), {}),
        ((), {"use_debugger": True}),
        ((), {"debug": False, "use_debugger": True}),
        ((), {"use_evalex": True}),
    ],
    ids=["debug-keyword", "debug-positional", "use-debugger", "debug-off-debugger-on", "evalex"],
)
def test_app_run_refuses_to_start_the_debugger(
    started: list[dict[str, t.Any]], args: tuple[t.Any, ...], kwargs: dict[str, t.Any]
) -> None:
    """app.run(debug=True) and friends raise before a server starts."""
    app = make_app()
    with pytest.raises(ConfigurationError) as info:
        app.run(*args, **kwargs)
    assert info.value.key == "DEBUG"
    assert started == []
    assert app.debug is False


def test_app_run_refuses_flask_debug_from_the_environment(
    started: list[dict[str, t.Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """FLASK_DEBUG=1 set after the app was created switches debug on in app.run()."""
    app = make_app()
    monkeypatch.setenv("FLASK_DEBUG", "1")
    with pytest.raises(ConfigurationError):
        app.run(load_dotenv=False)
    assert started == []


def test_app_run_without_the_debugger_starts(started: list[dict[str, t.Any]]) -> None:
    """A plain app.run() still starts the server, without the debugger."""
    make_app().run(port=0)
    assert len(started) == 1
    assert started[0]["use_debugger"] is False


def test_app_run_debug_allowed_in_development(started: list[dict[str, t.Any]]) -> None:
    """The development profile may run the debugger."""
    make_app(BASTION_PROFILE="development").run(debug=True, use_reloader=False)
    assert started[0]["use_debugger"] is True


# -- flask run --debugger -------------------------------------------------------------------


def _factory(profile: str = "production") -> t.Callable[[], Flask]:
    def create_app() -> Flask:
        app = Flask("cli_app")
        app.config.update(SECRET_KEY=SECRET, BASTION_SESSIONS_STORE="memory")
        Bastion(app, profile=profile)
        return app

    return create_app


def test_flask_run_debugger_refused(started: list[dict[str, t.Any]]) -> None:
    """`flask run --debugger` fails while loading the app; no server starts."""
    runner = make_app().test_cli_runner()
    result = runner.invoke(run_command, ["--debugger"], obj=ScriptInfo(create_app=_factory()))
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigurationError)
    assert started == []


def test_flask_run_without_debugger_starts(started: list[dict[str, t.Any]]) -> None:
    """`flask run` alone starts (the server start is recorded, not served)."""
    runner = make_app().test_cli_runner()
    result = runner.invoke(run_command, ["--no-reload"], obj=ScriptInfo(create_app=_factory()))
    assert result.exit_code == 0, result.output
    assert started and not started[0]["use_debugger"]


def test_flask_run_debugger_allowed_in_development(started: list[dict[str, t.Any]]) -> None:
    """The development profile may use `flask run --debugger`."""
    runner = make_app().test_cli_runner()
    result = runner.invoke(
        run_command,
        ["--debugger", "--no-reload"],
        obj=ScriptInfo(create_app=_factory("development")),
    )
    assert result.exit_code == 0, result.output
    assert started[0]["use_debugger"] is True


# -- checks -----------------------------------------------------------------------------------


def _ids(app: Flask) -> set[str]:
    return {m.id for m in run_checks(app, deploy=True)}


def test_w005_fires_for_a_debugger_in_the_wsgi_chain() -> None:
    """A DebuggedApplication around app.wsgi_app is reported even with DEBUG off."""
    app = make_app()
    app.wsgi_app = DebuggedApplication(app.wsgi_app)  # type: ignore[method-assign]
    assert "bastion.W005" in _ids(app)


def test_w005_silent_without_debugger() -> None:
    """The default app has neither DEBUG nor a debugger wrapper."""
    assert "bastion.W005" not in _ids(make_app())


@pytest.fixture
def app_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> t.Callable[[str, str], str]:
    """Write an importable application package; returns its import name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    made: list[str] = []

    def write(name: str, source: str) -> str:
        package = tmp_path / name
        package.mkdir()
        (package / "__init__.py").write_text("")
        (package / "server.py").write_text(textwrap.dedent(source))
        tests = package / "tests"
        tests.mkdir()
        (tests / "test_x.py").write_text("app.run(debug=True)\n")
        made.append(name)
        return name

    yield write  # type: ignore[misc]
    for name in made:
        for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[module]


@pytest.mark.parametrize(
    "source",
    [
        'if __name__ == "__main__":\n    app.run(debug=True)\n',
        "app.run(host='0.0.0.0', debug=os.environ.get('DEBUG'))\n",
        "app.run(use_debugger=True)\n",
        "run_simple('0.0.0.0', 80, app, use_debugger=True)\n",
        "application = DebuggedApplication(app, evalex=True)\n",
        "app.wsgi_app = werkzeug.debug.DebuggedApplication(app.wsgi_app)\n",
    ],
    ids=["run-debug", "run-debug-from-env", "run-use-debugger", "run-simple", "wrapper", "attr"],
)
def test_w009_fires_for_code_that_starts_the_debugger(
    app_package: t.Callable[[str, str], str], source: str
) -> None:
    """The package's source is read, not run: the call under __main__ is found."""
    name = app_package(f"pkg_{abs(hash(source))}", source)
    app = make_app()
    app.import_name = name
    assert "bastion.W009" in _ids(app)
    assert starts_debugger(name)[0].endswith(
        "server.py:" + str(source.count("\n", 0, source.index("(")) + 1)
    )


@pytest.mark.parametrize(
    "source",
    [
        'if __name__ == "__main__":\n    app.run()\n',
        "app.run(debug=False)\n",
        "app.run(debug=None, use_debugger=False)\n",
        "runner.run(verbose=True)\n",
        "def broken(:\n",
    ],
    ids=["run-plain", "debug-false", "explicitly-off", "other-run", "syntax-error"],
)
def test_w009_silent_for_code_without_the_debugger(
    app_package: t.Callable[[str, str], str], source: str
) -> None:
    """A run() without the debugger, or an unparsable file, is not reported; the tests
    folder (which here calls app.run(debug=True)) is not application code."""
    name = app_package(f"pkg_ok_{abs(hash(source))}", source)
    app = make_app()
    app.import_name = name
    assert "bastion.W009" not in _ids(app)


def test_w009_silent_for_an_unknown_module() -> None:
    """An import name that cannot be found (or __main__) is not scanned."""
    app = make_app()
    app.import_name = "__main__"
    assert starts_debugger("__main__") == []
    assert starts_debugger("no_such_module_anywhere") == []
    assert starts_debugger("no_such_package_anywhere.sub") == []
    assert "bastion.W009" not in _ids(app)


def test_w009_scans_a_single_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An application that is one module (not a package) is scanned too."""
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "single_mod_app.py").write_text("app.run(debug=True)\n")
    assert starts_debugger("single_mod_app") == ["single_mod_app.py:1"]


def test_w009_skips_oversized_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file above MAX_FILE_BYTES (generated or vendored code) is not parsed."""
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "huge_mod_app.py").write_text("app.run(debug=True)\n")
    monkeypatch.setattr("flask_bastion.codescan.MAX_FILE_BYTES", 5)
    assert starts_debugger("huge_mod_app") == []


# -- 304 Not Modified ------------------------------------------------------------------------


def test_not_modified_keeps_the_cached_policy() -> None:
    """A 304 carries no CSP, so the cache keeps the policy whose nonces the page holds;
    the 200 it revalidates carries one."""
    app = make_app()

    @app.get("/cached")
    def cached() -> t.Any:
        from flask import make_response, render_template_string, request

        response = make_response(render_template_string('<script nonce="{{ csp_nonce() }}">'))
        response.set_etag("v1")
        response.headers["Cache-Control"] = "no-cache"
        return response.make_conditional(request)

    client = app.test_client()
    first = client.get("/cached", base_url=HTTPS)
    assert first.status_code == 200
    assert "nonce-" in first.headers["Content-Security-Policy"]
    again = client.get("/cached", base_url=HTTPS, headers={"If-None-Match": '"v1"'})
    assert again.status_code == 304
    assert "Content-Security-Policy" not in again.headers
    assert again.headers["X-Content-Type-Options"] == "nosniff"
