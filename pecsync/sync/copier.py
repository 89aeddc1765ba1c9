"""Copy one folder: exporter (source FETCH) → bounded stream → importer (destination APPEND).

The intent protocol (ARCHITECTURE.md §3), in the order the code follows it:

1. Before a batch is appended, one transaction records an *intent* per message (size,
   SHA-256, Message-ID, INTERNALDATE, flags) with the destination UIDNEXT seen before it.
2. APPEND (one MULTIAPPEND command when offered).  A tagged NO is unambiguous: the refused
   message and those after it were not stored, their intents are dropped; those before it
   (one APPEND each, without MULTIAPPEND) were, and are recorded as in step 3.  A lost
   connection is ambiguous: the intents stay.
3. One transaction records the destination UIDs (APPENDUID) and moves the folder's
   high-water mark over the batch — the high-water mark is never written before the outcomes.
4. At the start of the next pass, open intents are *reconciled*: destination messages from
   the remembered UIDNEXT up are hashed and matched as a multiset; matched intents become
   ``appended``, unmatched ones are dropped and copied again.  Never a blind re-APPEND.

A source UIDVALIDITY change, a recreated destination folder or a folder we have no state
for while the destination already holds messages all lead to a *content-matched pass*:
every destination message whose size matches a candidate is hashed and claimed at most once.
That need is stored with the folder's state (``folder.content_match``) until the pass
completes, so a resumed pass is content-matched too; intents are reconciled before it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import structlog

from pecsync.config import EngineConfig
from pecsync.errors import MessageRefused, StopRequested
from pecsync.faults import step
from pecsync.imap.codes import uid_set
from pecsync.imap.session import ImapSession
from pecsync.model import (
    AppendItem,
    FetchedMessage,
    FolderMapping,
    FolderReport,
    FolderStatus,
    MessageInfo,
)
from pecsync.store.checkpoints import Appended, CheckpointStore, CopiedMessage, FolderState
from pecsync.sync.batches import (
    ContentPool,
    MatchPool,
    comparable_flags,
    filter_flags,
    make_batches,
)
from pecsync.sync.memory import ByteBudget
from pecsync.sync.quarantine import Quarantine

log = structlog.get_logger("pecsync.copy")
#: Note on a message appended again: its earlier, bad copy is still on the destination.
REPLACES = "replaces destination uid"
T = TypeVar("T")


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking IMAP call in a worker thread."""
    return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))


@dataclass
class Progress:
    """Hooks for progress display and job bookkeeping; all optional."""

    on_folder: Callable[[str, int], None] | None = None  # (folder, messages to copy)
    on_batch: Callable[[int, int], None] | None = None  # (messages, bytes) just copied
    #: (folder, messages, bytes) to copy in it / just copied in it: per-folder counts.
    on_folder_planned: Callable[[str, int, int], None] | None = None
    on_folder_batch: Callable[[str, int, int], None] | None = None
    on_phase: Callable[[str], Awaitable[None]] | None = None  # login, plan, copy, verify
    on_login: Callable[[str], Awaitable[None]] | None = None  # "src" / "dst" logged in
    #: Checked after every committed batch: True stops the copy there (StopRequested).
    should_stop: Callable[[], bool] | None = None
    #: Something durable was recorded (a batch copied, a batch of copies verified): the
    #: reconnect budget counts it as progress.
    on_checkpoint: Callable[[], None] | None = None

    def checkpoint(self) -> None:
        if self.on_checkpoint is not None:
            self.on_checkpoint()

    async def phase(self, name: str) -> None:
        if self.on_phase is not None:
            await self.on_phase(name)


@dataclass
class MailboxContext:
    """What every folder of one mailbox shares."""

    label: str
    src: ImapSession
    dst: ImapSession
    store: CheckpointStore
    mailbox_id: int
    engine: EngineConfig
    progress: Progress = field(default_factory=Progress)
    #: Message bytes in flight, shared with every other mailbox of the run.
    memory: ByteBudget | None = None
    #: Every folder's STATUS from one LIST-STATUS per side, when the servers offer it.
    src_statuses: dict[str, FolderStatus] | None = None
    dst_statuses: dict[str, FolderStatus] | None = None
    #: Set when another folder of this mailbox failed: stop after the batch in flight.
    halt: anyio.Event = field(default_factory=anyio.Event)
    #: Where messages the destination refuses are kept (None: not kept, e.g. unit tests).
    quarantine: Quarantine | None = None
    #: Re-check every recorded copy on the destination (not only the unverified ones), and
    #: never settle a folder from STATUS alone: ``retry`` of a done mailbox.
    recheck: bool = False
    #: After ``[migration] switch_at`` the members use the destination: a copy they deleted
    #: there is their choice, not re-appended on a re-run (an explicit ``retry`` still is).
    members_own_destination: bool = False


