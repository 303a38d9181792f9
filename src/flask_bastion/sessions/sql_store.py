"""The SQL session store: SQLAlchemy Core, one table, SQLite or PostgreSQL alike.

Every statement is built with SQLAlchemy's expression language (bound parameters, no
string-built SQL). The table is created on first use. Expired rows are deleted by
:meth:`SQLStore.purge`, which the session interface calls every few minutes from
ordinary requests, so no cron job is needed.
"""

from __future__ import annotations

import json
import typing as t

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from .store import SessionRecord, StoreError


class SQLStore:
    """Sessions in a SQL table (default ``bastion_sessions``).

    :param engine: a SQLAlchemy engine, or a database URL to create one from.
    :param table_name: the table to use; created on first use if missing.
    """

    def __init__(self, engine: sa.Engine | str, table_name: str = "bastion_sessions") -> None:
        if isinstance(engine, str):
            # Every operation is one statement, atomic by itself: in autocommit mode it
            # costs no BEGIN and COMMIT round trips around it.
            engine = sa.create_engine(engine, isolation_level="AUTOCOMMIT")
            self._connect: t.Callable[[], t.ContextManager[sa.Connection]] = engine.connect
        else:  # the application's engine, with its own isolation level
            self._connect = engine.begin
        self.engine = engine
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
        )
        self._metadata = metadata
        self._ready = False
        # Built once: the hot path only binds the key.
        self._select = sa.select(self.table).where(self.table.c.key == sa.bindparam("key"))

    def close(self) -> None:
        """Close the engine's pooled connections."""
        self.engine.dispose()

    def _run(
        self, statement: t.Any, parameters: dict[str, t.Any] | None = None
    ) -> sa.CursorResult[t.Any]:
        """Run ``statement`` in its own transaction.

        Pooled connections are not pinged before use (that would be a second round trip
        on every request). A connection the database dropped, after a restart or failover,
        fails its first statement; SQLAlchemy then discards the pool and the statement is
        retried once on a fresh connection, so only a database that stays down is an error.
        """
        try:
            if not self._ready:
                self._metadata.create_all(self.engine, checkfirst=True)
                self._ready = True
            try:
                return self._execute(statement, parameters)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                return self._execute(statement, parameters)
        except SQLAlchemyError as exc:  # the message may hold the URL: never pass it on
            raise StoreError(f"session store: {type(exc).__name__}") from None

    def _execute(
        self, statement: t.Any, parameters: dict[str, t.Any] | None
    ) -> sa.CursorResult[t.Any]:
        with self._connect() as connection:
            return connection.execute(statement, parameters)

    def _row(self, record: SessionRecord) -> dict[str, t.Any]:
        return {
            "user_id": record.user_id,
            "data": record.raw or json.dumps(record.data),
            "last_seen": record.last_seen,
            "expires_at": record.expires_at,
            "ip": record.ip,
            "user_agent": record.user_agent[:256],
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
            raw=row.data,
        )

    def create(self, record: SessionRecord) -> None:
        row = self._row(record)
        self._run(sa.insert(self.table).values(key=record.key, created_at=record.created_at, **row))

    def update(self, record: SessionRecord) -> None:
        self._run(
            sa.update(self.table).where(self.table.c.key == record.key).values(**self._row(record))
        )

    def touch(self, record: SessionRecord) -> None:
        self._run(
            sa.update(self.table)
            .where(self.table.c.key == record.key)
            .values(last_seen=record.last_seen, expires_at=record.expires_at, ip=record.ip)
        )

    def delete(self, *keys: str) -> None:
        if keys:
            self._run(sa.delete(self.table).where(self.table.c.key.in_(keys)))

    def for_user(self, user_id: str) -> list[SessionRecord]:
        query = sa.select(self.table.c.key).where(self.table.c.user_id == user_id)
        keys = [row.key for row in self._run(query)]
        return [record for key in keys if (record := self.get(key)) is not None]

    def purge(self, now: float) -> int:
        return self._run(sa.delete(self.table).where(self.table.c.expires_at <= now)).rowcount
