"""Lanes and verification (fakes, no IMAP): a lane verifies the copies another lane's folder
has recorded while that folder is still being copied (between its own folders, and instead
of closing when nothing is left to copy); and a lane refused for a
connection limit teaches the mailbox the limit, so no lane is tried over it again."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import anyio
import pytest

from pecsync.config import EngineConfig
from pecsync.errors import LoginDeferred
from pecsync.sync import lanes
from pecsync.sync.context import Progress
from pecsync.sync.lanes import FixedSlots, copy_in_lanes
from pecsync.sync.limits import ConnectionLimits, MailboxLimits
from tests.unit.test_lanes import FakeCopier, Opener, context


class HelpedCopier(FakeCopier):
    """A folder whose copies another lane may verify while it is copied (as FolderCopier's
    backlog/help_round): one copy recorded every 10 ms of its copy."""

    def __init__(self, name: str, seconds: float = 0.01) -> None:
        super().__init__(name, seconds)
        self.copying = False
        self.helper: anyio.Event | None = None
        self.rounds: list[tuple[str, float, float, int]] = []  # (lane, started, ended, rows)
        self.checked = 0
        self.copy_ended = 0.0

    async def copy_folder(self, ctx: Any, *, verify: bool) -> None:
        self.copying = verify
        try:
            await super().copy_folder(ctx, verify=verify)
        finally:
            self.copying = False
            self.copy_ended = time.monotonic()
            if self.helper is not None:
                await self.helper.wait()  # then its own verification of what is left

    def can_help(self) -> bool:
        return self.copying and self.helper is None

    def backlog_hint(self) -> int:
        return len(self._waiting())

    async def backlog(self) -> list[int]:
        return self._waiting()

    def _waiting(self) -> list[int]:
        recorded = int((time.monotonic() - self.started) / 0.01) if self.copying else 0
        return list(range(self.checked + 1, recorded + 1))

    async def help_round(self, ctx: Any, rows: list[int]) -> int:
        if not self.can_help():
            return 0
        self.helper = anyio.Event()
        started = time.monotonic()
        try:
            await anyio.sleep(0.02)  # a round trip or two
            self.checked = rows[-1]
        finally:
            self.rounds.append((ctx.src.name, started, time.monotonic(), len(rows)))
            self.helper.set()
            self.helper = None
        return len(rows)


async def test_verification_overlaps_the_copy_on_another_lane() -> None:
    big = HelpedCopier("INBOX", seconds=0.8)
    small = [HelpedCopier(f"F{i}", seconds=0.15) for i in range(4)]
    ctx = dataclasses.replace(context({"INBOX": 1000, **{f"F{i}": i for i in range(4)}}),
                              engine=EngineConfig(batch_max_messages=10))
    slots, opener = FixedSlots(1), Opener()
    await copy_in_lanes(ctx, [big, *small], verify=True, lanes=2, slots=slots,  # type: ignore[arg-type]
                        open_lane=opener)
    assert big.lane == "lane0" and {c.lane for c in small} == {"lane1"}
    # lane1 verified INBOX's recorded copies on its own connections while lane0 still
    # copied it: first when a batch (10) was waiting, between its own folders; then, with
    # nothing left to copy, round after round until the copy ended.
    assert big.rounds and {lane for lane, *_ in big.rounds} == {"lane1"}
    assert all(started < big.copy_ended for _, started, _, _ in big.rounds)
    assert sum(n for *_, n in big.rounds) >= 50  # most of its 80 copies
    first = big.rounds[0]
    assert first[3] >= 10 and first[1] < max(c.copy_ended for c in small)
    # INBOX's copy waited for the round in flight before its own verification.
    assert all(ended <= big.copy_ended + 0.05 for _, _, ended, _ in big.rounds)
    assert slots.free == 1 and all(s.logged_out for pair in opener.opened for s in pair)


async def test_no_helping_without_verification_nor_when_another_mailbox_waits() -> None:
    big = HelpedCopier("INBOX", seconds=0.3)
    await copy_in_lanes(context({"INBOX": 9, "F": 1}), [big, HelpedCopier("F")],  # type: ignore[list-item]
                        verify=False, lanes=2, slots=FixedSlots(1), open_lane=Opener())
    assert big.rounds == []

    class Contended(FixedSlots):
        def contended(self) -> bool:
            return True

    big = HelpedCopier("INBOX", seconds=0.3)
    await copy_in_lanes(context({"INBOX": 9, "F": 1}), [big, HelpedCopier("F")],  # type: ignore[list-item]
                        verify=True, lanes=2, slots=Contended(1), open_lane=Opener())
    assert big.rounds == []  # the extra lane gave its connections back instead


async def test_a_lane_refused_for_the_limit_sets_the_lanes_of_the_mailbox() -> None:
    refusal = LoginDeferred("source login failed", side="src", response=(
        "[LIMIT] Maximum number of connections from user+IP exceeded "
        "(mail_max_userip_connections=2)"))
    attempts: list[int] = []
    opener = Opener()

    async def open_lane() -> tuple[Any, Any]:
        attempts.append(1)
        if len(attempts) == 2:  # the second extra lane (a third connection) is refused
            raise refusal
        return await opener()

    limits = ConnectionLimits()
    limit = MailboxLimits(limits, "src:143", "dst:143")
    copiers = [FakeCopier(f"F{i}", seconds=0.1) for i in range(12)]
    slots = FixedSlots(4)
    await copy_in_lanes(context({}), copiers, verify=True, lanes=5, slots=slots,  # type: ignore[arg-type]
                        open_lane=open_lane, limit=limit)
    assert all(c.done for c in copiers)
    assert limits.known == {"src:143": 2} and limit.lanes(5) == 2
    # The four lanes were opened at once (logins at the same moment all pass on Dovecot);
    # none is tried again after the refusal, and the lanes over the limit step back at
    # their next folder's end: the later folders are copied on two lanes at most.
    assert len(attempts) == 4 and len(opener.opened) == 3 and slots.free == 4
    later = sorted(copiers, key=lambda c: c.started)[6:]
    assert len({c.lane for c in later}) <= 2, [(c.mapping.src, c.lane) for c in copiers]


MB = 1_000_000


class RateCopier(FakeCopier):
    """A folder of *batches* batches of 1 MB, one appended every *every* seconds, that says
    what it has left to fetch and has copied (as FolderCopier's bytes_left/bytes_copied)."""

    def __init__(self, name: str, batches: int, every: float) -> None:
        super().__init__(name)
        self.batches, self.every = batches, every
        self.taken = self.appended = 0
        self.planned = False
        self.ended = 0.0

    async def copy_folder(self, ctx: Any, *, verify: bool) -> None:
        self.ctx, self.lane, self.started = ctx, ctx.src.name, time.monotonic()
        self.planned = True
        while self.taken < self.batches:
            self.taken += 1
            await anyio.sleep(self.every)
            self.appended += 1
        self.done, self.ended = True, time.monotonic()

    def bytes_left(self) -> int | None:
        return (self.batches - self.taken) * MB if self.planned else None

    def bytes_copied(self) -> int:
        return self.appended * MB


async def test_the_place_is_handed_over_about_a_second_before_the_last_batch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The next mailbox starts while this one's last batches are copied: once no folder
    waits to start and what is left is about HAND_OVER_AHEAD_S of the copy rate."""
    monkeypatch.setattr(lanes, "HAND_OVER_AHEAD_S", 0.3)
    monkeypatch.setattr(lanes, "GROW_EVERY_S", 0.02)  # looked at often: no tick races
    inbox, small = RateCopier("INBOX", 40, 0.025), RateCopier("F", 30, 0.025)
    handed: list[float] = []
    ctx = dataclasses.replace(context({"INBOX": 40, "F": 30}),
                              progress=Progress(on_copied=lambda: handed.append(
                                  time.monotonic())))
    # One lane: F waits in the queue while INBOX is copied, then goes last.
    await copy_in_lanes(ctx, [inbox, small], verify=False, lanes=1,  # type: ignore[list-item]
                        slots=FixedSlots(0), open_lane=Opener())
    assert inbox.done and small.done and handed
    # Not while F waited to start, however little INBOX had left; then before F's end
    # (about 0.3 s of the rate, 12 MB, is left of F's 30 MB after about 0.45 s of it).
    assert small.started <= handed[0] < small.ended - 0.15


async def test_the_place_is_not_handed_over_while_much_is_left(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lanes, "HAND_OVER_AHEAD_S", 0.3)
    monkeypatch.setattr(lanes, "GROW_EVERY_S", 0.02)
    inbox = RateCopier("INBOX", 40, 0.025)  # about 1 s of copy at 40 MB/s
    handed: list[float] = []
    ctx = dataclasses.replace(context({"INBOX": 40}), progress=Progress(
        on_copied=lambda: handed.append(time.monotonic())))
    await copy_in_lanes(ctx, [inbox], verify=False, lanes=1,  # type: ignore[list-item]
                        slots=FixedSlots(0), open_lane=Opener())
    assert handed, "never handed over"
    # 12 MB left (0.3 s of the rate) is crossed at about 0.7 s of the 1 s copy.
    assert 0.45 < handed[0] - inbox.started < inbox.ended - inbox.started - 0.15


class OneWaiter(FixedSlots):
    """Another mailbox starts waiting for a pair at *at*, and takes the first given back."""

    def __init__(self, n: int, at: float) -> None:
        super().__init__(n)
        self.at, self.served = at, 0.0

    def contended(self) -> bool:
        return not self.served and time.monotonic() >= self.at

    def give_back(self) -> None:
        if self.contended():
            self.served = time.monotonic()  # the waiting mailbox took it
        else:
            super().give_back()


async def test_the_lane_that_reads_back_is_not_the_one_that_steps_back() -> None:
    """Another mailbox waiting for a connection takes a copying lane's pair, not the pair of
    the lane that reads back: the read-back is what ends a mailbox last (issue 26)."""

    big = HelpedCopier("INBOX", seconds=1.2)
    # The copying lane looks at the waiting mailbox between its folders (every 0.3 s), the
    # reading-back lane between its rounds (every few hundredths): it would see it first.
    small = [HelpedCopier(f"F{i}", seconds=0.3) for i in range(4)]
    ctx = dataclasses.replace(context({"INBOX": 1000, **{f"F{i}": i for i in range(4)}}),
                              engine=EngineConfig(batch_max_messages=10))
    slots = OneWaiter(2, at=time.monotonic() + 0.4)
    await copy_in_lanes(ctx, [big, *small], verify=True, lanes=3, slots=slots,  # type: ignore[arg-type]
                        open_lane=Opener())
    assert slots.served, "no lane stepped back"
    readers = {lane for lane, started, _, _ in big.rounds if started < slots.at}
    assert len(readers) == 1
    # The lane that read back before the other mailbox came still did afterwards.
    assert any(lane in readers and started > slots.served + 0.1
               for lane, started, _, _ in big.rounds), big.rounds


async def test_the_lane_that_reads_back_gives_its_pair_if_the_copying_lane_does_not_soon(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A copying lane in one long folder gives its pair only at that folder's end: the
    reading-back lane keeps its own for KEEP_READING_S at most, then gives it."""
    monkeypatch.setattr(lanes, "KEEP_READING_S", 0.3)

    big = HelpedCopier("INBOX", seconds=1.6)
    long = HelpedCopier("F0", seconds=1.4)  # the copying lane's one folder: no end soon
    ctx = dataclasses.replace(context({"INBOX": 1000, "F0": 999}),
                              engine=EngineConfig(batch_max_messages=10))
    slots = OneWaiter(2, at=time.monotonic() + 0.3)
    await copy_in_lanes(ctx, [big, long], verify=True, lanes=3, slots=slots,  # type: ignore[arg-type]
                        open_lane=Opener())
    assert slots.served, "no lane stepped back"
    # The reading-back lane gave its pair after about 0.3 s, long before F0's end.
    assert 0.25 < slots.served - slots.at < 0.8, slots.served - slots.at
