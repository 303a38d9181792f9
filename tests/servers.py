"""Real servers the tests start on loopback: gunicorn on a free port of 127.0.0.1."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
import typing as t
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

#: Seconds a server may take to start or stop, and any single wait on it; generous for a
#: loaded machine.
TIMEOUT = 30.0
ROOT = Path(__file__).parent.parent


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Output:
    """A server's log stream, read by a thread so the pipe never fills."""

    def __init__(self, stream: t.IO[bytes]) -> None:
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream: t.IO[bytes]) -> None:
        for line in stream:
            with self.changed:
                self.lines.append(line.decode("utf-8", "replace"))
                self.changed.notify_all()

    def wait_for(self, text: str) -> str:
        """The first line holding ``text``, waiting for it up to :data:`TIMEOUT`."""
        with self.changed:
            self.changed.wait_for(lambda: any(text in line for line in self.lines), TIMEOUT)
            return next((line for line in self.lines if text in line), "")


@dataclass
class Gunicorn:
    """A running gunicorn: its port and its log (gunicorn logs on standard error)."""

    port: int
    output: Output


@contextmanager
def gunicorn(
    target: str,
    *,
    workers: int = 1,
    chdir: Path | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[Gunicorn]:
    """Serve ``target`` (``module:app``) with gunicorn's sync workers on a free loopback
    port until the block ends; the block starts once the port accepts connections.

    Skips the test without gunicorn (the ``bench`` extra), or fails it under
    ``BASTION_REQUIRE_SERVICES=1``.
    """
    if importlib.util.find_spec("gunicorn") is None:
        if os.environ.get("BASTION_REQUIRE_SERVICES") == "1":
            pytest.fail("gunicorn is not installed", pytrace=False)
        pytest.skip("gunicorn is not installed")
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", str(workers), "--graceful-timeout", "5"]
    if chdir is not None:
        command += ["--chdir", str(chdir)]
    process = subprocess.Popen(
        [*command, target],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    output = Output(process.stderr)
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("gunicorn did not listen in time", pytrace=False)
            try:  # the poll interval, cut short if gunicorn exits
                process.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
            pytest.fail(f"gunicorn exited: {''.join(output.lines)}", pytrace=False)
        yield Gunicorn(port, output)
    finally:
        process.terminate()
        try:
            process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=TIMEOUT)
        process.stderr.close()
