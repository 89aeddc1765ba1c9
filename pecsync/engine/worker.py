"""Run one job: claim → LOGIN → PLAN → COPY/VERIFY → FINISH (outcome persisted, shielded)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import structlog

from pecsync.config import Config
from pecsync.engine.breaker import Before, CircuitBreaker, ServerFailure, server_failure
from pecsync.engine.budget import HostBudget
from pecsync.engine.certify import write_certificate
from pecsync.engine.live import LiveMailbox
from pecsync.engine.outcome import NO_DEST_PASSWORD, Outcome, RetryPolicy, report_outcome
from pecsync.engine.schedule import sync_now
from pecsync.engine.settings import mailbox_settings
from pecsync.errors import LeaseLost
from pecsync.model import Credentials, MailboxReport, Secret
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import Job, JobState, JobStore
from pecsync.store.limits import ServerLimitStore
from pecsync.sync.context import Progress
from pecsync.sync.lanes import ConnectionSlots
from pecsync.sync.limits import ConnectionLimits
from pecsync.sync.mailbox import copy_mailbox
from pecsync.sync.memory import ByteBudget
from pecsync.sync.quarantine import Quarantine, quarantine_dir
from pecsync.sync.settings import MailboxSettings

log = structlog.get_logger("pecsync.worker")


@dataclass
class EngineEnv:
    """What every worker of a run shares."""

    cfg: Config
    store: CheckpointStore
    jobs: JobStore
    budget: HostBudget
    #: Master passwords (when [source]/[destination] master_user is set).
    src_master_password: Secret | None = None
    dst_master_password: Secret | None = None
    should_stop: Callable[[], bool] = lambda: False
    #: Message bytes in flight across every worker (``[engine] max_inflight_bytes``).
    memory: ByteBudget | None = None
    #: Live view for the progress display: job address → its folders being copied.
    live: dict[str, LiveMailbox] = field(default_factory=dict)
    bytes_copied: int = 0
    internal_errors: int = 0
    #: Stops a run when mailboxes keep failing to log in at one server (``run`` only).
    breaker: CircuitBreaker | None = None
    #: Jobs claimed from ``done`` for a re-sync (what the breaker puts them back to).
    resync_claims: set[int] = field(default_factory=set)
    #: What copying a mailbox needs of *cfg*, built once for the run.
    settings: MailboxSettings = field(init=False)
    #: Connection limits learned from the servers' refusals (loaded from the state database
    #: at the first job; on a shared database, merged again at each job).
    limits: ConnectionLimits | None = None

    def __post_init__(self) -> None:
        self.settings = mailbox_settings(self.cfg)


async def _learned_limits(env: EngineEnv) -> ConnectionLimits:
    """The run's connection limits, with those other hosts learned meanwhile."""
    if env.limits is None or env.store.shared:
        table = ServerLimitStore(env.store)
        known = await table.learned()
        if env.limits is None:
            env.limits = ConnectionLimits(known, persist=table.learn)
        else:
            env.limits.merge(known)
    return env.limits


#: Phases a mailbox flips between once per folder: not worth a transaction each.
_FOLDER_PHASES = frozenset({"copy", "verify"})
#: Seconds between two writes of a running job's counters while they change.
PROGRESS_SECONDS = 2.0


def heartbeat_seconds(lease_seconds: float) -> float:
    """How often a running job renews its lease: a quarter of it, so one lost renewal is
    harmless and a job whose renewals keep failing stops with half its lease left."""
    return lease_seconds / 4


