"""Personal links (store/links.py) on both backends: the token is returned once and only its
hash is stored; opening and submitting are recorded."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.links import LinkStore


async def test_a_link_resolves_to_its_member_and_records_opens(state_db: Path | str) -> None:
    async with await CheckpointStore.open(state_db) as store:
        links = LinkStore(store)
        token = await links.issue("Rossi@PEC.example.it", "Ordine A")
        other = await links.issue("rossi@pec.example.it", "Ordine A")
        assert token != other and len(token) >= 40
        link = await links.resolve(token)
        assert link is not None
        assert (link.address, link.order, link.opened_at, link.open_count) == (
            "rossi@pec.example.it", "Ordine A", None, 0)
        assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert await links.resolve("not-a-token") is None
        assert await links.resolve("") is None
        await links.mark_opened(token)
        await links.mark_opened(token)
        await links.mark_submitted(token)
        again = await links.resolve(token)
        assert again is not None and again.open_count == 2
        assert again.opened_at is not None and again.submitted_at is not None
        assert [x.open_count for x in await links.of_address("rossi@pec.example.it")] in (
            [2, 0], [0, 2])


async def test_the_token_itself_is_not_stored(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    async with await CheckpointStore.open(db) as store:
        token = await LinkStore(store).issue("rossi@pec.example.it", None)
    assert token.encode() not in db.read_bytes()
