"""Cross-site request forgery protection: Fetch Metadata and ``Origin`` first, a
synchronizer token as the fallback.

Defends against another site making a user's browser send a state-changing request to
this application with the user's cookies attached (a forged form post, a ``fetch`` in
``no-cors`` mode, login CSRF). Same-origin requests and requests that carry no ambient
authority pass; the view never runs for a rejected one.

The check is the algorithm of Go 1.25's ``net/http.CrossOriginProtection``, which needs
no token because every browser released since 2023 says where a request comes from:

1. ``GET``, ``HEAD`` and ``OPTIONS`` are safe methods and always pass (they must not
   change state; that is the application's side of the contract).
2. ``Sec-Fetch-Site: same-origin`` or ``none`` (typed URL, bookmark) passes; any other
   value (``cross-site``, ``same-site``) is rejected unless the ``Origin`` is a trusted
   origin. Browsers set this header themselves; page script cannot forge it.
3. Without ``Sec-Fetch-Site`` (browsers before 2023), the ``Origin`` header must equal
   the request's own origin, ``scheme://host[:port]`` as :mod:`flask_bastion.proxy`
   settled it, default ports removed; ``Origin: null`` (sandboxed frames, some
   redirects) is rejected. A trusted origin passes too.
4. With neither header the request did not come from a browser form or ``fetch`` of
   the last decade, or a privacy tool stripped them. Go lets it through; Flask-Bastion
   lets it through only when it carries no ambient credential (no authority to abuse)
   and otherwise requires a synchronizer token from the session, sent in the form field
   ``csrf_token`` or the ``X-CSRF-Token`` header. Ambient credentials are the ones a
   browser attaches by itself: **any** cookie (the session's, a remember-me cookie, or
   one the application sets without Flask-Bastion knowing it authenticates) and an
   ``Authorization`` header with the ``Basic``, ``Digest``, ``Negotiate`` or ``NTLM``
   scheme.

Requests authenticated by an ``Authorization`` header that browsers never attach on
their own (a bearer token) and carrying no ambient credential are not subject to the
check: a forged request could only carry the attacker's own credentials. Trusted origins
(``BASTION_CSRF_TRUSTED_ORIGINS``) match exactly, or with ``*`` as the whole leftmost
label (``https://*.example.org`` matches ``https://a.example.org``, not
``https://a.b.example.org`` or ``https://example.org``); a wildcard over a public
suffix (``https://*.co.uk``) is refused by the configuration and matches nothing.

The synchronizer tokens (masked per response, and bound to a cookie for a visitor
without a session) are in :mod:`flask_bastion.csrf.tokens`. See ``docs/csrf.md`` for the
threat model.
"""

from __future__ import annotations

import typing as t

from flask import Flask, Request, current_app

from ..components import SAFE_METHODS, Stage
from ..config import BastionConfig
from ..context import RequestState
from ..markers import View, mark
from ..origins import OriginList, normalise_origin, request_origin
from .tokens import (
    ANONYMOUS_BYTES,
    ANONYMOUS_COOKIE,
    ANONYMOUS_KEY_LABEL,
    REASON_NO_SECRET,
    REASON_TOKEN_INVALID,
    REASON_TOKEN_MISSING,
    SECRET_BYTES,
    SESSION_KEY,
    _token_problem,
    csrf_field,
    csrf_meta,
    csrf_token,
    reject,
    rotate_csrf_secret,
    validate_csrf,
)

__all__ = [
    "ANONYMOUS_BYTES",
    "ANONYMOUS_COOKIE",
    "ANONYMOUS_KEY_LABEL",
    "EXEMPT",
    "REASON_CROSS_ORIGIN",
    "REASON_NO_SECRET",
    "REASON_NULL_ORIGIN",
    "REASON_ORIGIN_MISMATCH",
    "REASON_TOKEN_INVALID",
    "REASON_TOKEN_MISSING",
    "SECRET_BYTES",
    "SESSION_KEY",
    "CSRFProtection",
    "csrf_exempt",
    "csrf_field",
    "csrf_meta",
    "csrf_token",
    "normalise_origin",
    "reject",
    "rotate_csrf_secret",
    "validate_csrf",
]

