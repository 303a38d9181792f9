"""A small client of the ClamAV daemon's ``INSTREAM`` command.

clamd's protocol (``man clamd``) is a command on a TCP or Unix socket. ``zINSTREAM\\0``
is followed by the file in chunks, each a 4-byte big-endian length and the bytes, then a
zero length; clamd answers one NUL-terminated line: ``stream: OK``, ``stream: <name>
FOUND`` or ``<message> ERROR`` (``INSTREAM size limit exceeded`` past clamd's
``StreamMaxLength``). Streaming needs no shared folder between the application and the
daemon, and the file never has to be readable by clamd's user.

Every failure to get a verdict (no daemon, a timeout, an ``ERROR`` line, a reply that is
not one of these) is :class:`ScanError`; the caller decides what it means
(``BASTION_UPLOADS_SCAN_FAILURE``). ``timeout`` bounds the whole exchange, not each
socket operation: a daemon that hangs, or that trickles its answer a byte at a time,
cannot hold the request longer than that. A reply cut off before its NUL (clamd closed
the connection mid-answer) is no verdict either, even when what arrived reads ``OK``.
"""

from __future__ import annotations

import socket
import struct
import time
import typing as t

#: Bytes per INSTREAM chunk (clamd's default StreamMaxLength is 25 MiB; each chunk must
#: also fit its buffers).
CHUNK = 64 * 1024
#: Longest reply read: a verdict line is short; anything longer is not one.
MAX_REPLY = 4096


class ScanError(Exception):
    """No verdict: clamd could not be reached, timed out or reported an error. The
    message names the kind of failure only."""


class Clamd:
    """A clamd daemon at ``tcp://host:port`` or ``unix:///path``.

    :param url: where clamd listens.
    :param timeout: seconds the whole exchange (connect, send, verdict) may take.
    :param clock: a monotonic clock, in seconds (a seam for tests).
    """

    def __init__(
        self, url: str, timeout: float = 30, *, clock: t.Callable[[], float] = time.monotonic
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._clock = clock
        if url.startswith("unix://"):
            self._family = socket.AF_UNIX
            self._address: t.Any = url[len("unix://") :]
        elif url.startswith("tcp://"):
            host, _, port = url[len("tcp://") :].rpartition(":")
            self._family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
            self._address = (host.strip("[]"), int(port))
        else:
            raise ValueError("expected tcp://host:port or unix:///path")

    def _connect(self) -> _Deadline:
        deadline = _Deadline(
            socket.socket(self._family, socket.SOCK_STREAM), self.timeout, self._clock
        )
        try:
            deadline.before().connect(self._address)
        except OSError:
            deadline.sock.close()
            raise
        return deadline

    def ping(self) -> bool:
        """Whether clamd answers ``PING``."""
        try:
            with self._connect() as conn:
                conn.before().sendall(b"zPING\0")
                return _reply(conn) == "PONG"
        except (OSError, ScanError):
            return False

    def scan(self, src: t.BinaryIO) -> str | None:
        """Scan what ``src`` yields, from its current position.

        :returns: ``None`` when clamd found nothing, else the name of what it found.
        :raises ScanError: when there is no verdict.
        """
        try:
            with self._connect() as conn:
                conn.before().sendall(b"zINSTREAM\0")
                while chunk := src.read(CHUNK):
                    conn.before().sendall(struct.pack(">I", len(chunk)) + chunk)
                conn.before().sendall(struct.pack(">I", 0))
                reply = _reply(conn)
        except TimeoutError:
            raise ScanError("clamd did not answer in time") from None
        except OSError as exc:
            raise ScanError(f"clamd could not be reached ({type(exc).__name__})") from None
        if reply == "stream: OK":
            return None
        if reply.startswith("stream: ") and reply.endswith(" FOUND"):
            return reply[len("stream: ") : -len(" FOUND")]
        if reply.endswith("ERROR"):
            raise ScanError("clamd reported an error")
        raise ScanError("clamd sent an unexpected reply")


class _Deadline:
    """A socket whose operations share one deadline, ``timeout`` seconds from the start."""

    def __init__(self, sock: socket.socket, timeout: float, clock: t.Callable[[], float]) -> None:
        self.sock = sock
        self._clock = clock
        self._end = clock() + timeout

    def before(self) -> socket.socket:
        """The socket, with what is left of the deadline as its timeout.

        :raises TimeoutError: when the deadline has passed.
        """
        left = self._end - self._clock()
        if left <= 0:
            raise TimeoutError
        self.sock.settimeout(left)
        return self.sock

    def __enter__(self) -> _Deadline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def _reply(conn: _Deadline) -> str:
    """One NUL-terminated reply line.

    :raises ScanError: when the connection closes before the NUL, or the line is too long.
    """
    data = b""
    while not data.endswith(b"\0"):
        more = conn.before().recv(MAX_REPLY)
        if not more:
            raise ScanError("clamd closed the connection mid-answer")
        data += more
        if len(data) > MAX_REPLY:
            raise ScanError("clamd sent an unexpected reply")
    return data.rstrip(b"\0").decode("utf-8", "replace").strip()