class _JobProgress:
    """Keeps the job row's counters and phase fresh (at most every 2 s) and feeds the live
    view.  Every write renews the job's lease."""

    def __init__(self, env: EngineEnv, job: Job) -> None:
        self.env, self.job = env, job
        self.messages = job.messages_copied
        self.bytes = job.bytes_copied
        self.total = job.messages_total
        self.last_flush = 0.0
        #: When the lease was last written (the claim has just written it).
        self.renewed_at = time.monotonic()
        self.dirty = False
        self.phase_written = job.phase  # the claim wrote "login"
        #: Messages in the quarantine (the job row's ``skipped``), known at the end.
        self.skipped = job.skipped
        self.phase = job.phase

    async def on_phase(self, phase: str) -> None:
        """A new stage (login, plan, the first copy) is written at once: a job stuck there
        shows it.  The copy/verify flips of every folder ride with the heartbeat's next
        write (within PROGRESS_SECONDS, see _lease_kept)."""
        self.phase = phase
        if phase == self.phase_written:
            return
        if phase in _FOLDER_PHASES and self.phase_written in _FOLDER_PHASES:
            self.dirty = True
            return
        await self.env.jobs.set_phase(self.job, phase)
        self.phase_written = phase
        self.renewed_at = time.monotonic()

    def on_folder_planned(self, folder: str, todo: int, size: int) -> None:
        self.env.live.setdefault(self.job.address, LiveMailbox()).planned(folder, todo, size)

    def on_folder_batch(self, folder: str, messages: int, size: int) -> None:
        self.env.live.setdefault(self.job.address, LiveMailbox()).copied(folder, messages, size)

    def on_batch(self, messages: int, size: int) -> None:
        self.messages += messages
        self.bytes += size
        self.env.bytes_copied += size
        self.dirty = True

    async def flush(self, force: bool = False) -> None:
        """Write counters and phase if they changed and the last write is PROGRESS_SECONDS
        old, or now with *force*.  A failed write stays due."""
        started = time.monotonic()
        if not (self.dirty or force) or (not force
                                         and started - self.last_flush < PROGRESS_SECONDS):
            return
        self.last_flush = started
        self.dirty = False
        phase = self.phase
        try:
            await self.env.jobs.set_progress(self.job, messages_copied=self.messages,
                                             messages_total=max(self.total, self.messages),
                                             bytes_copied=self.bytes, bytes_total=self.bytes,
                                             skipped=self.skipped, phase=phase)
        except BaseException:
            self.dirty = True
            self.last_flush = 0.0
            raise
        self.renewed_at = started
        self.phase_written = phase


@asynccontextmanager
async def _lease_kept(progress: _JobProgress, bound: Any) -> AsyncIterator[None]:
    """While the body runs, renew the job's lease every heartbeat_seconds(its lease) and write
    its counters when they change (every PROGRESS_SECONDS): a copy longer than the lease never
    looks abandoned, so no other process resets or claims the job meanwhile.

    A failed renewal is logged and tried again at the next beat.  When renewals have failed
    for half a lease, the body is stopped and the store error raised: past the lease another
    process may take the job over, and copying on would copy the mailbox twice."""
    failed: list[Exception] = []
    lease = progress.env.jobs.lease_seconds
    interval = heartbeat_seconds(lease)

    async def beat(scope: anyio.CancelScope) -> None:
        while True:
            await anyio.sleep(min(PROGRESS_SECONDS, interval))
            due = time.monotonic() - progress.renewed_at >= interval
            try:
                await progress.flush(force=due)
            except LeaseLost as exc:
                # Stalled past the lease (suspended, stopped): another process took the job
                # over, and this guarded write found no row of ours.  A copying job writes
                # every 2 s, so the copy stops within seconds of the process waking up.
                bound.error("lease_lost", hint="another process runs this mailbox now; "
                                               "this copy stops and writes nothing more")
                failed.append(exc)
                scope.cancel()
                return
            except Exception as exc:
                late = time.monotonic() - progress.renewed_at
                bound.warning("lease_renewal_failed", error=str(exc),
                              seconds_since_renewal=round(late, 1))
                if late >= lease / 2:
                    bound.error("lease_renewal_given_up", error=str(exc))
                    failed.append(exc)
                    scope.cancel()
                    return

    error: BaseException | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(beat, tg.cancel_scope)
        try:
            yield
        except BaseException as exc:
            if isinstance(exc, anyio.get_cancelled_exc_class()):
                raise
            # Raised below as itself: through the task group it would become a group.
            error = exc
        finally:
            tg.cancel_scope.cancel()
    if failed:  # whatever stopping the body raised, the cause is the store
        raise failed[0] from None
    if error is not None:
        raise error


