"""Small async helpers shared by the copy, the lanes and the mailbox run."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from pecsync.config import EngineConfig
from pecsync.imap.session import ImapSession

T = TypeVar("T")

#: The threads blocking IMAP calls run on, for the copy in progress (a context variable: each
#: copy, and each task it starts, sees its own; nothing process-wide).  Unset: anyio's
#: default limiter (40 threads), enough for a command with a connection or two.
_threads: ContextVar[anyio.CapacityLimiter | None] = ContextVar("pecsync_imap_threads",
                                                                 default=None)


def threads_for(engine: EngineConfig) -> int:
    """Threads for blocking IMAP calls: one per connection the budget allows, to the source
    and to the destination (``2 × max_connections_per_host``).  A connection runs one call at
    a time, so a call never waits for a thread, only (elsewhere) for a connection."""
    return 2 * engine.max_connections_per_host


@contextmanager
def thread_budget(threads: int) -> Iterator[anyio.CapacityLimiter]:
    """Within the block (and the tasks it starts), :func:`in_thread` runs on a limiter of
    *threads* threads instead of anyio's default 40 (behind which more than about 20
    connections per server would silently queue)."""
    limiter = anyio.CapacityLimiter(max(1, threads))
    token = _threads.set(limiter)
    try:
        yield limiter
    finally:
        _threads.reset(token)


def current_thread_budget() -> anyio.CapacityLimiter | None:
    """The limiter :func:`in_thread` uses here (None: anyio's default)."""
    return _threads.get()


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking IMAP call in a worker thread (of the :func:`thread_budget` in force)."""
    return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs), limiter=_threads.get())


async def concurrently(*fns: Callable[[], Coroutine[Any, Any, object]]) -> None:
    """Run coroutines side by side (the two ends of a copy, source and destination); the first
    real error is raised as itself, not as an exception group."""
    try:
        async with anyio.create_task_group() as tg:
            for fn in fns:
                tg.start_soon(fn)
    except BaseExceptionGroup as group:
        raise first_error(group) from None


async def logout_pair(src: ImapSession, dst: ImapSession) -> None:
    """Log both sessions out, even when cancelled."""
    with anyio.CancelScope(shield=True):
        await concurrently(lambda: in_thread(src.logout), lambda: in_thread(dst.logout))


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The exception that matters in a task group's failure (not the cancellations it caused)."""
    cancelled = anyio.get_cancelled_exc_class()
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return first_error(exc)
        if not isinstance(exc, cancelled):
            return exc
    return group.exceptions[0]
