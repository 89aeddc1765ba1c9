"""Checkpoint store: folder high-water marks and per-message records.

The store is the one door to the state database: :class:`CheckpointStore` is what the rest
of pecsync opens and holds, and the repository of folders and messages; its connector
(pecsync.store.connector) owns the backend that runs the named statements: SQLite
(pecsync.store.sqlite_backend, the embedded default) or PostgreSQL
(pecsync.store.postgres_backend, shared by several hosts).  Durability: every method that
records an intent or an outcome commits before it returns, so what it wrote survives
``kill -9`` and power loss.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from pecsync.config import PostgresTarget
from pecsync.model import FetchedMessage
from pecsync.store.backend import Backend, Params, Statement, Statements
from pecsync.store.connector import Connector, Repository
from pecsync.store.migrations import SCHEMA_VERSION
from pecsync.store.rows import RowMapper, flag_list, opt_int

__all__ = ["SCHEMA_VERSION", "Appended", "CheckpointStore", "CopiedMessage", "FolderState",
           "Intent", "now"]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class FolderState:
    id: int
    src_name: str
    dst_name: str
    src_uidvalidity: int | None
    dst_uidvalidity: int | None
    high_water: int
    src_uidnext_seen: int | None
    #: The pass in progress (until it completes) matches destination messages by content.
    content_match: bool = False


@dataclass(frozen=True)
class Intent:
    src_uid: int
    size: int
    sha256: str
    dst_uidnext_before: int


@dataclass(frozen=True)
class CopiedMessage:
    src_uid: int
    size: int
    sha256: str
    internaldate: str
    flags: tuple[str, ...]
    dst_uid: int | None
    verified_at: str | None
    state: str
    note: str | None
    message_id: str | None


@dataclass(frozen=True)
class Appended:
    """One message the destination confirmed: ``Appended(src_uid=7, dst_uid=123)``."""

    src_uid: int
    dst_uid: int | None


_FOLDER = RowMapper(FolderState, content_match=bool)
#: A copied message (copied_messages, copies_by_uid).
COPIED_MESSAGE = RowMapper(CopiedMessage, flags=flag_list, dst_uid=opt_int)
_INTENT = RowMapper(Intent, dst_uidnext_before=lambda v: int(v or 1))


class CheckpointStore(Repository):
    """The folders and messages of the state database (the ledger's rows), and the object
    the rest of pecsync holds the database by: ``async with await CheckpointStore.open(x)``
    with a path (SQLite) or a :class:`pecsync.config.PostgresTarget`.  The other
    repositories are built from it (``JobStore(store, vault)``); the connection itself is
    its :class:`~pecsync.store.connector.Connector` (``store.connector``)."""

    def __init__(self, connector: Connector) -> None:
        super().__init__(connector)
        #: The SQLite file or the PostgreSQL URL (for messages).
        self.where = connector.where

    @classmethod
    async def open(cls, target: Path | str | PostgresTarget) -> CheckpointStore:
        """The state database at *target* (:meth:`Connector.open`: a path opens or creates
        SQLite, a PostgreSQL target or URL the shared database), its schema up to date."""
        return cls(await Connector.open(target))

    @property
    def backend(self) -> Backend:
        return self.connector.backend

    @property
    def path(self) -> Path:
        """The SQLite file (SQLite only)."""
        return self.connector.path

    @property
    def db(self) -> aiosqlite.Connection:
        """The aiosqlite connection (SQLite only: tests and SQLite maintenance)."""
        return self.connector.db

    @property
    def shared(self) -> bool:
        """Several processes or hosts are expected to share this database."""
        return self.connector.shared

    @property
    def idle_poll_seconds(self) -> float:
        """How long an idle worker sleeps before looking again when nothing wakes it."""
        return self.connector.idle_poll_seconds

    async def close(self) -> None:
        await self.connector.close()

    async def __aenter__(self) -> CheckpointStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # The connector's statements, for repositories that still reach them through this
    # object (private to pecsync.store, tests/unit/test_store_boundary.py).  Rows come back
    # untyped here, as they always did; a repository uses its ``connector``, whose rows are
    # read by name (pecsync.store.rows).
    async def _transaction(self, statements: Statements) -> list[Any]:
        return await self.connector._transaction(statements)

    async def _query(self, name: str, params: Params | None = None) -> list[Any]:
        return await self.connector._query(name, params)

    async def compact(self) -> bool:
        """Space of blanked rows given back, so their bytes leave the database files; False
        when another process (a run in progress) kept that from completing."""
        return await self.connector.compact()

    async def checkpoint(self) -> None:
        await self.connector.checkpoint()

    async def wait_for_work(self, timeout: float) -> None:
        """Until a job may have become runnable (PostgreSQL: NOTIFY), at most *timeout* s."""
        await self.connector.wait_for_work(timeout)

    # --- mailboxes and folders ------------------------------------------------------------
    async def mailbox_id(self, src_user: str, dst_user: str) -> int:
        await self.connector._transaction([("upsert_mailbox", {
            "src_user": src_user, "dst_user": dst_user, "now": now()})])
        return int(await self.connector._value("get_mailbox_id", {"src_user": src_user}))

    async def find_mailbox(self, src_user: str) -> int | None:
        return opt_int(await self.connector._value("get_mailbox_id", {"src_user": src_user}))

    async def folder(self, mailbox_id: int, src_name: str) -> FolderState | None:
        row = await self.connector._one("get_folder", {"mailbox_id": mailbox_id,
                                                       "src_name": src_name})
        return None if row is None else _FOLDER(row)

    async def folders(self, mailbox_id: int) -> list[FolderState]:
        rows = await self.connector._query("list_folders", {"mailbox_id": mailbox_id})
        return _FOLDER.all(rows)

    async def add_folder(self, mailbox_id: int, src_name: str, dst_name: str,
                         src_uidvalidity: int, dst_uidvalidity: int, *,
                         content_match: bool = False,
                         flags_modseq: int | None = None) -> FolderState:
        """The folder's first state; *content_match*: the destination folder already holds
        messages, so every pass until one completes is content-matched.  *flags_modseq*: the
        source HIGHESTMODSEQ read before any of its flags (the round's LIST-STATUS), the point
        the flag pass of :mod:`pecsync.sync.resync` takes them as in step with (None:
        unknown)."""
        at = now()
        await self.connector._transaction([
            ("insert_folder", {"mailbox_id": mailbox_id, "src_name": src_name,
                               "dst_name": dst_name, "now": at,
                               "src_uidvalidity": src_uidvalidity,
                               "dst_uidvalidity": dst_uidvalidity,
                               "content_match": int(content_match)}),
            ("set_folder_flags_baseline", {"mailbox_id": mailbox_id, "src_name": src_name,
                                           "modseq": flags_modseq, "now": at})])
        state = await self.folder(mailbox_id, src_name)
        assert state is not None
        return state

    async def reset_folder(self, state: FolderState, dst_name: str, src_uidvalidity: int,
                           dst_uidvalidity: int, *, forget_messages: bool,
                           content_match: bool, flags_modseq: int | None = None
                           ) -> FolderState:
        """Start the folder again after a UIDVALIDITY change; *content_match* (the destination
        folder holds messages) is recorded in the same transaction, so the content-matched
        pass that follows survives any interruption until it completes.  *flags_modseq*: as
        for :meth:`add_folder`; it replaces the old UIDVALIDITY's, whose MODSEQs mean nothing
        for the new one."""
        at = now()
        stmts: list[Statement] = [
            ("reset_folder", {"folder_id": state.id, "src_uidvalidity": src_uidvalidity,
                              "dst_uidvalidity": dst_uidvalidity, "dst_name": dst_name,
                              "content_match": int(content_match), "now": at}),
            ("upsert_folder_sync", {"folder_id": state.id, "modseq": flags_modseq,
                                    "deleted": 0, "now": at})]
        if forget_messages:
            stmts.insert(0, ("forget_folder_messages", {"folder_id": state.id}))
        await self.connector._transaction(stmts)
        return FolderState(state.id, state.src_name, dst_name, src_uidvalidity, dst_uidvalidity,
                           0, None, content_match)

    async def set_uidnext_seen(self, folder_id: int, uidnext: int) -> None:
        """The folder's pass completed (this also ends a content-matched pass)."""
        await self.connector._transaction([("set_uidnext_seen", {
            "folder_id": folder_id, "uidnext": uidnext, "now": now()})])

    # --- messages -------------------------------------------------------------------------
    @staticmethod
    def _message_row(folder_id: int, uidvalidity: int, msg: FetchedMessage, state: str,
                     **extra: object) -> dict[str, object]:
        row: dict[str, object] = {
            "folder_id": folder_id, "src_uidvalidity": uidvalidity, "src_uid": msg.info.uid,
            "size": len(msg.body), "sha256": msg.sha256, "message_id": msg.message_id,
            "internaldate": msg.info.internaldate.isoformat(),
            "flags": " ".join(msg.info.flags), "state": state, "dst_uidvalidity": None,
            "dst_uid": None, "dst_uidnext_before": None, "note": msg.note,
        }
        row.update(extra)
        return row

    async def record_batch(self, folder_id: int, uidvalidity: int, *,
                           intents: Sequence[FetchedMessage] = (), dst_uidnext_before: int = 0,
                           present: Sequence[tuple[FetchedMessage, int, int]] = (),
                           skipped: Sequence[tuple[FetchedMessage, str]] = (),
                           high_water: int | None = None) -> None:
        """One transaction: intents for what is about to be APPENDed, messages found already on
        the destination (``(msg, dst_uidvalidity, dst_uid)``), skipped ones with the reason,
        and optionally a new high-water mark (only when nothing is left in intent state)."""
        stmts: list[Statement] = []
        for msg in intents:
            stmts.append(("insert_message", self._message_row(
                folder_id, uidvalidity, msg, "intent", dst_uidnext_before=dst_uidnext_before)))
        for msg, dst_uvv, dst_uid in present:
            stmts.append(("insert_message", self._message_row(
                folder_id, uidvalidity, msg, "present", dst_uidvalidity=dst_uvv,
                dst_uid=dst_uid)))
        for msg, reason in skipped:
            stmts.append(("insert_message", self._message_row(
                folder_id, uidvalidity, msg, "skipped", note=reason)))
        if high_water is not None:
            stmts.append(("set_high_water", {"folder_id": folder_id, "high_water": high_water,
                                             "now": now()}))
        if stmts:
            await self.connector._transaction(stmts)

    async def mark_appended(self, folder_id: int, uidvalidity: int, dst_uidvalidity: int | None,
                            appended: Sequence[Appended], high_water: int | None) -> None:
        """Record what the destination confirmed and move the high-water mark, atomically.

        Order matters: the high-water mark is written in the same transaction as the outcomes
        it covers, never before them."""
        stmts: list[Statement] = [
            ("mark_appended", {"folder_id": folder_id, "src_uidvalidity": uidvalidity,
                               "src_uid": a.src_uid, "dst_uidvalidity": dst_uidvalidity,
                               "dst_uid": a.dst_uid}) for a in appended]
        if high_water is not None:
            stmts.append(("set_high_water", {"folder_id": folder_id, "high_water": high_water,
                                             "now": now()}))
        await self.connector._transaction(stmts)

    async def drop_intents(self, folder_id: int, uidvalidity: int,
                           src_uids: Iterable[int]) -> None:
        """Forget intents whose APPEND certainly did not happen (tagged NO, or reconciled)."""
        await self.connector._transaction([("drop_intent", {
            "folder_id": folder_id, "src_uidvalidity": uidvalidity, "src_uid": uid})
            for uid in src_uids])

    async def open_intents(self, folder_id: int, uidvalidity: int) -> list[Intent]:
        rows = await self.connector._query("open_intents", {
            "folder_id": folder_id, "src_uidvalidity": uidvalidity})
        return _INTENT.all(rows)

    async def done_uids_above(self, folder_id: int, uidvalidity: int, above: int) -> set[int]:
        rows = await self.connector._query("done_uids_above", {
            "folder_id": folder_id, "src_uidvalidity": uidvalidity, "above": above})
        return {int(r["src_uid"]) for r in rows}

    async def claimed_dst_uids(self, folder_id: int, dst_uidvalidity: int) -> set[int]:
        rows = await self.connector._query("claimed_dst_uids", {
            "folder_id": folder_id, "dst_uidvalidity": dst_uidvalidity})
        return {int(r["dst_uid"]) for r in rows}

    async def copied_messages(self, folder_id: int, uidvalidity: int) -> list[CopiedMessage]:
        rows = await self.connector._query("copied_messages", {
            "folder_id": folder_id, "src_uidvalidity": uidvalidity})
        return COPIED_MESSAGE.all(rows)

    async def unverified_copies_above(self, folder_id: int, uidvalidity: int, above: int
                                      ) -> list[CopiedMessage]:
        """Copies above source UID *above*, not verified, their destination UID known."""
        rows = await self.connector._query("unverified_copies_above", {
            "folder_id": folder_id, "src_uidvalidity": uidvalidity, "above": above})
        return COPIED_MESSAGE.all(rows)

    async def set_verified(self, folder_id: int, uidvalidity: int, ok: Iterable[int],
                           bad: Iterable[int] = ()) -> None:
        ts = now()
        stmts: list[Statement] = [
            ("mark_verified", {"folder_id": folder_id, "src_uidvalidity": uidvalidity,
                               "src_uid": uid, "now": ts}) for uid in ok]
        stmts += [("clear_verified", {"folder_id": folder_id, "src_uidvalidity": uidvalidity,
                                      "src_uid": uid}) for uid in bad]
        if stmts:
            await self.connector._transaction(stmts)

    async def set_notes(self, folder_id: int, uidvalidity: int,
                        notes: Mapping[int, str]) -> None:
        """Attach a note to recorded messages (``{source uid: note}``)."""
        if notes:
            await self.connector._transaction([("set_message_note", {
                "folder_id": folder_id, "src_uidvalidity": uidvalidity, "src_uid": uid,
                "note": note}) for uid, note in notes.items()])

    async def count_copies(self, folder_id: int, uidvalidity: int) -> int:
        """Recorded copies of the folder on the destination (appended or present)."""
        return int(await self.connector._value("count_copies", {
            "folder_id": folder_id, "src_uidvalidity": uidvalidity}))

    async def count_unverified(self, folder_id: int, uidvalidity: int) -> int:
        return int(await self.connector._value("count_unverified", {
            "folder_id": folder_id, "src_uidvalidity": uidvalidity}))
