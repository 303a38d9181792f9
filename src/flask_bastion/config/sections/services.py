"""Configuration of the services accounts rely on: mail, encryption at rest, lockout."""

from __future__ import annotations

from dataclasses import dataclass

from ...exceptions import ConfigurationError
from ..parsers import (
    MAX_WAIT_SECONDS,
    base_url,
    boolean,
    choice,
    crypto_keys,
    identifier,
    int_range,
    mail_address,
    mail_url,
    optional_str,
    seconds,
    setting,
    visible_ascii,
)
from .accounts import secret


@dataclass(frozen=True)
class MailConfig:
    """Outgoing email (``mail/``)."""

    url: str | None = setting(
        None,
        mail_url,
        "Where mail goes: 'smtps://host' (TLS from the first byte, port 465), "
        "'smtp://host:587?starttls=1' (upgraded to TLS, port 587), 'smtp://host' (no TLS, "
        "port 25), with an optional 'user:password@' (percent-encoded), or 'console': "
        "logged and written to the outbox folder, for development. Unset means 'console'.",
        danger="smtp:// without starttls to a host other than loopback",
    )
    username: str | None = setting(
        None,
        optional_str,
        "SMTP user name, when it is not in BASTION_MAIL_URL.",
    )
    password: str | bytes | None = setting(
        None,
        secret,
        "SMTP password, when it is not in BASTION_MAIL_URL. Never printed: `flask bastion "
        "config` shows it as [redacted].",
    )
    sender: str | None = setting(
        None,
        mail_address,
        "The From address, such as 'Vault <no-reply@example.org>'. Unset: "
        "'no-reply@' and the host of SERVER_NAME; with an SMTP server and no SERVER_NAME, "
        "init_app raises ConfigurationError.",
    )
    timeout: float = setting(
        10.0,
        seconds(MAX_WAIT_SECONDS),
        "Seconds one message may take to send, from connecting to the server's last "
        "answer. Past it, send_mail raises MailUnavailable (a 503 page).",
    )
    outbox: str | None = setting(
        None,
        optional_str,
        "Folder where the console backend writes each message as an .eml file. Unset: "
        "'outbox' in the instance folder.",
    )
    ca_file: str | None = setting(
        None,
        optional_str,
        "PEM file of the certificate authorities that may vouch for the SMTP server, in "
        "place of the system's. The server's certificate and name are always verified.",
    )
    base_url: str | None = setting(
        None,
        base_url,
        "Absolute URL the application is served at, such as 'https://example.org/app': "
        "the root of every link external_url() builds for emails. Unset: SERVER_NAME, "
        "else the request's host when TRUSTED_HOSTS vouched for it.",
    )
    queue_size: int = setting(
        100,
        int_range(1, 100_000),
        "Messages send_mail(background=True) may hold in memory while the worker sends "
        "them; past it a message is dropped, logged and reported with mail_failed.",
    )


#: The most consecutive failed sign-ins any account may ever see evaluated between two
#: successes or unlocks, whatever the configuration (``BASTION_LOCKOUT_MAX_FAILURES``).
MAX_CONSECUTIVE_FAILURES = 100


@dataclass(frozen=True)
class CryptoConfig:
    """Encryption of data kept at rest (``crypto/``)."""

    keys: tuple[bytes, ...] | None = setting(
        None,
        crypto_keys,
        "The keys of the key ring that encrypts data kept at rest (TOTP secrets, encrypted "
        "columns and files), newest first: each the base64url text of 32 random bytes "
        "(`flask bastion generate-key`). The first encrypts; every one decrypts, so an old "
        "key stays listed until `flask bastion rotate-keys` has re-encrypted what it "
        "protects. Unset: one key derived from "
        "SECRET_KEY (and one from each of SECRET_KEY_FALLBACKS, to decrypt). Never printed: "
        "`flask bastion config` shows it as [redacted].",
    )


