"""Claiming jobs: pending first in list order, then retries that are due; the claimed row is
returned whole; no double claims."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest.mock import ANY

from pecsync.model import MailboxRow, Secret
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import Job, JobState, JobStore
from pecsync.vault import Vault, new_key
from tests.helpers import raw_sql


async def test_claim_order_and_whole_row(state_db: Path | str) -> None:
    async with await CheckpointStore.open(state_db) as store:
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


async def test_a_failed_write_never_leaves_the_connection_in_a_transaction(
        state_db: Path | str) -> None:
    import pytest

    async with await CheckpointStore.open(state_db) as store:
        bad = {"src_user": "a\udcff@x.it", "dst_user": "a@x.it", "now": "t"}  # cannot encode
        with pytest.raises(UnicodeEncodeError):
            await store._transaction([("upsert_mailbox", bad)])
        assert await store.mailbox_id("b@x.it", "b@x.it") > 0  # the next writer is fine


async def _one_job(store: CheckpointStore) -> tuple[JobStore, Job]:
    jobs = JobStore(store, Vault(base64.b64decode(new_key())))
    await jobs.import_rows([MailboxRow(2, "O", "m@pec.example.it", "m@pec.example.it",
                                       Secret("p"), "m@pec.example.it", Secret("q"))],
                           src_master=False, dst_master=False)
    job = await jobs.job("m@pec.example.it")
    assert job is not None
    return jobs, job


async def test_retry_never_takes_a_job_another_process_runs(state_db: Path | str) -> None:
    """`retry`'s claim refuses a running job whose lease is alive (the UPDATE itself does not
    match it); once that lease has expired (the holder crashed), the claim succeeds."""
    async with await CheckpointStore.open(state_db) as store:
        jobs, job = await _one_job(store)
        running = await jobs.claim_next("run-host:1", None)
        assert running is not None and running.attempts == 1
        assert await jobs.claim(job, "retry") is None
        after = await jobs.job(job.address)
        assert after is not None
        assert (after.state, after.attempts) == (JobState.RUNNING, 1)
        assert await jobs.lease_holder(job) == ("run-host:1", ANY)
        # The run crashed: its lease runs out, and then retry may take the job over.
        past = (datetime.now(UTC) - timedelta(seconds=5)).isoformat(timespec="seconds")
        await raw_sql(store, "UPDATE job SET lease_until = :past WHERE id = :id",
                      {"past": past, "id": job.id})
        taken = await jobs.claim(job, "retry")
        assert taken is not None and taken.state == JobState.RUNNING and taken.attempts == 2
        assert (await jobs.lease_holder(job))[0] == "retry"
        # Any state but a live "running" is claimable by retry: done, blocked, pending...
        await jobs.finish(taken, JobState.DONE)
        again = await jobs.claim(job, "retry")
        assert again is not None and again.attempts == 3


async def test_two_simultaneous_retries_claim_once(state_db: Path | str) -> None:
    """Two processes (two connections to the database) race for one job: one wins."""
    import anyio

    path = state_db
    async with await CheckpointStore.open(path) as one, await CheckpointStore.open(path) as two:
        jobs1, job = await _one_job(one)
        jobs2 = JobStore(two, None)
        won: list[Job | None] = []

        async def claim(jobs: JobStore, owner: str) -> None:
            won.append(await jobs.claim(job, owner))

        async with anyio.create_task_group() as tg:
            tg.start_soon(claim, jobs1, "a")
            tg.start_soon(claim, jobs2, "b")
        assert sorted(j is None for j in won) == [False, True]
