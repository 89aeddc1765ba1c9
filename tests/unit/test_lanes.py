"""Folder lanes: scheduling, connection slots and failure handling (fakes, no IMAP)."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest

from pecsync.config import EngineConfig
from pecsync.errors import (
    DestinationFull,
    FolderError,
    ImapError,
    StopRequested,
    TransientError,
)
from pecsync.model import FolderMapping, FolderStatus
from pecsync.sync.context import MailboxContext
from pecsync.sync.lanes import EarlyLanes, FixedSlots, FolderTree, copy_in_lanes


class FakeSession:
    def __init__(self, name: str, refuse_create: Exception | None = None) -> None:
        self.name = name
        self.logged_out = False
        self.created: list[list[str]] = []
        self.refuse_create = refuse_create

    def create_folders(self, names: list[str]) -> None:
        time.sleep(0.02)  # a round trip
        if self.refuse_create is not None:
            raise self.refuse_create
        self.created.append(list(names))
        self.created_at = time.monotonic()

    def logout(self) -> None:
        self.logged_out = True


class FakeCopier:
    """Records which lane copied it; sleeps *seconds*; may fail."""

    def __init__(self, name: str, seconds: float = 0.01, fail: Exception | None = None) -> None:
        self.mapping = FolderMapping(name, name)
        self.ctx: Any = None
        self.seconds = seconds
        self.fail = fail
        self.lane: str | None = None
        self.done = False

    async def copy_folder(self, ctx: Any, *, verify: bool) -> None:
        self.ctx = ctx
        self.lane = self.ctx.src.name
        self.started = time.monotonic()
        for _ in range(5):  # five "batches"; a halted mailbox stops after the one in flight
            await anyio.sleep(self.seconds / 5)
            if self.ctx.halt.is_set():
                raise StopRequested(mailbox="m", folder=self.mapping.src)
        if self.fail is not None:
            raise self.fail
        self.done = True


def context(sizes: dict[str, int]) -> MailboxContext:
    return MailboxContext(label="m", src=FakeSession("lane0"), dst=FakeSession("lane0"),  # type: ignore[arg-type]
                          store=None, mailbox_id=1, engine=EngineConfig(),  # type: ignore[arg-type]
                          src_statuses={k: FolderStatus(1, 1, v) for k, v in sizes.items()})


class Opener:
    def __init__(self, fail: bool = False) -> None:
        self.opened: list[tuple[FakeSession, FakeSession]] = []
        self.fail = fail

    async def __call__(self) -> tuple[Any, Any]:
        if self.fail:
            raise ImapError("too many connections", mailbox="m")
        n = len(self.opened) + 1
        pair = (FakeSession(f"lane{n}"), FakeSession(f"lane{n}"))
        self.opened.append(pair)
        return pair


async def test_folders_spread_over_lanes_largest_first() -> None:
    copiers = [FakeCopier(f"F{i}", seconds=0.05) for i in range(6)]
    ctx = context({f"F{i}": i for i in range(6)})
    slots, opener = FixedSlots(2), Opener()
    await copy_in_lanes(ctx, copiers, verify=True, lanes=3, slots=slots,  # type: ignore[arg-type]
                        open_lane=opener)
    assert all(c.done for c in copiers)
    assert len(opener.opened) == 2 and {c.lane for c in copiers} == {"lane0", "lane1", "lane2"}
    assert copiers[5].lane == "lane0"  # the largest folder goes first, to the ready lane
    assert slots.free == 2  # every borrowed pair given back ...
    assert all(s.logged_out for pair in opener.opened for s in pair)  # ... and logged out


async def test_no_extra_lane_for_a_single_folder_or_without_slots() -> None:
    opener = Opener()
    await copy_in_lanes(context({"A": 1}), [FakeCopier("A")], verify=True, lanes=3,  # type: ignore[list-item]
                        slots=FixedSlots(2), open_lane=opener)
    assert opener.opened == []
    copiers = [FakeCopier(f"F{i}") for i in range(4)]
    await copy_in_lanes(context({}), copiers, verify=True, lanes=3, slots=FixedSlots(0),  # type: ignore[arg-type]
                        open_lane=opener)
    assert opener.opened == [] and {c.lane for c in copiers} == {"lane0"}


async def test_a_lane_that_cannot_log_in_is_not_used() -> None:
    copiers = [FakeCopier(f"F{i}") for i in range(4)]
    slots = FixedSlots(2)
    await copy_in_lanes(context({}), copiers, verify=True, lanes=3, slots=slots,  # type: ignore[arg-type]
                        open_lane=Opener(fail=True))
    assert all(c.done for c in copiers) and slots.free == 2


async def test_first_real_failure_wins_and_other_lanes_stop_after_their_batch() -> None:
    full = DestinationFull("over quota", mailbox="m", folder="F0")
    copiers = [FakeCopier("F0", seconds=0.01, fail=full)] + [
        FakeCopier(f"F{i}", seconds=0.2) for i in range(1, 5)]
    ctx = context({"F0": 9, "F1": 5, "F2": 4, "F3": 3, "F4": 2})
    slots = FixedSlots(2)
    with pytest.raises(DestinationFull):
        await copy_in_lanes(ctx, copiers, verify=True, lanes=3, slots=slots,  # type: ignore[arg-type]
                            open_lane=Opener())
    assert ctx.halt.is_set() and slots.free == 2
    assert not any(c.done for c in copiers[1:])  # stopped, not run to the end
    # Never started: the lane that reads back took the smallest folder (F4), the other
    # extra lane the next largest (F1).
    assert copiers[2].lane is None and copiers[3].lane is None


class HelpedCopier(FakeCopier):
    """A folder whose recorded copies other lanes may verify (help_round); the read-back on
    lane 0's connection loses it."""

    def can_help(self) -> bool:
        return self.ctx is not None and not self.done

    def backlog_hint(self) -> int:
        return 20

    async def backlog(self) -> list[object]:
        return [object()] * 20

    async def help_round(self, ctx: Any, rows: list[object]) -> None:
        if ctx.src.name == "lane0":
            raise TransientError("connection lost", mailbox="m", folder=self.mapping.src)


