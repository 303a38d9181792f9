"""The ``flask bastion`` commands: check, config and generate-secret."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from flask_bastion.__main__ import main as module_main
from flask_bastion.checks import run_checks
from flask_bastion.cli import bastion_cli
from flask_bastion.config import settings

from .conftest import make_app

CHECK_DEPLOY = ["bastion", "check", "--deploy"]
KEY_LINE = re.compile(r"[0-9a-f]{64}\n")
#: An app.py as a deployment's looks before it has a key: it cannot even be imported.
APP_NEEDING_A_KEY = """
import os
from flask import Flask
from flask_bastion import Bastion

app = Flask(__name__)
app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
Bastion(app)
"""
SECRET_IDS = {"bastion.E001", "bastion.W002", "bastion.W003", "bastion.W004"}


def invoke(app: Flask, *args: str) -> t.Any:
    return app.test_cli_runner().invoke(args=list(args))


def test_check_safe_app_exits_zero() -> None:
    """check --deploy on the default app exits 0 and reports no issues."""
    result = invoke(make_app(default_store=True), *CHECK_DEPLOY)
    assert result.exit_code == 0
    assert "System check identified no issues (0 silenced)." in result.output


def test_check_unsafe_app_exits_one() -> None:
    """A warning at the default fail level exits 1 and prints the ID with its hint."""
    result = invoke(make_app(default_store=True, bastion={"https_hsts_max_age": 60}), *CHECK_DEPLOY)
    assert result.exit_code == 1
    assert "bastion.W013: (WARNING)" in result.output
    assert "HINT: Raise BASTION_HTTPS_HSTS_MAX_AGE" in result.output
    assert "System check identified 1 issue(s) (0 silenced)." in result.output


def test_check_without_deploy_skips_deploy_checks() -> None:
    """Without --deploy a deploy-only finding is neither printed nor fatal."""
    result = invoke(
        make_app(default_store=True, bastion={"https_hsts_max_age": 60}), "bastion", "check"
    )
    assert result.exit_code == 0
    assert "bastion.W013" not in result.output


@pytest.mark.parametrize(
    ("setup", "fail_level", "exit_code"),
    [
        pytest.param({"bastion": {"https_hsts_max_age": 60}}, "ERROR", 0, id="warning-below-error"),
        pytest.param({"bastion": {"https_hsts_max_age": 60}}, "error", 0, id="level-any-case"),
        pytest.param({"bastion": {"https_hsts_max_age": 60}}, "WARNING", 1, id="warning-at-level"),
        pytest.param({"bastion": {"https_hsts_max_age": 60}}, "INFO", 1, id="warning-above-info"),
        pytest.param({"SECRET_KEY": None}, "ERROR", 1, id="error-at-level"),
        pytest.param({"SECRET_KEY": None}, "CRITICAL", 0, id="error-below-critical"),
        pytest.param({"bastion": {"proxy_trusted_hops": 1}}, "WARNING", 0, id="info-below-warning"),
        pytest.param({"bastion": {"proxy_trusted_hops": 1}}, "INFO", 1, id="info-at-level"),
    ],
)
def test_check_fail_level(setup: dict[str, t.Any], fail_level: str, exit_code: int) -> None:
    """--fail-level sets the lowest level that makes the command exit 1."""
    result = invoke(
        make_app(default_store=True, **setup), *CHECK_DEPLOY, "--fail-level", fail_level
    )
    assert result.exit_code == exit_code


def test_check_below_fail_level_still_prints() -> None:
    """Findings below --fail-level are printed even though the exit code is 0."""
    app = make_app(default_store=True, bastion={"https_hsts_max_age": 60})
    result = invoke(app, *CHECK_DEPLOY, "--fail-level", "ERROR")
    assert "bastion.W013" in result.output


def test_check_rejects_unknown_fail_level() -> None:
    """An unknown --fail-level is a usage error (exit 2), not a silent pass."""
    result = invoke(make_app(default_store=True), *CHECK_DEPLOY, "--fail-level", "LOUD")
    assert result.exit_code == 2


def test_check_counts_silenced() -> None:
    """Silenced findings are not printed but are counted, and do not fail the run."""
    app = make_app(
        default_store=True,
        BASTION_SILENCED_CHECKS=["bastion.W013"],
        bastion={"https_hsts_max_age": 60},
    )
    result = invoke(app, *CHECK_DEPLOY)
    assert result.exit_code == 0
    assert "bastion.W013" not in result.output
    assert "System check identified no issues (1 silenced)." in result.output


def test_check_orders_by_level_then_id() -> None:
    """Errors come first, then warnings in ID order."""
    app = make_app(
        default_store=True, SECRET_KEY=None, bastion={"https_hsts_max_age": 0, "csp_enabled": False}
    )
    result = invoke(app, *CHECK_DEPLOY)
    printed = re.findall(r"^(bastion\.[A-Z]\d{3}):", result.output, re.MULTILINE)
    assert printed == ["bastion.E001", "bastion.W012", "bastion.W051"]


def test_config_lists_every_setting_with_source() -> None:
    """config prints one line per setting, with value and source."""
    app = make_app(
        default_store=True, BASTION_CSP_REPORT_ONLY=True, bastion={"https_hsts_preload": True}
    )
    result = invoke(app, "bastion", "config")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert [line.split(" = ")[0] for line in lines] == [info.key for info in settings()]
    assert "BASTION_HTTPS_HSTS_PRELOAD = true  (keyword)" in lines
    assert "BASTION_CSP_REPORT_ONLY = true  (app.config)  ! weakens security when True" in lines
    assert "BASTION_HTTPS_REDIRECT = true  (default)" in lines
    assert 'BASTION_PROFILE = "production"  (default)' in lines


def test_config_json_keys_equal_settings() -> None:
    """config --json is valid JSON with one row per setting, in settings() order."""
    result = invoke(make_app(default_store=True), "bastion", "config", "--json")
    rows = json.loads(result.output)
    assert [row["key"] for row in rows] == [info.key for info in settings()]
    assert all(set(row) == {"key", "value", "source", "danger"} for row in rows)
    assert all(row["danger"] is None for row in rows)  # nothing weakened by default


@pytest.mark.parametrize(
    ("key", "value", "source"),
    [
        pytest.param("BASTION_HTTPS_HSTS_MAX_AGE", 300, "keyword", id="keyword"),
        pytest.param("BASTION_PROXY_TRUSTED_CIDRS", ["10.0.0.0/8"], "app.config", id="app-config"),
        pytest.param("BASTION_HEADERS_FRAME_OPTIONS", "DENY", "default", id="default"),
        pytest.param("BASTION_CSP_POLICY", {"default-src": ["'self'"]}, "app.config", id="mapping"),
    ],
)
def test_config_json_values_and_sources(key: str, value: t.Any, source: str) -> None:
    """config --json shows the effective value and where it came from."""
    app = make_app(
        BASTION_HTTPS_HSTS_MAX_AGE=100,
        BASTION_PROXY_TRUSTED_CIDRS="10.0.0.0/8",
        BASTION_CSP_POLICY={"default-src": "'self'"},
        bastion={"https_hsts_max_age": 300},
    )
    rows = {
        row["key"]: row for row in json.loads(invoke(app, "bastion", "config", "--json").output)
    }
    assert (rows[key]["value"], rows[key]["source"]) == (value, source)


def test_generate_secret_is_64_hex() -> None:
    """generate-secret prints 256 bits as 64 lower-case hex characters."""
    result = invoke(make_app(default_store=True), "bastion", "generate-secret")
    assert result.exit_code == 0
    assert KEY_LINE.fullmatch(result.output)


def run_without_app(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python args`` in ``cwd`` with no FLASK_APP and no SECRET_KEY set."""
    env = {k: v for k, v in os.environ.items() if k not in ("FLASK_APP", "SECRET_KEY")}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.slow
