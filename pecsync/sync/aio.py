"""Small async helpers shared by the copy, the lanes and the mailbox run."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from pecsync.imap.session import ImapSession

T = TypeVar("T")


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking IMAP call in a worker thread."""
    return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))


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
