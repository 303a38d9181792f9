"""Roles and permissions kept in the database, read once per request, and the view
decorators that require them.

A role change ends the user's other sessions: a session opened under the old privileges
must not outlive them (the current one moves to a new ID). A refused view answers 403
through the refusal path (``authz.denied``, :data:`~flask_bastion.signals.access_denied`).
"""

from __future__ import annotations

import re
import typing as t
from collections.abc import Callable, Iterable

from flask import current_app, has_request_context, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from .. import signals
from ..accounts import accounts_state, current_user, request_authentication
from ..accounts.core import db_unavailable
from ..accounts.models import Role, RolePermission, UserRole
from ..accounts.required import sign_in_first
from ..context import request_state
from ..exceptions import AccessDenied, LastHolderError, RoleError
from ..guards import guard_view
from ..logs import security_log
from ..refusal import refuse
from ..sessions import revoke_all_sessions, revoke_other_sessions, rotate_session

F = t.TypeVar("F", bound=Callable[..., t.Any])

#: Reasons of the 403 (shown on its page).
REASON_ROLE = "You do not have a role this page needs."
REASON_PERMISSION = "You do not have a permission this page needs."

#: Role and permission names: ``admin``, ``notes:delete``, ``billing.read``.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
_NOTHING: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())


def _check_name(name: object, kind: str = "role") -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise RoleError(
            f"{kind} name {name!r} is invalid: 1 to 64 letters, digits and _ . : -, "
            "starting with a letter or digit."
        )
    return name


class _Grants:
    """The roles and permissions loaded in this request, by user ID."""

    __slots__ = ("by_user",)

    def __init__(self) -> None:
        self.by_user: dict[str, tuple[frozenset[str], frozenset[str]]] = {}


def _cache() -> dict[str, tuple[frozenset[str], frozenset[str]]] | None:
    # Only within a request: a command-line script may run for long, while other
    # processes change roles.
    if not has_request_context():
        return None
    state = request_state()
    grants = state.get(_Grants)
    if grants is None:
        grants = _Grants()
        state.put(grants)
    return grants.by_user


def _user_id(user: t.Any) -> str | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return str(user.get_id())


def _grants(user: t.Any) -> tuple[frozenset[str], frozenset[str]]:
    """``user``'s roles and permissions: one query, then cached for the request."""
    user_id = _user_id(user)
    if user_id is None:
        return _NOTHING
    cache = _cache()
    if cache is not None and user_id in cache:
        return cache[user_id]
    db = accounts_state().db()
    try:
        rows = db.execute(
            select(UserRole.role, RolePermission.permission)
            .outerjoin(RolePermission, RolePermission.role == UserRole.role)
            .where(UserRole.user_id == user_id)
        ).all()
    except SQLAlchemyError:
        db.rollback()
        db_unavailable()
    found = (
        frozenset(role for role, _ in rows),
        frozenset(permission for _, permission in rows if permission is not None),
    )
    if cache is not None:
        cache[user_id] = found
    return found


def roles_of(user: t.Any) -> frozenset[str]:
    """The names of ``user``'s roles; none for an anonymous user.

    :raises AccountsUnavailable: (a 503) when the database cannot be read.
    """
    return _grants(user)[0]


def permissions_of(user: t.Any) -> frozenset[str]:
    """The permissions of all of ``user``'s roles; none for an anonymous user."""
    return _grants(user)[1]


def has_role(user: t.Any, role: str) -> bool:
    """Whether ``user`` has ``role``."""
    return role in _grants(user)[0]


def has_permission(user: t.Any, permission: str) -> bool:
    """Whether one of ``user``'s roles has ``permission``."""
    return permission in _grants(user)[1]


def define_role(name: str, permissions: Iterable[str] = (), description: str = "") -> None:
    """Create the role ``name``, or update it, so that it has exactly ``permissions``.

    Idempotent and cheap when nothing changes, so an application may call it at start-up
    (in an application context); several workers starting at once do not collide. A
    permission taken from a role is gone on the holders' next request.

    :raises RoleError: for a name or a permission that is not valid.
    """
    _check_name(name)
    wanted = frozenset(_check_name(p, "permission") for p in permissions)
    db = accounts_state().db()
    try:
        _define(db, name, wanted, description)
    except IntegrityError:
        # Another process defined it at the same moment: read it again and adjust it.
        db.rollback()
        _define(db, name, wanted, description)
    cache = _cache()
    if cache is not None:
        cache.clear()


def _define(db: Session, name: str, wanted: frozenset[str], description: str) -> None:
    role = db.get(Role, name)
    held = frozenset(
        db.scalars(select(RolePermission.permission).where(RolePermission.role == name))
    )
    if role is not None and role.description == description and held == wanted:
        return
    if role is None:
        db.add(Role(name=name, description=description))
        db.flush()  # the role before its permissions
    else:
        role.description = description
    if held - wanted:
        db.execute(
            delete(RolePermission).where(
                RolePermission.role == name,
                RolePermission.permission.in_(sorted(held - wanted)),
            )
        )
    db.add_all(RolePermission(role=name, permission=p) for p in sorted(wanted - held))
    db.commit()


