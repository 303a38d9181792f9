"""Parsers for setting values: each takes the raw value and returns the typed one or
raises :class:`Invalid` saying what was expected."""

from __future__ import annotations

import ipaddress
import re
import typing as t
from collections.abc import Callable, Mapping
from dataclasses import field

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

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


def non_negative_int(value: object) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise Invalid("expected a non-negative integer")


def positive_int(value: object) -> int:
    number = non_negative_int(value)
    if number == 0:
        raise Invalid("expected a positive integer")
    return number


def string_tuple(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple | set | frozenset) and all(
        isinstance(item, str) for item in value
    ):
        return tuple(value)
    raise Invalid("expected a list of strings (or one comma-separated string)")


def networks(value: object) -> tuple[IPNetwork, ...]:
    networks = []
    for item in string_tuple(value):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise Invalid(f"{item!r} is not an IP network like '10.0.0.0/8'") from None
    return tuple(networks)


def optional_str(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    raise Invalid("expected a string or None")


def header_token(value: object) -> str:
    if isinstance(value, str) and value and all(c.isalnum() or c == "-" for c in value):
        return value
    raise Invalid("expected a header name such as 'X-Request-ID'")


_ORIGIN_RE = re.compile(r"^https?://[A-Za-z0-9*.\[\]:-]+$")


def origins(value: object) -> tuple[str, ...]:
    """Origins such as ``https://app.example.org`` (scheme, host, optional port; no path).
    A ``*`` label (``https://*.example.org``) matches any one subdomain level."""
    result = string_tuple(value)
    for item in result:
        if not _ORIGIN_RE.match(item):
            raise Invalid(f"{item!r} is not an origin like 'https://app.example.org'")
    return tuple(item.lower() for item in result)


def identifier(value: object) -> str:
    """A cookie, table or field name: letters, digits, ``_``, ``-`` and ``.``."""
    if isinstance(value, str) and value and all(c.isalnum() or c in "_-." for c in value):
        return value
    raise Invalid("expected a name of letters, digits, '_', '-' and '.'")


def choice(*choices: str | None) -> Callable[[object], t.Any]:
    def parse(value: object) -> str | None:
        if value in choices:
            return value
        raise Invalid("expected one of " + ", ".join(repr(c) for c in choices))

    parse.choices = choices  # type: ignore[attr-defined]
    return parse


def directive_map(value: object) -> Mapping[str, tuple[str, ...]]:
    """A mapping of CSP directive or Permissions-Policy feature -> tuple of sources."""
    if not isinstance(value, Mapping):
        raise Invalid("expected a mapping of name -> list of values")
    result: dict[str, tuple[str, ...]] = {}
    for name, sources in value.items():
        if not isinstance(name, str) or not name or not all(c.isalnum() or c == "-" for c in name):
            raise Invalid(f"{name!r} is not a directive or feature name")
        if isinstance(sources, str):
            sources = sources.split()
        result[name] = string_tuple(sources)
    return result


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
