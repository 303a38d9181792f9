"""The IP filter on the request path, and what reading a large ban list costs.

Times, in one run and in alternating batches (median of the batch means):

- ``IPFilter.before_request`` for an address that is not banned, with nothing listed or
  banned (the default), and with a ban list of ``--bans`` addresses plus a deny list;
- reading the whole ban list (building the per-process index), from memory and from
  Redis, for 10,000 and ``--bans`` bans: what a process pays on its first request, and
  for memory and SQL after each change;
- what a process on Redis pays at its next request after another process banned one
  more address, with that many bans listed: it reads only the change.

::

    .venv/bin/python benchmarks/ipfilter_bans.py [--url redis://127.0.0.1:6379/0] [--bans 100000]

Only keys under a random ``bastion-eval:`` prefix are written, and deleted at the end.
"""

from __future__ import annotations

import argparse
import ipaddress
import secrets
import statistics
import time
import typing as t

from flask import Flask

from flask_bastion import Bastion
from flask_bastion.context import RequestState
from flask_bastion.ipfilter import Ban, ipfilter_of

NOW = 1_900_000_000.0


def make_app(**config: t.Any) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="x" * 64, TRUSTED_HOSTS=["localhost"], **config)
    app.get("/")(lambda: "ok")
    Bastion(app)
    return app


def fill(app: Flask, count: int) -> None:
    """``count`` bans of distinct /32s, written straight to the store."""
    store = ipfilter_of(app).bans.store
    base = int(ipaddress.IPv4Address("10.0.0.0"))
    bans = [
        Ban(ipaddress.IPv4Network(base + n), NOW + 3600, "bench", NOW, "bench")
        for n in range(count)
    ]
    client = getattr(store, "client", None)
    if client is not None:
        key = t.cast(t.Any, store).key
        for start in range(0, count, 10_000):
            chunk = bans[start : start + 10_000]
            client.hset(key, mapping={str(b.network): b.to_json() for b in chunk})
    else:
        for entry in bans:
            store.add(entry, NOW)


def per_request(app: Flask, batches: int, size: int) -> float:
    """Median microseconds of one ``before_request`` for an address not banned."""
    ipfilter = ipfilter_of(app)
    ipfilter.bans.clock = lambda: NOW
    means = []
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "198.51.100.7"}):
        from flask import request

        req = request._get_current_object()  # type: ignore[attr-defined]
        state = RequestState()
        ipfilter.before_request(req, state)  # loads the copy
        for _ in range(batches):
            start = time.perf_counter()
            for _ in range(size):
                ipfilter.before_request(req, state)
            means.append((time.perf_counter() - start) / size * 1e6)
    return statistics.median(means)


def reload(app: Flask, runs: int) -> float:
    """Median milliseconds to read the whole list again and index it."""
    bans = ipfilter_of(app).bans
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        bans.set(bans.store.load(), NOW)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def one_change(app: Flask, other: Flask, runs: int) -> float:
    """Median milliseconds for ``app`` to take in one ban made through ``other``."""
    bans = ipfilter_of(app).bans
    bans.clock = ipfilter_of(other).bans.clock = lambda: NOW
    bans.current(NOW)
    times = []
    for n in range(runs):
        with other.app_context():
            ipfilter_of(other).bans.store.add(
                Ban(ipaddress.ip_network(f"192.0.2.{n}"), NOW + 60, "b", NOW, "b"), NOW
            )
        start = time.perf_counter()
        bans.invalidate()  # as the change notice would
        bans.current(NOW)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--bans", type=int, default=100_000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=2000)
    args = parser.parse_args()

    plain = make_app(BASTION_SESSIONS_STORE="memory")
    listed = make_app(BASTION_SESSIONS_STORE="memory", BASTION_IPFILTER_DENY=["203.0.113.0/24"])
    fill(listed, args.bans)
    for name, app in (("nothing listed or banned", plain), (f"{args.bans} bans + deny", listed)):
        cost = per_request(app, args.batches, args.batch_size)
        print(f"before_request, address not banned, {name}: {cost:.2f} us")

    prefix = f"bastion-eval:{secrets.token_hex(6)}:"
    for count in (10_000, args.bans):
        memory = make_app(BASTION_SESSIONS_STORE="memory")
        fill(memory, count)
        print(f"reload {count} bans from memory: {reload(memory, 5):.1f} ms")
        redis_app = make_app(
            BASTION_SESSIONS_STORE="memory",
            BASTION_IPFILTER_BANS_URL=args.url,
            BASTION_IPFILTER_KEY_PREFIX=f"{prefix}{count}:",
        )
        fill(redis_app, count)
        other = make_app(
            BASTION_SESSIONS_STORE="memory",
            BASTION_IPFILTER_BANS_URL=args.url,
            BASTION_IPFILTER_KEY_PREFIX=f"{prefix}{count}:",
        )
        try:
            print(f"reload {count} bans from Redis:  {reload(redis_app, 5):.1f} ms")
            cost = one_change(redis_app, other, 20)
            print(f"one more ban, {count} listed, Redis, next request:  {cost:.2f} ms")
        finally:
            store = t.cast(t.Any, ipfilter_of(redis_app).bans.store)
            store.client.delete(store.key, store.ends, store.changes_key, store.seq_key)


if __name__ == "__main__":
    main()
