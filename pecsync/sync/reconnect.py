"""Reconnect inside an attempt: when a connection drops mid-copy, how often and how soon.

A mailbox whose connection is lost (a network error, a timeout, an untagged ``BYE``) is
logged in again and resumes from its checkpoints, after a backoff, a bounded number of times
in a row; a round that committed at least one batch resets that count (progress was made, so
the link works).  A refused LOGIN is never tried again here: the new LOGIN after a drop is
what tells "the password changed" from "the network failed" (see the engine's outcome table).

:class:`ReconnectBudget` is pure (the waits are the "reconnect" policy of
:mod:`pecsync.retrypolicy`); :class:`Reconnector` runs the rounds of one mailbox on that
policy's tenacity loop, with the budget as its stop and wait.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio
import structlog
from tenacity import RetryCallState

from pecsync import retrypolicy
from pecsync.errors import LoginDeferred, StopRequested, TransientError

log = structlog.get_logger("pecsync.reconnect")
T = TypeVar("T")


@dataclass(frozen=True)
class ReconnectPolicy:
    """``[engine] reconnect_attempts`` / ``reconnect_initial_seconds`` /
    ``reconnect_max_seconds``."""

    #: Reconnects in a row without progress before the attempt ends (then ``retry_wait``).
    attempts: int = 5
    #: First wait before a reconnect; doubles per reconnect in a row, plus up to as much jitter.
    initial_seconds: float = 1.0
    #: Longest wait before a reconnect.
    max_seconds: float = 30.0


def reconnectable(exc: BaseException) -> bool:
    """True for a lost connection (network error, timeout, ``BYE``) or a server that is
    temporarily unavailable; False for a refused LOGIN of any kind (wrong or changed
    password, 2-step verification, or a temporary ``NO`` to LOGIN: providers lock accounts
    that log in in a loop) and for everything that is not transient."""
    return isinstance(exc, TransientError) and not isinstance(exc, LoginDeferred)


class ReconnectBudget:
    """Counts the reconnects of one attempt at one mailbox.

    >>> budget = ReconnectBudget(ReconnectPolicy(attempts=2, initial_seconds=1, max_seconds=4))
    >>> [budget.after_failure(progressed=False) is not None for _ in range(3)]
    [True, True, False]
    """

    def __init__(self, policy: ReconnectPolicy) -> None:
        self.policy = policy
        #: Reconnects in a row since the last progress.
        self.in_a_row = 0
        #: Reconnects in this attempt, all together (for the log and the job's reason).
        self.total = 0
        self.retry = retrypolicy.reconnect(policy.attempts, policy.initial_seconds,
                                           policy.max_seconds)

    def after_failure(self, *, progressed: bool) -> float | None:
        """A round of the copy ended on a connection failure; *progressed*: it committed
        something first.  The seconds to wait before reconnecting, or None when the budget
        is spent (the attempt ends and the job waits in ``retry_wait``)."""
        if progressed:
            self.in_a_row = 0
        if self.in_a_row >= self.policy.attempts:
            return None
        self.in_a_row += 1
        self.total += 1
        return self.delay(self.in_a_row)

    def delay(self, n: int) -> float:
        """Seconds before reconnect number *n* in a row: ``initial * 2**(n-1)`` plus up to
        ``initial`` of jitter, never above ``max_seconds``."""
        return self.retry.delay(n)


class Reconnector:
    """Runs the rounds of one mailbox's copy: a round that fails on a lost connection, once
    the mailbox has logged in (:attr:`established`), is followed by another after a backoff,
    while the budget lasts.  Everything else (a refused LOGIN above all) is raised at once.

    The round reports its progress through :meth:`checkpoint` (a batch copied or verified)
    and sets :attr:`established` when its LOGINs worked."""

    def __init__(self, policy: ReconnectPolicy, label: str,
                 should_stop: Callable[[], bool] | None = None) -> None:
        self.budget = ReconnectBudget(policy)
        self.label = label
        self.should_stop = should_stop
        #: The mailbox logged in once: a later failure is mid-copy.
        self.established = False
        #: Checkpoints recorded by all rounds.
        self.checkpoints = 0

    def checkpoint(self) -> None:
        self.checkpoints += 1

    async def run(self, one_round: Callable[[], Awaitable[T]]) -> T:
        #: Checkpoints when the round in progress started; the wait the budget gave.
        started = [self.checkpoints]
        delay: list[float | None] = [None]

        def reconnect_now(exc: BaseException) -> bool:
            return self.established and reconnectable(exc)

        def count(state: RetryCallState) -> None:
            delay[0] = self.budget.after_failure(progressed=self.checkpoints > started[0])
            exc = state.outcome.exception() if state.outcome else None
            if delay[0] is None:
                log.warning("reconnects_spent", mailbox=self.label, error=str(exc),
                            reconnects=self.budget.total)
            else:
                log.warning("connection_lost_reconnecting", mailbox=self.label, error=str(exc),
                            reconnect=self.budget.in_a_row, of=self.budget.policy.attempts,
                            wait_seconds=round(delay[0], 2))

        retrying = self.budget.retry.retrying(
            reconnect_now, after=count, stop=lambda _: delay[0] is None,
            wait=lambda _: delay[0] or 0.0, sleep=self._backoff)
        async for attempt in retrying:
            with attempt:
                started[0] = self.checkpoints
                return await one_round()
        raise AssertionError("unreachable")

    async def _backoff(self, seconds: float) -> None:
        """Wait *seconds*; a stop requested meanwhile ends the wait (and the copy:
        checkpoints are saved) within a tenth of a second."""
        deadline = anyio.current_time() + seconds
        while (left := deadline - anyio.current_time()) > 0:
            if self.should_stop is not None and self.should_stop():
                raise StopRequested("stopped while waiting to reconnect", mailbox=self.label)
            await anyio.sleep(min(left, 0.1))
