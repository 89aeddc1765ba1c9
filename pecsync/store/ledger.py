"""One folder's ledger: what the copy of one folder pair records, in the words of the copy.

A :class:`FolderLedger` is bound to one folder row and both UIDVALIDITYs (the source's, under
which every message row is keyed, and the destination's, under which its copies are known),
so its callers never repeat ``(folder_id, uidvalidity, …)``.  Each operation is one
transaction of the :class:`~pecsync.store.checkpoints.CheckpointStore` (durable when it
returns), in the order the intent protocol needs them (docs/design/architecture.md §3):

1. :meth:`record_intents` before an APPEND is sent;
2. :meth:`mark_appended` / :meth:`drop_intents` with the server's answer;
3. :meth:`advance_high_water` over a batch whose every message is appended, present or
   skipped — the only operation that moves the high-water mark.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pecsync.model import FetchedMessage
from pecsync.store.checkpoints import (
    Appended,
    CheckpointStore,
    CopiedMessage,
    FolderState,
    Intent,
)


@dataclass(frozen=True)
class FolderLedger:
    """``FolderLedger(store, folder_id=3, src_uidvalidity=1700000000, dst_uidvalidity=42)``."""

    store: CheckpointStore
    folder_id: int
    #: The source UIDVALIDITY the message rows are recorded under.
    src_uidvalidity: int
    #: The destination UIDVALIDITY of the selected destination folder.
    dst_uidvalidity: int

    @classmethod
    def of(cls, store: CheckpointStore, state: FolderState, *,
           src_uidvalidity: int | None = None,
           dst_uidvalidity: int | None = None) -> FolderLedger:
        """The ledger of *state*, under its recorded UIDVALIDITYs unless others are given
        (what the servers answer now)."""
        src = src_uidvalidity if src_uidvalidity is not None else state.src_uidvalidity
        dst = dst_uidvalidity if dst_uidvalidity is not None else state.dst_uidvalidity
        assert src is not None, "a folder state without a source UIDVALIDITY"
        # 0: no destination UIDVALIDITY known, so no copy is recorded under it.
        return cls(store, state.id, src, dst if dst is not None else 0)

    # --- the intent protocol --------------------------------------------------------------
    async def record_intents(self, msgs: Sequence[FetchedMessage], dst_uidnext_before: int
                             ) -> None:
        """One intent row per message about to be APPENDed, with the destination UIDNEXT seen
        before the batch (where reconciling searches from).  Order matters: this must be
        durable before the APPEND is sent."""
        await self.store.record_batch(self.folder_id, self.src_uidvalidity, intents=msgs,
                                      dst_uidnext_before=dst_uidnext_before)

    async def mark_appended(self, appended: Sequence[Appended], *,
                            dst_uidvalidity: int | None = None) -> None:
        """Record what the destination confirmed (``Appended(src_uid, dst_uid or None)``);
        *dst_uidvalidity*: the one APPENDUID named, if not the bound one."""
        await self.store.mark_appended(self.folder_id, self.src_uidvalidity,
                                       dst_uidvalidity or self.dst_uidvalidity, appended, None)

    async def drop_intents(self, src_uids: Iterable[int]) -> None:
        """Forget intents whose APPEND certainly did not happen (tagged NO, or reconciled)."""
        await self.store.drop_intents(self.folder_id, self.src_uidvalidity, src_uids)

    async def advance_high_water(self, uid: int, appended: Sequence[Appended] = (), *,
                                 dst_uidvalidity: int | None = None) -> None:
        """Move the high-water mark to *uid*, in the transaction that records *appended* (the
        outcomes it covers, never before them: one fsync for both).  Only when every message
        up to *uid* is appended, present or skipped."""
        await self.store.mark_appended(self.folder_id, self.src_uidvalidity,
                                       dst_uidvalidity or self.dst_uidvalidity, appended, uid)

    async def record_found(self, present: Sequence[tuple[FetchedMessage, int]] = (),
                           skipped: Sequence[tuple[FetchedMessage, str]] = ()) -> None:
        """One transaction: messages matched by content on the destination (``(msg,
        destination uid)``) and messages skipped with the reason (refused, too large…)."""
        if present or skipped:
            await self.store.record_batch(
                self.folder_id, self.src_uidvalidity,
                present=[(msg, self.dst_uidvalidity, uid) for msg, uid in present],
                skipped=skipped)

    async def complete_pass(self, src_uidnext: int) -> None:
        """The folder's pass completed up to *src_uidnext* (this also ends a content-matched
        pass)."""
        await self.store.set_uidnext_seen(self.folder_id, src_uidnext)

    # --- verification ---------------------------------------------------------------------
    async def set_verified(self, ok: Iterable[int], bad: Iterable[int] = ()) -> None:
        """Copies found good (*ok*) and bad (*bad*, unverified again), by source uid."""
        await self.store.set_verified(self.folder_id, self.src_uidvalidity, ok, bad)

    async def set_notes(self, notes: Mapping[int, str]) -> None:
        """Attach a note to recorded messages (``{source uid: note}``)."""
        await self.store.set_notes(self.folder_id, self.src_uidvalidity, notes)

    # --- reading --------------------------------------------------------------------------
    async def open_intents(self) -> list[Intent]:
        return await self.store.open_intents(self.folder_id, self.src_uidvalidity)

    async def done_uids_above(self, above: int) -> set[int]:
        """Source uids above *above* already appended, present or skipped."""
        return await self.store.done_uids_above(self.folder_id, self.src_uidvalidity, above)

    async def claimed_dst_uids(self) -> set[int]:
        """Destination uids already recorded as some source message's copy."""
        return await self.store.claimed_dst_uids(self.folder_id, self.dst_uidvalidity)

    async def copied_messages(self) -> list[CopiedMessage]:
        return await self.store.copied_messages(self.folder_id, self.src_uidvalidity)

    async def unverified_copies_above(self, above: int) -> list[CopiedMessage]:
        """Copies above source UID *above* not verified yet, with a destination UID."""
        return await self.store.unverified_copies_above(self.folder_id, self.src_uidvalidity,
                                                        above)

    async def count_copies(self) -> int:
        """Recorded copies on the destination (appended or present)."""
        return await self.store.count_copies(self.folder_id, self.src_uidvalidity)

    async def count_unverified(self) -> int:
        return await self.store.count_unverified(self.folder_id, self.src_uidvalidity)
