"""Origins: the one way Flask-Bastion compares where a request came from with where it
went.

An origin is ``scheme://host[:port]`` (RFC 6454): lower case, without the scheme's
default port, so ``https://App.example.org:443`` and ``https://app.example.org`` are one
origin. The request's own origin is built from the scheme and host that
:mod:`flask_bastion.proxy` settled (never from a forwarded header on its own, and the
host checked against ``TRUSTED_HOSTS`` by Flask when it is set). Lists of trusted origins
(``BASTION_CSRF_TRUSTED_ORIGINS``, ``BASTION_CONTENT_HOTLINK_ALLOW``) match exactly, or
with ``*`` as the whole leftmost label: ``https://*.example.org`` matches
``https://a.example.org``, not ``https://a.b.example.org`` or ``https://example.org``;
a ``*`` anywhere else never matches a real origin.

A wildcard over a public suffix (``https://*.org``, ``https://*.co.uk``,
``https://*.github.io``) would trust every site that anyone can register or publish
there. The configuration refuses one, and :class:`OriginList` makes it match nothing.
Public suffixes come from the Public Suffix List that ``publicsuffixlist`` bundles, both
its ICANN section (``co.uk``) and its private one (``github.io``, ``herokuapp.com``):
each name under a private-section suffix belongs to a different customer of that
hosting service, so a wildcard over one trusts strangers as surely as one over
``co.uk``. The list is consulted when a list of origins is built, never per request.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from flask import Request, request
from publicsuffixlist import PublicSuffixList

_DEFAULT_PORTS = {"http": ":80", "https": ":443"}
_OWN_SITES = frozenset({"same-origin", "none"})
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"


def normalise_origin(origin: str) -> str:
    """``origin`` in lower case without the scheme's default port (``:443`` for https)."""
    origin = origin.lower()
    port = _DEFAULT_PORTS.get(origin.partition("://")[0])
    if port is not None and origin.endswith(port):
        return origin[: -len(port)]
    return origin


def origin_of(url: str) -> str | None:
    """The normalised origin of the absolute ``http(s)`` URL ``url`` (a ``Referer``), or
    ``None`` when it is not one (``null``, a relative path, another scheme)."""
    try:
        # For http(s) a backslash is a slash (the URL standard): the host of
        # "https://evil.example\\@partner.example/" is evil.example, not partner.example.
        parts = urlsplit(url.strip().replace("\\", "/"))
    except ValueError:  # an unbalanced "[" in the host
        return None
    scheme = parts.scheme.lower()
    # Browsers never send credentials in a Referer; drop any "user:pass@" all the same.
    host = parts.netloc.rpartition("@")[2]
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return normalise_origin(f"{scheme}://{host}")


def from_another_site() -> bool:
    """Whether the current request was made by another site's page: its browser said so
    in ``Sec-Fetch-Site``, or (an older browser) its ``Referer`` is a foreign origin. Any
    page can make its visitors' browsers send such requests, so they never count towards
    a ban of the visitor's address (automatic bans, scraping reports)."""
    site = request.environ.get("HTTP_SEC_FETCH_SITE")
    if site is not None:
        return site not in _OWN_SITES
    referer: str | None = request.environ.get("HTTP_REFERER")
    return referer is not None and origin_of(referer) != request_origin(request)


@functools.cache
def _public_suffix_list() -> PublicSuffixList:
    # Loaded on first use (tens of milliseconds), by configuration code only. Unknown
    # top-level domains count as public suffixes, as the list's own "*" rule says.
    return PublicSuffixList(accept_unknown=True, only_icann=False)


def wildcard_public_suffix(origin: str) -> str | None:
    """The public suffix that the wildcard origin ``origin`` spans (``co.uk`` for
    ``https://*.co.uk``, ``github.io`` for ``https://*.GitHub.io:8443``), or ``None`` for
    an exact origin or a wildcard under a registrable domain (``https://*.example.co.uk``).

    Case and a trailing dot make no difference: ``*.CO.UK.`` spans ``co.uk`` too.
    Internationalised suffixes are compared in either spelling (``xn--55qx5d.cn`` is
    ``公司.cn``).
    """
    scheme, wildcard, rest = origin.partition("://*.")
    if not wildcard or not scheme:
        return None
    host = rest.partition(":")[0].lower().removesuffix(".")
    return host if is_public_suffix(host) else None


def is_public_suffix(host: str) -> bool:
    """Whether ``host`` is a public suffix, under which anyone can register or publish a
    site: ``org``, ``co.uk``, ``github.io`` (any case, a trailing dot, an unknown
    top-level domain such as ``example``), not ``example.co.uk``."""
    return _public_suffix_list().is_public(host)


def request_origin(request: Request) -> str:
    """The origin the request was sent to, from the scheme and host that proxy trust
    settled."""
    return normalise_origin(f"{request.scheme}://{request.host}")


class OriginList:
    """A list of trusted origins, exact or with a ``*`` leftmost label, precompiled.

    :param origins: origins as the configuration holds them (already validated).
    """

    __slots__ = ("exact", "patterns")

    def __init__(self, origins: Iterable[str]) -> None:
        normalised = [normalise_origin(origin) for origin in origins]
        #: The origins compared as strings.
        self.exact = frozenset(origin for origin in normalised if "*" not in origin)
        #: The origins with ``*`` as the leftmost label, under a registrable domain: a
        #: wildcard over a public suffix (``https://*.org``, ``https://*.co.uk``,
        #: ``https://*.github.io``) would trust every site anyone can register or publish
        #: there, so it matches nothing (the configuration refuses one). The Public
        #: Suffix List is read here, once; matching a request is one regex per pattern.
        self.patterns = tuple(
            re.compile(
                re.escape(origin[: origin.index("://*.") + 3])
                + _LABEL
                + re.escape(origin[origin.index("://*.") + 4 :])
            )
            for origin in normalised
            if "://*." in origin and wildcard_public_suffix(origin) is None
        )

    def __contains__(self, origin: object) -> bool:
        if not isinstance(origin, str):
            return False
        origin = normalise_origin(origin)
        return origin in self.exact or any(p.fullmatch(origin) for p in self.patterns)

    def __bool__(self) -> bool:
        return bool(self.exact or self.patterns)
