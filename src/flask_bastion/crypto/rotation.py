"""Key rotation: moving everything the key ring sealed under its newest key.

A :class:`Rotation` is one place that holds sealed values: a column, a folder of files.
``flask bastion rotate-keys`` (:mod:`.cli`) runs every rotation of the application
(:func:`rotations_for`): the TOTP secrets and every encrypted column of its models, found
through SQLAlchemy, plus what the application or a component registered with
:func:`register_rotation` (a folder of encrypted uploads).

Rotations are resumable by construction: each selects only the values *not* under the
newest key, works in batches committed one by one, and writes a value back only if it is
still the one it read. Stopped halfway (a crash, a deploy, Ctrl-C), the next run picks up
what is left; run it until nothing is left, then remove the old keys.
"""

from __future__ import annotations

import os
import typing as t
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from sqlalchemy import Column, Table, Text, func, select, tuple_, type_coerce, update
from sqlalchemy.orm import Session

from ..context import get_state
from ..exceptions import DecryptionFailed
from .columns import column_context, encrypted_columns, report_unreadable, report_unreadable_at
from .keyring import KEY_ID_RE, VERSION, Encryption, KeyRing
from .streams import rotate_file, stream_key_id

__all__ = [
    "Batch",
    "ColumnRotation",
    "FolderRotation",
    "Rotation",
    "column_rotations",
    "register_rotation",
    "rotations_for",
]

#: The key ID counted for a value whose token or header cannot be parsed.
UNKNOWN_KEY = "?"


@dataclass(frozen=True)
class Batch:
    """What one committed batch did: values looked at, re-encrypted, found unreadable
    (logged and left as they were)."""

    seen: int
    rotated: int
    unreadable: int = 0


class Rotation(t.Protocol):
    """A place holding values sealed by the key ring."""

    def usage(self) -> Counter[str]:
        """How many stored values each key ID sealed (:data:`UNKNOWN_KEY` for values
        that cannot be parsed)."""

    def rotate(self, ring: KeyRing, batch_size: int) -> Iterator[Batch]:
        """Re-encrypt every value not under ``ring.current_id``, ``batch_size`` at a
        time, each batch committed before it is yielded."""


def pending(rotation: Rotation, ring: KeyRing) -> int:
    """How many values of ``rotation`` are not under the newest key of ``ring``."""
    return sum(n for kid, n in rotation.usage().items() if kid != ring.current_id)


class ColumnRotation:
    """The key ring tokens of one column, read and written with SQL (no ORM objects).

    :param session: makes the session to use (each batch is committed on it).
    :param column: the column of tokens (an encrypted column, or a ``TEXT`` column of
        tokens such as the TOTP secrets).
    :param context: the associated data of a row, given the selected row (its primary
        key, ``column`` and ``also``).
    :param also: further columns the context needs.
    """

    def __init__(
        self,
        session: Callable[[], Session],
        column: Column[t.Any],
        context: Callable[[t.Any], bytes],
        also: Sequence[Column[t.Any]] = (),
    ) -> None:
        self.session = session
        self.column = column
        self.table: Table = column.table
        self.context = context
        self.also = list(also)
        # Compared as text: an encrypted column's own type refuses plain values.
        self._text = type_coerce(column, Text)

    def usage(self) -> Counter[str]:
        # Tokens are 'v1.<8 hex>.<data>': the key ID is characters 4 to 11.
        kid = func.substr(self._text, len(VERSION) + 2, 8)
        rows = self.session().execute(
            select(kid, func.count()).where(self.column.is_not(None)).group_by(kid)
        )
        usage: Counter[str] = Counter()
        for key, count in rows:
            # Whatever the database holds, only a key ID is printed by the command.
            known = isinstance(key, str) and KEY_ID_RE.fullmatch(key)
            usage[key if known else UNKNOWN_KEY] += count
        return usage

    def rotate(self, ring: KeyRing, batch_size: int) -> Iterator[Batch]:
        db = self.session()
        keys = list(self.table.primary_key.columns)
        position = tuple_(*keys) if len(keys) > 1 else keys[0]
        last: t.Any = None
        stale = self._text.not_like(f"{VERSION}.{ring.current_id}.%")
        while True:
            query = select(*keys, *self.also, self._text.label("token")).where(
                self.column.is_not(None), stale
            )
            if last is not None:
                query = query.where(position > last)
            rows = db.execute(query.order_by(*keys).limit(batch_size)).all()
            if not rows:
                return
            rotated = unreadable = 0
            for row in rows:
                key_values = [row._mapping[k] for k in keys]
                try:
                    token = ring.rotate(row.token, context=self.context(row))
                except DecryptionFailed:
                    report_unreadable(self.column, key_values)
                    unreadable += 1
                    continue
                # Only if unchanged: a value written meanwhile is already under the new key.
                done = db.execute(
                    update(self.table)
                    .where(*(k == v for k, v in zip(keys, key_values, strict=True)))
                    .where(self._text == row.token)
                    .values({self.column: type_coerce(token, Text)})
                )
                rotated += t.cast(t.Any, done).rowcount == 1
            db.commit()
            end = [rows[-1]._mapping[k] for k in keys]
            last = tuple_(*end) if len(keys) > 1 else end[0]
            yield Batch(len(rows), rotated, unreadable)


