"""The configuration sections: one frozen dataclass per protection module."""

from __future__ import annotations

import typing as t
from collections.abc import Mapping
from dataclasses import dataclass

from ..exceptions import ConfigurationError
from ..passwords import DEFAULT_PROFILE, PROFILES
from ..passwords.breached import check_range_url
from ..passwords.hashing import MAX_PASSWORD_LENGTH
from ..passwords.policy import (
    DEFAULT_MIN_LENGTH,
    DEFAULT_MIN_LENGTH_SECOND_FACTOR,
    FAIL_CLOSED,
    FAIL_OPEN,
    LEAST_MAX_LENGTH,
)
from .parsers import (
    MAX_WAIT_SECONDS,
    Invalid,
    IPNetwork,
    base_url,
    boolean,
    choice,
    crypto_keys,
    csp_policy,
    feature_allowlists,
    header_token,
    identifier,
    int_range,
    mail_address,
    mail_url,
    networks,
    non_negative_int,
    optional_str,
    origins,
    positive_int,
    report_url,
    response_header,
    seconds,
    setting,
    string_tuple,
    subset,
    url_prefix,
    visible_ascii,
)

#: The longest timeout of the stores, in seconds: PostgreSQL holds ``statement_timeout``
#: in milliseconds in a 32-bit integer and refuses every connection asking for more,
#: and the operating system's waits on a socket count milliseconds the same way.
MAX_STORE_TIMEOUT = 2_147_483
#: The longest session timeout, in seconds: ten years, which is what the stores give a
#: session whose timeouts are disabled (0).
MAX_SESSION_TIMEOUT = 10 * 365 * 86_400

#: Values of ``BASTION_PROFILE``.
PRODUCTION = "production"
DEVELOPMENT = "development"


#: The default Content-Security-Policy: nonce-based and ``strict-dynamic``, per the
#: "strict CSP" recommendation (web.dev/strict-csp, OWASP CSP cheat sheet), on a
#: ``default-src 'none'`` base so that every kind of resource the policy does not name
#: is refused. Each directive and why it is there: docs/csp.md.
DEFAULT_CSP: dict[str, tuple[str, ...]] = {
    "default-src": ("'none'",),
    "script-src": ("'nonce'", "'strict-dynamic'"),
    "style-src": ("'self'", "'nonce'"),
    "img-src": ("'self'", "data:"),
    "font-src": ("'self'",),
    "connect-src": ("'self'",),
    "media-src": ("'self'",),
    "manifest-src": ("'self'",),
    "object-src": ("'none'",),
    "base-uri": ("'none'",),
    "form-action": ("'self'",),
    "frame-ancestors": ("'none'",),
}

#: Powerful features denied to every origin unless the application opts in. Features the
#: application may legitimately need (WebAuthn's ``publickey-credentials-*``) are left at
#: the browser default, which is same-origin only.
_DENIED_FEATURES = """
    accelerometer autoplay bluetooth browsing-topics camera display-capture encrypted-media
    geolocation gyroscope hid magnetometer microphone midi payment screen-wake-lock serial usb
    xr-spatial-tracking
"""
DEFAULT_PERMISSIONS_POLICY: dict[str, tuple[str, ...]] = dict.fromkeys(_DENIED_FEATURES.split(), ())


@dataclass(frozen=True)
class CoreConfig:
    """Settings that apply to the whole extension (keys without a section)."""

    profile: str = setting(
        PRODUCTION,
        choice(PRODUCTION, DEVELOPMENT),
        "'development' exempts loopback from the HTTPS redirect, drops the Secure cookie flag "
        "and allows DEBUG, for plain-HTTP work on 127.0.0.1. Never deploy it.",
        danger="development",
    )
    silenced_checks: tuple[str, ...] = setting(
        (), string_tuple, "Check IDs (such as 'bastion.W013') that `flask bastion check` ignores."
    )


