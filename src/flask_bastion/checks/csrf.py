"""CSRF checks (``02x``): protection switched off, or trust extended to origins an
attacker may control (wildcards, plain HTTP).
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask

from ..config import BastionConfig
from ..csrf import EXEMPT
from .registry import WARNING, CheckMessage, about_marked_views, message, register

W021 = message(
    WARNING,
    "CSRF protection is off (BASTION_CSRF_ENABLED).",
    "Any site could then make a logged-in user's browser post forms to the application. "
    "Keep it on; exempt single views with @csrf_exempt instead.",
    "bastion.W021",
    settings=("BASTION_CSRF_ENABLED",),
)
W022 = message(
    WARNING,
    "BASTION_CSRF_TRUSTED_ORIGINS contains a wildcard.",
    "Every matching subdomain may send state-changing requests, so one taken-over or "
    "user-content subdomain is enough for CSRF. List the exact origins.",
    "bastion.W022",
    settings=("BASTION_CSRF_TRUSTED_ORIGINS",),
)
W023 = message(
    WARNING,
    "BASTION_CSRF_TRUSTED_ORIGINS contains a plain-HTTP origin.",
    "A network attacker can inject script into a plain-HTTP page of that origin and post "
    "from it. Trust only https:// origins.",
    "bastion.W023",
    settings=("BASTION_CSRF_TRUSTED_ORIGINS",),
)


@register(deploy=True)
def check_csrf_enabled(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [] if config.csrf.enabled else [W021]


@register()
def check_csrf_wildcard(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [W022] if any("*" in origin for origin in config.csrf.trusted_origins) else []


@register(deploy=True)
def check_csrf_plain_http(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    plain = any(origin.startswith("http://") for origin in config.csrf.trusted_origins)
    return [W023] if plain else []


W024 = message(
    WARNING,
    "A view accepts cross-site requests (@csrf_exempt).",
    "Any site can make a signed-in user's browser send that view forged requests. Keep "
    "@csrf_exempt for views that authenticate every request themselves (a signed webhook); "
    "silence one reviewed view with 'bastion.W024:<endpoint>' in BASTION_SILENCED_CHECKS.",
    "bastion.W024",
    settings=("BASTION_CSRF_ENABLED", "BASTION_SILENCED_CHECKS"),
)


@register(deploy=True)
def check_csrf_exempt_views(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    if not config.csrf.enabled:  # W021 reports the whole application
        return []
    return about_marked_views(app, EXEMPT, W024)
