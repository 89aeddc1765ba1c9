"""Progress display: a live line on a TTY, nothing extra otherwise (structlog events suffice)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from pecsync.sync.copier import Progress


class ProgressLine:
    """``INBOX: 120/500 messages, 12.3 MB, 4.5 MB/s``, rewritten in place on stderr."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.folder = ""
        self.total = 0
        self.done = 0
        self.bytes = 0
        self.started = time.monotonic()

    def on_folder(self, folder: str, total: int) -> None:
        self.folder, self.total, self.done = folder, total, 0
        self._draw()

    def on_batch(self, messages: int, size: int) -> None:
        self.done += messages
        self.bytes += size
        self._draw()

    def _draw(self) -> None:
        if not self.enabled:
            return
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.bytes / elapsed / 1e6
        line = (f"{self.folder}: {self.done}/{self.total} messages, "
                f"{self.bytes / 1e6:.1f} MB copied, {rate:.1f} MB/s")
        self.stream.write("\r\x1b[K" + line[:200])
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def callbacks(self) -> Progress:
        return Progress(on_folder=self.on_folder, on_batch=self.on_batch)
