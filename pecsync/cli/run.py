"""``pecsync run``: every runnable mailbox of the list through the worker pool, with its
progress display and the two-stage stop (first signal drains, second aborts)."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections import Counter
from datetime import UTC, datetime

import anyio
import structlog

from pecsync import log as logsetup
from pecsync.cli.check import servers_ready
from pecsync.cli.common import job_reason, master_passwords, print_counts, unknown_order, vault_for
from pecsync.cli.invite import follow as campaign_follow
from pecsync.cli.progress import (
    PLAIN_EVERY,
    LiveArea,
    RateMeter,
    RunSnapshot,
    bytes_left,
    eta_text,
    run_lines,
)
from pecsync.config import Config
from pecsync.engine.breaker import CircuitBreaker
from pecsync.engine.fleet import budget_for, budget_kept
from pecsync.engine.pool import RunSummary, run_pool
from pecsync.engine.schedule import resync_cutoff
from pecsync.engine.worker import EngineEnv
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import JobState, JobStore
from pecsync.store.syncstate import iso

log = structlog.get_logger("pecsync.cli")


class _RunDisplay:
    """``run``'s progress: the live area on a terminal (see :mod:`pecsync.cli.progress`),
    a ``run_progress`` log event every PLAIN_EVERY seconds otherwise; nothing with ``-q``."""

    def __init__(self, env: EngineEnv, order: str | None, quiet: bool) -> None:
        self.env, self.order, self.quiet = env, order, quiet
        self.rate = RateMeter()
        self.snap = RunSnapshot(Counter())
        self.area = LiveArea(lambda w, h: run_lines(self.snap, w, h), enabled=not quiet)

    async def _sample(self) -> None:
        jobs = await self.env.jobs.jobs(self.order)
        self.snap = RunSnapshot(
            Counter(j.state.value for j in jobs), dict(self.env.live),
            self.rate.add(time.monotonic(), self.env.bytes_copied),
            bytes_left(jobs, self.env.live))

    async def run(self) -> None:
        if self.quiet:
            return
        if not self.area.enabled:  # no terminal: a log event now and then
            while True:
                await anyio.sleep(PLAIN_EVERY)
                await self._sample()
                s = self.snap.states
                log.info("run_progress", done=s[JobState.DONE], total=sum(s.values()),
                         running=s[JobState.RUNNING], pending=s[JobState.PENDING],
                         mb_per_s=round(self.snap.rate / 1e6, 2),
                         eta=eta_text(self.snap.left, self.snap.rate) or None)
        with self.area:
            while True:
                await self._sample()
                self.area.refresh()
                await anyio.sleep(1)


async def cmd_run(cfg: Config, args: argparse.Namespace) -> int:
    src_master, dst_master = master_passwords(cfg)
    vault = None
    if not (cfg.source.master_user and cfg.destination.master_user):
        vault = vault_for(cfg)
    workers = args.workers or cfg.engine.workers
    async with await CheckpointStore.open(cfg.state) as store:
        jobs = JobStore(store, vault)
        stop = {"requested": False}
        env = EngineEnv(cfg=cfg, store=store, jobs=jobs,
                        budget=budget_for(cfg, store),
                        src_master_password=src_master, dst_master_password=dst_master,
                        should_stop=lambda: stop["requested"],
                        breaker=CircuitBreaker(cfg, cfg.engine.breaker_failures))
        all_jobs = await jobs.jobs(args.order)
        if args.order and not all_jobs:
            everything = await jobs.jobs()
            if everything:
                raise unknown_order(args.order, everything)
        if not all_jobs:
            sys.stderr.write("pecsync run: no mailboxes" + (f" in order {args.order}"
                                                            if args.order else "")
                             + ": import a list first (pecsync import)\n")
            return 2
        refused = await servers_ready(cfg, all_jobs, src_master=src_master,
                                      dst_master=dst_master, follow=args.follow,
                                      wait=args.wait)
        if refused:
            return refused
        started = time.monotonic()
        summary: RunSummary | None = None
        async with anyio.create_task_group() as outer:
            async def signals() -> None:
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
                    async for signum in received:
                        if not stop["requested"]:
                            stop["requested"] = True
                            logsetup.SINK.write(f"pecsync run: {signal.Signals(signum).name}: "
                                                f"finishing the batches in flight, then "
                                                f"stopping (again to abort now)")
                            log.warning("stop_requested", signal=signal.Signals(signum).name)
                        else:
                            log.warning("abort_requested")
                            outer.cancel_scope.cancel()
                            return

            outer.start_soon(signals)
            display = _RunDisplay(env, args.order, quiet=args.quiet)
            outer.start_soon(display.run)
            if args.follow:  # invitation campaign: reminder waves as they fall due
                outer.start_soon(campaign_follow, cfg, store, args.order)
            once = datetime.now(UTC) if getattr(args, "resync", False) else None

            def resync_before() -> str | None:
                cutoff = resync_cutoff(datetime.now(UTC), every=cfg.resync_every,
                                       switch_at=cfg.switch_at, follow=args.follow,
                                       once_before=once)
                return iso(cutoff) if cutoff is not None else None

            async with budget_kept(env.budget):
                summary = await run_pool(
                    env, workers=workers, order=args.order, follow=args.follow,
                    resync_before=resync_before,
                    breaker_wait=max(cfg.engine.retry_initial_seconds, 1.0))
            outer.cancel_scope.cancel()
        # A Ctrl-C that arrives while we are already finishing must not kill the process
        # before it has reported (the work is saved either way).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if summary is None:  # aborted by a second signal
            states = Counter(j.state.value for j in await jobs.jobs(args.order))
            summary = RunSummary(states, 0, env.internal_errors)
        elapsed = time.monotonic() - started
        mb = env.bytes_copied / 1e6
        sys.stdout.write(f"run: {summary.jobs_run} job(s) run in {elapsed:.1f} s, {mb:.1f} MB "
                         f"copied ({mb / elapsed if elapsed else 0:.1f} MB/s) with {workers} "
                         f"worker(s)\n")
        print_counts(summary.states)
        for job in await jobs.jobs(args.order):
            if job.state not in (JobState.DONE, JobState.PENDING):
                sys.stdout.write(f"  {job.address}: {job.state.value}: {job_reason(job)}\n")
        if summary.breaker:
            for line in summary.breaker.splitlines():
                sys.stderr.write(f"pecsync run: stopped: {line}\n")
            log.error("breaker_tripped", reason=summary.breaker)
        log.info("run_finished", jobs_run=summary.jobs_run, exit_code=summary.exit_code,
                 **{k: v for k, v in summary.states.items()})
        return summary.exit_code
