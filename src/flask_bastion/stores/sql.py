"""SQL databases shared by every component: one engine per URL, bounded waits, and one
translation of failures.

Every operation waits a bounded time and fails with :class:`~flask_bastion.stores.StoreError`
(a 503 for the request), instead of holding a worker until the server's own timeout
kills it: connecting is bounded by ``connect_timeout`` (PostgreSQL's ``connect_timeout``,
which covers the TCP connect and the startup handshake), a statement by
``statement_timeout`` (PostgreSQL's ``statement_timeout``, SQLite's lock wait) and, for a
server that stops answering on an established connection, where no server-side timeout
can help, by a deadline the client enforces itself (:class:`_Watchdog`). A failure's
message never leaves this module: it may hold the URL and its password.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import threading
import time
import typing as t
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from ..exceptions import ConfigurationError, StoreError

#: Seconds the client waits beyond ``statement_timeout`` before it cuts a connection
#: itself: the server's own cancellation, which keeps the connection usable, comes first.
_GRACE = 1.0
#: PostgreSQL drivers that take libpq's ``connect_timeout`` and ``options``.
_LIBPQ_DRIVERS = ("psycopg", "psycopg2")


def _timeouts(url: sa.URL, connect_timeout: int, statement_timeout: int) -> dict[str, t.Any]:
    """Connection arguments that bound connecting and each statement; the URL's own
    query parameters win over them."""
    if url.get_backend_name() == "sqlite":
        return {} if "timeout" in url.query else {"timeout": float(statement_timeout)}
    if url.get_backend_name() != "postgresql" or url.get_driver_name() not in _LIBPQ_DRIVERS:
        return {}
    args: dict[str, t.Any] = {}
    if "connect_timeout" not in url.query:
        args["connect_timeout"] = connect_timeout
    # connect_args replace the URL's options: keep them, after ours so that they win.
    given = url.query.get("options", ())
    options = [f"-c statement_timeout={statement_timeout * 1000}"]
    options += [given] if isinstance(given, str) else list(given)
    args["options"] = " ".join(options)
    return args


class _Entry:
    """A statement under watch."""

    __slots__ = ("cut", "deadline", "fd")

    def __init__(self, deadline: float, fd: int) -> None:
        self.deadline = deadline
        self.fd = fd
        #: Set when the watchdog cut the connection.
        self.cut = False


class _Watchdog:
    """Cuts the connection of a statement that outlives its deadline.

    A server that stops answering on an established connection (paused or frozen, its
    disk hung, a network fault that leaves the socket open) never sends the error of its
    own ``statement_timeout``: the client would wait in ``recv`` for ever. One thread
    per process sleeps until the earliest deadline and shuts down the socket of every
    statement past it; the blocked call then fails at once and SQLAlchemy discards the
    connection. A statement costs one lock round trip to register and unregister.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._entries: set[_Entry] = set()
        self._thread: threading.Thread | None = None
        #: When the watcher wakes next by itself (never, when nothing is watched).
        self._wake_at = math.inf

    @contextlib.contextmanager
    def limit(self, fd: int, seconds: float) -> Iterator[_Entry]:
        """Watch the connection on socket ``fd`` for ``seconds``."""
        entry = _Entry(time.monotonic() + seconds, fd)
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="flask-bastion-sql-deadline", daemon=True
                )
                self._thread.start()
            self._entries.add(entry)
            if entry.deadline < self._wake_at:
                self._cond.notify()
        try:
            yield entry
        finally:
            # Unregistered before the connection can be closed: the socket the
            # watchdog might shut down is always this statement's.
            with self._cond:
                self._entries.discard(entry)

    def _watch(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                self._wake_at = math.inf
                for entry in self._entries:
                    if entry.cut:
                        continue
                    if entry.deadline <= now:
                        entry.cut = True
                        _shut_down(entry.fd)
                    else:
                        self._wake_at = min(self._wake_at, entry.deadline)
                idle = self._wake_at == math.inf
                self._cond.wait(None if idle else self._wake_at - now)


def _shut_down(fd: int) -> None:
    """Shut down the socket ``fd`` (every descriptor of it), leaving ``fd`` open."""
    with contextlib.suppress(OSError), socket.socket(fileno=os.dup(fd)) as sock:
        sock.shutdown(socket.SHUT_RDWR)  # fails only if the peer closed it already


_WATCHDOGS: dict[int, _Watchdog] = {}


def _watchdog() -> _Watchdog:
    """This process's watchdog (a forked worker does not inherit the parent's thread)."""
    pid = os.getpid()
    watchdog = _WATCHDOGS.get(pid)
    if watchdog is None:
        watchdog = _WATCHDOGS.setdefault(pid, _Watchdog())
    return watchdog


class SQLDatabase:
    """One database: its engine, its timeouts and the one way statements run on it.

    :param engine: a SQLAlchemy engine (the application's, with its own connection
        arguments and isolation level), or a database URL to create one from.
    :param connect_timeout: seconds to wait for a new PostgreSQL connection, handshake
        included (libpq waits at least 2).
    :param statement_timeout: seconds a statement may take: PostgreSQL's
        ``statement_timeout``, SQLite's wait for a lock; on PostgreSQL the client cuts the
        connection itself a second later if the server sends nothing at all.
    :param name: what the failures are called (``"session store: OperationalError"``).

    An engine passed in keeps its own connection arguments: give it ``connect_timeout``
    and ``statement_timeout`` (or SQLite's ``timeout``) yourself. The client-side
    deadline applies to it as well.
    """

    def __init__(
        self,
        engine: sa.Engine | str,
        *,
        connect_timeout: int = 5,
        statement_timeout: int = 5,
        name: str = "store",
    ) -> None:
        if isinstance(engine, str):
            url = sa.make_url(engine)
            # Every operation is one statement, atomic by itself: in autocommit mode it
            # costs no BEGIN and COMMIT round trips around it.
            engine = sa.create_engine(
                url,
                isolation_level="AUTOCOMMIT",
                connect_args=_timeouts(url, connect_timeout, statement_timeout),
            )
            self._connect: t.Callable[[], t.ContextManager[sa.Connection]] = engine.connect
        else:  # the application's engine, with its own isolation level
            self._connect = engine.begin
        #: The engine.
        self.engine = engine
        self.name = name
        #: Seconds after which the client cuts a PostgreSQL connection that sent nothing.
        self.deadline = statement_timeout + _GRACE
        self._watched = engine.dialect.name == "postgresql"
        self._ready: set[int] = set()
        self._creating = threading.Lock()

    def close(self) -> None:
        """Close the engine's pooled connections."""
        self.engine.dispose()

    def run(
        self,
        statement: t.Any,
        parameters: dict[str, t.Any] | None = None,
        *,
        tables: sa.MetaData | None = None,
    ) -> sa.CursorResult[t.Any]:
        """Run ``statement`` in its own transaction; create ``tables`` first, once.

        Pooled connections are not pinged before use (that would be a second round trip
        on every request). A connection the database dropped, after a restart or failover,
        fails its first statement; SQLAlchemy then discards the pool and the statement is
        retried once on a fresh connection, so only a database that stays down is an error.

        :raises StoreError: naming only the kind of failure.
        """
        try:
            try:
                return self._execute(statement, parameters, tables)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                return self._execute(statement, parameters, tables)
        except SQLAlchemyError as exc:  # the message may hold the URL: never pass it on
            raise StoreError(f"{self.name}: {type(exc).__name__}") from None

    def _execute(
        self,
        statement: t.Any,
        parameters: dict[str, t.Any] | None,
        tables: sa.MetaData | None,
    ) -> sa.CursorResult[t.Any]:
        with self._connect() as connection:
            entry: _Entry | None = None
            try:
                with self._watch(connection) as entry:
                    if tables is not None and id(tables) not in self._ready:
                        # One thread creates them: concurrent first requests would each
                        # find the tables missing and all but one fail to create them.
                        with self._creating:
                            if id(tables) not in self._ready:
                                tables.create_all(connection, checkfirst=True)
                                self._ready.add(id(tables))
                    result = connection.execute(statement, parameters)
                    if result.returns_rows:
                        # Read every row while the connection is held: a cursor still
                        # open goes back to the pool, which may close its connection (an
                        # overflow one, under load), and SQLite keeps a reader's lock
                        # until its cursor is done, blocking every writer.
                        return t.cast("sa.CursorResult[t.Any]", result.freeze()())
                    return result
            finally:
                if entry is not None and entry.cut:  # final once unwatched
                    connection.invalidate()  # its socket is shut down: never reuse it
                    # Not retried, unlike a dropped connection: the server is not answering.
                    raise StoreError(f"{self.name}: no answer within the deadline") from None

    @contextlib.contextmanager
    def _watch(self, connection: sa.Connection) -> Iterator[_Entry | None]:
        """Put ``connection`` under the watchdog while a statement runs on it."""
        fileno = getattr(connection.connection.dbapi_connection, "fileno", None)
        if not self._watched or fileno is None:
            yield None
            return
        with _watchdog().limit(fileno(), self.deadline) as entry:
            yield entry


class UpsertTables:
    """Base of the stores that count in SQL tables with atomic ``INSERT ... ON CONFLICT``
    statements (the sign-in counters, the upload quota): the dialect's ``insert``, the
    tables' metadata (created on first use) and the one way their statements run. Only
    SQLite and PostgreSQL spell the upsert so.

    :param database: the shared database.
    :param key: the configuration key that chose the database, named in the error.
    :param needs: the error message's start, ``"the quota counters need"``.
    :raises ConfigurationError: for a database other than SQLite or PostgreSQL.
    """

    def __init__(self, database: SQLDatabase, *, key: str, needs: str) -> None:
        dialect = database.engine.dialect.name
        insert: t.Callable[[sa.Table], t.Any]
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as insert_pg

            insert = insert_pg
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as insert_sqlite

            insert = insert_sqlite
        else:
            raise ConfigurationError(key, f"{needs} SQLite or PostgreSQL, not {dialect}.")
        self._insert = insert
        self.database = database
        self._metadata = sa.MetaData()

    def _run(self, statement: t.Any) -> sa.CursorResult[t.Any]:
        # The row count is kept before the connection goes back to the pool (an upsert's
        # is lost otherwise on PostgreSQL). Writes return no rows: SQLite holds its write
        # lock until a statement's rows are all read.
        options = statement.execution_options(preserve_rowcount=True)
        return self.database.run(options, tables=self._metadata)
