"""Configuration of the request and response protections: core, proxy, HTTPS,
headers, CSP, errors, inputs and CSRF."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..parsers import (
    IPNetwork,
    boolean,
    choice,
    csp_policy,
    feature_allowlists,
    header_token,
    identifier,
    networks,
    non_negative_int,
    origins,
    positive_int,
    report_url,
    response_header,
    setting,
    string_tuple,
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
