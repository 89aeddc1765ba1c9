"""The worker pool hands a mailbox's place over when its folders are all copied: the next
mailbox starts while the last copies are read back (issue 26), and never more than N
mailboxes are copied at once.  The copy is a stand-in; the pool, the jobs and the store are
the real ones."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from pecsync.config import Config, ServerConfig
from pecsync.engine import worker
from pecsync.engine.budget import HostBudget
from pecsync.engine.pool import RunSummary, run_pool
from pecsync.engine.worker import EngineEnv
from pecsync.intake.mailbox_list import MailboxRow
from pecsync.model import MailboxReport, Secret
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import JobStore
from pecsync.vault import Vault, new_key


async def pool_run(tmp_path: Path, state_db: Path | str, addresses: list[str], *,
                   should_stop: Callable[[], bool] = lambda: False) -> RunSummary:
    """The real pool, with one worker, over jobs for *addresses* (copy_mailbox patched)."""
    async with await CheckpointStore.open(state_db) as store:
        jobs = JobStore(store, Vault(base64.b64decode(new_key())))
        await jobs.import_rows([MailboxRow(i + 2, "O", a, a, Secret("p"), a, Secret("q"))
                                for i, a in enumerate(addresses)],
                               src_master=False, dst_master=False)
        cfg = Config(path=tmp_path / "c.toml", source=ServerConfig("src.invalid", 1),
                     destination=ServerConfig("dst.invalid", 2),
                     database=tmp_path / "s.sqlite3")
        env = EngineEnv(cfg=cfg, store=store, jobs=jobs, budget=HostBudget(4),
                        should_stop=should_stop)
        with anyio.fail_after(30):
            return await run_pool(env, workers=1)


async def test_the_next_mailbox_starts_while_the_last_copies_are_read_back(
        tmp_path: Path, state_db: Path | str, monkeypatch: pytest.MonkeyPatch) -> None:
    addresses = [f"m{i}@pec.example.it" for i in range(4)]
    started: dict[str, anyio.Event] = {a: anyio.Event() for a in addresses}
    copying = 0
    most_copying = 0
    order: list[str] = []

    async def copy(cfg: Any, store: Any, src: Any, dst: Any, *, progress: Any,
                   **_: Any) -> MailboxReport:
        nonlocal copying, most_copying
        me = src.user
        order.append(me)
        started[me].set()
        copying += 1
        most_copying = max(most_copying, copying)
        await anyio.sleep(0.05)  # the copy
        copying -= 1
        progress.copied()  # every folder copied: reading back is left
        following = addresses.index(me) + 1
        if following < len(addresses):
            # The read-back of the last copies: the next mailbox has started meanwhile.
            with anyio.fail_after(5):
                await started[addresses[following]].wait()
        return MailboxReport(src.user, dst.user)

    monkeypatch.setattr(worker, "copy_mailbox", copy)
    summary = await pool_run(tmp_path, state_db, addresses)
    assert summary.states["done"] == 4, summary.states
    assert order == addresses  # one worker: in order, one copied at a time
    assert most_copying == 1


async def test_a_stop_while_a_worker_waits_for_a_place_claims_nothing(
        tmp_path: Path, state_db: Path | str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that was waiting for a place when the operator asked to stop (Ctrl-C once)
    claims no job with it: a second Ctrl-C would cut that job before its outcome."""
    addresses = [f"m{i}@pec.example.it" for i in range(2)]
    stop = False
    copied: list[str] = []

    async def copy(cfg: Any, store: Any, src: Any, dst: Any, *, progress: Any,
                   **_: Any) -> MailboxReport:
        nonlocal stop
        copied.append(src.user)
        stop = True  # the operator's first Ctrl-C, while this copy runs
        progress.copied()  # the place goes to the worker waiting for it
        await anyio.sleep(0.2)  # reading back
        return MailboxReport(src.user, dst.user)

    monkeypatch.setattr(worker, "copy_mailbox", copy)
    summary = await pool_run(tmp_path, state_db, addresses, should_stop=lambda: stop)
    assert copied == addresses[:1]
    assert summary.states == {"done": 1, "pending": 1}, summary.states
