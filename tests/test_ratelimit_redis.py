"""Rate limits on Redis: shared counters, one round trip per request, store failures
(a private redis-server stopped mid-test) and two gunicorn workers enforcing one limit."""

from __future__ import annotations

import http.client
import logging
import os
import subprocess
import threading
import typing as t
from collections.abc import Iterator

import pytest
from flask import Flask

from flask_bastion import signals
from flask_bastion.exceptions import RateLimitStoreUnavailable
from flask_bastion.ratelimit import limit

from .conftest import make_app
from .servers import gunicorn
from .test_ratelimit import hit, limited_app, statuses
from .test_sessions_faults import private_redis  # noqa: F401  (a fixture)


@pytest.fixture
def redis_config(redis_prefix: tuple[str, str]) -> dict[str, t.Any]:
    """App config putting the counters on the shared Redis under a private prefix."""
    url, prefix = redis_prefix
    return {"BASTION_RATELIMIT_STORAGE_URL": url, "BASTION_RATELIMIT_KEY_PREFIX": prefix}


def test_redis_limit_refuses_past_its_amount(redis_config: dict[str, t.Any]) -> None:
    """The default limit on Redis: three allowed, the fourth refused with its headers."""
    app, _ = limited_app(**redis_config)
    client = app.test_client()
    assert statuses(client, 3) == [200, 200, 200]
    response = hit(client)
    assert response.status_code == 429
    assert response.headers["RateLimit"].startswith('"default";r=0;t=')
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_processes_share_one_budget(redis_config: dict[str, t.Any]) -> None:
    """Two applications on one Redis (two workers, two machines) count together."""
    first, _ = limited_app(**redis_config)
    second, _ = limited_app(**redis_config)
    assert statuses(first.test_client(), 2) == [200, 200]
    assert statuses(second.test_client(), 2) == [200, 429]


def test_redis_keys_expire_with_the_window(redis_config: dict[str, t.Any]) -> None:
    """Each counter is a Redis key with the window as its time to live."""
    import redis

    app, _ = limited_app(**redis_config)
    hit(app.test_client())
    client = redis.Redis.from_url(redis_config["BASTION_RATELIMIT_STORAGE_URL"])
    try:
        keys = list(client.scan_iter(match=redis_config["BASTION_RATELIMIT_KEY_PREFIX"] + "*"))
        assert len(keys) == 1
        assert 0 < client.ttl(keys[0]) <= 60
        assert client.get(keys[0]) == b"1"
    finally:
        client.close()


