"""The Redis store's invalidation-tracked cache: fewer round trips, never a stale session.

Every test runs against a real Redis: the shared one under a private key prefix, or a
private ``redis-server`` where a test must flush or stop it.
"""

from __future__ import annotations

import subprocess
import typing as t

import pytest
import redis
from flask import Flask

from flask_bastion.sessions import revoke_all_sessions
from flask_bastion.sessions.redis_store import InvalidationTracker, RedisStore

from .conftest import HTTPS
from .test_sessions import COOKIE, Clock, cookie_of, interface, login, session_app
from .test_sessions_faults import private_redis  # noqa: F401  (fixture)


def redis_app(url: str, prefix: str = "bastion:session:", **config: t.Any) -> Flask:
    return session_app(
        BASTION_SESSIONS_STORE="redis",
        BASTION_SESSIONS_URL=url,
        BASTION_SESSIONS_KEY_PREFIX=prefix,
        **config,
    )


def store_of(app: Flask) -> RedisStore:
    store = interface(app).store
    assert isinstance(store, RedisStore)
    return store


def count_gets(store: RedisStore) -> list[str]:
    """Record every GET the store sends to Redis (the real command still runs)."""
    calls: list[str] = []
    real_get = store.client.get

    def get(name: str) -> t.Any:
        calls.append(name)
        return real_get(name)

    store.client.get = get  # type: ignore[method-assign]
    return calls


def read(client: t.Any) -> dict[str, t.Any]:
    response = client.get("/read", base_url=HTTPS)
    assert response.status_code == 200
    return t.cast(dict[str, t.Any], response.get_json()["data"])


@pytest.fixture
def shared(redis_prefix: tuple[str, str]) -> tuple[str, str]:
    return redis_prefix


def test_returning_visitor_reads_redis_once(shared: tuple[str, str]) -> None:
    """After the first read, a returning visitor's requests send no GET to Redis."""
    app = redis_app(*shared)
    client = login(app)
    gets = count_gets(store_of(app))
    for _ in range(5):
        assert read(client) == {"_user_id": "alice"}
    assert len(gets) == 1


def test_revocation_by_another_process_applies_at_once(shared: tuple[str, str]) -> None:
    """A session cached by one app and revoked through another app's Redis connection is
    gone on the very next request: no waiting for the cache to age."""
    app, other = redis_app(*shared), redis_app(*shared)
    client = login(app)
    assert read(client) == {"_user_id": "alice"}  # now cached in app's process
    with other.test_request_context():
        assert revoke_all_sessions("alice") == 1
    response = client.get("/read", base_url=HTTPS)
    assert response.get_json()["data"] == {}
    assert f"{COOKIE}=;" in response.headers["Set-Cookie"]  # the dead cookie is cleared


def test_change_by_another_process_is_seen(shared: tuple[str, str]) -> None:
    """Data written through another app replaces the cached copy before the next read."""
    app, other = redis_app(*shared), redis_app(*shared)
    client = login(app)
    assert read(client) == {"_user_id": "alice"}
    second = other.test_client()
    second.set_cookie(COOKIE, cookie_of(client) or "", domain="localhost")
    assert second.post("/write/role/admin", base_url=HTTPS).status_code == 200
    assert read(client) == {"_user_id": "alice", "role": "admin"}


def test_own_write_is_seen_at_once(shared: tuple[str, str]) -> None:
    """A write in this process drops the cached copy without waiting for Redis."""
    app = redis_app(*shared)
    client = login(app)
    assert read(client) == {"_user_id": "alice"}
    assert client.post("/write/theme/dark", base_url=HTTPS).status_code == 200
    assert read(client) == {"_user_id": "alice", "theme": "dark"}


