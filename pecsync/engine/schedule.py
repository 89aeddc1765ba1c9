"""When done mailboxes are re-synced (``[migration] resync_every`` / ``switch_at``).  Pure."""

from __future__ import annotations

from datetime import datetime, timedelta

from pecsync.store.syncstate import final_sync_done, iso, sync_now

__all__ = ["final_sync_done", "iso", "resync_cutoff", "sync_now"]


def resync_cutoff(now: datetime, *, every: timedelta | None, switch_at: datetime | None,
                  follow: bool, once_before: datetime | None = None) -> datetime | None:
    """Done mailboxes whose last sync started before the returned time are due for a re-sync;
    None: none is.

    * ``run --resync``: *once_before* (the run's start) — every done mailbox once;
    * ``run --follow`` before *switch_at*: every *every*;
    * ``run --follow`` after *switch_at*: *switch_at* itself — one final sync of every mailbox,
      then nothing more is due.

    >>> from datetime import UTC
    >>> t = datetime(2027, 3, 31, 12, tzinfo=UTC)
    >>> resync_cutoff(t, every=timedelta(hours=6), switch_at=None, follow=True).hour
    6
    >>> resync_cutoff(t, every=timedelta(hours=6), switch_at=t - timedelta(hours=1),
    ...               follow=True).hour
    11
    """
    due: list[datetime] = []
    if once_before is not None:
        due.append(once_before)
    if follow:
        if switch_at is not None and now >= switch_at:
            due.append(switch_at)
        elif every is not None:
            due.append(now - every)
    return max(due) if due else None
