"""Parsers for setting values: each takes the raw value and returns the typed one or
raises :class:`Invalid` saying what was expected.

Many settings end up in response headers: the CSP, Permissions-Policy,
Reporting-Endpoints, header and cookie names. Their parsers accept only what the
header's grammar allows, so that no value can carry a line break (a header of its own,
such as ``Set-Cookie``), a ``;`` (a CSP directive of its own) or a ``,`` (a list member
of its own) into every response. Validation uses ``fullmatch``: ``$`` in ``re.match``
also matches before a trailing newline.
"""

from __future__ import annotations

import base64
import email.policy
import ipaddress
import re
import typing as t
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class Invalid(ValueError):
    """A value could not be parsed; the message says what was expected."""


def boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):  # from_prefixed_env parses "1" as 1
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise Invalid("expected a boolean (True/False, 1/0, or 'true'/'false' from the environment)")


#: ASCII digits only: ``str.isdigit`` is also true for "²" (which ``int`` refuses) and
#: for digits of other scripts.
_DIGITS_RE = re.compile(r"[0-9]+")
_DECIMAL_RE = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,6})?")


def non_negative_int(value: object) -> int:
    if isinstance(value, str) and _DIGITS_RE.fullmatch(value.strip()):
        try:
            value = int(value)
        except ValueError:  # more digits than int() converts
            raise Invalid("expected a non-negative integer of reasonable size") from None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise Invalid("expected a non-negative integer")


def positive_int(value: object) -> int:
    number = non_negative_int(value)
    if number == 0:
        raise Invalid("expected a positive integer")
    return number


def int_range(low: int, high: int) -> Callable[[object], int]:
    """A parser of integers from ``low`` (0 or more) to ``high``, both included: for
    values that code further on stores in a fixed-size integer, or that make no sense
    past a bound."""
    message = f"expected an integer from {low} to {high}"

    def parse(value: object) -> int:
        try:
            number = non_negative_int(value)
        except Invalid:
            raise Invalid(message) from None
        if not low <= number <= high:
            raise Invalid(message)
        return number

    parse.__name__ = parse.__qualname__ = "int_range"
    parse.bounds = (low, high)  # type: ignore[attr-defined]
    return parse


def seconds(high: float) -> Callable[[object], float]:
    """A parser of a number of seconds above 0 and at most ``high``: an int, a float or
    a decimal string such as ``'0.5'`` (from the environment)."""
    message = f"expected a number of seconds above 0 and at most {high}"

    def parse(value: object) -> float:
        if isinstance(value, str) and _DECIMAL_RE.fullmatch(value.strip()):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid(message)
        if not 0 < value <= high:  # NaN fails this too
            raise Invalid(message)
        return float(value)

    parse.__name__ = parse.__qualname__ = "seconds"
    parse.bounds = (0, high)  # type: ignore[attr-defined]
    return parse


def string_tuple(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple | set | frozenset) and all(
        isinstance(item, str) for item in value
    ):
        return tuple(value)
    raise Invalid("expected a list of strings (or one comma-separated string)")


#: An IPv6 zone ID as operating systems name interfaces (``eth0``, ``en0``, ``12``).
#: ``ipaddress`` accepts any text after the ``%``, quotes and spaces included.
_ZONE_RE = re.compile(r"[A-Za-z0-9_.-]{1,15}")


def ip_address(text: str) -> IPAddress:
    """``text`` as an IP address, without its zone ID (``fe80::1%eth0`` is ``fe80::1``).

    A zone names an interface of the host that wrote the address, so it means nothing
    to the application; only a plain interface name is accepted, and then dropped.

    :raises ValueError: when ``text`` is not an IP address, or its zone ID is not a
        plain interface name.
    """
    address, percent, zone = text.partition("%")
    if not percent:
        return ipaddress.ip_address(text)
    if not _ZONE_RE.fullmatch(zone):
        raise ValueError(f"{text!r} has a zone ID that is not an interface name")
    return ipaddress.IPv6Address(address)


def networks(value: object) -> tuple[IPNetwork, ...]:
    networks = []
    for item in string_tuple(value):
        address, slash, prefix = item.partition("/")
        try:
            networks.append(ipaddress.ip_network(f"{ip_address(address)}{slash}{prefix}", False))
        except ValueError:
            raise Invalid(f"{item!r} is not an IP network like '10.0.0.0/8'") from None
    return tuple(networks)


