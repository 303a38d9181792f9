"""Parsers of the content-protection settings: endpoint patterns, path prefixes and the
``X-Robots-Tag`` value."""

from __future__ import annotations

import re

from .basic import Invalid, string_tuple

_ENDPOINT_PATTERN_RE = re.compile(r"[A-Za-z0-9_.*-]+")
_PATH_PREFIX_RE = re.compile(r"(/[A-Za-z0-9._~-]+)+")
#: Visible ASCII and inner spaces: a header value that cannot carry a line break (a
#: header of its own) into every private response.
_ROBOTS_RE = re.compile(r"[!-~](?:[ -~]{0,198}[!-~])?")


def endpoint_patterns(value: object) -> tuple[str, ...]:
    """Endpoint names such as ``static``, where ``*`` matches any run of characters
    (``*.static`` is every blueprint's static files)."""
    try:
        items = string_tuple(value)
    except Invalid:
        raise Invalid("expected a list of endpoint names such as 'static' or '*.static'") from None
    for item in items:
        if not _ENDPOINT_PATTERN_RE.fullmatch(item):
            raise Invalid(f"{item!r} is not an endpoint name such as 'static' or '*.static'")
    return items


def path_prefixes(value: object) -> tuple[str, ...]:
    """URL path prefixes such as ``/admin``: ``/`` and path segments, no trailing ``/``."""
    try:
        items = string_tuple(value)
    except Invalid:
        raise Invalid("expected a list of paths such as '/admin'") from None
    for item in items:
        if not _PATH_PREFIX_RE.fullmatch(item):
            raise Invalid(f"{item!r} is not a path such as '/admin' (no trailing '/')")
    return items


def robots_tag(value: object) -> str | None:
    """``None``, or an ``X-Robots-Tag`` value: visible ASCII and inner spaces, at most 200
    characters (``noindex, nofollow``)."""
    if value is None:
        return None
    if isinstance(value, str) and _ROBOTS_RE.fullmatch(value):
        return value
    raise Invalid("expected None or directives such as 'noindex, nofollow'")
