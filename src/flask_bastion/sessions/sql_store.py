"""The SQL session store: SQLAlchemy Core, one table, SQLite or PostgreSQL alike.

Every statement is built with SQLAlchemy's expression language (bound parameters, no
string-built SQL) and runs through :class:`~flask_bastion.stores.sql.SQLDatabase`, which
bounds every wait and turns failures into :class:`~flask_bastion.stores.StoreError`. The
table is created on first use. Expired rows are deleted by :meth:`SQLStore.purge`, which
the session interface calls every few minutes from ordinary requests, so no cron job is
needed.

Updates are ``UPDATE ... WHERE key = ?``: a row deleted by a revocation, a logout or a
rotation is never written back by a request that read it before.
"""

from __future__ import annotations

import json
import typing as t

import sqlalchemy as sa

from ..stores.sql import SQLDatabase
from .store import SessionRecord


class SQLStore:
    """Sessions in a SQL table (default ``bastion_sessions``).

    :param engine: a :class:`~flask_bastion.stores.sql.SQLDatabase` (shared), a SQLAlchemy
        engine, or a database URL to create one from.
    :param table_name: the table to use; created on first use if missing.
    :param connect_timeout: seconds to wait for a new PostgreSQL connection, handshake
        included (libpq waits at least 2).
    :param statement_timeout: seconds a statement may take: PostgreSQL's
        ``statement_timeout``, SQLite's wait for a lock; on PostgreSQL the client cuts the
        connection itself a second later if the server sends nothing at all.

    An engine passed in keeps its own connection arguments: give it ``connect_timeout``
    and ``statement_timeout`` (or SQLite's ``timeout``) yourself. The client-side
    deadline applies to it as well.
    """

    def __init__(
        self,
        engine: SQLDatabase | sa.Engine | str,
        table_name: str = "bastion_sessions",
        *,
        connect_timeout: int = 5,
        statement_timeout: int = 5,
    ) -> None:
        if not isinstance(engine, SQLDatabase):
            engine = SQLDatabase(
                engine,
                connect_timeout=connect_timeout,
                statement_timeout=statement_timeout,
                name="session store",
            )
        #: The database, shared with the other components that use the same URL.
        self.database = engine
        self.engine = engine.engine
        metadata = sa.MetaData()
        self.table = sa.Table(
            table_name,
            metadata,
            sa.Column("key", sa.String(64), primary_key=True),
            sa.Column("user_id", sa.String(255), index=True),
            sa.Column("data", sa.Text, nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("last_seen", sa.Float, nullable=False),
            sa.Column("expires_at", sa.Float, nullable=False, index=True),
            sa.Column("ip", sa.String(45)),
            sa.Column("user_agent", sa.String(256), nullable=False, default=""),
            sa.Column("device", sa.String(64), nullable=False, default="", index=True),
        )
        self._metadata = metadata
        # Built once: the hot path only binds the key.
        self._select = sa.select(self.table).where(self.table.c.key == sa.bindparam("key"))

    def close(self) -> None:
        """Close the database's pooled connections."""
        self.database.close()

    def _run(
        self, statement: t.Any, parameters: dict[str, t.Any] | None = None
    ) -> sa.CursorResult[t.Any]:
        """Run ``statement``; the table is created by the first one."""
        return self.database.run(statement, parameters, tables=self._metadata)

    def _row(self, record: SessionRecord) -> dict[str, t.Any]:
        return {
            "user_id": record.user_id,
            "data": record.raw or json.dumps(record.data),
            "last_seen": record.last_seen,
            "expires_at": record.expires_at,
            "ip": record.ip,
            "user_agent": record.user_agent[:256],
            "device": record.device,
        }

    def get(self, key: str) -> SessionRecord | None:
        row = self._run(self._select, {"key": key}).first()
        if row is None:
            return None
        return SessionRecord(
            key=row.key,
            data={},
            user_id=row.user_id,
            created_at=row.created_at,
            last_seen=row.last_seen,
            expires_at=row.expires_at,
            ip=row.ip,
            user_agent=row.user_agent,
            device=row.device,
            raw=row.data,
        )

    def create(self, record: SessionRecord) -> None:
        row = self._row(record)
        self._run(sa.insert(self.table).values(key=record.key, created_at=record.created_at, **row))

    def update(self, record: SessionRecord) -> bool:
        statement = sa.update(self.table).where(self.table.c.key == record.key)
        return self._run(statement.values(**self._row(record))).rowcount > 0

    def touch(self, record: SessionRecord) -> bool:
        statement = sa.update(self.table).where(self.table.c.key == record.key)
        values = {"last_seen": record.last_seen, "expires_at": record.expires_at, "ip": record.ip}
        return self._run(statement.values(**values)).rowcount > 0

    def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return self._run(sa.delete(self.table).where(self.table.c.key.in_(keys))).rowcount

    def delete_user(
        self, user_id: str, *, keep: str | None = None, device: str | None = None
    ) -> int:
        statement = sa.delete(self.table).where(self.table.c.user_id == user_id)
        if keep is not None:
            statement = statement.where(self.table.c.key != keep)
        if device is not None:
            statement = statement.where(self.table.c.device == device)
        return self._run(statement).rowcount  # one statement: atomic

    def for_user(self, user_id: str) -> list[SessionRecord]:
        query = sa.select(self.table.c.key).where(self.table.c.user_id == user_id)
        keys = [row.key for row in self._run(query)]
        return [record for key in keys if (record := self.get(key)) is not None]

    def purge(self, now: float) -> int:
        return self._run(sa.delete(self.table).where(self.table.c.expires_at <= now)).rowcount
