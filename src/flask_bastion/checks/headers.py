"""Response header checks (``04x``): framing by other sites (clickjacking) and a
Referrer-Policy that leaks full URLs to them.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask

from ..config import BastionConfig
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
