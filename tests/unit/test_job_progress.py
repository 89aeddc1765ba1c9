"""The job row's phase: a new stage is written at once, the per-folder copy/verify flips ride
with the counters' flush (at most every 2 s), and nothing is lost at the end."""

from __future__ import annotations

import base64
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from pecsync.engine.worker import EngineEnv, _JobProgress
from pecsync.model import MailboxRow, Secret
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import JobStore
from pecsync.vault import Vault, new_key


async def test_folder_flips_are_not_a_transaction_each(state_db: Path | str) -> None:
    async with await CheckpointStore.open(state_db) as store:
        jobs = JobStore(store, Vault(base64.b64decode(new_key())))
        row = MailboxRow(2, "Ordine", "m@pec.example.it", "m@pec.example.it", Secret("p"),
                         "m@pec.example.it", Secret("q"))
        await jobs.import_rows([row], src_master=False, dst_master=False)
        job = await jobs.claim_next("w1", None)
        assert job is not None and job.phase == "login"
        writes: list[str] = []
        real = store.connector._transaction

        async def counting(steps: Any) -> list[Any]:
            steps = list(steps)
            writes.extend(name for name, _ in steps)
            return await real(steps)

        store.connector._transaction = counting  # type: ignore[method-assign]
        env = cast(EngineEnv, SimpleNamespace(jobs=jobs, live={}, bytes_copied=0))
        progress = _JobProgress(env, job)

        async def phase_now() -> str | None:
            current = await jobs.job(job.address)
            assert current is not None
            return current.phase

        await progress.on_phase("login")  # the claim wrote it already
        assert writes == []
        await progress.on_phase("plan")
        await progress.on_phase("copy")
        assert writes == ["set_job_phase", "set_job_phase"]
        assert await phase_now() == "copy"
        for _ in range(20):  # ten folders, each copied then verified
            await progress.on_phase("verify")
            await progress.on_phase("copy")
        assert writes.count("set_job_phase") == 2 and writes.count("set_job_progress") <= 1
        await progress.on_phase("verify")
        await progress.flush(force=True)
        assert await phase_now() == "verify"
