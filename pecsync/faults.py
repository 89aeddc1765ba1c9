"""Crash injection for the fault tests: an env-gated step counter.

``PECSYNC_CRASH_AFTER_STEP=N`` makes the process ``os._exit(86)`` right after the N-th
step; ``PECSYNC_STEP_LOG=FILE`` appends each step's number and name to FILE;
``PECSYNC_STEP_DELAY=SECONDS`` (with one of those) makes each step that much slower, so that a
test can have a mailbox's other lanes log in before a small folder is copied.  Without these
variables :func:`step` costs two dictionary lookups.

Two kinds of step: every commit of the state database, counted by the store itself
(``commit:<named statements>``, see :func:`pecsync.store.backend.committed`), so no durable
write can be missed; and the changes on the destination server, which the sync code marks
(``appended``, ``flags_stored``, ``resync_flags_stored``).
"""

from __future__ import annotations

import os
import time

CRASH_EXIT_CODE = 86
_count = 0


def armed() -> bool:
    """True when steps are counted (a fault test set one of the variables): callers that
    must build a step's name only then."""
    return "PECSYNC_CRASH_AFTER_STEP" in os.environ or "PECSYNC_STEP_LOG" in os.environ


def step(name: str) -> None:
    """Mark that a durable step (a commit or a server-side change) has just completed."""
    global _count
    target = os.environ.get("PECSYNC_CRASH_AFTER_STEP")
    log = os.environ.get("PECSYNC_STEP_LOG")
    if target is None and log is None:
        return
    _count += 1
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{_count} {name}\n")
    if delay := os.environ.get("PECSYNC_STEP_DELAY"):
        time.sleep(float(delay))
    if target is not None and _count == int(target):
        os._exit(CRASH_EXIT_CODE)
