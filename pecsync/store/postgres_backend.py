"""The shared state database: PostgreSQL through psycopg 3 and its async connection pool.

Several ``pecsync run`` processes, on one host or many, share one database: claims use
``FOR UPDATE SKIP LOCKED`` (queries_pg.sql), leases and owner-fenced writes work as on SQLite,
and idle workers ``LISTEN pecsync_jobs`` (a trigger notifies when a job becomes runnable)
instead of polling.  Statements are PostgreSQL's own (queries_pg.sql, the same names as
queries.sql); parameters are bound client-side as literals.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from itertools import groupby
from typing import Any

import anyio
import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from tenacity import RetryCallState

from pecsync.config import PostgresTarget
from pecsync.errors import StoreConflict, StoreError, StoreUnavailable
from pecsync.retrypolicy import DATABASE, DATABASE_BUSY
from pecsync.store.backend import Dialect, Params, Statement, Statements, committed
from pecsync.store.queries import pg_schema, sql
from pecsync.store.rows import NamedRow, Row, named_row

#: pg_advisory_lock key (a session lock) of schema creation and migrations (hosts starting
#: together take turns).
_SCHEMA_LOCK = 0x7065637379
CHANNEL = "pecsync_jobs"
log = structlog.get_logger("pecsync.store")
#: SQLSTATEs of a server going away: admin_shutdown, crash_shutdown, cannot_connect_now.
_GOING_AWAY = frozenset({"57P01", "57P02", "57P03"})


def _crossed(exc: BaseException) -> bool:
    """A deadlock or serialization failure (two hosts' transactions crossing): rolled back
    whole, nothing of it was written ("database busy")."""
    return isinstance(exc, (psycopg.errors.DeadlockDetected,
                            psycopg.errors.SerializationFailure))


def connection_lost(exc: BaseException) -> bool:
    """The connection to the database was lost or could not be made: the server was
    restarted or crashed (``server closed the connection unexpectedly``), is shutting down
    or starting up, or the pool found no working connection in time ("database")."""
    if isinstance(exc, _CommitInDoubt):
        return False
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, psycopg.OperationalError) or _crossed(exc):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in _GOING_AWAY


class _CommitInDoubt(Exception):
    """The connection was lost while COMMIT was on its way: the transaction may have been
    written.  Never tried again (it could be written twice)."""

    def __init__(self, cause: psycopg.Error) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _dialect(name: str) -> str:
    return sql(name, "postgresql")


def connection_kwargs(target: PostgresTarget) -> dict[str, Any]:
    """libpq keywords beside the URL: the password (never in the URL) and TLS options."""
    kwargs: dict[str, Any] = {"application_name": "pecsync"}
    password = os.environ.get("PECSYNC_DB_PASSWORD")
    if password is None and target.password_file is not None:
        try:
            password = target.password_file.read_text("utf-8").rstrip("\r\n")
        except OSError as exc:
            raise StoreError(f"{target.password_file}: cannot read the database password: "
                             f"{exc.strerror}") from None
    if password is not None:
        kwargs["password"] = password
    if target.sslmode:
        kwargs["sslmode"] = target.sslmode
    if target.sslrootcert:
        kwargs["sslrootcert"] = str(target.sslrootcert)
    return kwargs


def _first_line(exc: BaseException) -> str:
    # psycopg's messages name the server and the statement, never the password.
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _error(where: str, what: str, exc: BaseException) -> StoreError:
    """A lost connection the "database" policy could not get back is
    :class:`StoreUnavailable` (the mailbox waits), anything else :class:`StoreError`."""
    kind = StoreUnavailable if connection_lost(exc) else StoreError
    return kind(f"{where}: {what}: {_first_line(exc)}")


class _Step:
    dialect: Dialect = "postgresql"

    def __init__(self, cur: psycopg.AsyncCursor[NamedRow]) -> None:
        self.cur = cur

    async def rows(self, name: str, params: Params | None = None) -> list[Row]:
        await self.cur.execute(_dialect(name), params or {})
        return list(await self.cur.fetchall()) if self.cur.description else []

    async def execute(self, name: str, params: Params | None = None) -> None:
        await self.cur.execute(_dialect(name), params or {})


class _Migrator:
    """Holds the session advisory lock of schema changes on its connection."""

    dialect: Dialect = "postgresql"

    def __init__(self, conn: psycopg.AsyncConnection[NamedRow]) -> None:
        self.conn = conn

    async def meta(self, key: str) -> str | None:
        cur = self.conn.cursor()
        await cur.execute("SELECT to_regclass('meta') IS NOT NULL AS present")
        found = await cur.fetchone()
        if found is None or not found["present"]:
            return None
        await cur.execute(_dialect("meta_value"), {"key": key})
        row = await cur.fetchone()
        return None if row is None else str(row["value"])

    async def create_tables(self, baseline: str) -> None:
        async with self.conn.transaction():
            cur = self.conn.cursor()
            await cur.execute(pg_schema())  # no parameters: one script, several statements
            await cur.execute("INSERT INTO meta (key, value) VALUES ('schema', %s) "
                              "ON CONFLICT DO NOTHING", (baseline,))

    @contextlib.asynccontextmanager
    async def step(self) -> AsyncIterator[_Step]:
        async with self.conn.transaction():
            yield _Step(self.conn.cursor())


class PostgresBackend:
    shared = True
    #: LISTEN wakes idle workers; this only bounds how stale a missed notification can be.
    idle_poll_seconds = 10.0

    def __init__(self, pool: AsyncConnectionPool[psycopg.AsyncConnection[NamedRow]],
                 target: PostgresTarget, kwargs: dict[str, Any]) -> None:
        self.pool = pool
        self.target = target
        self.where = target.url
        self._kwargs = kwargs
        self._listener: asyncio.Task[None] | None = None
        self._listen_conn: psycopg.AsyncConnection[Any] | None = None
        self._work = anyio.Event()
        self._listening = False

    @classmethod
    async def open(cls, target: PostgresTarget) -> PostgresBackend:
        """The pool; the schema is the connector's (:meth:`migrator`)."""
        kwargs = connection_kwargs(target)
        pool: AsyncConnectionPool[psycopg.AsyncConnection[NamedRow]] = AsyncConnectionPool(
            target.url, min_size=1, max_size=max(2, target.pool_size), open=False,
            kwargs={**kwargs, "autocommit": True, "cursor_factory": psycopg.AsyncClientCursor,
                    # Rows are read by column name (pecsync.store.rows), and still by position.
                    "row_factory": named_row},
            timeout=60, name="pecsync")
        # One connection first: a wrong host, password or TLS setting fails at once with
        # the server's own words (a pool would retry it in the background until a timeout).
        try:
            conn = await psycopg.AsyncConnection.connect(target.url, connect_timeout=15,
                                                         **kwargs)
            await conn.close()
        except psycopg.Error as exc:
            raise _error(target.url, "cannot open state database", exc) from None
        try:
            await pool.open(wait=True, timeout=30)
        except Exception as exc:
            await pool.close()
            raise StoreError(f"{target.url}: cannot open state database: {exc}") from None
        return cls(pool, target, kwargs)

    @contextlib.asynccontextmanager
    async def migrator(self) -> AsyncIterator[_Migrator]:
        """A session advisory lock on one connection while the schema is created and
        migrated: hosts starting together take turns, each step in a transaction of its own."""
        try:
            async with self.pool.connection() as conn:
                await conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
                try:
                    yield _Migrator(conn)
                finally:
                    if not conn.broken:
                        await conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))
        except psycopg.Error as exc:
            raise _error(self.where, "cannot open state database", exc) from None

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(BaseException):
                await self._listener
        if self._listen_conn is not None:
            await self._listen_conn.close()
        await self.pool.close()

    async def transaction(self, statements: Statements) -> list[Row]:
        statements = list(statements)
        with anyio.CancelScope(shield=True):
            try:
                async for attempt in DATABASE.retrying(
                        connection_lost, before_sleep=self._reconnecting("write")):
                    with attempt:
                        async for busy in DATABASE_BUSY.retrying(_crossed):
                            with busy:
                                returned = await self._transaction_once(statements)
            except _CommitInDoubt as exc:
                raise StoreUnavailable(
                    f"{self.where}: write failed: the connection was lost during COMMIT "
                    f"({_first_line(exc.cause)}); the attempt ends and resumes from its "
                    f"checkpoints") from None
            except psycopg.errors.IntegrityError as exc:
                # A unique key another writer took first (see StoreConflict).
                raise StoreConflict(str(_error(self.where, "write failed", exc))) from None
            except (psycopg.Error, PoolTimeout) as exc:
                raise _error(self.where, "write failed", exc) from None
        if statements:
            committed(name for name, _ in statements)
        return returned

    def _reconnecting(self, what: str) -> Callable[[RetryCallState], Awaitable[None]]:
        """Before the "database" policy waits: say so, and have the pool check its idle
        connections (those of a restarted server are all dead) and make new ones."""
        async def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning("state_database_lost_retrying", what=what, policy=DATABASE.name,
                        error=_first_line(exc) if exc else None, attempt=state.attempt_number,
                        wait_seconds=round(state.upcoming_sleep, 2))
            with contextlib.suppress(Exception):
                await self.pool.check()
        return before_sleep

    async def _transaction_once(self, statements: list[Statement]) -> list[Row]:
        returned: list[Row] = []
        committing = False
        try:
            async with self.pool.connection() as conn, conn.transaction():
                cur = conn.cursor()
                changes = 0
                for name, run in groupby(statements, key=lambda st: st[0]):
                    text = _dialect(name)
                    rows = [params for _, params in run]
                    if "%(_changes)s" in text:  # see insert_job_event_if_changed
                        rows = [{**p, "_changes": changes} for p in rows]
                    if len(rows) == 1:
                        await cur.execute(text, rows[0])
                        while cur.nextset():  # an override of several statements
                            pass
                        returned = list(await cur.fetchall()) if cur.description else []
                    else:
                        await cur.executemany(text, rows)
                        returned = []
                    changes = max(cur.rowcount, 0)
                committing = True  # leaving the block sends COMMIT
        except psycopg.OperationalError as exc:
            if committing and connection_lost(exc):
                raise _CommitInDoubt(exc) from exc
            raise
        return returned

    async def query(self, name: str, params: Params) -> list[Row]:
        try:
            async for attempt in DATABASE.retrying(connection_lost,
                                                   before_sleep=self._reconnecting("read")):
                with attempt:
                    async with self.pool.connection() as conn:
                        cur = conn.cursor()
                        await cur.execute(_dialect(name), params)
                        while cur.nextset():
                            pass
                        return list(await cur.fetchall()) if cur.description else []
        except (psycopg.Error, PoolTimeout) as exc:
            raise _error(self.where, "read failed", exc) from None
        raise AssertionError("unreachable")

    async def execute_sql(self, text: str, params: Params | None = None) -> None:
        """A statement outside queries.sql (maintenance: VACUUM cannot run in a transaction)."""
        async with self.pool.connection() as conn:
            await conn.execute(text, params)

    async def compact(self) -> bool:
        # VACUUM FULL rewrites the table: no blanked or replaced ciphertext stays in its
        # pages (the server's WAL and backups are the operator's to manage).
        await self.execute_sql("VACUUM FULL credential")
        committed(["compact"])
        return True

    async def checkpoint(self) -> None:
        """Nothing to do: a committed transaction is durable (the server's WAL)."""

    async def _listen(self) -> None:
        while True:
            try:
                if self._listen_conn is None or self._listen_conn.closed:
                    # The server was restarted: LISTEN again on a new connection.
                    self._listen_conn = await psycopg.AsyncConnection.connect(
                        self.target.url, autocommit=True, **self._kwargs)
                    await self._listen_conn.execute(f"LISTEN {CHANNEL}")
                async for _ in self._listen_conn.notifies():
                    self._work.set()
                    self._work = anyio.Event()
            except psycopg.Error:
                if self._listen_conn is not None and self._listen_conn.broken:
                    with contextlib.suppress(psycopg.Error):
                        await self._listen_conn.close()
                await anyio.sleep(1.0)  # polling still bounds the wait

    async def wait_for_work(self, timeout: float) -> None:
        if not self._listening:
            self._listening = True  # one listener for every waiting worker
            try:
                self._listen_conn = await psycopg.AsyncConnection.connect(
                    self.target.url, autocommit=True, **self._kwargs)
                await self._listen_conn.execute(f"LISTEN {CHANNEL}")
                self._listener = asyncio.get_running_loop().create_task(self._listen())
            except psycopg.Error:
                self._listen_conn = None
        with anyio.move_on_after(timeout):
            await self._work.wait()
