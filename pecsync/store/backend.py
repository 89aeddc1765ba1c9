"""The interface the two state-database backends share (SQLite embedded, PostgreSQL shared).

Everything above ``pecsync.store`` sees :class:`pecsync.store.checkpoints.CheckpointStore`
only; inside the store, :class:`pecsync.store.connector.Connector` owns one of these and the
repositories run named statements (queries.sql) through it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Literal, Protocol

from pecsync.faults import armed, step
from pecsync.store.rows import Row

Dialect = Literal["sqlite", "postgresql"]
#: A named statement's parameters: ``{"folder_id": 3, "src_uid": 7}``.
Params = Mapping[str, object]
#: A named statement of queries.sql and its parameters.
Statement = tuple[str, Params]
Statements = Iterable[Statement]


def committed(names: Iterable[str]) -> None:
    """A transaction of these named statements has just committed: one crash step
    (pecsync.faults), named after its distinct statements in order, e.g.
    ``commit:insert_message+set_high_water``.  Each backend calls this after every commit,
    as mbsync counts its journal writes, so the crash-at-every-step tests reach every durable
    write (job rows, leases, intake, notes) without a hand-placed call.  Free when no fault
    test is running: the name is built only then."""
    if armed():
        step("commit:" + "+".join(dict.fromkeys(names)))


class MigrationStep(Protocol):
    """Inside the transaction of one numbered migration (pecsync.store.migrations)."""

    #: The SQL dialect, for a step that needs its own text per backend.
    dialect: Dialect

    async def rows(self, name: str, params: Params | None = None) -> list[Row]: ...

    async def execute(self, name: str, params: Params | None = None) -> None: ...


class Migrator(Protocol):
    """The backend's side of :func:`pecsync.store.migrations.upgrade`, while it holds the
    right to migrate (PostgreSQL: a session advisory lock, so two hosts never migrate at
    once; SQLite: each step's ``BEGIN IMMEDIATE``)."""

    dialect: Dialect

    async def meta(self, key: str) -> str | None:
        """A ``meta`` value; None when it or the table is missing (a new database)."""
        ...

    async def create_tables(self, baseline: str) -> None:
        """schema.sql (``CREATE ... IF NOT EXISTS``: tables that exist stay as they are), and
        ``meta.schema`` = *baseline* when the database has none (a new database)."""
        ...

    def step(self) -> AbstractAsyncContextManager[MigrationStep]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        ...


class Backend(Protocol):
    #: For messages: the SQLite file, or the PostgreSQL URL (never a password).
    where: str
    #: Several processes (hosts) share this database as a matter of course.
    shared: bool
    #: Seconds an idle worker sleeps before looking again when nothing wakes it.
    idle_poll_seconds: float

    def migrator(self) -> AbstractAsyncContextManager[Migrator]:
        """The right to migrate this database, held until the block ends."""
        ...

    async def transaction(self, statements: Statements) -> list[Row]:
        """Run named statements in one transaction; the rows the last one returned, when it
        ran on its own (``RETURNING``)."""
        ...

    async def query(self, name: str, params: Params) -> list[Row]: ...

    async def compact(self) -> bool:
        """Give back the space of deleted or blanked rows so their bytes leave the files;
        False when another process kept that from completing."""
        ...

    async def checkpoint(self) -> None:
        """Make what was committed durable in the main database file(s)."""
        ...

    async def wait_for_work(self, timeout: float) -> None:
        """Return when a job may have become runnable somewhere (PostgreSQL: LISTEN), or
        after *timeout* seconds."""
        ...

    async def close(self) -> None: ...
