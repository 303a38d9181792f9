"""The primary key that encrypted columns are bound to (:mod:`.columns`), settled before
the row is written.

Each value is sealed with its row's primary key as given in Python and opened with the
key as the database returns it, so the two must be the same text. A key the database
assigns (autoincrement, a server default) is known too late; a key the database would
spell otherwise (a padded ``CHAR``, a ``Uuid`` in capitals, a ``Numeric`` with fewer
decimals than its scale) would never open again; a key that changes would leave its
values sealed to the old one. Each raises :class:`PrimaryKeyUnknown` at the flush,
before anything is written.
"""

from __future__ import annotations

import typing as t
import uuid
from decimal import Decimal

from sqlalchemy import CHAR, Float, Numeric, Uuid
from sqlalchemy.orm import Mapper
from sqlalchemy.orm.state import InstanceState

from ..exceptions import BastionError


class PrimaryKeyUnknown(BastionError, ValueError):
    """A row with encrypted columns is flushed without its primary key known in Python,
    with a changed primary key, or with a key the database would return spelled
    otherwise (a padded ``CHAR``, a ``Uuid`` in capitals): its values cannot be bound to
    the row."""


def primary_key_of(mapper: Mapper[t.Any], target: t.Any, *, inserting: bool) -> list[t.Any]:
    """The row's primary key, running a Python column default on insert when unset."""
    values = []
    for column in mapper.primary_key:
        prop = mapper.get_property_by_column(column)
        value = getattr(target, prop.key)
        default = column.default
        if value is None and inserting and default is not None:
            if default.is_scalar:
                value = default.arg
            elif default.is_callable:
                try:
                    value = default.arg(None)
                except Exception as exc:  # a default that needs the execution context
                    raise _unknown(mapper, column) from exc
            setattr(target, prop.key, value)
        if value is None:
            raise _unknown(mapper, column)
        if inserting:
            _check_returned_as_given(mapper, column, value)
        values.append(value)
    return values


def check_unchanged(mapper: Mapper[t.Any], state: InstanceState[t.Any]) -> None:
    """Refuse an update that changes the row's primary key."""
    for column in mapper.primary_key:
        key = mapper.get_property_by_column(column).key
        if state.attrs[key].history.has_changes():
            raise PrimaryKeyUnknown(
                f"{mapper.class_.__name__} has encrypted columns bound to its primary key, "
                "which cannot change: copy the row under the new key and delete the old one."
            )


def _check_returned_as_given(mapper: Mapper[t.Any], column: t.Any, value: t.Any) -> None:
    """Refuse a key value the database would give back spelled otherwise: the values
    are sealed with the key as given, opened with the key as loaded, and would never open.

    The known cases: a ``CHAR(n)`` value shorter than ``n`` (PostgreSQL pads it with
    spaces), a ``Uuid`` given as text in capitals or without hyphens (it comes back in
    the canonical form), a ``Numeric`` with a scale given with fewer decimals (``5`` comes
    back as ``5.00``).
    """
    kind = column.type
    given = str(value)
    returned = given
    if isinstance(kind, CHAR) and kind.length and len(given) < kind.length:
        returned = given.ljust(kind.length)
    elif isinstance(kind, Uuid) and isinstance(value, str):
        try:
            returned = str(uuid.UUID(value))
        except ValueError:
            return  # the database refuses it itself
    elif isinstance(kind, Numeric) and not isinstance(kind, Float) and kind.scale is not None:
        try:
            returned = str(Decimal(given).quantize(Decimal(1).scaleb(-kind.scale)))
        except ArithmeticError:
            return
    if returned != given:
        raise PrimaryKeyUnknown(
            f"{mapper.class_.__name__} has encrypted columns bound to the row's primary key, "
            f"but {column.table.name}.{column.name} = {given!r} would be read back as "
            f"{returned!r}, and the values would never decrypt. Give the key in the form "
            "the database returns (or use a String column)."
        )


def _unknown(mapper: Mapper[t.Any], column: t.Any) -> PrimaryKeyUnknown:
    return PrimaryKeyUnknown(
        f"{mapper.class_.__name__} has encrypted columns, which are bound to the row's "
        f"primary key, but {column.table.name}.{column.name} has no value before the row is "
        "inserted. Set it in Python or give it a Python default without arguments "
        "(default=...); keys assigned by the database (autoincrement, server defaults) are "
        "known too late."
    )