def optional_str(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    raise Invalid("expected a string or None")


#: ASCII only: ``str.isalnum`` is true for letters and digits of every script.
_HEADER_NAME_RE = re.compile(r"[A-Za-z0-9-]+")
_IDENTIFIER_RE = re.compile(r"[A-Za-z0-9_.-]+")
_ORIGIN_RE = re.compile(r"https?://[A-Za-z0-9*.\[\]:-]+")
_VISIBLE_ASCII_RE = re.compile(r"[!-~]{1,64}")


def header_token(value: object) -> str:
    if isinstance(value, str) and _HEADER_NAME_RE.fullmatch(value):
        return value
    raise Invalid("expected a header name such as 'X-Request-ID'")


#: Response headers that a value of the application's choosing must never be sent as.
#: Hop-by-hop and framing headers make servers and proxies refuse or misread the
#: response (RFC 9110 section 7.6.1, RFC 9112 section 6); the others redirect, set
#: cookies, clear the browser's data, prompt for credentials, change caching or
#: retries, or, as a second copy of a security header Flask-Bastion sends, change what
#: it means (browsers ignore two ``X-Frame-Options`` that disagree).
RESERVED_RESPONSE_HEADERS = frozenset(
    {
        # hop-by-hop
        "connection", "keep-alive", "proxy-connection", "te", "trailer",
        "transfer-encoding", "upgrade",
        # framing and representation
        "content-length", "content-type", "content-encoding", "content-range",
        "content-disposition", "content-location", "host",
        # state, navigation and authentication
        "set-cookie", "location", "refresh", "clear-site-data", "www-authenticate",
        "proxy-authenticate",
        # caching and retries
        "cache-control", "expires", "pragma", "vary", "age", "etag", "last-modified",
        "retry-after",
        # the security headers Flask-Bastion sends
        "content-security-policy", "content-security-policy-report-only",
        "strict-transport-security", "x-frame-options", "x-content-type-options",
        "x-permitted-cross-domain-policies", "referrer-policy", "permissions-policy",
        "cross-origin-opener-policy", "cross-origin-resource-policy",
        "cross-origin-embedder-policy", "origin-agent-cluster", "reporting-endpoints",
    }
)  # fmt: skip


def response_header(value: object) -> str:
    """A header name of Flask-Bastion's own to add to every response: not one of
    :data:`RESERVED_RESPONSE_HEADERS`, in any case."""
    name = header_token(value)
    if name.lower() in RESERVED_RESPONSE_HEADERS:
        raise Invalid(
            f"{name!r} is a header with its own meaning in HTTP or one Flask-Bastion sends; "
            "expected a name of its own such as 'X-Request-ID'"
        )
    return name


def origins(value: object) -> tuple[str, ...]:
    """Origins such as ``https://app.example.org`` (scheme, host, optional port; no path).
    A ``*`` label (``https://*.example.org``) matches any one subdomain level."""
    result = string_tuple(value)
    for item in result:
        if not _ORIGIN_RE.fullmatch(item):
            raise Invalid(f"{item!r} is not an origin like 'https://app.example.org'")
    return tuple(item.lower() for item in result)


def identifier(value: object) -> str:
    """A cookie, table or field name: letters, digits, ``_``, ``-`` and ``.``."""
    if isinstance(value, str) and _IDENTIFIER_RE.fullmatch(value):
        return value
    raise Invalid("expected a name of letters, digits, '_', '-' and '.'")


def visible_ascii(value: object) -> str:
    """1 to 64 visible ASCII characters: no spaces or control characters. For the Redis
    key prefix, where an empty prefix would mix the store's keys, such as ``user:<id>``,
    with the application's own."""
    if isinstance(value, str) and _VISIBLE_ASCII_RE.fullmatch(value):
        return value
    raise Invalid("expected 1 to 64 visible ASCII characters, such as 'bastion:session:'")


def choice(*choices: str | None) -> Callable[[object], t.Any]:
    def parse(value: object) -> str | None:
        if value in choices:
            return value
        raise Invalid("expected one of " + ", ".join(repr(c) for c in choices))

    parse.choices = choices  # type: ignore[attr-defined]
    return parse


#: What separates the sources in a space-separated string: ASCII whitespace only, as in
#: the CSP grammar, so that other whitespace stays in a token and is refused there.
_ASCII_WHITESPACE_RE = re.compile(r"[\t\n\f\r ]+")
_CSP_DIRECTIVE_RE = re.compile(r"[A-Za-z0-9-]+")
#: A token of a CSP value: visible ASCII except ``;`` (ends the directive) and ``,``
#: (ends the policy).
_CSP_TOKEN_RE = re.compile(r"[!-+\--:<-~]+")
#: Keyword sources (W3C CSP Level 3 and the specifications that extend it), matched
#: without case like browsers do. "'nonce'" is the placeholder for the response's nonce.
_CSP_KEYWORDS = frozenset(
    {
        "'self'", "'none'", "'unsafe-inline'", "'unsafe-eval'", "'strict-dynamic'",
        "'unsafe-hashes'", "'report-sample'", "'unsafe-allow-redirects'",
        "'wasm-unsafe-eval'", "'inline-speculation-rules'", "'trusted-types-eval'",
        "'report-sha256'", "'report-sha384'", "'report-sha512'", "'nonce'",
    }
)  # fmt: skip
_CSP_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*"
_CSP_SCHEME_SOURCE_RE = re.compile(_CSP_SCHEME + ":")
_CSP_HOST_SOURCE_RE = re.compile(
    rf"(?:{_CSP_SCHEME}://)?"
    r"(?:\*|(?:\*\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?)"  # host
    r"(?::(?:[0-9]+|\*))?"  # port
    r"(?:/[A-Za-z0-9\-._~%!$&'()*+=:@/]*)?"  # path
)
_CSP_NONCE_OR_HASH_RE = re.compile(r"'(nonce|sha256|sha384|sha512)-[A-Za-z0-9+/_-]+={0,2}'", re.I)
#: Directives whose value is a source list; the others (``sandbox``, ``trusted-types``,
#: ``report-to``, ...) take their own tokens, which are checked as tokens only.
_CSP_SOURCE_LIST_DIRECTIVES = frozenset({"base-uri", "form-action", "frame-ancestors"})
_FEATURE_RE = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_ALLOWLIST_ORIGIN_RE = re.compile(
    r"https?://(?:\*\.)?(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?"
)
_URL_CHARS = r"[A-Za-z0-9\-._~:/?#\[\]@!$&()*+=%]"
_REPORT_URL_RE = re.compile(
    r"https?://(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?"
    rf"(?:/{_URL_CHARS}*)?"
    rf"|/(?!/){_URL_CHARS}*"
)


def _named_lists(value: object, name_re: re.Pattern[str], what: str) -> dict[str, tuple[str, ...]]:
    """A mapping of name -> tuple of values, names in lower case and given once."""
    if not isinstance(value, Mapping):
        raise Invalid("expected a mapping of name -> list of values")
    result: dict[str, tuple[str, ...]] = {}
    for name, items in value.items():
        if not isinstance(name, str) or not name_re.fullmatch(name):
            raise Invalid(f"{name!r} is not a {what} name")
        if name.lower() in result:
            raise Invalid(f"{name!r} is given twice")
        if isinstance(items, str):
            items = [item for item in _ASCII_WHITESPACE_RE.split(items) if item]
        result[name.lower()] = string_tuple(items)
    return result


def _csp_source(directive: str, source: str) -> str:
    if not _CSP_TOKEN_RE.fullmatch(source):
        raise Invalid(
            f"{source!r} in {directive} is not one CSP token: no spaces, control characters, "
            "';' or ','"
        )
    if not (directive.endswith("-src") or directive in _CSP_SOURCE_LIST_DIRECTIVES):
        return source
    if source.lower() in _CSP_KEYWORDS:
        return source.lower()
    nonce_or_hash = _CSP_NONCE_OR_HASH_RE.fullmatch(source)
    if nonce_or_hash and nonce_or_hash.group(1).lower() == "nonce":
        raise Invalid(
            f"{source!r} in {directive} is a fixed nonce, which every visitor can read; "
            "write \"'nonce'\" for a fresh nonce per response"
        )
    if nonce_or_hash:
        return source
    if f"'{source.lower()}'" in _CSP_KEYWORDS:
        raise Invalid(f"{source!r} in {directive} is a keyword and must be quoted: \"'{source}'\"")
    if _CSP_SCHEME_SOURCE_RE.fullmatch(source) or _CSP_HOST_SOURCE_RE.fullmatch(source):
        return source
    raise Invalid(
        f"{source!r} in {directive} is not a CSP source: a quoted keyword such as \"'self'\", "
        "a hash, a scheme such as 'https:' or a host such as 'https://cdn.example.org'"
    )


def csp_policy(value: object) -> dict[str, tuple[str, ...]]:
    """A Content-Security-Policy as directive -> sources, each source checked against
    the grammar of W3C CSP Level 3."""
    policy = _named_lists(value, _CSP_DIRECTIVE_RE, "CSP directive")
    return {name: tuple(_csp_source(name, s) for s in sources) for name, sources in policy.items()}


def feature_allowlists(value: object) -> dict[str, tuple[str, ...]]:
    """A Permissions-Policy as feature -> allowlist of ``self``, ``*`` and origins."""
    policy = _named_lists(value, _FEATURE_RE, "Permissions-Policy feature")
    for feature, allowlist in policy.items():
        for item in allowlist:
            if item not in ("self", "*") and not _ALLOWLIST_ORIGIN_RE.fullmatch(item):
                raise Invalid(
                    f"{item!r} in {feature} is not self, * or an origin such as "
                    "'https://maps.example.org' (an empty list denies the feature)"
                )
    return policy


def report_url(value: object) -> str | None:
    """``None``, an absolute ``http(s)`` URL or an absolute path, as one header token."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and _REPORT_URL_RE.fullmatch(value):
        return value
    raise Invalid(
        "expected None, a URL such as 'https://example.org/csp-reports' or a path such as "
        "'/csp-reports', without spaces, quotes, ';' or ','"
    )


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


#: Bytes in a key of the key ring: AES-256.
CRYPTO_KEY_BYTES = 32
_BASE64URL_RE = re.compile(r"[A-Za-z0-9_-]+={0,2}")


def crypto_keys(value: object) -> tuple[bytes, ...] | None:
    """``None``, or a list (newest first) of keys, each the base64url text of 32 bytes;
    from the environment, one comma-separated string. The error never shows a key."""
    if value is None:
        return None
    try:
        texts = string_tuple(value)
    except Invalid:
        raise Invalid("expected a list of base64url keys (or one comma-separated string)") from None
    if not texts:
        raise Invalid("expected at least one key; leave the setting unset to derive one")
    keys: list[bytes] = []
    for number, text in enumerate(texts, 1):
        bare = text.rstrip("=")
        key = b""
        if _BASE64URL_RE.fullmatch(text):
            try:
                key = base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
            except ValueError:  # a length no base64 text has (one character too many)
                key = b""
        if len(key) != CRYPTO_KEY_BYTES:
            raise Invalid(
                f"key {number} is not the base64url text of {CRYPTO_KEY_BYTES} bytes "
                "(`flask bastion generate-key` prints one)"
            )
        if key in keys:
            raise Invalid(f"key {number} is listed twice")
        keys.append(key)
    return tuple(keys)


def setting(
    default: t.Any, parse: Callable[[object], t.Any], doc: str, *, danger: str = ""
) -> t.Any:
    """Declare one setting: its default, its parser and one line of documentation.

    :param danger: set on options that weaken security; shown in the configuration
        reference and in ``flask bastion config``.
    """
    meta = {"parse": parse, "doc": doc, "danger": danger}
    if isinstance(default, Mapping):
        frozen = dict(default)
        return field(default_factory=lambda: dict(frozen), metadata=meta)
    return field(default=default, metadata=meta)


_URL_PREFIX_RE = re.compile(r"(/[A-Za-z0-9._~-]+)*")


def url_prefix(value: object) -> str:
    """A URL path prefix for a blueprint: empty, or ``/`` followed by path segments of
    unreserved characters, without a trailing ``/``."""
    if isinstance(value, str) and _URL_PREFIX_RE.fullmatch(value):
        return value
    raise Invalid("expected '' or a path such as '/auth' (no trailing '/')")


def subset(*choices: str) -> Callable[[object], tuple[str, ...]]:
    """A parser of a list (or comma-separated string) of names taken from ``choices``."""

    def parse(value: object) -> tuple[str, ...]:
        try:
            names = string_tuple(value)
        except Invalid:
            raise Invalid("expected a list of: " + ", ".join(choices)) from None
        unknown = [name for name in names if name not in choices]
        if unknown:
            raise Invalid(f"unknown {unknown[0]!r}; expected any of " + ", ".join(choices))
        return tuple(dict.fromkeys(names))

    parse.__name__ = parse.__qualname__ = "subset"
    parse.members = choices  # type: ignore[attr-defined]
    return parse
