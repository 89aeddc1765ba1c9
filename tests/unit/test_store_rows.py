"""Rows become dataclasses by column name, never by position (pecsync.store.rows)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import pytest

from pecsync.store.rows import NamedRow, RowMapper, _row_class, opt_int


@dataclass(frozen=True)
class Pair:
    id: int
    order: str
    note: int | None


PAIR = RowMapper(Pair, rename={"order": "order_name"}, note=opt_int)


def _sqlite_rows(select: str) -> list[sqlite3.Row]:
    db = sqlite3.connect(":memory:")
    db.row_factory = sqlite3.Row
    return db.execute(select).fetchall()


def test_columns_are_matched_by_name_in_any_order() -> None:
    one = _sqlite_rows("SELECT 7 AS id, 'A' AS order_name, '3' AS note")
    other = _sqlite_rows("SELECT '3' AS note, 'A' AS order_name, 7 AS id, 'x' AS extra")
    assert PAIR.all(one) == PAIR.all(other) == [Pair(7, "A", 3)]
    assert PAIR(_sqlite_rows("SELECT NULL AS note, 'B' AS order_name, 1 AS id")[0]) == Pair(
        1, "B", None)


def test_a_missing_column_is_named() -> None:
    with pytest.raises(KeyError, match="Pair: the query returns no column 'order_name'"):
        PAIR.all(_sqlite_rows("SELECT 1 AS id, 2 AS note"))


def test_a_mapper_for_a_field_that_does_not_exist_is_refused() -> None:
    with pytest.raises(AssertionError, match="no field"):
        RowMapper(Pair, colour=str)


def test_postgresql_rows_read_by_name_and_position() -> None:
    cls = _row_class(("id", "order_name", "note"))
    row = cls((7, "A", None))
    assert isinstance(row, NamedRow) and isinstance(row, tuple)
    assert (row["order_name"], row[0], row.keys()) == ("A", 7, ["id", "order_name", "note"])
    assert PAIR(row) == Pair(7, "A", None)
    assert row == (7, "A", None)


async def test_a_reason_stored_with_the_old_mailbox_prefix_reads_without_it(tmp_path: Any) -> None:
    from pecsync.model import MailboxRow
    from pecsync.store.checkpoints import CheckpointStore
    from pecsync.store.jobs import JobStore

    address = "m@pec.example.it"
    async with await CheckpointStore.open(tmp_path / "s.sqlite3") as store:
        jobs = JobStore(store, None)
        await jobs.import_rows([MailboxRow(2, "O", address, address, None, address, None)],
                               src_master=True, dst_master=True)
        await store.db.execute("UPDATE job SET error_text = ?",
                               (f"mailbox {address}: login refused",))
        job = await jobs.job(address)
        assert job is not None and job.error_text == "login refused"
        assert [j.error_text for j in await jobs.jobs()] == ["login refused"]


async def test_copies_read_by_name_from_every_query_that_returns_them(tmp_path: Any) -> None:
    """copied_messages, unverified_copies_above and copies_by_uid give the same copies."""
    import hashlib
    from datetime import UTC, datetime

    from pecsync.model import FetchedMessage, MessageInfo
    from pecsync.store.checkpoints import Appended, CheckpointStore
    from pecsync.store.syncstate import SyncStore

    def msg(uid: int) -> FetchedMessage:
        body = f"Subject: {uid}\r\n\r\nx\r\n".encode()
        return FetchedMessage(MessageInfo(uid, len(body), ("\\Seen", "$Label"),
                                          datetime(2026, 3, 1, tzinfo=UTC)),
                              body, hashlib.sha256(body).hexdigest(), f"<{uid}@x>")

    async with await CheckpointStore.open(tmp_path / "s.sqlite3") as store:
        mailbox = await store.mailbox_id("a@pec.example.it", "a@pec.example.it")
        folder = await store.add_folder(mailbox, "INBOX", "INBOX", 5, 6)
        await store.record_batch(folder.id, 5, intents=[msg(1), msg(2)], dst_uidnext_before=9)
        await store.mark_appended(folder.id, 5, 6, [Appended(1, 10), Appended(2, 11)], 2)
        await store.set_verified(folder.id, 5, [1])
        copies = await store.copied_messages(folder.id, 5)
        assert [(c.src_uid, c.dst_uid, c.flags, c.message_id) for c in copies] == [
            (1, 10, ("\\Seen", "$Label"), "<1@x>"), (2, 11, ("\\Seen", "$Label"), "<2@x>")]
        assert await store.unverified_copies_above(folder.id, 5, 0) == [copies[1]]
        assert await SyncStore(store).copies(folder.id, 5, [2, 1]) == copies
