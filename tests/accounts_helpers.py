"""Building an application with accounts, and driving it like a user with a mailbox."""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass, field

from flask import Flask, jsonify, request

from flask_bastion import Bastion
from flask_bastion.accounts import Accounts, current_user, login_required, require_scope
from flask_bastion.mail import flush_mail

from .conftest import OPEN_APPS, SECRET, BrowserClient

BASE = "https://localhost"
#: A password every policy rule accepts.
GOOD_PASSWORD = "correct horse battery staple 42"
OTHER_PASSWORD = "violet tugboat orchestra midnight"


@dataclass
class Clock:
    """A clock the tests move by hand."""

    now: float = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Site:
    """An application with accounts, its clock and its outgoing mail."""

    app: Flask
    clock: Clock
    smtp: t.Any
    clients: list[BrowserClient] = field(default_factory=list)

    def client(self) -> BrowserClient:
        client = t.cast(BrowserClient, self.app.test_client())
        client.environ_base["HTTP_SEC_FETCH_SITE"] = "same-origin"
        self.clients.append(client)
        return client

    def mails(self, to: str | None = None) -> list[t.Any]:
        """The mails sent so far (to ``to``), once the background worker is done."""
        flush_mail(self.app, timeout=10)
        return [m for m in self.smtp.messages if to is None or to in str(m["To"])]

    def last_link(self, to: str, path: str) -> str:
        """The path of the last link to ``path`` mailed to ``to``."""
        for message in reversed(self.mails(to)):
            body = message.get_body(("plain",)).get_content()
            found = re.findall(rf"https://localhost({re.escape(path)}[^\s]*)", body)
            if found:
                return str(found[-1])
        raise AssertionError(f"no {path} link mailed to {to}")

    def register(self, client: BrowserClient, email: str, password: str = GOOD_PASSWORD) -> t.Any:
        """Register; the account exists once the work after the response is done."""
        response = client.post(f"{BASE}/register", data={"email": email, "password": password})
        flush_mail(self.app, timeout=10)
        return response

    def login(self, client: BrowserClient, email: str, password: str = GOOD_PASSWORD) -> t.Any:
        return client.post(f"{BASE}/login", data={"email": email, "password": password})

    def user(self, email: str, password: str = GOOD_PASSWORD) -> BrowserClient:
        """A client signed in as a new, verified user ``email``."""
        client = self.client()
        assert self.register(client, email, password).status_code == 200
        link = self.last_link(email, "/verify/")
        assert client.post(BASE + link).status_code == 303
        assert self.login(client, email, password).status_code == 303
        return client


def make_site(smtp: t.Any, *, accounts: dict[str, t.Any] | None = None, **config: t.Any) -> Site:
    clock = Clock()
    app = Flask(__name__)
    app.config.update(
        {
            "SECRET_KEY": SECRET,
            "TRUSTED_HOSTS": ["localhost"],
            "BASTION_SESSIONS_STORE": "memory",
            "BASTION_MAIL_URL": smtp.url,
            "BASTION_MAIL_SENDER": "vault@localhost",
            # The accounts tests drive whole flows (register, verify, sign in, enrol, fail
            # ten times) from one address within seconds of the injected clock: the
            # authentication rate limits would refuse them before the behaviour under
            # test. tests/test_ratelimit_accounts.py turns them on.
            "BASTION_RATELIMIT_AUTH": None,
            "BASTION_RATELIMIT_AUTH_ACCOUNT": None,
            **config,
        }
    )

    @app.get("/api/me")
    @login_required
    @require_scope("api")
    def me() -> t.Any:
        return jsonify(id=current_user.get_id(), email=current_user.email)

    @app.post("/api/echo")
    @login_required
    def echo() -> t.Any:
        return jsonify(got=request.get_json(silent=True))

    Bastion(app, components=[Accounts(clock=clock, **(accounts or {}))])
    OPEN_APPS.append(app)
    return Site(app, clock, smtp)


def strip_volatile(html: bytes) -> bytes:
    """``html`` without what differs between two requests for the same page: CSRF tokens
    and CSP nonces."""
    html = re.sub(rb'value="[A-Za-z0-9_.\-]{20,}"', b'value="X"', html)
    return re.sub(rb'nonce="[^"]+"', b'nonce="X"', html)
