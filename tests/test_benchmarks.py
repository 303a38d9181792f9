"""Smoke tests for ``benchmarks/``: the three apps serve the same routes over HTTPS,
``overhead.py`` prints its one-line result, and ``bruteforce.py`` and ``enumeration.py``
run on tiny parameters and print their documented lines.

The scripts run in a subprocess so that warnings raised by the seed stack's extensions
cannot trip this suite's ``filterwarnings = error``.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
OVERHEAD = BENCHMARKS / "overhead.py"
BRUTEFORCE = BENCHMARKS / "bruteforce.py"
ENUMERATION = BENCHMARKS / "enumeration.py"
SQLI_LATENCY = BENCHMARKS / "sqli_latency.py"
APPS = ("bare", "seed", "bastion")
HTTPS = "https://localhost"
OVERHEAD_LINE = re.compile(r"^overhead: \d+\.\d\d \(stack/bare us per request: \d+\.\d/\d+\.\d\)$")
SCRIPT_NONCE = re.compile(r'<script nonce="([^"]+)">')
CSP_NONCE = re.compile(r"script-src [^;]*'nonce-([^']+)'")
QUICK = ("--batches", "2", "--batch-size", "20", "--warmup", "5")
STACK_LINE = re.compile(
    r"^(?P<stack>seed|bastion): (?P<attempts>\d+) attempts, (?P<evaluated>\d+) evaluated, "
    r"(?P<refused>\d+) refused, (?P<compromised>\d+) compromised of (?P<reachable>\d+) "
    r"reachable victims \(refused: [^;]+; \d+ s\)$",
    re.MULTILINE,
)
ENUMERATION_LINE = re.compile(
    r"^(login|register|forgot) +existing +\d+\.\d\d ms  unknown +\d+\.\d\d ms  "
    r"difference [+-]\d+\.\d\d ms \([+-]\d+\.\d%\)  statuses \[[\d, ]+\]$"
)

LATENCY = r"p50 +\d+\.\d\d ms p95 +\d+\.\d\d ms max +\d+\.\d\d ms"
SQLI_LINE = re.compile(
    rf"^(search|api-search|note-id|share|login) +benign {LATENCY} \| payloads {LATENCY} \| "
    r"time-based max \d+\.\d\d ms of \d+ \| statuses \[[\d, ]+\]$"
)


@functools.cache
def load(name: str) -> Flask:
    """The ``app`` of ``benchmarks/apps/<name>_app.py``, imported once."""
    path = BENCHMARKS / "apps" / f"{name}_app.py"
    spec = importlib.util.spec_from_file_location(f"_bench_{name}_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    app = module.app
    assert isinstance(app, Flask)
    return app


def run_overhead(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(OVERHEAD), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("stack", ["bastion", "seed"], ids=["bastion", "seed"])
def test_overhead_prints_one_result_line(stack: str) -> None:
    """overhead.py STACK bare exits 0 and prints exactly the documented line."""
    result = run_overhead(stack, "bare", *QUICK)
    assert result.returncode == 0, result.stderr
    assert OVERHEAD_LINE.match(result.stdout.removesuffix("\n")), result.stdout


def test_overhead_refuses_a_non_200_response() -> None:
    """overhead.py stops with an error instead of benchmarking a 404."""
    result = run_overhead("bastion", "bare", "--path", "/missing", *QUICK)
    assert result.returncode != 0
    assert result.stdout == ""
    assert "not 200" in result.stderr


@pytest.mark.parametrize("path", ["/", "/api/ping"], ids=["page", "api"])
@pytest.mark.parametrize("name", APPS, ids=APPS)
def test_app_answers_200_over_https(name: str, path: str) -> None:
    """Every benchmark app serves the page and the JSON route over HTTPS."""
    response = load(name).test_client().get(path, base_url=HTTPS)
    assert response.status_code == 200


@pytest.mark.parametrize("name", APPS, ids=APPS)
def test_api_ping_returns_ok(name: str) -> None:
    """GET /api/ping returns the JSON document {"ok": true} in every app."""
    response = load(name).test_client().get("/api/ping", base_url=HTTPS)
    assert response.is_json
    assert response.get_json() == {"ok": True}


@pytest.mark.parametrize(
    ("name", "status"), [("seed", 302), ("bastion", 308)], ids=["seed", "bastion"]
)
def test_secured_apps_redirect_plain_http(name: str, status: int) -> None:
    """The secured stacks redirect plain HTTP, which is why the benchmarks use HTTPS."""
    response = load(name).test_client().get("/", base_url="http://localhost")
    assert response.status_code == status
    assert response.headers["Location"] == "https://localhost/"


@pytest.mark.parametrize("name", ["seed", "bastion"], ids=["seed", "bastion"])
def test_page_script_nonce_matches_csp(name: str) -> None:
    """The page's inline script carries the nonce of the response's CSP script-src."""
    response = load(name).test_client().get("/", base_url=HTTPS)
    policy = CSP_NONCE.search(response.headers["Content-Security-Policy"])
    script = SCRIPT_NONCE.search(response.get_data(as_text=True))
    assert policy is not None
    assert script is not None
    assert script.group(1) == policy.group(1)


def test_seed_page_carries_a_csrf_token() -> None:
    """The seed app's form has Flask-WTF's hidden csrf_token field."""
    response = load("seed").test_client().get("/", base_url=HTTPS)
    assert re.search(r'name="csrf_token" value="[^"]+"', response.get_data(as_text=True))


@pytest.mark.parametrize("name", APPS, ids=APPS)
def test_login_starts_a_session_that_account_reads(name: str) -> None:
    """POST /login signs the benchmark user in, and GET /account then shows that user:
    the returning-visitor benchmark measures a session that really is read."""
    client = load(name).test_client()
    anonymous = client.get("/account", base_url=HTTPS).get_data(as_text=True)
    assert "Signed in as user 1" not in anonymous
    headers = {"Origin": HTTPS, "Sec-Fetch-Site": "same-origin"}
    assert client.post("/login", base_url=HTTPS, headers=headers).status_code == 200
    page = client.get("/account", base_url=HTTPS)
    assert page.status_code == 200
    assert "Signed in as user 1" in page.get_data(as_text=True)


def test_overhead_returning_visitor() -> None:
    """--login signs both apps in first; the run then measures /account with the cookie."""
    result = run_overhead("bastion", "bare", "--login", "/login", "--path", "/account", *QUICK)
    assert result.returncode == 0, result.stderr
    assert OVERHEAD_LINE.match(result.stdout.removesuffix("\n")), result.stdout


def test_overhead_login_must_set_a_cookie() -> None:
    """A --login path that sets no cookie stops the run instead of measuring a stranger."""
    result = run_overhead("bastion", "bare", "--login", "/api/ping", *QUICK)
    assert result.returncode != 0
    assert result.stdout == ""


def run_script(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@functools.cache
def tiny_bruteforce() -> dict[str, dict[str, int]]:
    """bruteforce.py on 10 accounts, 20 attempts from 2 addresses: each stack's figures."""
    result = run_script(BRUTEFORCE, "--accounts", "10", "--attempts", "20", "--addresses", "2")
    assert result.returncode == 0, result.stderr
    return {
        m["stack"]: {k: int(v) for k, v in m.groupdict().items() if k != "stack"}
        for m in STACK_LINE.finditer(result.stdout)
    }