def grant_role(user: t.Any, role: str) -> bool:
    """Give ``user`` the role ``role``; ``False`` when they had it already.

    A change ends every other session of the user (:func:`_changed`).

    :raises RoleError: when ``role`` was never defined (:func:`define_role`) or ``user``
        is anonymous.
    """
    user_id = _target(user)
    db = accounts_state().db()
    if db.get(Role, role) is None:
        raise RoleError(f"unknown role {role!r}: define it with define_role() first.")
    if db.get(UserRole, (user_id, role)) is not None:
        return False
    db.add(UserRole(user_id=user_id, role=role))
    try:
        db.commit()
    except IntegrityError:  # granted by a concurrent request
        db.rollback()
        return False
    _changed(user, user_id, role, granted=True)
    return True


def revoke_role(user: t.Any, role: str, *, keep_one: bool = False) -> bool:
    """Take the role ``role`` from ``user``; ``False`` when they did not have it. A change
    ends every other session of the user, as :func:`grant_role` does.

    With ``keep_one``, the role is never taken from its last holder: two administrators
    revoking each other's role at the same moment cannot both win. The delete and the
    count of the holders left run in one transaction under :func:`lock_role`, so the
    second request sees the first one's change.

    :raises RoleError: when ``user`` is anonymous.
    :raises LastHolderError: with ``keep_one``, when nobody else holds ``role``.
    """
    user_id = _target(user)
    db = accounts_state().db()
    if keep_one:
        lock_role(role)
    result = db.execute(delete(UserRole).where(UserRole.user_id == user_id, UserRole.role == role))
    removed = bool(getattr(result, "rowcount", 0))
    if keep_one and removed and not role_holders(role):
        db.rollback()
        raise LastHolderError(f"{role!r} would be left with nobody holding it.")
    db.commit()
    if not removed:
        return False
    _changed(user, user_id, role, granted=False)
    return True


def lock_role(role: str) -> None:
    """Lock the row of ``role`` until the current transaction ends
    (``SELECT ... FOR UPDATE``), so that changes to who holds it, made under this lock,
    happen one after the other. Call it before changing anything in the transaction.

    On SQLite, which has no row locks, the first write of a transaction locks the whole
    database until the commit, which orders the changes the same way.
    """
    accounts_state().db().execute(select(Role.name).where(Role.name == role).with_for_update())


def role_holders(role: str) -> list[str]:
    """The IDs (as text) of the users who hold ``role``, as the current transaction sees
    them."""
    db = accounts_state().db()
    return list(db.scalars(select(UserRole.user_id).where(UserRole.role == role)))


def _target(user: t.Any) -> str:
    user_id = _user_id(user)
    if user_id is None:
        raise RoleError("an anonymous user cannot be given or lose a role.")
    return user_id


def _changed(user: t.Any, user_id: str, role: str, *, granted: bool) -> None:
    """After a role change: forget the cached roles, end the sessions that carried the
    old privileges, tell the log and the receivers.

    Every session of the user is revoked, except the current request's own when the user
    changed their own roles: that one moves to a new ID instead (revoking it too would
    make its rotation fail, and sign the user out)."""
    cache = _cache()
    if cache is not None:
        cache.pop(user_id, None)
    found = request_authentication() if has_request_context() else None
    if found is not None and found.via == "session" and _user_id(found.user) == user_id:
        revoke_other_sessions(user_id)
        rotate_session()
    else:
        revoke_all_sessions(user_id)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    signals.role_changed.send(app, user=user, role=role, granted=granted)
    security_log.info(
        "authz.role_changed",
        extra={"event": "authz.role_changed", "user_id": user_id, "role": role, "granted": granted},
    )


# View decorators


def roles_required(*roles: str) -> Callable[[F], F]:
    """Let a user reach the view only with **every** role of ``roles``.

    A visitor who is not signed in is treated as by
    :func:`~flask_bastion.accounts.login_required` (sign-in page, or 401 for JSON); a
    signed-in user without them gets 403 (:class:`~flask_bastion.exceptions.AccessDenied`).
    """
    return _guard(roles, "roles_required", roles_of, REASON_ROLE, every=True)


def roles_accepted(*roles: str) -> Callable[[F], F]:
    """Let a user reach the view with **any one** of ``roles``; otherwise as
    :func:`roles_required`."""
    return _guard(roles, "roles_accepted", roles_of, REASON_ROLE, every=False)


def permission_required(*permissions: str) -> Callable[[F], F]:
    """Let a user reach the view only when their roles have **every** one of
    ``permissions``; otherwise as :func:`roles_required`."""
    return _guard(permissions, "permission_required", permissions_of, REASON_PERMISSION, every=True)


def _guard(
    names: tuple[str, ...],
    decorator: str,
    held: Callable[[t.Any], frozenset[str]],
    reason: str,
    *,
    every: bool,
) -> Callable[[F], F]:
    if not names:
        raise TypeError(f"{decorator}() needs at least one name.")
    wanted = frozenset(_check_name(name, "role or permission") for name in names)

    def check(kwargs: dict[str, t.Any]) -> t.Any:
        user = current_user._get_current_object()
        if not user.is_authenticated:
            return sign_in_first()
        have = held(user)
        if not (wanted <= have if every else not wanted.isdisjoint(have)):
            refuse(AccessDenied(reason, endpoint=request.endpoint, user_id=_user_id(user)))
        return None

    def decorate(view: F) -> F:
        return guard_view(view, check)

    return decorate
