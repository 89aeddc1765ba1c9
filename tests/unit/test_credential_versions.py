"""Credential versions: concurrent submissions for one mailbox neither fail nor duplicate;
CSV fingerprints decide whether a re-import replaces a password (never the password kept)."""

from __future__ import annotations

import base64
from pathlib import Path

import anyio

from pecsync.model import MailboxRow, Secret
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.intake import IntakeStore
from pecsync.store.jobs import JobState, JobStore
from pecsync.vault import Vault, new_key

ADDRESS = "m@pec.example.it"


def _row(password: str | None) -> MailboxRow:
    return MailboxRow(2, "O", ADDRESS, ADDRESS, Secret(password) if password else None,
                      ADDRESS, None)


async def test_concurrent_submissions_store_each_password_once(tmp_path: Path) -> None:
    async with await CheckpointStore.open(tmp_path / "s.sqlite3") as store:
        jobs = JobStore(store, Vault(base64.b64decode(new_key())))
        await jobs.import_rows([_row(None)], src_master=False, dst_master=True)
        job = await jobs.job(ADDRESS)
        assert job is not None and job.state == JobState.WAITING_CREDENTIALS
        async with anyio.create_task_group() as tg:
            for _ in range(6):  # the same password posted from six tabs at once
                tg.start_soon(jobs.accept_checked, job, Secret("same"), None, "web")
        rows = await store._query("current_credential_sources", {})
        assert [(r[1], r[2]) for r in rows] == [("src", "web")]
        versions = await store.db.execute_fetchall("SELECT version FROM credential")
        assert [v[0] for v in versions] == [1]
        async with anyio.create_task_group() as tg:
            for i in range(4):  # four different ones: four versions, no conflict error
                tg.start_soon(jobs.accept_checked, job, Secret(f"pw{i}"), None, "web")
        versions = await store.db.execute_fetchall("SELECT version FROM credential")
        assert sorted(v[0] for v in versions) == [1, 2, 3, 4, 5]
        assert (await jobs.job(ADDRESS)).state == JobState.PENDING  # type: ignore[union-attr]


async def test_reimport_replaces_only_a_changed_row(tmp_path: Path) -> None:
    async with await CheckpointStore.open(tmp_path / "s.sqlite3") as store:
        jobs = JobStore(store, Vault(base64.b64decode(new_key())))
        await jobs.import_rows([_row("Old-Pw-7x")], src_master=False, dst_master=True)
        job = await jobs.job(ADDRESS)
        assert job is not None
        await jobs.accept_checked(job, Secret("Fixed-Pw-7x"), None, "stdin")
        out = await jobs.import_rows([_row("Old-Pw-7x")], src_master=False, dst_master=True)
        assert out.unchanged == [ADDRESS] and not out.new_credentials
        assert (await jobs.credentials(job)).src == Secret("Fixed-Pw-7x")
        out = await jobs.import_rows([_row("Newer-Pw-7x")], src_master=False, dst_master=True)
        assert out.new_credentials == [ADDRESS]
        assert (await jobs.credentials(job)).src == Secret("Newer-Pw-7x")
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("s.sqlite3*"))
        for pw in (b"Fixed-Pw-7x", b"Newer-Pw-7x", b"Old-Pw-7x"):
            assert pw not in raw


async def test_rate_slots_are_counted_per_key(tmp_path: Path) -> None:
    from datetime import timedelta

    async with await CheckpointStore.open(tmp_path / "s.sqlite3") as store:
        intake = IntakeStore(store)
        window = timedelta(hours=1)
        results = [await intake.take_slot("address", "a@x.it", 3, window) for _ in range(5)]
        assert results[:3] == [None, None, None]
        assert results[3] is not None and results[4] is not None
        assert await intake.take_slot("address", "b@x.it", 3, window) is None
        assert await intake.use_form("h1") and not await intake.use_form("h1")