@dataclass(frozen=True)
class LockoutConfig:
    """Brute-force and credential-stuffing defence of sign-in (``accounts/throttle/``)."""

    enabled: bool = setting(
        True,
        boolean,
        "Count failed sign-ins and slow down, lock and throttle guessing. Off, nothing "
        "limits password guessing.",
        danger="False",
    )
    store: str = setting(
        "auto",
        choice("auto", "sql", "redis", "memory"),
        "Where the counters live. 'auto' uses the kind of store the sessions use (and their "
        "URL when BASTION_LOCKOUT_URL is unset). 'memory' is for tests and single-process "
        "development only.",
        danger="'memory' with more than one process",
    )
    url: str | None = setting(
        None,
        optional_str,
        "Database or Redis URL of the counters. Default: with store 'auto', the session "
        "store's URL; else the app's DATABASE_URL / SQLALCHEMY_DATABASE_URI (sql) or "
        "REDIS_URL (redis), else SQLite in the instance folder.",
    )
    table_name: str = setting(
        "bastion_login_counters",
        identifier,
        "Table of the sql store; the distinct accounts each address failed on go to a "
        "second table named after it with '_seen' appended.",
    )
    key_prefix: str = setting("bastion:lockout:", visible_ascii, "Key prefix of the redis store.")
    free_attempts: int = setting(
        5,
        int_range(1, MAX_CONSECUTIVE_FAILURES),
        "Consecutive failures an account may have before each further attempt waits: 1 "
        "second, then 2, 4, ... up to BASTION_LOCKOUT_MAX_DELAY.",
    )
    max_delay: int = setting(
        60,
        int_range(1, 3600),
        "Longest wait, in seconds, between two attempts on an account (or from one address "
        "on one account) while it is slowed down.",
    )
    threshold: int = setting(
        10,
        int_range(1, MAX_CONSECUTIVE_FAILURES),
        "Consecutive failures after which an account is locked for BASTION_LOCKOUT_DURATION; "
        "each failure after the lock lifts locks it again.",
    )
    duration: int = setting(
        900,
        int_range(1, 86_400),
        "Seconds a temporary lock lasts. The emailed unlock link or an administrator lifts "
        "it sooner.",
    )
    max_failures: int = setting(
        MAX_CONSECUTIVE_FAILURES,
        int_range(1, MAX_CONSECUTIVE_FAILURES),
        "Consecutive failures without a success after which an account stays locked until "
        "it is unlocked (link or administrator). At most 100.",
    )
    window: int = setting(
        3600,
        int_range(1, 30 * 86_400),
        "Seconds without a failure after which an account's and an (account, address) "
        "pair's delays and temporary lock are forgotten; also the window of the per-address "
        "limit. At least BASTION_LOCKOUT_DURATION and BASTION_LOCKOUT_MAX_DELAY.",
    )
    pair_free_attempts: int = setting(
        5,
        int_range(1, MAX_CONSECUTIVE_FAILURES),
        "Consecutive failures one address may have on one account before its attempts on "
        "it wait (1, 2, 4, ... seconds); the pair is never locked, and an unlock does not "
        "reset it.",
    )
    ip_limit: int = setting(
        50,
        int_range(1, 1_000_000),
        "Failed sign-ins one client address may make per BASTION_LOCKOUT_WINDOW, over all "
        "accounts, before its attempts are refused until the window ends.",
    )
    stuffing_accounts: int = setting(
        10,
        int_range(2, 10_000),
        "Distinct accounts one address may fail on within BASTION_LOCKOUT_STUFFING_WINDOW "
        "before it is treated as credential stuffing: refused for that window, and the "
        "credential_stuffing signal sent.",
    )
    stuffing_window: int = setting(
        600,
        int_range(1, 86_400),
        "Seconds over which the distinct accounts of one address are counted.",
    )
    mail_limit: int = setting(
        5,
        int_range(1, 1_000),
        "Mails anyone can cause to one address (a reset link, 'someone tried to register "
        "with your address', a new verification or change-of-address link) per "
        "BASTION_LOCKOUT_MAIL_WINDOW: enough for a person, too few to flood a mailbox or "
        "keep voiding the link its owner asked for. Counted alike for addresses with and "
        "without an account.",
    )
    mail_window: int = setting(
        3_600, int_range(60, 86_400), "Seconds of the fixed window of BASTION_LOCKOUT_MAIL_LIMIT."
    )

    def __post_init__(self) -> None:
        # The steps must come in this order, or a later one would never be reached (a
        # lock before the free attempts run out, a hard lock before the temporary one),
        # and a failure must be remembered for as long as the lock it causes lasts.
        if self.free_attempts > self.threshold:
            raise ConfigurationError(
                "BASTION_LOCKOUT_FREE_ATTEMPTS",
                f"must be at most BASTION_LOCKOUT_THRESHOLD ({self.threshold}); "
                f"got {self.free_attempts}.",
            )
        if self.threshold > self.max_failures:
            raise ConfigurationError(
                "BASTION_LOCKOUT_THRESHOLD",
                f"must be at most BASTION_LOCKOUT_MAX_FAILURES ({self.max_failures}); "
                f"got {self.threshold}.",
            )
        if self.window < max(self.duration, self.max_delay):
            raise ConfigurationError(
                "BASTION_LOCKOUT_WINDOW",
                "must be at least BASTION_LOCKOUT_DURATION and BASTION_LOCKOUT_MAX_DELAY "
                f"({max(self.duration, self.max_delay)}); got {self.window}.",
            )
