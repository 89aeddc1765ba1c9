"""The interface the two state-database backends share (SQLite embedded, PostgreSQL shared).

Everything above ``pecsync.store`` sees :class:`pecsync.store.checkpoints.CheckpointStore`
only; the store runs named statements (queries.sql) through one of these.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from pecsync.faults import armed, step

Statements = Iterable[tuple[str, dict[str, Any]]]


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
    """Inside the exclusive transaction that brings a database up to this schema."""

    async def rows(self, name: str, params: dict[str, Any] | None = None) -> list[Any]: ...

    async def execute(self, name: str, params: dict[str, Any] | None = None) -> None: ...


class Backend(Protocol):
    #: For messages: the SQLite file, or the PostgreSQL URL (never a password).
    where: str
    #: Several processes (hosts) share this database as a matter of course.
    shared: bool
    #: Seconds an idle worker sleeps before looking again when nothing wakes it.
    idle_poll_seconds: float

    async def transaction(self, statements: Statements) -> list[Any]:
        """Run named statements in one transaction; the rows the last one returned, when it
        ran on its own (``RETURNING``)."""
        ...

    async def query(self, name: str, params: dict[str, Any]) -> list[Any]: ...

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
