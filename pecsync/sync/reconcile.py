"""Put a folder's records and its destination back in step before new messages are copied.

- :meth:`Reconciler.reconcile`: intents left by a crash or a lost connection.  Destination
  messages from the remembered UIDNEXT up are hashed and matched as a multiset; matched
  intents become ``appended``, unmatched ones are dropped and copied again.  Never a blind
  re-APPEND.
- :meth:`Reconciler.repair_present_flags`: flags of copies matched by content before flags
  were restored on a match.
- :meth:`Reconciler.check_and_repair` (docs/guides/one-mailbox.md, "Repair"): unverified
  copies (every copy, on a re-check) are verified; bad or missing ones are appended again; a
  re-check offers the quarantined messages again and releases those now stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import aclosing
from typing import Any

from pecsync.imap.codes import uid_set
from pecsync.model import FolderReport, FolderStatus
from pecsync.store.checkpoints import Appended
from pecsync.store.ledger import FolderLedger
from pecsync.sync.aio import in_thread
from pecsync.sync.batches import ContentPool, comparable_flags, filter_flags
from pecsync.sync.context import MailboxContext
from pecsync.sync.exporter import Exporter
from pecsync.sync.importer import Importer, destination_hashes, restore_flags
from pecsync.sync.verify import verify_folder

#: Note on a message appended again: its earlier, bad copy is still on the destination.
REPLACES = "replaces destination uid"


class Reconciler:
    """Reconcile and repair one folder pair (both folders selected) through its ledger."""

    def __init__(self, ctx: MailboxContext, ledger: FolderLedger, dst_st: FolderStatus,
                 report: FolderReport, log: Any) -> None:
        self.ctx = ctx
        self.ledger = ledger
        self.dst_st = dst_st
        self.report = report
        self.log = log

    async def reconcile(self, high_water: int) -> list[int]:
        """Resolve the open intents (see the module docstring).  Returns the source UIDs at
        or below *high_water* whose repair APPEND a crash interrupted and that were not found:
        they are to be copied again in this pass."""
        ledger = self.ledger
        intents = await ledger.open_intents()
        if not intents:
            return []
        lo = min(i.dst_uidnext_before for i in intents)
        claimed = await ledger.claimed_dst_uids()
        sizes = {i.size for i in intents}
        pool = ContentPool()
        for sha256, info in await destination_hashes(
                self.ctx.dst, self.ctx.engine, f"{lo}:*",
                lambda info: info.uid >= lo and info.uid not in claimed, sizes):
            pool.add(sha256, info.uid)
        found: list[Appended] = []
        lost: list[int] = []
        for intent in intents:
            uid = pool.take(intent.sha256)
            if uid is None:
                lost.append(intent.src_uid)
            else:
                found.append(Appended(intent.src_uid, uid))
        await ledger.mark_appended(found)
        await ledger.drop_intents(lost)
        self.log.info("intents_reconciled", found=len(found), not_stored=len(lost))
        return [u for u in lost if u <= high_water]

    async def repair_present_flags(self) -> None:
        """Messages recorded as present by an earlier pass and not verified since: give them
        the source's flags where they differ.  Before restore_flags existed a content match
        never set flags, so such a copy failed verification on every run.  Only unverified
        rows: a verified copy's flags are not reset (the user may have changed them since)."""
        by_dst = {r.dst_uid: r for r in await self.ledger.copied_messages()
                  if r.state == "present" and r.verified_at is None and r.dst_uid is not None}
        if not by_dst:
            return
        restore: dict[tuple[str, ...], list[int]] = {}
        for info in await in_thread(self.ctx.dst.fetch_meta, uid_set(list(by_dst))):
            row = by_dst.get(info.uid)
            if row is None:
                continue
            flags, _ = filter_flags(row.flags, self.dst_st.permanentflags)
            if comparable_flags(info.flags) != comparable_flags(flags):
                restore.setdefault(flags, []).append(info.uid)
        if restore:
            await restore_flags(self.ctx.dst, restore, self.log)

    async def check_and_repair(self, *, recheck: bool, lost: Sequence[int]) -> None:
        """Repair (docs/guides/one-mailbox.md): recorded copies not verified since an earlier
        pass (or every copy, on a *recheck*) are verified first; one missing on the destination, or
        with other bytes or another INTERNALDATE, is appended again (the bad copy is left
        where it is and named in the report: pecsync never deletes destination mail).  A
        verified copy whose flags were changed since is left as the member set them.  *lost*:
        what :meth:`reconcile` returned, copied again here."""
        ledger, report = self.ledger, self.report
        scratch = FolderReport(src=report.src, dst=report.dst)
        if not (recheck or lost or await ledger.count_unverified()):
            return  # every copy was verified by an earlier pass: nothing to check first
        bad = await verify_folder(self.ctx, ledger, self.dst_st, scratch,
                                  only_unverified=not recheck)
        keep = [b.row.src_uid for b in bad if not b.needs_copy and b.row.verified_at
                and b.row.dst_uid is not None]
        if keep:
            await ledger.set_verified(keep)
        restore: dict[tuple[str, ...], list[int]] = {}
        for b in bad:
            if not b.needs_copy and not b.row.verified_at and b.row.dst_uid is not None:
                flags, _ = filter_flags(b.row.flags, self.dst_st.permanentflags)
                restore.setdefault(flags, []).append(b.row.dst_uid)
        if restore:
            await restore_flags(self.ctx.dst, restore, self.log)
        redo = [b for b in bad if b.needs_copy]
        for b in redo:
            report.notes.append(
                f"uid {b.row.src_uid}: the copy (destination uid {b.row.dst_uid}) was "
                f"{'; '.join(b.problems)}: appended again (the bad copy, if any, is left on "
                f"the destination)")
            self.log.warning("copy_repaired", uid=b.row.src_uid, dst_uid=b.row.dst_uid,
                             problems=list(b.problems))
        # On a re-check (`retry`), the messages in the quarantine are offered again: the
        # operator may have fixed the destination.
        again: set[int] = set()
        if recheck:
            again = {r.src_uid for r in await ledger.copied_messages() if r.state == "skipped"}
        uids = sorted({b.row.src_uid for b in redo} | set(lost) | again)
        if uids:
            await self.recopy(uids, repaired=set(uids) - again)
        # The bad copies still on the destination are named with their replacement, so the
        # certificate can tell them from mail added after the copy.
        left = {b.row.src_uid: f"{REPLACES} {b.row.dst_uid} ({'; '.join(b.problems)}; left on "
                               f"the destination)"
                for b in redo if b.row.dst_uid is not None
                and "missing on the destination" not in b.problems}
        if left:
            # Only on rows now holding a good new copy (not on a refusal's reason, nor on an
            # "unverifiable" note).
            current = {r.src_uid: r for r in await ledger.copied_messages()}
            await ledger.set_notes({
                uid: note for uid, note in left.items()
                if uid in current and current[uid].state == "appended"
                and (current[uid].note or REPLACES).startswith(REPLACES)})
        if again:
            await self._release_from_quarantine(again)

    async def _release_from_quarantine(self, uids: set[int]) -> None:
        """Quarantine files of messages the destination has now stored are removed."""
        q = self.ctx.quarantine
        if q is None:
            return
        for r in await self.ledger.copied_messages():
            if r.src_uid in uids and r.state != "skipped":
                eml = q.path(self.report.src, r.src_uid)
                eml.unlink(missing_ok=True)
                eml.with_suffix(".json").unlink(missing_ok=True)
                self.report.notes.append(f"uid {r.src_uid}: stored by the destination now; "
                                         f"removed from the quarantine")

    async def recopy(self, uids: Sequence[int], repaired: set[int] | None = None) -> None:
        """APPEND these source messages again (below the high-water mark, which stays)."""
        ctx = self.ctx
        metas = await in_thread(ctx.src.fetch_meta, uid_set(list(uids)))
        metas = [i for i in metas if i.uid in set(uids)]
        gone = sorted(set(uids) - {i.uid for i in metas})
        for uid in gone:
            self.report.notes.append(f"uid {uid}: no longer on the source: cannot be copied "
                                     f"again")
        importer = Importer(self.ledger, ctx.dst, self.report.dst, self.dst_st, self.report,
                            label=ctx.label, progress=ctx.progress, halt=ctx.halt,
                            quarantine=ctx.quarantine, moves_high_water=False)
        exporter = Exporter(ctx.src, ctx.engine, ctx.memory)
        async with aclosing(exporter.fetch(metas)) as stream:
            async for fetched, reserved in stream:
                try:
                    await importer.import_batch(fetched)
                finally:
                    if ctx.memory is not None:
                        await ctx.memory.release(reserved)
        self.report.repaired += sum(1 for i in metas if repaired is None or i.uid in repaired)
