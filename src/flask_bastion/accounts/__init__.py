"""Accounts: the whole life cycle of a user account from one component and one mixin.

::

    from flask_bastion import Bastion
    from flask_bastion.accounts import Accounts, current_user, login_required

    Bastion(app, components=[Accounts()])          # the ready User model
    Bastion(app, components=[Accounts(user_model=MyUser, session_factory=db.session)])

The component sits at the authentication stage of the pipeline, between sessions and the
forgery check. It registers the ``bastion_accounts`` blueprint (registration and address
verification, sign-in, sign-out, password reset, the account pages: password, address,
devices, personal API tokens, deletion), authenticates ``Authorization: Bearer`` requests
with personal API tokens, and keeps an account that must change its one-time password on
the password page. What each part defends against is in ``docs/accounts.md``.
"""

from __future__ import annotations

import logging
import time
import typing as t
from collections.abc import Callable, Mapping

from flask import Flask, Request, abort, redirect, url_for
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from .. import signals
from ..components import Stage
from ..context import RequestState, get_state
from ..exceptions import InvalidToken
from ..guards import F, guard_view
from ..refusal import refuse
from ..sessions import make_stateless, peek_session_value
from .core import (
    ACCOUNTS_KEY,
    ANONYMOUS,
    MFA_ENROL_KEY,
    MFA_PENDING_KEY,
    MUST_CHANGE_KEY,
    AccountsState,
    AnonymousUser,
    Authenticated,
    accounts_state,
    close_db,
    confirm_login,
    current_user,
    db_unavailable,
    find_user,
    load_user,
    login_fresh,
    login_user,
    logout_user,
    mfa_enrolment_due,
)
from .events import emit
from .models import AccountToken, ApiToken, User, UserMixin
from .nexturl import safe_next
from .required import fresh_login_required, login_required, wants_json

__all__ = [
    "ANONYMOUS",
    "AccountToken",
    "Accounts",
    "AnonymousUser",
    "ApiToken",
    "User",
    "UserMixin",
    "accounts_state",
    "confirm_login",
    "current_user",
    "find_user",
    "fresh_login_required",
    "load_user",
    "login_fresh",
    "login_required",
    "login_user",
    "logout_user",
    "require_scope",
    "safe_next",
]

#: The scope of personal API tokens when the application names none.
DEFAULT_SCOPES: Mapping[str, str] = {"api": "Use the API as you"}
#: Why a bearer token is refused on the accounts blueprint.
REASON_API_ONLY = "Personal API tokens are for the API; the account pages need a browser sign-in."
#: Endpoints an account that must change its password may still reach.
#: The confirm page is one of them: past the fresh window the password page sends the
#: user there, and refusing it would loop between the two.
_MUST_CHANGE_ALLOWED = frozenset(
    {"bastion_accounts.password", "bastion_accounts.confirm", "bastion_accounts.logout", "static"}
)
#: Endpoints a half-signed-in session (the password was right, the code is awaited) may
#: reach: anything else would serve a user who has not finished signing in.
_MFA_PENDING_ALLOWED = frozenset(
    {
        "bastion_accounts.login_verify",
        "bastion_accounts.login_passkey_options",
        "bastion_accounts.login_passkey_verify",
        "bastion_accounts.logout",
        "static",
    }
)
#: Endpoints an account that must enrol a second factor may reach (the confirm page for
#: the same reason as above: the enrolment page needs a fresh sign-in).
_MFA_ENROL_ALLOWED = frozenset(
    {
        "bastion_accounts.mfa_totp",
        "bastion_accounts.passkeys",
        "bastion_accounts.passkey_register_options",
        "bastion_accounts.passkey_register_verify",
        "bastion_accounts.confirm",
        "bastion_accounts.logout",
        "static",
    }
)


