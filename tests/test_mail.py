"""Mail: sending through a real SMTP server (aiosmtpd), failures as 503 pages, the
background worker, the console backend and links that never trust a forged Host."""

from __future__ import annotations

import json
import logging
import os
import smtplib
import socket
import stat
import time
import typing as t
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask import Blueprint, Flask

from flask_bastion import MailUnavailable, external_url, send_mail, signals
from flask_bastion.config import load_config
from flask_bastion.config.parsers import MAX_WAIT_SECONDS, Invalid, MailServer, mail_server
from flask_bastion.config.parsers import seconds as seconds_upto
from flask_bastion.exceptions import ConfigurationError
from flask_bastion.mail import (
    REASON_AUTH,
    REASON_CONNECTION,
    REASON_OUTBOX,
    REASON_QUEUE_FULL,
    REASON_REJECTED,
    REASON_TIMEOUT,
    REASON_TLS,
    InvalidMessage,
    flush_mail,
    mailer_for,
)
from flask_bastion.mail.smtp import _SMTP, _close, _failure_kind

from .conftest import SMTPFactory, make_app
from .servers import free_port
from .smtp import SMTPServer

#: The mail timeout's parser.
seconds = seconds_upto(MAX_WAIT_SECONDS)
HTTPS = "https://localhost"
TO = "Ada <ada@example.org>"


def mail_app(server: SMTPServer | None = None, **config: t.Any) -> Flask:
    """An app sending through ``server`` (its CA trusted), with a view that sends one
    message: ``/send`` synchronously, ``/send?background=1`` through the worker."""
    settings: dict[str, t.Any] = {"BASTION_MAIL_SENDER": "Vault <no-reply@example.org>"}
    if server is not None:
        settings["BASTION_MAIL_URL"] = server.url
        if server.ca_file:
            settings["BASTION_MAIL_CA_FILE"] = server.ca_file
    app = make_app(**{**settings, **config})

    @app.post("/send")
    def send() -> str:
        from flask import request

        send_mail(TO, "Hello", "Body", background="background" in request.args)
        return "sent"

    return app


def send(app: Flask, to: str = TO, subject: str = "Hello", **kwargs: t.Any) -> None:
    with app.app_context():
        send_mail(to, subject, "Body text", **kwargs)


@contextmanager
def failures(app: Flask) -> Iterator[list[dict[str, t.Any]]]:
    """The keywords of each ``mail_failed`` signal ``app`` sends in the block."""
    found: list[dict[str, t.Any]] = []

    def receiver(sender: Flask, **kwargs: t.Any) -> None:
        found.append(kwargs)

    with signals.mail_failed.connected_to(receiver, app):
        yield found


def reason_of(app: Flask, **kwargs: t.Any) -> str:
    """The reason of the MailUnavailable that sending one message raises."""
    with pytest.raises(MailUnavailable) as caught:
        send(app, **kwargs)
    return caught.value.reason


