"""Per-request overhead of a Flask stack against bare Flask, measured side by side.

Both applications are imported into this process and called directly through WSGI, so
the figure is the cost of the Python code on the request path, with no server, socket or
HTTP parsing in between. Batches of requests alternate between the two applications
(stack, bare, bare, stack, ...) so that drift in CPU frequency or cache state affects
both alike; the result is the median of the per-batch mean time per request::

    python benchmarks/overhead.py bastion bare
    overhead: 1.23 (stack/bare us per request: 123.4/100.3)

An application is named ``bare``, ``seed`` or ``bastion`` (``benchmarks/apps/<name>_app.py``)
or given as a path to a module that defines a WSGI ``app``. Requests are made over
``https`` (``wsgi.url_scheme``) because the secured stacks redirect plain HTTP; the first
response of each application must be a 200, so a redirect or an error page is never
what gets measured.

Requests come from ``--clients`` addresses in turn (default 254, ``192.0.2.1`` and up), as
a site's visitors do: the default rate limit of Bastion (600 a minute per client) and the
seed stack's Flask-Limiter count every request, and none of them is refused.

``--login /login --path /account`` measures a returning visitor instead: each application
first answers ``POST /login`` (which signs a user in and starts a session), and every
measured request then carries the cookies that response set.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import io
import statistics
import sys
import time
import tracemalloc
import typing as t
from collections.abc import Callable, Iterable
from http.cookies import SimpleCookie
from pathlib import Path

APPS_DIR = Path(__file__).resolve().parent / "apps"

WSGIApp = Callable[[dict[str, t.Any], Callable[..., t.Any]], Iterable[bytes]]

#: Request headers of a current desktop browser loading a page.
PAGE_HEADERS = {
    "HTTP_ACCEPT": (
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
    ),
    "HTTP_SEC_FETCH_DEST": "document",
    "HTTP_SEC_FETCH_MODE": "navigate",
    "HTTP_SEC_FETCH_SITE": "none",
    "HTTP_SEC_FETCH_USER": "?1",
    "HTTP_UPGRADE_INSECURE_REQUESTS": "1",
}
#: Request headers of a ``fetch()`` call from one of the site's own pages.
API_HEADERS = {
    "HTTP_ACCEPT": "application/json",
    "HTTP_SEC_FETCH_DEST": "empty",
    "HTTP_SEC_FETCH_MODE": "cors",
    "HTTP_SEC_FETCH_SITE": "same-origin",
}


def load_app(name: str) -> WSGIApp:
    """The WSGI ``app`` of ``benchmarks/apps/<name>_app.py``, or of the module at ``name``."""
    path = Path(name)
    if path.suffix != ".py":
        path = APPS_DIR / f"{name}_app.py"
    if not path.is_file():
        raise SystemExit(f"overhead.py: no application module at {path}")
    module_name = f"_overhead_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"overhead.py: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return t.cast(WSGIApp, module.app)


def make_environ(path: str) -> dict[str, t.Any]:
    """A WSGI environ for ``GET https://localhost<path>`` from a browser, as a server
    would build it. Copy it for each call: applications write into the environ."""
    path_info, _, query = path.partition("?")
    environ: dict[str, t.Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "443",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "52314",
        "HTTP_HOST": "localhost",
        "HTTP_USER_AGENT": (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36"
        ),
        "HTTP_ACCEPT_ENCODING": "gzip, deflate, br, zstd",
        "HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.9",
        "HTTP_CONNECTION": "keep-alive",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    environ.update(API_HEADERS if path_info.startswith("/api/") else PAGE_HEADERS)
    return environ


class Runner:
    """Calls one application with copies of one environ and keeps the last status."""

    def __init__(self, app: WSGIApp, environ: dict[str, t.Any], clients: int = 1) -> None:
        self.app = app
        self.environ = dict(environ)
        #: Addresses the measured requests come from, in turn.
        self.addresses = [f"192.0.{2 + n // 254}.{1 + n % 254}" for n in range(clients)]
        self.status = ""
        self.headers: list[tuple[str, str]] = []

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: t.Any = None
    ) -> None:
        self.status = status
        self.headers = headers

    def sign_in(self, path: str, label: str) -> None:
        """``POST path`` from the site's own page, then send the cookies it set with every
        later request: from here on this runner is a returning, signed-in visitor."""
        measured = self.environ
        self.environ = make_environ(path) | {
            "REQUEST_METHOD": "POST",
            "CONTENT_LENGTH": "0",
            "HTTP_ORIGIN": "https://localhost",
            "HTTP_SEC_FETCH_SITE": "same-origin",
        }
        self.request()
        self.check(f"{label} POST {path}")
        jar: SimpleCookie = SimpleCookie()
        for name, value in self.headers:
            if name.lower() == "set-cookie":
                jar.load(value)
        if not jar:
            raise SystemExit(f"overhead.py: {label} POST {path} set no cookie")
        measured["HTTP_COOKIE"] = "; ".join(f"{k}={m.value}" for k, m in jar.items())
        self.environ = measured

    def request(self) -> bytes:
        """One request; the response body, consumed and closed as a server would."""
        body = self.app(self.environ.copy(), self.start_response)
        try:
            return b"".join(body)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()

    def batch(self, size: int) -> float:
        """Mean microseconds per request over ``size`` requests."""
        app, start_response = self.app, self.start_response
        environs = [self.environ | {"REMOTE_ADDR": a} for a in self.addresses]
        count = len(environs)
        gc.collect()
        start = time.perf_counter_ns()
        for number in range(size):
            body = app(environs[number % count].copy(), start_response)
            for _chunk in body:
                pass
            close = getattr(body, "close", None)
            if close is not None:
                close()
        elapsed = time.perf_counter_ns() - start
        return elapsed / size / 1000

    def check(self, label: str) -> None:
        """Stop the run unless the last response was a 200."""
        if not self.status.startswith("200"):
            raise SystemExit(
                f"overhead.py: {label} answered {self.status!r}, not 200; refusing to "
                "benchmark a redirect or an error"
            )


def peak_kib(runner: Runner, requests: int) -> float:
    """Median peak of memory allocated while serving one request, in KiB."""
    peaks = []
    tracemalloc.start()
    try:
        for _ in range(requests):
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            runner.request()
            peaks.append(tracemalloc.get_traced_memory()[1] - base)
    finally:
        tracemalloc.stop()
    return statistics.median(peaks) / 1024


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stack", help="bare, seed, bastion, or a path to an app module")
    parser.add_argument("bare", help="the baseline, usually bare")
    parser.add_argument("--path", default="/", help="path to request (default: /)")
    parser.add_argument(
        "--login",
        metavar="PATH",
        help="POST PATH first and send the cookies it sets (a returning visitor)",
    )
    parser.add_argument(
        "--clients",
        type=int,
        default=254,
        help="client addresses the measured requests come from, in turn (254)",
    )
    parser.add_argument("--batches", type=int, default=30, help="batches per app (30)")
    parser.add_argument("--batch-size", type=int, default=300, help="requests per batch (300)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests per app (200)")
    parser.add_argument(
        "--memory",
        action="store_true",
        help="also print the median tracemalloc peak per request of each app",
    )
    args = parser.parse_args(argv)
    if min(args.batches, args.batch_size, args.warmup, args.clients) < 1:
        parser.error("--batches, --batch-size, --warmup and --clients must be at least 1")
    if args.clients > 254 * 254:
        parser.error("--clients is at most 64516")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    environ = make_environ(args.path)
    stack = Runner(load_app(args.stack), environ, args.clients)
    bare = Runner(load_app(args.bare), environ, args.clients)

    for label, runner in ((args.stack, stack), (args.bare, bare)):
        if args.login:
            runner.sign_in(args.login, label)
        runner.request()
        runner.check(label)
        for _ in range(args.warmup - 1):
            runner.request()

    stack_times: list[float] = []
    bare_times: list[float] = []
    for number in range(args.batches):
        # ABBA order: neither app always runs first, right after a collection.
        pair = ((stack, stack_times), (bare, bare_times))
        for runner, times in pair if number % 2 == 0 else reversed(pair):
            times.append(runner.batch(args.batch_size))
        stack.check(args.stack)
        bare.check(args.bare)

    stack_us = statistics.median(stack_times)
    bare_us = statistics.median(bare_times)
    ratio = stack_us / bare_us
    print(f"overhead: {ratio:.2f} (stack/bare us per request: {stack_us:.1f}/{bare_us:.1f})")
    if args.memory:
        samples = max(args.warmup, 50)
        print(
            "memory: peak KiB per request "
            f"(stack/bare): {peak_kib(stack, samples):.1f}/{peak_kib(bare, samples):.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
