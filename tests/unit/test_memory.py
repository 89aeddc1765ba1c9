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
