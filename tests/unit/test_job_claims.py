"""Claiming jobs: pending first in list order, then retries that are due; the claimed row is
returned whole; no double claims."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pecsync.intake.mailbox_list import MailboxRow
from pecsync.model import Secret
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import JobState, JobStore
from pecsync.vault import Vault, new_key


async def test_claim_order_and_whole_row(tmp_path: Path) -> None:
    async with await CheckpointStore.open(tmp_path / "s.sqlite3") as store:
        jobs = JobStore(store, Vault(base64.b64decode(new_key())))
        rows = [MailboxRow(i + 2, "Ordine" if i % 2 else "Altro", f"m{i}@pec.example.it",
                           f"m{i}@pec.example.it", Secret(f"p{i}"), f"m{i}@pec.example.it",
                           Secret(f"q{i}")) for i in range(6)]
        await jobs.import_rows(rows, src_master=False, dst_master=False)
        first = await jobs.claim_next("w1", None)
        assert first is not None and first.address == "m0@pec.example.it"
        assert first.state == JobState.RUNNING and first.attempts == 1 and first.phase == "login"
        past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        await jobs.finish(first, JobState.RETRY_WAIT, error_class="transient",
                          error_text="timeout", next_attempt_at=past)
        claimed = [await jobs.claim_next("w1", "Ordine") for _ in range(3)]
        assert [j.address for j in claimed if j] == ["m1@pec.example.it", "m3@pec.example.it",
                                                     "m5@pec.example.it"]
        assert await jobs.claim_next("w1", "Ordine") is None
        rest = [await jobs.claim_next("w2", None) for _ in range(3)]
        # pending ones before the retry that is due, and the retry last
        assert [j.address for j in rest if j] == ["m2@pec.example.it", "m4@pec.example.it",
                                                  "m0@pec.example.it"]
        assert rest[2] is not None and rest[2].attempts == 2
        assert await jobs.claim_next("w2", None) is None


async def test_a_failed_write_never_leaves_the_connection_in_a_transaction(tmp_path: Path
                                                                          ) -> None:
    import pytest

    async with await CheckpointStore.open(tmp_path / "s.sqlite3") as store:
        bad = {"src_user": "a\udcff@x.it", "dst_user": "a@x.it", "now": "t"}  # cannot encode
        with pytest.raises(UnicodeEncodeError):
            await store.transaction([("upsert_mailbox", bad)])
        assert await store.mailbox_id("b@x.it", "b@x.it") > 0  # the next writer is fine
