"""The connection layer of the state database: one backend, its schema, its transactions.

A :class:`Connector` opens the backend a target names (a path: SQLite; a PostgreSQL target or
URL: PostgreSQL), brings the schema up to date (:mod:`pecsync.store.migrations`), and runs
named statements (queries.sql) in transactions; it also owns what concerns the connection as
a whole: compaction, checkpoints and waiting for work (PostgreSQL ``LISTEN``).

The repositories are the named methods over it, one per subject, each built from the object
:meth:`pecsync.store.checkpoints.CheckpointStore.open` returns (or a connector):
:class:`~pecsync.store.checkpoints.CheckpointStore` (folders and messages: the ledger),
:class:`~pecsync.store.jobs.JobStore` (jobs and credentials),
:class:`~pecsync.store.intake.IntakeStore`, :class:`~pecsync.store.reporting.ReportStore`,
:class:`~pecsync.store.syncstate.SyncStore`, :class:`~pecsync.store.links.LinkStore`,
:class:`~pecsync.store.checks.CredentialChecks`, :class:`~pecsync.store.slots.SlotLeases` and
:mod:`pecsync.store.keys`.  This is procrastinate's split of a manager of named methods over a
connector.  ``_query``/``_transaction`` are private to ``pecsync/store/``
(tests/unit/test_store_boundary.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import aiosqlite

from pecsync.config import PostgresTarget, is_postgres_url
from pecsync.store.backend import Backend, Params, Statements
from pecsync.store.migrations import upgrade
from pecsync.store.rows import Row
from pecsync.store.sqlite_backend import SqliteBackend


class Connected(Protocol):
    """What a repository is built from: a connector, or a repository that has one."""

    @property
    def connector(self) -> Connector: ...


class Connector:
    """``connector = await Connector.open(path_or_target)``; close it when done."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        #: The SQLite file or the PostgreSQL URL (for messages).
        self.where = backend.where

    @classmethod
    async def open(cls, target: Path | str | PostgresTarget) -> Connector:
        """The state database at *target*: a path opens (or creates) SQLite, a PostgreSQL
        target (or ``postgresql://`` URL) the shared database; the schema is created or
        migrated either way (:func:`pecsync.store.migrations.upgrade`)."""
        backend: Backend
        if isinstance(target, str) and is_postgres_url(target):
            target = PostgresTarget(target)
        if isinstance(target, PostgresTarget):
            from pecsync.store.postgres_backend import PostgresBackend

            backend = await PostgresBackend.open(target)
        else:
            backend = await SqliteBackend.open(Path(target))
        try:
            async with backend.migrator() as migrator:
                await upgrade(migrator)
        except BaseException:
            await backend.close()  # its thread or pool would keep the process from exiting
            raise
        return cls(backend)

    @property
    def connector(self) -> Connector:
        return self

    @property
    def shared(self) -> bool:
        """Several processes or hosts are expected to share this database."""
        return self.backend.shared

    @property
    def idle_poll_seconds(self) -> float:
        """How long an idle worker sleeps before looking again when nothing wakes it."""
        return self.backend.idle_poll_seconds

    @property
    def path(self) -> Path:
        """The SQLite file (SQLite only)."""
        assert isinstance(self.backend, SqliteBackend)
        return self.backend.path

    @property
    def db(self) -> aiosqlite.Connection:
        """The aiosqlite connection (SQLite only: tests and SQLite maintenance)."""
        assert isinstance(self.backend, SqliteBackend)
        return self.backend.db

    async def close(self) -> None:
        await self.backend.close()

    # --- named statements (private to pecsync.store) --------------------------------------
    async def _transaction(self, statements: Statements) -> list[Row]:
        """Run statements in one transaction (one fsync); the rows the last one returned
        (``RETURNING``), when it ran on its own.

        Shielded: a cancellation (a failing sibling task, a second Ctrl-C) waits for the
        transaction to end, so a connection is never left inside one."""
        return await self.backend.transaction(statements)

    async def _query(self, name: str, params: Params | None = None) -> list[Row]:
        return await self.backend.query(name, params or {})

    async def _one(self, name: str, params: Params | None = None) -> Row | None:
        """The first row of a query, or None."""
        rows = await self._query(name, params)
        return rows[0] if rows else None

    async def _value(self, name: str, params: Params | None = None) -> Any:
        """The one column of a query's first row (``COUNT(*)``, ``MIN(at)``), or None."""
        rows = await self._query(name, params)
        return rows[0][0] if rows else None

    # --- the connection as a whole --------------------------------------------------------
    async def compact(self) -> bool:
        """Space of blanked rows given back, so their bytes leave the database files; False
        when another process (a run in progress) kept that from completing."""
        return await self.backend.compact()

    async def checkpoint(self) -> None:
        await self.backend.checkpoint()

    async def wait_for_work(self, timeout: float) -> None:
        """Until a job may have become runnable (PostgreSQL: NOTIFY), at most *timeout* s."""
        await self.backend.wait_for_work(timeout)


class Repository:
    """Named methods over a connector: ``JobStore(store, vault)``, ``IntakeStore(store)``…
    built from what :meth:`CheckpointStore.open` returns (or a :class:`Connector`)."""

    def __init__(self, store: Connected) -> None:
        self.connector = store.connector