@dataclass(frozen=True)
class ProxyConfig:
    """Which peers may tell us the client address, scheme and host (``proxy.py``)."""

    trusted_hops: int = setting(
        0,
        non_negative_int,
        "Number of reverse proxies in front of the app whose X-Forwarded-For/Proto/Host "
        "entries are trusted, counted from the right. 0 trusts no forwarded header.",
    )
    trusted_cidrs: tuple[IPNetwork, ...] = setting(
        (),
        networks,
        "Networks of the reverse proxies. Forwarded headers are honoured only when the direct "
        "peer is inside one; with trusted_hops 0, X-Forwarded-For is walked right to left "
        "past every address inside these networks.",
    )


@dataclass(frozen=True)
class HttpsConfig:
    """HTTPS enforcement (``https.py``)."""

    redirect: bool = setting(
        True,
        boolean,
        "Redirect plain-HTTP requests to HTTPS with 308 (method and body kept).",
        danger="False",
    )
    hsts_max_age: int = setting(
        31_536_000,
        non_negative_int,
        "Strict-Transport-Security max-age in seconds, sent on HTTPS responses only. 0 disables "
        "HSTS.",
        danger="below 31536000",
    )
    hsts_include_subdomains: bool = setting(
        True, boolean, "Add includeSubDomains to Strict-Transport-Security."
    )
    hsts_preload: bool = setting(
        False,
        boolean,
        "Add preload to Strict-Transport-Security. Only after reading hstspreload.org: "
        "removal from browser preload lists takes months.",
    )


@dataclass(frozen=True)
class HeadersConfig:
    """Response security headers (``headers.py``)."""

    frame_options: str | None = setting(
        "DENY",
        choice("DENY", "SAMEORIGIN", None),
        "X-Frame-Options. None omits it (frame-ancestors in the CSP still applies).",
        danger="None",
    )
    referrer_policy: str | None = setting(
        "strict-origin-when-cross-origin",
        choice(
            "no-referrer",
            "no-referrer-when-downgrade",
            "origin",
            "origin-when-cross-origin",
            "same-origin",
            "strict-origin",
            "strict-origin-when-cross-origin",
            "unsafe-url",
            None,
        ),
        "Referrer-Policy.",
    )
    cross_origin_opener_policy: str | None = setting(
        "same-origin",
        choice(
            "same-origin", "same-origin-allow-popups", "noopener-allow-popups", "unsafe-none", None
        ),
        "Cross-Origin-Opener-Policy.",
    )
    cross_origin_resource_policy: str | None = setting(
        "same-origin",
        choice("same-origin", "same-site", "cross-origin", None),
        "Cross-Origin-Resource-Policy.",
    )
    permissions_policy: Mapping[str, tuple[str, ...]] = setting(
        DEFAULT_PERMISSIONS_POLICY,
        feature_allowlists,
        "Permissions-Policy as feature -> allowlist (self, * or origins); an empty "
        "allowlist denies the feature everywhere.",
    )
    origin_agent_cluster: bool = setting(
        True, boolean, "Send Origin-Agent-Cluster: ?1 (origin-keyed agent clusters)."
    )


@dataclass(frozen=True)
class CspConfig:
    """Content-Security-Policy (``csp.py``)."""

    enabled: bool = setting(True, boolean, "Send a Content-Security-Policy header.", danger="False")
    policy: Mapping[str, tuple[str, ...]] = setting(
        DEFAULT_CSP,
        csp_policy,
        "Directive -> sources. The source \"'nonce'\" is replaced by the per-request nonce.",
    )
    report_only: bool = setting(
        False,
        boolean,
        "Send Content-Security-Policy-Report-Only instead: violations are reported, not "
        "blocked. For rolling out a policy, not for production.",
        danger="True",
    )
    report_uri: str | None = setting(None, report_url, "URL for the legacy report-uri directive.")
    report_to: str | None = setting(
        None,
        report_url,
        'URL of a Reporting API endpoint: adds Reporting-Endpoints: csp-endpoint="URL" and '
        "report-to csp-endpoint.",
    )


