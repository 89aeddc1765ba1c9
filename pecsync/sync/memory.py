"""A byte budget shared by every mailbox of a run: bounds the message bytes held in memory.

The exporter reserves a batch's size before fetching it and the importer gives it back once the
batch is appended, so the bytes between source and destination never exceed the budget, however
many workers run.  A message larger than the whole budget waits until nothing else is in flight.
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

    async def acquire(self, size: int) -> int:
        """Reserve *size* bytes (at most the whole budget); returns what was reserved."""
        want = min(max(size, 0), self.limit)
        async with self._cond:
            while self.used + want > self.limit:
                await self._cond.wait()
            self.used += want
            self.peak = max(self.peak, self.used)
        return want

    async def release(self, reserved: int) -> None:
        with anyio.CancelScope(shield=True):
            async with self._cond:
                self.used -= reserved
                self._cond.notify_all()