async def test_lane_0_losing_its_connection_while_verifying_for_another_lane_ends_the_round(
        ) -> None:
    """Lane 0 is the mailbox's own connection pair: lost while it verifies copies of a folder
    another lane copies, the loss is the mailbox's error (the reconnect round), not a lane
    that closes while the others go on."""
    a, b = FakeCopier("A", seconds=0.01), HelpedCopier("B", seconds=0.5)
    ctx = context({"A": 9, "B": 1})
    with pytest.raises(TransientError):
        await copy_in_lanes(ctx, [a, b], verify=True, lanes=2, slots=FixedSlots(1),  # type: ignore[list-item]
                            open_lane=Opener())
    assert a.lane == "lane0" and b.lane == "lane1" and ctx.halt.is_set() and not b.done


async def test_operator_stop_is_raised_as_stop() -> None:
    copiers = [FakeCopier("F0", fail=StopRequested(mailbox="m", folder="F0")),
               FakeCopier("F1")]
    with pytest.raises(StopRequested):
        await copy_in_lanes(context({"F0": 2, "F1": 1}), copiers, verify=True, lanes=1,  # type: ignore[arg-type]
                            slots=None, open_lane=Opener())
    assert copiers[1].lane is None


async def test_lanes_step_back_when_another_mailbox_waits() -> None:
    class Contended(FixedSlots):
        def contended(self) -> bool:
            return True

    copiers = [FakeCopier(f"F{i}", seconds=0.05) for i in range(6)]
    slots = Contended(2)
    await copy_in_lanes(context({}), copiers, verify=True, lanes=3, slots=slots,  # type: ignore[arg-type]
                        open_lane=Opener())
    assert all(c.done for c in copiers) and slots.free == 2


class RaisingOpener:
    def __init__(self, exc: BaseException | None = None) -> None:
        self.exc = exc

    async def __call__(self) -> tuple[Any, Any]:
        if self.exc is not None:
            raise self.exc
        await anyio.sleep(3600)  # a login that never answers
        raise AssertionError


