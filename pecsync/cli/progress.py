"""Progress on the terminal: one live area that log lines never break.

On a terminal (and without ``-q``) a rich live display holds the area at the bottom of the
screen; every log line is printed above it (logging is routed through the display while it
is up), and every line of the area is cut to the terminal's width, so nothing wraps and
nothing is left behind.  When stderr is not a terminal there is no area: ``run`` logs a
``run_progress`` event every 30 s instead (a JSON line like every other).

The lines themselves come from pure functions (:func:`run_lines`, :func:`fit`), unit-tested
apart from the terminal.
"""

from __future__ import annotations

import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from pecsync import log as logsetup
from pecsync.engine.live import LiveMailbox
from pecsync.store.jobs import Job, JobState
from pecsync.sync.context import Progress

#: Seconds of history behind the transfer rate (and so the ETA).
RATE_WINDOW = 60.0
#: Seconds between two ``run_progress`` log events when there is no terminal.
PLAIN_EVERY = 30.0


def fit(line: str, width: int) -> str:
    """*line* cut to *width* terminal cells (with an ellipsis when cut).

    >>> fit("abcdef", 4), fit("abc", 4)
    ('abc…', 'abc')
    """
    if width <= 0:
        return ""
    return line if len(line) <= width else line[:width - 1] + "…"


def duration(seconds: float) -> str:
    """``2h05m``, ``4m30s``, ``45s``.

    >>> duration(7500), duration(270), duration(45.2)
    ('2h05m', '4m30s', '45s')
    """
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


class RateMeter:
    """Bytes per second over the last RATE_WINDOW seconds (not since the start: a run that
    waited for credentials and then copies gets today's speed)."""

    def __init__(self, window: float = RATE_WINDOW) -> None:
        self.window = window
        self.samples: deque[tuple[float, int]] = deque()

    def add(self, now: float, total_bytes: int) -> float:
        self.samples.append((now, total_bytes))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.window:
            self.samples.popleft()
        (t0, b0), (t1, b1) = self.samples[0], self.samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0


#: States whose mailboxes this run will still copy; blocked, waiting and failed ones are not
#: work the ETA waits for.
RUNNABLE = (JobState.PENDING, JobState.RUNNING)


def bytes_left(jobs: Iterable[Job], live: Mapping[str, LiveMailbox]) -> int | None:
    """Bytes still to copy in the runnable mailboxes, or None when it cannot be told yet.

    A running mailbox counts what its planned folders still hold; a mailbox not started yet
    counts the average size of the mailboxes done so far (minus what it already has), so
    with no mailbox done there is no estimate.  Blocked, waiting and failed mailboxes count
    nothing."""
    jobs = list(jobs)
    done = [j.bytes_copied for j in jobs if j.state == JobState.DONE and j.bytes_copied > 0]
    average = sum(done) / len(done) if done else None
    left = 0.0
    for j in jobs:
        if j.state not in RUNNABLE:
            continue
        guess = max(average - j.bytes_copied, 0.0) if average is not None else None
        if j.state == JobState.RUNNING:
            known = live[j.address].bytes_left if j.address in live else 0
            left += max(known, guess or 0.0)
        elif guess is None:
            return None
        else:
            left += guess
    return int(left)


def eta_text(left: int | None, rate: float) -> str:
    """``ETA 1h20m``; ``ETA —`` when unknown; nothing when no runnable bytes are left.

    >>> eta_text(3_600_000_000, 1_000_000), eta_text(None, 5.0), eta_text(0, 5.0)
    ('ETA 1h00m', 'ETA —', '')
    """
    if left == 0:
        return ""
    if left is None or rate <= 0:
        return "ETA —"
    return f"ETA {duration(left / rate)}"


@dataclass
class RunSnapshot:
    """What the run display shows at one moment."""

    states: Counter[str]
    live: dict[str, LiveMailbox] = field(default_factory=dict)
    rate: float = 0.0  # bytes per second
    left: int | None = None  # runnable bytes still to copy


