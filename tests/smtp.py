"""A real SMTP server for the tests: aiosmtpd on a free port of 127.0.0.1.

It speaks plain SMTP, STARTTLS or implicit TLS (smtps) with a certificate made at test
time by a certificate authority of its own (:class:`TestCA`; its certificate is the
``BASTION_MAIL_CA_FILE`` of the tests), optionally requires AUTH LOGIN / PLAIN with one
user name and password, and collects every message it accepts as an
:class:`email.message.EmailMessage`. The ``smtp_server`` fixture of ``tests/conftest.py``
is a plain one; ``smtp_factory`` starts others.
"""

from __future__ import annotations

import asyncio
import datetime
import email
import email.policy
import hmac
import ipaddress
import ssl
import threading
import typing as t
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .servers import TIMEOUT, free_port

Mode = t.Literal["plain", "starttls", "smtps"]


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class TestCA:
    """A certificate authority made at test time, and the certificate it issued for
    ``localhost`` and ``127.0.0.1``, written as PEM files into ``folder``."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, folder: Path) -> None:
        now = datetime.datetime.now(datetime.UTC)
        validity = (now - datetime.timedelta(days=1), now + datetime.timedelta(days=2))
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = _name("Flask-Bastion test CA")
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(validity[0])
            .not_valid_after(validity[1])
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )  # fmt: skip
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("localhost"))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(validity[0])
            .not_valid_after(validity[1])
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        folder.mkdir(parents=True, exist_ok=True)
        #: The CA's certificate: what a client trusts (``BASTION_MAIL_CA_FILE``).
        self.ca_file = folder / "ca.pem"
        self.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        self.cert_file = folder / "server.pem"
        self.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.key_file = folder / "server.key"
        self.key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    def server_context(self) -> ssl.SSLContext:
        """The server side of TLS, with the issued certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


@dataclass
class Collector:
    """The aiosmtpd handler: keeps each accepted message; when :attr:`hold` is set,
    waits for it to be released before answering ``DATA`` (a slow server)."""

    messages: list[EmailMessage] = field(default_factory=list)
    #: Set while a ``DATA`` waits to be answered (for a test to know the server holds it).
    entered: threading.Event = field(default_factory=threading.Event)
    #: When set, ``DATA`` is answered only once it is released (or after TIMEOUT).
    hold: threading.Event | None = None
    #: Whether a client must authenticate before naming a recipient.
    requires_auth: bool = False

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """Refuse an unauthenticated client when AUTH is required, and the mailbox
        ``nobody@...`` as a server does an unknown user."""
        if self.requires_auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.hold is not None:
            self.entered.set()
            # In an executor: the server's event loop keeps serving other clients.
            await asyncio.get_running_loop().run_in_executor(None, self.hold.wait, TIMEOUT)
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        self.messages.append(t.cast(EmailMessage, message))
        return "250 Message accepted"


@dataclass
class SMTPServer:
    """A running server: where it listens and what it received."""

    host: str
    port: int
    mode: Mode
    handler: Collector
    #: The user name and password it requires, if any.
    credentials: tuple[str, str] | None = None
    #: The CA certificate vouching for its TLS certificate (``BASTION_MAIL_CA_FILE``).
    ca_file: str | None = None

    @property
    def url(self) -> str:
        """``smtp://127.0.0.1:PORT``, ``smtps://...`` or ``smtp://...?starttls=1``;
        without the credentials."""
        scheme = "smtps" if self.mode == "smtps" else "smtp"
        query = "?starttls=1" if self.mode == "starttls" else ""
        return f"{scheme}://{self.host}:{self.port}{query}"

    @property
    def messages(self) -> list[EmailMessage]:
        """The messages accepted so far, oldest first."""
        return self.handler.messages

    def clear(self) -> None:
        """Forget the messages received so far."""
        self.handler.messages.clear()

    def hold(self) -> threading.Event:
        """From now on answer ``DATA`` only once the returned event is set."""
        self.handler.hold = threading.Event()
        return self.handler.hold


def _authenticator(username: str, password: str) -> t.Callable[..., AuthResult]:
    expected = (username.encode(), password.encode())

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: t.Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = hmac.compare_digest(auth_data.login, expected[0]) & hmac.compare_digest(
            auth_data.password, expected[1]
        )
        # handled=False: aiosmtpd answers 535 itself.
        return AuthResult(success=bool(ok), handled=False)

    return authenticate


@contextmanager
def smtp_server(
    mode: Mode = "plain",
    *,
    ca: TestCA | None = None,
    credentials: tuple[str, str] | None = None,
) -> Iterator[SMTPServer]:
    """Run an SMTP server on a free port of 127.0.0.1 until the block ends.

    :param mode: ``"plain"``, ``"starttls"`` (offers and requires STARTTLS) or
        ``"smtps"`` (TLS from the first byte); the TLS modes need ``ca``.
    :param credentials: a user name and password that AUTH LOGIN / PLAIN must give
        before any message is accepted (over plain SMTP too, for the tests).
    """
    handler = Collector()
    kwargs: dict[str, t.Any] = {}
    ssl_context = None
    if mode != "plain":
        if ca is None:
            raise ValueError(f"an SMTP server in {mode} mode needs a TestCA")
        if mode == "smtps":
            ssl_context = ca.server_context()
        else:
            kwargs.update(tls_context=ca.server_context(), require_starttls=True)
    if credentials is not None:
        # AUTH is offered after STARTTLS, or at once (aiosmtpd does not count implicit
        # TLS as TLS); the handler refuses recipients until the client authenticated.
        kwargs.update(
            authenticator=_authenticator(*credentials), auth_require_tls=mode == "starttls"
        )
        handler.requires_auth = True
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        ssl_context=ssl_context,
        ready_timeout=TIMEOUT,
        **kwargs,
    )
    controller.start()
    try:
        yield SMTPServer(
            "127.0.0.1",
            controller.port,
            mode,
            handler,
            credentials,
            str(ca.ca_file) if ca is not None else None,
        )
    finally:
        if handler.hold is not None:
            handler.hold.set()  # a held DATA would keep the server from stopping
        controller.stop()