# -- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("smtp://mail.example.org", MailServer("mail.example.org", 25, ""), id="smtp"),
        pytest.param(
            "smtp://mail.example.org?starttls=1",
            MailServer("mail.example.org", 587, "starttls"),
            id="starttls-submission-port",
        ),
        pytest.param(
            "smtp://mail.example.org:2525?starttls=true",
            MailServer("mail.example.org", 2525, "starttls"),
            id="starttls-port",
        ),
        pytest.param(
            "smtp://mail.example.org?starttls=0",
            MailServer("mail.example.org", 25, ""),
            id="starttls-off",
        ),
        pytest.param(
            "smtps://mail.example.org", MailServer("mail.example.org", 465, "smtps"), id="smtps"
        ),
        pytest.param(
            "smtps://us%40er:p%40ss%2Fw@mail.example.org:2465/",
            MailServer("mail.example.org", 2465, "smtps", "us@er", "p@ss/w"),
            id="credentials-percent-decoded",
        ),
    ],
)
def test_mail_url_forms(url: str, expected: MailServer) -> None:
    """Each documented URL form gives its host, port, TLS mode and decoded credentials."""
    assert mail_server(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://mail.example.org", id="other-scheme"),
        pytest.param("smtp://", id="no-host"),
        pytest.param("smtp://u:hunter2@mail.example.org/path", id="path"),
        pytest.param("smtp://u:hunter2@mail.example.org?tls=1", id="unknown-query"),
        pytest.param("smtp://mail.example.org?starttls=1&starttls=0", id="query-twice"),
        pytest.param("smtp://mail.example.org?starttls=maybe", id="query-not-boolean"),
        pytest.param("smtps://mail.example.org?starttls=1", id="starttls-on-smtps"),
        pytest.param("smtp://u@mail.example.org", id="user-without-password"),
        pytest.param("smtp://mail.example.org:port", id="port-not-a-number"),
        pytest.param("smtp://mail.example.org#x", id="fragment"),
        pytest.param("smtp://mail.example.org\r\n", id="line-break"),
        pytest.param(25, id="not-a-string"),
    ],
)
def test_invalid_mail_url_is_refused_without_its_password(url: object) -> None:
    """A malformed BASTION_MAIL_URL stops init_app, naming the key, never the password."""
    with pytest.raises(ConfigurationError) as caught:
        load_config({"BASTION_MAIL_URL": url}, {})
    assert caught.value.key == "BASTION_MAIL_URL"
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.3", 0.3), (10, 10.0), (0.5, 0.5), ("3600", 3600.0)],
    ids=["string-fraction", "int", "float", "upper-bound"],
)
def test_timeout_accepts_seconds(value: object, expected: float) -> None:
    """BASTION_MAIL_TIMEOUT takes fractions of a second, from Python or the environment."""
    assert seconds(value) == expected


@pytest.mark.parametrize("value", [0, -1, "abc", True, float("nan"), 3601, None], ids=repr)
def test_timeout_refuses_other_values(value: object) -> None:
    """A timeout of 0, negative, past an hour, NaN or not a number is refused."""
    with pytest.raises(Invalid):
        seconds(value)


@pytest.mark.parametrize(
    "value",
    ["no-reply", "a@example.org, b@example.org", "a@example.org\r\nBcc: x@example.org", 5],
    ids=["no-domain", "two-addresses", "line-break", "not-a-string"],
)
def test_sender_must_be_one_address(value: object) -> None:
    """BASTION_MAIL_SENDER is one address, without line breaks."""
    with pytest.raises(ConfigurationError, match="BASTION_MAIL_SENDER"):
        load_config({"BASTION_MAIL_SENDER": value}, {})


@pytest.mark.parametrize(
    "value",
    [
        "example.org",
        "ftp://example.org",
        "https://user@example.org",
        "https://example.org/?next=x",
        "https://example.org/#top",
        "https://example.org:port",
        "https://exa mple.org",
    ],
)
def test_base_url_must_be_a_plain_absolute_url(value: str) -> None:
    """BASTION_MAIL_BASE_URL is an http(s) URL without user, query or fragment."""
    with pytest.raises(ConfigurationError, match="BASTION_MAIL_BASE_URL"):
        load_config({"BASTION_MAIL_BASE_URL": value}, {})


def test_base_url_loses_its_trailing_slash() -> None:
    """'https://example.org/app/' is stored as the root 'https://example.org/app'."""
    config = load_config({"BASTION_MAIL_BASE_URL": "https://example.org/app/"}, {})
    assert config.mail.base_url == "https://example.org/app"


def test_smtp_without_sender_or_server_name_is_refused() -> None:
    """An SMTP server without BASTION_MAIL_SENDER or SERVER_NAME stops init_app."""
    with pytest.raises(ConfigurationError) as caught:
        make_app(BASTION_MAIL_URL="smtps://mail.example.org")
    assert caught.value.key == "BASTION_MAIL_SENDER"


def test_sender_defaults_to_no_reply_at_server_name() -> None:
    """Without BASTION_MAIL_SENDER, the From is no-reply@ the host of SERVER_NAME."""
    app = make_app(BASTION_MAIL_URL="smtps://mail.example.org", SERVER_NAME="example.org:8443")
    assert mailer_for(app).sender == "no-reply@example.org"


