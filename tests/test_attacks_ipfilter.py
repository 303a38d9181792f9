"""Attacks on the IP filter and the bans: ban propagation when Redis loses or rolls
back its data, malformed ban input, and ban expiry edges on an injected clock."""

from __future__ import annotations

import subprocess
import typing as t
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from flask_bastion.ipfilter import ban

from .test_ipfilter_bans import clocked, get
from .test_ipfilter_redis import redis_app, store_of, wait_for_notice
from .test_sessions_faults import REDIS_SERVER, _free_port, _wait_until_ready


def test_emptied_redis_refilled_before_a_process_looks_is_read_whole(
    redis_prefix: tuple[str, str],
) -> None:
    """Redis loses the bans (emptied, or restarted without persistence) and another
    process bans as many addresses before this one reads again: the change counter is
    back where this process left it, so a delta read finds nothing to do. This process
    must still drop the lost ban and see the new one."""
    url, prefix = redis_prefix
    first, second = redis_app(url, prefix), redis_app(url, prefix)
    clocked(first)
    clocked(second)
    with first.app_context():
        ban("198.51.100.7", 600, "before")
    assert get(first, "198.51.100.7") == 403  # first's copy is at counter 1
    store = store_of(first)
    store.client.delete(*store.client.keys(prefix + "*"))
    with second.app_context():
        ban("203.0.113.9", 600, "after")  # counter 1 again
    wait_for_notice(first)
    assert get(first, "203.0.113.9") == 403
    assert get(first, "198.51.100.7") == 200


@pytest.fixture
def saving_redis(tmp_path: Path) -> Iterator[t.Callable[[], str]]:
    """Start (and restart) a private redis-server that keeps its snapshot in
    ``tmp_path``: calling the fixture kills the running server and starts another on the
    same port, which loads the last ``SAVE``."""
    if REDIS_SERVER is None:
        pytest.fail("redis-server is not installed", pytrace=False)
    port = _free_port()
    running: list[subprocess.Popen[bytes]] = []

    def start() -> str:
        for process in running:
            process.kill()
            process.wait(timeout=10)
        command = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(tmp_path)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        running.append(process)
        if not _wait_until_ready(process):
            pytest.fail("private redis-server did not start", pytrace=False)
        return f"redis://127.0.0.1:{port}/0"

    yield start
    for process in running:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        assert process.stdout is not None
        process.stdout.close()


def test_redis_restarted_from_an_older_snapshot_is_read_whole(
    saving_redis: t.Callable[[], str],
) -> None:
    """Redis restarts from a snapshot older than the last change (the counter goes back
    to 1), then another process bans an address (counter 2, where this process left
    it): this process must not keep the ban the snapshot lost, nor miss the new one."""
    url = saving_redis()
    first = redis_app(url)
    clock = clocked(first)
    with first.app_context():
        ban("198.51.100.1", 600, "saved")
        redis.Redis.from_url(url).save()
        ban("198.51.100.2", 600, "lost in the restart")
    assert get(first, "198.51.100.2") == 403  # first's copy is at counter 2
    saving_redis()
    second = redis_app(url)
    clocked(second)
    with second.app_context():
        ban("203.0.113.9", 600, "after the restart")  # counter 2 again
    clock.now += 6  # past the 5 s refresh: the notice connection died with the server
    statuses = [get(first, ip) for ip in ("198.51.100.1", "198.51.100.2", "203.0.113.9")]
    assert statuses == [403, 200, 403]
