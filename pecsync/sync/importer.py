"""The destination half of a folder copy (dsync's importer): match, APPEND, record.

The intent protocol (docs/design/architecture.md §3), in the order
:meth:`Importer.import_batch` follows it for each batch:

1. Messages already on the destination (a content-matched pass: same bytes *and*
   INTERNALDATE) get the source's flags and are recorded as ``present``; messages the
   destination cannot store are quarantined and recorded as ``skipped``.
2. One transaction records an *intent* per message to append (size, SHA-256, Message-ID,
   INTERNALDATE, flags) with the destination UIDNEXT seen before it.
3. APPEND (one MULTIAPPEND command when offered).  A tagged NO is unambiguous: the refused
   message and those after it were not stored, their intents are dropped; those before it
   (one APPEND each, without MULTIAPPEND) were, and are recorded as appended.  A lost
   connection is ambiguous: the intents stay, for :mod:`pecsync.sync.reconcile`.
4. One transaction records the destination UIDs (APPENDUID) and moves the folder's
   high-water mark over the batch — the high-water mark is never written before the
   outcomes, and only by :meth:`Importer.advance_high_water`'s path.

The importer writes through its :class:`FolderLedger` and its destination session only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import anyio
import structlog

from pecsync.config import EngineConfig
from pecsync.errors import MessageRefused, StopRequested
from pecsync.faults import step
from pecsync.imap.session import ImapSession
from pecsync.model import (
    AppendItem,
    AppendOutcome,
    FetchedMessage,
    FolderReport,
    FolderStatus,
    MessageInfo,
)
from pecsync.store.checkpoints import Appended
from pecsync.store.ledger import FolderLedger
from pecsync.sync.aio import in_thread
from pecsync.sync.batches import MatchPool, comparable_flags, filter_flags, make_batches
from pecsync.sync.context import Progress
from pecsync.sync.quarantine import Quarantine


@dataclass(frozen=True)
class _Outgoing:
    """A message to APPEND with the flags the destination keeps of the source's."""

    msg: FetchedMessage
    flags: tuple[str, ...]


@dataclass(frozen=True)
class _Stored:
    """Messages the destination stored, not recorded yet, with the APPEND's outcome (their
    APPENDUIDs, when the server has UIDPLUS)."""

    msgs: Sequence[FetchedMessage]
    outcome: AppendOutcome