def test_console_sender_defaults_to_localhost() -> None:
    """The console backend needs no sender: it is no-reply@localhost."""
    assert mailer_for(make_app()).sender == "no-reply@localhost"


@pytest.mark.parametrize(
    "config",
    [
        pytest.param(
            {
                "BASTION_MAIL_URL": "smtp://u:p@127.0.0.1",
                "BASTION_MAIL_USERNAME": "u",
                "BASTION_MAIL_PASSWORD": "p",
            },
            id="url-and-keys",
        ),
        pytest.param(
            {"BASTION_MAIL_URL": "smtp://127.0.0.1", "BASTION_MAIL_USERNAME": "u"},
            id="username-alone",
        ),
        pytest.param(
            {"BASTION_MAIL_URL": "smtp://127.0.0.1", "BASTION_MAIL_PASSWORD": "p"},
            id="password-alone",
        ),
    ],
)
def test_credentials_given_twice_or_by_halves_are_refused(config: dict[str, t.Any]) -> None:
    """Credentials come from the URL or from both keys, never a mix."""
    with pytest.raises(ConfigurationError) as caught:
        make_app(BASTION_MAIL_SENDER="a@example.org", **config)
    assert caught.value.key == "BASTION_MAIL_USERNAME"


def test_unreadable_ca_file_is_refused(tmp_path: Path) -> None:
    """A CA file that is missing stops init_app, naming BASTION_MAIL_CA_FILE."""
    with pytest.raises(ConfigurationError) as caught:
        mail_app(
            BASTION_MAIL_URL="smtps://mail.example.org",
            BASTION_MAIL_CA_FILE=str(tmp_path / "missing.pem"),
        )
    assert caught.value.key == "BASTION_MAIL_CA_FILE"


def test_config_command_redacts_the_password_and_masks_the_url() -> None:
    """`flask bastion config` shows the password as [redacted] and the URL's masked."""
    app = mail_app(
        BASTION_MAIL_URL="smtps://mailer:url-secret@mail.example.org",
        BASTION_MAIL_PASSWORD=None,
    )
    app.config["BASTION_MAIL_PASSWORD"] = "key-secret"
    app2 = make_app(
        BASTION_MAIL_URL="smtps://mail.example.org",
        BASTION_MAIL_SENDER="a@example.org",
        BASTION_MAIL_USERNAME="mailer",
        BASTION_MAIL_PASSWORD="key-secret",
    )
    rows = {}
    for each in (app, app2):
        result = each.test_cli_runner().invoke(args=["bastion", "config", "--json"])
        assert "url-secret" not in result.output and "key-secret" not in result.output
        rows.update({(id(each), r["key"]): r["value"] for r in json.loads(result.output)})
    assert rows[(id(app), "BASTION_MAIL_URL")] == "smtps://mailer:***@mail.example.org"
    assert rows[(id(app2), "BASTION_MAIL_PASSWORD")] == "[redacted]"


def test_passwords_profile_is_not_a_secret() -> None:
    """Only whole words mark a secret: BASTION_PASSWORDS_PROFILE is printed."""
    from flask_bastion.config import is_secret

    assert (is_secret("BASTION_MAIL_PASSWORD"), is_secret("BASTION_PASSWORDS_PROFILE")) == (
        True,
        False,
    )


# -- sending -----------------------------------------------------------------------------------


def test_plain_smtp_delivers_a_complete_message(smtp_server: SMTPServer) -> None:
    """The server receives From, To, Subject, Date, Message-ID and the text body."""
    app = mail_app(smtp_server)
    send(app)
    (message,) = smtp_server.messages
    assert (message["From"], message["To"], message["Subject"]) == (
        "Vault <no-reply@example.org>",
        TO,
        "Hello",
    )
    assert message["Date"] and message["Message-ID"].endswith("@example.org>")
    assert message.get_content().strip() == "Body text"
    assert mailer_for(app).sent == 1