@pytest.mark.parametrize("app_py", [None, APP_NEEDING_A_KEY], ids=["no-app", "app-needs-the-key"])
@pytest.mark.parametrize(
    "command",
    [["-m", "flask", "bastion", "generate-secret"], ["-m", "flask_bastion", "generate-secret"]],
    ids=["flask-bastion", "python-m-flask-bastion"],
)
def test_generate_secret_needs_no_application(
    tmp_path: Path, app_py: str | None, command: list[str]
) -> None:
    """generate-secret prints a key with FLASK_APP unset, even next to an app.py that
    cannot load until it has that key."""
    if app_py is not None:
        (tmp_path / "app.py").write_text(app_py)
    result = run_without_app(tmp_path, *command)
    assert (result.returncode, result.stderr) == (0, "")
    assert KEY_LINE.fullmatch(result.stdout)


def test_module_entry_point_prints_a_key() -> None:
    """python -m flask_bastion's command group runs generate-secret in process."""
    result = CliRunner().invoke(module_main, ["generate-secret"])
    assert result.exit_code == 0
    assert KEY_LINE.fullmatch(result.output)


@pytest.mark.parametrize("command", [["check"], ["config"]], ids=["check", "config"])
def test_commands_on_an_app_without_bastion_fail_cleanly(command: list[str]) -> None:
    """check and config, offered by the entry point for any app, exit 1 with a message
    instead of a traceback when the app does not use Flask-Bastion."""
    app = Flask(__name__)
    app.cli.add_command(bastion_cli)
    result = app.test_cli_runner().invoke(args=["bastion", *command])
    assert result.exit_code == 1
    assert "Flask-Bastion is not initialised on this application." in result.output
    assert "Call Bastion(app)" in result.output


