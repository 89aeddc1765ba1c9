"""The embedded state database: one SQLite file (aiosqlite), the default.

Durability: WAL mode with ``synchronous=FULL``; every transaction commits before it returns,
so what it wrote survives ``kill -9`` and power loss.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from itertools import groupby
from pathlib import Path
from typing import TypeVar, cast

import aiosqlite
import anyio

from pecsync.errors import StoreConflict, StoreError, StoreUnavailable
from pecsync.retrypolicy import DATABASE_BUSY
from pecsync.store.backend import Dialect, Params, Statement, Statements, committed
from pecsync.store.queries import schema, sql
from pecsync.store.rows import Row

T = TypeVar("T")


def _locked(exc: BaseException) -> bool:
    """The database was locked past the busy timeout (the web server and `run` write one
    database): nothing was written, so it is tried again under the "database busy" policy,
    and when that is spent the mailbox waits (``retry_wait``), it does not fail."""
    if not isinstance(exc, aiosqlite.OperationalError):
        return False
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _private_side_files(path: Path) -> None:
    for suffix in ("-wal", "-shm"):
        side = Path(str(path) + suffix)
        if side.exists():
            os.chmod(side, 0o600)


class _Step:
    dialect: Dialect = "sqlite"

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def rows(self, name: str, params: Params | None = None) -> list[Row]:
        return list(await self.db.execute_fetchall(sql(name), params or {}))

    async def execute(self, name: str, params: Params | None = None) -> None:
        await self.db.execute(sql(name), params or {})


class _Migrator:
    dialect: Dialect = "sqlite"

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def meta(self, key: str) -> str | None:
        if not list(await self.db.execute_fetchall(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'")):
            return None
        rows = list(await self.db.execute_fetchall(sql("meta_value"), {"key": key}))
        return None if not rows else str(rows[0]["value"])

    async def create_tables(self, baseline: str) -> None:
        await self.db.executescript(schema())
        await self.db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)",
                              (baseline,))

    @contextlib.asynccontextmanager
    async def step(self) -> AsyncIterator[_Step]:
        # IMMEDIATE: the write lock from the start, so two processes opening the same old
        # database take turns (the second finds the step done).
        await self.db.execute("BEGIN IMMEDIATE")
        try:
            yield _Step(self.db)
        except BaseException:
            await self.db.execute("ROLLBACK")
            raise
        await self.db.execute("COMMIT")


class SqliteBackend:
    shared = False
    idle_poll_seconds = 1.0

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self.db = db
        self.path = path
        self.where = str(path)
        #: Workers share one connection: one transaction at a time.
        self.lock = anyio.Lock()

    @classmethod
    async def open(cls, path: Path) -> SqliteBackend:
        """The connection; the schema is the connector's (:meth:`migrator`)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            # Created private: it will hold mailbox names and, later, encrypted credentials.
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        db: aiosqlite.Connection | None = None
        try:
            db = await aiosqlite.connect(path, isolation_level=None)
            # The busy timeout first: switching to WAL waits for another opener's lock too.
            await db.execute("PRAGMA busy_timeout = 10000")
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = FULL")
            # Rows are read by column name (pecsync.store.rows), and still by position.
            db.row_factory = aiosqlite.Row
        except BaseException as exc:
            if db is not None:
                await db.close()  # its thread would keep the process from exiting
            if isinstance(exc, aiosqlite.Error):
                raise StoreError(f"{path}: cannot open state database: {exc}") from None
            raise
        _private_side_files(path)
        return cls(db, path)

    @contextlib.asynccontextmanager
    async def migrator(self) -> AsyncIterator[_Migrator]:
        async with self.lock:
            try:
                yield _Migrator(self.db)
            except aiosqlite.Error as exc:
                raise StoreError(f"{self.path}: cannot open state database: {exc}") from None
        _private_side_files(self.path)  # the schema's first writes may have made them

    async def close(self) -> None:
        await self.db.close()

    async def transaction(self, statements: Statements) -> list[Row]:
        """Shielded: a cancellation (a failing sibling task, a second Ctrl-C) waits for the
        transaction to end, so the shared connection is never left inside one."""
        returned: list[Row] = []
        statements = list(statements)
        with anyio.CancelScope(shield=True):
            async with self.lock:
                try:
                    returned = await DATABASE_BUSY.run(
                        lambda: self._transaction_once(statements), _locked)
                except aiosqlite.IntegrityError as exc:
                    raise StoreConflict(f"{self.path}: write failed: {exc}") from None
                except aiosqlite.Error as exc:
                    raise self._error("write", exc) from None
        if statements:
            committed(name for name, _ in statements)
        return returned

    async def _transaction_once(self, statements: Sequence[Statement]) -> list[Row]:
        return await on_db_thread(self.db, lambda conn: _run_transaction(conn, statements))

    async def query(self, name: str, params: Params) -> list[Row]:
        # One hop to the database thread (execute, fetch and close there), not three.
        async def read() -> list[Row]:
            return list(await self.db.execute_fetchall(sql(name), params))
        try:
            return await DATABASE_BUSY.run(read, _locked)
        except aiosqlite.OperationalError as exc:
            raise self._error("read", exc) from None

    def _error(self, what: str, exc: aiosqlite.Error) -> StoreError:
        """Still locked after the "database busy" policy: the database is unavailable for
        now (:class:`StoreUnavailable`: the mailbox waits, it does not fail)."""
        kind = StoreUnavailable if _locked(exc) else StoreError
        return kind(f"{self.path}: {what} failed: {exc}")

    async def compact(self) -> bool:
        """Leave no erased byte in the files: checkpoint the WAL into the database and
        truncate it, rebuild the database (``VACUUM``), then checkpoint and truncate again
        (in WAL mode ``VACUUM`` writes through the WAL); ``secure_delete`` zeroes what is
        freed meanwhile.  False when another connection (a ``run`` in progress) kept a
        checkpoint from completing.  (The same as the safety branch's
        CheckpointStore.compact, here behind the backend interface.)"""
        async with self.lock:
            try:
                # Every statement through execute_fetchall: a cursor left open on a PRAGMA's
                # result row is a statement in progress, and VACUUM refuses to run then.
                await self.db.execute_fetchall("PRAGMA secure_delete = ON")
                first = await self._checkpoint()
                await self.db.execute_fetchall("VACUUM")
                second = await self._checkpoint()
            except aiosqlite.Error as exc:
                raise StoreError(f"{self.path}: cannot compact the state database: {exc}",
                                 hint="stop any pecsync process using it, then run the "
                                      "command again") from None
        committed(["compact"])
        return first and second

    async def _checkpoint(self) -> bool:
        rows = list(await self.db.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)"))
        return not rows or int(rows[0][0]) == 0  # (busy, wal frames, checkpointed)

    async def checkpoint(self) -> None:
        async with self.lock:
            await self._checkpoint()

    async def wait_for_work(self, timeout: float) -> None:
        # Another process's import is seen at the next poll.
        await anyio.sleep(timeout)