async def concurrently(*fns: Callable[[], Coroutine[Any, Any, object]]) -> None:
    """Run coroutines side by side (the two ends of a copy, source and destination); the first
    real error is raised as itself, not as an exception group."""
    try:
        async with anyio.create_task_group() as tg:
            for fn in fns:
                tg.start_soon(fn)
    except BaseExceptionGroup as group:
        raise first_error(group) from None


async def logout_pair(src: ImapSession, dst: ImapSession) -> None:
    """Log both sessions out, even when cancelled."""
    with anyio.CancelScope(shield=True):
        await concurrently(lambda: in_thread(src.logout), lambda: in_thread(dst.logout))


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The exception that matters in a task group's failure (not the cancellations it caused)."""
    cancelled = anyio.get_cancelled_exc_class()
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return first_error(exc)
        if not isinstance(exc, cancelled):
            return exc
    return group.exceptions[0]


class FolderCopier:
    """Copies (and then verifies) one folder pair."""

    def __init__(self, ctx: MailboxContext, mapping: FolderMapping) -> None:
        self.ctx = ctx
        self.mapping = mapping
        self.report = FolderReport(src=mapping.src, dst=mapping.dst)
        self.log = log.bind(mailbox=ctx.label, folder=mapping.src)
        self.state: FolderState | None = None
        #: Re-check every recorded copy of this folder, not only the unverified ones
        #: (the destination holds fewer messages than were copied into it).
        self.recheck = ctx.recheck
        #: Source UIDs below the high-water mark whose repair APPEND a crash interrupted and
        #: that reconcile did not find: copied again in this pass.
        self.lost_below_high_water: list[int] = []

    # --- entry points: settle(), then copy_folder() when it did not ---------------------
    async def settle(self, *, verify: bool, dst_exists: bool = True) -> bool:
        """True when the folder needs no connection of its own: empty and never copied, or
        unchanged since the last run (decided from LIST-STATUS / STATUS alone).
        *dst_exists* False: the destination folder is yet to be created (so not unchanged)."""
        ctx, m = self.ctx, self.mapping
        self.state = await ctx.store.folder(ctx.mailbox_id, m.src)
        known = ctx.src_statuses.get(m.src) if ctx.src_statuses is not None else None
        if self.state is None and known is not None and known.exists == 0:
            # Empty and never copied: created on the destination with the tree; nothing more.
            self.report.notes.append("empty")
            return True
        if self.recheck:
            return False
        return (self.state is not None and dst_exists
                and await self._unchanged(self.state, verify))

    async def reload(self) -> None:
        """Read the folder's checkpoint again (a copy cut short by a lost connection moved it):
        :meth:`copy_folder` then resumes from there."""
        self.state = await self.ctx.store.folder(self.ctx.mailbox_id, self.mapping.src)

    async def copy_folder(self, *, verify: bool) -> FolderReport:
        """Open both folders, reconcile, copy what is new, verify.  Call :meth:`settle`
        first."""
        ctx, m = self.ctx, self.mapping
        state = self.state
        first_uid = state.high_water + 1 if state is not None else 1
        opened: dict[str, Any] = {}

        async def open_src() -> None:
            opened["src"] = await in_thread(ctx.src.examine_with_meta, m.src, first_uid)

        async def open_dst() -> None:
            opened["dst"] = await in_thread(ctx.dst.select, m.dst)

        # Source EXAMINE + metadata FETCH (pipelined) while the destination SELECTs.
        await concurrently(open_src, open_dst)
        src_st, metas = opened["src"]
        dst_st: FolderStatus = opened["dst"]
        self.report.src_messages = src_st.exists
        fresh = state is None  # a state created or reset here has no rows to repair
        if state is None:
            state = await ctx.store.add_folder(ctx.mailbox_id, m.src, m.dst,
                                               src_st.uidvalidity, dst_st.uidvalidity,
                                               content_match=dst_st.exists > 0)
        elif (state.src_uidvalidity != src_st.uidvalidity
              or state.dst_uidvalidity != dst_st.uidvalidity or state.dst_name != m.dst):
            self.log.warning("folder_state_reset", reason="UIDVALIDITY changed or folder moved",
                             src_uidvalidity=src_st.uidvalidity,
                             dst_uidvalidity=dst_st.uidvalidity)
            self.report.notes.append("UIDVALIDITY changed: content-matched pass")
            fresh = True
            state = await ctx.store.reset_folder(state, m.dst, src_st.uidvalidity,
                                                 dst_st.uidvalidity, forget_messages=True,
                                                 content_match=dst_st.exists > 0)
        if state.high_water + 1 != first_uid:
            metas = None  # the high-water mark moved (reset): list again from there
        # The need for a content-matched pass is part of the folder's state, written with the
        # state's creation or reset and cleared only by set_uidnext_seen below: a pass
        # interrupted by kill -9, a stop request or a lost connection is content-matched
        # again when resumed.  Intents go first: what the interrupted pass appended just
        # before the crash is claimed by its intent (from the remembered UIDNEXT up), so the
        # content pool (built afterwards from unclaimed messages) never sees it.
        await self.reconcile(state, src_st.uidvalidity, dst_st)
        if verify and not fresh:
            await self._repair_present_flags(state, src_st.uidvalidity, dst_st)
            await self._check_and_repair(state, src_st, dst_st)
        elif self.lost_below_high_water:
            await self._recopy(state, src_st, dst_st, self.lost_below_high_water)
        await self.copy(state, src_st, dst_st, state.content_match and dst_st.exists > 0, metas)
        await ctx.store.set_uidnext_seen(state.id, src_st.uidnext)
        step("folder_copied")
        if verify:
            await ctx.progress.phase("verify")
            await verify_folder(ctx, state, src_st.uidvalidity, dst_st, self.report,
                                only_unverified=True)
            await ctx.progress.phase("copy")
        await self._count(state, src_st.uidvalidity)
        return self.report

    async def _unchanged(self, state: FolderState, verify: bool) -> bool:
        """Cheap re-run: STATUS on both sides, no message touched, when nothing is new."""
        ctx = self.ctx
        src_st = (ctx.src_statuses or {}).get(self.mapping.src)
        if src_st is None:
            src_st = await in_thread(ctx.src.status, self.mapping.src)
        if (state.src_uidvalidity != src_st.uidvalidity or state.src_uidnext_seen != src_st.uidnext
                or state.dst_name != self.mapping.dst):
            return False
        assert state.src_uidvalidity is not None
        if await ctx.store.open_intents(state.id, state.src_uidvalidity):
            return False
        if verify and await ctx.store.count_unverified(state.id, state.src_uidvalidity):
            return False
        dst_st = (ctx.dst_statuses or {}).get(self.mapping.dst)
        if dst_st is None:
            dst_st = await in_thread(ctx.dst.status, self.mapping.dst)
        if dst_st.uidvalidity != state.dst_uidvalidity:
            return False
        if verify and not ctx.members_own_destination \
                and dst_st.exists < await ctx.store.count_copies(state.id,
                                                                 state.src_uidvalidity):
            # Fewer messages than pecsync copied there: some copies were deleted.
            self.log.info("destination_copies_missing", messages=dst_st.exists)
            self.recheck = True
            return False
        self.report.src_messages = src_st.exists
        await self._count(state, state.src_uidvalidity)
        self.report.notes.append("unchanged since the last run")
        return True

    async def _count(self, state: FolderState, uidvalidity: int) -> None:
        rows = await self.ctx.store.copied_messages(state.id, uidvalidity)
        self.report.skipped = sum(1 for r in rows if r.state == "skipped")
        unverifiable = [r for r in rows if r.state != "skipped" and r.note
                        and r.note.startswith("unverifiable")]
        self.report.unverifiable = len(unverifiable)
        self.report.notes.extend(f"uid {r.src_uid} (Message-ID {r.message_id or 'none'}): "
                                 f"{r.note}" for r in unverifiable)
        quarantine = self.ctx.quarantine
        for r in rows:
            if r.state != "skipped":
                continue
            where = ""
            if quarantine is not None:
                path = quarantine.path(self.mapping.src, r.src_uid)
                self.report.quarantined.append(str(path))
                where = f" (kept in {path})"
            self.report.notes.append(f"uid {r.src_uid}: skipped: {r.note}{where}")
        self.report.verified = sum(1 for r in rows if r.verified_at and r.state != "skipped"
                                   and not (r.note and r.note.startswith("unverifiable")))
        self.report.already_present = sum(1 for r in rows if r.state != "skipped") \
            - self.report.copied

    # --- reconcile ------------------------------------------------------------------------
    async def reconcile(self, state: FolderState, uidvalidity: int, dst_st: FolderStatus) -> None:
        """Resolve intents left by a crash or a lost connection (see module docstring)."""
        ctx = self.ctx
        intents = await ctx.store.open_intents(state.id, uidvalidity)
        if not intents:
            return
        lo = min(i.dst_uidnext_before for i in intents)
        claimed = await ctx.store.claimed_dst_uids(state.id, dst_st.uidvalidity)
        sizes = {i.size for i in intents}
        pool = ContentPool()
        for sha256, info in await self._dst_hashes(f"{lo}:*", lambda info: info.uid >= lo
                                                   and info.uid not in claimed, sizes):
            pool.add(sha256, info.uid)
        found: list[Appended] = []
        lost: list[int] = []
        for intent in intents:
            uid = pool.take(intent.sha256)
            if uid is None:
                lost.append(intent.src_uid)
            else:
                found.append(Appended(intent.src_uid, uid))
        await ctx.store.mark_appended(state.id, uidvalidity, dst_st.uidvalidity, found, None)
        await ctx.store.drop_intents(state.id, uidvalidity, lost)
        # A repair (below the high-water mark) the crash interrupted: copy it again now.
        self.lost_below_high_water = [u for u in lost if u <= state.high_water]
        step("reconciled")
        self.log.info("intents_reconciled", found=len(found), not_stored=len(lost))

    async def _dst_hashes(self, uids: str, keep: Callable[[MessageInfo], bool],
                          sizes: set[int] | None) -> list[tuple[str, MessageInfo]]:
        """SHA-256 and metadata of the destination messages of the selected folder that
        *keep* accepts (and whose size is one of *sizes*, when given)."""
        ctx = self.ctx
        out: list[tuple[str, MessageInfo]] = []
        metas = [i for i in await in_thread(ctx.dst.fetch_meta, uids) if keep(i)]
        if sizes is not None:
            metas = [i for i in metas if i.size in sizes]
        for batch in make_batches(metas, ctx.engine.batch_max_bytes,
                                  ctx.engine.batch_max_messages):
            out.extend((msg.sha256, msg.info)
                       for msg in await in_thread(ctx.dst.fetch_bodies, batch))
        return out

    async def restore_flags(self, uids_by_flags: dict[tuple[str, ...], list[int]]) -> None:
        """Give destination messages claimed by content the source's flags: one ``UID STORE
        FLAGS`` per distinct flag set.  Called before those messages are recorded as present,
        so a crash in between only means they are matched (and, if needed, stored) again."""
        for flags, uids in uids_by_flags.items():
            await in_thread(self.ctx.dst.store_flags, uids, flags)
        step("flags_stored")
        self.log.info("flags_restored", messages=sum(len(u) for u in uids_by_flags.values()))

    async def _repair_present_flags(self, state: FolderState, uidvalidity: int,
                                    dst_st: FolderStatus) -> None:
        """Messages recorded as present by an earlier pass and not verified since: give them
        the source's flags where they differ.  Before restore_flags existed a content match
        never set flags, so such a copy failed verification on every run.  Only unverified
        rows: a verified copy's flags are not reset (the user may have changed them since)."""
        by_dst = {r.dst_uid: r for r in await self.ctx.store.copied_messages(state.id, uidvalidity)
                  if r.state == "present" and r.verified_at is None and r.dst_uid is not None}
        if not by_dst:
            return
        restore: dict[tuple[str, ...], list[int]] = {}
        for info in await in_thread(self.ctx.dst.fetch_meta, uid_set(list(by_dst))):
            row = by_dst.get(info.uid)
            if row is None:
                continue
            flags, _ = filter_flags(row.flags, dst_st.permanentflags)
            if comparable_flags(info.flags) != comparable_flags(flags):
                restore.setdefault(flags, []).append(info.uid)
        if restore:
            await self.restore_flags(restore)

    async def _check_and_repair(self, state: FolderState, src_st: FolderStatus,
                                dst_st: FolderStatus) -> None:
        """Repair (README "Repair"): recorded copies not verified since an earlier pass (or
        every copy, on a re-check) are verified first; one missing on the destination, or with
        other bytes or another INTERNALDATE, is appended again (the bad copy is left where it
        is and named in the report: pecsync never deletes destination mail).  A verified
        copy whose flags were changed since is left as the member set them."""
        scratch = FolderReport(src=self.mapping.src, dst=self.mapping.dst)
        uidvalidity = src_st.uidvalidity
        if not (self.recheck or self.lost_below_high_water
                or await self.ctx.store.count_unverified(state.id, uidvalidity)):
            return  # every copy was verified by an earlier pass: nothing to check first
        bad = await verify_folder(self.ctx, state, uidvalidity, dst_st, scratch,
                                  only_unverified=not self.recheck)
        keep = [b.row.src_uid for b in bad if not b.needs_copy and b.row.verified_at
                and b.row.dst_uid is not None]
        if keep:
            await self.ctx.store.set_verified(state.id, uidvalidity, keep)
        restore: dict[tuple[str, ...], list[int]] = {}
        for b in bad:
            if not b.needs_copy and not b.row.verified_at and b.row.dst_uid is not None:
                flags, _ = filter_flags(b.row.flags, dst_st.permanentflags)
                restore.setdefault(flags, []).append(b.row.dst_uid)
        if restore:
            await self.restore_flags(restore)
        redo = [b for b in bad if b.needs_copy]
        for b in redo:
            self.report.notes.append(
                f"uid {b.row.src_uid}: the copy (destination uid {b.row.dst_uid}) was "
                f"{'; '.join(b.problems)}: appended again (the bad copy, if any, is left on "
                f"the destination)")
            self.log.warning("copy_repaired", uid=b.row.src_uid, dst_uid=b.row.dst_uid,
                             problems=list(b.problems))
        # On a re-check (`retry`), the messages in the quarantine are offered again: the
        # operator may have fixed the destination.
        again: set[int] = set()
        if self.recheck:
            again = {r.src_uid for r in await self.ctx.store.copied_messages(state.id,
                                                                               uidvalidity)
                     if r.state == "skipped"}
        uids = sorted({b.row.src_uid for b in redo} | set(self.lost_below_high_water) | again)
        if uids:
            await self._recopy(state, src_st, dst_st, uids, repaired=set(uids) - again)
        # The bad copies still on the destination are named with their replacement, so the
        # certificate can tell them from mail added after the copy.
        left = {b.row.src_uid: f"{REPLACES} {b.row.dst_uid} ({'; '.join(b.problems)}; left on "
                               f"the destination)"
                for b in redo if b.row.dst_uid is not None
                and "missing on the destination" not in b.problems}
        if left:
            # Only on rows now holding a good new copy (not on a refusal's reason, nor on an
            # "unverifiable" note).
            rows = await self.ctx.store.copied_messages(state.id, uidvalidity)
            current = {r.src_uid: r for r in rows}
            await self.ctx.store.set_notes(state.id, uidvalidity, {
                uid: note for uid, note in left.items()
                if uid in current and current[uid].state == "appended"
                and (current[uid].note or REPLACES).startswith(REPLACES)})
        if again:
            await self._release_from_quarantine(state, uidvalidity, again)

    async def _release_from_quarantine(self, state: FolderState, uidvalidity: int,
                                       uids: set[int]) -> None:
        """Quarantine files of messages the destination has now stored are removed."""
        q = self.ctx.quarantine
        if q is None:
            return
        for r in await self.ctx.store.copied_messages(state.id, uidvalidity):
            if r.src_uid in uids and r.state != "skipped":
                eml = q.path(self.mapping.src, r.src_uid)
                eml.unlink(missing_ok=True)
                eml.with_suffix(".json").unlink(missing_ok=True)
                self.report.notes.append(f"uid {r.src_uid}: stored by the destination now; "
                                         f"removed from the quarantine")

    async def _recopy(self, state: FolderState, src_st: FolderStatus, dst_st: FolderStatus,
                      uids: Sequence[int], repaired: set[int] | None = None) -> None:
        """APPEND these source messages again (below the high-water mark, which stays)."""
        ctx = self.ctx
        metas = await in_thread(ctx.src.fetch_meta, uid_set(list(uids)))
        metas = [i for i in metas if i.uid in set(uids)]
        gone = sorted(set(uids) - {i.uid for i in metas})
        for uid in gone:
            self.report.notes.append(f"uid {uid}: no longer on the source: cannot be copied "
                                     f"again")
        importer = _Importer(self, state, src_st.uidvalidity, dst_st, None,
                             moves_high_water=False)
        batches = make_batches(metas, ctx.engine.batch_max_bytes, ctx.engine.batch_max_messages)
        async with aclosing(fetch_batches(ctx.src, batches, ctx.memory)) as stream:
            async for fetched, reserved in stream:
                try:
                    await importer.import_batch(fetched)
                finally:
                    if ctx.memory is not None:
                        await ctx.memory.release(reserved)
        self.report.repaired += sum(1 for i in metas if repaired is None or i.uid in repaired)
        self.lost_below_high_water = []

    def _note_other_dates(self, pool: MatchPool,
                          near_misses: list[tuple[int, str, datetime]]) -> None:
        """Name the destination messages left unclaimed that have the bytes of a source
        message but another INTERNALDATE: the source message got its own exact copy (or was
        skipped with its reason), and the operator decides what to do with the other one."""
        named: set[int] = set()
        for src_uid, sha256, internaldate in near_misses:
            for other in pool.others(sha256):
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

    # --- copy -----------------------------------------------------------------------------
    async def copy(self, state: FolderState, src_st: FolderStatus, dst_st: FolderStatus,
                   content_match: bool, listed: list[MessageInfo] | None = None) -> None:
        """Copy the source messages above the high-water mark (*listed*: their metadata,
        when already fetched)."""
        ctx = self.ctx
        uidvalidity = src_st.uidvalidity
        metas: list[MessageInfo] = []
        if src_st.exists:
            if listed is None:
                listed = await in_thread(ctx.src.fetch_meta, f"{state.high_water + 1}:*")
            metas = [i for i in listed if i.uid > state.high_water]
        done = await ctx.store.done_uids_above(state.id, uidvalidity, state.high_water)
        todo = [i for i in metas if i.uid not in done]
        if ctx.progress.on_folder:
            ctx.progress.on_folder(self.mapping.src, len(todo))
        if ctx.progress.on_folder_planned:
            ctx.progress.on_folder_planned(self.mapping.src, len(todo), sum(i.size for i in todo))
        pool: MatchPool | None = None
        if content_match and todo:
            claimed = await ctx.store.claimed_dst_uids(state.id, dst_st.uidvalidity)
            pool = MatchPool()
            for sha256, info in await self._dst_hashes("1:*", lambda info: info.uid not in claimed,
                                                       {i.size for i in todo}):
                pool.add(sha256, info)
            self.log.debug("content_pool_built", candidates=len(pool))
        importer = _Importer(self, state, uidvalidity, dst_st, pool)
        batches = make_batches(todo, ctx.engine.batch_max_bytes, ctx.engine.batch_max_messages)
        send, recv = anyio.create_memory_object_stream[tuple[list[FetchedMessage], int]](
            max_buffer_size=ctx.engine.prefetch_batches)
        memory = ctx.memory
        held = [0]  # bytes reserved by this folder and not given back yet

        async def export() -> None:
            async with send, aclosing(fetch_batches(ctx.src, batches, memory)) as stream:
                async for fetched, reserved in stream:
                    held[0] += reserved
                    await send.send((fetched, reserved))

        async def import_() -> None:
            async with recv:
                async for fetched, reserved in recv:
                    await importer.import_batch(fetched)
                    del fetched
                    if memory is not None:
                        held[0] -= reserved
                        await memory.release(reserved)

        try:
            await concurrently(export, import_)
        finally:
            if memory is not None and held[0]:
                await memory.release(held[0])
        if metas:
            # Every listed message is now appended, present or skipped.
            await ctx.store.mark_appended(state.id, uidvalidity, dst_st.uidvalidity, [],
                                          metas[-1].uid)
        if pool is not None:
            self._note_other_dates(pool, importer.near_misses)
        if self.report.dropped_flags:
            self.log.warning("flags_not_kept", flags=sorted(self.report.dropped_flags),
                             hint="the destination does not accept these flags")


