"""The repair's store calls (branch data) on both backends: ``count_copies`` counts appended and
present copies only, ``set_notes`` attaches a note that ``copied_messages`` returns."""

from __future__ import annotations

from pathlib import Path

from pecsync.store.checkpoints import Appended, CheckpointStore
from tests.helpers import fetched


async def test_count_copies_and_notes(state_db: Path | str) -> None:
    async with await CheckpointStore.open(state_db) as store:
        mailbox = await store.mailbox_id("a@pec.example.it", "a@pec.example.it")
        folder = await store.add_folder(mailbox, "INBOX", "INBOX", 7, 9)
        await store.record_batch(folder.id, 7, intents=[fetched(1), fetched(2)],
                                 dst_uidnext_before=1, present=[(fetched(3), 9, 40)],
                                 skipped=[(fetched(4), "refused")])
        assert await store.count_copies(folder.id, 7) == 1  # intents are not copies yet
        await store.mark_appended(folder.id, 7, 9, [Appended(1, 41), Appended(2, 42)], 4)
        assert await store.count_copies(folder.id, 7) == 3
        assert await store.count_copies(folder.id, 8) == 0
        await store.set_notes(folder.id, 7, {2: "replaces destination uid 42"})
        await store.set_notes(folder.id, 7, {})
        notes = {m.src_uid: m.note for m in await store.copied_messages(folder.id, 7)}
        assert notes == {1: None, 2: "replaces destination uid 42", 3: None, 4: "refused"}
