"""What the copy of one mailbox shares: its progress hooks and its context."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio

from pecsync.config import EngineConfig
from pecsync.imap.session import ImapSession
from pecsync.model import FolderStatus
from pecsync.store.checkpoints import CheckpointStore
from pecsync.sync.memory import ByteBudget
from pecsync.sync.quarantine import Quarantine


@dataclass
class Progress:
    """Hooks for progress display and job bookkeeping; all optional."""

    on_folder: Callable[[str, int], None] | None = None  # (folder, messages to copy)
    on_batch: Callable[[int, int], None] | None = None  # (messages, bytes) just copied
    #: (folder, messages, bytes) to copy in it / just copied in it: per-folder counts.
    on_folder_planned: Callable[[str, int, int], None] | None = None
    on_folder_batch: Callable[[str, int, int], None] | None = None
    on_phase: Callable[[str], Awaitable[None]] | None = None  # login, plan, copy, verify
    on_login: Callable[[str], Awaitable[None]] | None = None  # "src" / "dst" logged in
    #: Checked after every committed batch: True stops the copy there (StopRequested).
    should_stop: Callable[[], bool] | None = None
    #: Something durable was recorded (a batch copied, a batch of copies verified): the
    #: reconnect budget counts it as progress.
    on_checkpoint: Callable[[], None] | None = None
    #: Every folder of the mailbox is copied, or about one second of copying is left
    #: (:data:`pecsync.sync.lanes.HAND_OVER_AHEAD_S`); then reading copies back and the
    #: round's end: the worker pool may start the next mailbox meanwhile.  Called once or
    #: more (the pool acts on the first call).
    on_copied: Callable[[], None] | None = None

    def copied(self) -> None:
        if self.on_copied is not None:
            self.on_copied()

    def checkpoint(self) -> None:
        if self.on_checkpoint is not None:
            self.on_checkpoint()

    async def phase(self, name: str) -> None:
        if self.on_phase is not None:
            await self.on_phase(name)


@dataclass
class MailboxContext:
    """What every folder of one mailbox shares (a lane's copy has its own *src*/*dst*)."""

    label: str
    src: ImapSession
    dst: ImapSession
    store: CheckpointStore
    mailbox_id: int
    engine: EngineConfig
    progress: Progress = field(default_factory=Progress)
    #: Message bytes in flight, shared with every other mailbox of the run.
    memory: ByteBudget | None = None
    #: Every folder's STATUS from one LIST-STATUS per side, when the servers offer it.
    src_statuses: dict[str, FolderStatus] | None = None
    dst_statuses: dict[str, FolderStatus] | None = None
    #: Set when another folder of this mailbox failed: stop after the batch in flight.
    halt: anyio.Event = field(default_factory=anyio.Event)
    #: Where messages the destination refuses are kept (None: not kept, e.g. unit tests).
    quarantine: Quarantine | None = None
    #: Re-check every recorded copy on the destination (not only the unverified ones), and
    #: never settle a folder from STATUS alone: ``retry`` of a done mailbox.
    recheck: bool = False
    #: After ``[migration] switch_at`` the members use the destination: a copy they deleted
    #: there is their choice, not re-appended on a re-run (an explicit ``retry`` still is).
    members_own_destination: bool = False