@dataclass(frozen=True)
class ErrorsConfig:
    """Safe error pages and request IDs (``errors.py``)."""

    enabled: bool = setting(
        True,
        boolean,
        "Render every 4xx/5xx as a page or JSON problem without internals.",
        danger="False",
    )
    request_id_header: str = setting(
        "X-Request-ID",
        response_header,
        "Response header carrying the request ID; also read from a trusted proxy.",
    )


@dataclass(frozen=True)
class InputsConfig:
    """Request-size limits and the rejection of malformed requests (``inputs.py``)."""

    max_content_length: int = setting(
        16 * 1024 * 1024,
        positive_int,
        "MAX_CONTENT_LENGTH applied when the app sets none (bytes).",
    )
    max_form_memory_size: int = setting(
        500_000, positive_int, "MAX_FORM_MEMORY_SIZE applied when the app sets none (bytes)."
    )
    max_form_parts: int = setting(
        1_000, positive_int, "MAX_FORM_PARTS applied when the app sets none."
    )
    max_header_bytes: int = setting(
        16 * 1024,
        positive_int,
        "Requests whose headers add up to more than this get 431.",
    )


@dataclass(frozen=True)
class CsrfConfig:
    """Cross-site request forgery protection (``csrf/``)."""

    enabled: bool = setting(
        True,
        boolean,
        "Reject cross-origin unsafe requests (Fetch Metadata / Origin), with a token fallback.",
        danger="False",
    )
    trusted_origins: tuple[str, ...] = setting(
        (),
        origins,
        "Other origins allowed to send unsafe requests, such as 'https://admin.example.org'.",
        danger="it holds wildcards",
    )
    token_header: str = setting(
        "X-CSRF-Token", header_token, "Request header carrying the fallback token (fetch)."
    )
    field_name: str = setting("csrf_token", identifier, "Form field carrying the fallback token.")


@dataclass(frozen=True)
class SessionsConfig:
    """Server-side sessions (``sessions/``)."""

    enabled: bool = setting(
        True,
        boolean,
        "Replace Flask's signed-cookie session with server-side sessions.",
        danger="False",
    )
    store: str = setting(
        "sql",
        choice("sql", "redis", "memory"),
        "Where sessions live. 'memory' is for tests and single-process development only.",
        danger="'memory' with more than one process",
    )
    url: str | None = setting(
        None,
        optional_str,
        "Database or Redis URL of the store. Default: the app's DATABASE_URL / "
        "SQLALCHEMY_DATABASE_URI (sql) or REDIS_URL (redis), else SQLite in the instance folder.",
    )
    cookie_name: str = setting(
        "__Host-session",
        identifier,
        "Session cookie name. When unset, the name is __Host- followed by Flask's "
        "SESSION_COOKIE_NAME (so __Host-session by default). The __Host- prefix pins it to "
        "this host, path / and HTTPS; the development profile drops the prefix (it needs "
        "Secure).",
    )
    idle_timeout: int = setting(
        1800,
        int_range(0, MAX_SESSION_TIMEOUT),
        "Seconds without a request before a session ends. 0 disables.",
        danger="0 or above 30 days",
    )
    absolute_timeout: int = setting(
        43_200,
        int_range(0, MAX_SESSION_TIMEOUT),
        "Seconds after creation when a session ends. 0 disables.",
        danger="0 or above 30 days",
    )
    touch_interval: int = setting(
        60,
        non_negative_int,
        "Seconds between last-seen updates of an unchanged session (one write per interval).",
    )
    table_name: str = setting("bastion_sessions", identifier, "Table of the sql store.")
    key_prefix: str = setting("bastion:session:", visible_ascii, "Key prefix of the redis store.")
    redis_cache: int = setting(
        5,
        non_negative_int,
        "Seconds a session read from Redis may be reused by this process while Redis reports "
        "no change to it (client-side caching with server-pushed invalidation: a revocation "
        "anywhere applies at once). Bounds staleness if invalidations stop arriving. 0 disables.",
    )


