"""A running job keeps its lease however long the copy takes, so that no second process
(`run`'s stale-job recovery, another `run`, `retry`) takes it over and copies it in parallel;
the renewal stops with the job, and renewals that keep failing stop the copy.

The copy is a stand-in that takes four leases (a 1-s lease here); the lease, the heartbeat
and the store are the real ones, and the "second process" has its own database connection.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from pecsync.config import Config, ServerConfig
from pecsync.engine import worker
from pecsync.engine.budget import HostBudget
from pecsync.engine.worker import EngineEnv, run_job
from pecsync.errors import StoreError
from pecsync.intake.mailbox_list import MailboxRow
from pecsync.model import MailboxReport, Secret
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import Job, JobState, JobStore
from pecsync.vault import Vault, new_key
from tests.helpers import raw_sql

ADDRESS = "lungo@pec.example.it"


@dataclass
class Setup:
    env: EngineEnv
    job: Job
    other: JobStore  # the second process, on its own connection
    copying: anyio.Event = field(default_factory=anyio.Event)
    copy_cancelled: bool = False
    #: Set by the copy when it has copied everything; it then waits for *release*, if given.
    copied: anyio.Event = field(default_factory=anyio.Event)
    release: anyio.Event | None = None
    writes: list[str] = field(default_factory=list)


@asynccontextmanager
async def claimed_job(tmp_path: Path, state_db: Path | str, monkeypatch: pytest.MonkeyPatch,
                      copy_seconds: float) -> AsyncIterator[Setup]:
    path = state_db
    async with await CheckpointStore.open(path) as store, \
            await CheckpointStore.open(path) as other_store:
        jobs = JobStore(store, Vault(base64.b64decode(new_key())), lease_seconds=1)
        await jobs.import_rows([MailboxRow(2, "O", ADDRESS, ADDRESS, Secret("p"), ADDRESS,
                                           Secret("q"))], src_master=False, dst_master=False)
        job = await jobs.claim_next("run-1", None)
        assert job is not None
        cfg = Config(path=tmp_path / "c.toml", source=ServerConfig("src.invalid", 1),
                     destination=ServerConfig("dst.invalid", 2),
                     database=tmp_path / "s.sqlite3")
        env = EngineEnv(cfg=cfg, store=store, jobs=jobs, budget=HostBudget(2))
        setup = Setup(env, job, JobStore(other_store, None, lease_seconds=1))
        real = store.connector._transaction

        async def counting(steps: Any) -> list[Any]:
            steps = list(steps)
            setup.writes.extend(name for name, _ in steps)
            return await real(steps)

        monkeypatch.setattr(store.connector, "_transaction", counting)

        async def long_copy(cfg: Config, store: CheckpointStore, src: Any, dst: Any, *,
                            progress: Any, **_: Any) -> MailboxReport:
            await progress.phase("plan")
            await progress.phase("copy")
            setup.copying.set()
            steps = int(copy_seconds / 0.05)
            try:
                for _ in range(steps):  # one INBOX, no folder or phase change for a while
                    await anyio.sleep(0.05)
                    progress.on_batch(1, 100)
            except anyio.get_cancelled_exc_class():
                setup.copy_cancelled = True
                raise
            setup.copied.set()
            if setup.release is not None:
                await setup.release.wait()
            return MailboxReport(src.user, dst.user)

        monkeypatch.setattr(worker, "copy_mailbox", long_copy)
        yield setup


async def test_a_copy_longer_than_the_lease_is_never_taken_over(
        tmp_path: Path, state_db: Path | str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with claimed_job(tmp_path, state_db, monkeypatch, copy_seconds=4.0) as s:
        seen: list[int] = []
        s.release = anyio.Event()

        async def second_process() -> None:
            assert s.release is not None
            await s.copying.wait()
            while not s.copied.is_set():  # the job is "running" all along
                await s.other.recover_stale()  # what a second `pecsync run` does first
                assert await s.other.claim_next("run-2", None) is None
                assert await s.other.claim(s.job, "retry") is None
                row = await s.other.job(ADDRESS)
                assert row is not None and row.state == JobState.RUNNING
                seen.append(row.messages_copied)
                await anyio.sleep(0.2)
            s.release.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(second_process)
            outcome = await run_job(s.env, s.job)
        assert outcome.state == JobState.DONE
        assert len(seen) >= 10
        # The counters moved while the copy ran (status shows progress, not just phases).
        assert 0 < seen[len(seen) // 2] < seen[-1] <= 80
        # The renewal stopped with the job: nothing writes the row any more.
        before = len(s.writes)
        await anyio.sleep(0.8)
        assert len(s.writes) == before
        done = await s.other.job(ADDRESS)
        assert done is not None and done.state == JobState.DONE and done.messages_copied == 80


async def test_cancelled_job_stops_renewing_its_lease(
        tmp_path: Path, state_db: Path | str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with claimed_job(tmp_path, state_db, monkeypatch, copy_seconds=10.0) as s:
        with anyio.move_on_after(1.5):
            await run_job(s.env, s.job)
        row = await s.other.job(ADDRESS)
        assert row is not None and row.state == JobState.PENDING  # aborted, resumes next run
        before = len(s.writes)
        await anyio.sleep(0.8)
        assert len(s.writes) == before


async def test_renewals_that_keep_failing_stop_the_copy(
        tmp_path: Path, state_db: Path | str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with claimed_job(tmp_path, state_db, monkeypatch, copy_seconds=10.0) as s:
        real: Callable[..., Any] = s.env.jobs.set_progress
        broken = {"on": False}

        async def set_progress(*args: Any, **kwargs: Any) -> None:
            # The renewals during the copy fail; the job's final bookkeeping works again.
            if broken["on"] and not s.copy_cancelled:
                raise StoreError("s.sqlite3: write failed: disk I/O error")
            await real(*args, **kwargs)

        monkeypatch.setattr(s.env.jobs, "set_progress", set_progress)

        async def break_store() -> None:
            await s.copying.wait()
            broken["on"] = True

        started = anyio.current_time()
        with capture_logs() as logs:
            async with anyio.create_task_group() as tg:
                tg.start_soon(break_store)
                outcome = await run_job(s.env, s.job)
        elapsed = anyio.current_time() - started
        # Stopped with half the lease left, not after the 10-s copy; failed like any other
        # store error, with the reason.
        assert elapsed < 3
        assert outcome.state == JobState.FAILED and outcome.error_class == "store"
        assert "disk I/O error" in (outcome.error_text or "")
        events = [e["event"] for e in logs]
        assert "lease_renewal_failed" in events
        row = await s.other.job(ADDRESS)
        assert row is not None and row.state == JobState.FAILED


async def test_a_copy_failure_is_classified_as_itself(
        tmp_path: Path, state_db: Path | str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The renewal runs beside the copy, not around its errors: a dropped connection is
    still a retry, not an internal error about an exception group."""
    from pecsync.errors import TransientError

    async with claimed_job(tmp_path, state_db, monkeypatch, copy_seconds=0) as s:
        async def dropped(*_: Any, **__: Any) -> MailboxReport:
            await anyio.sleep(0.6)  # a few renewals first
            raise TransientError("connection lost during FETCH", mailbox=ADDRESS)

        monkeypatch.setattr(worker, "copy_mailbox", dropped)
        outcome = await run_job(s.env, s.job)
        assert outcome.state == JobState.RETRY_WAIT and outcome.error_class == "transient"
        assert s.env.internal_errors == 0