REASON_CROSS_ORIGIN = "Sec-Fetch-Site: the request was sent from another origin."
REASON_ORIGIN_MISMATCH = "Origin does not match this site's origin."
REASON_NULL_ORIGIN = "Origin is null (a sandboxed or opaque context)."
#: The view mark set by :func:`csrf_exempt` (see :mod:`flask_bastion.markers`).
EXEMPT = "csrf_exempt"
_PASSING_SITES = frozenset({"same-origin", "none"})
# Authorization schemes a browser attaches by itself once the user has logged in to a
# challenge (RFC 7617, 7616, 4559): ambient authority, like a cookie.
_AMBIENT_SCHEMES = frozenset({"basic", "digest", "negotiate", "ntlm"})
V = t.TypeVar("V")


def csrf_exempt(target: V) -> V:
    """Exempt a view function, a class-based view or a whole blueprint from the check.

    Works above or below ``@app.route``, on a :class:`~flask.views.View` subclass, and
    as ``csrf_exempt(blueprint)``, which covers the routes the blueprint and the
    blueprints nested in it register, under every name it is registered with, and no
    other route, whatever its endpoint is called.

    :raises AssertionError: for a blueprint that is already registered, like every
        blueprint setup method.

    .. danger:: An exempt view accepts forged requests. Use it only for endpoints that
       authenticate every request themselves (a webhook verifying a signature), never
       for views that rely on a cookie or on HTTP authentication.
    """
    return mark(target, EXEMPT, True)


class CSRFProtection:
    """Component: rejects cross-origin unsafe requests before the view runs."""

    name = "csrf"
    stage = Stage.FORGERY

    def __init__(self, config: BastionConfig) -> None:
        csrf = config.csrf
        self.enabled = csrf.enabled
        self.token_header = csrf.token_header
        self.field_name = csrf.field_name
        #: ``BASTION_CSRF_TRUSTED_ORIGINS``, exact or with a ``*`` leftmost label.
        self.trusted = OriginList(csrf.trusted_origins)

    def init_app(self, app: Flask) -> None:
        """Register the template globals ``csrf_token``, ``csrf_field`` and ``csrf_meta``."""
        app.jinja_env.globals.update(
            csrf_token=csrf_token, csrf_field=csrf_field, csrf_meta=csrf_meta
        )

    def runs_for(self, endpoint: str | None, safe: bool) -> bool:
        """Only unsafe methods can be forged."""
        return not safe

    def before_request(self, request: Request, state: RequestState) -> None:
        """Reject a forged unsafe request.

        :raises CSRFError: with one of the ``REASON_*`` constants, unless the view or its
            blueprint is exempt.
        """
        if request.method in SAFE_METHODS or state.stateless:
            return
        if not self.enabled:
            return
        reason = self.forgery_reason(request)
        if reason is not None and not View(current_app, request.endpoint).get(EXEMPT, False):
            reject(reason)

    def is_trusted(self, origin: str) -> bool:
        """Whether ``origin`` is one of ``BASTION_CSRF_TRUSTED_ORIGINS``."""
        return origin in self.trusted

    def forgery_reason(self, request: Request) -> str | None:
        """Why the unsafe ``request`` may be forged, or ``None`` when it passes."""
        environ = request.environ
        authorization = environ.get("HTTP_AUTHORIZATION", "").split(None, 1)
        # Any cookie counts, not only the session's: a remember-me cookie, or one the
        # application reads itself, authenticates a forged request just as well, and
        # Flask-Bastion cannot know which of the application's cookies do.
        ambient = bool(environ.get("HTTP_COOKIE")) or (
            bool(authorization) and authorization[0].lower() in _AMBIENT_SCHEMES
        )
        if authorization and not ambient:
            return None
        site = environ.get("HTTP_SEC_FETCH_SITE")
        origin = environ.get("HTTP_ORIGIN")
        if site:
            if site in _PASSING_SITES or (origin and self.is_trusted(origin)):
                return None
            return REASON_CROSS_ORIGIN
        if origin:
            if origin == "null":
                return REASON_NULL_ORIGIN
            if normalise_origin(origin) == request_origin(request) or self.is_trusted(origin):
                return None
            return REASON_ORIGIN_MISMATCH
        if not ambient:
            return None
        token = request.headers.get(self.token_header) or request.form.get(self.field_name)
        return _token_problem(token)
