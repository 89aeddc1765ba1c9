"""A SQLite transaction is one hop to aiosqlite's database thread (on_db_thread), with
what a transaction promised before: all or nothing, the connection never left inside one,
the rows of a single-row run returned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pecsync.errors import StoreConflict
from pecsync.store.connector import Connector
from pecsync.store.sqlite_backend import SqliteBackend

NOW = "2026-12-07T19:00:00+00:00"


async def _open(tmp_path: Path) -> tuple[Connector, SqliteBackend]:
    store = await Connector.open(tmp_path / "state.sqlite3")
    assert isinstance(store.backend, SqliteBackend)
    return store, store.backend


def _mailbox(user: str) -> tuple[str, dict[str, Any]]:
    return ("upsert_mailbox", {"src_user": user, "dst_user": user, "now": NOW})


async def _users(backend: SqliteBackend) -> list[str]:
    return [r[0] for r in await backend.db.execute_fetchall(
        "SELECT src_user FROM mailbox ORDER BY src_user")]


async def test_a_transaction_is_one_hop_to_the_database_thread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, backend = await _open(tmp_path)
    try:
        hops = 0
        real = backend.db._execute

        async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
            nonlocal hops
            hops += 1
            return await real(fn, *args, **kwargs)

        monkeypatch.setattr(backend.db, "_execute", counted)
        await backend.transaction([_mailbox(f"u{i}@pec.it") for i in range(50)]
                                  + [("get_mailbox_id", {"src_user": "u7@pec.it"})])
        assert hops == 1  # was 4: BEGIN, the run of 50, the query, COMMIT
        assert len(await _users(backend)) == 50
    finally:
        await store.close()


async def test_the_rows_of_the_last_single_row_run_are_returned(tmp_path: Path) -> None:
    store, backend = await _open(tmp_path)
    try:
        rows = await backend.transaction([_mailbox("a@pec.it"),
                                          ("get_mailbox_id", {"src_user": "a@pec.it"})])
        assert len(rows) == 1 and rows[0]["id"] > 0
        # A run of several rows last: no rows.
        assert await backend.transaction([_mailbox("b@pec.it"), _mailbox("c@pec.it")]) == []
    finally:
        await store.close()


async def test_a_failing_statement_leaves_nothing_and_no_open_transaction(
        tmp_path: Path) -> None:
    store, backend = await _open(tmp_path)
    try:
        await backend.transaction([_mailbox("a@pec.it")])
        # A mailbox without its destination user (NOT NULL) fails after two good rows.
        bad = ("upsert_mailbox", {"src_user": "x@pec.it", "dst_user": None, "now": NOW})
        with pytest.raises(StoreConflict):
            await backend.transaction([_mailbox("b@pec.it"), _mailbox("c@pec.it"),
                                       ("get_mailbox_id", {"src_user": "b@pec.it"}), bad])
        assert not backend.db.in_transaction
        assert await _users(backend) == ["a@pec.it"]  # b and c rolled back with it
        await backend.transaction([_mailbox("d@pec.it")])  # the connection still works
        assert await _users(backend) == ["a@pec.it", "d@pec.it"]
    finally:
        await store.close()