async def fetch_batches(session: ImapSession, batches: Sequence[Sequence[MessageInfo]],
                        memory: ByteBudget | None
                        ) -> AsyncGenerator[tuple[list[FetchedMessage], int], None]:
    """The bodies of *batches*, in order, each with the bytes it holds in *memory* (the caller
    gives them back).  The next batch is requested while this one is read (pipelining) when
    the budget has room for it now; otherwise it is requested when its turn comes.  Use
    with ``aclosing``: a reservation made ahead is given back when the stream is closed."""
    ahead: int | None = None  # reservation of the batch already requested
    try:
        for n, batch in enumerate(batches):
            if ahead is not None:
                reserved, ahead = ahead, None
            else:
                reserved = (await memory.acquire(sum(i.size for i in batch))
                            if memory is not None else 0)
            then: Sequence[MessageInfo] = ()
            if n + 1 < len(batches):
                ahead = (memory.try_acquire(sum(i.size for i in batches[n + 1]))
                         if memory is not None else 0)
                then = batches[n + 1] if ahead is not None else ()
            try:
                fetched = await in_thread(session.fetch_bodies, batch, then=then)
            except BaseException:
                if memory is not None:
                    await memory.release(reserved)
                raise
            yield fetched, reserved
    finally:
        if memory is not None and ahead:
            await memory.release(ahead)


