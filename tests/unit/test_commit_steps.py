"""Every commit of the store is a crash step (pecsync.faults), counted by the backend itself on
SQLite and PostgreSQL alike, named after its statements; nothing is counted or built when no
fault test runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pecsync import faults
from pecsync.store.backend import committed
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import JobStore


def test_disarmed_builds_no_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PECSYNC_STEP_LOG", raising=False)
    monkeypatch.delenv("PECSYNC_CRASH_AFTER_STEP", raising=False)

    def names() -> Iterator[str]:
        raise AssertionError("a step name was built without a fault test running")
        yield ""

    committed(names())
    assert not faults.armed()


async def test_each_commit_is_a_named_step(state_db: Path | str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "steps.log"
    monkeypatch.setenv("PECSYNC_STEP_LOG", str(log))
    monkeypatch.delenv("PECSYNC_CRASH_AFTER_STEP", raising=False)
    monkeypatch.setattr(faults, "_count", 0)
    async with await CheckpointStore.open(state_db) as store:
        mailbox = await store.mailbox_id("a@pec.example.it", "a@pec.example.it")
        folder = await store.add_folder(mailbox, "INBOX", "INBOX", 7, 9)
        await store.record_batch(folder.id, 7)  # nothing to write: no transaction, no step
        await store.mark_appended(folder.id, 7, 9, [], 5)
        await store.set_notes(folder.id, 7, {})
        await JobStore(store, None).recover_stale()
    assert log.read_text().splitlines() == [
        "1 commit:schema", "2 commit:upsert_mailbox",
        "3 commit:insert_folder+set_folder_flags_baseline",
        "4 commit:set_high_water", "5 commit:recover_stale_jobs"]
