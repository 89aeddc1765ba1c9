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
