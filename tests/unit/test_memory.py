import anyio

from pecsync.sync.memory import ByteBudget


async def test_budget_bounds_bytes_in_flight_and_lets_a_huge_item_through() -> None:
    budget = ByteBudget(100)
    order: list[str] = []

    async def worker(name: str, size: int, hold: float) -> None:
        got = await budget.acquire(size)
        order.append(f"+{name}")
        assert budget.used <= budget.limit
        await anyio.sleep(hold)
        order.append(f"-{name}")
        await budget.release(got)

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker, "a", 60, 0.05)
        await anyio.sleep(0.01)
        tg.start_soon(worker, "b", 60, 0.01)  # must wait for a
        await anyio.sleep(0.01)
        tg.start_soon(worker, "huge", 500, 0.01)  # larger than the budget: waits for all
    assert order.index("+b") > order.index("-a")
    assert budget.peak <= 100 and budget.used == 0
    # The huge item waits until nothing else is held, then runs alone.
    assert order.index("+huge") > max(order.index("-a"), order.index("-b")), order
    assert order[-2:] == ["+huge", "-huge"], order


async def test_look_ahead_only_when_free_and_nobody_waits() -> None:
    budget = ByteBudget(100)
    assert budget.try_acquire(60) == 60
    assert budget.try_acquire(50) is None  # would exceed the budget: not requested early
    got: list[int] = []

    async def big() -> None:
        got.append(await budget.acquire(80))

    async with anyio.create_task_group() as tg:
        tg.start_soon(big)
        await anyio.sleep(0.01)
        assert budget.try_acquire(10) is None  # someone waits: a look-ahead steps back
        await budget.release(60)
    assert got == [80] and budget.used == 80


async def test_fetch_stream_gives_back_what_it_reserved_ahead() -> None:
    from contextlib import aclosing
    from datetime import UTC, datetime

    from pecsync.model import FetchedMessage, MessageInfo
    from pecsync.sync.exporter import fetch_batches

    class Session:
        def __init__(self) -> None:
            self.asked: list[tuple[list[int], list[int]]] = []

        def fetch_bodies(self, infos: list[MessageInfo], *, then: list[MessageInfo] = (),
                         read_back: bool = False
                         ) -> list[FetchedMessage]:  # type: ignore[assignment]
            self.asked.append(([i.uid for i in infos], [i.uid for i in then]))
            return [FetchedMessage(i, b"x" * i.size, "", None) for i in infos]

    info = [MessageInfo(n, 10, (), datetime.now(UTC)) for n in range(1, 7)]
    batches = [info[0:2], info[2:4], info[4:6]]
    budget, session = ByteBudget(100), Session()
    async with aclosing(fetch_batches(session, batches, budget)) as stream:  # type: ignore[arg-type]
        async for _fetched, reserved in stream:
            assert reserved == 20 and budget.used == 40  # this batch and the one asked ahead
            await budget.release(reserved)
            break  # the consumer stops early (an APPEND failed, say)
    assert budget.used == 0  # the look-ahead reservation was given back on close
    assert session.asked == [([1, 2], [3, 4])]
    # A budget too small for a look-ahead: batches are still fetched, one at a time.
    small, session = ByteBudget(20), Session()
    async with aclosing(fetch_batches(session, batches, small)) as stream:  # type: ignore[arg-type]
        async for _fetched, reserved in stream:
            await small.release(reserved)
    assert session.asked == [([1, 2], []), ([3, 4], []), ([5, 6], [])] and small.used == 0


async def test_fetch_stream_keeps_no_batch_alive_during_the_next_fetch() -> None:
    """A batch given back to the budget must not stay in memory: neither the stream nor its
    caller's loop variable may hold it while the next batch is fetched (that unaccounted
    batch per lane is what pushed the peak RSS over the budget)."""
    import gc
    import weakref
    from contextlib import aclosing
    from datetime import UTC, datetime

    from pecsync.model import FetchedMessage, MessageInfo
    from pecsync.sync.exporter import fetch_batches

    class Batch(list[FetchedMessage]):
        pass  # a list that can be weakly referenced

    alive: list[weakref.ref[Batch]] = []
    seen_alive: list[int] = []

    class Session:
        def fetch_bodies(self, infos: list[MessageInfo], *, then: list[MessageInfo] = (),
                         read_back: bool = False
                         ) -> list[FetchedMessage]:  # type: ignore[assignment]
            gc.collect()
            seen_alive.append(sum(r() is not None for r in alive))
            out = Batch(FetchedMessage(i, b"x" * i.size, "", None) for i in infos)
            alive.append(weakref.ref(out))
            return out

    info = [MessageInfo(n, 10, (), datetime.now(UTC)) for n in range(1, 7)]
    budget = ByteBudget(100)
    async with aclosing(fetch_batches(Session(), [info[0:2], info[2:4], info[4:6]],  # type: ignore[arg-type]
                                      budget)) as stream:
        async for fetched, reserved in stream:
            assert len(fetched) == 2
            del fetched
            await budget.release(reserved)
    assert seen_alive == [0, 0, 0]
