"""The worker pool: N workers claim runnable jobs until none can progress without a person
(every job done, blocked or failed; jobs in ``retry_wait`` are waited for), or forever with
follow.

N is the number of mailboxes *copied* at once: a worker holds one of N places from its claim
until its mailbox's folders are all copied (or about one second of copying is left:
``HAND_OVER_AHEAD_S`` in :mod:`pecsync.sync.lanes`), then hands the place over
(``on_copied``) while it reads the last copies back and records the outcome; another worker
(there are twice N) claims the next mailbox meanwhile.  Over a link the read-back of the last
batches took a second or more, and the next mailbox started only after it, with the link half
idle; and its login and plan after the last batch left the source idle for about a second
(issue 26).  The connection budget still bounds the connections of all of them.

Stopping (docs/design/architecture.md §6, procrastinate's two stages): the first request
makes every worker stop after the batch in flight (checkpoints recorded, job back to
``pending``); cancelling the task group aborts at once, which the intent protocol makes safe
too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
import structlog

from pecsync.engine.breaker import UNREACHABLE
from pecsync.engine.exits import EXIT_BLOCKED, EXIT_INTERNAL, EXIT_OK, EXIT_TRANSIENT, states_exit
from pecsync.engine.worker import EngineEnv, run_job
from pecsync.store.jobs import JobState, process_owner

log = structlog.get_logger("pecsync.pool")

__all__ = ["EXIT_BLOCKED", "EXIT_INTERNAL", "EXIT_OK", "EXIT_TRANSIENT", "RunSummary",
           "run_pool"]


@dataclass
class RunSummary:
    states: Counter[str]
    jobs_run: int
    internal_errors: int
    #: Done jobs with messages in the quarantine ("done with exceptions").
    exceptions: int = 0
    #: Why the circuit breaker stopped the run (pecsync.engine.breaker), if it did.
    breaker: str | None = None

    @property
    def exit_code(self) -> int:
        """0 all done, 1 blocked on someone's action (or failed), 3 transient failures remain
        (or work left after a stop, or the circuit breaker stopped the run), 4 internal
        error: the map of :mod:`pecsync.engine.exits`, shared with ``copy``."""
        return states_exit(self.states, exceptions=self.exceptions,
                           internal_errors=self.internal_errors, breaker=self.breaker)


@asynccontextmanager
async def _place(places: anyio.Semaphore) -> AsyncIterator[Callable[[], None]]:
    """One of the pool's places, held from here; the function given back hands it over
    (once: later calls do nothing), and leaving hands it over too."""
    await places.acquire()
    held = True

    def hand_over() -> None:
        nonlocal held
        if held:
            held = False
            places.release()

    try:
        yield hand_over
    finally:
        hand_over()


async def run_pool(env: EngineEnv, *, workers: int, order: str | None = None,
                   follow: bool = False, poll_seconds: float | None = None,
                   resync_before: Callable[[], str | None] | None = None,
                   breaker_wait: float = 60.0) -> RunSummary:
    """Run jobs until none is runnable (or, with *follow*, until stopped).

    *poll_seconds*: how long an idle worker waits before looking again when nothing wakes
    it (default: the backend's; PostgreSQL wakes idle workers by NOTIFY).  *resync_before*:
    when nothing else is runnable, ``done`` jobs whose last sync started before the time it
    returns (ISO, UTC) are re-synced (pecsync.engine.schedule).  When the circuit breaker
    (``env.breaker``) trips, no new job is claimed and the run ends; with *follow*, a server
    that could not be reached is tried again after *breaker_wait* seconds."""
    if poll_seconds is None:
        poll_seconds = env.store.idle_poll_seconds
    await env.jobs.recover_stale()
    owner = process_owner()
    busy = 0
    idle = 0  # workers that found no job to claim (they look again later)
    places = anyio.Semaphore(workers)  # mailboxes being copied at once (see the docstring)
    ran = 0
    lanes = env.settings.engine.folders_in_parallel

    def keep_for_workers() -> None:
        # Connections for the workers that run or may still claim a mailbox; the idle ones'
        # share may go to the running mailboxes' lanes (pecsync.engine.budget.HostBudget.spare).
        env.budget.keep_for_workers(workers - idle, lanes)

    keep_for_workers()
    # Set when a job ends: an idle worker then looks again at once (the run ends, or the
    # job went back to a state another worker may claim) instead of at its next poll.
    job_ended = anyio.Event()

    async def seconds_to_next_retry() -> float | None:
        wake = await env.jobs.next_wakeup(order)
        if not wake:
            return None
        return max(0.0, (datetime.fromisoformat(wake) - datetime.now(UTC)).total_seconds())

    async def idle_wait(limit: float | None = None) -> None:
        due = await seconds_to_next_retry()
        delay = poll_seconds if due is None else max(0.05, min(poll_seconds, due))
        if limit is not None:
            delay = min(delay, limit)
        async with anyio.create_task_group() as tg:
            async def woken(wait: Callable[[], Awaitable[object]]) -> None:
                await wait()
                tg.cancel_scope.cancel()

            with anyio.move_on_after(delay):
                tg.start_soon(woken, job_ended.wait)
                # A job made runnable by another process (PostgreSQL: NOTIFY; SQLite: sleeps).
                tg.start_soon(woken, lambda: env.store.wait_for_work(delay))
                await anyio.sleep_forever()
            tg.cancel_scope.cancel()

    async def others_running() -> bool:
        """On a shared database, jobs other processes run (their hosts may die: this run
        then takes them over when their leases expire, see recover_stale)."""
        if not env.store.shared:
            return False
        return await env.jobs.count_running(order) > busy

    async def breaker_holds() -> bool:
        """False when the circuit breaker has tripped and this worker must stop claiming.
        With follow, a server that could not be reached is tried again after a wait."""
        breaker = env.breaker
        if breaker is None or not breaker.open:
            return True
        if not follow or breaker.kind != UNREACHABLE:
            return False
        log.warning("breaker_waiting", seconds=breaker_wait, reason=breaker.message())
        with anyio.move_on_after(breaker_wait):
            while not env.should_stop():
                await anyio.sleep(min(poll_seconds, breaker_wait))
        breaker.reset()
        return not env.should_stop()

    waiting_logged: str | None = None  # the retry time last announced in the log

    async def worker(n: int) -> None:
        nonlocal busy, idle, ran, job_ended, waiting_logged
        is_idle = False

        def set_idle(now: bool) -> None:
            nonlocal idle, is_idle
            if now != is_idle:
                is_idle = now
                idle += 1 if now else -1
                keep_for_workers()

        try:
            await work_loop(n, set_idle)
        finally:
            set_idle(True)  # a worker that ended starts no mailbox any more

    async def work_loop(n: int, set_idle: Callable[[bool], None]) -> None:
        while not env.should_stop():
            async with _place(places) as hand_over:
                if not await one_claim(n, set_idle, hand_over):
                    return

    async def one_claim(n: int, set_idle: Callable[[bool], None],
                        hand_over: Callable[[], None]) -> bool:
        """Claim a job and run it, or wait when none is runnable; False: this worker ends."""
        nonlocal busy, ran, job_ended, waiting_logged
        if env.should_stop():
            # A stop came while this worker waited for a place: claim nothing (a job claimed
            # now would be cut by a second Ctrl-C before its outcome could be recorded).
            return False
        if not await breaker_holds():
            return False
        job = await env.jobs.claim_next(owner, order)
        if job is None and resync_before is not None:
            cutoff = resync_before()
            if cutoff is not None:
                job = await env.jobs.claim_resync(owner, order, cutoff)
                if job is not None:  # claimed from `done` (the breaker puts it back there)
                    env.resync_claims.add(job.id)
        set_idle(job is None)
        if job is None:
            hand_over()  # no place held while waiting
            if follow or busy:
                await idle_wait()
                return True
            # Nothing runnable and nobody busy.  A job in retry_wait can still progress
            # without a person: wait for its time (the operator may stop the run
            # meanwhile).  On a shared database, jobs other processes run may still end
            # in retry_wait or be left by a dead host: wait for them too (expired leases
            # go back to pending here).  Otherwise every job is done, blocked or failed:
            # the run ends.
            wake = await env.jobs.next_wakeup(order)
            if not wake:
                if await others_running():
                    await idle_wait(limit=max(1.0, env.jobs.lease_seconds / 4))
                    await env.jobs.recover_stale()
                    return True
                return False
            if wake != waiting_logged:
                waiting_logged = wake
                log.info("waiting_for_retry", at=wake, hint="jobs in retry_wait are taken up "
                         "again when due; Ctrl-C stops the run (they resume next run)")
            await idle_wait()
            return True
        busy += 1
        ran += 1
        try:
            log.info("job_claimed", mailbox=job.address, order=job.order, worker=n,
                     attempt=job.attempts)
            await run_job(env, job, on_copied=hand_over)
        finally:
            env.resync_claims.discard(job.id)
            busy -= 1
            job_ended.set()
            job_ended = anyio.Event()
        return True

    async with anyio.create_task_group() as tg:
        for n in range(2 * workers):  # N copying, N reading back (see the docstring)
            tg.start_soon(worker, n)
    listed = await env.jobs.jobs(order)
    states = Counter(j.state.value for j in listed)
    exceptions = sum(1 for j in listed if j.state == JobState.DONE and j.skipped)
    tripped = env.breaker.message() if env.breaker is not None and env.breaker.open else None
    return RunSummary(states, ran, env.internal_errors, exceptions, tripped)