def test_html_makes_a_multipart_alternative(smtp_server: SMTPServer) -> None:
    """With html=, the message carries both bodies as multipart/alternative."""
    send(mail_app(smtp_server), html="<p>Body <b>html</b></p>")
    (message,) = smtp_server.messages
    assert message.get_content_type() == "multipart/alternative"
    html = message.get_body(("html",))
    assert isinstance(html, EmailMessage) and "<b>html</b>" in html.get_content()


def test_fixture_clear_forgets_messages(smtp_server: SMTPServer) -> None:
    """smtp_server.clear() empties the received list."""
    send(mail_app(smtp_server))
    smtp_server.clear()
    assert (smtp_server.messages, smtp_server.url) == ([], f"smtp://127.0.0.1:{smtp_server.port}")


@pytest.mark.parametrize("mode", ["starttls", "smtps"])
def test_tls_modes_deliver(smtp_factory: SMTPFactory, mode: t.Any) -> None:
    """STARTTLS and implicit TLS deliver, verifying the server against the CA file."""
    server = smtp_factory(mode)
    send(mail_app(server))
    assert [m["Subject"] for m in server.messages] == ["Hello"]


@pytest.mark.parametrize("mode", ["starttls", "smtps"])
def test_untrusted_certificate_fails_as_tls(smtp_factory: SMTPFactory, mode: t.Any) -> None:
    """Without the CA file, the server's certificate is not trusted: nothing is sent."""
    server = smtp_factory(mode)
    app = mail_app(server, BASTION_MAIL_CA_FILE=None)
    assert reason_of(app) == REASON_TLS
    assert server.messages == []


def test_starttls_required_but_not_offered_fails_as_tls(smtp_server: SMTPServer) -> None:
    """?starttls=1 against a server without STARTTLS never falls back to plain text."""
    app = mail_app(smtp_server, BASTION_MAIL_URL=smtp_server.url + "?starttls=1")
    assert reason_of(app) == REASON_TLS
    assert smtp_server.messages == []


def test_auth_with_credentials_from_the_url(smtp_factory: SMTPFactory) -> None:
    """user:password@ in the URL, percent-encoded, authenticates."""
    server = smtp_factory("starttls", credentials=("mailer@example.org", "p@ss/w:rd"))
    url = server.url.replace("//", "//mailer%40example.org:p%40ss%2Fw%3Ard@")
    send(mail_app(server, BASTION_MAIL_URL=url))
    assert len(server.messages) == 1


def test_auth_with_credentials_from_keys(smtp_factory: SMTPFactory) -> None:
    """BASTION_MAIL_USERNAME and BASTION_MAIL_PASSWORD authenticate."""
    server = smtp_factory("smtps", credentials=("mailer", "s3cret"))
    app = mail_app(server, BASTION_MAIL_USERNAME="mailer", BASTION_MAIL_PASSWORD=b"s3cret")
    send(app)
    assert len(server.messages) == 1


def test_missing_credentials_are_refused(smtp_factory: SMTPFactory) -> None:
    """A server that requires AUTH refuses the message of a client that gave none."""
    server = smtp_factory("smtps", credentials=("mailer", "s3cret"))
    assert reason_of(mail_app(server)) == REASON_REJECTED


def test_wrong_credentials_give_a_503_page(smtp_factory: SMTPFactory) -> None:
    """Refused credentials: the view's unhandled MailUnavailable is a clean 503 page
    saying to try again, with the mail_failed signal naming the kind of failure."""
    server = smtp_factory("starttls", credentials=("mailer", "s3cret"))
    app = mail_app(server, BASTION_MAIL_USERNAME="mailer", BASTION_MAIL_PASSWORD="wrong-pw")
    with failures(app) as found:
        response = app.test_client().post("/send", base_url=HTTPS, headers={"Origin": HTTPS})
    assert response.status_code == 503
    assert MailUnavailable.PAGE_TEXT in response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "60"
    assert found == [{"reason": REASON_AUTH, "status": 503, "subject": "Hello"}]
    assert server.messages == []


