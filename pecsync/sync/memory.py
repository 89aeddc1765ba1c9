"""A byte budget shared by every mailbox of a run: bounds the message bytes held in memory.

The exporter reserves a batch's size before fetching it and the importer gives it back once the
batch is appended, so the bytes between source and destination never exceed the budget, however
many workers run.  A message larger than the whole budget waits until nothing else is in flight.
A batch fetched ahead (pipelining) is reserved too, with :meth:`ByteBudget.try_acquire`: when the
budget is short the next batch is simply not requested early.
"""

from __future__ import annotations

import anyio


class ByteBudget:
    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.used = 0
        #: Highest reservation seen at once (for measurements and tests).
        self.peak = 0
        self._cond = anyio.Condition()
        self._waiting = 0

    async def acquire(self, size: int) -> int:
        """Reserve *size* bytes (at most the whole budget); returns what was reserved."""
        want = min(max(size, 0), self.limit)
        async with self._cond:
            self._waiting += 1
            try:
                while self.used + want > self.limit:
                    await self._cond.wait()
            finally:
                self._waiting -= 1
            self.used += want
            self.peak = max(self.peak, self.used)
        return want

    def try_acquire(self, size: int) -> int | None:
        """Reserve *size* bytes only if they are free now and nobody waits (a look-ahead
        must never hold back a waiting batch, nor wait while holding); None otherwise."""
        want = min(max(size, 0), self.limit)
        if self._waiting or self.used + want > self.limit:
            return None
        self.used += want
        self.peak = max(self.peak, self.used)
        return want

    async def release(self, reserved: int) -> None:
        with anyio.CancelScope(shield=True):
            async with self._cond:
                self.used -= reserved
                self._cond.notify_all()
