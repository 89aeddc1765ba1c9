"""One large folder copied by several lanes at once (docs/design/architecture.md §4).

A mailbox's largest folder (INBOX: often more than half its bytes) was one lane's work from
start to end, while the lanes that had copied the small folders sat idle: at the end of every
mailbox, and for the whole of a mailbox that is one folder, one connection pair carried the
copy.  Now the folder's batches wait in a :class:`FolderShares` queue:

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
from collections.abc import Sequence

import anyio

from pecsync.model import MessageInfo

#: A folder is shared when it has at least this many batches to copy; below that, the
#: owner's own pipelining (one batch fetched ahead) already has the whole folder in hand.
MIN_BATCHES = 4
#: Batches another lane copies in one go before it looks for copies to verify (its share is
#: then taken up again, without opening the folder again).
SHARE_BATCHES = 4


class FolderShares:
    """The batches of one folder still to copy, taken from the front by the folder's owner
    and from the back by other lanes; counts the other lanes' shares in flight."""

    def __init__(self, batches: Sequence[list[MessageInfo]]) -> None:
        self._batches: deque[list[MessageInfo]] = deque(batches)
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
        return len(self._batches)

    def take_front(self) -> list[MessageInfo] | None:
        """The owner's next batch (the lowest UIDs left), or None."""
        return self._batches.popleft() if self._batches else None

    def take_back(self) -> list[MessageInfo] | None:
        """Another lane's next batch (the highest UIDs left), or None.  The last batch is
        left to the owner: taking it would only move the owner's wait to the other lane."""
        return self._batches.pop() if len(self._batches) >= 2 and not self._closed else None

    def open_to_helpers(self) -> bool:
        """True when another lane joining now would find work (two batches or more left)."""
        return not self._closed and len(self._batches) >= 2

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