class Importer:
    """Imports the batches of one folder into the selected destination folder, in UID
    order."""

    def __init__(self, ledger: FolderLedger, dst: ImapSession, dst_folder: str,
                 dst_st: FolderStatus, report: FolderReport, *, label: str,
                 progress: Progress, halt: anyio.Event, quarantine: Quarantine | None,
                 pool: MatchPool | None = None, moves_high_water: bool = True) -> None:
        self.ledger = ledger
        self.dst = dst
        self.dst_folder = dst_folder
        self.dst_st = dst_st
        self.report = report
        self.label = label
        self.progress = progress
        self.halt = halt
        self.quarantine = quarantine
        #: Destination messages a content-matched pass may claim (None: append everything).
        self.pool = pool
        #: False for a repair: the messages lie below the high-water mark, which stays.
        self.moves_high_water = moves_high_water
        self.dst_uidnext = dst_st.uidnext
        self.log = structlog.get_logger("pecsync.copy").bind(mailbox=label, folder=report.src)
        #: (source uid, SHA-256, INTERNALDATE) of messages the pool held only with another
        #: INTERNALDATE when their turn came (see :meth:`note_other_dates`).
        self.near_misses: list[tuple[int, str, datetime]] = []

    async def import_batch(self, fetched: Sequence[FetchedMessage]) -> None:
        present: list[tuple[FetchedMessage, int]] = []
        skipped: list[tuple[FetchedMessage, str]] = []
        to_append: list[_Outgoing] = []
        restore: dict[tuple[str, ...], list[int]] = {}
        for msg in fetched:
            # A content match needs the same bytes *and* INTERNALDATE (MatchPool): the legal
            # copy is both, and IMAP cannot change an INTERNALDATE.  Flags can be changed:
            # the matched message gets the source's (filtered like APPEND's).
            match = (self.pool.take(msg.sha256, msg.info.internaldate)
                     if self.pool is not None else None)
            if self.pool is not None and match is None and self.pool.others(msg.sha256):
                self.near_misses.append((msg.info.uid, msg.sha256, msg.info.internaldate))
            if match is not None:
                present.append((msg, match.uid))
                flags = self._flags(msg)
                if comparable_flags(match.flags) != comparable_flags(flags):
                    restore.setdefault(flags, []).append(match.uid)
            elif (reason := self.dst.unstorable(msg.body)) is not None:
                skipped.append((msg, reason))
            else:
                to_append.append(_Outgoing(msg, self._flags(msg)))
        if restore:
            # Before the messages are recorded as present: a crash in between leaves them
            # unclaimed, to be matched (and stored, if still needed) again.
            await restore_flags(self.dst, restore, self.log)
        if present or skipped:
            for msg, reason in skipped:
                self._quarantine(msg, reason)
            await self.ledger.record_found(present, skipped)
            self.report.skipped += len(skipped)
        stored = await self._append(to_append)
        if self.moves_high_water:
            # The high-water mark moves over the batch in the transaction that records the
            # APPEND outcomes (one fsync), or on its own when nothing was appended.
            await self._record(stored, high_water=fetched[-1].info.uid)
        elif stored is not None:
            await self._record(stored)
        self.progress.checkpoint()
        if self.progress.on_batch:
            self.progress.on_batch(len(fetched), sum(len(m.body) for m in fetched))
        if self.progress.on_folder_batch:
            self.progress.on_folder_batch(self.report.src, len(fetched),
                                          sum(len(m.body) for m in fetched))
        if (self.progress.should_stop and self.progress.should_stop()) or self.halt.is_set():
            raise StopRequested(mailbox=self.label, folder=self.report.src)

    async def advance_high_water(self, uid: int) -> None:
        """Every source message up to *uid* is appended, present or skipped."""
        await self._record(None, high_water=uid)

    def _flags(self, msg: FetchedMessage) -> tuple[str, ...]:
        """The source's flags the destination keeps (those it drops are reported)."""
        flags, dropped = filter_flags(msg.info.flags, self.dst_st.permanentflags)
        self.report.dropped_flags |= dropped
        return flags

    async def _append(self, out: Sequence[_Outgoing]) -> _Stored | None:
        """APPEND *out* under the intent protocol.  What the destination accepted in full, to
        be recorded by the caller (None: nothing appended, or a refusal, whose stored
        messages are recorded here before the one-by-one pass)."""
        if not out:
            return None
        msgs = [o.msg for o in out]
        items = [AppendItem(body=o.msg.body, flags=o.flags, internaldate=o.msg.info.internaldate)
                 for o in out]
        # Order matters: the intent must be durable before APPEND is sent.
        await self.ledger.record_intents(msgs, self.dst_uidnext)
        outcome = await in_thread(self.dst.append, self.dst_folder, items)
        refused = outcome.refused
        if refused is not None:
            # A tagged NO (or a message refused before it was sent): the refused message and
            # those after it were not stored.  Those before it were (without MULTIAPPEND each
            # message is its own APPEND): they are recorded as appended first, so that neither
            # the next run nor the one-by-one pass below appends them again.
            if outcome.stored:
                await self._record(_Stored(msgs[:outcome.stored], outcome))
            rest = out[outcome.stored:]
            await self.ledger.drop_intents([o.msg.info.uid for o in rest])
            if not isinstance(refused, MessageRefused):
                raise refused  # DestinationFull
            if len(rest) > 1:
                # Find the message the server refuses: one APPEND each.
                for one in rest:
                    stored = await self._append([one])
                    if stored is not None:
                        await self._record(stored)
                return None
            first = rest[0].msg
            reason = refused.response or refused.detail
            self._quarantine(first, f"refused by the destination: {reason}")
            await self.ledger.record_found(skipped=[(first, f"refused by the destination: "
                                                            f"{reason}")])
            self.report.skipped += 1
            self.log.warning("message_skipped", uid=first.info.uid, reason=reason)
            return None
        step("appended")
        return _Stored(msgs, outcome)

    async def _record(self, stored: _Stored | None, *, high_water: int | None = None) -> None:
        """Record *stored* as on the destination, with *high_water* (if any) in the same
        transaction: the one place the high-water mark is advanced."""
        msgs = stored.msgs if stored is not None else ()
        uids: Sequence[int] = stored.outcome.uids if stored is not None else ()
        if len(uids) != len(msgs):
            uids_or_none: list[int | None] = [None] * len(msgs)
        else:
            uids_or_none = list(uids)
            if uids:
                self.dst_uidnext = max(self.dst_uidnext, max(uids) + 1)
        appended = [Appended(m.info.uid, u) for m, u in zip(msgs, uids_or_none, strict=True)]
        dst_uidvalidity = stored.outcome.uidvalidity if stored is not None else None
        if high_water is not None:
            await self.ledger.advance_high_water(high_water, appended,
                                                 dst_uidvalidity=dst_uidvalidity)
        else:
            await self.ledger.mark_appended(appended, dst_uidvalidity=dst_uidvalidity)
        self.report.copied += len(msgs)
        self.report.bytes_copied += sum(len(m.body) for m in msgs)

    def _quarantine(self, msg: FetchedMessage, reason: str) -> None:
        """Keep a message the destination will not store, byte for byte (before it is
        recorded as skipped: a crash in between writes it again next time)."""
        if self.quarantine is None:
            return
        path = self.quarantine.save(self.report.src, msg, reason)
        self.log.warning("message_quarantined", uid=msg.info.uid, path=str(path), reason=reason)

    def note_other_dates(self) -> None:
        """Name the destination messages left unclaimed that have the bytes of a source
        message but another INTERNALDATE: the source message got its own exact copy (or was
        skipped with its reason), and the operator decides what to do with the other one."""
        if self.pool is None:
            return
        named: set[int] = set()
        for src_uid, sha256, internaldate in self.near_misses:
            for other in self.pool.others(sha256):
                if other.uid in named:
                    continue
                named.add(other.uid)
                self.report.notes.append(
                    f"uid {src_uid}: destination uid {other.uid} has the same content but "
                    f"INTERNALDATE {other.internaldate.isoformat()} instead of "
                    f"{internaldate.isoformat()}: not taken as its copy (INTERNALDATE cannot be "
                    f"changed over IMAP)")
                self.log.warning("same_content_other_internaldate", uid=src_uid,
                                 dst_uid=other.uid, dst_internaldate=other.internaldate.isoformat(),
                                 internaldate=internaldate.isoformat())


