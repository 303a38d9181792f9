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

from .basic import (
    CRYPTO_KEY_BYTES,
    RESERVED_RESPONSE_HEADERS,
    Invalid,
    IPAddress,
    IPNetwork,
    boolean,
    choice,
    crypto_keys,
    header_token,
    identifier,
    int_range,
    ip_address,
    networks,
    non_negative_int,
    optional_str,
    origins,
    positive_int,
    response_header,
    seconds,
    setting,
    string_tuple,
    subset,
    url_prefix,
    visible_ascii,
)
from .content import (
    endpoint_patterns,
    path_prefixes,
    robots_tag,
)
from .headers import (
    csp_policy,
    feature_allowlists,
    report_url,
)
from .mail import (
    MAX_WAIT_SECONDS,
    MailServer,
    base_url,
    mail_address,
    mail_server,
    mail_url,
)
from .ratelimit import (
    STORAGE_SCHEMES,
    rate_limits,
    storage_url,
)

__all__ = [
    "CRYPTO_KEY_BYTES",
    "MAX_WAIT_SECONDS",
    "RESERVED_RESPONSE_HEADERS",
    "STORAGE_SCHEMES",
    "IPAddress",
    "IPNetwork",
    "Invalid",
    "MailServer",
    "base_url",
    "boolean",
    "choice",
    "crypto_keys",
    "csp_policy",
    "endpoint_patterns",
    "feature_allowlists",
    "header_token",
    "identifier",
    "int_range",
    "ip_address",
    "mail_address",
    "mail_server",
    "mail_url",
    "networks",
    "non_negative_int",
    "optional_str",
    "origins",
    "path_prefixes",
    "positive_int",
    "rate_limits",
    "report_url",
    "response_header",
    "robots_tag",
    "seconds",
    "setting",
    "storage_url",
    "string_tuple",
    "subset",
    "url_prefix",
    "visible_ascii",
]
