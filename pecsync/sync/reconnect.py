"""Reconnect inside an attempt: when a connection drops mid-copy, how often and how soon.

A mailbox whose connection is lost (a network error, a timeout, an untagged ``BYE``) is
logged in again and resumes from its checkpoints, after a backoff, a bounded number of times
in a row; a round that committed at least one batch resets that count (progress was made, so
the link works).  A refused LOGIN is never tried again here: the new LOGIN after a drop is
what tells "the password changed" from "the network failed" (see the engine's outcome table).

Pure: the waits come from tenacity's exponential backoff with jitter; the caller sleeps.
"""

from __future__ import annotations

from dataclasses import dataclass

from tenacity import RetryCallState, Retrying, wait_exponential_jitter

from pecsync.errors import LoginDeferred, TransientError


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
        self._wait = wait_exponential_jitter(initial=policy.initial_seconds,
                                             max=policy.max_seconds,
                                             jitter=policy.initial_seconds)

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
        state = RetryCallState(Retrying(), None, (), {})
        state.attempt_number = n
        return float(min(self._wait(state), self.policy.max_seconds))
