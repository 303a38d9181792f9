"""Per-request overhead of a Flask stack against bare Flask, counted in CPU instructions.

``overhead.py`` times requests, and its ratio drifts by several hundredths when the
machine is doing other work. This script counts the instructions the CPU executes for a
request instead, under valgrind's callgrind, which gives the same count for the same
program and inputs however busy the machine is. For each application it runs the same
request path (``overhead.py``'s :class:`Runner`: the same browser environ, requests
spread over ``--clients`` addresses) in two valgrind runs that differ only in the number
of measured requests; the difference of the two totals, divided by the difference of the
counts, is the cost of one request, with start-up and warm-up cancelled out::

    python benchmarks/instructions.py bastion bare
    instructions: 1.12 (stack/bare per request: 1234567/1102345)

It needs valgrind (Debian's ``valgrind``). Instructions are not time: a cache miss or a
system call costs more time than its instruction count says, so the ratio here and the
timed one agree closely but not exactly; read both.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from overhead import Runner, load_app, make_environ  # noqa: E402

#: valgrind's summary line: ``==123== Collected : 456789``.
COLLECTED = re.compile(r"^==\d+== Collected : (\d+)$", re.MULTILINE)


def child(name: str, path: str, clients: int, warmup: int, requests: int) -> None:
    """Inside valgrind: warm up, then make ``requests`` requests (the counted ones)."""
    runner = Runner(load_app(name), make_environ(path), clients)
    runner.request()
    runner.check(name)
    runner.batch(warmup)
    runner.batch(requests)


def count(name: str, args: argparse.Namespace, requests: int) -> int:
    """The instructions of one valgrind run of :func:`child`."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--child",
        name,
        "--path",
        args.path,
        "--clients",
        str(args.clients),
        "--warmup",
        str(args.warmup),
        "--requests",
        str(requests),
    ]
    # A random hash seed moves the count of the same app by about 4 % between runs; a
    # fixed one makes two runs agree to a few instructions in a million.
    env = {**os.environ, "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0")}
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    found = COLLECTED.search(result.stderr)
    if result.returncode != 0 or found is None:
        raise SystemExit(f"instructions.py: the run of {name} failed:\n{result.stderr[-2000:]}")
    return int(found.group(1))


def per_request(name: str, args: argparse.Namespace) -> float:
    low, high = args.requests, 2 * args.requests
    return (count(name, args, high) - count(name, args, low)) / (high - low)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="bare, seed, bastion, or a path to an app module")
    parser.add_argument("bare", nargs="?", default="bare", help="the baseline (bare)")
    parser.add_argument("--path", default="/", help="path to request (default: /)")
    parser.add_argument("--clients", type=int, default=254, help="client addresses (254)")
    parser.add_argument("--warmup", type=int, default=200, help="uncounted requests (200)")
    parser.add_argument(
        "--requests", type=int, default=500, help="counted requests; twice that in run two"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        child(args.stack, args.path, args.clients, args.warmup, args.requests)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("instructions.py: valgrind is not installed (apt-get install valgrind)")
    stack, bare = per_request(args.stack, args), per_request(args.bare, args)
    print(f"instructions: {stack / bare:.2f} (stack/bare per request: {stack:.0f}/{bare:.0f})")


if __name__ == "__main__":
    main()