async def test_any_refusal_of_a_lane_gives_its_slot_back() -> None:
    copiers = [FakeCopier(f"F{i}") for i in range(4)]
    slots = FixedSlots(2)
    await copy_in_lanes(context({}), copiers, verify=True, lanes=3, slots=slots,  # type: ignore[arg-type]
                        open_lane=RaisingOpener(RuntimeError("* BYE too many connections")))
    assert all(c.done for c in copiers) and slots.free == 2


async def test_cancelled_while_a_lane_logs_in_gives_its_slot_back() -> None:
    copiers = [FakeCopier(f"F{i}", seconds=10) for i in range(4)]
    slots = FixedSlots(2)
    with anyio.move_on_after(0.05):
        await copy_in_lanes(context({}), copiers, verify=True, lanes=3, slots=slots,  # type: ignore[arg-type]
                            open_lane=RaisingOpener())
    assert slots.free == 2


def creations(ctx: MailboxContext, opener: Opener) -> list[tuple[str, list[str]]]:
    sessions: list[Any] = [ctx.dst, *(p[1] for p in opener.opened)]
    return [(s.name, names) for s in sessions for names in s.created]


async def test_missing_folders_are_created_once_by_the_lane_that_needs_them() -> None:
    """INBOX (largest, exists) starts at once on lane 0; the first lane that picks a folder
    still to create creates the whole tree, in one call; another lane waits for it."""
    copiers = [FakeCopier("INBOX", seconds=0.1), FakeCopier("Nuova", seconds=0.02),
               FakeCopier("Nuova/Sotto", seconds=0.02)]
    ctx = context({"INBOX": 9, "Nuova": 5, "Nuova/Sotto": 4})
    opener = Opener()
    await copy_in_lanes(ctx, copiers, verify=True, lanes=3, slots=FixedSlots(2),  # type: ignore[arg-type]
                        open_lane=opener, tree=FolderTree(["Nuova", "Nuova/Sotto"]))
    assert all(c.done for c in copiers)
    made = creations(ctx, opener)
    assert len(made) == 1 and made[0][0] != "lane0" and made[0][1] == ["Nuova", "Nuova/Sotto"]
    creator: Any = next(p[1] for p in opener.opened if p[1].created)
    assert copiers[0].started < creator.created_at  # INBOX did not wait for the CREATEs
    assert min(copiers[1].started, copiers[2].started) >= creator.created_at  # they did


async def test_folders_no_copy_needs_are_created_at_the_end() -> None:
    ctx = context({"INBOX": 3})
    await copy_in_lanes(ctx, [FakeCopier("INBOX")], verify=True, lanes=1, slots=None,  # type: ignore[list-item]
                        open_lane=Opener(), tree=FolderTree(["Vuota"]))
    assert ctx.dst.created == [["Vuota"]]  # type: ignore[attr-defined]


async def test_a_refused_create_is_the_error_raised_and_no_lane_hangs() -> None:
    refused = FolderError("cannot create folder: NO [CANNOT] Invalid name", mailbox="m",
                          folder="Cattiva")
    ctx = context({"Cattiva": 5, "Altra": 4, "INBOX": 1})
    ctx.dst = FakeSession("lane0", refuse_create=refused)  # type: ignore[assignment]
    copiers = [FakeCopier("Cattiva"), FakeCopier("Altra"), FakeCopier("INBOX")]
    with anyio.fail_after(5), pytest.raises(FolderError) as err:
        await copy_in_lanes(ctx, copiers, verify=True, lanes=3, slots=FixedSlots(2),  # type: ignore[arg-type]
                            open_lane=Opener(), tree=FolderTree(["Cattiva", "Altra"]))
    # Lane 0 tried the CREATEs; lane 1 waited for them and stopped; lane 2 (INBOX) stopped
    # after its batch in flight.  The refusal, not a stop, is what the mailbox reports.
    assert err.value is refused
    assert not copiers[0].done and not copiers[1].done and copiers[1].lane is None


