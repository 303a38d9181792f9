"""The view guards of accounts: :func:`login_required` and :func:`fresh_login_required`,
and the answers they give a visitor who is not signed in, or not recently enough."""

from __future__ import annotations

import typing as t
from collections.abc import Callable

from flask import abort, redirect, request, url_for

from ..guards import guard_view
from .core import current_user, login_fresh
from .nexturl import safe_next

F = t.TypeVar("F", bound=Callable[..., t.Any])


def wants_json() -> bool:
    """Whether the client asked for JSON rather than a page."""
    accept = request.accept_mimetypes
    best = accept.best_match(["text/html", "application/json", "application/problem+json"])
    return best in ("application/json", "application/problem+json") or (
        request.is_json and all(value != "text/html" for value, _ in accept)
    )


def _login_url(endpoint: str) -> str:
    target = request.full_path if request.query_string else request.path
    return url_for(endpoint, next=safe_next(target) or None)


def sign_in_first() -> t.Any:
    """``None`` for a signed-in user; otherwise the answer of :func:`login_required`: a
    redirect to the sign-in page (which brings the visitor back here).

    :raises Unauthorized: instead, when the client asked for JSON or sent credentials.
    """
    if current_user.is_authenticated:
        return None
    if wants_json() or request.authorization is not None:
        abort(401)
    return redirect(_login_url("bastion_accounts.login"), 303)


def login_required(view: F) -> F:
    """Let only a signed-in user reach ``view`` (``async def`` too): others are sent to
    the sign-in page (which brings them back here), or get a 401 problem document when
    they asked for JSON."""
    return guard_view(view, lambda kwargs: sign_in_first())


def fresh_login_required(view: F | None = None, *, max_age: int | None = None) -> t.Any:
    """Like :func:`login_required`, and the password must have been entered within
    ``max_age`` seconds (default ``BASTION_ACCOUNTS_FRESH_MAX_AGE``); otherwise the user
    confirms it on ``/account/confirm`` and comes back. Guards the changes an attacker
    with a stolen session would want most: password, address, tokens, deletion."""

    def check(kwargs: dict[str, t.Any]) -> t.Any:
        if not current_user.is_authenticated:
            return sign_in_first()
        if not login_fresh(max_age):
            if wants_json() or request.authorization is not None:
                abort(401)
            return redirect(_login_url("bastion_accounts.confirm"), 303)
        return None

    def decorate(view: F) -> F:
        return guard_view(view, check)

    return decorate(view) if view is not None else decorate