def test_every_limit_of_a_request_in_one_round_trip(
    redis_config: dict[str, t.Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default, a view's two limits and the four authentication limits of a sign-in
    post (seven counters) cost one write to Redis and one read back."""
    import redis.connection

    app, _ = limited_app(**redis_config)

    @app.post("/heavy")
    @limit("50/minute; 500/hour")
    def heavy() -> str:
        return "ok"

    from flask_bastion.ratelimit import auth_limited

    auth_limited(app.view_functions["heavy"])
    client = app.test_client()
    hit(client, "/heavy", method="POST", data={"email": "a@example.org"})  # connects
    sent: list[bytes] = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(self: t.Any, command: t.Any, check_health: bool = True) -> None:
        sent.append(b"".join(command) if isinstance(command, list) else command)
        original(self, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    response = hit(client, "/heavy", method="POST", data={"email": "a@example.org"})
    assert response.status_code == 200
    assert len(sent) == 1
    assert sent[0].count(b"EVALSHA") == 7 and sent[0].count(b"PTTL") == 7


def test_lost_script_is_loaded_again(private_redis: tuple[str, t.Any]) -> None:  # noqa: F811
    """After SCRIPT FLUSH (a restarted Redis), counting goes on."""
    import redis

    url, _ = private_redis
    app, _ = limited_app(BASTION_RATELIMIT_STORAGE_URL=url)
    client = app.test_client()
    assert statuses(client, 2) == [200, 200]
    admin = redis.Redis.from_url(url)
    admin.script_flush()
    admin.close()
    assert statuses(client, 2) == [200, 429]


@pytest.fixture
def store_failures() -> Iterator[list[dict[str, t.Any]]]:
    """The ratelimit_store_failed signals sent during the test."""
    calls: list[dict[str, t.Any]] = []

    def receive(sender: t.Any, **kw: t.Any) -> None:
        calls.append(kw)

    signals.ratelimit_store_failed.connect(receive)
    yield calls
    signals.ratelimit_store_failed.disconnect(receive)


def failing_app(url: str) -> Flask:
    app, _ = limited_app(BASTION_RATELIMIT_STORAGE_URL=url, BASTION_STORES_REDIS_TIMEOUT=1)

    @app.get("/guarded")
    @limit("100/minute", fail="closed")
    def guarded() -> str:
        return "guarded"

    return app


def test_store_stopped_mid_test_fails_open_for_the_default_limit(
    private_redis: tuple[str, subprocess.Popen[bytes]],  # noqa: F811
    store_failures: list[dict[str, t.Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With Redis gone, the default limit serves the request, logs and signals it."""
    url, process = private_redis
    app = failing_app(url)
    client = app.test_client()
    assert hit(client).status_code == 200
    process.kill()
    process.wait(timeout=10)
    with caplog.at_level(logging.ERROR, logger="flask_bastion.security"):
        response = hit(client)
    assert response.status_code == 200
    assert "RateLimit" not in response.headers
    assert store_failures == [
        {"reason": "rate-limit store: ConnectionError", "fail": "open", "endpoint": "index"}
    ]
    (record,) = [r for r in caplog.records if getattr(r, "event", "") == "ratelimit.store_failed"]
    assert record.fail == "open"
    assert url not in record.getMessage()


@pytest.mark.parametrize(
    ("path", "method", "data"),
    [("/signin", "POST", {"email": "a@example.org"}), ("/guarded", "GET", None)],
    ids=["auth-limit", "fail-closed-view"],
)
def test_store_stopped_mid_test_fails_closed_where_configured(
    private_redis: tuple[str, subprocess.Popen[bytes]],  # noqa: F811
    store_failures: list[dict[str, t.Any]],
    path: str,
    method: str,
    data: dict[str, str] | None,
) -> None:
    """With Redis gone, authentication limits and fail='closed' answer 503 with
    Retry-After, and signal the failure; never a 500."""
    url, process = private_redis
    app = failing_app(url)
    client = app.test_client()
    assert hit(client, path, method=method, data=data).status_code == 200
    process.kill()
    process.wait(timeout=10)
    response = hit(client, path, method=method, data=data)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(RateLimitStoreUnavailable.RETRY_AFTER)
    assert [c["fail"] for c in store_failures] == ["closed"]


def test_unreachable_store_from_the_start_is_no_error(
    store_failures: list[dict[str, t.Any]],
) -> None:
    """A store that never answered: the app starts, pages are served, sign-in posts 503."""
    from .servers import free_port

    app = failing_app(f"redis://127.0.0.1:{free_port()}/0")
    client = app.test_client()
    assert hit(client).status_code == 200
    assert hit(client, "/signin", method="POST").status_code == 503


@pytest.mark.parametrize("scheme", ["redis+cluster", "redis+sentinel"], ids=["cluster", "sentinel"])
def test_cluster_or_sentinel_down_at_start_is_no_error(
    scheme: str, store_failures: list[dict[str, t.Any]]
) -> None:
    """A Cluster client connects as it is made: with the cluster down, the application
    still starts, pages fail open and authentication posts fail closed."""
    from .servers import free_port

    url = f"{scheme}://127.0.0.1:{free_port()}" + ("/mymaster" if "sentinel" in scheme else "")
    app = failing_app(url)
    client = app.test_client()
    assert hit(client).status_code == 200
    assert hit(client, "/signin", method="POST").status_code == 503
    assert [c["fail"] for c in store_failures] == ["open", "closed"]


def test_fail_closed_setting_applies_to_the_default_limit(
    private_redis: tuple[str, subprocess.Popen[bytes]],  # noqa: F811
) -> None:
    """BASTION_RATELIMIT_FAIL='closed' makes the default limit answer 503 too."""
    url, process = private_redis
    app, _ = limited_app(BASTION_RATELIMIT_STORAGE_URL=url, BASTION_RATELIMIT_FAIL="closed")
    client = app.test_client()
    process.kill()
    process.wait(timeout=10)
    assert hit(client).status_code == 503


# -- two gunicorn workers ---------------------------------------------------------------

#: The limit the workers share, and the requests sent against it.
SHARED_LIMIT = 20
REQUESTS = 40


def served_app() -> Flask:
    """The app gunicorn serves: a limit of :data:`SHARED_LIMIT` a minute on Redis, and
    the worker's process ID in a header of every response."""
    app = make_app(
        BASTION_PROFILE="development",
        BASTION_RATELIMIT_DEFAULT=f"{SHARED_LIMIT}/minute",
        BASTION_RATELIMIT_STORAGE_URL=os.environ["RATELIMIT_TEST_REDIS"],
        BASTION_RATELIMIT_KEY_PREFIX=os.environ["RATELIMIT_TEST_PREFIX"],
    )

    @app.after_request
    def worker(response: t.Any) -> t.Any:
        response.headers["X-Worker"] = str(os.getpid())
        return response

    return app


@pytest.mark.slow
def test_two_gunicorn_workers_enforce_one_limit_exactly(
    redis_prefix: tuple[str, str],
) -> None:
    """Concurrent requests spread over two workers: exactly the limit is served."""
    url, prefix = redis_prefix
    env = {**os.environ, "RATELIMIT_TEST_REDIS": url, "RATELIMIT_TEST_PREFIX": prefix}
    results: list[tuple[int, str]] = []
    lock = threading.Lock()

    with gunicorn(f"{__name__}:served_app()", workers=2, env=env) as server:

        def client() -> None:
            for _ in range(REQUESTS // 8):
                connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
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
    codes = [status for status, _ in results]
    assert len(codes) == REQUESTS
    assert codes.count(200) == SHARED_LIMIT
    assert codes.count(429) == REQUESTS - SHARED_LIMIT
    assert len({worker for _, worker in results}) == 2