def test_bruteforce_prints_one_line_per_stack() -> None:
    """bruteforce.py prints the documented line for the seed stack and for Flask-Bastion."""
    figures = tiny_bruteforce()
    assert sorted(figures) == ["bastion", "seed"]
    for stack in figures.values():
        assert stack["attempts"] == 20
        assert stack["evaluated"] + stack["refused"] == 20


def test_bruteforce_seed_limit_refuses_beyond_five_a_minute() -> None:
    """Ten attempts per address within a simulated minute: the seed limit lets five through
    per address, and the one victim's password is among them."""
    seed = tiny_bruteforce()["seed"]
    assert (seed["evaluated"], seed["refused"]) == (10, 10)
    assert (seed["compromised"], seed["reachable"]) == (1, 1)


def test_bruteforce_bastion_refuses_stuffing() -> None:
    """One address failing on ten accounts is refused on the next, with the reason named."""
    result = run_script(BRUTEFORCE, "--accounts", "12", "--attempts", "12", "--addresses", "1")
    assert result.returncode == 0, result.stderr
    bastion = next(m for m in STACK_LINE.finditer(result.stdout) if m["stack"] == "bastion")
    assert (bastion["evaluated"], bastion["refused"], bastion["compromised"]) == ("11", "1", "1")
    assert "refused: stuffing 1;" in bastion.group(0)


def test_bruteforce_rejects_a_bad_option() -> None:
    """An address count beyond the loopback range stops the run before it starts."""
    result = run_script(BRUTEFORCE, "--addresses", "300")
    assert result.returncode == 2
    assert "at most 254" in result.stderr


def test_enumeration_prints_one_line_per_form() -> None:
    """enumeration.py --rounds 3 prints one timing line for each of the three forms."""
    result = run_script(ENUMERATION, "--rounds", "3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["login", "register", "forgot"]
    assert all(ENUMERATION_LINE.match(line) for line in lines), result.stdout


def test_sqli_latency_prints_one_line_per_input() -> None:
    """sqli_latency.py --rounds 1 prints the corpus size, then benign and payload
    latencies for each input, every answer a 4xx or less."""
    result = run_script(SQLI_LATENCY, "--rounds", "1")
    assert result.returncode == 0, result.stderr
    head, *lines = result.stdout.splitlines()
    assert re.match(r"^\d+ payloads \(\d+ time-based\), 1 rounds$", head), head
    assert [line.split()[0] for line in lines] == [
        "search", "api-search", "note-id", "share", "login"
    ]  # fmt: skip
    assert all(SQLI_LINE.match(line) for line in lines), result.stdout
    assert not re.search(r"\b5\d\d\b", " ".join(line.split("statuses")[1] for line in lines))


UPLOADS = BENCHMARKS / "uploads.py"
UPLOAD_LINE = re.compile(
    r"^(text 1 MiB|jpeg 3 MP) +(no scanner|clamd) +\d+\.\d\d ms per upload \(\d+\.\d MB/s\)$"
)


def test_uploads_prints_one_line_per_case() -> None:
    """uploads.py --rounds 1 prints a line per file and scanner setting."""
    result = run_script(UPLOADS, "--rounds", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) in (2, 4)
    assert all(UPLOAD_LINE.match(line) for line in lines), result.stdout
