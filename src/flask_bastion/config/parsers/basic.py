"""Parsers of plain values: booleans, numbers, lists, networks, names, keys."""

from __future__ import annotations

import base64
import ipaddress
import re
import typing as t
from collections.abc import Callable, Mapping
from dataclasses import field

from ...origins import wildcard_public_suffix

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
        "x-robots-tag", "ratelimit", "ratelimit-policy",
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
    A ``*`` label (``https://*.example.org``) matches any one subdomain level, and is
    refused over a public suffix (``https://*.co.uk``, ``https://*.github.io``), where
    anyone can register or publish a site (:mod:`flask_bastion.origins`)."""
    result = string_tuple(value)
    for item in result:
        if not _ORIGIN_RE.fullmatch(item):
            raise Invalid(f"{item!r} is not an origin like 'https://app.example.org'")
        not_over_public_suffix(item)
    return tuple(item.lower() for item in result)


def not_over_public_suffix(origin: str) -> str:
    """``origin``, unless it is a wildcard over a public suffix (``https://*.co.uk``)."""
    suffix = wildcard_public_suffix(origin)
    if suffix is not None:
        raise Invalid(
            f"{origin!r} would trust every site under the public suffix {suffix}; list "
            f"exact origins, or a wildcard under a domain of your own such as "
            f"'https://*.example.{suffix}'"
        )
    return origin


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
