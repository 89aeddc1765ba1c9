"""What pecsync spends outside IMAP per job, with many queued mailboxes.

    .venv/bin/python bench/scheduling.py --mailboxes 1000 --workers 4
    .venv/bin/python bench/scheduling.py --backend postgresql --mailboxes 10000
    .venv/bin/python bench/scheduling.py --backend postgresql --processes 3 --mailboxes 3000

``--backend postgresql`` starts a private cluster (lab.postgres, Debian's postgresql) unless
``--database postgresql://...`` names one; ``--processes N`` imports once, then N processes
run the pool on the same database at once (the claim rate of a fleet).

Imports N mailboxes (stored, encrypted passwords) into a fresh state database and runs the real
worker pool (claim, decrypt credentials, state and phase changes, progress, finish, completeness
certificate) with the mailbox copy replaced by a no-op: the time measured is the scheduling
overhead alone.  Prints jobs/s, milliseconds per job, and where the time goes.
"""

from __future__ import annotations

import argparse
import base64
import logging
import resource
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pecsync.engine.worker as worker_module  # noqa: E402
from pecsync import log as logsetup  # noqa: E402
from pecsync.config import load_config  # noqa: E402
from pecsync.engine.budget import HostBudget  # noqa: E402
from pecsync.engine.pool import run_pool  # noqa: E402
from pecsync.engine.worker import EngineEnv  # noqa: E402
from pecsync.intake.mailbox_list import MailboxRow  # noqa: E402
from pecsync.model import FolderReport, MailboxReport, Secret  # noqa: E402
from pecsync.store.checkpoints import CheckpointStore  # noqa: E402
from pecsync.store.jobs import JobStore  # noqa: E402
from pecsync.sync.context import Progress  # noqa: E402
from pecsync.vault import Vault, new_key  # noqa: E402

TIMES: dict[str, list[float]] = defaultdict(list)


