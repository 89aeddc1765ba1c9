"""What a run is doing right now, per mailbox and folder, for the progress display.

Fed by the workers' progress hooks (event loop thread), read by the display once a second.
Counts are per folder: ``INBOX.Archivio 163/192`` is 163 of that folder's 192 messages to
copy in this attempt, never a mailbox's count beside a folder's.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FolderCount:
    """One folder being copied: messages copied of those to copy, bytes still to copy."""

    done: int = 0
    total: int = 0
    bytes_left: int = 0

    @property
    def finished(self) -> bool:
        return self.done >= self.total


@dataclass
class LiveMailbox:
    """The folders of one running mailbox (several at once with parallel lanes)."""

    folders: dict[str, FolderCount] = field(default_factory=dict)

    def planned(self, folder: str, messages: int, size: int) -> None:
        """*folder* starts with *messages* (*size* bytes) to copy; finished folders leave."""
        for name in [n for n, c in self.folders.items() if c.finished and n != folder]:
            del self.folders[name]
        self.folders[folder] = FolderCount(0, messages, size)

    def copied(self, folder: str, messages: int, size: int) -> None:
        count = self.folders.setdefault(folder, FolderCount())
        count.done += messages
        count.total = max(count.total, count.done)
        count.bytes_left = max(count.bytes_left - size, 0)

    @property
    def bytes_left(self) -> int:
        """Bytes still to copy in the folders planned so far."""
        return sum(c.bytes_left for c in self.folders.values())

    def describe(self) -> str:
        """``INBOX 12/40 · Sent 3/9`` (unfinished folders first, then the last finished)."""
        shown = [(n, c) for n, c in self.folders.items() if not c.finished]
        if not shown and self.folders:
            shown = [list(self.folders.items())[-1]]
        return " · ".join(f"{n} {c.done}/{c.total}" for n, c in shown)