async def attempt_mailbox(settings: MailboxSettings, store: CheckpointStore, src: Credentials,
                          dst: Credentials, *, address: str, quarantine: Quarantine,
                          progress: Progress, verify: bool,
                          memory: ByteBudget | None = None,
                          slots: ConnectionSlots | None = None,
                          recheck: bool = False,
                          limits: ConnectionLimits | None = None
                          ) -> tuple[MailboxReport, Outcome]:
    """One attempt at one mailbox, the same for a job of ``run``/``retry`` and for ``copy``:
    copy every folder from its checkpoints (messages the destination refuses go to
    *quarantine*, the one of *address*), bring flags in step, verify when *verify*, and the
    state that leaves the mailbox in (``done``, or ``failed`` when a copy differs).  A
    failure on the way is raised: the caller classifies it under its :class:`RetryPolicy`.

    *memory*, *slots*: shared by the mailboxes of a run (default: this mailbox's own);
    *recheck*: verify every recorded copy again, not only the unverified ones."""
    report = await copy_mailbox(settings, store, src, dst, verify=verify, progress=progress,
                                memory=memory, slots=slots, sync_flags=True,
                                quarantine=quarantine, recheck=recheck, limits=limits)
    return report, report_outcome(report, address)


def _finish_event(job: Job, state: JobState) -> str:
    """``resynced``: a mailbox done before is done again (a re-sync, or a retry of it)."""
    if state != JobState.DONE:
        return "stopped"
    return "resynced" if job.finished_at else "finished"


