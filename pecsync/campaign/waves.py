"""When reminder waves fall due: ``[campaign] reminders`` are offsets from ``[migration]
deadline`` (the deadline's day starts at 00:00 UTC, and it is the last day the migration can
be started: waves stop when it ends).

A wave is *current* from its due time until the next wave falls due (the last one until the
deadline's day ends).  Only the current wave is enqueued: a process that was not running when
an earlier wave fell due does not send the members a burst of old reminders, only the latest.
A wave already enqueued is still sent in full, and a member who comes to need to act while a
wave is current gets it then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

#: The invitation (``pecsync invite``): a wave of its own, sent once per member.
INVITE = "invite"


@dataclass(frozen=True)
class Wave:
    name: str
    due_at: datetime
    #: When the next wave falls due (or the deadline's day ends): the wave is no longer sent
    #: to anyone it was not enqueued for by then.
    until: datetime


def deadline_start(deadline: date) -> datetime:
    return datetime.combine(deadline, time(0, 0), tzinfo=UTC)


def schedule(deadline: date, reminders: Sequence[tuple[str, timedelta]]) -> list[Wave]:
    """Every reminder wave with its due time, in time order.

    >>> [(w.name, w.due_at.date().isoformat()) for w in schedule(date(2027, 3, 31),
    ...     [("-7d", timedelta(days=-7)), ("-1d", timedelta(days=-1))])]
    [('-7d', '2027-03-24'), ('-1d', '2027-03-30')]
    """
    start = deadline_start(deadline)
    end = start + timedelta(days=1)
    ordered = sorted(reminders, key=lambda r: r[1])
    out: list[Wave] = []
    for i, (name, offset) in enumerate(ordered):
        until = start + ordered[i + 1][1] if i + 1 < len(ordered) else end
        out.append(Wave(name, start + offset, until))
    return out


def current(waves: Sequence[Wave], now: datetime) -> Wave | None:
    """The wave to enqueue at *now*, or None (before the first, after the deadline)."""
    for wave in waves:
        if wave.due_at <= now < wave.until:
            return wave
    return None


def days_left(deadline: date, today: date) -> int:
    """Days until the deadline's day (0 on the day itself)."""
    return (deadline - today).days