def _run_transaction(conn: sqlite3.Connection, statements: Sequence[Statement]) -> list[Row]:
    """*statements* in one transaction, on the database thread; the rows the last run of one
    statement returned (``RETURNING``), when that run was a single row."""
    returned: list[Row] = []
    try:
        conn.execute("BEGIN IMMEDIATE")
        # Runs of the same statement go in one executemany (a batch has hundreds of rows).
        for name, run in groupby(statements, key=lambda st: st[0]):
            rows = [params for _, params in run]
            if len(rows) == 1:
                returned = conn.execute(sql(name), rows[0]).fetchall()
            else:
                conn.executemany(sql(name), rows)
                returned = []
        conn.execute("COMMIT")
    except BaseException:
        # Whatever failed (a value SQLite cannot bind, say), the shared connection must not
        # stay inside the transaction.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return returned


async def on_db_thread(db: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """*fn* called with the sqlite3 connection on aiosqlite's own thread, in one hop.

    A transaction is one hop to the database thread, not one per statement (BEGIN, each run
    of rows, COMMIT): each hop is a queue, a thread wake-up and a future back on the event
    loop.  A copy records three transactions per batch; with 14,000 transactions in a run of
    20 x 1,500 messages, the hops were about 0.1 ms of CPU each (issue 26,
    bench/README.md).  aiosqlite has no public call for this: ``_execute`` is how its own
    methods reach the thread, unchanged from 0.19 to 0.22 (tests/unit/test_sqlite_hops.py
    fails if it goes)."""
    execute = cast(Callable[[Callable[[], T]], Awaitable[T]], db._execute)
    return await execute(lambda: fn(db._conn))