def run_lines(snap: RunSnapshot, width: int, height: int) -> list[str]:
    """The live area of ``run``: a summary line, then one line per running mailbox with its
    folders' counts; every line at most *width* cells, at most *height* - 1 lines."""
    s = snap.states
    total = sum(s.values())
    attention = sum(s[st.value] for st in JobState
                    if st.value.startswith("blocked_") or st == JobState.FAILED)
    parts = [f"{s[JobState.DONE]}/{total} done", f"{s[JobState.RUNNING]} running",
             f"{s[JobState.PENDING]} pending", f"{snap.rate / 1e6:.1f} MB/s"]
    eta = eta_text(snap.left, snap.rate)
    if eta:
        parts.append(eta)
    lines = [" · ".join(parts)]
    waiting = []
    if s[JobState.RETRY_WAIT]:
        waiting.append(f"{s[JobState.RETRY_WAIT]} retry later")
    if s[JobState.WAITING_CREDENTIALS]:
        waiting.append(f"{s[JobState.WAITING_CREDENTIALS]} without password")
    if attention:
        waiting.append(f"{attention} need attention (pecsync status)")
    if waiting:
        lines.append("  not in the ETA: " + " · ".join(waiting))
    room = max(height - 1 - len(lines), 1)
    running = list(snap.live.items())
    shown = running if len(running) <= room else running[:room - 1]
    for address, mailbox in shown:
        lines.append(f"  {address}: {mailbox.describe() or 'starting'}")
    if len(shown) < len(running):
        lines.append(f"  … and {len(running) - len(shown)} more mailboxes")
    return [fit(line, width) for line in lines]


class LiveArea:
    """A context manager: while it is open, *lines* (called with width and height) is drawn
    at the bottom of the terminal and log lines are printed above it.  Does nothing when
    *stream* is not a terminal or *enabled* is False."""

    def __init__(self, lines: Callable[[int, int], list[str]], *, enabled: bool = True,
                 stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.lines = lines
        self.enabled = enabled and self.stream.isatty()
        self.live: Live | None = None
        self._routing: AbstractContextManager[None] | None = None
        self._drawn = 0.0

    def _renderable(self) -> Group:
        assert self.live is not None
        width, height = self.live.console.size
        return Group(*(Text(line, no_wrap=True, overflow="ellipsis")
                       for line in self.lines(width, height)))

    def _print_log(self, line: str) -> None:
        if self.live is not None:
            self.live.console.print(Text(line), overflow="fold", markup=False, highlight=False)

    def refresh(self, *, force: bool = True) -> None:
        """Redraw now (or, without *force*, unless drawn in the last 0.2 s)."""
        if self.live is None:
            return
        now = time.monotonic()
        if force or now - self._drawn >= 0.2:
            self._drawn = now
            self.live.update(self._renderable(), refresh=True)

    def __enter__(self) -> LiveArea:
        if not self.enabled:
            return self
        console = Console(file=self.stream, highlight=False, soft_wrap=False)
        self.live = Live(console=console, auto_refresh=False, transient=True,
                         redirect_stdout=False, redirect_stderr=False)
        self.live.start()
        self._routing = logsetup.routed_through(self._print_log)
        self._routing.__enter__()
        self.refresh()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.live is None:
            return
        if self._routing is not None:
            self._routing.__exit__(exc_type, exc, tb)
            self._routing = None
        self.live.stop()
        self.live = None


class ProgressLine:
    """``copy``'s area: ``INBOX: 120/500 messages · Sent 3/9 · 12.3 MB copied, 4.5 MB/s``."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool = True) -> None:
        self.mailbox = LiveMailbox()
        self.bytes = 0
        self.started = time.monotonic()
        self.area = LiveArea(self._lines, enabled=enabled, stream=stream)
        self.enabled = self.area.enabled

    def _lines(self, width: int, _height: int) -> list[str]:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return [fit(f"{self.mailbox.describe() or 'planning'} · {self.bytes / 1e6:.1f} MB "
                    f"copied, {self.bytes / elapsed / 1e6:.1f} MB/s", width)]

    def __enter__(self) -> ProgressLine:
        self.area.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.area.__exit__(exc_type, exc, tb)

    def on_folder_planned(self, folder: str, todo: int, size: int) -> None:
        self.mailbox.planned(folder, todo, size)
        self.area.refresh()

    def on_folder_batch(self, folder: str, messages: int, size: int) -> None:
        self.mailbox.copied(folder, messages, size)
        self.bytes += size
        self.area.refresh(force=False)

    def finish(self) -> None:
        self.area.__exit__(None, None, None)

    def callbacks(self) -> Progress:
        return Progress(on_folder_planned=self.on_folder_planned,
                        on_folder_batch=self.on_folder_batch)
