"""FolderShares (pecsync.sync.shares): the owner takes batches from the front in UID order,
other lanes from the back, each cut to the taker's size, never the owner's last ones;
closing waits for the shares in flight."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio

from pecsync.model import MessageInfo
from pecsync.sync.shares import FolderShares


def messages(n: int) -> list[MessageInfo]:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    return [MessageInfo(i + 1, 10, (), at) for i in range(n)]


def uids(batch: list[MessageInfo] | None) -> list[int] | None:
    return [i.uid for i in batch] if batch is not None else None


def test_owner_from_the_front_others_from_the_back_and_the_last_batch_to_the_owner() -> None:
    shares = FolderShares(messages(40))  # 10 bytes each
    assert uids(shares.take_front(25, 100)) == [1, 2]  # cut to the owner's size
    assert uids(shares.take_back(1000, 5)) == [36, 37, 38, 39, 40]  # in UID order
    assert shares.open_to_helpers()
    assert uids(shares.take_back(1000, 15)) == list(range(21, 36))
    # The owner keeps its last SHARE_MESSAGES: another lane would only move its wait.
    assert uids(shares.take_back(1000, 15)) == list(range(13, 21))
    assert not shares.open_to_helpers() and shares.take_back(1000, 15) is None
    assert uids(shares.take_front(1000, 100)) == list(range(3, 13))
    assert shares.take_front(1000, 100) is None and len(shares) == 0


def test_a_message_larger_than_the_batch_is_a_batch_of_its_own() -> None:
    shares = FolderShares(messages(3))
    assert uids(shares.take_front(5, 100)) == [1]


def test_close_waits_for_the_shares_in_flight_and_stops_new_ones() -> None:
    shares = FolderShares(messages(60))
    order: list[str] = []

    async def helper() -> None:
        shares.enter()
        try:
            await anyio.sleep(0.05)
            order.append("share ended")
        finally:
            shares.leave(failed=True)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(helper)
            await anyio.sleep(0.01)
            await shares.close()
            order.append("closed")
            assert shares.take_back(1000, 10) is None and not shares.open_to_helpers()

    anyio.run(main)
    assert order == ["share ended", "closed"]
    assert shares.failed and shares.helpers == 1


def test_close_with_no_share_returns_at_once() -> None:
    shares = FolderShares(messages(50))

    async def main() -> None:
        with anyio.fail_after(1):
            await shares.close()

    anyio.run(main)
    assert not shares.failed


def test_bytes_left_counts_what_no_batch_took_yet() -> None:
    at = datetime(2026, 12, 7, tzinfo=UTC)
    todo = [MessageInfo(i + 1, 100 * (i + 1), (), at) for i in range(40)]  # 100 .. 4,000
    shares = FolderShares(todo)
    assert shares.bytes_left() == sum(i.size for i in todo)
    front = shares.take_front(max_bytes=10**9, max_messages=5) or []
    back = shares.take_back(max_bytes=10**9, max_messages=5) or []
    assert len(front) == len(back) == 5
    assert shares.bytes_left() == sum(i.size for i in todo[5:35])
    while shares.take_front(max_bytes=10**9, max_messages=7):
        pass
    assert len(shares) == 0 and shares.bytes_left() == 0
