"""Who is signed in: ``current_user``, ``login_user``, ``logout_user``, ``login_required``
and ``fresh_login_required``, with Flask-Login's names and conventions.

The user of a request comes from one of two places. A browser's comes from the server-side
session (:mod:`flask_bastion.sessions`), which holds only the user's ID; signing in rotates
the session, so an ID planted before sign-in is worthless after it (session fixation), and
signing out deletes the session on the server, so a copied cookie dies with it. An API
client's comes from ``Authorization: Bearer`` with a personal API token, checked at the
authentication stage of the pipeline: such a request is stateless (no cookie session is
made for it, and the forgery check does not apply, since no browser sends that header
cross-site on its own).

The user is loaded once per request, on first use of ``current_user``: an anonymous page
view costs no database query.
"""

from __future__ import annotations

import contextlib
import threading
import typing as t
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app, g, session
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.local import LocalProxy

from .. import signals
from ..config import AccountsConfig
from ..context import get_state, request_state
from ..exceptions import AccountsUnavailable
from ..passwords import Passwords, passwords_for
from ..refusal import refuse
from ..sessions import USER_KEY, end_session, peek_session_value, rotate_session
from ..stores.sql import _timeouts
from .events import emit
from .models import (
    DATABASE,
    AccountsBase,
    AccountToken,
    ApiToken,
    Role,
    RolePermission,
    User,
    UserLike,
    UserRole,
)

F = t.TypeVar("F", bound=Callable[..., t.Any])

#: Key of the per-application accounts state in ``app.extensions``.
ACCOUNTS_KEY = "bastion.accounts"
#: Session keys: when the password was last proven (fresh login), and the flag of an
#: account that must change its one-time password before anything else.
AUTH_AT_KEY = "_bastion_auth_at"
MUST_CHANGE_KEY = "_bastion_must_change"
#: Session keys of the second factor: a sign-in waiting for its code (the password was
#: right; the user is not signed in), and the flag of an account that must enrol one.
MFA_PENDING_KEY = "_bastion_mfa_pending"
MFA_ENROL_KEY = "_bastion_mfa_enrol"


class AnonymousUser:
    """``current_user`` when nobody is signed in."""

    is_authenticated = False
    is_active = False
    is_anonymous = True
    has_second_factor = False

    def get_id(self) -> None:
        return None

    def __bool__(self) -> bool:
        return False


ANONYMOUS = AnonymousUser()


@dataclass
class Authenticated:
    """How the current request is authenticated, kept in its request state."""

    user: t.Any
    #: ``"session"`` or ``"token"``.
    via: str
    #: The :class:`~flask_bastion.accounts.models.ApiToken` of a bearer request.
    token: ApiToken | None = None