class SlowLanes:
    """Lanes that take *seconds* to connect and to log in; logins numbered in *refuse* fail."""

    def __init__(self, seconds: float, refuse: tuple[int, ...] = ()) -> None:
        self.seconds, self.refuse = seconds, refuse
        self.connected: list[tuple[FakeSession, FakeSession]] = []
        self.logins = 0

    async def connect(self) -> tuple[Any, Any]:
        await anyio.sleep(self.seconds)
        self.first_connected = min(getattr(self, "first_connected", 1e18), time.monotonic())
        n = len(self.connected) + 1
        pair = (FakeSession(f"lane{n}"), FakeSession(f"lane{n}"))
        self.connected.append(pair)
        return pair

    async def login(self, pair: tuple[Any, Any]) -> None:
        self.logins += 1
        await anyio.sleep(self.seconds)
        if self.logins in self.refuse:
            for s in pair:
                s.logout()
            raise ImapError("too many connections", mailbox="m")


async def test_early_lanes_connect_in_the_background_and_are_used() -> None:
    """Early lanes never hold up lane 0, take folders when ready, a refused one is not used
    (its slot may serve a later lane), and every slot comes back."""
    copiers = [FakeCopier(f"F{i}", seconds=0.1) for i in range(5)]
    ctx = context({f"F{i}": 10 - i for i in range(5)})
    slots, lanes = FixedSlots(2), SlowLanes(0.03, refuse=(2,))
    early = EarlyLanes(lanes.connect, lanes.login, slots, 2, "m")
    async with anyio.create_task_group() as tg:
        early.start(tg)
        assert slots.free == 0
        early.proceed(len(copiers) - 1)
        await copy_in_lanes(ctx, copiers, verify=True, lanes=3, slots=slots,  # type: ignore[arg-type]
                            open_lane=Opener(), early=early.take())
    assert copiers[0].started < lanes.first_connected  # lane 0 did not wait for the lanes
    assert all(c.done for c in copiers) and slots.free == 2
    assert "lane1" in {c.lane for c in copiers}  # the early lane that logged in was used
    assert all(s.logged_out for pair in lanes.connected for s in pair)


async def test_early_lanes_never_log_in_before_the_mailbox_did() -> None:
    """The mailbox's own login failed (a wrong password, say): the early lanes, connected,
    are closed without a login attempt, and their slots come back."""
    slots, lanes = FixedSlots(2), SlowLanes(0.01)
    early = EarlyLanes(lanes.connect, lanes.login, slots, 2, "m")
    async with anyio.create_task_group() as tg:
        early.start(tg)
        await anyio.sleep(0.05)  # connected, waiting for the go
        await early.close()
    assert lanes.logins == 0 and len(lanes.connected) == 2 and slots.free == 2
    assert all(s.logged_out for pair in lanes.connected for s in pair)


async def test_early_lanes_log_in_only_as_many_as_folders_need() -> None:
    """Two folders to copy: one early lane logs in, the other closes without a login."""
    copiers = [FakeCopier("INBOX", seconds=0.05), FakeCopier("Inviata", seconds=0.05)]
    slots, lanes = FixedSlots(2), SlowLanes(0.01)
    early = EarlyLanes(lanes.connect, lanes.login, slots, 2, "m")
    async with anyio.create_task_group() as tg:
        early.start(tg)
        early.proceed(len(copiers) - 1)
        await copy_in_lanes(context({"INBOX": 9, "Inviata": 3}), copiers, verify=True,  # type: ignore[arg-type]
                            lanes=3, slots=slots, open_lane=Opener(), early=early.take())
    assert lanes.logins == 1 and slots.free == 2 and all(c.done for c in copiers)
    assert all(s.logged_out for pair in lanes.connected for s in pair)


async def test_an_early_lane_cancelled_while_waiting_is_closed() -> None:
    """Cancelled between its connection and the go: the connected pair is logged out and
    its slot comes back."""
    slots, lanes = FixedSlots(1), SlowLanes(0.01)
    early = EarlyLanes(lanes.connect, lanes.login, slots, 1, "m")
    with anyio.move_on_after(0.05):
        async with anyio.create_task_group() as tg:
            early.start(tg)
            try:
                await anyio.sleep(1)  # the mailbox's own login, cancelled
            finally:
                await early.close()
    assert lanes.logins == 0 and slots.free == 1
    assert lanes.connected and all(s.logged_out for pair in lanes.connected for s in pair)


