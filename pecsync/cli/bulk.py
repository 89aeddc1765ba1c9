"""Bulk commands: import, run, retry, status, and key management."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import structlog

from pecsync import log as logsetup
from pecsync.cli.check import servers_ready
from pecsync.cli.passwords import not_utf8, read_password, utf8_secret
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
from pecsync.engine.outcome import next_step, with_next_step
from pecsync.engine.pool import EXIT_BLOCKED, EXIT_TRANSIENT, RunSummary, run_pool
from pecsync.engine.schedule import final_sync_done, resync_cutoff
from pecsync.engine.worker import EngineEnv, run_job
from pecsync.errors import PecsyncError, UsageError
from pecsync.intake.mailbox_list import parse_mailbox_list
from pecsync.intake.submit import Verdict, submit_credentials
from pecsync.model import Secret
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.intake import IntakeRequest, IntakeStore
from pecsync.store.jobs import CredentialOrigin, Job, JobState, JobStore, process_owner
from pecsync.store.keys import reencrypt_credentials
from pecsync.store.syncstate import JobSync, SyncStore, iso
from pecsync.vault import Vault, load_key, write_key_file

log = structlog.get_logger("pecsync.cli")
STATES = [s.value for s in JobState]


def _vault(cfg: Config) -> Vault:
    return Vault(load_key(cfg.key_file))


def _masters(cfg: Config) -> tuple[Secret | None, Secret | None]:
    src = dst = None
    if cfg.source.master_user:
        src = read_password(env="PECSYNC_SOURCE_PASSWORD", file=None,
                            prompt=f"Source master password ({cfg.source.master_user}): ",
                            what="source master user")
    if cfg.destination.master_user:
        dst = read_password(env="PECSYNC_DEST_PASSWORD", file=None,
                            prompt=f"Destination master password "
                                   f"({cfg.destination.master_user}): ",
                            what="destination master user")
    return src, dst


def unknown_order(order: str, jobs: list[Job]) -> UsageError:
    """``--order`` names no order of the list: say so and list the known ones (exit 2)."""
    known = sorted({j.order for j in jobs})
    listed = ", ".join(repr(o) for o in known) if known else "none (import a list first)"
    return UsageError(f"unknown order {order!r}: the orders in the list are {listed}")


async def stored_dest_password(cfg: Config, address: str, dst_user: str) -> Secret | None:
    """The destination password stored for *address* (a mailbox of the list), when it is
    there, its destination user is *dst_user* and the key opens it; None otherwise (the
    caller then asks for ``$PECSYNC_DEST_PASSWORD``)."""
    if not cfg.state_exists():
        return None
    try:
        vault = _vault(cfg)
    except PecsyncError:
        return None
    async with await CheckpointStore.open(cfg.state) as store:
        jobs = JobStore(store, vault)
        job = await jobs.job(address)
        if job is None or job.dst_user != dst_user:
            return None
        return (await jobs.credentials(job)).dst


# --- import ----------------------------------------------------------------------------
async def cmd_import(cfg: Config, args: argparse.Namespace) -> int:
    parsed = parse_mailbox_list(Path(args.csv))
    for err in parsed.errors:
        sys.stderr.write(f"{err}\n")
    if parsed.errors and not parsed.rows:
        # The file as a whole (encoding, header, separator) or every row is wrong: no row
        # can be imported, so --skip-invalid would not help.
        sys.stderr.write(f"pecsync import: {args.csv}: nothing imported: fix the file as "
                         f"said above\n")
        return 2
    if parsed.errors and not args.skip_invalid:
        sys.stderr.write(f"pecsync import: {len(parsed.errors)} problem(s) in {args.csv}: "
                         f"nothing imported (fix them, or use --skip-invalid to import the "
                         f"valid rows)\n")
        return 2
    if not parsed.rows:
        sys.stderr.write(f"pecsync import: {args.csv}: no valid rows\n")
        return 2
    vault = _vault(cfg)
    async with await CheckpointStore.open(cfg.state) as store:
        out = await JobStore(store, vault).import_rows(
            parsed.rows, src_master=bool(cfg.source.master_user),
            dst_master=bool(cfg.destination.master_user))
    sys.stdout.write(f"imported {args.csv}: {len(out.added)} added, {len(out.new_credentials)} "
                     f"with new credentials ({len(out.requeued)} re-queued), "
                     f"{len(out.unchanged)} unchanged"
                     + (f", {len(parsed.errors)} invalid row(s) skipped" if parsed.errors
                        else "") + "\n")
    for address in out.requeued:
        sys.stdout.write(f"  re-queued: {address}\n")
    log.info("list_imported", file=args.csv, added=len(out.added), requeued=len(out.requeued),
             new_credentials=len(out.new_credentials), unchanged=len(out.unchanged),
             invalid=len(parsed.errors))
    return 0


# --- run ---------------------------------------------------------------------------------
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
    src_master, dst_master = _masters(cfg)
    vault = None
    if not (cfg.source.master_user and cfg.destination.master_user):
        vault = _vault(cfg)
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
                                      dst_master=dst_master, follow=args.follow)
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
        _print_counts(summary.states)
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


def job_reason(job: Job) -> str:
    """Why a mailbox is where it is: the recorded reason, else the next step for its state,
    else the state itself; never an empty string."""
    if job.error_text and job.error_text.strip():
        return job.error_text.strip()
    step = next_step(job.state, job.address, job.error_class)
    return f"next step: {step}" if step else job.state.value.replace("_", " ")


def _print_counts(states: Counter[str]) -> None:
    parts = [f"{s} {states[s]}" for s in STATES if states[s]]
    sys.stdout.write("  " + (", ".join(parts) or "no mailboxes") + "\n")


# --- retry -------------------------------------------------------------------------------
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
    src_master, dst_master = _masters(cfg)
    vault = None
    if not (cfg.source.master_user and cfg.destination.master_user) or lines:
        vault = _vault(cfg)
    async with await CheckpointStore.open(cfg.state) as store:
        jobs = JobStore(store, vault)
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


# --- status ------------------------------------------------------------------------------
def _mailbox_json(job: Job, origins: dict[tuple[int, str], CredentialOrigin]
                  ) -> dict[str, Any]:
    src = origins.get((job.id, "src"))
    dst = origins.get((job.id, "dst"))
    reason = with_next_step(job.state, job.address, job.error_text, job.error_class)
    return {"address": job.address, "order": job.order, "state": job.state.value,
            "phase": job.phase, "reason": reason, "messages_copied": job.messages_copied,
            "messages_total": job.messages_total, "bytes_copied": job.bytes_copied,
            "bytes_total": job.bytes_total, "attempts": job.attempts,
            # Messages refused by the destination and kept in the quarantine: a done mailbox
            # with quarantined > 0 is "done with exceptions" (README "Job states").
            "quarantined": job.skipped,
            "updated_at": job.updated_at,
            # Where the current password came from (csv, web, stdin) and when it was stored.
            "credential_source": src.source if src else None,
            "credential_at": src.at if src else None,
            "dest_credential_source": dst.source if dst else None,
            "dest_credential_at": dst.at if dst else None}


def _sync_json(doc: dict[str, Any], jobs: list[Job], syncs: dict[str, JobSync],
               switch_at: datetime | None) -> None:
    """Re-sync keys of ``status --json``: per mailbox ``last_synced_at``, ``final_sync_done``,
    ``deleted_at_source``; per order ``missing_final_sync`` (null without ``switch_at``)."""
    done: dict[str, bool] = {}
    for m in doc["mailboxes"]:
        sync = syncs.get(m["address"])
        m["last_synced_at"] = sync.last_synced_at if sync else None
        m["final_sync_done"] = done[m["address"]] = final_sync_done(m["last_synced_at"],
                                                                    switch_at)
        m["deleted_at_source"] = sync.deleted_at_source if sync else 0
    doc["switch_at"] = switch_at.isoformat() if switch_at else None
    for order in doc["orders"]:
        members = [j.address for j in jobs if j.order == order["order"]]
        order["missing_final_sync"] = (sum(1 for a in members if not done[a])
                                       if switch_at else None)


def status_document(jobs: list[Job],
                    origins: dict[tuple[int, str], CredentialOrigin] | None = None,
                    requests: list[IntakeRequest] | None = None, *,
                    syncs: dict[str, JobSync] | None = None,
                    switch_at: datetime | None = None) -> dict[str, Any]:
    """The ``status --json`` shape (documented in the README)."""
    origins = origins or {}
    requests = requests or []
    def totals(js: list[Job]) -> dict[str, int]:
        c = Counter(j.state.value for j in js)
        return {s: c[s] for s in STATES}

    orders: dict[str, list[Job]] = {}
    for j in jobs:
        orders.setdefault(j.order, []).append(j)
    doc: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "totals": totals(jobs),
        "done_with_exceptions": sum(1 for j in jobs if j.state == JobState.DONE and j.skipped),
        "orders": [{"order": name, "totals": totals(js), "mailboxes": len(js),
                    "messages_copied": sum(j.messages_copied for j in js),
                    "messages_total": sum(j.messages_total for j in js),
                    "bytes_copied": sum(j.bytes_copied for j in js),
                    "bytes_total": sum(j.bytes_total for j in js),
                    "quarantined": sum(j.skipped for j in js)}
                   for name, js in sorted(orders.items())],
        "mailboxes": [_mailbox_json(j, origins) for j in jobs],
        # Addresses members asked for on the intake page that are not in the list ("late
        # additions"): add them to the list and re-import.
        "intake_requests": {
            "count": len(requests),
            "addresses": [{"address": r.address, "order": r.order, "requests": r.count,
                           "first_at": r.first_at, "last_at": r.last_at} for r in requests]},
    }
    _sync_json(doc, jobs, syncs or {}, switch_at)
    return doc


async def cmd_status(cfg: Config, args: argparse.Namespace) -> int:
    if not cfg.state_exists():
        raise UsageError(f"{cfg.database}: no state database yet: import a list first")
    async with await CheckpointStore.open(cfg.state) as store:
        job_store = JobStore(store, None)
        jobs = await job_store.jobs(args.order)
        if args.order and not jobs:
            raise unknown_order(args.order, await job_store.jobs())
        origins = await job_store.credential_sources()
        requests = await IntakeStore(store).requests()
        syncs = await SyncStore(store).job_syncs(args.order)
    if args.order:
        requests = [r for r in requests if r.order in (None, args.order)]
    doc = status_document(jobs, origins, requests, syncs=syncs, switch_at=cfg.switch_at)
    if args.json:
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        return 0
    for order in doc["orders"]:
        t = order["totals"]
        sys.stdout.write(f"{order['order']}: {order['mailboxes']} mailboxes, "
                         f"{order['messages_copied']}/{order['messages_total']} messages, "
                         f"{order['bytes_copied'] / 1e6:.1f} MB\n")
        _print_counts(Counter(t))
        if order["missing_final_sync"] is not None:
            sys.stdout.write(f"  final sync after the switch ({doc['switch_at']}): "
                             f"{order['mailboxes'] - order['missing_final_sync']} done, "
                             f"{order['missing_final_sync']} missing\n")
    sys.stdout.write("all orders:\n")
    _print_counts(Counter(doc["totals"]))
    attention = [m for m in doc["mailboxes"] if m["state"] not in ("done", "pending", "running")
                 or m["quarantined"]]
    if doc["done_with_exceptions"]:
        sys.stdout.write(f"done with exceptions (messages in quarantine): "
                         f"{doc['done_with_exceptions']}\n")
    if attention:
        sys.stdout.write("needs attention:\n")
        for m in attention:
            sys.stdout.write(f"  {m['address']} ({m['order']}): {m['state']}: {m['reason']}"
                             + _credential_note(m) + "\n")
    sources = Counter(m["credential_source"] or "none" for m in doc["mailboxes"])
    sys.stdout.write("passwords from: " + ", ".join(f"{k} {v}" for k, v in sorted(
        sources.items())) + "\n")
    late = doc["intake_requests"]
    if late["count"]:
        sys.stdout.write(f"late additions (asked for on the intake page, not in the list): "
                         f"{late['count']} — add them to the list and re-import\n")
        for r in late["addresses"]:
            sys.stdout.write(f"  {r['address']}" + (f" ({r['order']})" if r["order"] else "")
                             + f": {r['requests']} request(s), last {r['last_at']}\n")
    return 0


def _credential_note(m: dict[str, Any]) -> str:
    if not m["credential_source"]:
        return ""
    return f" [password from {m['credential_source']}, {m['credential_at']}]"


# --- keys and credentials ------------------------------------------------------------------
async def cmd_init_key(cfg: Config, args: argparse.Namespace) -> int:
    if cfg.key_file is None:
        raise UsageError(f"{cfg.path}: [state] key_file is not set: add key_file = "
                         f"\"pecsync.key\" (or use $PECSYNC_KEY)")
    write_key_file(cfg.key_file)
    sys.stdout.write(f"created {cfg.key_file} (mode 0600): back it up apart from the "
                     f"database\n")
    return 0


async def cmd_purge(cfg: Config, args: argparse.Namespace) -> int:
    async with await CheckpointStore.open(cfg.state) as store:
        await JobStore(store, None).purge_credentials(only_done=args.done)
        compacted = await store.compact()
    sys.stdout.write("stored passwords erased" + (" for verified mailboxes" if args.done
                                                  else "") + "\n")
    if not compacted:
        sys.stderr.write(f"pecsync purge-credentials: another process has {cfg.database} "
                         f"open, so its write-ahead log could not be emptied: the erased "
                         f"passwords may still be in {cfg.database}-wal (encrypted) until that "
                         f"process ends; run purge-credentials again then\n")
        return EXIT_TRANSIENT
    return 0


async def cmd_rotate_key(cfg: Config, args: argparse.Namespace) -> int:
    """Re-encrypt every stored password under a new key.

    Order matters: the new key is written beside the old one first, then the database is
    re-encrypted in one transaction, then the new key replaces the old file.  A crash in
    between leaves ``KEYFILE.new`` holding the key that opens the database."""

    if cfg.key_file is None:
        raise UsageError("rotate-key needs [state] key_file (with $PECSYNC_KEY, re-import "
                         "the list under a new key instead)")
    old = Vault(load_key(cfg.key_file))
    new_path = cfg.key_file.with_name(cfg.key_file.name + ".new")
    if new_path.exists():
        new_path.unlink()
    write_key_file(new_path)
    new = Vault(load_key(new_path))
    async with await CheckpointStore.open(cfg.state) as store:
        count = await reencrypt_credentials(store, old, new)
        # The old ciphertexts must not stay in free pages or the WAL (the old key opens them).
        await store.compact()
    os.replace(new_path, cfg.key_file)
    sys.stdout.write(f"re-encrypted {count} stored password(s); {cfg.key_file} now holds "
                     f"the new key\n")
    return 0
