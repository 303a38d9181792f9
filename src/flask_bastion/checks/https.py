"""HTTPS checks (``01x``): the redirect, HSTS and the session cookie's flags.

A response served over plain HTTP, or a cookie that may travel over it, is readable and
rewritable by anyone on the network path; HSTS stops a network attacker from stripping
HTTPS from the first request of a visit.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask

from ..config import BastionConfig
from ..https import EXEMPT
from .registry import WARNING, CheckMessage, about_marked_views, message, register

#: HSTS max-age below this (one year) is reported; it is what preload lists require.
MIN_HSTS_SECONDS = 31_536_000

W011 = message(
    WARNING,
    "BASTION_HTTPS_REDIRECT is off: plain-HTTP requests are served.",
    "Leave it on unless a proxy you control redirects every request to HTTPS.",
    "bastion.W011",
    settings=("BASTION_HTTPS_REDIRECT",),
)
W012 = message(
    WARNING,
    "HSTS is off (BASTION_HTTPS_HSTS_MAX_AGE is 0).",
    "Without HSTS, a network attacker can strip HTTPS from the first request of each visit.",
    "bastion.W012",
    settings=("BASTION_HTTPS_HSTS_MAX_AGE",),
)
W013 = message(
    WARNING,
    f"HSTS max-age is shorter than one year ({MIN_HSTS_SECONDS} seconds).",
    "Raise BASTION_HTTPS_HSTS_MAX_AGE once HTTPS works everywhere on the site.",
    "bastion.W013",
    settings=("BASTION_HTTPS_HSTS_MAX_AGE",),
)
W014 = message(
    WARNING,
    "The session cookie is not Secure.",
    "The session cookie would be sent over plain HTTP. Do not turn off "
    "SESSION_COOKIE_SECURE or replace Flask-Bastion's session interface.",
    "bastion.W014",
    settings=("SESSION_COOKIE_SECURE",),
)
W015 = message(
    WARNING,
    "The session cookie is not HttpOnly.",
    "Any script on the page, including an injected one, can read the session cookie.",
    "bastion.W015",
    settings=("SESSION_COOKIE_HTTPONLY",),
)
W016 = message(
    WARNING,
    "The session cookie is not SameSite 'Lax' or 'Strict'.",
    "SameSite=Lax keeps the session cookie off cross-site subrequests (a CSRF defence in depth).",
    "bastion.W016",
    settings=("SESSION_COOKIE_SAMESITE",),
)


@register(deploy=True)
def check_https_redirect(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    return [] if config.https.redirect else [W011]


@register(deploy=True)
def check_hsts(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    if config.https.hsts_max_age == 0:
        return [W012]
    return [W013] if config.https.hsts_max_age < MIN_HSTS_SECONDS else []


@register(deploy=True)
def check_session_cookie(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    # The cookie actually sent: the session interface answers Flask's cookie hooks
    # (Flask-Bastion's from the cookie it settled at init_app, Flask's own from app.config
    # as it is now), whatever app.config says.
    interface = app.session_interface
    found = []
    if not interface.get_cookie_secure(app):
        found.append(W014)
    if not interface.get_cookie_httponly(app):
        found.append(W015)
    samesite = interface.get_cookie_samesite(app)
    if not isinstance(samesite, str) or samesite.title() not in ("Lax", "Strict"):
        found.append(W016)
    return found


# -- views that weaken the policy ----------------------------------------------------------

W017 = message(
    WARNING,
    "A view is served over plain HTTP (@https_exempt).",
    "Anyone on the network path can read and change that view's requests and responses. "
    "Keep @https_exempt for probes that cannot speak TLS; silence one reviewed view with "
    "'bastion.W017:<endpoint>' in BASTION_SILENCED_CHECKS.",
    "bastion.W017",
    settings=("BASTION_HTTPS_REDIRECT", "BASTION_SILENCED_CHECKS"),
)


@register(deploy=True)
def check_https_exempt_views(app: Flask, config: BastionConfig) -> Iterable[CheckMessage]:
    if not config.https.redirect:  # W011 reports the whole application
        return []
    return about_marked_views(app, EXEMPT, W017)
