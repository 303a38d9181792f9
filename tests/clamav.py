"""A private ClamAV daemon for the tests: its own configuration, socket, TCP port,
temporary folder and a signature database built here (never a signature download).

The database holds two body signatures (``.ndb``): the EICAR test string, which every
virus scanner detects by convention, and :data:`MARKER`, a string of the project's own
that stands for malware ClamAV's real signatures would know. ``clamd`` is Debian's
``clamav-daemon`` (``make test`` installs it when missing); without it the tests that
need it skip, and fail under ``BASTION_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import typing as t
from pathlib import Path

#: The EICAR anti-virus test file (68 bytes): harmless, detected by every scanner.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
#: A string of our own that the private database calls malware.
MARKER = b"BASTION-TEST-MALWARE-7f3c9a1e-DO-NOT-SHIP"
#: The names the private database gives them.
EICAR_NAME = "Bastion.Test.EICAR"
MARKER_NAME = "Bastion.Test.Marker"
CLAMD = shutil.which("clamd") or "/usr/sbin/clamd"
#: Seconds clamd may take to load its (tiny) database and answer PING.
START_TIMEOUT = 60.0


def clamd_available() -> bool:
    """Whether Debian's clamd is installed."""
    return os.access(CLAMD, os.X_OK)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateClamd:
    """One clamd process on a database of :data:`EICAR` and :data:`MARKER`, listening
    on a Unix socket and on a TCP port of 127.0.0.1, all under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket_path = root / "clamd.sock"
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        database = root / "db"
        database.mkdir()
        (root / "tmp").mkdir()
        (database / "bastion-test.ndb").write_text(
            f"{EICAR_NAME}:0:*:{EICAR.hex()}\n{MARKER_NAME}:0:*:{MARKER.hex()}\n"
        )
        self.config = root / "clamd.conf"
        self.config.write_text(
            "\n".join(
                [
                    "Foreground yes",
                    f"LocalSocket {self.socket_path}",
                    "TCPAddr 127.0.0.1",
                    f"TCPSocket {self.port}",
                    f"DatabaseDirectory {database}",
                    f"TemporaryDirectory {root / 'tmp'}",
                    f"LogFile {root / 'clamd.log'}",
                    f"PidFile {root / 'clamd.pid'}",
                    "StreamMaxLength 64M",
                    "ScanArchive yes",
                    "OfficialDatabaseOnly no",
                    "",
                ]
            )
        )

    @property
    def unix_url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def tcp_url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start clamd and wait until it answers ``PING``.

        :raises RuntimeError: when it exits or does not answer within
            :data:`START_TIMEOUT` seconds (waiting on a real process, not a test sleep).
        """
        self.process = subprocess.Popen(
            [CLAMD, "--config-file", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.root / "clamd.log").read_text(errors="replace")
                raise RuntimeError(f"clamd exited ({self.process.returncode}):\n{log}")
            if self.ping():
                return
            self.process_wait(0.1)
        self.stop()
        raise RuntimeError("clamd did not answer PING in time")

    def process_wait(self, seconds: float) -> None:
        """Wait for the process for up to ``seconds`` (a bounded wait on clamd itself)."""
        assert self.process is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(seconds)

    def ping(self) -> bool:
        """Whether clamd answers ``PING`` on its Unix socket."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(2)
                s.connect(str(self.socket_path))
                s.sendall(b"zPING\0")
                return s.recv(16).startswith(b"PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop clamd (SIGTERM, then SIGKILL) and wait for it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def start_private_clamd() -> t.Iterator[PrivateClamd]:
    """Generator for a session fixture: a started :class:`PrivateClamd`, stopped and its
    folder removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="bastion-clamd-"))
    daemon = PrivateClamd(root)
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(root, ignore_errors=True)
