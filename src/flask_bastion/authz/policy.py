"""Object-level authorization: a :class:`Policy` of rules by model and action, applied
by :func:`authorize` and :func:`get_or_404`.

Deny by default: an action without a rule is refused. A refused object is answered with
the very 404 of a missing one, so that probing IDs does not reveal which exist; the
refusal is logged (``authz.denied``, with the endpoint and the action, never the object)
and sends :data:`~flask_bastion.signals.access_denied`.
"""

from __future__ import annotations

import typing as t
from collections.abc import Callable

from flask import Flask, current_app, request
from sqlalchemy import BigInteger, Integer, SmallInteger
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import NotFound

from ..accounts import accounts_state, current_user
from ..accounts.core import db_unavailable
from ..context import get_state
from ..exceptions import ConfigurationError, ObjectDenied
from ..refusal import refuse

T = t.TypeVar("T")
#: A rule of a :class:`Policy`: ``(user, obj) -> bool``; only ``True`` allows.
Rule = Callable[[t.Any, t.Any], bool]

#: Reason of an object refusal: logged only; the page is the plain 404.
REASON_OBJECT = "No rule of the object policy allows this action."


class Policy:
    """The rules that say who may do what with an object, by model and action::

        policy = Policy()

        @policy.rule(Note, "read")
        def read_note(user, note):
            return note.owner_id == user.id or note.shared_with(user)

        policy.init_app(app)

    A rule gets the current user (possibly anonymous: ``user.is_authenticated`` is
    ``False``) and the object, and allows only by returning ``True``; anything else,
    and an action without a rule, denies. A rule for a class applies to its subclasses,
    unless they have their own.
    """

    def __init__(self) -> None:
        self._rules: dict[tuple[type[t.Any], str], Rule] = {}

    def rule(self, model: type[t.Any], *actions: str) -> Callable[[Rule], Rule]:
        """Register the decorated function as the rule of ``model`` for ``actions``.

        :raises ConfigurationError: when one of them has a rule already.
        """
        if not actions:
            raise TypeError("Policy.rule() needs at least one action.")

        def register(rule: Rule) -> Rule:
            for action in actions:
                if (model, action) in self._rules:
                    raise ConfigurationError(
                        "Policy.rule",
                        f"{model.__name__} already has a rule for {action!r}.",
                    )
                self._rules[model, action] = rule
            return rule

        return register

    def allows(self, user: t.Any, obj: object, action: str) -> bool:
        """Whether the rule of ``obj``'s class for ``action`` allows ``user``."""
        for klass in type(obj).__mro__:
            rule = self._rules.get((klass, action))
            if rule is not None:
                return rule(user, obj) is True
        return False

    def init_app(self, app: Flask) -> None:
        """Make this the object policy of ``app`` (after ``Bastion(app)``).

        :raises ConfigurationError: when ``app`` has another policy already.
        """
        component = get_state(app).component("authz")
        if component.policy is not None and component.policy is not self:
            raise ConfigurationError("Policy", "this application has an object policy already.")
        component.policy = self


#: Bits of a non-negative number each integer column type holds (PostgreSQL's ranges;
#: SQLite holds 64 bits whatever the type). ``Integer`` and unknown subclasses: 32.
_BITS: dict[type[t.Any], int] = {SmallInteger: 16, Integer: 32, BigInteger: 64}


def authorized(obj: object, action: str) -> bool:
    """Whether the current user may do ``action`` with ``obj`` (``False`` for ``None``);
    for templates and for filtering lists. Logs nothing."""
    if obj is None:
        return False
    policy = get_state(current_app).component("authz").policy
    user = current_user._get_current_object()
    return policy is not None and bool(policy.allows(user, obj, action))


def authorize(obj: T | None, action: str) -> T:
    """Return ``obj`` if the current user may do ``action`` with it.

    :raises NotFound: when ``obj`` is ``None``, or (as
        :class:`~flask_bastion.exceptions.ObjectDenied`, logged and signalled) when no
        rule allows it: the same 404 page either way, so a refusal does not tell that
        the object exists.
    """
    if obj is None:
        raise NotFound()
    if not authorized(obj, action):
        user_id = current_user.get_id()
        refuse(
            ObjectDenied(REASON_OBJECT, endpoint=request.endpoint, action=action, user_id=user_id)
        )
    return obj


def get_or_404(model: type[T], ident: object, action: str) -> T:
    """Load the ``model`` with primary key ``ident`` from the accounts database session
    and :func:`authorize` ``action`` on it: a missing object and a refused one get the
    same 404. A text ``ident`` that is not a number, for an integer key, is missing.

    :raises AccountsUnavailable: (a 503) when the database cannot be read.
    """
    columns = sa_inspect(model).primary_key
    if isinstance(ident, str) and len(columns) == 1 and isinstance(columns[0].type, Integer):
        if not (ident.isascii() and ident.isdigit()):
            raise NotFound()
        ident = int(ident)
        # A number past the column's range is missing too, never a database error.
        if ident.bit_length() >= _BITS.get(type(columns[0].type), 32):
            raise NotFound()
    db = accounts_state().db()
    try:
        obj = db.get(model, ident)
    except SQLAlchemyError:
        db.rollback()
        db_unavailable()
    return authorize(obj, action)