def test_auth_not_offered_fails_as_auth(smtp_server: SMTPServer) -> None:
    """Credentials for a server that offers no AUTH fail as authentication."""
    app = mail_app(smtp_server, BASTION_MAIL_USERNAME="u", BASTION_MAIL_PASSWORD="p")
    assert reason_of(app) == REASON_AUTH


def test_server_down_gives_503_signal_and_log_without_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A closed port: 503 page, mail_failed 'connection failed', and log lines that name
    the server with its password masked and never the recipient."""
    url = f"smtp://mailer:hunter2@127.0.0.1:{free_port()}"
    app = mail_app(BASTION_MAIL_URL=url)
    with failures(app) as found, caplog.at_level(logging.INFO):
        response = app.test_client().post(
            "/send", base_url=HTTPS, headers={"Origin": HTTPS, "Accept": "application/json"}
        )
    assert response.status_code == 503
    assert response.json is not None and response.json["detail"] == MailUnavailable.PAGE_TEXT
    assert [f["reason"] for f in found] == [REASON_CONNECTION]
    assert "hunter2" not in caplog.text and "ada@example.org" not in caplog.text
    assert "smtp://mailer:***@127.0.0.1" in caplog.text
    assert "mail.failed: connection failed" in caplog.text
    assert mailer_for(app).failed == 1


def test_refused_recipient_fails_as_rejected(smtp_server: SMTPServer) -> None:
    """A server refusing the recipient: MailUnavailable 'refused by the server'."""
    assert reason_of(mail_app(smtp_server), to="nobody@example.org") == REASON_REJECTED


def test_slow_server_gives_up_within_the_timeout(smtp_server: SMTPServer) -> None:
    """A server that never answers DATA: the send stops at the deadline (0.3 s) with
    'timed out', far sooner than the server's hold."""
    smtp_server.hold()
    app = mail_app(smtp_server, BASTION_MAIL_TIMEOUT=0.3)
    start = time.monotonic()
    assert reason_of(app) == REASON_TIMEOUT
    assert time.monotonic() - start < 5


def test_deadline_passed_before_a_step_times_out(smtp_server: SMTPServer) -> None:
    """Past the deadline, the next step fails at once as 'timed out'."""
    smtp = _SMTP(time.monotonic() - 1, "example.org")
    with pytest.raises(TimeoutError):
        smtp.connect(smtp_server.host, smtp_server.port)
    assert _failure_kind(TimeoutError(), REASON_CONNECTION) == REASON_TIMEOUT


def test_unconnected_send_fails_as_smtplib_does() -> None:
    """Sending before connecting is smtplib's SMTPServerDisconnected, an OSError."""
    with pytest.raises(smtplib.SMTPServerDisconnected):
        _SMTP(time.monotonic() + 10, "example.org").send("NOOP\r\n")


def test_connection_dropped_while_sending_is_not_a_refusal() -> None:
    """A connection lost during the message is 'connection failed'; a refused
    recipient is 'refused by the server'."""
    dropped = smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
    refused = smtplib.SMTPRecipientsRefused({"a@example.org": (550, b"No")})
    assert [_failure_kind(e, REASON_REJECTED) for e in (dropped, refused)] == [
        REASON_CONNECTION,
        REASON_REJECTED,
    ]


def test_quit_failing_after_the_message_is_ignored() -> None:
    """A QUIT that fails once the server took the message changes nothing: the
    connection is closed quietly."""
    smtp = _SMTP(time.monotonic() + 10, "example.org")
    smtp.sock = socket.socket()
    smtp.sock.close()
    _close(smtp, sent=True)
    assert smtp.sock is None


# -- background --------------------------------------------------------------------------------


def test_background_send_is_delivered_after_flush(smtp_server: SMTPServer) -> None:
    """background=True returns at once; flush_mail waits until the worker sent it."""
    app = mail_app(smtp_server)
    response = app.test_client().post(
        "/send?background=1", base_url=HTTPS, headers={"Origin": HTTPS}
    )
    assert response.status_code == 200
    assert flush_mail(app, timeout=30) is True
    assert [m["Subject"] for m in smtp_server.messages] == ["Hello"]
    assert mailer_for(app).sent == 1


