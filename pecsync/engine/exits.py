"""Exit codes: the one map every command uses (``copy`` and ``retry`` for one mailbox,
``run`` for many, and any command that ends on an error).

  0  everything asked for is done (and verified)
  1  blocked: needs operator or member action (wrong password, 2-step verification,
     destination full, verification mismatch, messages refused by the destination and
     kept in the quarantine)
  2  usage or configuration error
  3  transient failure remains (network, server unavailable): run again later
  4  internal error (a bug)
"""

from __future__ import annotations

from collections import Counter

from pecsync.errors import (
    AuthenticationFailed,
    ConfigError,
    DestinationFull,
    PecsyncError,
    StoreError,
    TransientError,
    TwoFactorRequired,
    UsageError,
)
from pecsync.store.jobs import BLOCKED_STATES, JobState

EXIT_OK, EXIT_BLOCKED, EXIT_USAGE, EXIT_TRANSIENT, EXIT_INTERNAL = 0, 1, 2, 3, 4

#: What a mailbox left in each state asks of the operator.
STATE_EXIT: dict[JobState, int] = {
    **{s: EXIT_BLOCKED for s in BLOCKED_STATES},
    JobState.FAILED: EXIT_BLOCKED,
    JobState.RETRY_WAIT: EXIT_TRANSIENT,
    JobState.PENDING: EXIT_TRANSIENT,
    JobState.RUNNING: EXIT_TRANSIENT,
    JobState.DONE: EXIT_OK,
}


def states_exit(states: Counter[str], *, exceptions: int = 0, internal_errors: int = 0,
                breaker: str | None = None) -> int:
    """The exit code of mailboxes left in *states* (state value → count).

    Order matters: a bug beats everything, a run stopped by the circuit breaker is transient
    whatever it left, anyone's action needed (a blocked or failed mailbox, or *exceptions*:
    done mailboxes with messages in the quarantine) beats work left for later.

    >>> states_exit(Counter({"done": 3, "retry_wait": 1, "blocked_2fa": 1}))
    1
    """
    if internal_errors:
        return EXIT_INTERNAL
    if breaker:
        return EXIT_TRANSIENT
    present = {JobState(s) for s, n in states.items() if n}
    codes = {STATE_EXIT[s] for s in present}
    if EXIT_BLOCKED in codes or exceptions:
        return EXIT_BLOCKED
    if EXIT_TRANSIENT in codes:
        return EXIT_TRANSIENT
    return EXIT_OK


def mailbox_exit(state: JobState, *, exceptions: bool = False) -> int:
    """The exit code of one mailbox left in *state* (``copy``): the same as a ``run`` that
    left only that mailbox."""
    return states_exit(Counter({state.value: 1}), exceptions=int(exceptions))


def error_exit(exc: PecsyncError) -> int:
    """The exit code of a command that ended on *exc*."""
    if isinstance(exc, (ConfigError, UsageError)):
        return EXIT_USAGE
    if isinstance(exc, TransientError):
        return EXIT_TRANSIENT
    if isinstance(exc, (AuthenticationFailed, TwoFactorRequired, DestinationFull)):
        return EXIT_BLOCKED
    if isinstance(exc, StoreError) or exc.kind == "vault":
        return EXIT_USAGE
    return EXIT_BLOCKED
