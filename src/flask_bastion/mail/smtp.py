"""SMTP within one deadline: the failure kinds, the connection and its TLS context."""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
import typing as t

from ..exceptions import BastionError, ConfigurationError

#: The kinds of failure: the ``reason`` of :class:`MailUnavailable` and of the
#: ``mail_failed`` signal.
REASON_CONNECTION = "connection failed"
REASON_TIMEOUT = "timed out"
REASON_TLS = "TLS failed"
REASON_AUTH = "authentication failed"
REASON_REJECTED = "refused by the server"
REASON_QUEUE_FULL = "queue full"
REASON_OUTBOX = "outbox not writable"

#: The ``BASTION_MAIL_URL`` value (and the meaning of no value) that logs messages and
#: writes them to the outbox folder.
CONSOLE = "console"


class MailError(BastionError):
    """Base of the mail errors other than :class:`MailUnavailable`."""


class InvalidMessage(MailError, ValueError):
    """The message cannot be sent as asked: a header holds a line break or another
    control character (header injection), or the address is not one email address.
    Raised by :func:`send_mail` before anything is sent or queued."""


def _failure_kind(exc: OSError, phase: str) -> str:
    """The kind of ``exc``, raised while the exchange was at ``phase`` (the kind of
    failure that step stands for: connecting, TLS, authenticating, sending)."""
    # smtplib reports a read that failed as SMTPServerDisconnected, raised while
    # handling the socket's error: that error is the kind.
    cause = exc.__context__ if isinstance(exc, smtplib.SMTPServerDisconnected) else exc
    if isinstance(cause, TimeoutError):  # socket timeouts, the TLS handshake's included
        return REASON_TIMEOUT
    if isinstance(cause, ssl.SSLError):  # certificate or name not verified, bad handshake
        return REASON_TLS
    refused = smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused
    if phase == REASON_REJECTED and not isinstance(exc, refused):
        return REASON_CONNECTION  # the connection dropped: the server refused nothing
    return phase


class _SMTP(smtplib.SMTP):
    """SMTP with one deadline for the whole exchange, and implicit TLS when given a
    context (as :class:`smtplib.SMTP_SSL`).

    Each read and write waits only for what is left of the deadline, so a server that
    answers every command just before a per-operation timeout cannot hold a worker for
    many times ``BASTION_MAIL_TIMEOUT``.
    """

    def __init__(
        self,
        deadline: float,
        local_hostname: str,
        implicit_tls: ssl.SSLContext | None = None,
    ) -> None:
        self.deadline = deadline
        self.implicit_tls = implicit_tls
        # No host: nothing connects yet, and each wait takes what is left of the deadline.
        super().__init__(local_hostname=local_hostname)

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the mail deadline passed")
        return left

    def connect(
        self, host: str = "localhost", port: int = 0, source_address: t.Any = None
    ) -> t.Any:
        # STARTTLS checks the certificate against _host, which only __init__ sets.
        self._host = host
        return super().connect(host, port, source_address)

    def _get_socket(self, host: str, port: int, timeout: float) -> t.Any:
        # What smtplib.SMTP_SSL overrides too; typeshed leaves the private method out.
        sock = super()._get_socket(host, port, self._left())  # type: ignore[misc]
        if self.implicit_tls is not None:
            sock = self.implicit_tls.wrap_socket(sock, server_hostname=host)
        return sock

    def send(self, s: t.Any) -> None:
        if self.sock is not None:
            self.sock.settimeout(self._left())
        super().send(s)

    def getreply(self) -> tuple[int, bytes]:
        # smtplib reads a reply only on a connected socket.
        t.cast(socket.socket, self.sock).settimeout(self._left())
        return super().getreply()


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """A client context that verifies the certificate and the server's name."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError):
        raise ConfigurationError(
            "BASTION_MAIL_CA_FILE", "cannot be read as a file of PEM certificates."
        ) from None


def _close(smtp: smtplib.SMTP, *, sent: bool) -> None:
    """End the exchange: ``QUIT`` after a message went through (its failure changes
    nothing: the server took the message), a plain close otherwise."""
    try:
        if sent and smtp.sock is not None:
            smtp.quit()
    except OSError:
        pass
    finally:
        smtp.close()
