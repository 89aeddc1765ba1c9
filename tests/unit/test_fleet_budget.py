"""Fleet-wide max_connections_per_host: processes sharing one state database never hold more
connections to a server than the limit together, and a dead process's slots come back when
their leases expire.  Run on both backends (two stores = two processes)."""

from __future__ import annotations

from pathlib import Path

import anyio

from pecsync.engine.fleet import FleetBudget
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.slots import SlotLeases

SRC, DST = ("src.example.it", 993), ("dst.example.it", 993)


def _budget(store: CheckpointStore, owner: str, lease: float = 30.0) -> FleetBudget:
    return FleetBudget(3, SlotLeases(store, owner, lease), (SRC, DST))


async def test_two_processes_share_the_limit(state_db: Path | str) -> None:
    async with await CheckpointStore.open(state_db) as one, \
            await CheckpointStore.open(state_db) as two:
        a, b = _budget(one, "host-a:1"), _budget(two, "host-b:2")
        inside = {"a": 0, "b": 0}
        most = 0
        release_a = anyio.Event()
        b_got_in = anyio.Event()

        async def mailbox(budget: FleetBudget, who: str, until: anyio.Event | None) -> None:
            nonlocal most
            async with budget.connections(SRC, DST):
                inside[who] += 1
                most = max(most, inside["a"] + inside["b"])
                if who == "b":
                    b_got_in.set()
                if until is not None:
                    await until.wait()
                else:
                    await anyio.sleep(0.05)
                inside[who] -= 1

        with anyio.fail_after(20):
            async with a.kept(), b.kept(), anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(mailbox, a, "a", release_a)
                while inside["a"] < 3:
                    await anyio.sleep(0.05)
                tg.start_soon(mailbox, b, "b", None)
                await anyio.sleep(2.0)  # four beats: b is refused, the fleet is full
                assert not b_got_in.is_set() and inside["a"] == 3
                release_a.set()  # a's mailboxes end; its idle slots go back within beats
                await b_got_in.wait()
        assert most <= 3


async def test_a_dead_process_slots_come_back_after_its_lease(state_db: Path | str) -> None:
    async with await CheckpointStore.open(state_db) as one, \
            await CheckpointStore.open(state_db) as two:
        dead = SlotLeases(one, "host-a:1", lease_seconds=1.0)
        for host in (SRC, DST):
            await dead.prepare(f"{host[0]}:{host[1]}", 3)
            for _ in range(3):
                assert await dead.take(f"{host[0]}:{host[1]}", 3)
        # host-a dies here: no renewal, no release.
        b = _budget(two, "host-b:2")
        with anyio.fail_after(10):
            async with b.kept():
                started = anyio.current_time()
                async with b.connections(SRC, DST):
                    waited = anyio.current_time() - started
        assert waited >= 0.5  # not before the dead host's lease ran out


async def test_idle_workers_wake_on_notify(pg_url: str) -> None:
    """PostgreSQL: a job made runnable by another process (an import) wakes a waiting
    worker at once, long before its poll interval."""
    import base64

    from pecsync.model import MailboxRow, Secret
    from pecsync.store.jobs import JobStore
    from pecsync.vault import Vault, new_key

    async with await CheckpointStore.open(pg_url) as idle, \
            await CheckpointStore.open(pg_url) as other:
        woke = 0.0

        async def wait() -> None:
            nonlocal woke
            started = anyio.current_time()
            await idle.wait_for_work(30)
            woke = anyio.current_time() - started

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await anyio.sleep(1.0)  # the waiter is listening
            jobs = JobStore(other, Vault(base64.b64decode(new_key())))
            await jobs.import_rows([MailboxRow(2, "O", "n@pec.example.it", "n@pec.example.it",
                                               Secret("p"), "n@pec.example.it", Secret("q"))],
                                   src_master=False, dst_master=False)
        assert 0.9 < woke < 5, woke
