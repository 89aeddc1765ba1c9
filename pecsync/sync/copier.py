"""Copy one folder pair: open both folders, reconcile, repair, copy what is new, verify.

A folder copy follows Dovecot dsync's seam, one module per step:

1. :mod:`pecsync.sync.reconcile` — intents left by a crash or a lost connection, flag
   repair, copies found bad or missing appended again, the quarantine offered again;
2. :mod:`pecsync.sync.exporter` (source side) — which messages to copy, their bytes in
   batches → a bounded stream →
3. :mod:`pecsync.sync.importer` (destination side) — match, APPEND under the intent
   protocol, record through the folder's :class:`~pecsync.store.ledger.FolderLedger`;
4. :mod:`pecsync.sync.verify` — fetch the copies back and compare.  While step 3 runs,
   another lane of the mailbox may verify the copies recorded so far on its own
   connections (:meth:`FolderCopier.help_round`): the read-back then overlaps the copy, and
   what is left for step 4 is the last batches.  A large folder's batches are also shared:
   a lane with no folder left copies batches from the back of it (:mod:`pecsync.sync.shares`,
   :meth:`FolderCopier.copy_share`).

A source UIDVALIDITY change, a recreated destination folder or a folder we have no state
for while the destination already holds messages all lead to a *content-matched pass*:
every destination message whose size matches a candidate is hashed and claimed at most once.
That need is stored with the folder's state (``folder.content_match``) until the pass
completes, so a resumed pass is content-matched too; intents are reconciled before it.
"""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import anyio
import structlog

from pecsync.errors import StopRequested
from pecsync.model import FolderMapping, FolderReport, FolderStatus, MessageInfo
from pecsync.store.checkpoints import CopiedMessage, FolderState
from pecsync.store.ledger import FolderLedger
from pecsync.sync.aio import concurrently, in_thread
from pecsync.sync.context import MailboxContext
from pecsync.sync.exporter import Exporter, Fetched, fetch_taken, stream_pair
from pecsync.sync.importer import Importer, content_pool
from pecsync.sync.reconcile import Reconciler
from pecsync.sync.shares import MIN_MESSAGES, SHARE_BATCHES, FolderShares
from pecsync.sync.verify import verify_folder

log = structlog.get_logger("pecsync.copy")


@dataclass(frozen=True)
class _Shared:
    """What another lane needs to copy batches of this folder: the batches, the folder's
    ledger and the views both folders were opened with by the owner."""

    shares: FolderShares
    ledger: FolderLedger
    src_uidvalidity: int
    dst_st: FolderStatus


