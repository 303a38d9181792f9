"""Mail checks (``08x``): messages that never leave the server, and messages, links and
SMTP credentials that cross the network in clear.

Under the console backend, password-reset and verification messages are written to
the outbox folder and the log instead of reaching their recipients: users are locked
out, and whoever reads the logs holds their links. Plain SMTP to another machine lets
anyone on the path read those links and the SMTP password.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask

from ..config import PREFIX, BastionConfig
from ..config.parsers import mail_server
from ..proxy import host_is_loopback
from .registry import WARNING, CheckMessage, message, register

W081 = message(
    WARNING,
    "Mail is configured, or accounts send it, but it goes to the console backend under "
    "the production profile.",
    "Messages are logged and written to the outbox folder instead of being sent. Set "
    "BASTION_MAIL_URL to your SMTP server, such as 'smtps://mail.example.org'.",
    "bastion.W081",
    settings=("BASTION_MAIL_URL", "BASTION_PROFILE"),
)
W082 = message(
    WARNING,
    "BASTION_MAIL_URL sends mail to another machine without TLS.",
    "Links in messages (password resets) and the SMTP password cross the network in "
    "clear. Use smtps:// or add ?starttls=1.",
    "bastion.W082",
    settings=("BASTION_MAIL_URL",),
)

_MAIL_KEYS = f"{PREFIX}MAIL_"


@register(deploy=True)
def check_console_mail(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    # An application that sets no BASTION_MAIL_* key and has no accounts sends no mail
    # of Flask-Bastion's making; warning it would teach operators to silence the check.
    configured = "bastion.accounts" in app.extensions or any(
        key.startswith(_MAIL_KEYS) and source != "default" for key, source in config.sources.items()
    )
    console = config.mail.url in (None, "console")
    return [W081] if configured and console and not config.development else []


@register(deploy=True)
def check_mail_in_clear(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    if config.mail.url in (None, "console"):
        return []
    server = mail_server(config.mail.url)
    return [W082] if not server.tls and not host_is_loopback(server.host) else []
