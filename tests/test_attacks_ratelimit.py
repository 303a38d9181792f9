"""Attacks on the rate limits from outside, and by a confused operator: request input
that crashes a key or cost function, limits and store URLs that only fail at request
time, and the boundary race on real Redis."""

from __future__ import annotations

import threading
import typing as t

import pytest
from flask import request

from flask_bastion.exceptions import ConfigurationError
from flask_bastion.ratelimit import limit

from .conftest import make_app
from .test_ratelimit import hit, limited_app, statuses


def test_cost_function_fed_garbage_is_no_500() -> None:
    """The documented cost function ``int(request.args["pages"])`` raises ValueError on
    ``?pages=lots``: the request is counted at cost 1, not answered with a 500."""
    app, _ = limited_app(BASTION_RATELIMIT_DEFAULT="100/minute")

    @app.get("/export")
    @limit("10/minute", cost=lambda: int(request.args.get("pages", 1)))
    def export() -> str:
        return "export"

    client = app.test_client()
    assert hit(client, "/export?pages=lots").status_code == 200
    assert hit(client, "/export?pages=8").status_code == 200
    assert hit(client, "/export?pages=1.5").status_code == 200  # 1 + 8 + 1 = 10
    assert hit(client, "/export?pages=x").status_code == 429


def test_cost_function_returning_a_float_is_rounded_up() -> None:
    """A cost computed as a float (a size over 1024) counts, rounded up, not as 1."""
    app, _ = limited_app(BASTION_RATELIMIT_DEFAULT="100/minute")

    @app.get("/upload")
    @limit("10/minute", cost=lambda: float(request.args["kb"]) / 1024)
    def upload() -> str:
        return "upload"

    client = app.test_client()
    assert hit(client, "/upload?kb=9000").status_code == 200  # cost 9
    assert hit(client, "/upload?kb=2000").status_code == 429  # cost 2: 11 > 10
    assert hit(client, "/upload?kb=nan").status_code == 429  # cost 1, still over


def test_key_function_fed_garbage_is_no_500() -> None:
    """A key function that fails on the request's input counts the client instead."""
    app, _ = limited_app(BASTION_RATELIMIT_DEFAULT="100/minute")

    @app.get("/tenant")
    @limit("2/minute", key=lambda: str(int(request.args["tenant"])))
    def tenant() -> str:
        return "tenant"

    client = app.test_client()
    assert statuses(client, 3, "/tenant?tenant=abc") == [200, 200, 429]
    assert hit(client, "/tenant?tenant=7").status_code == 200


@pytest.mark.parametrize("value", ["5/99999999999 years", "1/500 years", "10/minute; 1/400 years"])
def test_window_beyond_what_a_store_can_expire_is_refused_at_start(value: str) -> None:
    """A window of billions of years passes ``limits``' parser, then makes Redis's EXPIRE
    fail on every new window (the limit silently fails open) and leaves counters that
    never expire: refused when the application starts."""
    with pytest.raises(ConfigurationError) as info:
        make_app(BASTION_RATELIMIT_DEFAULT=value)
    assert info.value.key == "BASTION_RATELIMIT_DEFAULT"
    with pytest.raises(ValueError, match="window"):
        limit(value)(lambda: "x")


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://localhost:26379",
        "redis+sentinel://localhost:26379/",
        "redis+cluster://",
        "redis+cluster:///",
    ],
)
def test_store_url_missing_its_parts_is_refused_at_start(url: str) -> None:
    """A Sentinel URL without its service name, or a Cluster URL without a node, is only
    found out by ``limits`` on the first request (a 500 there): refused at start."""
    with pytest.raises(ConfigurationError) as info:
        make_app(BASTION_RATELIMIT_STORAGE_URL=url)
    assert info.value.key == "BASTION_RATELIMIT_STORAGE_URL"


def test_many_threads_at_the_boundary_get_exactly_the_limit(
    redis_prefix: tuple[str, str],
) -> None:
    """Sixty threads racing against a limit of 25 on real Redis: exactly 25 get through,
    whatever the interleaving (one atomic script per hit)."""
    url, prefix = redis_prefix
    app = make_app(
        BASTION_RATELIMIT_STORAGE_URL=url,
        BASTION_RATELIMIT_KEY_PREFIX=prefix,
        BASTION_RATELIMIT_DEFAULT="25/hour",
    )
    results: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(12)

    def worker() -> None:
        client = app.test_client()
        start.wait()
        for _ in range(5):
            code = hit(client, "/api/ping").status_code
            with lock:
                results.append(code)

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results).count(200) == 25
    assert results.count(429) == 35


def test_memory_store_race_gets_exactly_the_limit() -> None:
    """The same race on the memory store."""
    app, _ = limited_app(BASTION_RATELIMIT_DEFAULT="25/hour")
    results: list[int] = []
    start = threading.Barrier(12)

    def worker() -> None:
        client = app.test_client()
        start.wait()
        results.extend(hit(client, "/api/ping").status_code for _ in range(5))

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(200) == 25 and results.count(429) == 35


Spoof = dict[str, t.Any]
