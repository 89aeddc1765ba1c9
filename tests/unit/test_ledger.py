"""FolderLedger: one folder's named operations, bound to it and both UIDVALIDITYs (on both
backends).  Only ``advance_high_water`` moves the high-water mark, with the outcomes it
covers; ``mark_appended`` records outcomes and leaves the mark where it is."""

from __future__ import annotations

from pathlib import Path

from pecsync.store.checkpoints import Appended, CheckpointStore
from pecsync.store.ledger import FolderLedger
from tests.helpers import fetched


async def test_the_intent_protocol_through_the_ledger(state_db: Path | str) -> None:
    async with await CheckpointStore.open(state_db) as store:
        mailbox = await store.mailbox_id("a@pec.example.it", "a@pec.example.it")
        state = await store.add_folder(mailbox, "INBOX", "INBOX", 7, 9)
        ledger = FolderLedger.of(store, state)
        bound = (ledger.folder_id, ledger.src_uidvalidity, ledger.dst_uidvalidity)
        assert bound == (state.id, 7, 9)
        await ledger.record_intents([fetched(1), fetched(2), fetched(3)], dst_uidnext_before=40)
        assert [(i.src_uid, i.dst_uidnext_before) for i in await ledger.open_intents()] == [
            (1, 40), (2, 40), (3, 40)]
        # Outcomes without the mark: reconcile, a refusal's stored prefix, a repair.
        await ledger.mark_appended([Appended(1, 40)])
        await ledger.drop_intents([3])
        folder = await store.folder(mailbox, "INBOX")
        assert folder is not None and folder.high_water == 0
        assert [i.src_uid for i in await ledger.open_intents()] == [2]
        # The mark moves with the outcomes it covers, in one transaction.
        await ledger.record_found(present=[(fetched(4), 50)], skipped=[(fetched(5), "too large")])
        await ledger.advance_high_water(5, [Appended(2, None)])
        folder = await store.folder(mailbox, "INBOX")
        assert folder is not None and folder.high_water == 5
        assert await ledger.open_intents() == []
        rows = {r.src_uid: (r.state, r.dst_uid) for r in await ledger.copied_messages()}
        assert rows == {1: ("appended", 40), 2: ("appended", None), 4: ("present", 50),
                        5: ("skipped", None)}
        assert await ledger.claimed_dst_uids() == {40, 50}
        assert await ledger.done_uids_above(3) == {4, 5}
        assert await ledger.count_copies() == 3 and await ledger.count_unverified() == 3
        await ledger.set_verified([1, 2])
        assert await ledger.count_unverified() == 1
        # Another source UIDVALIDITY is another ledger: it sees none of these rows.
        other = FolderLedger(store, state.id, 8, 9)
        assert await other.copied_messages() == [] and await other.count_copies() == 0
        await ledger.complete_pass(6)
        folder = await store.folder(mailbox, "INBOX")
        assert folder is not None and folder.src_uidnext_seen == 6 and not folder.content_match
