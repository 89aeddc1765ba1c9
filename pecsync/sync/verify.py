"""Verify a folder's copies: fetch them back from the destination and compare SHA-256, flags
and INTERNALDATE with what was recorded from the source."""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from pecsync.model import FetchedMessage, FolderReport, FolderStatus, MessageInfo
from pecsync.store.checkpoints import CopiedMessage
from pecsync.store.ledger import FolderLedger
from pecsync.sync.aio import in_thread
from pecsync.sync.batches import comparable_flags, filter_flags, make_batches
from pecsync.sync.context import MailboxContext
from pecsync.sync.exporter import fetch_batches


@dataclass(frozen=True)
class BadCopy:
    """A recorded copy that verification found missing or different on the destination."""

    row: CopiedMessage
    problems: tuple[str, ...]
    #: Not on the destination at all, or other bytes / INTERNALDATE: a new copy is needed.
    needs_copy: bool


async def verify_folder(ctx: MailboxContext, ledger: FolderLedger, dst_st: FolderStatus | None,
                        report: FolderReport, *, only_unverified: bool,
                        rows: list[CopiedMessage] | None = None,
                        record_bad: bool = True,
                        open_folder: str | None = None) -> list[BadCopy]:
    """Fetch destination copies back and compare SHA-256, flags and INTERNALDATE with what was
    recorded from the source.  Returns the bad copies (also counted in *report* and cleared
    as unverified).

    The destination folder must be selected, or named by *open_folder*: then it is opened
    (EXAMINE) with the first FETCH pipelined behind it (not at all when nothing is to be
    fetched), and its status stands for *dst_st* when that is None.  Each FETCH brings the
    copies' flags and INTERNALDATE with their bytes: a read-back round on a link is one
    round trip, then the bytes (it was three: EXAMINE, a FETCH of the metadata, the
    bodies; issue 26).  The batches are cut by the sizes recorded from the source, which a
    good copy has (a copy much larger than its record, the destination changed under the
    same UIDVALIDITY, goes over the memory budget by the difference for one batch).

    *rows*: only these recorded copies (default: every one of the folder).  *record_bad*
    False: only the good copies are recorded as verified; the bad ones are left as they are
    (unverified, not counted) for the folder's own verification to find and report."""
    if rows is None:
        rows = await ledger.copied_messages()
    targets = [r for r in rows if r.state != "skipped"
               and not (only_unverified and r.verified_at)]
    by_dst = {r.dst_uid: r for r in targets if r.dst_uid is not None}
    ok: list[int] = []
    bad: list[BadCopy] = []
    for r in targets:
        if r.dst_uid is None and record_bad:
            bad.append(BadCopy(r, ("destination UID unknown (no UIDPLUS)",), False))
            report.notes.append(f"uid {r.src_uid}: destination UID unknown (no UIDPLUS)")
    seen: set[int] = set()
    wanted = [MessageInfo(uid, r.size, (), _UNKNOWN) for uid, r in sorted(by_dst.items())]
    batches = make_batches(wanted, ctx.engine.batch_max_bytes, ctx.engine.batch_max_messages)
    if open_folder is not None and batches:
        opened = await in_thread(ctx.dst.examine_for_read_back, open_folder, batches[0])
        dst_st = dst_st or opened
    if batches:
        assert dst_st is not None, "verify_folder: no folder status"
        permanentflags = dst_st.permanentflags
        async with aclosing(fetch_batches(ctx.dst, batches, ctx.memory,
                                          read_back=True)) as stream:
            async for fetched, reserved in stream:
                # Only the hashes are kept from here: the bodies go before their bytes are
                # given back (the loop variable would hold them through the next FETCH).
                checked = [replace(m, body=b"") for m in fetched]
                del fetched
                if ctx.memory is not None:
                    await ctx.memory.release(reserved)
                if ok:
                    # Recorded batch by batch: after a lost connection the verification
                    # resumes where it stopped instead of fetching the folder again.
                    await ledger.set_verified(ok)
                    ctx.progress.checkpoint()
                    ok = []
                for msg in checked:
                    row = by_dst[msg.info.uid]
                    seen.add(msg.info.uid)
                    problems = _differences(msg, row, permanentflags,
                                            flags=not ctx.members_own_destination)
                    if problems and not record_bad:
                        continue
                    if problems:
                        bad.append(BadCopy(row, tuple(problems),
                                           any(not p.startswith("flags") for p in problems)))
                        report.notes.append(f"uid {row.src_uid} (destination uid {row.dst_uid}): "
                                            + "; ".join(problems))
                    else:
                        ok.append(row.src_uid)
    for dst_uid, row in by_dst.items():
        if dst_uid not in seen and record_bad:
            bad.append(BadCopy(row, ("missing on the destination",), True))
            report.notes.append(f"uid {row.src_uid}: missing on the destination "
                                f"(destination uid {dst_uid})")
    await ledger.set_verified(ok, [b.row.src_uid for b in bad])
    report.mismatched += len(bad)
    return bad


#: A read-back batch's placeholder INTERNALDATE: the server's comes with the copy.
_UNKNOWN = datetime(1970, 1, 1, tzinfo=UTC)


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