def timed(name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            TIMES[name].append(time.perf_counter() - started)
    return wrapper


async def no_copy(cfg: Any, store: Any, src: Any, dst: Any, *, verify: bool = True,
                  progress: Progress | None = None, memory: Any = None,
                  slots: Any = None, sync_flags: bool = False) -> MailboxReport:
    """Stands in for copy_mailbox: the phase changes a real copy makes, no IMAP."""
    assert progress is not None
    for phase in ("login", "plan", "copy", "verify"):
        await progress.phase(phase)
    if progress.on_login:
        await progress.on_login("src")
    return MailboxReport(src_user=src.user, dst_user=dst.user,
                         folders=[FolderReport(src="INBOX", dst="INBOX")])


def _config(work: Path, database: str) -> Path:
    path = work / "c.toml"
    path.write_text('[source]\nhost = "127.0.0.1"\nport = 1\nsecurity = "plain"\n'
                    '[destination]\nhost = "127.0.0.1"\nport = 2\n'
                    f'security = "plain"\n[state]\ndatabase = "{database}"\n')
    return path


async def run_only(args: argparse.Namespace) -> None:
    """One process of --processes: run the pool on an imported database, print a JSON line."""
    import json

    cfg = load_config(args.config)
    vault = Vault(base64.b64decode(args.key))
    store = await CheckpointStore.open(cfg.state)
    jobs = JobStore(store, vault)
    vars(worker_module).update({"copy_mailbox": no_copy,
                                "write_certificate": vars(worker_module)["write_certificate"]})
    env = EngineEnv(cfg=cfg, store=store, jobs=jobs, budget=HostBudget(12))
    started = time.perf_counter()
    summary = await run_pool(env, workers=args.workers)
    wall = time.perf_counter() - started
    await store.close()
    print(json.dumps({"jobs": summary.jobs_run, "wall": wall, "end": time.time()}))


async def fleet(args: argparse.Namespace, cfg_path: Path, key: str) -> None:
    import json
    import subprocess

    procs = [subprocess.Popen([sys.executable, __file__, "--run-only", "--config",
                               str(cfg_path), "--key", key, "--workers", str(args.workers)],
                              stdout=subprocess.PIPE, text=True)
             for _ in range(args.processes)]
    started = time.time()
    results = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    wall = max(r["end"] for r in results) - started
    n = sum(r["jobs"] for r in results)
    print(f"{args.processes} processes x {args.workers} workers: {n} jobs in {wall:.2f} s "
          f"(including process start): {n / wall:.0f} claims/s; per process: "
          f"{[r['jobs'] for r in results]}")


async def main_async(args: argparse.Namespace) -> None:
    if args.run_only:
        await run_only(args)
        return
    work = Path(tempfile.mkdtemp(prefix="pecsync-sched-"))
    cluster = None
    database = "s.sqlite3"
    if args.backend == "postgresql":
        database = args.database
        if not database:
            from lab.postgres import PostgresCluster

            work.chmod(0o755)  # the server runs as the postgres user when we are root
            # Durable (fsync, synchronous commit), like SQLite's synchronous=FULL.
            cluster = PostgresCluster(work / "pg", durable=not args.no_fsync).start()
            database = cluster.create_database("bench")
    cfg_path = _config(work, database)
    try:
        await _main(args, cfg_path)
    finally:
        if cluster is not None:
            cluster.stop()


async def _main(args: argparse.Namespace, cfg_path: Path) -> None:
    cfg = load_config(cfg_path)
    key = new_key()
    vault = Vault(base64.b64decode(key))
    store = await CheckpointStore.open(cfg.state)
    jobs = JobStore(store, vault)
    rows = [MailboxRow(i + 2, f"Ordine {i % 7}", f"m{i:05d}@pec.example.it",
                       f"m{i:05d}@pec.example.it", Secret(f"pw-{i}"),
                       f"m{i:05d}@pec.example.it", Secret(f"dpw-{i}"))
            for i in range(args.mailboxes)]
    started = time.perf_counter()
    await jobs.import_rows(rows, src_master=False, dst_master=False)
    imported = time.perf_counter() - started
    print(f"{args.backend}: imported {args.mailboxes} mailboxes in {imported:.2f} s")
    if args.processes > 1:
        await store.close()
        await fleet(args, cfg_path, key)
        return
    for name in ("claim_next", "credentials", "set_phase", "set_progress", "finish",
                 "mark_logged_in"):
        setattr(jobs, name, timed(name, getattr(jobs, name)))
    # Stand-ins on the worker module's names (the pool calls them from there).
    patched = {"copy_mailbox": no_copy,
               "write_certificate": timed("write_certificate",
                                          vars(worker_module)["write_certificate"])}
    vars(worker_module).update(patched)
    env = EngineEnv(cfg=cfg, store=store, jobs=jobs, budget=HostBudget(12))
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    summary = await run_pool(env, workers=args.workers)
    wall = time.perf_counter() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    await store.close()
    n = summary.jobs_run
    print(f"ran {n} jobs with {args.workers} workers in {wall:.2f} s: {n / wall:.0f} jobs/s, "
          f"{1000 * wall / n:.2f} ms wall and {1000 * cpu / n:.2f} ms CPU per job "
          f"(states: {dict(summary.states)})")
    print("\n| step | calls | mean ms | total s |\n|---|---|---|---|")
    for name, values in sorted(TIMES.items(), key=lambda kv: -sum(kv[1])):
        print(f"| {name} | {len(values)} | {1000 * sum(values) / len(values):.2f} | "
              f"{sum(values):.2f} |")


def main() -> int:
    logsetup.configure(json=False, level=logging.WARNING)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mailboxes", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--database", help="postgresql://... (default: a private cluster)")
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--no-fsync", action="store_true",
                    help="private cluster without fsync (separates commit latency from the rest)")
    ap.add_argument("--run-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    ap.add_argument("--key", help=argparse.SUPPRESS)
    anyio.run(main_async, ap.parse_args())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