def test_background_failure_is_reported_not_raised() -> None:
    """A background send to a closed port answers 200; the worker logs, signals and
    counts the failure."""
    app = mail_app(BASTION_MAIL_URL=f"smtp://127.0.0.1:{free_port()}")
    with failures(app) as found:
        response = app.test_client().post(
            "/send?background=1", base_url=HTTPS, headers={"Origin": HTTPS}
        )
        assert flush_mail(app, timeout=30)
    assert response.status_code == 200
    assert [f["reason"] for f in found] == [REASON_CONNECTION]
    assert mailer_for(app).failed == 1


def test_full_queue_drops_the_message(smtp_server: SMTPServer) -> None:
    """With the worker held by a slow server and the queue full, a further message is
    dropped with the mail_failed signal 'queue full', and counted."""
    release = smtp_server.hold()
    app = mail_app(smtp_server, BASTION_MAIL_QUEUE_SIZE=1)
    with failures(app) as found:
        send(app, subject="first", background=True)
        assert smtp_server.handler.entered.wait(30)  # the worker is inside DATA
        send(app, subject="second", background=True)  # fills the queue
        send(app, subject="third", background=True)
        assert [(f["reason"], f["subject"]) for f in found] == [(REASON_QUEUE_FULL, "third")]
        release.set()
        assert flush_mail(app, timeout=30)
    assert [m["Subject"] for m in smtp_server.messages] == ["first", "second"]
    mailer = mailer_for(app)
    assert (mailer.sent, mailer.dropped) == (2, 1)


def test_flush_reports_a_queue_not_drained_in_time(smtp_server: SMTPServer) -> None:
    """flush_mail returns False when the worker is still busy at its timeout."""
    release = smtp_server.hold()
    app = mail_app(smtp_server)
    send(app, background=True)
    assert smtp_server.handler.entered.wait(30)
    assert flush_mail(app, timeout=0.01) is False
    release.set()
    assert flush_mail(app, timeout=30) is True


def test_worker_survives_a_failing_receiver() -> None:
    """A mail_failed receiver that raises is logged; the worker goes on."""
    app = mail_app(BASTION_MAIL_URL=f"smtp://127.0.0.1:{free_port()}")

    def broken(sender: Flask, **kwargs: t.Any) -> None:
        raise RuntimeError("receiver failed")

    with signals.mail_failed.connected_to(broken, app):
        send(app, background=True)
        assert flush_mail(app, timeout=30)
        send(app, background=True)
        assert flush_mail(app, timeout=30)
    assert mailer_for(app).failed == 2


def test_two_apps_send_through_their_own_servers(smtp_factory: SMTPFactory) -> None:
    """Each application has its own mailer and worker."""
    first, second = smtp_factory(), smtp_factory()
    app1, app2 = mail_app(first), mail_app(second)
    send(app1, subject="one", background=True)
    send(app2, subject="two", background=True)
    assert flush_mail(app1, timeout=30) and flush_mail(app2, timeout=30)
    assert [m["Subject"] for m in first.messages] == ["one"]
    assert [m["Subject"] for m in second.messages] == ["two"]


# -- console backend ---------------------------------------------------------------------------


