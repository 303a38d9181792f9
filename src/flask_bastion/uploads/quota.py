"""Per-user quota counters in one SQL table, reserved with single atomic statements.

Checking the space used and then storing is a race: two uploads at once both find room,
and both are stored. Here a reservation is one ``UPDATE ... SET used = used + :n WHERE
user_key = :k AND used + :n <= :limit``: the database serialises the two, and exactly
as many succeed as fit. A failed upload gives its reservation back.
"""

from __future__ import annotations

import sqlalchemy as sa

from ..stores.sql import SQLDatabase, UpsertTables


class Quota(UpsertTables):
    """Bytes used per user key, in ``table_name``, created on first use.

    :raises ConfigurationError: for a database other than SQLite or PostgreSQL, whose
        ``INSERT ... ON CONFLICT DO NOTHING`` it relies on.
    """

    def __init__(self, database: SQLDatabase, table_name: str) -> None:
        super().__init__(database, key="BASTION_UPLOADS_URL", needs="the quota counters need")
        self.table = sa.Table(
            table_name,
            self._metadata,
            sa.Column("user_key", sa.String(64), primary_key=True),
            sa.Column("used", sa.BigInteger, nullable=False),
        )

    def used(self, key: str) -> int:
        """Bytes reserved by ``key``.

        :raises StoreError: when the database fails.
        """
        found = self._run(sa.select(self.table.c.used).where(self.table.c.user_key == key))
        return int(found.scalar() or 0)

    def reserve(self, key: str, size: int, limit: int) -> bool:
        """Reserve ``size`` bytes for ``key`` if the total stays within ``limit``.

        :raises StoreError: when the database fails.
        """
        self._run(self._insert(self.table).values(user_key=key, used=0).on_conflict_do_nothing())
        c = self.table.c
        done = self._run(
            sa.update(self.table)
            .where(c.user_key == key, c.used + size <= limit)
            .values(used=c.used + size)
        )
        return done.rowcount == 1

    def release(self, key: str, size: int) -> None:
        """Give back ``size`` bytes of ``key`` (never below zero).

        :raises StoreError: when the database fails.
        """
        c = self.table.c
        self._run(
            sa.update(self.table)
            .where(c.user_key == key)
            .values(used=sa.case((c.used > size, c.used - size), else_=0))
        )

    def forget(self, key: str) -> None:
        """Drop the counter of ``key``.

        :raises StoreError: when the database fails.
        """
        self._run(sa.delete(self.table).where(self.table.c.user_key == key))
