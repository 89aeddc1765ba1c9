"""The per-host connection budget when source and destination are one server: a mailbox
takes two of that server's connections, and a budget that cannot give two never hangs."""

from __future__ import annotations

import anyio
import pytest

from pecsync.engine.budget import HostBudget
from pecsync.errors import ConfigError

HOST = ("imap.example.it", 993)


async def test_one_connection_per_host_for_one_server_is_refused_not_a_hang() -> None:
    budget = HostBudget(1)
    with anyio.fail_after(2), pytest.raises(ConfigError) as err:
        async with budget.connections(HOST, HOST):
            pass
    assert "max_connections_per_host = 1" in str(err.value)
    assert "imap.example.it:993" in str(err.value) and "at least 2" in str(err.value)
    # Nothing was taken: the budget still serves a mailbox between two servers.
    with anyio.fail_after(2):
        async with budget.connections(HOST, ("other.example.it", 993)):
            assert budget.peak[HOST] == 1


async def test_same_server_mailboxes_take_two_slots_each_and_take_turns() -> None:
    budget = HostBudget(3)  # room for one same-server mailbox at a time (2 + 2 > 3)
    inside = 0
    most = 0

    async def mailbox() -> None:
        nonlocal inside, most
        async with budget.connections(HOST, HOST):
            inside += 1
            most = max(most, inside)
            assert not budget.slots(HOST, HOST).try_take()  # no lane beyond the budget
            await anyio.sleep(0.05)
            inside -= 1

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(mailbox)
    assert most == 1 and budget.peak[HOST] == 2


SRC, DST = ("src.example.it", 993), ("dst.example.it", 993)


async def test_spare_pairs_are_those_no_worker_may_still_need() -> None:
    """Lanes beyond [engine] folders_in_parallel only from what the workers' mailboxes will
    not take: none while every worker runs or may start a mailbox, the idle workers' share
    at a run's end, none while a worker waits for connections."""
    budget = HostBudget(12)
    budget.keep_for_workers(4, 3)  # 4 workers x 3 lanes: the whole budget
    async with budget.connections(SRC, DST):
        assert budget.spare(SRC, DST) == 0  # the others' lanes are not taken yet: still theirs
        budget.keep_for_workers(1, 3)  # three workers found no job
        assert budget.spare(SRC, DST) == 9
        slots = budget.slots(SRC, DST)
        for _ in range(5):
            assert slots.try_take()
        assert budget.spare(SRC, DST) == 6  # 12 - 6 held
        budget.keep_for_workers(0, 3)
        assert budget.spare(SRC, DST) == 6
        for _ in range(5):
            slots.give_back()
    # Two connections to one server per pair: half as many pairs.
    budget.keep_for_workers(1, 3)
    assert budget.spare(SRC, SRC) == 3  # (12 - max(0, 6)) // 2
    # A worker waiting for connections: nothing to spare.
    full = HostBudget(1)
    async with full.connections(SRC, DST), anyio.create_task_group() as tg:
        async def waiter() -> None:
            async with full.connections(SRC, DST):
                pass
        tg.start_soon(waiter)
        await anyio.sleep(0.05)
        assert full.contended() and full.spare(SRC, DST) == 0
        full.keep_for_workers(0, 1)
        assert full.spare(SRC, DST) == 0
        tg.cancel_scope.cancel()