class _Importer:
    """The destination half of :meth:`FolderCopier.copy`: one batch at a time, in UID order."""

    def __init__(self, copier: FolderCopier, state: FolderState, uidvalidity: int,
                 dst_st: FolderStatus, pool: MatchPool | None, *,
                 moves_high_water: bool = True) -> None:
        self.copier = copier
        #: False for a repair: the messages lie below the high-water mark, which stays.
        self.moves_high_water = moves_high_water
        self.ctx = copier.ctx
        self.state = state
        self.uidvalidity = uidvalidity
        self.dst_st = dst_st
        self.pool = pool
        self.dst_uidnext = dst_st.uidnext
        self.report = copier.report
        #: (source uid, SHA-256, INTERNALDATE) of messages the pool held only with another
        #: INTERNALDATE when their turn came (see FolderCopier._note_other_dates).
        self.near_misses: list[tuple[int, str, datetime]] = []

    async def import_batch(self, fetched: Sequence[FetchedMessage]) -> None:
        present: list[tuple[FetchedMessage, int, int]] = []
        skipped: list[tuple[FetchedMessage, str]] = []
        to_append: list[FetchedMessage] = []
        restore: dict[tuple[str, ...], list[int]] = {}
        limit = self.ctx.dst.append_limit()
        for msg in fetched:
            # A content match needs the same bytes *and* INTERNALDATE (MatchPool): the legal
            # copy is both, and IMAP cannot change an INTERNALDATE.  Flags can be changed:
            # the matched message gets the source's (filtered like APPEND's).
            match = (self.pool.take(msg.sha256, msg.info.internaldate)
                     if self.pool is not None else None)
            if self.pool is not None and match is None and self.pool.others(msg.sha256):
                self.near_misses.append((msg.info.uid, msg.sha256, msg.info.internaldate))
            if match is not None:
                present.append((msg, self.dst_st.uidvalidity, match.uid))
                flags, dropped = filter_flags(msg.info.flags, self.dst_st.permanentflags)
                self.report.dropped_flags |= dropped
                if comparable_flags(match.flags) != comparable_flags(flags):
                    restore.setdefault(flags, []).append(match.uid)
            elif limit is not None and len(msg.body) > limit:
                skipped.append((msg, f"larger ({len(msg.body)} bytes) than the destination's "
                                     f"APPENDLIMIT ({limit} bytes)"))
            elif b"\x00" in msg.body and not self.ctx.dst.has("BINARY"):
                skipped.append((msg, "contains NUL bytes and the destination lacks BINARY: "
                                     "cannot be stored byte-exactly"))
            else:
                to_append.append(msg)
        if restore:
            # Before the messages are recorded as present: a crash in between leaves them
            # unclaimed, to be matched (and stored, if still needed) again.
            await self.copier.restore_flags(restore)
        if present or skipped:
            for msg, reason in skipped:
                self._quarantine(msg, reason)
            await self.ctx.store.record_batch(self.state.id, self.uidvalidity, present=present,
                                              skipped=skipped)
            self.report.skipped += len(skipped)
        # The high-water mark moves over the batch in the transaction that records the
        # APPEND outcomes (one fsync), or on its own when nothing was appended.
        high_water = fetched[-1].info.uid if self.moves_high_water else None
        if not await self._append(to_append, high_water=high_water) and high_water is not None:
            await self.ctx.store.mark_appended(self.state.id, self.uidvalidity,
                                               self.dst_st.uidvalidity, [], fetched[-1].info.uid)
        step("batch_committed")
        self.ctx.progress.checkpoint()
        if self.ctx.progress.on_batch:
            self.ctx.progress.on_batch(len(fetched), sum(len(m.body) for m in fetched))
        if self.ctx.progress.on_folder_batch:
            self.ctx.progress.on_folder_batch(self.copier.mapping.src, len(fetched),
                                              sum(len(m.body) for m in fetched))
        if (self.ctx.progress.should_stop and self.ctx.progress.should_stop()) \
                or self.ctx.halt.is_set():
            raise StopRequested(mailbox=self.ctx.label, folder=self.copier.mapping.src)

    async def _append(self, msgs: Sequence[FetchedMessage], high_water: int | None = None
                      ) -> bool:
        """APPEND *msgs* under the intent protocol.  True when *high_water* was recorded with
        the outcomes (False: nothing appended, or appended one by one after a refusal)."""
        if not msgs:
            return False
        ctx = self.ctx
        items = []
        for msg in msgs:
            flags, dropped = filter_flags(msg.info.flags, self.dst_st.permanentflags)
            self.report.dropped_flags |= dropped
            items.append(AppendItem(body=msg.body, flags=flags, internaldate=msg.info.internaldate))
        # Order matters: the intent must be durable before APPEND is sent.
        await ctx.store.record_batch(self.state.id, self.uidvalidity, intents=msgs,
                                     dst_uidnext_before=self.dst_uidnext)
        step("intents_recorded")
        outcome = await in_thread(ctx.dst.append, self.copier.mapping.dst, items)
        refused = outcome.refused
        if refused is not None:
            # A tagged NO (or a message refused before it was sent): the refused message and
            # those after it were not stored.  Those before it were (without MULTIAPPEND each
            # message is its own APPEND): they are recorded as appended first, so that neither
            # the next run nor the one-by-one pass below appends them again.
            await self._record_appended(msgs[:outcome.stored], outcome.uidvalidity,
                                        outcome.uids, high_water=None)
            rest = msgs[outcome.stored:]
            await ctx.store.drop_intents(self.state.id, self.uidvalidity,
                                         [m.info.uid for m in rest])
            if not isinstance(refused, MessageRefused):
                raise refused  # DestinationFull
            if len(rest) > 1:
                # Find the message the server refuses: one APPEND each.
                for msg in rest:
                    await self._append([msg])
                return False
            reason = refused.response or refused.detail
            self._quarantine(rest[0], f"refused by the destination: {reason}")
            await ctx.store.record_batch(self.state.id, self.uidvalidity,
                                         skipped=[(rest[0], f"refused by the destination: "
                                                            f"{reason}")])
            self.report.skipped += 1
            self.copier.log.warning("message_skipped", uid=rest[0].info.uid, reason=reason)
            return False
        step("appended")
        await self._record_appended(msgs, outcome.uidvalidity, outcome.uids,
                                    high_water=high_water)
        step("appended_recorded")
        return high_water is not None

    def _quarantine(self, msg: FetchedMessage, reason: str) -> None:
        """Keep a message the destination will not store, byte for byte (before it is
        recorded as skipped: a crash in between writes it again next time)."""
        q = self.ctx.quarantine
        if q is None:
            return
        path = q.save(self.copier.mapping.src, msg, reason)
        self.copier.log.warning("message_quarantined", uid=msg.info.uid, path=str(path),
                                reason=reason)

    async def _record_appended(self, msgs: Sequence[FetchedMessage], dst_uidvalidity: int | None,
                               uids: Sequence[int], *, high_water: int | None) -> None:
        """Record *msgs* as stored by the destination (*uids*: their APPENDUIDs, if known),
        with *high_water* in the same transaction."""
        if not msgs and high_water is None:
            return
        if len(uids) != len(msgs):
            uids_or_none: list[int | None] = [None] * len(msgs)
        else:
            uids_or_none = list(uids)
            if uids:
                self.dst_uidnext = max(self.dst_uidnext, max(uids) + 1)
        await self.ctx.store.mark_appended(
            self.state.id, self.uidvalidity, dst_uidvalidity or self.dst_st.uidvalidity,
            [Appended(m.info.uid, u) for m, u in zip(msgs, uids_or_none, strict=True)],
            high_water)
        self.report.copied += len(msgs)
        self.report.bytes_copied += sum(len(m.body) for m in msgs)


