"""Outgoing email: messages built safely, sent over verified TLS within a deadline, and
links that point only at the site's own host.

Defends against:

* **Header injection.** A subject or an address holding a line break would add headers
  (``Bcc:``) of the attacker's choosing. Messages are :class:`email.message.EmailMessage`
  objects, which refuse line breaks in headers; :func:`send_mail` turns that, and any
  other control character or malformed address, into :class:`InvalidMessage` before
  anything is sent.
* **Poisoned links.** A password-reset link built from the request's ``Host`` header
  points wherever the attacker who asked for the reset said, and hands them the token
  (host header poisoning). :func:`external_url` builds links from
  ``BASTION_MAIL_BASE_URL``, else ``SERVER_NAME``, else the request's host only when
  Flask checked it against ``TRUSTED_HOSTS``; otherwise it raises
  :class:`~flask_bastion.exceptions.ConfigurationError`.
* **Reading and rewriting mail in transit.** TLS (``smtps://`` or ``?starttls=1``) is
  verified against the system's certificate authorities (or ``BASTION_MAIL_CA_FILE``),
  server name included; ``bastion.W082`` reports plain SMTP to another machine.
* **An outage that hangs or breaks pages.** Each message has one deadline
  (``BASTION_MAIL_TIMEOUT``) from connecting to the server's last answer; every failure
  becomes :class:`~flask_bastion.exceptions.MailUnavailable`, a clean 503 page, with the
  ``mail_failed`` signal and a log line naming the kind of failure only, never the
  message, the credentials or the server's password.
* **Account enumeration by timing.** ``send_mail(..., background=True)`` hands the
  message to a per-application worker thread and returns at once, so a "forgot
  password" page answers in the same time whether or not a message was sent. The queue
  is bounded; when it is full the message is dropped and reported.

Without ``BASTION_MAIL_URL`` (or with ``'console'``), messages are logged and written as
``.eml`` files to the outbox folder, for development. See docs/mail.md.
"""

from __future__ import annotations

from ..exceptions import MailUnavailable
from .links import external_url
from .mailer import Mailer, after_response, flush_mail, mailer_for, send_mail
from .smtp import (
    CONSOLE,
    REASON_AUTH,
    REASON_CONNECTION,
    REASON_OUTBOX,
    REASON_QUEUE_FULL,
    REASON_REJECTED,
    REASON_TIMEOUT,
    REASON_TLS,
    InvalidMessage,
    MailError,
)

__all__ = [
    "CONSOLE",
    "REASON_AUTH",
    "REASON_CONNECTION",
    "REASON_OUTBOX",
    "REASON_QUEUE_FULL",
    "REASON_REJECTED",
    "REASON_TIMEOUT",
    "REASON_TLS",
    "InvalidMessage",
    "MailError",
    "MailUnavailable",
    "Mailer",
    "after_response",
    "external_url",
    "flush_mail",
    "mailer_for",
    "send_mail",
]