def test_generate_secret_differs_each_run(runner: t.Any) -> None:
    """Two runs print two different keys."""
    first = runner.invoke(args=["bastion", "generate-secret"]).output
    second = runner.invoke(args=["bastion", "generate-secret"]).output
    assert first != second


def test_generated_secret_passes_the_secret_key_check(runner: t.Any) -> None:
    """A generated key raises none of the SECRET_KEY findings."""
    key = runner.invoke(args=["bastion", "generate-secret"]).output.strip()
    app = make_app(default_store=True, SECRET_KEY=key)
    assert SECRET_IDS.isdisjoint(m.id for m in run_checks(app, deploy=True))


#: Settings that hold URLs, each with a credential the config command must not print.
URL_SETTINGS = [
    pytest.param(
        "BASTION_SESSIONS_URL",
        "postgresql+psycopg://app:s3cret@db.internal:5432/prod",
        "postgresql+psycopg://app:***@db.internal:5432/prod",
        id="sql-url",
    ),
    pytest.param(
        "BASTION_SESSIONS_URL",
        "redis://:s3cret@cache.internal:6379/0",
        "redis://:***@cache.internal:6379/0",
        id="redis-url-password-only",
    ),
    pytest.param(
        "BASTION_SESSIONS_URL",
        "rediss://default:s3cret@cache.internal:6380/0",
        "rediss://default:***@cache.internal:6380/0",
        id="rediss-url-user-and-password",
    ),
    pytest.param(
        "BASTION_SESSIONS_URL",
        "postgresql://db.internal/prod?sslmode=require&password=s3cret",
        "postgresql://db.internal/prod?sslmode=require&password=***",
        id="password-parameter",
    ),
    pytest.param(
        "BASTION_CSP_REPORT_TO",
        "https://csp.example/report?token=s3cret",
        "https://csp.example/report?token=***",
        id="report-to-token",
    ),
]


@pytest.mark.parametrize(("key", "url", "masked"), URL_SETTINGS)
def test_config_masks_url_credentials(key: str, url: str, masked: str) -> None:
    """config prints URL settings with the password and secret parameters masked."""
    result = invoke(make_app(**{key: url}), "bastion", "config")
    assert result.exit_code == 0
    assert "s3cret" not in result.output
    assert f'{key} = "{masked}"  (app.config)' in result.output.splitlines()


@pytest.mark.parametrize(("key", "url", "masked"), URL_SETTINGS)
def test_config_json_masks_url_credentials(key: str, url: str, masked: str) -> None:
    """config --json masks the same credentials."""
    result = invoke(make_app(**{key: url}), "bastion", "config", "--json")
    assert "s3cret" not in result.output
    rows = {row["key"]: row for row in json.loads(result.output)}
    assert rows[key]["value"] == masked


def test_config_masks_urls_inside_the_csp_policy() -> None:
    """A report URL written into the CSP policy mapping is masked too."""
    policy = {"default-src": ["'self'"], "report-uri": ["https://r:s3cret@csp.example/r"]}
    result = invoke(make_app(BASTION_CSP_POLICY=policy), "bastion", "config", "--json")
    assert "s3cret" not in result.output
    rows = {row["key"]: row for row in json.loads(result.output)}
    assert rows["BASTION_CSP_POLICY"]["value"]["report-uri"] == ["https://r:***@csp.example/r"]


def test_config_prints_urls_without_credentials_unchanged() -> None:
    """A URL without a password is printed as configured."""
    app = make_app(BASTION_CSP_REPORT_URI="https://csp.example/report?page=2")
    result = invoke(app, "bastion", "config")
    assert 'BASTION_CSP_REPORT_URI = "https://csp.example/report?page=2"  (app.config)' in (
        result.output.splitlines()
    )