def test_console_writes_eml_to_a_private_outbox(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Without a URL, the message is logged at INFO and written as .eml to an outbox
    folder made 0700."""
    outbox = tmp_path / "outbox"
    app = mail_app(BASTION_MAIL_OUTBOX=str(outbox))
    with caplog.at_level(logging.INFO, logger=app.logger.name):
        send(app)
    (path,) = outbox.iterdir()
    assert path.suffix == ".eml" and stat.S_IMODE(outbox.stat().st_mode) == 0o700
    assert b"Subject: Hello" in path.read_bytes()
    assert f"Mail to {TO}: Hello\nBody text" in caplog.text


def test_console_outbox_defaults_to_the_instance_folder() -> None:
    """The outbox is 'outbox' in the instance folder unless set."""
    app = mail_app(BASTION_MAIL_URL="console")
    assert mailer_for(app).outbox == Path(app.instance_path) / "outbox"


def test_console_file_names_sort_by_time_and_differ(tmp_path: Path) -> None:
    """Messages written one after the other have distinct names in sending order."""
    app = mail_app(BASTION_MAIL_OUTBOX=str(tmp_path))
    for subject in ("first", "second", "third"):
        send(app, subject=subject)
    names = sorted(p.name for p in tmp_path.iterdir())
    subjects = [
        next(line for line in (tmp_path / n).read_text().splitlines() if line.startswith("Subject"))
        for n in names
    ]
    assert subjects == ["Subject: first", "Subject: second", "Subject: third"]


def test_unwritable_outbox_fails_as_outbox(tmp_path: Path) -> None:
    """An outbox path that is a file: MailUnavailable 'outbox not writable'."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert reason_of(mail_app(BASTION_MAIL_OUTBOX=str(blocker))) == REASON_OUTBOX


def test_console_under_production_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Console mail under the production profile logs one warning that it is not sent."""
    app = mail_app(BASTION_MAIL_OUTBOX=str(tmp_path))
    with caplog.at_level(logging.WARNING, logger=app.logger.name):
        send(app)
        send(app)
    assert caplog.text.count("never reach their recipients") == 1


def test_console_under_development_does_not_warn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The development profile's console backend is what it is for: no warning."""
    app = mail_app(BASTION_MAIL_OUTBOX=str(tmp_path), BASTION_PROFILE="development")
    with caplog.at_level(logging.WARNING, logger=app.logger.name):
        send(app)
    assert "never reach" not in caplog.text


# -- header injection --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("to", "subject"),
    [
        pytest.param(TO, "Hello\r\nBcc: eve@example.org", id="subject-crlf"),
        pytest.param(TO, "Hello\nBcc: eve@example.org", id="subject-lf"),
        pytest.param("ada@example.org\r\nBcc: eve@example.org", "Hello", id="address-crlf"),
        pytest.param("ada@example.org\x00", "Hello", id="address-nul"),
        pytest.param("ada", "Hello", id="address-without-domain"),
        pytest.param("ada@example.org, eve@example.org", "Hello", id="two-addresses"),
    ],
)
@pytest.mark.parametrize("background", [False, True], ids=["sync", "background"])
def test_header_injection_is_refused_before_sending(
    smtp_server: SMTPServer, to: str, subject: str, background: bool
) -> None:
    """A line break or control character in the subject or address, or an address that
    is not exactly one, raises InvalidMessage at once; nothing reaches the server."""
    app = mail_app(smtp_server)
    with pytest.raises(InvalidMessage):
        send(app, to=to, subject=subject, background=background)
    assert flush_mail(app, timeout=30)
    assert smtp_server.messages == []


def test_invalid_message_is_a_value_error() -> None:
    """InvalidMessage is a ValueError, for code that validates input that way."""
    assert issubclass(InvalidMessage, ValueError)


# -- links -------------------------------------------------------------------------------------


def link_app(**config: t.Any) -> Flask:
    app = make_app(**config)

    @app.get("/reset/<token>")
    def reset(token: str) -> str:
        return token

    @app.get("/link")
    def link() -> str:
        return external_url("reset", token="abc")

    bp = Blueprint("acct", __name__)

    @bp.get("/verify")
    def verify() -> str:
        return external_url(".verify", _anchor="top")

    app.register_blueprint(bp, url_prefix="/acct")
    return app


def test_link_from_server_name_ignores_a_forged_host() -> None:
    """With SERVER_NAME and no TRUSTED_HOSTS, a forged Host header changes nothing."""
    app = link_app(SERVER_NAME="example.org", TRUSTED_HOSTS=None)
    response = app.test_client().get("/link", base_url="https://evil.example.net")
    assert response.get_data(as_text=True) == "https://example.org/reset/abc"