class AccountsState:
    """Everything accounts keep for one application, in ``app.extensions``."""

    def __init__(
        self,
        app: Flask,
        settings: AccountsConfig,
        user_model: type[t.Any],
        session_factory: Callable[[], Session] | None,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.user_model = user_model
        self.clock = clock
        self.passwords: Passwords = passwords_for(app)
        self._own_factory = session_factory is None
        if session_factory is None:
            from sqlalchemy import create_engine, make_url

            config = get_state(app).config.stores
            url = make_url(get_state(app).stores.sql_url(settings.database_url))
            engine = create_engine(
                url, connect_args=_timeouts(url, config.connect_timeout, config.statement_timeout)
            )
            self.engine = engine
            session_factory = sessionmaker(engine, expire_on_commit=False)
        self.session_factory = session_factory
        self._ready = False
        self._lock = threading.Lock()
        self._dummy_hash: str | None = None
        #: The scopes personal API tokens may have, name -> description.
        self.scopes: dict[str, str] = {}

    def tables(self) -> list[t.Any]:
        """Flask-Bastion's own tables to create: tokens, roles, second factors, and
        ``bastion_users`` unless the application has its own user model."""
        # Imported here: the second factor's models import the accounts package.
        from ..mfa.models import Passkey, RecoveryCode, RememberedBrowser, TotpCredential

        tables = [
            AccountToken.__table__,
            ApiToken.__table__,
            Role.__table__,
            RolePermission.__table__,
            UserRole.__table__,
            TotpCredential.__table__,
            RecoveryCode.__table__,
            RememberedBrowser.__table__,
            Passkey.__table__,
        ]
        if self.user_model is User or getattr(self.user_model, "metadata", None) is (
            AccountsBase.metadata
        ):
            tables.append(User.__table__)
        return tables

    def db(self) -> Session:
        """The request's database session (the application's, when it passed a factory);
        Flask-Bastion's tables are created on first use."""
        if self._own_factory:
            db: Session | None = g.get("_bastion_accounts_db")
            if db is None:
                db = g._bastion_accounts_db = self.session_factory()
        else:
            db = self.session_factory()
        if not self._ready:
            with self._lock:
                if not self._ready:
                    bind = db.get_bind()
                    AccountsBase.metadata.create_all(bind, tables=self.tables(), checkfirst=True)
                    if self.user_model not in (User,) and hasattr(self.user_model, "__table__"):
                        self.user_model.__table__.create(bind, checkfirst=True)
                    self._ready = True
        return db

    def rollback(self) -> None:
        """Roll back the request's database session, if it opened one. Never opens one:
        with the database down, opening (and creating the tables) fails again, and the
        503 being answered would turn into a 500."""
        db = g.get("_bastion_accounts_db") if self._own_factory else self.session_factory()
        if db is not None:
            with contextlib.suppress(SQLAlchemyError):
                db.rollback()

    def dummy_hash(self) -> str:
        """A hash of a random password: verified against when the account is unknown, so
        an unknown address costs the same time as a wrong password."""
        if self._dummy_hash is None:
            import secrets

            self._dummy_hash = self.passwords.hash(secrets.token_urlsafe(16))
        return self._dummy_hash


def accounts_state(app: Flask | None = None) -> AccountsState:
    """The accounts state of ``app`` (default: the current application).

    :raises RuntimeError: when accounts are not set up on it.
    """
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        return t.cast(AccountsState, app.extensions[ACCOUNTS_KEY])
    except KeyError:
        raise RuntimeError(
            "Accounts are not set up: Bastion(app, components=[Accounts(...)])."
        ) from None


# The models read the request's session through this, without importing this module.
DATABASE[:] = [lambda: accounts_state().db()]


def close_db(exc: BaseException | None = None) -> None:
    db: Session | None = g.pop("_bastion_accounts_db", None)
    if db is not None:
        db.close()


def db_unavailable() -> t.NoReturn:
    """Answer 503: the accounts database failed."""
    refuse(AccountsUnavailable())


def normalise_email(email: str) -> str:
    """The comparison key of an address: stripped and case-folded."""
    return email.strip().casefold()


def find_user(email: str) -> t.Any | None:
    """The user with address ``email`` (compared case-insensitively), or ``None``."""
    state = accounts_state()
    model = state.user_model
    return (
        state.db().scalars(select(model).where(model.email_key == normalise_email(email))).first()
    )


def load_user(user_id: object) -> t.Any | None:
    """The user with ID ``user_id``, or ``None`` (also for an ID that is not a number)."""
    state = accounts_state()
    try:
        key = int(str(user_id))
    except ValueError:
        return None
    return state.db().get(state.user_model, key)


def _authenticated() -> Authenticated | None:
    """The current request's authentication, loading the session's user on first use."""
    state = request_state()
    found = state.get(Authenticated)
    if found is not None:
        return found
    # Looked at without marking the session accessed: an anonymous page that shows
    # "sign in" stays cacheable; a signed-in user's page is private from here on.
    user_id = peek_session_value(USER_KEY)
    if user_id is None:
        return None
    session.modified = session.modified  # through flask.session: marks it accessed
    try:
        user = load_user(user_id)
    except SQLAlchemyError:
        db_unavailable()
    if user is None or not user.is_active:
        # Deleted or deactivated since the session began: the session ends with it.
        end_session()
        return None
    found = Authenticated(user, "session")
    state.put(found)
    return found


def _current_user() -> t.Any:
    found = _authenticated()
    return ANONYMOUS if found is None else found.user


#: The signed-in user of the current request, or an anonymous user whose
#: ``is_authenticated`` is ``False``.
current_user: t.Any = LocalProxy(_current_user)


def login_user(user: UserLike, *, method: str = "password") -> None:
    """Sign ``user`` in for this browser: the session is rotated (a new ID, a new CSRF
    secret), then holds the user's ID and the time of this sign-in.

    :param method: how the user proved who they are, for the signal.
    """
    rotate_session()
    now = accounts_state().clock()
    session[USER_KEY] = user.get_id()
    session[AUTH_AT_KEY] = now
    session.pop(MFA_PENDING_KEY, None)
    if user.must_change_password:
        session[MUST_CHANGE_KEY] = True
    else:
        session.pop(MUST_CHANGE_KEY, None)
    # Only where the enrolment page exists (the blueprint): the hold sends the user there.
    if "bastion_accounts.mfa_totp" in current_app.view_functions and mfa_enrolment_due(user):
        session[MFA_ENROL_KEY] = True
    else:
        session.pop(MFA_ENROL_KEY, None)
    request_state().put(Authenticated(user, "session"))
    user.last_login_at = now
    emit(signals.user_logged_in, "accounts.logged_in", user=user, method=method)


def mfa_enrolment_due(user: UserLike) -> bool:
    """Whether ``user`` holds a role of ``BASTION_ACCOUNTS_MFA_REQUIRED_ROLES`` and has no
    second factor yet."""
    required = accounts_state().settings.mfa_required_roles
    if not required:
        return False
    from ..authz import roles_of

    return bool(roles_of(user).intersection(required)) and not user.has_second_factor


def logout_user() -> None:
    """Sign the current user out: the session is deleted on the server and the browser
    is told to clear the site's cookies and storage."""
    found = request_state().get(Authenticated)
    user = found.user if found is not None else None
    if found is None and (user_id := peek_session_value(USER_KEY)) is not None:
        try:  # only for the signal: signing out must work with the database down
            user = load_user(user_id)
        except SQLAlchemyError:
            accounts_state().rollback()
    end_session()
    request_state().put(Authenticated(ANONYMOUS, "none"))
    if user is not None and user.is_authenticated:
        emit(signals.user_logged_out, "accounts.logged_out", user=user)


def confirm_login() -> None:
    """Mark the sign-in fresh again (the user re-entered their password)."""
    session[AUTH_AT_KEY] = accounts_state().clock()


def login_fresh(max_age: int | None = None) -> bool:
    """Whether the user proved their password within ``max_age`` seconds (default
    ``BASTION_ACCOUNTS_FRESH_MAX_AGE``). A bearer request is never fresh."""
    state = accounts_state()
    found = _authenticated()
    if found is None or found.via != "session":
        return False
    auth_at = session.get(AUTH_AT_KEY)
    if not isinstance(auth_at, int | float):
        return False
    limit = state.settings.fresh_max_age if max_age is None else max_age
    return 0 <= state.clock() - auth_at <= limit
