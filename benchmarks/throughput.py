"""Throughput of bare Flask, the seed stack and Flask-Bastion under gunicorn and wrk.

For each application this starts gunicorn (sync workers) on a free port of 127.0.0.1,
checks that ``GET <path>`` answers 200 over the forwarded HTTPS scheme, runs ``wrk``
against it, first for a short unmeasured warm-up, then for a fixed time, and stops
gunicorn. It does this in several rounds, the order of the applications rotating from
round to round so that none always runs first, and prints the median requests per second
of each application, the range over the rounds and the ratio of the medians to bare
Flask::

    python benchmarks/throughput.py --duration 10 --rounds 3

Requests carry ``X-Forwarded-Proto: https``. Gunicorn trusts that header from 127.0.0.1
by default (``forwarded_allow_ips``) and sets ``wsgi.url_scheme`` to ``https`` from it,
as it would behind a TLS-terminating proxy on the same host, so the secured stacks serve
the page instead of redirecting. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from http.cookies import SimpleCookie
from pathlib import Path

APPS_DIR = Path(__file__).resolve().parent / "apps"
WORK_DIR = APPS_DIR.parent / ".work"
HOST = "127.0.0.1"
HEADERS = {
    "X-Forwarded-Proto": "https",
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
}
STARTUP_TIMEOUT = 20.0

_REQUESTS_PER_SEC = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: (.+)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def fetch_status(port: int, path: str, headers: dict[str, str] = HEADERS) -> int:
    """The status of one ``GET path`` with the benchmark's headers."""
    connection = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def sign_in(port: int, path: str) -> str:
    """``POST path`` as the site's own page would; the ``Cookie`` header to send after."""
    connection = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        headers = {**HEADERS, "Origin": "https://localhost", "Sec-Fetch-Site": "same-origin"}
        connection.request("POST", path, headers=headers)
        response = connection.getresponse()
        response.read()
        jar: SimpleCookie = SimpleCookie()
        for value in response.headers.get_all("Set-Cookie") or []:
            jar.load(value)
    finally:
        connection.close()
    if response.status != 200 or not jar:
        raise RuntimeError(f"POST {path} answered {response.status} and set {len(jar)} cookies")
    return "; ".join(f"{name}={morsel.value}" for name, morsel in jar.items())


def start_gunicorn(name: str, port: int, workers: int, session_dir: str) -> subprocess.Popen[bytes]:
    """Gunicorn serving ``benchmarks/apps/<name>_app.py`` on ``127.0.0.1:port``; the seed
    app's workers share ``session_dir`` as their session store."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--bind",
        f"{HOST}:{port}",
        "--chdir",
        str(APPS_DIR),
        "--log-level",
        "warning",
        f"{name}_app:app",
    ]
    environ = {**os.environ, "SEED_SESSION_DIR": session_dir}
    return subprocess.Popen(command, env=environ, start_new_session=True)


def wait_until_ready(server: subprocess.Popen[bytes], port: int, path: str) -> int:
    """Poll until the server answers; return the status of its first answer."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {server.returncode}")
        try:
            return fetch_status(port, path)
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer within {STARTUP_TIMEOUT:.0f} s")


def stop(server: subprocess.Popen[bytes]) -> None:
    """Stop gunicorn gracefully (SIGTERM to the master), killing its group if it hangs."""
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def run_wrk(
    args: argparse.Namespace, port: int, duration: int, headers: dict[str, str] = HEADERS
) -> float:
    """Requests per second that wrk measured against ``port`` over ``duration`` seconds."""
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{duration}s",
        "--latency",
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(f"http://{HOST}:{port}{args.path}")
    result = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=duration + 60
    )
    output = result.stdout
    if args.verbose:
        print(output, file=sys.stderr)
    non_2xx = _NON_2XX.search(output)
    if non_2xx:
        raise RuntimeError(f"wrk saw {non_2xx.group(1)} non-2xx/3xx responses")
    errors = _SOCKET_ERRORS.search(output)
    if errors:
        print(f"  wrk socket errors: {errors.group(1)}", file=sys.stderr)
    found = _REQUESTS_PER_SEC.search(output)
    if found is None:
        raise RuntimeError(f"no Requests/sec in wrk output:\n{output}")
    return float(found.group(1))


def measure(name: str, args: argparse.Namespace) -> float:
    """Start gunicorn for ``name``, check it answers 200, warm it up, run wrk, stop it."""
    port = free_port()
    WORK_DIR.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{name}-sessions-", dir=WORK_DIR) as sessions:
        server = start_gunicorn(name, port, args.workers, sessions)
        try:
            status = wait_until_ready(server, port, args.path)
            headers = HEADERS
            if args.login:  # a returning visitor: every request carries the session
                headers = {**HEADERS, "Cookie": sign_in(port, args.login)}
                status = fetch_status(port, args.path, headers)
            if status != 200:
                raise RuntimeError(f"{name}: GET {args.path} answered {status}, not 200")
            if args.warmup:
                run_wrk(args, port, args.warmup, headers)
            return run_wrk(args, port, args.duration, headers)
        finally:
            stop(server)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "apps", nargs="*", default=["bare", "seed", "bastion"], help="bare seed bastion"
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per app (10)")
    parser.add_argument(
        "--warmup", type=int, default=2, help="unmeasured wrk seconds before each run (2)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="runs per app (3)")
    parser.add_argument("--path", default="/", help="path to request (default: /)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument(
        "--login",
        metavar="PATH",
        help="POST PATH first and send its cookies with every request (a returning visitor)",
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print wrk's output")
    args = parser.parse_args(argv)
    for name in args.apps:
        if not (APPS_DIR / f"{name}_app.py").is_file():
            parser.error(f"no application benchmarks/apps/{name}_app.py")
    if args.duration < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--duration and --rounds must be at least 1, --warmup at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("throughput.py: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    rates: dict[str, list[float]] = {name: [] for name in args.apps}
    for number in range(args.rounds):
        shift = number % len(args.apps)
        for name in args.apps[shift:] + args.apps[:shift]:
            rates[name].append(measure(name, args))
    medians = {name: statistics.median(values) for name, values in rates.items()}
    baseline = medians.get("bare")
    visitor = f" signed in by POST {args.login}" if args.login else ""
    print(
        f"GET {args.path}{visitor}, gunicorn {args.workers} sync workers, "
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s "
        f"after {args.warmup}s warm-up, "
        f"median of {args.rounds} round(s)"
    )
    print(f"{'app':<10}{'req/s':>10}{'min-max':>18}{'vs bare':>10}")
    for name, median in medians.items():
        spread = f"{min(rates[name]):.0f}-{max(rates[name]):.0f}"
        ratio = f"{median / baseline:.2f}" if baseline else "-"
        print(f"{name:<10}{median:>10.1f}{spread:>18}{ratio:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