@dataclass(frozen=True)
class StoresConfig:
    """The SQL databases and Redis servers every component shares (``stores/``)."""

    connect_timeout: int = setting(
        5,
        int_range(1, MAX_STORE_TIMEOUT),
        "Seconds to wait for a new PostgreSQL connection, handshake included (libpq waits "
        "at least 2). Past it the request gets a 503 with Retry-After.",
    )
    statement_timeout: int = setting(
        5,
        int_range(1, MAX_STORE_TIMEOUT),
        "Seconds one SQL statement may take: PostgreSQL's statement_timeout, SQLite's wait "
        "for a lock; a second later the client cuts a PostgreSQL connection that sent "
        "nothing. Past it the request gets a 503 with Retry-After.",
    )
    redis_timeout: int = setting(
        2,
        int_range(1, MAX_STORE_TIMEOUT),
        "Seconds to wait for a Redis connection and for each answer. Past it the request "
        "gets a 503 with Retry-After.",
    )


def secret(value: object) -> str | bytes | None:
    """A secret as a string or bytes, or None; the message never echoes it."""
    if value is None or isinstance(value, str | bytes):
        return value or None
    raise Invalid("expected a string, bytes or None")


def range_api_url(value: object) -> str | None:
    """``None``, or the URL of a Pwned Passwords ``range`` API: ``https://``, or
    ``http://`` to a loopback host."""
    if value is None or value == "":
        return None
    try:
        return check_range_url(t.cast(str, value))
    except ValueError as exc:
        raise Invalid(str(exc)) from None


@dataclass(frozen=True)
class PasswordsConfig:
    """Password hashing and the policy for new passwords (``passwords/``)."""

    profile: str = setting(
        DEFAULT_PROFILE,
        choice(*PROFILES),
        "argon2id cost profile: 'owasp' (19 MiB, t=2), 'moderate' (64 MiB, t=3) or "
        "'sensitive' (256 MiB, t=4). Hashes made under another profile are replaced on the "
        "next login. `flask bastion calibrate-hash` times each on this machine.",
    )
    pepper: str | bytes | None = setting(
        None,
        secret,
        "A secret mixed into every password hash with HMAC-SHA256, kept out of the "
        "database. Changing or losing it invalidates every password hash made with it. "
        "Never printed: `flask bastion config` shows it as [redacted].",
    )
    min_length: int = setting(
        DEFAULT_MIN_LENGTH,
        int_range(1, LEAST_MAX_LENGTH),
        "The fewest characters (code points after NFKC) of a new password, for an account "
        "whose password is its only factor. NIST SP 800-63B-4 asks for 15.",
        danger=f"below {DEFAULT_MIN_LENGTH}",
    )
    min_length_second_factor: int = setting(
        DEFAULT_MIN_LENGTH_SECOND_FACTOR,
        int_range(1, LEAST_MAX_LENGTH),
        "The fewest characters of a new password when the account has a second factor "
        "(never more than min_length). NIST SP 800-63B-4 asks for 8.",
        danger=f"below {DEFAULT_MIN_LENGTH_SECOND_FACTOR}",
    )
    max_length: int = setting(
        MAX_PASSWORD_LENGTH,
        int_range(LEAST_MAX_LENGTH, MAX_PASSWORD_LENGTH),
        "The most characters of a new password. NIST SP 800-63B-4 asks that at least 64 be "
        "accepted; the hasher refuses more than 1024.",
    )
    site_name: str | None = setting(
        None,
        optional_str,
        "The site's name, which no new password may contain (with the user's address and "
        "name); default the application's name.",
    )
    blocklist: bool = setting(
        True,
        boolean,
        "Refuse the 100,000 most common passwords shipped with Flask-Bastion, and passwords "
        "that are one short block repeated or one run such as '123456789012345'.",
        danger="False",
    )
    breached_url: str | None = setting(
        None,
        range_api_url,
        "A Pwned Passwords range API ('https://api.pwnedpasswords.com/range') asked, with "
        "k-anonymity, whether a new password is in a breach corpus. None: not asked.",
    )
    breached_fail: str = setting(
        FAIL_OPEN,
        choice(FAIL_OPEN, FAIL_CLOSED),
        "When the range API cannot be asked: 'open' accepts the password (and logs a "
        "warning), 'closed' refuses it with 'try again shortly'.",
    )
    breached_timeout: float = setting(
        2.0,
        seconds(30),
        "Seconds to wait for the range API to connect and for each read.",
    )