@pytest.mark.parametrize("refused", [True, False])
def test_lanes_logging_in_together_try_a_refused_password_once(refused: bool) -> None:
    """Three lane LOGINs at once: the first goes alone; refused for the password, the other
    two never try (and fail with the same refusal); accepted, they log in side by side."""
    from pecsync.errors import AuthenticationFailed
    from pecsync.sync.lanes import LaneLogins

    gate = LaneLogins()
    tried: list[float] = []
    outcomes: list[str] = []

    async def log_in() -> None:
        tried.append(anyio.current_time())
        await anyio.sleep(0.05)
        if refused:
            raise AuthenticationFailed("refused", response="[AUTHENTICATIONFAILED] "
                                                          "Authentication failed.")

    async def lane() -> None:
        try:
            await gate.login(log_in)
            outcomes.append("in")
        except AuthenticationFailed:
            outcomes.append("refused")

    async def go() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(lane)

    anyio.run(go)
    if refused:
        assert len(tried) == 1 and outcomes == ["refused"] * 3
    else:
        assert len(tried) == 3 and outcomes == ["in"] * 3
        assert tried[2] - tried[1] < 0.03  # the two waiting lanes went together


class SpareSlots(FixedSlots):
    """*n* pairs, of which those beyond *normal* are spare (HostBudget.spare)."""

    def __init__(self, n: int, normal: int) -> None:
        super().__init__(n)
        self.n, self.normal = n, normal
        self.most = 0

    def try_take(self) -> bool:
        taken = super().try_take()
        self.most = max(self.most, self.n - self.free)
        return taken

    def spare(self) -> int:
        return max(0, self.free - (self.normal - (self.n - self.free)))


async def test_more_lanes_than_folders_in_parallel_only_from_spare_pairs() -> None:
    """A run's last mailbox may open up to twice [engine] folders_in_parallel lanes when the
    budget has pairs to spare (the other workers found nothing to do), never otherwise."""
    copiers = [FakeCopier(f"F{i}", seconds=0.1) for i in range(10)]
    slots = SpareSlots(10, normal=2)  # 2 extra lanes of its own, 8 pairs to spare
    await copy_in_lanes(context({c.mapping.src: 10 for c in copiers}), copiers,  # type: ignore[arg-type]
                        verify=False, lanes=3, slots=slots, open_lane=Opener())
    assert all(c.done for c in copiers)
    assert slots.most == 5 and slots.free == 10  # 6 lanes at most: twice 3
    copiers = [FakeCopier(f"F{i}", seconds=0.1) for i in range(10)]
    slots = FixedSlots(10)  # free, but none to spare (other workers may still need them)
    opener = Opener()
    await copy_in_lanes(context({c.mapping.src: 10 for c in copiers}), copiers,  # type: ignore[arg-type]
                        verify=False, lanes=3, slots=slots, open_lane=opener)
    assert len({c.lane for c in copiers}) == 3 and len(opener.opened) == 2



class LostOnAnExtraLane(FakeCopier):
    """Loses its connection the first time an extra lane copies it."""

    lost = False

    async def copy_folder(self, ctx: Any, *, verify: bool) -> None:
        if not self.lost and ctx.src.name != "lane0":
            self.lost = True
            await anyio.sleep(0.02)
            raise TransientError("connection lost: BYE", mailbox="m")
        await super().copy_folder(ctx, verify=verify)


async def test_no_lane_opens_after_a_lane_lost_its_connection() -> None:
    """A lane that lost its connection hands its folder back and closes; while the server
    may be dropping every session (a password change, a restart), no new lane logs in, so a
    changed password is refused once, by the mailbox's own reconnect."""
    lost = LostOnAnExtraLane("F0", seconds=0.05)
    copiers = [*(FakeCopier(f"F{i}", seconds=0.1) for i in range(1, 4)), lost,
               *(FakeCopier(f"F{i}", seconds=0.1) for i in range(4, 12))]
    opener = Opener()
    await copy_in_lanes(context({c.mapping.src: 10 for c in copiers}), copiers,  # type: ignore[arg-type]
                        verify=False, lanes=4, slots=FixedSlots(10), open_lane=opener)
    assert lost.lost and all(c.done for c in copiers)
    assert len(opener.opened) == 3  # the three extra lanes of the start, none after the loss