@dataclass(frozen=True)
class BadCopy:
    """A recorded copy that verification found missing or different on the destination."""

    row: CopiedMessage
    problems: tuple[str, ...]
    #: Not on the destination at all, or other bytes / INTERNALDATE: a new copy is needed.
    needs_copy: bool


async def verify_folder(ctx: MailboxContext, state: FolderState, uidvalidity: int,
                        dst_st: FolderStatus, report: FolderReport, *,
                        only_unverified: bool) -> list[BadCopy]:
    """Fetch destination copies back and compare SHA-256, flags and INTERNALDATE with what was
    recorded from the source.  The destination folder must be selected.  Returns the bad
    copies (also counted in *report* and cleared as unverified)."""
    rows = await ctx.store.copied_messages(state.id, uidvalidity)
    targets = [r for r in rows if r.state != "skipped"
               and not (only_unverified and r.verified_at)]
    by_dst = {r.dst_uid: r for r in targets if r.dst_uid is not None}
    ok: list[int] = []
    bad: list[BadCopy] = []
    for r in targets:
        if r.dst_uid is None:
            bad.append(BadCopy(r, ("destination UID unknown (no UIDPLUS)",), False))
            report.notes.append(f"uid {r.src_uid}: destination UID unknown (no UIDPLUS)")
    seen: set[int] = set()
    if by_dst:
        metas = await in_thread(ctx.dst.fetch_meta, uid_set(list(by_dst)))
        metas = [i for i in metas if i.uid in by_dst]
        batches = make_batches(metas, ctx.engine.batch_max_bytes, ctx.engine.batch_max_messages)
        async with aclosing(fetch_batches(ctx.dst, batches, ctx.memory)) as stream:
            async for fetched, reserved in stream:
                if ctx.memory is not None:
                    await ctx.memory.release(reserved)  # only hashes are kept from here
                if ok:
                    # Recorded batch by batch: after a lost connection the verification
                    # resumes where it stopped instead of fetching the folder again.
                    await ctx.store.set_verified(state.id, uidvalidity, ok)
                    ctx.progress.checkpoint()
                    ok = []
                for msg in fetched:
                    row = by_dst[msg.info.uid]
                    seen.add(msg.info.uid)
                    problems = _differences(msg, row, dst_st.permanentflags,
                                            flags=not ctx.members_own_destination)
                    if problems:
                        bad.append(BadCopy(row, tuple(problems),
                                           any(not p.startswith("flags") for p in problems)))
                        report.notes.append(f"uid {row.src_uid} (destination uid {row.dst_uid}): "
                                            + "; ".join(problems))
                    else:
                        ok.append(row.src_uid)
    for dst_uid, row in by_dst.items():
        if dst_uid not in seen:
            bad.append(BadCopy(row, ("missing on the destination",), True))
            report.notes.append(f"uid {row.src_uid}: missing on the destination "
                                f"(destination uid {dst_uid})")
    await ctx.store.set_verified(state.id, uidvalidity, ok, [b.row.src_uid for b in bad])
    report.mismatched += len(bad)
    step("verified")
    return bad


def _differences(msg: FetchedMessage, row: CopiedMessage, permanentflags: frozenset[str],
                 *, flags: bool = True) -> list[str]:
    """What differs between a destination copy and what was recorded from the source.
    ``flags=False`` after ``[migration] switch_at``: the members read and mark their mail on
    the destination then, so its flags are theirs (issue 16), while the bytes and the
    INTERNALDATE are still checked."""
    problems = []
    if msg.sha256 != row.sha256:
        problems.append("content differs (SHA-256)")
    want_flags, _ = filter_flags(row.flags, permanentflags)
    if flags and comparable_flags(msg.info.flags) != comparable_flags(want_flags):
        problems.append(f"flags {sorted(msg.info.flags)} instead of {list(want_flags)}")
    if msg.info.internaldate != datetime.fromisoformat(row.internaldate):
        problems.append(f"INTERNALDATE {msg.info.internaldate.isoformat()} instead "
                        f"of {row.internaldate}")
    return problems
