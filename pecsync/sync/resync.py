"""Incremental re-sync of a copied mailbox: renamed folders and flag changes at the source.

New messages and new folders need nothing of their own: the copy resumes from each folder's
high-water mark, and folders whose LIST-STATUS shows no change are never opened.  This module
adds the two things a copy alone does not do:

* **Renamed folders.**  A source folder whose state has disappeared from the LIST and a new
  source folder with the same UIDVALIDITY (servers keep it across RENAME) are one folder: its
  state follows the new name (:func:`adopt_renamed_folders`) and it keeps being copied into
  the destination folder it was copied into so far, so no message is appended twice.
* **Flag changes** (:func:`sync_mailbox_flags`).  With CONDSTORE (RFC 7162), a folder whose
  HIGHESTMODSEQ equals the recorded one is not opened; otherwise only the messages changed
  since it are fetched (``UID FETCH 1:N (FLAGS) (CHANGEDSINCE m)``).  Without CONDSTORE every
  copied folder's flags are fetched (``UID FETCH 1:N (FLAGS)``).

Members' changes on the destination win, **per flag** (a three-way rule): the recorded flags
of a message are what pecsync last wrote there.  For each flag, where the destination still
has it as recorded, it takes the source's new value; where the destination differs from the
record (the member changed it), it is left alone.  Only the flags that change are stored
(``+FLAGS``/``-FLAGS``), never a whole flag list.  ``\\Deleted`` is never carried (pecsync
never deletes at the destination) and flags the destination does not keep (PERMANENTFLAGS)
are left out, like APPEND does.  Messages created at the destination are never looked at;
copies whose source message was deleted are counted, never removed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

import structlog

from pecsync.errors import FolderError
from pecsync.faults import step
from pecsync.imap.codes import uid_set
from pecsync.model import FolderMapping, FolderReport, FolderStatus, MessageInfo
from pecsync.store.checkpoints import CheckpointStore, CopiedMessage, FolderState
from pecsync.store.syncstate import FlagUpdate, FolderSync, SyncStore
from pecsync.sync.aio import in_thread
from pecsync.sync.batches import comparable_flags, filter_flags
from pecsync.sync.context import MailboxContext
from pecsync.sync.plan import FolderPlan

log = structlog.get_logger("pecsync.resync")

#: Never carried by a re-sync: the server sets \Recent; \Deleted would let a client expunge.
_NOT_CARRIED = frozenset({"\\recent", "\\deleted"})


# --- renamed folders ----------------------------------------------------------------------
async def adopt_renamed_folders(store: CheckpointStore, mailbox_id: int, plan: FolderPlan,
                                src_statuses: dict[str, FolderStatus] | None,
                                status: Callable[[str], Awaitable[FolderStatus]],
                                label: str,
                                listing: Callable[[str], Awaitable[list[MessageInfo]]]
                                | None = None) -> FolderPlan:
    """The plan with renamed source folders kept on their destination folder.

    A source folder without state takes over the state of the one recorded folder no longer
    listed at the source that has its UIDVALIDITY (servers keep it across RENAME) or, failing
    that, whose every copy (size and INTERNALDATE, from *listing*: no message body is read)
    it holds — a server that gives a renamed folder a new UIDVALIDITY.  One transaction; from
    then on, and on every later run, it maps to the destination folder its messages were
    copied into.  In the second case the copy sees the new UIDVALIDITY and makes a
    content-matched pass into that folder: what is there is matched, never appended again."""
    states = await store.folders(mailbox_id)
    if not states:
        return plan
    sync = SyncStore(store)
    syncs = await sync.folder_syncs(mailbox_id)
    by_src = {s.src_name: s for s in states}
    listed = set(src_statuses) if src_statuses is not None else {m.src for m in plan.mappings}
    orphans = [s for s in states if s.src_name not in listed and s.src_uidvalidity]
    mappings: list[FolderMapping] = []
    moved: set[str] = set()  # planned destination names no longer used by their folder
    for m in plan.mappings:
        state = by_src.get(m.src)
        if state is None and m.copy and orphans:
            st = (src_statuses or {}).get(m.src) or await status(m.src)
            same = [o for o in orphans if o.src_uidvalidity == st.uidvalidity]
            if not same and listing is not None and st.exists:
                same = await _holding_copies_of(store, orphans, await listing(m.src))
            if len(same) == 1:
                old = same[0]
                await sync.adopt_renamed(old.id, m.src, old.src_name)
                log.info("folder_rename_adopted", mailbox=label, folder=m.src,
                         renamed_from=old.src_name, dst_folder=old.dst_name)
                orphans.remove(old)
                state = replace(old, src_name=m.src)
                syncs[old.id] = FolderSync(old.id, None, 0, old.src_name)
        renamed = state is not None and state.id in syncs and syncs[state.id].renamed_from
        if state is not None and renamed and state.dst_name != m.dst:
            moved.add(m.dst)
            m = FolderMapping(m.src, state.dst_name, copy=m.copy)
        mappings.append(m)
    if not moved:
        return plan
    used = {m.dst for m in mappings}
    create = [name for name in plan.create if name not in moved or name in used]
    return FolderPlan(mappings, create, plan.warnings)


async def _holding_copies_of(store: CheckpointStore, orphans: Sequence[FolderState],
                             listed: Sequence[MessageInfo]) -> list[FolderState]:
    """The orphans every copy of which (as a multiset of size and INTERNALDATE) is in
    *listed*."""
    have = Counter((i.size, i.internaldate.isoformat()) for i in listed)
    out = []
    for orphan in orphans:
        assert orphan.src_uidvalidity is not None
        rows = await store.copied_messages(orphan.id, orphan.src_uidvalidity)
        want = Counter((r.size, r.internaldate) for r in rows
                       if r.state in ("appended", "present"))
        if want and not want - have:
            out.append(orphan)
    return out


# --- flags --------------------------------------------------------------------------------
@dataclass
class _Merge:
    """UID STOREs to make on one destination folder and the new three-way base per message."""

    add: dict[str, list[int]]
    remove: dict[str, list[int]]
    updates: list[FlagUpdate]
    changed: int = 0
    kept: int = 0


def merge_flags(base: Sequence[str], src_now: Sequence[str], dst_now: Sequence[str],
                permanentflags: frozenset[str]) -> tuple[set[str], set[str], bool]:
    """Per-flag three-way merge: ``(flags to add, flags to remove, member change kept)`` at
    the destination, all spelled as in the inputs.  Pure.

    For each flag the destination keeps: equal on both ends → nothing; destination as
    recorded (*base*) → take the source's value; otherwise the member changed it → keep.

    >>> merge_flags(["\\\\Seen"], ["\\\\Seen", "\\\\Answered"], ["\\\\Seen"], frozenset())
    ({'\\\\Answered'}, set(), False)
    >>> merge_flags([], ["\\\\Seen"], ["\\\\Flagged"], frozenset())  # member flagged it
    ({'\\\\Seen'}, set(), True)
    """
    spelled: dict[str, str] = {}
    sets: list[frozenset[str]] = []
    for flags in (base, src_now, dst_now):
        kept, _ = filter_flags(flags, permanentflags)
        for f in kept:
            spelled.setdefault(next(iter(comparable_flags([f]))), f)
        sets.append(comparable_flags(kept) - _NOT_CARRIED)
    b, s, d = sets
    add: set[str] = set()
    remove: set[str] = set()
    member = False
    for flag in b | s | d:
        in_s, in_d = flag in s, flag in d
        if in_s == in_d:
            continue
        if in_d == (flag in b):
            (add if in_s else remove).add(spelled[flag])
        else:
            member = True
    return add, remove, member


def recorded_after(base: Sequence[str], src_now: Sequence[str]) -> tuple[str, ...]:
    """The new three-way base: the source's flags, except ``\\Deleted`` (never carried) as it
    was and ``\\Recent`` left out.  Flags the destination drops stay in the record, as an
    APPEND records them (verification filters them the same way)."""
    keep = [f for f in src_now if f.lower() not in _NOT_CARRIED]
    keep += [f for f in base if f.lower() == "\\deleted"]
    return tuple(sorted(keep))


async def sync_mailbox_flags(ctx: MailboxContext, plan: FolderPlan,
                             reports: Sequence[FolderReport]) -> None:
    """Bring the destination's flags in step with the source's changes (module docstring),
    count copies deleted at the source, for every copied folder of *plan*."""
    sync = SyncStore(ctx.store)
    syncs = await sync.folder_syncs(ctx.mailbox_id)
    states = {s.src_name: s for s in await ctx.store.folders(ctx.mailbox_id)}
    by_src = {r.src: r for r in reports}
    statuses = ctx.src_statuses
    for m in plan.mappings:
        state = states.get(m.src)
        if not m.copy or state is None or state.src_uidvalidity is None:
            continue
        report = by_src.get(m.src) or FolderReport(src=m.src, dst=m.dst)
        status = statuses.get(m.src) if statuses is not None else None
        if status is None and ctx.src.has("CONDSTORE"):
            status = await in_thread(ctx.src.status, m.src)
        try:
            await _folder_flags(ctx, sync, state, syncs.get(state.id), status, report)
        except FolderError as exc:
            report.notes.append(f"flags not brought in step: {exc}")
            log.warning("flags_not_synced", mailbox=ctx.label, folder=m.src, error=str(exc))
    listed = set(statuses) if statuses is not None else {m.src for m in plan.mappings}
    for name, state in states.items():
        if name in listed or state.src_uidvalidity is None:
            continue
        # The whole folder is gone at the source: its copies stay, counted.
        gone = await sync.count_copies(state.id, state.src_uidvalidity)
        known = syncs.get(state.id)
        if known is None or known.deleted_at_source != gone:
            await sync.record_folder_gone(state.id, gone)
            log.info("source_folder_gone", mailbox=ctx.label, folder=name, copies_kept=gone)


async def _folder_flags(ctx: MailboxContext, sync: SyncStore, state: FolderState,
                        known: FolderSync | None, status: FolderStatus | None,
                        report: FolderReport) -> None:
    src, dst = ctx.src, ctx.dst
    modseq = status.highestmodseq if status is not None and src.has("CONDSTORE") else None
    if (modseq is not None and known is not None and known.src_highestmodseq == modseq
            and status is not None and status.uidvalidity == state.src_uidvalidity):
        report.deleted_at_source = known.deleted_at_source
        return  # nothing changed at the source since the last pass: folder not opened
    st = await in_thread(src.examine, state.src_name)
    if st.uidvalidity != state.src_uidvalidity:
        return  # the copy pass has reset this folder; flags follow on the next pass
    uidvalidity = st.uidvalidity
    recorded = await sync.count_rows(state.id, uidvalidity)
    if not recorded or state.high_water == 0:
        await sync.record_flags(state.id, uidvalidity, [], modseq, 0)
        return
    since = known.src_highestmodseq if known is not None and modseq is not None else None
    span = f"1:{state.high_water}"
    src_flags = await in_thread(src.fetch_flags, span, since)
    # Copies whose source message is gone: with CONDSTORE the folder's counts tell whether
    # any is (one UID SEARCH then); without it the FETCH above listed every UID.
    present: set[int] | None = None
    if since is None:
        present = set(src_flags)
    elif st.exists != recorded or st.uidnext - 1 > state.high_water:
        present = await in_thread(src.search_uids, span)
    deleted = (0 if present is None
               else len(await sync.copied_uids(state.id, uidvalidity) - present))
    report.deleted_at_source = deleted
    if deleted:
        report.notes.append(f"{deleted} copied message(s) deleted at the source since: kept "
                            "on the destination")
    # Only the rows of the messages the FETCH returned: with CONDSTORE the work follows the
    # number of changes, not the size of the folder.
    rows = await sync.copies(state.id, uidvalidity, src_flags)
    candidates = [(row, src_flags[row.src_uid]) for row in rows
                  if row.dst_uid is not None and _differ(row.flags, src_flags[row.src_uid])]
    merge = _Merge({}, {}, [])
    if candidates:
        merge = await _merge_destination(ctx, state, candidates, report)
        for flag, uids in sorted(merge.add.items()):
            await in_thread(dst.change_flags, uids, [flag], add=True)
        for flag, uids in sorted(merge.remove.items()):
            await in_thread(dst.change_flags, uids, [flag], add=False)
        if merge.add or merge.remove:
            step("resync_flags_stored")
    await sync.record_flags(state.id, uidvalidity, merge.updates, modseq, deleted)
    report.flags_updated, report.flags_kept = merge.changed, merge.kept
    if merge.changed or merge.kept:
        report.notes.append(f"flags: {merge.changed} message(s) brought in step with the "
                            f"source, {merge.kept} kept as changed on the destination")
    log.debug("flags_synced", mailbox=ctx.label, folder=state.src_name, changed_at_source=len(
        candidates), updated=merge.changed, kept=merge.kept, deleted_at_source=deleted,
        condstore=since is not None)


def _differ(base: Sequence[str], src_now: Sequence[str]) -> bool:
    return (comparable_flags(base) - _NOT_CARRIED) != (comparable_flags(src_now) - _NOT_CARRIED)


async def _merge_destination(ctx: MailboxContext, state: FolderState,
                             candidates: list[tuple[CopiedMessage, tuple[str, ...]]],
                             report: FolderReport) -> _Merge:
    dst_st = await in_thread(ctx.dst.select, state.dst_name)
    merge = _Merge({}, {}, [])
    if dst_st.uidvalidity != state.dst_uidvalidity:
        report.notes.append("destination folder recreated: flags left as they are")
        return merge
    uids = [row.dst_uid for row, _ in candidates if row.dst_uid is not None]
    now_there = await in_thread(ctx.dst.fetch_flags, uid_set(uids))
    for row, src_now in candidates:
        assert row.dst_uid is not None
        dst_now = now_there.get(row.dst_uid)
        if dst_now is None:
            continue  # no longer on the destination (the member deleted it): left alone
        add, remove, member = merge_flags(row.flags, src_now, dst_now, dst_st.permanentflags)
        for flag in add:
            merge.add.setdefault(flag, []).append(row.dst_uid)
        for flag in remove:
            merge.remove.setdefault(flag, []).append(row.dst_uid)
        merge.changed += bool(add or remove)
        merge.kept += member
        merge.updates.append(FlagUpdate(row.src_uid, recorded_after(row.flags, src_now)))
    return merge
