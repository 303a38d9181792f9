"""Counters in SQL tables, counted with atomic ``INSERT ... ON CONFLICT`` statements."""

from __future__ import annotations

import typing as t
from collections.abc import Sequence

import sqlalchemy as sa

from ...stores.sql import SQLDatabase, UpsertTables
from .base import Counter


class SQLCounters(UpsertTables):
    """Counters in two SQL tables: ``table_name`` (one row per counter) and
    ``table_name + "_seen"`` (the distinct accounts per address), created on first use.

    :param database: the shared database (``get_state(app).stores.sql(...)``).
    :param table_name: the counters' table.
    :raises ConfigurationError: for a database other than SQLite or PostgreSQL, whose
        ``INSERT ... ON CONFLICT`` the atomic counting relies on.
    """

    def __init__(self, database: SQLDatabase, table_name: str = "bastion_login_counters") -> None:
        super().__init__(database, key="BASTION_LOCKOUT_URL", needs="the sql lockout store needs")
        self.table = sa.Table(
            table_name,
            self._metadata,
            sa.Column("key", sa.String(96), primary_key=True),
            sa.Column("count", sa.Integer, nullable=False),
            sa.Column("total", sa.Integer, nullable=False),
            sa.Column("last", sa.Float, nullable=False),
            sa.Column("expires", sa.Float, nullable=False, index=True),
        )
        self.seen_table = sa.Table(
            f"{table_name}_seen",
            self._metadata,
            sa.Column("key", sa.String(96), primary_key=True),
            sa.Column("member", sa.String(96), primary_key=True),
            sa.Column("expires", sa.Float, nullable=False, index=True),
        )

    def get(self, keys: Sequence[str], now: float) -> list[Counter | None]:
        c = self.table.c
        query = sa.select(c.key, c.count, c.total, c.last, c.expires).where(
            c.key.in_(keys), c.expires > now
        )
        # Unpacked by position: a Row is a tuple, and row.count is tuple.count.
        found = {
            key: Counter(count, total, last, expires)
            for key, count, total, last, expires in t.cast("list[t.Any]", self._run(query).all())
        }
        return [found.get(key) for key in keys]

    def swap(self, key: str, old: Counter | None, new: Counter, now: float) -> bool:
        c = self.table.c
        values = {"count": new.count, "total": new.total, "last": new.last, "expires": new.expires}
        if old is None:
            # Inserted, or written over an expired row; a live row is left alone.
            statement = (
                self._insert(self.table)
                .values(key=key, **values)
                .on_conflict_do_update(index_elements=[c.key], set_=values, where=c.expires <= now)
            )
            return self._run(statement).rowcount == 1
        update = (
            sa.update(self.table)
            .where(
                c.key == key,
                c.count == old.count,
                c.total == old.total,
                c.last == old.last,
                c.expires > now,
            )
            .values(**values)
        )
        return self._run(update).rowcount == 1

    def add(self, key: str, now: float, window: float, expires: float) -> None:
        c = self.table.c
        gone = c.expires <= now
        statement = (
            self._insert(self.table)
            .values(key=key, count=1, total=1, last=now, expires=expires)
            .on_conflict_do_update(
                index_elements=[c.key],
                set_={
                    "count": sa.case((sa.or_(gone, c.last <= now - window), 1), else_=c.count + 1),
                    "total": sa.case((gone, 1), else_=c.total + 1),
                    "last": now,
                    "expires": expires,
                },
            )
        )
        self._run(statement)

    def flag(self, key: str, now: float, expires: float) -> bool:
        c = self.table.c
        values = {"count": 1, "total": 1, "last": now, "expires": expires}
        statement = (
            self._insert(self.table)
            .values(key=key, **values)
            .on_conflict_do_update(index_elements=[c.key], set_=values, where=c.expires <= now)
        )
        return self._run(statement).rowcount == 1

    def seen(self, key: str, member: str, now: float, window: float) -> int:
        c = self.seen_table.c
        self._run(sa.delete(self.seen_table).where(c.key == key, c.expires <= now))
        self._run(
            self._insert(self.seen_table)
            .values(key=key, member=member, expires=now + window)
            .on_conflict_do_update(index_elements=[c.key, c.member], set_={"expires": now + window})
        )
        count = sa.select(sa.func.count()).where(c.key == key, c.expires > now)
        return int(self._run(count).scalar_one())

    def delete(self, keys: Sequence[str]) -> None:
        self._run(sa.delete(self.table).where(self.table.c.key.in_(keys)))

    def purge(self, now: float) -> None:
        self._run(sa.delete(self.table).where(self.table.c.expires <= now))
        self._run(sa.delete(self.seen_table).where(self.seen_table.c.expires <= now))

    def close(self) -> None:
        """Close the database's pooled connections."""
        self.database.close()