async def run_job(env: EngineEnv, job: Job, *, recheck: bool = False,
                  on_copied: Callable[[], None] | None = None) -> Outcome:
    """Run a claimed job to its next state and persist that state (even when cancelled).

    *recheck* (``retry`` of a done mailbox): verify every recorded copy again first and copy
    again what is missing or changed on the destination, before a new certificate.
    *on_copied*: called when every folder is copied and only reading back is left (the pool
    then starts the next mailbox, see pecsync.engine.pool)."""
    jobs = env.jobs
    cfg = env.cfg
    bound = log.bind(mailbox=job.address, order=job.order, attempt=job.attempts)
    started = time.monotonic()
    sync_started = sync_now()  # mail up to this moment is on the destination once this ends done
    creds = await jobs.credentials(job)
    src_pw = env.src_master_password if cfg.source.master_user else creds.src
    dst_pw = env.dst_master_password if cfg.destination.master_user else creds.dst
    if src_pw is None or dst_pw is None:
        missing = "source" if src_pw is None else "destination"
        outcome = Outcome(JobState.WAITING_CREDENTIALS,
                          "no_credentials" if src_pw is None else NO_DEST_PASSWORD,
                          f"no {missing} password yet")
        with anyio.CancelScope(shield=True):
            await jobs.finish(job, outcome.state, error_class=outcome.error_class,
                              error_text=outcome.error_text, event="waiting")
        return outcome
    src = Credentials(job.src_user, src_pw, cfg.source.master_user)
    dst = Credentials(job.dst_user, dst_pw, cfg.destination.master_user)
    progress = _JobProgress(env, job)

    #: This source password has logged in (before this attempt, or in it): a later refusal
    #: of it (the LOGIN after a dropped connection) means it was changed or it expired.
    src_worked = [creds.src_logged_in]

    async def on_login(side: str) -> None:
        if env.breaker is not None:
            env.breaker.succeeded("source" if side == "src" else "destination")
        if side == "src" and not cfg.source.master_user:
            src_worked[0] = True
            await jobs.mark_logged_in(job, "src", creds.src_version)

    hooks = Progress(on_folder_planned=progress.on_folder_planned,
                     on_folder_batch=progress.on_folder_batch, on_batch=progress.on_batch,
                     on_phase=progress.on_phase, on_login=on_login, should_stop=env.should_stop,
                     on_copied=on_copied)
    report: MailboxReport | None = None
    failure: ServerFailure | None = None
    try:
        hosts = ((cfg.source.host, cfg.source.port),
                 (cfg.destination.host, cfg.destination.port))
        # The lease is kept from the wait for connections to the end of the copy.
        async with _lease_kept(progress, bound), env.budget.connections(*hosts):
            if env.memory is None:
                env.memory = ByteBudget(cfg.engine.max_inflight_bytes)
            report, outcome = await attempt_mailbox(
                env.settings, env.store, src, dst, address=job.address, progress=hooks,
                quarantine=Quarantine(quarantine_dir(cfg.database, job.address)),
                verify=cfg.engine.verify, memory=env.memory, slots=env.budget.slots(*hosts),
                recheck=recheck, limits=await _learned_limits(env))
    except anyio.get_cancelled_exc_class():
        with anyio.CancelScope(shield=True):
            await jobs.finish(job, JobState.PENDING, error_class="interrupted",
                              error_text="aborted by the operator; resumes next run",
                              event="aborted")
        raise
    except Exception as exc:
        outcome = RetryPolicy.for_jobs(cfg.engine).classify(
            exc, credential_worked_before=src_worked[0], address=job.address,
            attempts=job.attempts)
        if outcome.error_class == "internal":
            env.internal_errors += 1
            bound.exception("job_internal_error")
        failure = server_failure(exc, progress.phase)
    with anyio.CancelScope(shield=True):
        if report is not None:
            progress.messages = max(progress.messages, report.src_messages - report.skipped)
            progress.total = report.src_messages
            progress.skipped = report.skipped
        try:
            await progress.flush(force=True)
        except LeaseLost:
            ended = False  # nothing of this run is written over the new owner's
        else:
            ended = await jobs.finish(job, outcome.state, error_class=outcome.error_class,
                                      error_text=outcome.error_text,
                                      next_attempt_at=outcome.next_attempt_at,
                                      event=_finish_event(job, outcome.state),
                                      synced_at=sync_started if outcome.state == JobState.DONE
                                      else None, counted=outcome.counted)
        if not ended:  # the lease was lost: the job is another process's now
            bound.warning("job_left_to_its_new_owner", state=outcome.state.value)
        elif outcome.state == JobState.DONE:
            done_job = await jobs.job(job.address)
            # A certificate only from a verification: this attempt checked every copy it
            # made (and, on a re-check, every copy) against the source.
            if done_job is not None and cfg.engine.verify:
                await write_certificate(env.store, cfg, done_job.src_user, done_job.dst_user,
                                        address=done_job.address, job=done_job)
        if ended and outcome.state == JobState.DONE and cfg.purge_after_done:
            # Verified: the member's password is no longer needed; keep no copy of it.
            await jobs.purge_job_credentials(job)
        if ended and failure is not None and env.breaker is not None:
            await _breaker_counts(env, job, failure)
    env.live.pop(job.address, None)
    level = "info" if outcome.state in (JobState.DONE, JobState.PENDING) else "warning"
    getattr(bound, level)("job_finished", state=outcome.state.value,
                          reason=outcome.error_text, seconds=round(time.monotonic() - started, 2),
                          copied=report.copied if report else None)
    return outcome


async def _breaker_counts(env: EngineEnv, job: Job, failure: ServerFailure) -> None:
    """Count a server-level failure; when the breaker trips (or has tripped), put the
    mailboxes it concerns back as they were before their claim: the server's configuration
    failed, not their passwords (no ``blocked_*``, no notice, no attempt spent)."""
    assert env.breaker is not None
    restore = env.breaker.failed(failure, job,
                                 Before.of(job, was_done=job.id in env.resync_claims))
    if not restore:
        return
    reason = env.breaker.message()
    for victim, before in restore:
        put_back = await env.jobs.restore(victim, state=before.state, attempts=before.attempts,
                                          error_class=before.error_class,
                                          error_text=before.error_text,
                                          next_attempt_at=before.next_attempt_at,
                                          reason=reason)
        log.warning("breaker_restored", mailbox=victim.address, state=before.state.value,
                    restored=put_back)
