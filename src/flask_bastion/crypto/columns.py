"""Encrypted SQLAlchemy columns, bound to their table, column and row.

``EncryptedText`` and ``EncryptedBytes`` store a key ring token
(:class:`~.keyring.KeyRing`) in a ``TEXT`` column; mapped attributes hold the plaintext.
Each value is sealed with its table, its column and its row's primary key as associated
data (:func:`column_context`).

Defends against:

* **Reading a stolen database or backup.** Only tokens are stored.
* **Moving ciphertext.** Someone who can write to the database but holds no key cannot
  copy a note body from another user's row into their own (or from one column or table
  to another) and have the application decrypt it for them: the token does not open
  under another row's context, and loading that row raises
  :class:`~flask_bastion.exceptions.UnreadableValue` (a safe 500 page, a signal and a
  security log line) instead of showing anything.
* **Plaintext slipping past the type.** A plain ``str`` bound to an encrypted column
  (a Core ``insert``/``update``, a bulk ORM statement, a ``WHERE body = ...``) raises
  :class:`PlaintextRefused` rather than storing or comparing clear text.

A SQLAlchemy type never sees the row it belongs to, so the sealing is done by ORM
events: ``before_insert``/``before_update`` seal a value just before its row is written,
``load``/``refresh`` open it when the row is read. The primary key must therefore be
known *before* the insert: set it in Python or give the column a Python default without
arguments (``default=new_id``); a key the database assigns (autoincrement, a server
default) raises :class:`PrimaryKeyUnknown`. Changing a row's primary key is refused the
same way, since its values would have to be sealed again.
"""

from __future__ import annotations

import json
import typing as t
import weakref

from flask import current_app, has_app_context
from sqlalchemy import Text, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapper, attributes
from sqlalchemy.orm.state import InstanceState
from sqlalchemy.schema import Column
from sqlalchemy.types import TypeDecorator

from ..exceptions import BastionError, DecryptionFailed, UnreadableValue
from ..logs import security_log
from .keyring import KeyRing, keyring_for
from .primary_keys import PrimaryKeyUnknown, check_unchanged, primary_key_of

__all__ = [
    "KEYRING_INFO",
    "Ciphertext",
    "EncryptedBytes",
    "EncryptedText",
    "PlaintextRefused",
    "PrimaryKeyUnknown",
    "column_context",
    "encrypted_columns",
]

#: Key of ``Session.info`` under which a :class:`~.keyring.KeyRing` may be given, for
#: code that runs without a Flask application context (scripts, migrations).
KEYRING_INFO = "bastion.keyring"
#: The reason logged and signalled when a stored value does not decrypt.
REASON_UNREADABLE = "An encrypted value did not decrypt (changed, moved, or its key is gone)."


class PlaintextRefused(BastionError, TypeError):
    """A plain value reached an encrypted column without the ORM sealing it: a Core or
    bulk ``INSERT``/``UPDATE``, or a comparison such as ``where(Note.body == text)``.
    Encrypted columns are written through ORM objects, and cannot be searched in SQL."""


class Ciphertext:
    """A token as stored, not yet opened: what a column query (``select(Note.body)``)
    returns, and what a rotation writes back. Its repr shows the key ID only."""

    __slots__ = ("token",)

    def __init__(self, token: str) -> None:
        self.token = token

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ciphertext) and other.token == self.token

    def __hash__(self) -> int:
        return hash(self.token)

    def __repr__(self) -> str:
        return f"<Ciphertext {self.token[:12]}...>"


class _SealedStr(str):
    """The plaintext, carrying the token it was sealed into during a flush: code that
    reads the attribute meanwhile (or after a failed flush) still sees plaintext."""

    token: str


class _SealedBytes(bytes):
    token: str


