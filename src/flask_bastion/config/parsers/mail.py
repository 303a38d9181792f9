"""Parsers of the mail server URL, addresses and the site's base URL."""

from __future__ import annotations

import email.policy
import typing as t
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from .basic import Invalid, boolean

#: The longest wait :func:`seconds` accepts: one hour.
MAX_WAIT_SECONDS = 3600


@dataclass(frozen=True)
class MailServer:
    """An SMTP server, from a ``BASTION_MAIL_URL`` such as ``smtps://user:pw@host:465``.

    :param tls: ``"smtps"`` (TLS from the first byte), ``"starttls"`` (upgraded after
        the greeting) or ``""`` (none).
    """

    host: str
    port: int
    tls: t.Literal["smtps", "starttls", ""]
    username: str | None = None
    password: str | None = field(default=None, repr=False)


#: Default ports: SMTP relay, message submission with STARTTLS (RFC 6409), and
#: submission over implicit TLS (RFC 8314).
_SMTP_PORT, _SUBMISSION_PORT, _SMTPS_PORT = 25, 587, 465
_MAIL_URL_HELP = (
    "expected 'console', or an SMTP URL such as 'smtps://mail.example.org', "
    "'smtp://mail.example.org:587?starttls=1' or 'smtp://user:password@127.0.0.1:25'"
)


def mail_server(url: str) -> MailServer:
    """Split an ``smtp://`` or ``smtps://`` URL; user name and password are
    percent-decoded. The message of :class:`Invalid` never holds the password.

    :raises Invalid: for another scheme, a missing host, a path, a fragment, a query
        other than ``starttls=1`` (or ``0``) or ``starttls`` with ``smtps``.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Invalid(_MAIL_URL_HELP) from None
    query = parse_qs(parts.query, keep_blank_values=True) if parts.query else {}
    if (
        parts.scheme not in ("smtp", "smtps")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.fragment
        or set(query) - {"starttls"}
        or any(len(values) != 1 for values in query.values())
    ):
        raise Invalid(_MAIL_URL_HELP)
    starttls = boolean(query["starttls"][0]) if query else False
    if starttls and parts.scheme == "smtps":
        raise Invalid("smtps:// is TLS from the first byte; starttls applies to smtp:// only")
    tls: t.Literal["smtps", "starttls", ""] = (
        "smtps" if parts.scheme == "smtps" else "starttls" if starttls else ""
    )
    default_port = {"smtps": _SMTPS_PORT, "starttls": _SUBMISSION_PORT, "": _SMTP_PORT}[tls]
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if (username is None) != (password is None):
        raise Invalid("an SMTP URL gives both a user name and a password, or neither")
    return MailServer(parts.hostname, port or default_port, tls, username, password)


def mail_url(value: object) -> str | None:
    """``None`` (the console in place of a server), ``'console'``, or an SMTP URL that
    :func:`mail_server` accepts."""
    if value is None or value == "":
        return None
    if value == "console":
        return value
    if not isinstance(value, str) or not value.isprintable():
        raise Invalid(_MAIL_URL_HELP)
    mail_server(value)
    return value


def mail_address(value: object) -> str | None:
    """``None``, or one email address, bare or with a name (``Vault
    <no-reply@example.org>``): the ``From`` of every message."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.isprintable():
        header = email.policy.default.header_factory("From", value)
        addresses: tuple[t.Any, ...] = getattr(header, "addresses", ())
        if len(addresses) == 1 and addresses[0].domain and not header.defects:
            return value
    raise Invalid("expected one email address, such as 'Vault <no-reply@example.org>'")


def base_url(value: object) -> str | None:
    """``None``, or an absolute ``http(s)`` URL without user, query or fragment: the
    root under which the application is served (``https://example.org/app``)."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.isprintable() and " " not in value:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018  # raises for a port that is not a number
        except ValueError:
            parts = None
        if (
            parts is not None
            and parts.scheme in ("http", "https")
            and parts.hostname
            and "@" not in parts.netloc
            and not parts.query
            and not parts.fragment
            and "?" not in value
            and "#" not in value
        ):
            return value.rstrip("/")
    raise Invalid(
        "expected the absolute URL the application is served at, such as "
        "'https://example.org' or 'https://example.org/app', without query or fragment"
    )
