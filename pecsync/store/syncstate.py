"""State of the incremental re-sync: per folder the source HIGHESTMODSEQ the flags are in step
with, copies deleted at the source, renamed folders; per job when the last sync started."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pecsync.store.backend import Statement
from pecsync.store.checkpoints import COPIED_MESSAGE, CheckpointStore, CopiedMessage, now
from pecsync.store.connector import Repository
from pecsync.store.rows import RowMapper, opt_int


@dataclass(frozen=True)
class FolderSync:
    folder_id: int
    src_highestmodseq: int | None
    deleted_at_source: int
    renamed_from: str | None


@dataclass(frozen=True)
class FlagUpdate:
    """The flags pecsync last wrote for one source message (the next pass's three-way base)."""

    src_uid: int
    flags: tuple[str, ...]


@dataclass(frozen=True)
class JobSync:
    address: str
    last_synced_at: str | None
    deleted_at_source: int


class SyncStore(Repository):
    """Named queries of the re-sync tables."""

    def __init__(self, store: CheckpointStore) -> None:
        super().__init__(store)
        #: What it was built from (the statements run on ``self.connector``).
        self.store = store

    async def folder_syncs(self, mailbox_id: int) -> dict[int, FolderSync]:
        rows = await self.connector._query("list_folder_sync", {"mailbox_id": mailbox_id})
        return {s.folder_id: s for s in _FOLDER_SYNC.all(rows)}

    async def adopt_renamed(self, folder_id: int, new_src_name: str, old_src_name: str) -> None:
        """The source folder *old_src_name* is now *new_src_name*: one transaction moves its
        state and remembers the old name."""
        ts = now()
        await self.connector._transaction([
            ("adopt_renamed_folder", {"folder_id": folder_id, "src_name": new_src_name,
                                       "now": ts}),
            ("mark_folder_renamed", {"folder_id": folder_id, "renamed_from": old_src_name,
                                      "now": ts})])

    async def record_flags(self, folder_id: int, uidvalidity: int,
                           updates: Sequence[FlagUpdate], modseq: int | None,
                           deleted: int) -> None:
        """After a flag pass: what pecsync wrote per message, and the source HIGHESTMODSEQ
        the folder is now in step with, in one transaction."""
        stmts: list[Statement] = [
            ("set_message_flags", {"folder_id": folder_id, "src_uidvalidity": uidvalidity,
                                   "src_uid": u.src_uid, "flags": " ".join(u.flags)})
            for u in updates]
        stmts.append(("upsert_folder_sync", {"folder_id": folder_id, "modseq": modseq,
                                             "deleted": deleted, "now": now()}))
        await self.connector._transaction(stmts)

    async def record_folder_gone(self, folder_id: int, deleted: int) -> None:
        await self.connector._transaction([("set_folder_deleted", {
            "folder_id": folder_id, "deleted": deleted, "now": now()})])

    async def count_copies(self, folder_id: int, uidvalidity: int) -> int:
        return int(await self.connector._value("count_folder_copies", {
            "folder_id": folder_id, "src_uidvalidity": uidvalidity}))

    async def count_rows(self, folder_id: int, uidvalidity: int) -> int:
        """Messages recorded in the folder (copied, found present or skipped)."""
        return int(await self.connector._value("count_folder_rows", {
            "folder_id": folder_id, "src_uidvalidity": uidvalidity}))

    async def copied_uids(self, folder_id: int, uidvalidity: int) -> set[int]:
        rows = await self.connector._query("copied_uids", {
            "folder_id": folder_id, "src_uidvalidity": uidvalidity})
        return {int(r["src_uid"]) for r in rows}

    async def copies(self, folder_id: int, uidvalidity: int, uids: Iterable[int]
                     ) -> list[CopiedMessage]:
        """The recorded copies of the source messages *uids* (appended or present)."""
        wanted = sorted(uids)
        out: list[CopiedMessage] = []
        for start in range(0, len(wanted), 5000):
            rows = await self.connector._query("copies_by_uid", {
                "folder_id": folder_id, "src_uidvalidity": uidvalidity,
                "uids": json.dumps(wanted[start:start + 5000])})
            out += COPIED_MESSAGE.all(rows)
        return out

    async def job_syncs(self, order: str | None = None) -> dict[str, JobSync]:
        rows = await self.connector._query("list_job_sync", {"order_name": order})
        return {s.address: s for s in _JOB_SYNC.all(rows)}


_FOLDER_SYNC = RowMapper(FolderSync, src_highestmodseq=opt_int)
_JOB_SYNC = RowMapper(JobSync, deleted_at_source=lambda v: int(v or 0))


def final_sync_done(last_synced_at: str | None, switch_at: datetime | None) -> bool:
    """A sync that started at or after the switch has completed."""
    if switch_at is None or last_synced_at is None:
        return False
    return datetime.fromisoformat(last_synced_at) >= switch_at


def iso(moment: datetime) -> str:
    """Sync times as ``job_sync`` stores them (UTC, microseconds: two syncs within one second
    are still ordered); comparable as text."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def sync_now() -> str:
    return iso(datetime.now(UTC))
