"""Checkpoint store: folder high-water marks and per-message records (the only aiosqlite user).

Durability: the database runs in WAL mode with ``synchronous=FULL``; every method that
records an intent or an outcome commits before it returns, so what it wrote survives
``kill -9`` and power loss.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path
from typing import Any

import aiosqlite
import anyio

from pecsync.errors import StoreConflict, StoreError
from pecsync.model import FetchedMessage
from pecsync.store.queries import schema, sql

#: 2: ``folder.content_match`` (added to schema-1 databases by :meth:`CheckpointStore.open`).
SCHEMA_VERSION = "2"


#: Extra attempts of a statement that found the database locked past the busy timeout (the
#: web server and `run` write one database): a member or a run never sees "database is locked".
_LOCKED_RETRIES = 5


def _locked(exc: Exception) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


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


def _folder(row: Sequence[Any]) -> FolderState:
    (folder_id, src_name, dst_name, src_uidvalidity, dst_uidvalidity, high_water,
     src_uidnext_seen, content_match) = row
    return FolderState(folder_id, src_name, dst_name, src_uidvalidity, dst_uidvalidity,
                       high_water, src_uidnext_seen, bool(content_match))


class CheckpointStore:
    """Async access to the state database.  Use ``async with await CheckpointStore.open(p)``."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self.db = db
        self.path = path
        #: Workers share one connection: one transaction at a time.
        self.lock = anyio.Lock()

    @classmethod
    async def open(cls, path: Path) -> CheckpointStore:
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
            await db.executescript(schema())
            await db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)",
                             (SCHEMA_VERSION,))
            await cls._migrate(db)
            rows = await db.execute_fetchall("SELECT value FROM meta WHERE key = 'schema'")
            found = int(next(iter(rows))[0]) if rows else 0
            if found > int(SCHEMA_VERSION):
                raise StoreError(f"{path}: state database of a newer pecsync (schema {found}; "
                                 f"this one knows {SCHEMA_VERSION})",
                                 hint="run the pecsync version that wrote it, or a newer one: "
                                      "an older one could lose what it records")
        except BaseException as exc:
            if db is not None:
                await db.close()  # its thread would keep the process from exiting
            if isinstance(exc, aiosqlite.Error):
                raise StoreError(f"{path}: cannot open state database: {exc}") from None
            raise
        for suffix in ("-wal", "-shm"):
            side = Path(str(path) + suffix)
            if side.exists():
                os.chmod(side, 0o600)
        return cls(db, path)

    @staticmethod
    async def _migrate(db: aiosqlite.Connection) -> None:
        """Bring a database written by an older pecsync up to this schema (``CREATE TABLE IF
        NOT EXISTS`` leaves existing tables as they are).  One IMMEDIATE transaction: two
        processes opening the same old database cannot both add the column."""
        await db.execute("BEGIN IMMEDIATE")
        try:
            columns = {str(r[0]) for r in await db.execute_fetchall(sql("folder_columns"))}
            if "content_match" not in columns:
                await db.execute(sql("add_content_match"))
                await db.execute(sql("content_match_unfinished"))
                await db.execute(sql("set_schema_version"), {"version": SCHEMA_VERSION})
            columns = {str(r[0]) for r in await db.execute_fetchall(sql("credential_columns"))}
            if "source" not in columns:
                # Where a credential version came from (csv, web, stdin); NULL = unknown.
                await db.execute(sql("add_credential_source"))
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        await self.db.close()

    async def __aenter__(self) -> CheckpointStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def transaction(self, statements: Iterable[tuple[str, dict[str, Any]]]
                          ) -> list[Any]:
        """Run statements in one transaction (one fsync); the rows the last one returned
        (``RETURNING``), when it ran on its own.

        Shielded: a cancellation (a failing sibling task, a second Ctrl-C) waits for the
        transaction to end, so the shared connection is never left inside one."""
        returned: list[Any] = []
        statements = list(statements)
        with anyio.CancelScope(shield=True):
            async with self.lock:
                for attempt in range(_LOCKED_RETRIES + 1):
                    try:
                        returned = await self._transaction_once(statements)
                        break
                    except aiosqlite.OperationalError as exc:
                        # Another process (the web server beside `run`) held the write lock
                        # past the busy timeout: nothing was written, so do it all again.
                        if not _locked(exc) or attempt == _LOCKED_RETRIES:
                            raise StoreError(f"{self.path}: write failed: {exc}") from None
                        await anyio.sleep(0.05 * (attempt + 1))
                    except aiosqlite.IntegrityError as exc:
                        raise StoreConflict(f"{self.path}: write failed: {exc}") from None
                    except aiosqlite.Error as exc:
                        raise StoreError(f"{self.path}: write failed: {exc}") from None
        return returned

    async def _transaction_once(self, statements: Sequence[tuple[str, dict[str, Any]]]
                                ) -> list[Any]:
        returned: list[Any] = []
        try:
            await self.db.execute("BEGIN IMMEDIATE")
            # Runs of the same statement go in one executemany: one hop to the database
            # thread per run instead of per row (a batch has hundreds).
            for name, run in groupby(statements, key=lambda st: st[0]):
                rows = [params for _, params in run]
                if len(rows) == 1:
                    returned = list(await self.db.execute_fetchall(sql(name), rows[0]))
                else:
                    await self.db.executemany(sql(name), rows)
                    returned = []
            await self.db.execute("COMMIT")
        except BaseException:
            # Whatever failed (a value SQLite cannot bind, say), the shared connection must
            # not stay inside the transaction.
            if self.db.in_transaction:
                await self.db.execute("ROLLBACK")
            raise
        return returned

    async def compact(self) -> bool:
        """Leave no erased byte in the files: checkpoint the WAL into the database and
        truncate it, rebuild the database (``VACUUM``: free pages and the unused space of
        pages go away), then checkpoint and truncate again (in WAL mode ``VACUUM`` writes
        through the WAL).  ``secure_delete`` zeroes what is freed meanwhile.

        False when another connection (a ``run`` in progress) kept a checkpoint from
        completing: some old pages may then still be in the WAL until it ends."""
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
        return first and second

    async def _checkpoint(self) -> bool:
        rows = list(await self.db.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)"))
        return not rows or int(rows[0][0]) == 0  # (busy, wal frames, checkpointed)

    async def query(self, name: str, params: dict[str, Any]) -> list[Any]:
        # One hop to the database thread (execute, fetch and close there), not three.
        for attempt in range(_LOCKED_RETRIES + 1):
            try:
                return list(await self.db.execute_fetchall(sql(name), params))
            except aiosqlite.OperationalError as exc:
                if not _locked(exc) or attempt == _LOCKED_RETRIES:
                    raise StoreError(f"{self.path}: read failed: {exc}") from None
                await anyio.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    # --- mailboxes and folders ------------------------------------------------------------
    async def mailbox_id(self, src_user: str, dst_user: str) -> int:
        await self.transaction([("upsert_mailbox", {"src_user": src_user, "dst_user": dst_user,
                                            "now": now()})])
        rows = await self.query("get_mailbox_id", {"src_user": src_user})
        return int(rows[0][0])

    async def find_mailbox(self, src_user: str) -> int | None:
        rows = await self.query("get_mailbox_id", {"src_user": src_user})
        return int(rows[0][0]) if rows else None

    async def folder(self, mailbox_id: int, src_name: str) -> FolderState | None:
        rows = await self.query("get_folder", {"mailbox_id": mailbox_id, "src_name": src_name})
        return _folder(rows[0]) if rows else None

    async def folders(self, mailbox_id: int) -> list[FolderState]:
        return [_folder(r) for r in await self.query("list_folders", {"mailbox_id": mailbox_id})]

    async def add_folder(self, mailbox_id: int, src_name: str, dst_name: str,
                         src_uidvalidity: int, dst_uidvalidity: int, *,
                         content_match: bool = False) -> FolderState:
        """The folder's first state; *content_match*: the destination folder already holds
        messages, so every pass until one completes is content-matched."""
        await self.transaction([("insert_folder", {"mailbox_id": mailbox_id, "src_name": src_name,
                                           "dst_name": dst_name, "now": now(),
                                           "src_uidvalidity": src_uidvalidity,
                                           "dst_uidvalidity": dst_uidvalidity,
                                           "content_match": int(content_match)})])
        state = await self.folder(mailbox_id, src_name)
        assert state is not None
        return state

    async def reset_folder(self, state: FolderState, dst_name: str, src_uidvalidity: int,
                           dst_uidvalidity: int, *, forget_messages: bool,
                           content_match: bool) -> FolderState:
        """Start the folder again after a UIDVALIDITY change; *content_match* (the destination
        folder holds messages) is recorded in the same transaction, so the content-matched
        pass that follows survives any interruption until it completes."""
        stmts: list[tuple[str, dict[str, Any]]] = [
            ("reset_folder", {"folder_id": state.id, "src_uidvalidity": src_uidvalidity,
                              "dst_uidvalidity": dst_uidvalidity, "dst_name": dst_name,
                              "content_match": int(content_match), "now": now()})]
        if forget_messages:
            stmts.insert(0, ("forget_folder_messages", {"folder_id": state.id}))
        await self.transaction(stmts)
        return FolderState(state.id, state.src_name, dst_name, src_uidvalidity, dst_uidvalidity,
                           0, None, content_match)

    async def set_uidnext_seen(self, folder_id: int, uidnext: int) -> None:
        """The folder's pass completed (this also ends a content-matched pass)."""
        await self.transaction([("set_uidnext_seen", {"folder_id": folder_id, "uidnext": uidnext,
                                              "now": now()})])

    # --- messages -------------------------------------------------------------------------
    @staticmethod
    def _message_row(folder_id: int, uidvalidity: int, msg: FetchedMessage, state: str,
                     **extra: Any) -> dict[str, Any]:
        row = {
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
        stmts: list[tuple[str, dict[str, Any]]] = []
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
            await self.transaction(stmts)

    async def mark_appended(self, folder_id: int, uidvalidity: int, dst_uidvalidity: int | None,
                            appended: Sequence[Appended], high_water: int | None) -> None:
        """Record what the destination confirmed and move the high-water mark, atomically.

        Order matters: the high-water mark is written in the same transaction as the outcomes
        it covers, never before them."""
        stmts: list[tuple[str, dict[str, Any]]] = [
            ("mark_appended", {"folder_id": folder_id, "src_uidvalidity": uidvalidity,
                               "src_uid": a.src_uid, "dst_uidvalidity": dst_uidvalidity,
                               "dst_uid": a.dst_uid}) for a in appended]
        if high_water is not None:
            stmts.append(("set_high_water", {"folder_id": folder_id, "high_water": high_water,
                                             "now": now()}))
        await self.transaction(stmts)

    async def drop_intents(self, folder_id: int, uidvalidity: int,
                           src_uids: Iterable[int]) -> None:
        """Forget intents whose APPEND certainly did not happen (tagged NO, or reconciled)."""
        await self.transaction([("drop_intent", {"folder_id": folder_id,
                                                 "src_uidvalidity": uidvalidity,
                                                 "src_uid": uid}) for uid in src_uids])

    async def open_intents(self, folder_id: int, uidvalidity: int) -> list[Intent]:
        rows = await self.query("open_intents", {"folder_id": folder_id,
                                                 "src_uidvalidity": uidvalidity})
        return [Intent(int(r[0]), int(r[1]), str(r[2]), int(r[3] or 1)) for r in rows]

    async def done_uids_above(self, folder_id: int, uidvalidity: int, above: int) -> set[int]:
        rows = await self.query("done_uids_above", {"folder_id": folder_id,
                                                    "src_uidvalidity": uidvalidity,
                                                    "above": above})
        return {int(r[0]) for r in rows}

    async def claimed_dst_uids(self, folder_id: int, dst_uidvalidity: int) -> set[int]:
        rows = await self.query("claimed_dst_uids", {"folder_id": folder_id,
                                                     "dst_uidvalidity": dst_uidvalidity})
        return {int(r[0]) for r in rows}

    async def copied_messages(self, folder_id: int, uidvalidity: int) -> list[CopiedMessage]:
        rows = await self.query("copied_messages", {"folder_id": folder_id,
                                                    "src_uidvalidity": uidvalidity})
        return [CopiedMessage(int(r[0]), int(r[1]), str(r[2]), str(r[3]),
                              tuple(str(r[4]).split()), None if r[5] is None else int(r[5]),
                              r[6], str(r[7]), r[8], r[9]) for r in rows]

    async def set_verified(self, folder_id: int, uidvalidity: int, ok: Iterable[int],
                           bad: Iterable[int] = ()) -> None:
        ts = now()
        stmts: list[tuple[str, dict[str, Any]]] = [
            ("mark_verified", {"folder_id": folder_id, "src_uidvalidity": uidvalidity,
                               "src_uid": uid, "now": ts}) for uid in ok]
        stmts += [("clear_verified", {"folder_id": folder_id, "src_uidvalidity": uidvalidity,
                                      "src_uid": uid}) for uid in bad]
        if stmts:
            await self.transaction(stmts)

    async def set_notes(self, folder_id: int, uidvalidity: int,
                        notes: Mapping[int, str]) -> None:
        """Attach a note to recorded messages (``{source uid: note}``)."""
        if notes:
            await self.transaction([("set_message_note", {
                "folder_id": folder_id, "src_uidvalidity": uidvalidity, "src_uid": uid,
                "note": note}) for uid, note in notes.items()])

    async def count_copies(self, folder_id: int, uidvalidity: int) -> int:
        """Recorded copies of the folder on the destination (appended or present)."""
        rows = await self.query("count_copies", {"folder_id": folder_id,
                                                 "src_uidvalidity": uidvalidity})
        return int(rows[0][0])

    async def count_unverified(self, folder_id: int, uidvalidity: int) -> int:
        rows = await self.query("count_unverified", {"folder_id": folder_id,
                                                     "src_uidvalidity": uidvalidity})
        return int(rows[0][0])