def column_rotations(
    mappers: t.Iterable[t.Any], session: Callable[[], Session]
) -> dict[str, ColumnRotation]:
    """A :class:`ColumnRotation` for each encrypted column of ``mappers`` (such as
    ``Base.registry.mappers``), named ``table.column``."""
    found: dict[str, ColumnRotation] = {}
    for mapper in mappers:
        for column in encrypted_columns(mapper).values():
            keys = list(column.table.primary_key.columns)
            table, name = column.table.name, column.name

            def context(
                row: t.Any, keys: t.Any = keys, table: str = table, name: str = name
            ) -> bytes:
                return column_context(table, name, [row._mapping[k] for k in keys])

            found[f"{table}.{name}"] = ColumnRotation(session, column, context)
    return found


class FolderRotation:
    """The encrypted files (:mod:`.streams`) of a folder and its subfolders.

    :param folder: the folder.
    :param context: the context a file was sealed with, given its path relative to
        ``folder`` (``lambda name: b"upload:" + name.encode()``).
    :param pattern: which files, as :meth:`pathlib.Path.rglob` takes it.
    :param place: the ``table`` a file that does not decrypt is reported under (its
        ``row_id`` is the file's path relative to ``folder``).
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        context: Callable[[str], bytes],
        pattern: str = "*",
        *,
        place: str = "files",
    ) -> None:
        self.folder = Path(folder)
        self.context = context
        self.pattern = pattern
        self.place = place

    def _files(self) -> list[Path]:
        files = self.folder.rglob(self.pattern) if self.folder.is_dir() else ()
        return sorted(p for p in files if p.is_file() and not p.name.startswith(".rotate-"))

    def _key_id(self, path: Path) -> str:
        with path.open("rb") as src:
            try:
                return stream_key_id(src)
            except DecryptionFailed:
                return UNKNOWN_KEY

    def usage(self) -> Counter[str]:
        return Counter(self._key_id(p) for p in self._files())

    def rotate(self, ring: KeyRing, batch_size: int) -> Iterator[Batch]:
        stale = [p for p in self._files() if self._key_id(p) != ring.current_id]
        for start in range(0, len(stale), batch_size):
            batch = stale[start : start + batch_size]
            rotated = unreadable = 0
            for path in batch:
                name = path.relative_to(self.folder).as_posix()
                try:
                    rotated += rotate_file(path, context=self.context(name), ring=ring)
                except DecryptionFailed:
                    # Named in the security log, as the command's last line promises.
                    report_unreadable_at(self.place, "file", name)
                    unreadable += 1
                except FileNotFoundError:  # deleted meanwhile: nothing left to rotate
                    continue
            yield Batch(len(batch), rotated, unreadable)


def register_rotation(app: Flask, name: str, rotation: Rotation) -> None:
    """Have ``flask bastion rotate-keys`` run ``rotation`` for ``app`` too, as ``name``.

    :raises ValueError: when ``name`` is taken.
    """
    registered = _component(app).rotations
    if name in registered:
        raise ValueError(f"a rotation named {name!r} is already registered")
    registered[name] = rotation


def _component(app: Flask) -> Encryption:
    return t.cast(Encryption, get_state(app).components[Encryption.name])


def _model_mappers(app: Flask) -> list[t.Any]:
    """The mappers of the accounts user model's declarative registry, configured."""
    from ..accounts.core import ACCOUNTS_KEY, accounts_state

    if ACCOUNTS_KEY not in app.extensions:
        return []
    registry = getattr(accounts_state(app).user_model, "registry", None)
    if registry is None:
        return []
    from sqlalchemy.orm import configure_mappers

    configure_mappers()
    return list(registry.mappers)


def encrypted_column_names(app: Flask) -> list[str]:
    """``table.column`` of every encrypted column :func:`rotations_for` covers, found
    without touching the database."""
    found = {
        f"{column.table.name}.{column.name}"
        for mapper in _model_mappers(app)
        for column in encrypted_columns(mapper).values()
    }
    found.update(
        name for name, r in _component(app).rotations.items() if isinstance(r, ColumnRotation)
    )
    return sorted(found)


def rotations_for(app: Flask) -> dict[str, Rotation]:
    """Every rotation of ``app``: with accounts, the TOTP secrets (``totp``) and the
    encrypted columns of the user model's declarative registry; then those registered.
    Call it in an application context."""
    found: dict[str, Rotation] = {}
    from ..accounts.core import ACCOUNTS_KEY, accounts_state

    if ACCOUNTS_KEY in app.extensions:
        from ..mfa.core import totp_rotation

        found["totp"] = totp_rotation()
        found.update(column_rotations(_model_mappers(app), accounts_state(app).db))
    found.update(_component(app).rotations)
    return found