class _EncryptedType(TypeDecorator[t.Any]):
    """Common part of the two types: tokens in ``TEXT``, plaintext never bound."""

    impl = Text
    cache_ok = True
    _python: t.ClassVar[type]

    def process_bind_param(self, value: t.Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, Ciphertext):
            return value.token
        if isinstance(value, _SealedStr | _SealedBytes):
            return value.token
        raise PlaintextRefused(
            f"{type(self).__name__} values are sealed by the ORM when their row is flushed; "
            "a plain value was bound (a Core or bulk INSERT/UPDATE, or a comparison in a "
            "WHERE clause). Write through ORM objects; search encrypted text in Python."
        )

    def process_result_value(self, value: t.Any, dialect: Dialect) -> Ciphertext | None:
        return None if value is None else Ciphertext(value)

    def encode(self, value: t.Any, where: str) -> bytes:
        if not isinstance(value, self._python):
            raise TypeError(f"{where} takes {self._python.__name__}, not {type(value).__name__}")
        return value.encode("utf-8") if isinstance(value, str) else bytes(t.cast(bytes, value))

    def decode(self, plain: bytes) -> t.Any:
        return plain.decode("utf-8") if self._python is str else plain

    def sealed(self, value: t.Any, token: str) -> t.Any:
        wrapped: _SealedStr | _SealedBytes = (
            _SealedStr(value) if self._python is str else _SealedBytes(value)
        )
        wrapped.token = token
        return wrapped


class EncryptedText(_EncryptedType):
    """A ``str`` attribute stored encrypted and bound to its row (module docstring).

    ::

        class Note(Base):
            id: Mapped[str] = mapped_column(primary_key=True, default=new_note_id)
            body: Mapped[str] = mapped_column(EncryptedText())

    .. versionadded:: 0.1
    """

    _python = str
    cache_ok = True

    def __init__(self) -> None:
        super().__init__()


class EncryptedBytes(_EncryptedType):
    """A ``bytes`` attribute stored encrypted and bound to its row (as base64url text in
    the token, about a third larger than the value).

    .. versionadded:: 0.1
    """

    _python = bytes
    cache_ok = True

    def __init__(self) -> None:
        super().__init__()