def test_entries_age_out(shared: tuple[str, str]) -> None:
    """An entry is reused for at most BASTION_SESSIONS_REDIS_CACHE seconds, however quiet
    Redis stays, which bounds staleness if invalidations silently stop."""
    app = redis_app(*shared, BASTION_SESSIONS_REDIS_CACHE=5)
    store = store_of(app)
    assert store.tracker is not None
    clock = store.tracker.clock = Clock()
    client = login(app)
    gets = count_gets(store)
    read(client)
    clock.now += 5
    read(client)
    assert len(gets) == 1
    clock.now += 0.5
    read(client)
    assert len(gets) == 2


def test_lost_listener_empties_the_cache(shared: tuple[str, str]) -> None:
    """When the invalidation connection is killed, reads go to Redis until it is back."""
    app = redis_app(*shared)
    store = store_of(app)
    client = login(app)
    read(client)
    tracker = store.tracker
    assert tracker is not None and tracker.client_id is not None
    killed = tracker.client_id
    store.client.client_kill_filter(_id=killed)
    gets = count_gets(store)
    assert read(client) == {"_user_id": "alice"}
    assert len(gets) == 1  # not served from the cache of the dead listener
    assert tracker.client_id is None
    assert read(client) == {"_user_id": "alice"}  # a new listener, an empty cache
    assert tracker.client_id not in (None, killed)
    assert read(client) == {"_user_id": "alice"}
    assert len(gets) == 2  # cached again under the new listener


def test_cache_can_be_turned_off(shared: tuple[str, str]) -> None:
    """BASTION_SESSIONS_REDIS_CACHE = 0 reads Redis on every request."""
    app = redis_app(*shared, BASTION_SESSIONS_REDIS_CACHE=0)
    store = store_of(app)
    assert store.tracker is None
    client = login(app)
    gets = count_gets(store)
    for _ in range(3):
        read(client)
    assert len(gets) == 3


def test_flush_drops_everything(
    private_redis: tuple[str, subprocess.Popen[bytes]],  # noqa: F811
) -> None:
    """FLUSHALL on the server leaves no cached session behind."""
    url, _process = private_redis
    app = redis_app(url)
    client = login(app)
    assert read(client) == {"_user_id": "alice"}
    store_of(app).client.flushall()
    assert read(client) == {}


def test_read_racing_an_invalidation_is_not_cached(shared: tuple[str, str]) -> None:
    """A value read before an invalidation was applied is returned but never cached."""
    url, prefix = shared
    tracker = InvalidationTracker(redis.Redis.from_url(url), prefix, max_age=60)
    try:
        assert tracker.sync()
        generation = tracker.generation
        tracker.forget(prefix + "other")  # an invalidation lands while the GET is out
        tracker.remember(prefix + "k", b"old", generation)
        assert tracker.lookup(prefix + "k") is None
        tracker.remember(prefix + "k", b"new", tracker.generation)
        assert tracker.lookup(prefix + "k") == b"new"
    finally:
        tracker.close()
        tracker.client.close()


def test_cache_is_bounded(shared: tuple[str, str]) -> None:
    """Beyond max_entries, the least recently used entries are dropped."""
    url, prefix = shared
    tracker = InvalidationTracker(redis.Redis.from_url(url), prefix, max_age=60, max_entries=2)
    try:
        assert tracker.sync()
        for name in ("a", "b"):
            tracker.remember(prefix + name, name.encode(), tracker.generation)
        assert tracker.lookup(prefix + "a") == b"a"  # "b" is now the least recent
        tracker.remember(prefix + "c", b"c", tracker.generation)
        assert [tracker.lookup(prefix + n) for n in "abc"] == [b"a", None, b"c"]
    finally:
        tracker.close()
        tracker.client.close()


def test_unreachable_redis_disables_the_cache_quietly() -> None:
    """With no server to listen to, sync() says no and retries only later."""
    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    tracker = InvalidationTracker(client, "p:", max_age=5)
    clock = tracker.clock = Clock()
    try:
        assert tracker.sync() is False
        assert tracker.client_id is None
        clock.now += 1
        assert tracker.sync() is False  # within the retry delay: no new connection attempt
    finally:
        tracker.close()
        client.close()
