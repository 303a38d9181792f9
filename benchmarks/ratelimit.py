"""What a rate limit costs per request: Flask-Bastion's limits against Flask-Limiter's,
with the same limits, on the memory store and on Redis, measured side by side in one run.

Four applications serve the same page (``GET /api/ping``), called in process through
WSGI like ``overhead.py`` does, with requests coming from 254 client addresses in turn so
that no limit ever refuses (the cost measured is counting, not refusing):

* ``bare``: Flask alone;
* ``limiter``: Flask with Flask-Limiter (fixed window, ``get_remote_address``), the
  default limit ``600/minute`` and ``6000/hour`` on the route, headers on;
* ``bastion-off``: ``Bastion(app)`` with ``BASTION_RATELIMIT_ENABLED = False``;
* ``bastion``: ``Bastion(app)`` with the default ``600/minute`` and ``@limit("6000/hour")``
  on the route, RateLimit headers on every response (``BASTION_RATELIMIT_HEADERS =
  "always"``).

The cost of each library's limits is the difference of two of them, measured in the same
interleaved batches: Flask-Limiter is ``limiter - bare``, Bastion's limits are
``bastion - bastion-off``. With ``--redis URL`` (or ``REDIS_URL``) the same runs again
with both libraries counting in Redis, under a private key prefix deleted afterwards::

    .venv/bin/python benchmarks/ratelimit.py --redis redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import typing as t

from flask import Flask
from overhead import Runner, make_environ

SECRET = "5e2a9d7c1f4b8e3a6d0c2f9b7e1a5d3c8f6b0e4a2d9c7f1b3e5a8d6c0f2b4e9a"
DEFAULT_LIMIT = "600/minute"
ROUTE_LIMIT = "6000/hour"


def _flask() -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, TRUSTED_HOSTS=["localhost"])
    return app


def bare_app() -> Flask:
    app = _flask()
    app.add_url_rule("/api/ping", "ping", lambda: {"ok": True})
    return app


def limiter_app(storage: str, prefix: str) -> Flask:
    from flask_limiter import Limiter
    from flask_limiter.util import get_remote_address

    app = _flask()
    limiter = Limiter(
        get_remote_address,
        app=app,
        default_limits=[DEFAULT_LIMIT],
        storage_uri=storage,
        strategy="fixed-window",
        headers_enabled=True,
        key_prefix=prefix,
    )
    app.add_url_rule("/api/ping", "ping", limiter.limit(ROUTE_LIMIT)(lambda: {"ok": True}))
    return app


def bastion_app(storage: str, prefix: str, *, enabled: bool) -> Flask:
    from flask_bastion import Bastion, limit

    app = _flask()
    app.config.update(
        BASTION_SESSIONS_STORE="memory",
        BASTION_RATELIMIT_ENABLED=enabled,
        BASTION_RATELIMIT_DEFAULT=DEFAULT_LIMIT,
        BASTION_RATELIMIT_STORAGE_URL=storage,
        BASTION_RATELIMIT_KEY_PREFIX=prefix,
        # Headers on every response, as Flask-Limiter's headers_enabled sends them.
        BASTION_RATELIMIT_HEADERS="always",
    )
    app.add_url_rule("/api/ping", "ping", limit(ROUTE_LIMIT, name="ping")(lambda: {"ok": True}))
    Bastion(app)
    return app


def measure(runners: dict[str, Runner], batches: int, size: int, warmup: int) -> dict[str, float]:
    """Median microseconds per request of each runner, batches interleaved in rotation."""
    for label, runner in runners.items():
        for _ in range(warmup):
            runner.request()
        runner.check(label)
    times: dict[str, list[float]] = {label: [] for label in runners}
    order = list(runners)
    for number in range(batches):
        shift = number % len(order)
        for label in order[shift:] + order[:shift]:
            times[label].append(runners[label].batch(size))
            runners[label].check(label)
    return {label: statistics.median(values) for label, values in times.items()}


def run_store(storage: str, prefix: str, args: argparse.Namespace) -> dict[str, float]:
    environ = make_environ("/api/ping")
    apps: dict[str, t.Any] = {
        "bare": bare_app(),
        "limiter": limiter_app(storage, prefix + "fl"),
        "bastion-off": bastion_app(storage, prefix + "b:", enabled=False),
        "bastion": bastion_app(storage, prefix + "b:", enabled=True),
    }
    runners = {label: Runner(app.wsgi_app, environ, args.clients) for label, app in apps.items()}
    return measure(runners, args.batches, args.batch_size, args.warmup)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL"), help="Redis URL")
    parser.add_argument("--clients", type=int, default=254, help="client addresses (254)")
    parser.add_argument("--batches", type=int, default=20, help="batches per app (20)")
    parser.add_argument("--batch-size", type=int, default=300, help="requests per batch (300)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests per app")
    args = parser.parse_args(argv)
    stores = [("memory", "memory://")]
    if args.redis:
        stores.append(("redis", args.redis))
    prefix = f"bench-ratelimit:{secrets.token_hex(4)}:"
    print("store   per request (us): bare / limiter / bastion-off / bastion;")
    print("        cost of the limits: Flask-Limiter (limiter - bare), Bastion (bastion - off)")
    try:
        for name, url in stores:
            us = run_store(url, prefix, args)
            print(
                f"{name:7} {us['bare']:.1f} / {us['limiter']:.1f} / {us['bastion-off']:.1f} / "
                f"{us['bastion']:.1f};  Flask-Limiter +{us['limiter'] - us['bare']:.1f} us, "
                f"Bastion +{us['bastion'] - us['bastion-off']:.1f} us"
            )
    finally:
        if args.redis:
            import redis

            client = redis.Redis.from_url(args.redis)
            keys = list(client.scan_iter(match=prefix + "*"))
            keys += list(client.scan_iter(match="LIMITS:" + prefix + "*"))
            if keys:
                client.delete(*keys)
            client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