def test_link_from_server_name_outside_a_request() -> None:
    """SERVER_NAME and APPLICATION_ROOT give links from a CLI command or a worker."""
    app = link_app(SERVER_NAME="example.org:8443", APPLICATION_ROOT="/vault")
    with app.app_context():
        assert external_url("reset", token="a b") == "https://example.org:8443/vault/reset/a%20b"


def test_link_from_a_trusted_request_host() -> None:
    """Without SERVER_NAME, the request's host is used once TRUSTED_HOSTS vouched for it."""
    app = link_app(TRUSTED_HOSTS=["example.org", "www.example.org"])
    response = app.test_client().get("/link", base_url="https://www.example.org")
    assert response.get_data(as_text=True) == "https://www.example.org/reset/abc"


def test_forged_host_never_reaches_the_link() -> None:
    """With TRUSTED_HOSTS, a forged Host gets 400 before the view builds any link."""
    app = link_app(TRUSTED_HOSTS=["example.org"])
    response = app.test_client().get("/link", base_url="https://evil.example.net")
    assert response.status_code == 400
    assert "evil" not in response.get_data(as_text=True)


@pytest.mark.parametrize("trusted", [None, []], ids=["unset", "empty-list"])
def test_link_without_a_trusted_host_is_refused(trusted: list[str] | None) -> None:
    """Neither SERVER_NAME nor a vouching TRUSTED_HOSTS: ConfigurationError, not a link
    to whatever host the client named."""
    app = link_app(TRUSTED_HOSTS=trusted)
    with (
        app.test_request_context("/", base_url="https://evil.example.net"),
        pytest.raises(ConfigurationError) as caught,
    ):
        external_url("reset", token="abc")
    assert caught.value.key == "BASTION_MAIL_BASE_URL"


def test_base_url_wins_over_everything() -> None:
    """BASTION_MAIL_BASE_URL wins over SERVER_NAME and the request's host."""
    app = link_app(
        SERVER_NAME="internal.example.org",
        TRUSTED_HOSTS=["internal.example.org"],
        BASTION_MAIL_BASE_URL="https://example.org/v/",
    )
    response = app.test_client().get("/link", base_url="https://internal.example.org")
    assert response.get_data(as_text=True) == "https://example.org/v/reset/abc"


def test_link_is_https_whatever_the_preferred_scheme() -> None:
    """Under the production profile, links are https even with PREFERRED_URL_SCHEME http
    (Flask's default) and a loopback host."""
    app = link_app(SERVER_NAME="localhost:5000")
    with app.app_context():
        assert external_url("reset", token="x") == "https://localhost:5000/reset/x"


def test_development_loopback_link_keeps_the_scheme() -> None:
    """Under the development profile, a loopback host keeps the request's http."""
    app = link_app(BASTION_PROFILE="development", TRUSTED_HOSTS=["127.0.0.1"])
    response = app.test_client().get("/link", base_url="http://127.0.0.1:5000")
    assert response.get_data(as_text=True) == "http://127.0.0.1:5000/reset/abc"


def test_development_remote_host_link_is_https() -> None:
    """The development profile relaxes the scheme for loopback hosts only."""
    app = link_app(BASTION_PROFILE="development", SERVER_NAME="example.org")
    with app.app_context():
        assert external_url("reset", token="x").startswith("https://example.org/")


def test_relative_endpoint_and_anchor() -> None:
    """'.verify' is resolved in the request's blueprint; _anchor adds a fragment."""
    app = link_app(SERVER_NAME="example.org", TRUSTED_HOSTS=["example.org"])
    response = app.test_client().get("/acct/verify", base_url="https://example.org")
    assert response.get_data(as_text=True) == "https://example.org/acct/verify#top"


def test_relative_endpoint_outside_a_blueprint() -> None:
    """'.reset' outside a request is the application's own endpoint 'reset'."""
    app = link_app(SERVER_NAME="example.org")
    with app.app_context():
        assert external_url(".reset", token="x") == "https://example.org/reset/x"


def test_mail_component_is_registered() -> None:
    """The mailer is a built-in component named 'mail'."""
    app = make_app()
    assert mailer_for(app).name == "mail" and os.fspath(mailer_for(app).outbox)
