"""Response header checks (``04x``): framing by other sites (clickjacking) and a
Referrer-Policy that leaks full URLs to them.
"""

from __future__ import annotations

import typing as t
from collections.abc import Iterable, Mapping

from flask import Flask

from ..config import BastionConfig, HeadersConfig
from ..headers import OVERRIDES
from ..markers import marked_views
from .registry import WARNING, CheckMessage, message, register

W041 = message(
    WARNING,
    "Pages can be framed by any site: X-Frame-Options is off and the CSP has no frame-ancestors.",
    "Keep BASTION_HEADERS_FRAME_OPTIONS or a frame-ancestors directive to prevent clickjacking.",
    "bastion.W041",
    settings=(
        "BASTION_HEADERS_FRAME_OPTIONS",
        "BASTION_CSP_ENABLED",
        "BASTION_CSP_REPORT_ONLY",
        "BASTION_CSP_POLICY",
    ),
)
W042 = message(
    WARNING,
    "Referrer-Policy sends full URLs to other sites.",
    "URLs can carry tokens and private paths; use 'strict-origin-when-cross-origin'.",
    "bastion.W042",
    settings=("BASTION_HEADERS_REFERRER_POLICY",),
)


@register()
def check_framing(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    csp_guards = (
        config.csp.enabled and not config.csp.report_only and "frame-ancestors" in config.csp.policy
    )
    return [] if config.headers.frame_options or csp_guards else [W041]


@register()
def check_referrer_policy(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    leaky = ("unsafe-url", "no-referrer-when-downgrade")
    return [W042] if config.headers.referrer_policy in leaky else []


W043 = message(
    WARNING,
    "A view weakens a security header (@security_headers).",
    "The view omits a header or sets a looser value than the application's (framing "
    "allowed, a leakier Referrer-Policy, cross-origin embedding, a feature allowed). "
    "Silence one reviewed view with 'bastion.W043:<endpoint>' in BASTION_SILENCED_CHECKS.",
    "bastion.W043",
    settings=(
        "BASTION_HEADERS_FRAME_OPTIONS",
        "BASTION_HEADERS_REFERRER_POLICY",
        "BASTION_HEADERS_CROSS_ORIGIN_OPENER_POLICY",
        "BASTION_HEADERS_CROSS_ORIGIN_RESOURCE_POLICY",
        "BASTION_HEADERS_PERMISSIONS_POLICY",
        "BASTION_HEADERS_ORIGIN_AGENT_CLUSTER",
    ),
)

#: Values from strictest to loosest; omitting the header (``None``) is loosest. The
#: Referrer-Policy order ranks how much of the URL leaves the site, and to whom.
_RANKS: dict[str, list[object]] = {
    "frame_options": ["DENY", "SAMEORIGIN", None],
    "referrer_policy": [
        "no-referrer",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
        "origin",
        "origin-when-cross-origin",
        "no-referrer-when-downgrade",
        "unsafe-url",
        None,
    ],
    "cross_origin_opener_policy": [
        "same-origin",
        "noopener-allow-popups",
        "same-origin-allow-popups",
        "unsafe-none",
        None,
    ],
    "cross_origin_resource_policy": ["same-origin", "same-site", "cross-origin", None],
    "origin_agent_cluster": [True, False],
}


def weakened_headers(config: HeadersConfig, overrides: dict[str, object]) -> list[str]:
    """The header settings ``overrides`` loosens compared with ``config``."""
    found = []
    for name, value in overrides.items():
        current = getattr(config, name)
        if name == "permissions_policy":
            allowlists = t.cast("Mapping[str, tuple[str, ...]]", value)
            wider = any(
                feature not in allowlists or not set(allowlists[feature]) <= set(allowed)
                for feature, allowed in current.items()
            )
            if wider:
                found.append(name)
        elif _RANKS[name].index(value) > _RANKS[name].index(current):
            found.append(name)
    return found


@register(deploy=True)
def check_weakened_header_views(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [
        W043.about(str(view.endpoint))
        for view in marked_views(app)
        if weakened_headers(config.headers, view.get(OVERRIDES, {}))
    ]