class FolderCopier:
    """Copies (and then verifies) one folder pair of the mailbox *label*."""

    def __init__(self, mapping: FolderMapping, *, label: str, recheck: bool = False,
                 defer_verify: bool = False) -> None:
        self.mapping = mapping
        #: :meth:`copy_folder` leaves the folder's final verification to :meth:`finish`, which
        #: the lanes run on whichever lane is free (the one that reads back, first).
        self.defer_verify = defer_verify
        #: The ledger of a copy whose final verification waits for :meth:`finish`, with the
        #: destination folder's status as its owner SELECTed it (its PERMANENTFLAGS: an
        #: EXAMINE may list none).
        self._unverified: tuple[FolderLedger, FolderStatus] | None = None
        self.label = label
        self.report = FolderReport(src=mapping.src, dst=mapping.dst)
        self.log = log.bind(mailbox=label, folder=mapping.src)
        #: Re-check every recorded copy of this folder, not only the unverified ones
        #: (``retry``, or the destination holds fewer messages than were copied into it).
        self.recheck = recheck
        #: The folder's ledger while its new messages are being copied (and will be verified
        #: after): another lane may verify what is recorded meanwhile (help_verify).
        self._copying: FolderLedger | None = None
        #: Set when the helper round in flight ends (None: no round in flight).
        self._helper: anyio.Event | None = None
        #: Source UIDs a helper round has taken (the bad ones are left to the folder's own
        #: verification, and not taken again).
        self._checked: set[int] = set()
        #: The batches of this folder other lanes may copy, while they may (copy_share).
        self._shared: _Shared | None = None
        #: The copy has decided whether to share its batches (and they may be all taken).
        self._share_decided = False
        #: The messages of the copy in progress not taken by a batch yet (bytes_left);
        #: cleared when copy_folder returns.
        self._left: FolderShares | None = None
        #: Copies verified by a helping lane (tests, logs).
        self.helped = 0

    async def settle(self, ctx: MailboxContext, *, verify: bool, dst_exists: bool = True
                     ) -> bool:
        """True when the folder needs no connection of its own: empty and never copied, or
        unchanged since the last run (decided from LIST-STATUS / STATUS alone).  False:
        :meth:`copy_folder` is needed (optional: it decides everything again itself).
        *dst_exists* False: the destination folder is yet to be created (so not unchanged)."""
        m = self.mapping
        state = await ctx.store.folder(ctx.mailbox_id, m.src)
        known = ctx.src_statuses.get(m.src) if ctx.src_statuses is not None else None
        if state is None and known is not None and known.exists == 0:
            # Empty and never copied: created on the destination with the tree; nothing more.
            self.report.notes.append("empty")
            return True
        if self.recheck:
            return False
        return state is not None and dst_exists and await self._unchanged(ctx, state, verify)

    async def copy_folder(self, ctx: MailboxContext, *, verify: bool) -> FolderReport:
        """Open both folders on *ctx*'s connections (a lane's own pair), reconcile, copy what
        is new, verify.  Reads the folder's checkpoint first, so a copy cut short by a lost
        connection resumes from where it stopped."""
        self._share_decided = False
        try:
            return await self._copy_folder(ctx, verify=verify)
        finally:
            self._share_decided = True
            self._left = None

    async def _copy_folder(self, ctx: MailboxContext, *, verify: bool) -> FolderReport:
        m = self.mapping
        state = await ctx.store.folder(ctx.mailbox_id, m.src)
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
        # Every flag this state will record is read after the round's LIST-STATUS: its
        # HIGHESTMODSEQ is the flag pass's starting point (a first copy's flags are not read
        # again; a later change has a higher MODSEQ).
        listed = (ctx.src_statuses or {}).get(m.src)
        flags_modseq = (listed.highestmodseq if listed is not None
                        and listed.uidvalidity == src_st.uidvalidity else None)
        if state is None:
            state = await ctx.store.add_folder(ctx.mailbox_id, m.src, m.dst,
                                               src_st.uidvalidity, dst_st.uidvalidity,
                                               content_match=dst_st.exists > 0,
                                               flags_modseq=flags_modseq)
        elif (state.src_uidvalidity != src_st.uidvalidity
              or state.dst_uidvalidity != dst_st.uidvalidity or state.dst_name != m.dst):
            self.log.warning("folder_state_reset", reason="UIDVALIDITY changed or folder moved",
                             src_uidvalidity=src_st.uidvalidity,
                             dst_uidvalidity=dst_st.uidvalidity)
            self.report.notes.append("UIDVALIDITY changed: content-matched pass")
            fresh = True
            state = await ctx.store.reset_folder(state, m.dst, src_st.uidvalidity,
                                                 dst_st.uidvalidity, forget_messages=True,
                                                 content_match=dst_st.exists > 0,
                                                 flags_modseq=flags_modseq)
        if state.high_water + 1 != first_uid:
            metas = None  # the high-water mark moved (reset): list again from there
        ledger = FolderLedger.of(ctx.store, state, src_uidvalidity=src_st.uidvalidity,
                                 dst_uidvalidity=dst_st.uidvalidity)
        # The need for a content-matched pass is part of the folder's state, written with the
        # state's creation or reset and cleared only by complete_pass below: a pass
        # interrupted by kill -9, a stop request or a lost connection is content-matched
        # again when resumed.  Intents go first: what the interrupted pass appended just
        # before the crash is claimed by its intent (from the remembered UIDNEXT up), so the
        # content pool (built afterwards from unclaimed messages) never sees it.
        repair = Reconciler(ctx, ledger, dst_st, self.report, self.log)
        lost = await repair.reconcile(state.high_water)
        if verify and not fresh:
            await repair.repair_present_flags()
            await repair.check_and_repair(recheck=self.recheck, lost=lost)
        elif lost:
            await repair.recopy(lost)
        self._copying = ledger if verify else None
        copied = False
        try:
            await self._copy(ctx, ledger, state, src_st, dst_st,
                             state.content_match and dst_st.exists > 0, metas, repair)
            copied = True
        finally:
            self._copying = None  # no helper round starts from now on
            if not (copied and verify and self.defer_verify):  # (else finish() waits)
                await self._helper_done()
        if self.helped:
            self.log.debug("verification_helped", messages=self.helped)
        await ledger.complete_pass(src_st.uidnext)
        if verify and self.defer_verify:
            self._unverified = (ledger, repair.dst_st)  # finish(), on any lane
            return self.report
        if verify:
            await ctx.progress.phase("verify")
            await verify_folder(ctx, ledger, repair.dst_st, self.report, only_unverified=True)
            await ctx.progress.phase("copy")
        await self._count(ctx, ledger)
        return self.report

    async def _helper_done(self) -> None:
        """Never two verifications of one folder at once: the helper round in flight (if
        any) ends first."""
        helper = self._helper
        if helper is not None:
            with anyio.CancelScope(shield=True):
                await helper.wait()

    def verify_pending(self) -> bool:
        """The copy is done and its final verification waits for :meth:`finish`."""
        return self._unverified is not None

    async def finish(self, ctx: MailboxContext) -> FolderReport:
        """The final verification of a copy made with *defer_verify*, on *ctx*'s destination
        connection (any lane's): what no lane verified during the copy is fetched back and
        compared, bad copies counted and left for the next run's repair."""
        if self._unverified is None:
            return self.report
        ledger, selected = self._unverified
        await self._helper_done()
        rows = await ledger.copied_messages()
        # This connection's view of the folder, opened with the first read-back FETCH.
        await verify_folder(ctx, ledger, selected, self.report, only_unverified=True,
                            rows=rows, open_folder=self.mapping.dst)
        self._unverified = None
        await self._count(ctx, ledger)
        return self.report

    def can_help(self) -> bool:
        """True while new messages are being copied (with verification to follow) and no
        helper round is in flight."""
        return self._copying is not None and self._helper is None

    def backlog_hint(self) -> int:
        """About how many copies wait for a helper round, without a query: those recorded
        minus those helper rounds took (0 when the folder is not being copied).  The lane
        choosing which folder to verify asks this of every folder being copied; querying
        each one's backlog instead left the destination's downstream idle for 0.3-0.5 s
        between two rounds, behind the other lanes' writes (issue 26)."""
        if self._copying is None:
            return 0
        return self.report.copied - len(self._checked)

    async def backlog(self) -> list[CopiedMessage]:
        """Copies recorded and not verified yet that no helper round has taken (none when the
        folder is not being copied)."""
        ledger = self._copying
        if ledger is None:
            return []
        return [r for r in await ledger.unverified_copies_above(0)
                if r.src_uid not in self._checked]

    async def help_round(self, ctx: MailboxContext, rows: list[CopiedMessage]) -> int:
        """Verify *rows* (from :meth:`backlog`) on *ctx*'s connections, another lane's, while
        this folder's copy goes on; how many were checked.  The destination folder is opened
        (EXAMINE) after *rows* were read, so every copy checked is in that view; bad ones are
        left to the folder's own verification, which reports them.  Only good copies are
        recorded here, after their APPEND was: a claim of a copy still precedes its proof."""
        rows = [r for r in rows if r.src_uid not in self._checked]
        ledger = self._copying
        if not rows or ledger is None or self._helper is not None:
            return 0
        self._helper = done = anyio.Event()
        try:
            self._checked.update(r.src_uid for r in rows)
            before = self.report.mismatched
            await verify_folder(ctx, ledger, None, self.report, only_unverified=True,
                                rows=rows, record_bad=False, open_folder=self.mapping.dst)
            assert self.report.mismatched == before
            self.helped += len(rows)
        finally:
            self._helper = None
            done.set()
        return len(rows)

    def bytes_left(self) -> int | None:
        """Bytes of this folder's copy not fetched yet (no batch took them), or None while
        that is not known: the folder is being opened and planned."""
        if not self._share_decided:
            return None
        return self._left.bytes_left() if self._left is not None else 0

    def bytes_copied(self) -> int:
        """Bytes appended by this folder's copies so far (every lane's)."""
        return self.report.bytes_copied

    def may_share(self) -> bool:
        """True while another lane may still find batches of this folder to copy: it is
        being opened and planned, or its batches are shared and two or more are left."""
        return not self._share_decided or self.shares_left() > 0

    def shares_left(self) -> int:
        """Messages of this folder another lane may copy now (0: none, or not shared)."""
        shared = self._shared
        return len(shared.shares) if shared is not None and shared.shares.open_to_helpers() \
            else 0

    async def copy_share(self, ctx: MailboxContext, *, batches: int = SHARE_BATCHES) -> int:
        """Copy batches from the back of this folder on *ctx*'s connections (another lane's)
        while its owner copies it from the front (:mod:`pecsync.sync.shares`); how many
        messages were copied.  Under the intent protocol, above the high-water mark, which
        only the owner moves.  An error is raised after the share is marked failed: the owner
        then looks for what it left before the folder's copy ends.  *batches*: how many
        batches at most (the lane that reads back takes one, and returns to its read-back
        soon: over a slow link four batches kept it away for over a second)."""
        shared = self._shared
        if shared is None or not shared.shares.open_to_helpers():
            return 0
        shares = shared.shares
        shares.enter()
        copied = 0
        failed = True
        try:
            if ctx.src.selected != self.mapping.src:  # (a lane's earlier share opened it)
                st = await in_thread(ctx.src.examine, self.mapping.src)
                if st.uidvalidity != shared.src_uidvalidity:
                    failed = False  # the owner's next run finds the change: nothing taken
                    return 0
            left = batches

            def take(max_bytes: int, max_messages: int) -> list[MessageInfo] | None:
                # A few batches at a time: the lane then looks for copies to verify.
                nonlocal left
                left -= 1
                return shares.take_back(max_bytes, max_messages) if left >= 0 else None
            importer = Importer(shared.ledger, ctx.dst, self.mapping.dst, shared.dst_st,
                                self.report, label=self.label, progress=ctx.progress,
                                halt=ctx.halt, quarantine=ctx.quarantine, moves_high_water=False)
            memory = ctx.memory
            # The lane's batch sizes, learnt over everything it copied.
            sizer = Exporter(ctx.src, ctx.engine, memory).sizer()
            async with aclosing(fetch_taken(ctx.src, take, memory, sizer)) as stream:
                async for fetched, reserved in stream:
                    try:
                        await importer.import_batch(fetched)
                        copied += len(fetched)
                    finally:
                        del fetched
                        if memory is not None:
                            await memory.release(reserved)
            failed = False
        finally:
            shares.helped += copied
            shares.leave(failed=failed)
        return copied

    async def _after_shares(self, ctx: MailboxContext, ledger: FolderLedger,
                            shares: FolderShares, repair: Reconciler,
                            todo: list[MessageInfo]) -> None:
        """Other lanes copied part of this folder (its destination folder is open again on
        this connection, with their copies): copy what a failed share left (after its
        intents are reconciled: never a blind re-APPEND), before the high-water mark moves
        over the folder."""
        self.log.debug("folder_shared", lanes=shares.helpers, messages=shares.helped)
        if ctx.halt.is_set():
            raise StopRequested(mailbox=self.label, folder=self.mapping.src)
        if not shares.failed:
            return
        await repair.reconcile(todo[-1].uid)
        done = await ledger.done_uids_above(todo[0].uid - 1)
        left = [i.uid for i in todo if i.uid not in done]
        if left:
            self.log.info("shared_batches_copied_again", messages=len(left))
            await repair.recopy(left, repaired=set())

    async def _unchanged(self, ctx: MailboxContext, state: FolderState, verify: bool) -> bool:
        """Cheap re-run: STATUS on both sides, no message touched, when nothing is new."""
        src_st = (ctx.src_statuses or {}).get(self.mapping.src)
        if src_st is None:
            src_st = await in_thread(ctx.src.status, self.mapping.src)
        if (state.src_uidvalidity != src_st.uidvalidity or state.src_uidnext_seen != src_st.uidnext
                or state.dst_name != self.mapping.dst):
            return False
        ledger = FolderLedger.of(ctx.store, state)
        if await ledger.open_intents():
            return False
        if verify and await ledger.count_unverified():
            return False
        dst_st = (ctx.dst_statuses or {}).get(self.mapping.dst)
        if dst_st is None:
            dst_st = await in_thread(ctx.dst.status, self.mapping.dst)
        if dst_st.uidvalidity != state.dst_uidvalidity:
            return False
        if verify and not ctx.members_own_destination \
                and dst_st.exists < await ledger.count_copies():
            # Fewer messages than pecsync copied there: some copies were deleted.
            self.log.info("destination_copies_missing", messages=dst_st.exists)
            self.recheck = True
            return False
        self.report.src_messages = src_st.exists
        await self._count(ctx, ledger)
        self.report.notes.append("unchanged since the last run")
        return True

    async def _count(self, ctx: MailboxContext, ledger: FolderLedger) -> None:
        rows = await ledger.copied_messages()
        report = self.report
        report.skipped = sum(1 for r in rows if r.state == "skipped")
        unverifiable = [r for r in rows if r.state != "skipped" and r.note
                        and r.note.startswith("unverifiable")]
        report.unverifiable = len(unverifiable)
        report.notes.extend(f"uid {r.src_uid} (Message-ID {r.message_id or 'none'}): "
                            f"{r.note}" for r in unverifiable)
        quarantine = ctx.quarantine
        for r in rows:
            if r.state != "skipped":
                continue
            where = ""
            if quarantine is not None:
                path = quarantine.path(self.mapping.src, r.src_uid)
                report.quarantined.append(str(path))
                where = f" (kept in {path})"
            report.notes.append(f"uid {r.src_uid}: skipped: {r.note}{where}")
        report.verified = sum(1 for r in rows if r.verified_at and r.state != "skipped"
                              and not (r.note and r.note.startswith("unverifiable")))
        report.already_present = sum(1 for r in rows if r.state != "skipped") - report.copied

    async def _copy(self, ctx: MailboxContext, ledger: FolderLedger, state: FolderState,
                    src_st: FolderStatus, dst_st: FolderStatus, content_match: bool,
                    listed: list[MessageInfo] | None, repair: Reconciler) -> None:
        """Copy the source messages above the high-water mark (*listed*: their metadata,
        when already fetched): exporter → bounded stream → importer."""
        exporter = Exporter(ctx.src, ctx.engine, ctx.memory)
        plan = await exporter.plan(ledger, state.high_water, src_st.exists, listed)
        todo = plan.todo
        if ctx.progress.on_folder:
            ctx.progress.on_folder(self.mapping.src, len(todo))
        if ctx.progress.on_folder_planned:
            ctx.progress.on_folder_planned(self.mapping.src, len(todo), sum(i.size for i in todo))
        pool = None
        if content_match and todo:
            pool = await content_pool(ctx.dst, ctx.engine, ledger, todo)
            self.log.debug("content_pool_built", candidates=len(pool))
        importer = Importer(ledger, ctx.dst, self.mapping.dst, dst_st, self.report,
                            label=self.label, progress=ctx.progress, halt=ctx.halt,
                            quarantine=ctx.quarantine, pool=pool)
        shares = self._left = FolderShares(todo)
        closed = False
        if pool is None and len(shares) >= MIN_MESSAGES:
            # Other lanes of the mailbox may copy batches from the back (not in a
            # content-matched pass: its pool of destination messages is this lane's).
            # This lane appends with the folder closed (APPEND names its folder): Dovecot
            # 2.3's session that holds a folder SELECTed while other sessions append to it
            # grows until its vsz_limit (256 MB by default) kills it (1 x 22,623 messages
            # shared by six lanes; a probe: 143 MB after 1,100 APPENDs beside four appending
            # sessions, 12 MB with the folder closed).  Opened again after the shares end.
            await in_thread(ctx.dst.unselect, self.mapping.dst)
            closed = True
            self._shared = _Shared(shares, ledger, src_st.uidvalidity, dst_st)
        self._share_decided = True
        send, recv = stream_pair(ctx.engine.prefetch_batches)
        memory = ctx.memory
        held = [0]  # bytes reserved by this folder and not given back yet

        async def import_() -> None:
            async with recv:
                item: Fetched
                async for item in recv:
                    fetched, reserved = item
                    await importer.import_batch(fetched)
                    del fetched, item
                    if memory is not None:
                        held[0] -= reserved
                        await memory.release(reserved)

        try:
            await concurrently(lambda: exporter.export(shares.take_front, send, held), import_)
        finally:
            if memory is not None and held[0]:
                await memory.release(held[0])
            if self._shared is not None:
                self._shared = None
                with anyio.CancelScope(shield=True):
                    await shares.close()  # the other lanes' batches in flight end first
        if closed:
            # This connection's view of the destination folder, with the other lanes'
            # APPENDs.
            repair.dst_st = await in_thread(ctx.dst.select, self.mapping.dst)
        if shares.helpers:
            await self._after_shares(ctx, ledger, shares, repair, plan.todo)
        if plan.listed:
            # Every listed message is now appended, present or skipped.
            await importer.advance_high_water(plan.listed[-1].uid)
        importer.note_other_dates()
        if self.report.dropped_flags:
            self.log.warning("flags_not_kept", flags=sorted(self.report.dropped_flags),
                             hint="the destination does not accept these flags")
