"""Every "wait, then try again" of pecsync, by name: one place for how often and how soon.

Each loop that tries something again runs on tenacity's :class:`~tenacity.AsyncRetrying`
built by :meth:`Policy.retrying`, under one of these named policies:

==================  ==========================================  =========  =================
policy              what is tried again                         tries      waits (n-th retry)
==================  ==========================================  =========  =================
``reconnect``       a mailbox's round after a lost IMAP link     [engine]   i·2^(n−1) + U(0,i)
                    (pecsync.sync.reconnect; the count resets    reconnect  ≤ max
                    when a round made progress)                  _attempts
``database busy``   a statement SQLite found locked past its     1 + 5      0.05 s × n
                    busy timeout, or PostgreSQL rolled back as
                    a deadlock or serialization failure
``database``        a statement whose connection to the state    for 60 s   0.25 s × 2^(n−1)
                    database was lost (server restarted): the               ≤ 5 s
                    pool reconnects; never a COMMIT in doubt
``write race``      a credential version another writer took     1 + 5      none
                    first (read again, compute again)
``folder race``     a SELECT that lost Dovecot's race to create  1 + 2      0.05 s × n
                    an ``auto`` folder (blocking: ``Retrying``)
``job backoff``     an attempt at a mailbox after a transient    [engine]   b/2 + U(0, b/2),
                    failure (``retry_wait``; ``copy`` waits in   max_       b = i·2^(n−1)
                    the foreground)                              attempts   ≤ max
==================  ==========================================  =========  =================

The waits are plain functions of the number of failures in a row (:meth:`Policy.delay`):
a job's backoff is written to the database as ``next_attempt_at`` and read by another
process, and the reconnect count resets on progress, so neither is tenacity's attempt
number.  A layer-1 module: store, sync and engine all use it.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    stop_any,
)
from tenacity.stop import stop_base

T = TypeVar("T")

#: Seconds to wait after *n* failures in a row (n ≥ 1).
Wait = Callable[[int], float]


def _no_wait(_: int) -> float:
    return 0.0


@dataclass(frozen=True)
class Policy:
    """A named way of trying again: at most *tries* tries in all (the first included;
    None: no limit by count), for at most *within* seconds from the first failure (None:
    no limit by time), waiting :meth:`delay` between two."""

    name: str
    tries: int | None
    wait: Wait = field(default=_no_wait, repr=False)
    within: float | None = None

    def delay(self, failures: int) -> float:
        """Seconds before the next try, after *failures* failures in a row (≥ 1)."""
        return float(self.wait(max(failures, 1)))

    def retrying(self, retry_on: Callable[[BaseException], bool], *,
                 stop: Callable[[RetryCallState], bool] | None = None,
                 wait: Callable[[RetryCallState], float] | None = None,
                 sleep: Callable[[float], Awaitable[None]] | None = None,
                 after: Callable[[RetryCallState], None] | None = None,
                 before_sleep: Callable[[RetryCallState], Any] | None = None
                 ) -> AsyncRetrying:
        """An :class:`~tenacity.AsyncRetrying` of this policy: an exception *retry_on*
        accepts is tried again while the policy allows, anything else (and the last
        failure) is raised as itself.  Use::

            async for attempt in DATABASE_BUSY.retrying(locked):
                with attempt:
                    await write()

        *stop*, *wait*, *sleep*, *after*, *before_sleep*: a loop with its own bookkeeping
        (the reconnect budget) replaces the policy's count, waits or sleep."""
        stops: list[stop_base] = []
        if self.tries is not None:
            stops.append(stop_after_attempt(self.tries))
        if self.within is not None:
            stops.append(stop_after_delay(self.within))
        chosen: Callable[[RetryCallState], bool] = (
            stop if stop is not None else stop_any(*stops) if stops else (lambda _: False))
        return AsyncRetrying(
            retry=retry_if_exception(retry_on),
            stop=chosen,
            wait=wait if wait is not None else (lambda rs: self.delay(rs.attempt_number)),
            sleep=sleep or anyio.sleep,
            after=after or (lambda _: None),
            before_sleep=before_sleep,
            reraise=True)


    async def run(self, call: Callable[[], Awaitable[T]],
                  retry_on: Callable[[BaseException], bool], *,
                  sleep: Callable[[float], Awaitable[None]] | None = None) -> T:
        """``await call()`` under this policy, the first try a plain ``await``: tenacity's
        loop is built only after a failure *retry_on* accepts.  The same tries and waits as
        :meth:`retrying` (the first failure waits ``delay(1)``, the loop then counts the
        tries left); for a statement of the state database, which runs several times per
        batch, building the loop cost 30 µs each time."""
        try:
            return await call()
        except BaseException as exc:
            if not retry_on(exc) or self.tries == 1:
                raise
        nap = sleep or anyio.sleep
        await nap(self.delay(1))
        rest = Policy(self.name, None if self.tries is None else self.tries - 1,
                      lambda n: self.wait(n + 1), self.within)
        async for attempt in rest.retrying(retry_on, sleep=nap):
            with attempt:
                return await call()
        raise AssertionError("unreachable: the last failure is raised as itself")

    def retrying_sync(self, retry_on: Callable[[BaseException], bool]) -> Retrying:
        """:meth:`retrying` for blocking code (the IMAP layer, in its worker thread)."""
        stops: list[stop_base] = []
        if self.tries is not None:
            stops.append(stop_after_attempt(self.tries))
        if self.within is not None:
            stops.append(stop_after_delay(self.within))
        return Retrying(retry=retry_if_exception(retry_on),
                        stop=stop_any(*stops) if stops else (lambda _: False),
                        wait=lambda rs: self.delay(rs.attempt_number), reraise=True)