class Accounts:
    """Component: accounts for one or more applications.

    :param user_model: the SQLAlchemy model of users, with :class:`UserMixin`'s columns
        (default: the ready :class:`User`, table ``bastion_users``).
    :param session_factory: returns the application's SQLAlchemy session for the current
        request; by default accounts open their own on ``BASTION_ACCOUNTS_DATABASE_URL``.
    :param scopes: the scopes personal API tokens may be given, name -> description.
    :param blueprint: register the views (``False`` keeps only the functions).
    :param clock: seconds since the epoch; tests pass a fake one.
    """

    name = "accounts"
    stage = Stage.AUTHENTICATE

    def __init__(
        self,
        user_model: type[t.Any] = User,
        *,
        session_factory: Callable[[], Session] | None = None,
        scopes: Mapping[str, str] = DEFAULT_SCOPES,
        blueprint: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.user_model = user_model
        self.session_factory = session_factory
        self.scopes = dict(scopes)
        self.blueprint = blueprint
        self.clock = clock

    def init_app(self, app: Flask) -> None:
        """Set up accounts on ``app``: state, template globals, the blueprint."""
        settings = get_state(app).config.accounts
        state = AccountsState(app, settings, self.user_model, self.session_factory, self.clock)
        state.scopes = self.scopes
        app.extensions[ACCOUNTS_KEY] = state
        # One clock for the tokens, the fresh sign-in, the counters and the rate limits.
        get_state(app).component("lockout").throttle.clock = self.clock
        get_state(app).component("ratelimit").clock = self.clock
        app.teardown_appcontext(close_db)
        app.jinja_env.globals["current_user"] = current_user
        if self.blueprint:
            from .blueprint import make_blueprint

            app.register_blueprint(make_blueprint(settings), url_prefix=settings.url_prefix or None)

    def before_request(self, request: Request, state: RequestState) -> None:
        """Authenticate a bearer request; hold a half-signed-in session on the code page,
        an account with a one-time password on the password page, and an account that
        must enrol a second factor on the enrolment page."""
        header = request.environ.get("HTTP_AUTHORIZATION")
        endpoint = request.endpoint
        if header and header[:7].lower() == "bearer ":
            self._bearer(request, header[7:].strip(), state)
        elif peek_session_value(MFA_PENDING_KEY):
            if endpoint not in _MFA_PENDING_ALLOWED:
                if wants_json():
                    abort(401)
                abort(redirect(url_for("bastion_accounts.login_verify"), 303))
        # One hold at a time: the password first, then the second factor.
        elif peek_session_value(MUST_CHANGE_KEY):
            if endpoint not in _MUST_CHANGE_ALLOWED:
                abort(redirect(url_for("bastion_accounts.password"), 303))
        elif peek_session_value(MFA_ENROL_KEY) and endpoint not in _MFA_ENROL_ALLOWED:
            abort(redirect(url_for("bastion_accounts.mfa_totp"), 303))

    def _bearer(self, request: Request, token: str, state: RequestState) -> None:
        from .tokens import authenticate_token

        # Stateless before anything can fail: a refused bearer request gets no session.
        make_stateless()
        # The account pages are for a person in a browser. A token (scoped, long-lived,
        # kept in scripts and CI) must not list or sign out devices, confirm the
        # password or reach anything else there: a leaked token stays an API credential.
        if request.blueprint == "bastion_accounts":
            refuse(InvalidToken(REASON_API_ONLY))
        try:
            found = authenticate_token(token)
        except SQLAlchemyError:
            db_unavailable()
        # An account held on its password page (a one-time password) or on the
        # enrolment of a second factor its role requires is served nothing else, through
        # a token made before the hold either.
        if found is None or found[0].must_change_password or mfa_enrolment_due(found[0]):
            refuse(InvalidToken())
        user, row = found
        state.put(Authenticated(user, "token", row))
        emit(
            signals.api_token_used,
            "accounts.token_used",
            user=user,
            level=logging.DEBUG,
            prefix=row.prefix,
        )


def require_scope(scope: str) -> Callable[[F], F]:
    """Let a bearer request reach the view (``async def`` too) only if its token has
    ``scope``; a signed-in browser has every scope. Use it under :func:`login_required`."""

    def check(kwargs: dict[str, t.Any]) -> None:
        found = request_authentication()
        token = found.token if found is not None else None
        if token is not None and scope not in token.scope_set:
            abort(403, f"This token does not have the '{scope}' scope.")

    def decorate(view: F) -> F:
        return guard_view(view, check)

    return decorate


def request_authentication() -> Authenticated | None:
    """How the current request is authenticated (session or token), if it is."""
    from .core import _authenticated

    return _authenticated()