def column_context(table: str, column: str, primary_key: t.Sequence[t.Any]) -> bytes:
    """The associated data of a value of ``table.column`` in the row ``primary_key``:
    canonical JSON, ``["bastion.column","notes","body",["Zx3..."]]``, each key value as
    its ``str``: the same whether the value was given as ``5`` or loaded as ``"5"``."""
    key = [str(v) for v in primary_key]
    return json.dumps(
        ["bastion.column", table, column, key], separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


#: Encrypted columns of each configured mapper: attribute key -> column.
_registry: weakref.WeakKeyDictionary[Mapper[t.Any], dict[str, Column[t.Any]]] = (
    weakref.WeakKeyDictionary()
)


def encrypted_columns(mapper: Mapper[t.Any]) -> dict[str, Column[t.Any]]:
    """The encrypted columns of ``mapper``, by attribute key (empty for none)."""
    return _registry.get(mapper, {})


@event.listens_for(Mapper, "mapper_configured")
def _on_configured(mapper: Mapper[t.Any], cls: type) -> None:
    found = {
        prop.key: col
        for prop in mapper.column_attrs
        for col in prop.columns[:1]
        if isinstance(col, Column) and isinstance(col.type, _EncryptedType)
    }
    if not found:
        return
    _registry[mapper] = found
    event.listen(mapper, "before_insert", _before_insert)
    event.listen(mapper, "before_update", _before_update)
    event.listen(mapper, "after_insert", _after_write)
    event.listen(mapper, "after_update", _after_write)
    event.listen(mapper, "load", _on_load)
    event.listen(mapper, "refresh", _on_refresh)
    event.listen(mapper, "refresh_flush", _on_refresh)


def _ring(state: InstanceState[t.Any]) -> KeyRing:
    session = state.session
    given = session.info.get(KEYRING_INFO) if session is not None else None
    if given is not None:
        return t.cast(KeyRing, given)
    if not has_app_context():
        raise RuntimeError(
            "Encrypted columns need the key ring: work in an application context, or "
            f"put a KeyRing in Session.info[{KEYRING_INFO!r}]."
        )
    return keyring_for(current_app._get_current_object())  # type: ignore[attr-defined]


def _where(mapper: Mapper[t.Any], key: str) -> str:
    return f"{mapper.class_.__name__}.{key}"


def _seal(mapper: Mapper[t.Any], target: t.Any, keys: t.Iterable[str], *, inserting: bool) -> None:
    state: InstanceState[t.Any] = attributes.instance_state(target)
    columns = encrypted_columns(mapper)
    pending = [k for k in keys if state.dict.get(k) is not None]
    if not pending:
        return
    ring = _ring(state)
    primary_key = primary_key_of(mapper, target, inserting=inserting)
    for key in pending:
        column = columns[key]
        kind = t.cast(_EncryptedType, column.type)
        plain = kind.encode(state.dict[key], _where(mapper, key))
        context = column_context(column.table.name, column.name, primary_key)
        # Straight into the instance dict: this is the value the INSERT/UPDATE binds;
        # it still reads as the plaintext.
        state.dict[key] = kind.sealed(state.dict[key], ring.encrypt(plain, context=context))


def _before_insert(mapper: Mapper[t.Any], connection: t.Any, target: t.Any) -> None:
    _seal(mapper, target, encrypted_columns(mapper), inserting=True)


def _before_update(mapper: Mapper[t.Any], connection: t.Any, target: t.Any) -> None:
    state: InstanceState[t.Any] = attributes.instance_state(target)
    check_unchanged(mapper, state)
    changed = [k for k in encrypted_columns(mapper) if k in state.committed_state]
    _seal(mapper, target, changed, inserting=False)


def _after_write(mapper: Mapper[t.Any], connection: t.Any, target: t.Any) -> None:
    # Back to plain values once written: the wrappers were only for the statement.
    state: InstanceState[t.Any] = attributes.instance_state(target)
    for key in encrypted_columns(mapper):
        value = state.dict.get(key)
        if isinstance(value, _SealedStr):
            state.dict[key] = str(value)
        elif isinstance(value, _SealedBytes):
            state.dict[key] = bytes(value)


def _on_load(target: t.Any, context: t.Any) -> None:
    _open(attributes.instance_state(target), None)


def _on_refresh(target: t.Any, context: t.Any, attrs: t.Iterable[str] | None) -> None:
    _open(attributes.instance_state(target), attrs)


def _open(state: InstanceState[t.Any], keys: t.Iterable[str] | None) -> None:
    """Decrypt the tokens just loaded into ``state`` (all, or those of ``keys``)."""
    mapper = state.mapper
    columns = encrypted_columns(mapper)
    loaded = [
        k
        for k in (columns if keys is None else keys)
        if k in columns and isinstance(state.dict.get(k), Ciphertext)
    ]
    if not loaded:
        return
    ring = _ring(state)
    primary_key = list(mapper.primary_key_from_instance(state.obj()))
    for key in loaded:
        column = columns[key]
        token = t.cast(Ciphertext, state.dict[key]).token
        context = column_context(column.table.name, column.name, primary_key)
        try:
            plain = ring.decrypt(token, context=context)
        except DecryptionFailed:
            raise report_unreadable(column, primary_key) from None
        # Loaded state, not a change: the row is not dirtied by opening it.
        attributes.set_committed_value(
            state.obj(), key, t.cast(_EncryptedType, column.type).decode(plain)
        )


def report_unreadable(column: Column[t.Any], primary_key: list[t.Any]) -> UnreadableValue:
    """Report a value of ``column`` in the row ``primary_key`` that did not decrypt (the
    signal and the security log line, :func:`~flask_bastion.refusal.report`); the error
    to raise."""
    return report_unreadable_at(column.table.name, column.name, ",".join(map(str, primary_key)))


def report_unreadable_at(table: str, column: str, row_id: str) -> UnreadableValue:
    """:func:`report_unreadable` for a place named in words: ``("uploads", "file",
    stored_name)`` for a stored file. Outside an application context (a response
    streamed after its request ended), the security log line only."""
    error = UnreadableValue(REASON_UNREADABLE, table=table, column=column, row_id=row_id)
    if has_app_context():
        from ..refusal import report

        report(error)
    else:
        security_log.error(
            "%s: %s", error.event, REASON_UNREADABLE, extra={**error.details, "event": error.event}
        )
    return error
