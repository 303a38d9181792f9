"""Parsers of values that end up in security headers: CSP and Permissions-Policy."""

from __future__ import annotations

import re
from collections.abc import Mapping

from .basic import Invalid, not_over_public_suffix, string_tuple

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
    """A Permissions-Policy as feature -> allowlist of ``self``, ``*`` and origins; an
    origin may be a wildcard (``https://*.example.org``), not over a public suffix."""
    policy = _named_lists(value, _FEATURE_RE, "Permissions-Policy feature")
    for feature, allowlist in policy.items():
        for item in allowlist:
            if item not in ("self", "*") and not _ALLOWLIST_ORIGIN_RE.fullmatch(item):
                raise Invalid(
                    f"{item!r} in {feature} is not self, * or an origin such as "
                    "'https://maps.example.org' (an empty list denies the feature)"
                )
            not_over_public_suffix(item)
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
