"""The source half of a folder copy (dsync's exporter): which messages to copy, and their
bytes in batches.

The bytes come from :meth:`ImapSession.fetch_bodies`, which also resolves Dovecot's NUL
rewriting (``BODY[]`` serves NUL as 0x80; ``BINARY.PEEK[]`` is asked where it matters, see
:func:`pecsync.imap.session.resolve_nul`); a message whose raw bytes could not be proven
carries an ``unverifiable`` note.  Nothing here writes to the destination or the store.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from pecsync.config import EngineConfig
from pecsync.imap.session import ImapSession
from pecsync.model import FetchedMessage, MessageInfo
from pecsync.store.ledger import FolderLedger
from pecsync.sync.aio import in_thread
from pecsync.sync.batches import BatchSizer, make_batches
from pecsync.sync.memory import ByteBudget

#: One fetched batch and the bytes it holds in the memory budget (the importer gives them
#: back once the batch is recorded).
Fetched = tuple[list[FetchedMessage], int]


@dataclass(frozen=True)
class CopyPlan:
    """The source messages above the high-water mark (*listed*) and those of them still to
    copy (*todo*: not yet appended, present or skipped)."""

    listed: list[MessageInfo]
    todo: list[MessageInfo]


#: Each source connection's batch sizer, by the configured limits (see Exporter.sizer).
_LANE_SIZERS: weakref.WeakKeyDictionary[ImapSession, dict[tuple[int, int], BatchSizer]] = (
    weakref.WeakKeyDictionary())


class Exporter:
    """Reads one folder of the source (selected by the caller)."""

    def __init__(self, src: ImapSession, engine: EngineConfig, memory: ByteBudget | None
                 ) -> None:
        self.src = src
        self.engine = engine
        self.memory = memory

    async def plan(self, ledger: FolderLedger, high_water: int, exists: int,
                   listed: list[MessageInfo] | None = None) -> CopyPlan:
        """What to copy above *high_water* (*listed*: the metadata already fetched from
        there with the EXAMINE, else fetched now; *exists*: the folder's message count)."""
        metas: list[MessageInfo] = []
        if exists:
            if listed is None:
                listed = await in_thread(self.src.fetch_meta, f"{high_water + 1}:*")
            metas = [i for i in listed if i.uid > high_water]
        done = await ledger.done_uids_above(high_water)
        return CopyPlan(metas, [i for i in metas if i.uid not in done])

    def batches(self, infos: Sequence[MessageInfo]) -> list[list[MessageInfo]]:
        return make_batches(infos, self.engine.batch_max_bytes, self.engine.batch_max_messages)

    def fetch(self, infos: Sequence[MessageInfo]) -> AsyncGenerator[Fetched, None]:
        """The bodies of *infos*, batch by batch (see :func:`fetch_batches`)."""
        return fetch_batches(self.src, self.batches(infos), self.memory)

    def sizer(self) -> BatchSizer:
        """The lane's batch sizes, from its own throughput (see :class:`BatchSizer`), learnt
        over every folder it copies on this source connection: a sizer per folder started
        each folder with batches of one message, and over a link a mailbox of small folders
        spent much of its time relearning its rate (issue 26)."""
        limits = (self.engine.batch_max_bytes, self.engine.batch_max_messages)
        sizers = _LANE_SIZERS.setdefault(self.src, {})
        sizer = sizers.get(limits)
        if sizer is None:
            sizer = sizers[limits] = BatchSizer(*limits)
        return sizer

    async def export(self, take: Take, send: MemoryObjectSendStream[Fetched], held: list[int]
                     ) -> None:
        """Send the batches *take* hands out, sized by the lane's throughput, down *send*
        (bounded: backpressure from the importer); *held[0]* counts the bytes reserved and
        not yet given back by the receiver."""
        async with send, aclosing(fetch_taken(self.src, take, self.memory,
                                              self.sizer())) as stream:
            async for fetched, reserved in stream:
                held[0] += reserved
                await send.send((fetched, reserved))
                # Not held while the next batch is fetched: once the importer gives
                # the reservation back, nothing else may keep these bodies alive.
                del fetched


def fetch_batches(session: ImapSession, batches: Sequence[Sequence[MessageInfo]],
                  memory: ByteBudget | None, *, read_back: bool = False
                  ) -> AsyncGenerator[Fetched, None]:
    """The bodies of *batches*, in order (see :func:`fetch_taken`).  *read_back*: copies
    read back, with their metadata (``ImapSession.fetch_bodies``)."""
    it = iter(batches)
    return fetch_taken(session, lambda _b, _m: next(it, None), memory, read_back=read_back)


#: Cuts the next batch of at most (bytes, messages) from what is left, or None: no more.
Take = Callable[[int, int], Sequence[MessageInfo] | None]


async def fetch_taken(session: ImapSession, take: Take, memory: ByteBudget | None,
                      sizer: BatchSizer | None = None, *, read_back: bool = False
                      ) -> AsyncGenerator[Fetched, None]:
    """The bodies of the batches *take* hands out, in that order, each with the bytes it
    holds in *memory* (the caller gives them back).  Each batch is cut to *sizer*'s size
    (default: no limit *take* would not apply itself), which learns from the time each batch
    took, waits for the consumer included.  The next batch is taken and requested while this
    one is read (pipelining) when the budget has room for it now; otherwise it is requested
    when its turn comes.  Use with ``aclosing``: a reservation made ahead is given back when
    the stream is closed."""
    def cut() -> Sequence[MessageInfo] | None:
        if sizer is None:
            return take(0, 0)
        return take(sizer.max_bytes(), sizer.max_messages)

    ahead: int | None = None  # reservation of the batch already requested
    if sizer is not None:
        sizer.begin()
    batch = cut()
    since = time.monotonic()
    try:
        while batch is not None:
            if ahead is not None:
                reserved, ahead = ahead, None
            else:
                reserved = (await memory.acquire(sum(i.size for i in batch))
                            if memory is not None else 0)
            following = cut()
            then: Sequence[MessageInfo] = ()
            if following is not None:
                ahead = (memory.try_acquire(sum(i.size for i in following))
                         if memory is not None else 0)
                then = following if ahead is not None else ()
            try:
                fetched = await in_thread(session.fetch_bodies, batch, then=then,
                                          read_back=read_back)
            except BaseException:
                if memory is not None:
                    await memory.release(reserved)
                raise
            yield fetched, reserved
            del fetched  # the consumer owns it: not kept alive during the next FETCH
            now = time.monotonic()
            if sizer is not None:
                sizer.observed(sum(i.size for i in batch), now - since)
            since = now
            batch = following
    finally:
        if memory is not None and ahead:
            await memory.release(ahead)


def stream_pair(prefetch: int) -> tuple[MemoryObjectSendStream[Fetched],
                                        anyio.abc.ObjectReceiveStream[Fetched]]:
    """The bounded stream between exporter and importer: *prefetch* batches wait at most."""
    return anyio.create_memory_object_stream[Fetched](max_buffer_size=prefetch)
