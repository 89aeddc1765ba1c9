"""`db copy`: SQLite → PostgreSQL keeps ids (credentials still open under the same key), new
rows go on after the copied ids, and a target that already holds a migration is refused."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from pecsync.config import PostgresTarget
from pecsync.errors import StoreError
from pecsync.model import MailboxRow, Secret
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import JobStore
from pecsync.store.transfer import copy_sqlite_to_postgres
from pecsync.vault import Vault, new_key


def _rows(prefix: str, n: int) -> list[MailboxRow]:
    return [MailboxRow(i + 2, "O", f"{prefix}{i}@pec.example.it", f"{prefix}{i}@pec.example.it",
                       Secret(f"pw-{prefix}{i}"), f"{prefix}{i}@pec.example.it",
                       Secret(f"d-{prefix}{i}")) for i in range(n)]


async def test_copy_keeps_ids_and_secrets(tmp_path: Path, pg_url: str) -> None:
    vault = Vault(base64.b64decode(new_key()))
    path = tmp_path / "s.sqlite3"
    async with await CheckpointStore.open(path) as store:
        jobs = JobStore(store, vault)
        await jobs.import_rows(_rows("a", 5), src_master=False, dst_master=False)
        job = await jobs.job("a3@pec.example.it")
        assert job is not None
        await jobs.set_password(job, "src", Secret("second-version"))
        mailbox = await store.mailbox_id("a3@pec.example.it", "a3@pec.example.it")
        folder = await store.add_folder(mailbox, "INBOX", "INBOX", 7, 9)
        await store.set_uidnext_seen(folder.id, 42)
    report = await copy_sqlite_to_postgres(path, PostgresTarget(pg_url))
    assert report.rows["job"] == 5 and report.rows["credential"] == 11
    async with await CheckpointStore.open(pg_url) as pg:
        jobs = JobStore(pg, vault)
        moved = await jobs.job("a3@pec.example.it")
        assert moved is not None and moved.id == job.id
        creds = await jobs.credentials(moved)
        assert creds.src == Secret("second-version") and creds.src_version == 2
        assert creds.dst == Secret("d-a3")
        state = await pg.folder(mailbox, "INBOX")
        assert state is not None and state.src_uidnext_seen == 42
        # New rows after the copied ids (identity sequences moved on).
        await jobs.import_rows(_rows("b", 2), src_master=False, dst_master=False)
        ids = [j.id for j in await jobs.jobs()]
        assert len(set(ids)) == 7 and max(ids) == 7
    # The SQLite file refuses further use, and the target refuses a second migration.
    with pytest.raises(StoreError, match="copied to"):
        await CheckpointStore.open(path)
    other = tmp_path / "other.sqlite3"
    async with await CheckpointStore.open(other) as store:
        await JobStore(store, vault).import_rows(_rows("c", 1), src_master=False,
                                                 dst_master=False)
    with pytest.raises(StoreError, match="already holds mailboxes"):
        await copy_sqlite_to_postgres(other, PostgresTarget(pg_url))