#: The parts of the accounts blueprint an application can switch off, each a set of views.
ACCOUNT_FEATURES = ("register", "reset", "email", "sessions", "tokens", "delete")


@dataclass(frozen=True)
class AccountsConfig:
    """Accounts: sign-in, registration, recovery and the account pages (``accounts/``)."""

    url_prefix: str = setting(
        "", url_prefix, "Path prefix of the accounts views (`''` gives `/login`, `/register`...)."
    )
    database_url: str | None = setting(
        None,
        optional_str,
        "Database of the accounts tables when the application passes no session factory; "
        "default `DATABASE_URL`, else SQLite in the instance folder.",
    )
    features: tuple[str, ...] = setting(
        ACCOUNT_FEATURES,
        subset(*ACCOUNT_FEATURES),
        "The optional parts of the blueprint: 'register' (sign-up and email verification), "
        "'reset' (forgot password), 'email' (change of address), 'sessions' (your devices), "
        "'tokens' (personal API tokens), 'delete' (account deletion). Sign-in, sign-out, the "
        "overview and the password change are always there.",
    )
    require_verified_email: bool = setting(
        True,
        boolean,
        "Refuse sign-in until the address is confirmed (the answer is the same as for a "
        "wrong password, so it reveals nothing).",
        danger="False",
    )
    fresh_max_age: int = setting(
        600,
        int_range(30, 86_400),
        "Seconds a sign-in counts as fresh for `fresh_login_required` views (password, "
        "email, tokens, deletion) before the password is asked for again.",
    )
    verify_token_ttl: int = setting(
        86_400, int_range(300, 7 * 86_400), "Seconds an email verification link is valid."
    )
    reset_token_ttl: int = setting(
        3_600, int_range(300, 86_400), "Seconds a password reset link is valid."
    )
    email_token_ttl: int = setting(
        86_400, int_range(300, 7 * 86_400), "Seconds a change-of-address link is valid."
    )
    api_token_max_days: int = setting(
        365,
        int_range(1, 3_650),
        "Longest lifetime, in days, a personal API token may be created with; every token expires.",
    )
    mfa_required_roles: tuple[str, ...] = setting(
        ("admin",),
        string_tuple,
        "Roles whose members must have a second factor: after the password, a member "
        "without one is held on the enrolment page (`/account/mfa/totp`) until it is set up.",
        danger="() (no role must use a second factor)",
    )
    webauthn_rp_id: str | None = setting(
        None,
        optional_str,
        "The WebAuthn relying party ID of passkeys: the site's domain (such as 'example.org'), "
        "which browsers bind every passkey to. Default: the host of `SERVER_NAME`, else the "
        "request's host when `TRUSTED_HOSTS` checked it. Changing it later orphans every "
        "passkey already registered.",
    )
    webauthn_rp_name: str | None = setting(
        None,
        optional_str,
        "The site's name that the browser shows when a passkey is made; default "
        "`BASTION_PASSWORDS_SITE_NAME`, else the application's name.",
    )


@dataclass(frozen=True)
class MailConfig:
    """Outgoing email (``mail.py``)."""

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
    """Encryption of secrets kept at rest (``crypto.py``)."""

    keys: tuple[bytes, ...] | None = setting(
        None,
        crypto_keys,
        "The keys of the key ring that encrypts secrets kept at rest (TOTP secrets), "
        "newest first: each the base64url text of 32 random bytes (`flask bastion "
        "generate-key`). The first encrypts; every one decrypts, so an old key stays listed "
        "until `rotate` has re-encrypted what it protects. Unset: one key derived from "
        "SECRET_KEY (and one from each of SECRET_KEY_FALLBACKS, to decrypt). Never printed: "
        "`flask bastion config` shows it as [redacted].",
    )


@dataclass(frozen=True)
class LockoutConfig:
    """Brute-force and credential-stuffing defence of sign-in (``accounts/throttle.py``)."""

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
