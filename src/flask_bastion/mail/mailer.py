"""The mail component: builds messages, sends them or hands them to a worker thread."""

from __future__ import annotations

import email.policy
import email.utils
import os
import queue
import secrets
import ssl
import threading
import time
import typing as t
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, current_app

from ..components import Stage
from ..config import BastionConfig
from ..config.parsers import MailServer, mail_server
from ..context import get_state
from ..exceptions import ConfigurationError, MailUnavailable
from ..logs import mask_urls
from ..refusal import refuse, report
from .smtp import (
    _SMTP,
    CONSOLE,
    REASON_AUTH,
    REASON_CONNECTION,
    REASON_OUTBOX,
    REASON_QUEUE_FULL,
    REASON_REJECTED,
    REASON_TLS,
    InvalidMessage,
    _close,
    _failure_kind,
    _tls_context,
)

#: Work for the mail worker (:func:`after_response`).
Job = t.Callable[[], None]


class Mailer:
    """Component: sends the application's email (no request hook).

    Built from ``BASTION_MAIL_*`` at ``init_app``: the server, its credentials, the
    ``From`` address, the TLS context and the outbox folder are settled once. Reach it
    with :func:`mailer_for`.
    """

    name = "mail"
    # No hook: its stage only places it in the list of components.
    stage = Stage.AUDIT

    def __init__(self, config: BastionConfig) -> None:
        self.config = config.mail
        self.development = config.development
        #: The SMTP server, or ``None`` for the console backend.
        self.server: MailServer | None = None
        self.sender = ""
        self.outbox = Path()
        self.base_url = self.config.base_url
        #: Messages sent, failed and dropped (queue full) since start, in this process.
        self.sent = self.failed = self.dropped = 0
        self._credentials: tuple[str, str] | None = None
        self._tls: ssl.SSLContext | None = None
        self._domain = "localhost"
        self._masked_url = CONSOLE
        self._warned_console = False
        self._queue: queue.Queue[EmailMessage | Job] = queue.Queue(self.config.queue_size)
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition()
        self._pending = 0

    # -- set-up -----------------------------------------------------------------------------

    def init_app(self, app: Flask) -> None:
        """Settle the server, credentials, sender, TLS context and outbox folder.

        :raises ConfigurationError: for credentials given twice or by halves, an SMTP
            server without a sender, or a CA file that cannot be read.
        """
        cfg = self.config
        if cfg.url not in (None, CONSOLE):
            self.server = mail_server(cfg.url)
            self._masked_url = mask_urls(cfg.url)
            self._credentials = self._settle_credentials(self.server)
            if self.server.tls:
                self._tls = _tls_context(cfg.ca_file)
        self.sender = self._settle_sender(app)
        header = email.policy.default.header_factory("From", self.sender)
        self._domain = header.addresses[0].domain
        self.outbox = Path(cfg.outbox or os.path.join(app.instance_path, "outbox"))

    def _settle_credentials(self, server: MailServer) -> tuple[str, str] | None:
        cfg = self.config
        password = cfg.password
        if isinstance(password, bytes):
            password = password.decode("utf-8")
        if cfg.username is None and password is None:
            if server.username is None or server.password is None:
                return None
            return server.username, server.password
        if server.username is not None:
            raise ConfigurationError(
                "BASTION_MAIL_USERNAME",
                "the SMTP credentials are given twice, in BASTION_MAIL_URL and in "
                "BASTION_MAIL_USERNAME / BASTION_MAIL_PASSWORD; keep one of them.",
            )
        if cfg.username is None or password is None:
            raise ConfigurationError(
                "BASTION_MAIL_USERNAME",
                "BASTION_MAIL_USERNAME and BASTION_MAIL_PASSWORD are set together or not at all.",
            )
        return cfg.username, password

    def _settle_sender(self, app: Flask) -> str:
        if self.config.sender is not None:
            return self.config.sender
        server_name = app.config.get("SERVER_NAME")
        host = urlsplit(f"//{server_name}").hostname if server_name else None
        if host:
            return f"no-reply@{host}"
        if self.server is None:
            return "no-reply@localhost"
        raise ConfigurationError(
            "BASTION_MAIL_SENDER",
            "mail goes to an SMTP server (BASTION_MAIL_URL) but has no From address: set "
            "BASTION_MAIL_SENDER, such as 'Vault <no-reply@example.org>', or SERVER_NAME, "
            "whose host gives 'no-reply@<host>'.",
        )

    # -- messages ---------------------------------------------------------------------------

    def message(self, to: str, subject: str, text: str, *, html: str | None = None) -> EmailMessage:
        """A message from :attr:`sender` to ``to``, with ``Date`` and ``Message-ID``;
        ``multipart/alternative`` when ``html`` is given.

        :raises InvalidMessage: when ``to`` is not one email address, or ``to`` or
            ``subject`` holds a line break or another control character.
        """
        for field, value in (("address", to), ("subject", subject)):
            if not isinstance(value, str) or not value.isprintable():
                raise InvalidMessage(
                    f"The {field} must be text without line breaks or other control "
                    "characters, which would add headers of their own (header injection)."
                )
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        addresses: tuple[t.Any, ...] = getattr(message["To"], "addresses", ())
        if len(addresses) != 1 or not addresses[0].domain or message["To"].defects:
            raise InvalidMessage("The address must be one email address, such as a@example.org.")
        message["Subject"] = subject
        message["Date"] = email.utils.format_datetime(datetime.now(UTC))
        # With a domain: make_msgid would otherwise look up this machine's name.
        message["Message-ID"] = email.utils.make_msgid(domain=self._domain)
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
        return message

    def deliver(self, message: EmailMessage) -> None:
        """Send ``message`` now, through the server or the console backend. Needs an
        application context.

        :raises MailUnavailable: when it could not be sent; not yet reported (the caller
            reports it: :func:`send_mail` raises it through the refusal path).
        """
        if self.server is None:
            self._to_console(message)
            self._count(sent=1)
            return
        server = self.server
        # The step the exchange is at names the kind of a failure.
        phase = REASON_CONNECTION
        smtp = _SMTP(
            time.monotonic() + self.config.timeout,
            self._domain,
            self._tls if server.tls == "smtps" else None,
        )
        try:
            smtp.connect(server.host, server.port)
            if server.tls == "starttls":
                phase = REASON_TLS
                smtp.starttls(context=self._tls)
            if self._credentials is not None:
                phase = REASON_AUTH
                smtp.login(*self._credentials)
            phase = REASON_REJECTED
            smtp.send_message(message)
            phase = ""  # sent
        except OSError as exc:  # smtplib's errors, socket errors and timeouts, TLS errors
            kind = _failure_kind(exc, phase)
            # The server's answer may quote addresses, and the URL holds the password:
            # the log gets the masked URL, the kind and the exception's class only.
            current_app.logger.warning(
                "Sending mail through %s failed: %s (%s)",
                self._masked_url,
                kind,
                type(exc).__name__,
            )
            self._count(failed=1)
            raise MailUnavailable(kind, subject=str(message["Subject"])) from None
        finally:
            _close(smtp, sent=not phase)
        self._count(sent=1)

    def _to_console(self, message: EmailMessage) -> None:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        if not self.development and not self._warned_console:
            self._warned_console = True
            app.logger.warning(
                "BASTION_MAIL_URL is not an SMTP server: messages are logged and written to "
                "%s, and never reach their recipients.",
                self.outbox,
            )
        body = message.get_body(("plain",))
        text = body.get_content() if isinstance(body, EmailMessage) else ""
        app.logger.info("Mail to %s: %s\n%s", message["To"], message["Subject"], text.rstrip("\n"))
        try:
            _write_eml(self.outbox, message)
        except OSError as exc:
            app.logger.warning("Writing mail to %s failed (%s)", self.outbox, type(exc).__name__)
            self._count(failed=1)
            raise MailUnavailable(REASON_OUTBOX, subject=str(message["Subject"])) from None

    # -- background -------------------------------------------------------------------------

    def enqueue(self, app: Flask, message: EmailMessage | Job) -> None:
        """Hand ``message`` to this application's worker thread, started on first use.
        When the queue is full, the message is dropped and reported (error log line,
        ``mail_failed`` with reason :data:`REASON_QUEUE_FULL`). Needs an application
        context."""
        self._start(app)
        with self._idle:
            self._pending += 1
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            self._done()
            self._count(dropped=1)
            subject = "" if callable(message) else str(message["Subject"])
            report(MailUnavailable(REASON_QUEUE_FULL, subject=subject))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the worker has handled every queued message, at most ``timeout``
        seconds; return whether it did."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _start(self, app: Flask) -> None:
        with self._lock:
            # is_alive: a worker process forked after a thread started has no thread.
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(
                    target=self._work, args=(app,), name="bastion-mail", daemon=True
                )
                self._worker.start()

    def _work(self, app: Flask) -> None:
        while True:
            message = self._queue.get()
            try:
                with app.app_context():
                    try:
                        if callable(message):
                            message()
                        else:
                            self.deliver(message)
                    except MailUnavailable as exc:
                        report(exc)
            except Exception:  # a failing job or signal receiver must not end the worker
                app.logger.exception("The mail worker failed on a message")
            finally:
                self._done()

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def _count(self, *, sent: int = 0, failed: int = 0, dropped: int = 0) -> None:
        with self._lock:
            self.sent += sent
            self.failed += failed
            self.dropped += dropped


