"""``pecsync retry``: one mailbox again now, optionally with a new password checked by one
LOGIN first (the intake operation, as on the web page)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter

import structlog

from pecsync.cli.common import master_passwords, vault_for
from pecsync.cli.passwords import not_utf8, utf8_secret
from pecsync.config import Config
from pecsync.engine.fleet import budget_for, budget_kept
from pecsync.engine.outcome import next_step
from pecsync.engine.pool import EXIT_BLOCKED, EXIT_TRANSIENT, RunSummary
from pecsync.engine.worker import EngineEnv, run_job
from pecsync.errors import UsageError
from pecsync.intake.submit import Verdict, submit_credentials
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import JobState, JobStore, process_owner

log = structlog.get_logger("pecsync.cli")


_REFUSED = {
    Verdict.INVALID: "the source refused it (wrong address or password)",
    Verdict.TWO_FACTOR: "the source refused it: 2-step verification is on; the member must "
                        "switch it off at the old provider first",
    Verdict.UNAVAILABLE: "the source server could not be reached; try again later",
    Verdict.DEST_INVALID: "the destination refused the destination password",
}


async def cmd_retry(cfg: Config, args: argparse.Namespace) -> int:
    lines: list[str] = []
    if args.password_stdin or args.dest_password_stdin:
        try:
            lines = sys.stdin.read().splitlines()
        except UnicodeDecodeError:
            raise not_utf8("a password on standard input", args.address) from None
    wanted = int(args.password_stdin) + int(args.dest_password_stdin)
    if len(lines) < wanted or any(not line for line in lines[:wanted]):
        raise UsageError(f"expected {wanted} password line(s) on standard input")
    secrets = [utf8_secret(line, "a password on standard input", args.address)
               for line in lines[:wanted]]
    src_master, dst_master = master_passwords(cfg)
    vault = None
    if not (cfg.source.master_user and cfg.destination.master_user) or lines:
        vault = vault_for(cfg)
    async with await CheckpointStore.open(cfg.state) as store:
        jobs = JobStore(store, vault, lease_seconds=cfg.engine.lease_seconds)
        job = await jobs.job(args.address)
        if job is None:
            raise UsageError(f"mailbox {args.address} is not in the list: import it first")
        src_secret = secrets[0] if args.password_stdin else None
        dst_secret = secrets[-1] if args.dest_password_stdin else None
        if src_secret is not None:
            # The intake operation, as on the web page: one LOGIN checks the password and
            # only an accepted one is stored (a refused one would block the mailbox again).
            result = await submit_credentials(cfg, jobs, job, src_secret, source="stdin",
                                              dst=dst_secret)
            if result.verdict != Verdict.ACCEPTED:
                sys.stderr.write(f"pecsync retry: {job.address}: the new password was not "
                                 f"stored: {_REFUSED[result.verdict]}"
                                 + (f" ({result.response})" if result.response else "") + "\n")
                return (EXIT_TRANSIENT if result.verdict == Verdict.UNAVAILABLE
                        else EXIT_BLOCKED)
            job = result.job
        elif dst_secret is not None:
            await jobs.set_password(job, "dst", dst_secret, "stdin")
        env = EngineEnv(cfg=cfg, store=store, jobs=jobs,
                        budget=budget_for(cfg, store),
                        src_master_password=src_master, dst_master_password=dst_master)
        claimed = await jobs.claim(job, process_owner("retry "))
        if claimed is None:
            # Decided by the claim itself; this read only words the message.
            lease = await jobs.lease_holder(job)
            owner, until = lease.owner, lease.until
            saved = "; the new password is saved" if lines else ""
            sys.stderr.write(
                f"pecsync retry: mailbox {job.address} is being copied by another process "
                f"({owner or 'unknown'}, lease until {until or 'now'}): not started, two "
                f"copies of one mailbox must never run at once{saved}\n"
                f"  wait for that run to finish (`pecsync status`) or stop it, then retry; if "
                f"that process crashed, retry works once its lease has expired\n")
            log.warning("retry_refused_running", mailbox=job.address, owner=owner,
                        lease_until=until)
            return EXIT_TRANSIENT
        sys.stderr.write(f"retrying {job.address} (was {job.state.value}, "
                         f"{job.messages_copied} messages copied so far)\n")
        async with budget_kept(env.budget):
            outcome = await run_job(env, claimed, recheck=job.state == JobState.DONE)
        final = await jobs.job(job.address)
        assert final is not None
        sys.stdout.write(f"{final.address}: {final.state.value}"
                         + (f": {final.error_text}" if final.error_text else "") + "\n")
        step = next_step(final.state, final.address, final.error_class)
        if step and final.state != JobState.DONE and step not in (final.error_text or ""):
            sys.stdout.write(f"  next step: {step}\n")
        exceptions = int(final.state == JobState.DONE and final.skipped > 0)
        return RunSummary(Counter({outcome.state.value: 1}), 1, env.internal_errors,
                          exceptions).exit_code
