"""Bans in a SQL table, for a deployment with a database and no Redis.

SQL has no change notices: each process reads the table again every
``BASTION_IPFILTER_REFRESH`` seconds (one ``SELECT`` per process per interval, never per
request), so a ban made elsewhere applies within that time. The auto-ban counters are
kept per process.
"""

from __future__ import annotations

import importlib
import typing as t

import sqlalchemy as sa

from ..config.parsers import IPNetwork
from ..stores.sql import SQLDatabase
from .networks import stored_network
from .stores import Ban, _Hits


class SQLBanStore:
    """Bans in one table (``network`` is the primary key), created on first use.

    :param database: the shared database.
    :param table_name: the table.
    """

    def __init__(self, database: SQLDatabase, table_name: str = "bastion_bans") -> None:
        self.database = database
        self._metadata = sa.MetaData()
        self.table = sa.Table(
            table_name,
            self._metadata,
            sa.Column("network", sa.String(64), primary_key=True),
            sa.Column("until", sa.Float, nullable=False, index=True),
            sa.Column("reason", sa.String(200), nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("by", sa.String(200), nullable=False),
        )
        self._hits = _Hits()

    def marker(self) -> object:
        return None

    def load(self) -> list[Ban]:
        c = self.table.c
        query = sa.select(c.network, c.until, c.reason, c.created_at, c.by)
        rows: list[t.Any] = list(self.database.run(query, tables=self._metadata).all())
        bans = []
        for network, until, reason, created_at, by in rows:
            try:
                bans.append(
                    Ban(stored_network(network), float(until), reason, float(created_at), by)
                )
            except (ValueError, OSError):  # a row written by hand: skipped, like Redis's
                continue
        return bans

    def add(self, ban: Ban, now: float) -> None:
        c = self.table.c
        self.database.run(sa.delete(self.table).where(c.until <= now), tables=self._metadata)
        values = {"until": ban.until, "reason": ban.reason, "created_at": ban.created_at,
                  "by": ban.by}  # fmt: skip
        dialect = self.database.engine.dialect.name
        if dialect in ("postgresql", "sqlite"):
            # An upsert: two processes banning one network at once both succeed.
            module = "postgresql" if dialect == "postgresql" else "sqlite"
            insert = importlib.import_module(f"sqlalchemy.dialects.{module}").insert
            statement = (
                insert(self.table)
                .values(network=str(ban.network), **values)
                .on_conflict_do_update(index_elements=[c.network], set_=values)
            )
        else:
            self.database.run(
                sa.delete(self.table).where(c.network == str(ban.network)), tables=self._metadata
            )
            statement = sa.insert(self.table).values(network=str(ban.network), **values)
        self.database.run(statement, tables=self._metadata)

    def remove(self, network: IPNetwork) -> bool:
        statement = sa.delete(self.table).where(self.table.c.network == str(network))
        options = statement.execution_options(preserve_rowcount=True)
        return self.database.run(options, tables=self._metadata).rowcount > 0

    def hit(self, key: str, window: int, now: float) -> int:
        return self._hits.hit(key, window, now)

    def close(self) -> None:
        """The shared database is closed with the application's stores."""
