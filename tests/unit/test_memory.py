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
    assert order[-2:] == ["+huge", "-huge"] or order.index("+huge") > order.index("-a")


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