async def restore_flags(dst: ImapSession, uids_by_flags: dict[tuple[str, ...], list[int]],
                        log: structlog.typing.FilteringBoundLogger) -> None:
    """Give destination messages claimed by content the source's flags: one ``UID STORE
    FLAGS`` per distinct flag set.  Called before those messages are recorded as present,
    so a crash in between only means they are matched (and, if needed, stored) again."""
    for flags, uids in uids_by_flags.items():
        await in_thread(dst.store_flags, uids, flags)
    step("flags_stored")
    log.info("flags_restored", messages=sum(len(u) for u in uids_by_flags.values()))


async def destination_hashes(dst: ImapSession, engine: EngineConfig, uids: str,
                             keep: Callable[[MessageInfo], bool], sizes: set[int] | None
                             ) -> list[tuple[str, MessageInfo]]:
    """SHA-256 and metadata of the messages *uids* of the selected destination folder that
    *keep* accepts (and whose size is one of *sizes*, when given)."""
    out: list[tuple[str, MessageInfo]] = []
    metas = [i for i in await in_thread(dst.fetch_meta, uids) if keep(i)]
    if sizes is not None:
        metas = [i for i in metas if i.size in sizes]
    for batch in make_batches(metas, engine.batch_max_bytes, engine.batch_max_messages):
        out.extend((msg.sha256, msg.info) for msg in await in_thread(dst.fetch_bodies, batch))
    return out


async def content_pool(dst: ImapSession, engine: EngineConfig, ledger: FolderLedger,
                       todo: Sequence[MessageInfo]) -> MatchPool:
    """The destination messages not claimed yet whose size is one of *todo*'s: what a
    content-matched pass may take as copies."""
    claimed = await ledger.claimed_dst_uids()
    pool = MatchPool()
    for sha256, info in await destination_hashes(dst, engine, "1:*",
                                                  lambda info: info.uid not in claimed,
                                                  {i.size for i in todo}):
        pool.add(sha256, info)
    return pool
