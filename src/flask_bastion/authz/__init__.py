"""Authorization: roles, permissions and object-level rules.

::

    from flask_bastion.authz import Policy, authorize, define_role, grant_role, roles_required

Defends against broken access control (OWASP A01), the most common serious flaw of web
applications:

* **Missing function-level checks.** :func:`roles_required`, :func:`roles_accepted` and
  :func:`permission_required` guard a view; a visitor who is not signed in is sent to
  sign in (401 for JSON), a signed-in user without the role gets 403.
* **Insecure direct object references.** Knowing or guessing an ID (``/notes/42``) must
  not give access to someone else's object. :class:`Policy` holds one rule per model and
  action; :func:`authorize` and :func:`get_or_404` apply it and **deny by default**: an
  action without a rule is refused.
* **Probing for objects.** A refused object is answered with the very 404 of a missing
  one, so an attacker cannot tell which IDs exist.
* **Stale privileges.** Granting or revoking a role ends the user's other sessions, so no
  session opened under the old privileges lives on; the current one moves to a new ID.

Roles and their permissions live in the database (``bastion_roles``,
``bastion_role_permissions``, ``bastion_user_roles``), next to the account tables, and
are read once per request. Every refusal is logged (``authz.denied``) with the endpoint
and the action, never the object, and sends :data:`~flask_bastion.signals.access_denied`.
"""

from __future__ import annotations

from flask import Flask

from ..accounts import current_user
from ..components import Stage
from ..config import BastionConfig
from .policy import REASON_OBJECT, Policy, Rule, authorize, authorized, get_or_404
from .roles import (
    REASON_PERMISSION,
    REASON_ROLE,
    define_role,
    grant_role,
    has_permission,
    has_role,
    lock_role,
    permission_required,
    permissions_of,
    revoke_role,
    role_holders,
    roles_accepted,
    roles_of,
    roles_required,
)

__all__ = [
    "REASON_OBJECT",
    "REASON_PERMISSION",
    "REASON_ROLE",
    "Authorization",
    "Policy",
    "Rule",
    "authorize",
    "authorized",
    "define_role",
    "get_or_404",
    "grant_role",
    "has_permission",
    "has_role",
    "lock_role",
    "permission_required",
    "permissions_of",
    "revoke_role",
    "role_holders",
    "roles_accepted",
    "roles_of",
    "roles_required",
]


def _current_has_role(role: str) -> bool:
    return has_role(current_user._get_current_object(), role)


def _current_has_permission(permission: str) -> bool:
    return has_permission(current_user._get_current_object(), permission)


class Authorization:
    """Component: keeps the application's object :class:`Policy`
    (``get_state(app).component("authz").policy``) and gives templates
    ``has_role(role)`` and ``has_permission(permission)``, for the signed-in user, and
    ``authorized(obj, action)``. It looks at no request itself: the decorators and
    :func:`authorize` do the checking."""

    name = "authz"
    stage = Stage.AUTHORIZE

    def __init__(self, config: BastionConfig | None = None) -> None:
        #: The object policy, once :meth:`Policy.init_app` bound one; without one, every
        #: object action is refused.
        self.policy: Policy | None = None

    def init_app(self, app: Flask) -> None:
        app.jinja_env.globals.update(
            has_role=_current_has_role,
            has_permission=_current_has_permission,
            authorized=authorized,
        )