async def test_a_process_that_lost_its_lease_stops_and_leaves_the_job_alone(
        tmp_path: Path, state_db: Path | str, monkeypatch: pytest.MonkeyPatch) -> None:
    """As if this process had been stalled (suspended, Ctrl-Z) past its lease: another
    process claims the job.  This copy stops within a beat, and neither its renewals nor its
    final state touch the row the new owner runs."""
    async with claimed_job(tmp_path, state_db, monkeypatch, copy_seconds=10.0) as s:
        taken: list[Job] = []

        async def second_process() -> None:
            await s.copying.wait()
            await raw_sql(s.other.store,  # the lease ran out during the stall
                          "UPDATE job SET lease_until = '2000-01-01T00:00:00+00:00'")
            job = await s.other.claim(s.job, "retry-2")
            assert job is not None
            taken.append(job)

        with capture_logs() as logs:
            async with anyio.create_task_group() as tg:
                tg.start_soon(second_process)
                with anyio.fail_after(5):
                    outcome = await run_job(s.env, s.job)
        assert taken and s.copy_cancelled
        assert outcome.error_class == "lease_lost"
        assert any(e["event"] == "lease_lost" for e in logs)
        holder, until = await s.other.lease_holder(s.job)
        row = await s.other.job(ADDRESS)
        assert row is not None and row.state == JobState.RUNNING and holder == "retry-2"
        assert until is not None and until > "2001"
        # The stopped process's last counters and state went nowhere.
        assert row.messages_copied == 0