def _write_eml(folder: Path, message: EmailMessage) -> Path:
    """Write ``message`` to a new file of ``folder`` (made 0700): named by UTC time to
    the microsecond and a random suffix, so names sort by time and never collide."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"{stamp}-{secrets.token_hex(4)}.eml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(message.as_bytes())
    return path


def mailer_for(app: Flask) -> Mailer:
    """The :class:`Mailer` of ``app``."""
    return t.cast(Mailer, get_state(app).components[Mailer.name])


def send_mail(
    to: str, subject: str, text: str, *, html: str | None = None, background: bool = False
) -> None:
    """Send one message from ``BASTION_MAIL_SENDER`` to ``to``, in the current application.

    :param to: one address, bare or with a name (``"Ada <ada@example.org>"``).
    :param text: the plain-text body.
    :param html: an HTML body; the message is then ``multipart/alternative``.
    :param background: return at once and let the application's worker thread send it,
        for pages whose answer must not depend on the mail (forgot password,
        registration: their timing must not tell whether an account exists). Failures
        are then logged and reported with ``mail_failed``, never raised.
    :raises InvalidMessage: when ``to`` is not one address, or ``to`` or ``subject``
        holds a line break or a control character; raised before anything is sent.
    :raises MailUnavailable: (``background=False``) when the message could not be sent
        within ``BASTION_MAIL_TIMEOUT``; unhandled in a view, a 503 page.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    mailer = mailer_for(app)
    message = mailer.message(to, subject, text, html=html)
    if background:
        mailer.enqueue(app, message)
        return
    try:
        mailer.deliver(message)
    except MailUnavailable as exc:
        refuse(exc)


def after_response(job: Job) -> None:
    """Run ``job()`` on the application's mail worker, in an application context, after
    the current request has been answered: the database work and the mail of a page
    whose answer must not depend on them (does this address have an account?), so the
    response time does not tell either. ``job`` runs without a request: whatever it
    needs from the request (links: :func:`external_url`) is computed before. Its
    failures are logged; :func:`flush_mail` waits for it like for a message."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    mailer_for(app).enqueue(app, job)


def flush_mail(app: Flask, timeout: float = 10.0) -> bool:
    """Wait until ``app``'s worker has handled every message queued with
    ``send_mail(..., background=True)``, at most ``timeout`` seconds; return whether it
    did. For tests and for a clean shutdown."""
    return mailer_for(app).flush(timeout)