def exponential_plus_jitter(initial: float, maximum: float) -> Wait:
    """``initial·2^(n−1)`` plus up to *initial* of jitter, never above *maximum*."""
    def wait(n: int) -> float:
        return float(min(maximum, initial * 2 ** (n - 1) + random.uniform(0, initial)))
    return wait


def equal_jitter(initial: float, maximum: float,
                 rng: random.Random | None = None) -> Wait:
    """Half of ``b = min(maximum, initial·2^(n−1))`` for sure, the other half at random:
    attempt 1 waits about *initial*, each further one doubles."""
    def wait(n: int) -> float:
        base = min(maximum, initial * 2 ** (n - 1))
        return float(base / 2 + (rng or random).uniform(0, base / 2))
    return wait


def linear(step: float) -> Wait:
    """``step × n``."""
    return lambda n: step * n


def capped_exponential(initial: float, maximum: float) -> Wait:
    """``initial·2^(n−1)``, never above *maximum*."""
    return lambda n: min(maximum, initial * 2 ** (n - 1))


def reconnect(attempts: int, initial_seconds: float, max_seconds: float) -> Policy:
    """``[engine] reconnect_attempts`` reconnects in a row without progress, waiting
    ``reconnect_initial_seconds``, doubling, up to ``reconnect_max_seconds``."""
    return Policy("reconnect", attempts + 1,
                  exponential_plus_jitter(initial_seconds, max_seconds))


#: A statement that found the database locked (SQLite: another process held the write lock
#: past the busy timeout) or rolled back as a deadlock (PostgreSQL): nothing was written.
DATABASE_BUSY = Policy("database busy", 6, linear(0.05))
#: A statement whose connection to the state database was lost: the database server was
#: restarted, or the network to it failed.  Tried again on a connection the pool makes anew,
#: for a minute; a transaction whose COMMIT was sent is never tried again (it may have been
#: written): the attempt ends and resumes from its checkpoints instead.
DATABASE = Policy("database", None, capped_exponential(0.25, 5.0), within=60.0)
#: A SELECT that lost Dovecot's race to create an ``auto`` folder (``NO [ALREADYEXISTS]``):
#: the folder is there now, open it again.
FOLDER_RACE = Policy("folder race", 3, linear(0.05))
#: A write that lost a race for a unique key (a credential's version number): read again
#: and compute again at once.
WRITE_RACE = Policy("write race", 6)


def job_backoff(max_attempts: int, initial_seconds: float, max_seconds: float,
                rng: random.Random | None = None) -> Policy:
    """``[engine] max_attempts`` attempts at a mailbox, waiting about
    ``retry_initial_seconds``, doubling, up to ``retry_max_seconds``."""
    return Policy("job backoff", max_attempts, equal_jitter(initial_seconds, max_seconds, rng))
