"""One large folder copied by several lanes at once (docs/design/architecture.md §4).

A mailbox's largest folder (INBOX: often more than half its bytes) was one lane's work from
start to end, while the lanes that had copied the small folders sat idle: at the end of every
mailbox, and for the whole of a mailbox that is one folder, one connection pair carried the
copy.  Now the folder's messages wait in a :class:`FolderShares` queue, cut into batches as
they are taken:

* the lane that opened the folder (its *owner*) takes them from the front, in UID order, and
  moves the folder's high-water mark over each one as before: the mark still covers a
  contiguous prefix of source UIDs;
* another lane of the mailbox with no folder left takes batches from the back, on its own
  connections (its own EXAMINE of the source folder, APPEND to the destination folder), and
  records them under the same intent protocol, above the high-water mark, which it never
  moves (like a repair: ``Importer(moves_high_water=False)``).

The owner moves the mark over the whole folder only once no batch is left and no other lane
has one in flight.  If another lane's share ended in an error (a lost connection, say), what
it left is found then, on the owner's connections: open intents are reconciled (never a
blind re-APPEND), and every listed message not recorded as done is copied again.  A kill -9
at any point leaves what every run leaves: recorded copies above the mark (skipped by the
next plan, :meth:`~pecsync.store.ledger.FolderLedger.done_uids_above`) and intents for the
next reconcile.

The destination UIDs of a shared folder are not in the source's order (the back of the
folder may be appended before its middle); the copies, their INTERNALDATEs and flags are the
same, and mail clients sort by date.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

import anyio

from pecsync.model import MessageInfo
from pecsync.sync.batches import cut_batch

#: A folder is shared when it has at least this many messages to copy (other lanes take
#: batches from it while at least two of :data:`SHARE_MESSAGES` are left).
MIN_MESSAGES = 40
#: At most this many messages are left to the owner when another lane takes a batch.
SHARE_MESSAGES = 10
#: Batches another lane copies in one go before it looks for copies to verify (its share is
#: then taken up again, without opening the folder again).
SHARE_BATCHES = 4
#: For the lanes a folder is worth (pecsync.sync.lanes.lanes_for): one more lane per this many
#: batches of ``[engine] batch_max_messages`` after the first.
MIN_BATCHES = 4

Take = Callable[[int, int], "list[MessageInfo] | None"]


class FolderShares:
    """The messages of one folder still to copy, cut into batches as they are taken: from
    the front by the folder's owner, from the back by other lanes (each lane sizes its own
    batches, :class:`~pecsync.sync.batches.BatchSizer`); counts the other lanes' shares in
    flight."""

    def __init__(self, todo: Sequence[MessageInfo]) -> None:
        self._todo: deque[MessageInfo] = deque(todo)
        self._bytes = sum(i.size for i in self._todo)
        #: Another lane's share ended in an error: the owner looks for what it left.
        self.failed = False
        #: Messages copied by other lanes (logs, tests).
        self.helped = 0
        #: Lanes that took a share (logs).
        self.helpers = 0
        self._in_flight = 0
        self._idle = anyio.Event()
        self._idle.set()
        self._closed = False

    def __len__(self) -> int:
        """Messages left."""
        return len(self._todo)

    def bytes_left(self) -> int:
        """The size of the messages left (not taken by a batch yet)."""
        return self._bytes

    def take_front(self, max_bytes: int, max_messages: int) -> list[MessageInfo] | None:
        """The owner's next batch (the lowest UIDs left), or None."""
        n = cut_batch(self._todo, max_bytes, max_messages)
        batch = [self._todo.popleft() for _ in range(n)]
        self._bytes -= sum(i.size for i in batch)
        return batch or None

    def take_back(self, max_bytes: int, max_messages: int) -> list[MessageInfo] | None:
        """Another lane's next batch (the highest UIDs left, in UID order), or None.  The
        owner keeps the last :data:`SHARE_MESSAGES`: taking them would only move the owner's
        wait to this lane."""
        if self._closed:
            return None
        room = len(self._todo) - SHARE_MESSAGES
        n = min(cut_batch(reversed(self._todo), max_bytes, max_messages), room)
        if n <= 0:
            return None
        batch = [self._todo.pop() for _ in range(n)][::-1]
        self._bytes -= sum(i.size for i in batch)
        return batch

    def open_to_helpers(self) -> bool:
        """True when another lane joining now would find work."""
        return not self._closed and len(self._todo) >= 2 * SHARE_MESSAGES

    def enter(self) -> None:
        """Another lane starts a share (call :meth:`leave` on every path)."""
        self._in_flight += 1
        self.helpers += 1
        self._idle = anyio.Event() if self._in_flight == 1 else self._idle

    def leave(self, *, failed: bool) -> None:
        self._in_flight -= 1
        self.failed = self.failed or failed
        if self._in_flight == 0:
            self._idle.set()

    async def close(self) -> None:
        """No share starts from now on; returns once every share in flight has ended."""
        self._closed = True
        await self._idle.wait()
