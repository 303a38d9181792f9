"""The Redis store's local cache: Flask-Bastion's InvalidationTracker against redis-py's
own client-side cache (``protocol=3, cache_config=CacheConfig()``), side by side.

First it asks redis-py for its cache on the server as it is and prints the answer (redis-py
refuses servers older than 7.4). Then, to learn whether the library's cache would meet the
store's tests on a server it accepts, it lifts that version check **in this process only**
and runs, for each cache, the situations ``tests/test_sessions_redis_cache.py`` covers:

- a session revoked through another connection is gone on the next read;
- after the cache's connections are killed and the session is deleted meanwhile, the next
  read does not return it;
- a forked child does not read a session its parent cached and another client deleted;
- an entry is not reused for longer than the maximum age (the tracker's
  ``cache_seconds``; redis-py's ``CacheConfig`` has no such setting, so this is reported
  from its parameters rather than run).

Last, it times ``RedisStore.get`` of a cached session with each cache and with none, in
alternating batches in one run::

    .venv/bin/python benchmarks/redis_client_cache.py [--url redis://127.0.0.1:6379/0]

Only keys under a random ``bastion-eval:`` prefix are written, and deleted at the end; only
connections named by this run are killed.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import secrets
import statistics
import time
import typing as t

import redis
from redis.cache import CacheConfig
from redis.connection import CacheProxyConnection

from flask_bastion.sessions.redis_store import RedisStore
from flask_bastion.sessions.store import SessionRecord

PREFIX = f"bastion-eval:{secrets.token_hex(4)}:"
#: Only connections with this name are ever killed: the server may be shared.
NAME = f"bastion-eval-{secrets.token_hex(4)}"
BATCHES, BATCH_SIZE = 20, 500


def record(key: str) -> SessionRecord:
    now = time.time()
    return SessionRecord(
        key=key,
        data={},
        raw=json.dumps({"_user_id": "1"}),
        user_id="1",
        created_at=now,
        last_seen=now,
        expires_at=now + 600,
    )


def library_store(url: str) -> RedisStore:
    """The store on a client with redis-py's cache; the tracker off."""
    client = redis.Redis.from_url(
        url,
        protocol=3,
        cache_config=CacheConfig(),
        socket_timeout=2,
        socket_connect_timeout=2,
        client_name=NAME,
    )
    return RedisStore(client, prefix=PREFIX, cache_seconds=0)


def tracker_store(url: str) -> RedisStore:
    """The store as Flask-Bastion configures it: the tracker on, 5 seconds."""
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, client_name=NAME)
    return RedisStore(client, prefix=PREFIX, cache_seconds=5)


def cached(store: RedisStore) -> str:
    """A new session in ``store``, read twice so that it is cached."""
    key = secrets.token_hex(8)
    store.create(record(key))
    store.get(key)
    store.get(key)
    return key


def gone(store: RedisStore, key: str) -> bool | str:
    try:
        return store.get(key) is None
    except redis.RedisError as exc:
        return f"error: {type(exc).__name__}"


def situations(store: RedisStore, plain: redis.Redis, url: str) -> dict[str, t.Any]:
    found: dict[str, t.Any] = {}
    key = cached(store)
    plain.delete(PREFIX + key)
    found["revocation seen at once"] = gone(store, key)

    key = cached(store)
    for client in plain.client_list():
        if client.get("name") == NAME:
            plain.client_kill_filter(_id=int(client["id"]))
    plain.delete(PREFIX + key)
    found["connection loss: no stale read"] = gone(store, key)

    key = cached(store)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: another client deletes, then the child reads
        os.close(read)
        redis.Redis.from_url(url).delete(PREFIX + key)
        os.write(write, json.dumps(gone(store, key)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    found["fork: no stale read"] = json.loads(os.read(read, 100))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description="redis-py's client-side cache vs the tracker")
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    url = parser.parse_args().url
    plain = redis.Redis.from_url(url)
    print(f"redis-py {redis.__version__}, server {plain.info('server')['redis_version']}")
    try:
        library_store(url).client.get(PREFIX + "probe")
        print("redis-py's client-side cache: accepted by this server")
    except redis.ConnectionError as exc:
        print(f"redis-py's client-side cache: refused: {exc}")
    CacheProxyConnection.MIN_ALLOWED_VERSION = "0"  # lifted for this evaluation only
    max_age = "max_age" in inspect.signature(CacheConfig).parameters
    results = {
        "redis-py cache": {**situations(library_store(url), plain, url), "max age": max_age},
        "tracker": {**situations(tracker_store(url), plain, url), "max age": True},
    }
    for name, found in results.items():
        print(f"{name}: " + ", ".join(f"{k}: {v}" for k, v in found.items()))

    stores = {
        "redis-py cache": library_store(url),
        "tracker": tracker_store(url),
        "no cache": RedisStore(url, prefix=PREFIX, cache_seconds=0),
    }
    key = cached(stores["tracker"])
    for store in stores.values():
        for _ in range(200):
            store.get(key)
    times: dict[str, list[float]] = {name: [] for name in stores}
    order = list(stores)
    for batch in range(BATCHES):
        for name in order if batch % 2 == 0 else order[::-1]:
            store = stores[name]
            start = time.perf_counter()
            for _ in range(BATCH_SIZE):
                store.get(key)
            times[name].append((time.perf_counter() - start) / BATCH_SIZE * 1e6)
    for name in order:
        print(
            f"{name:15s} RedisStore.get of a cached session: "
            f"{statistics.median(times[name]):6.1f} us "
            f"(median of {BATCHES} batches of {BATCH_SIZE})"
        )
    keys = list(plain.scan_iter(match=PREFIX + "*"))
    if keys:
        plain.delete(*keys)


if __name__ == "__main__":
    main()
