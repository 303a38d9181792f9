"""Bans across real processes: `flask bastion ban`, run as its own process, reaches both
workers of a running gunicorn through Redis, and `flask bastion unban` lifts it."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import threading
import typing as t

import pytest
from flask import Flask

from .conftest import make_app
from .servers import ROOT, gunicorn

REQUESTS = 40


def served_app() -> Flask:
    """The app gunicorn serves and the CLI loads: bans in Redis under the test's prefix,
    the worker's process ID in a header of every response."""
    app = make_app(
        BASTION_PROFILE="development",
        BASTION_IPFILTER_BANS_URL=os.environ["IPFILTER_TEST_REDIS"],
        BASTION_IPFILTER_KEY_PREFIX=os.environ["IPFILTER_TEST_PREFIX"],
        BASTION_RATELIMIT_DEFAULT=None,  # the bursts are not what this test limits
    )

    @app.after_request
    def worker(response: t.Any) -> t.Any:
        response.headers["X-Worker"] = str(os.getpid())
        return response

    return app


def burst(port: int) -> list[tuple[int, str]]:
    """:data:`REQUESTS` requests from 8 threads at once: (status, worker) of each."""
    results: list[tuple[int, str]] = []
    lock = threading.Lock()

    def client() -> None:
        for _ in range(REQUESTS // 8):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", "/", headers={"Host": "localhost"})
            response = connection.getresponse()
            response.read()
            with lock:
                results.append((response.status, response.getheader("X-Worker", "")))
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def from_both_workers(port: int) -> list[tuple[int, str]]:
    """Bursts until both workers have answered (at most 25 bursts): the kernel hands a
    fast response's connections to whichever worker is free, often the same one."""
    results: list[tuple[int, str]] = []
    for _ in range(25):
        results += burst(port)
        if len({worker for _, worker in results}) == 2:
            break
    return results


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "flask", "--app", f"{__name__}:served_app", "bastion", *args]
    return subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.slow
def test_cli_ban_reaches_every_gunicorn_worker(redis_prefix: tuple[str, str]) -> None:
    """Both workers serve; after `flask bastion ban 127.0.0.1` in another process both
    refuse at once; after `unban` both serve again."""
    url, prefix = redis_prefix
    env = {**os.environ, "IPFILTER_TEST_REDIS": url, "IPFILTER_TEST_PREFIX": prefix}
    with gunicorn(f"{__name__}:served_app()", workers=2, env=env) as server:
        before = from_both_workers(server.port)
        assert {status for status, _ in before} == {200}
        assert len({worker for _, worker in before}) == 2
        banned = cli(env, "ban", "127.0.0.1", "1h", "--reason", "test")
        assert banned.returncode == 0, banned.stderr
        during = from_both_workers(server.port)
        assert {status for status, _ in during} == {403}
        assert len({worker for _, worker in during}) == 2
        lifted = cli(env, "unban", "127.0.0.1")
        assert lifted.returncode == 0, lifted.stderr
        after = from_both_workers(server.port)
        assert {status for status, _ in after} == {200}
