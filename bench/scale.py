"""Scale of the state: 10,000 mailboxes x 20 folders (made synthetically) on SQLite and on
PostgreSQL, and how long ``status --json``, ``report`` and claiming a job take.

    .venv/bin/python bench/scale.py                       # both backends, 10,000 x 20
    .venv/bin/python bench/scale.py --backend sqlite --mailboxes 2000

The mailboxes are imported with ``pecsync import`` (a CSV of 10,000 rows, passwords stored
encrypted), then folder rows (20 per mailbox) and job states (70% done with counters, 10%
pending, 8% retry_wait, 5% running, the rest blocked or failed) are written directly in
bulk.  ``status --json`` and ``report`` (HTML, CSV and JSON) are timed as the operator runs
them (a new process each, ``--repeat`` times, median); claiming is timed in process
(``JobStore.claim_next``, ``--claims`` times, median and 95th percentile, beside a one-row
write through the same store: the durable commit every claim pays).  PostgreSQL is a
private cluster (lab/postgres.py) with fsync and synchronous commits on, as in production.
Targets (issue 26): status --json <= 2 s, report <= 10 s, claim <= 5 ms at the median.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pecsync.store.checkpoints import CheckpointStore  # noqa: E402
from pecsync.store.jobs import JobStore  # noqa: E402
from pecsync.store.limits import ServerLimitStore  # noqa: E402
from pecsync.vault import Vault  # noqa: E402

KEY = "q3Jd0mFf1y3oN0K2mU4n1v3rS4lK3yF0rT3sTs0nLy0="
FOLDERS = ["INBOX", "Posta inviata", "Bozze", "Cestino", "Spam", "Archivio",
           *(f"Archivio/{y}" for y in range(2010, 2024)), "Clienti"][:20]
STATES = [("done", 70), ("pending", 10), ("retry_wait", 8), ("running", 5),
          ("blocked_invalid_credentials", 3), ("blocked_2fa", 2), ("failed", 2)]


def config(work: Path, database: str) -> Path:
    cfg = work / "scale.toml"
    cfg.write_text('[source]\nhost = "127.0.0.1"\nport = 1143\nsecurity = "plain"\n\n'
                   '[destination]\nhost = "127.0.0.1"\nport = 2143\nsecurity = "plain"\n\n'
                   f'[state]\ndatabase = "{database}"\n')
    return cfg


#: CPU seconds (user + sys) of each command :func:`run` ran, by command name.
CPU: dict[str, list[float]] = {}


def run(args: list[str], cfg: Path, base: str | None = None) -> float:
    """Wall seconds of one pecsync command (its own CPU goes to :data:`CPU`: on this shared
    machine the wall time follows the load, the CPU time much less)."""
    env = dict(os.environ, PECSYNC_KEY=KEY)
    if base:  # the same command from another source tree (before/after in one run)
        env["PYTHONPATH"] = base
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "pecsync", *args, "--config", str(cfg)],
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    took = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.setdefault(args[0] + (" base" if base else ""), []).append(after.ru_utime + after.ru_stime
                                       - before.ru_utime - before.ru_stime)
    if r.returncode not in (0, 1, 3):  # 1/3: blocked or retrying jobs, as made here
        raise RuntimeError(f"pecsync {args[0]} exited {r.returncode}: {r.stderr[-2000:]!r}")
    return took


class Raw:
    """Bulk writes straight to the database (not pecsync's code path: making data)."""

    def __init__(self, database: str) -> None:
        self.pg = database.startswith("postgresql://")
        if self.pg:
            import psycopg
            self.db: Any = psycopg.connect(database)
        else:
            self.db = sqlite3.connect(database)

    def many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if self.pg:
            sql = sql.replace("?", "%s")
            with self.db.cursor() as cur:
                cur.executemany(sql, rows)
        else:
            self.db.executemany(sql, rows)

    def one(self, sql: str) -> list[tuple[Any, ...]]:
        cur = self.db.execute(sql)
        return list(cur.fetchall())

    def commit(self) -> None:
        self.db.commit()
        self.db.close()


def populate(database: str, n: int) -> None:
    rng = random.Random(26)
    raw = Raw(database)
    ts = datetime.now(UTC)
    jobs = raw.one("SELECT id, src_user, dst_user FROM job ORDER BY id")
    assert len(jobs) == n, len(jobs)
    raw.many("INSERT INTO mailbox (id, src_user, dst_user, created_at) VALUES (?, ?, ?, ?)",
             [(jid, src, dst, ts.isoformat()) for jid, src, dst in jobs])
    folders = []
    for jid, _src, _dst in jobs:
        for i, name in enumerate(FOLDERS):
            folders.append((jid, f"INBOX.{name.replace('/', '.')}" if i else "INBOX", name,
                            1_600_000_000 + jid, 1, rng.randint(0, 3000), rng.randint(1, 3001),
                            0, ts.isoformat()))
    raw.many("INSERT INTO folder (mailbox_id, src_name, dst_name, src_uidvalidity, "
             "dst_uidvalidity, high_water, src_uidnext_seen, content_match, updated_at) "
             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", folders)
    weights = [w for _, w in STATES]
    updates = []
    for jid, _src, _dst in jobs:
        state = rng.choices([s for s, _ in STATES], weights)[0]
        total = rng.randint(200, 25_000)
        done = total if state == "done" else rng.randint(0, total)
        started = ts - timedelta(hours=rng.uniform(1, 72))
        finished = (started + timedelta(minutes=rng.uniform(1, 90))).isoformat() \
            if state == "done" else None
        error = {"retry_wait": ("transient", "timeout"),
                 "blocked_invalid_credentials": ("invalid_credentials", "login refused"),
                 "blocked_2fa": ("two_factor", "2-step verification"),
                 "failed": ("verification", "copies differ")}.get(state, (None, None))
        updates.append((state, "copy" if state == "running" else None, 1, error[0], error[1],
                        (ts + timedelta(minutes=5)).isoformat() if state == "retry_wait"
                        else None, done, total, done * 60_000, total * 60_000,
                        started.isoformat(), finished, jid))
    raw.many("UPDATE job SET state = ?, phase = ?, attempts = ?, error_class = ?, "
             "error_text = ?, next_attempt_at = ?, messages_copied = ?, messages_total = ?, "
             "bytes_copied = ?, bytes_total = ?, started_at = ?, finished_at = ? "
             "WHERE id = ?", updates)
    raw.commit()


async def claims(database: str, count: int) -> tuple[list[float], list[float]]:
    """Seconds of each claim, and of as many one-row writes through the same store (the
    durable commit alone: on a loaded disk it is most of a claim)."""
    out, commits = [], []
    async with await CheckpointStore.open(database) as store:
        jobs = JobStore(store, Vault(base64.b64decode(KEY)))
        table = ServerLimitStore(store)
        for i in range(count):
            started = time.perf_counter()
            job = await jobs.claim_next(f"scale-{i}", None)
            out.append(time.perf_counter() - started)
            started = time.perf_counter()
            await table.learn("bench:0", count - i)
            commits.append(time.perf_counter() - started)
            if job is None:
                break
    return out, commits


def measure(backend: str, database: str, work: Path, n: int, repeat: int,
            n_claims: int, base: str | None = None) -> dict[str, Any]:
    cfg = config(work, database)
    csv = work / "list.csv"
    csv.write_text("order,address,source_user,source_password,dest_user,dest_password\n"
                   + "".join(f"Ordine {i % 40},m{i:05d}@pec.scale.it,,pw{i},,dp{i}\n"
                             for i in range(n)))
    took = {"import_s": run(["import", str(csv)], cfg)}
    started = time.monotonic()
    populate(database, n)
    took["populate_s"] = time.monotonic() - started
    took["status_json_s"] = statistics.median(run(["status", "--json"], cfg)
                                              for _ in range(repeat))
    out = work / "report"
    took["report_s"] = statistics.median(
        run(["report", "--out", str(out), "--format", "html,csv,json"], cfg)
        for _ in range(repeat))
    if base:
        walls = [(run(["status", "--json"], cfg), run(["status", "--json"], cfg, base))
                 for _ in range(repeat)]
        took["status_base_s"] = statistics.median(b for _, b in walls)
        took["status_base_cpu_s"] = statistics.median(CPU.pop("status base"))
        print(f"{backend:10} status --json from {base}: {took['status_base_s']:.2f} s (CPU "
              f"{took['status_base_cpu_s']:.2f} s); this tree, run alternately: "
              f"{statistics.median(a for a, _ in walls):.2f} s", flush=True)
    took["status_cpu_s"] = statistics.median(CPU.pop("status"))
    took["report_cpu_s"] = statistics.median(CPU.pop("report"))
    times, commits = anyio.run(claims, database, n_claims)
    took["claim_median_ms"] = 1000 * statistics.median(times)
    took["claim_p95_ms"] = 1000 * sorted(times)[int(0.95 * (len(times) - 1))]
    took["commit_median_ms"] = 1000 * statistics.median(commits)
    print(f"{backend:10} {n} mailboxes x {len(FOLDERS)} folders: import "
          f"{took['import_s']:.1f} s, status --json {took['status_json_s']:.2f} s "
          f"(CPU {took['status_cpu_s']:.2f} s), report {took['report_s']:.2f} s "
          f"(CPU {took['report_cpu_s']:.2f} s), claim median {took['claim_median_ms']:.2f} ms "
          f"(p95 {took['claim_p95_ms']:.2f} ms; a one-row durable write alone "
          f"{took['commit_median_ms']:.2f} ms)  load {os.getloadavg()[0]:.1f}", flush=True)
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--mailboxes", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--claims", type=int, default=200)
    ap.add_argument("--also-base", metavar="DIR",
                    help="also time status --json from the source tree DIR (before/after)")
    ap.add_argument("--workdir", help="default: the system's temporary folder")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pecsync-scale-", dir=args.workdir))
    work.chmod(0o755)
    print(f"load average {os.getloadavg()[0]:.1f} at the start; {work}")
    if args.backend in ("sqlite", "both"):
        sqlite_dir = work / "sqlite"
        sqlite_dir.mkdir()
        measure("sqlite", str(sqlite_dir / "state.sqlite3"), sqlite_dir, args.mailboxes,
                args.repeat, args.claims, args.also_base)
    if args.backend in ("postgresql", "both"):
        from lab.postgres import PostgresCluster
        pg_dir = work / "pg"
        pg_dir.mkdir()
        with PostgresCluster(pg_dir / "cluster", durable=True) as pg:
            measure("postgresql", pg.create_database("scale"), pg_dir, args.mailboxes,
                    args.repeat, args.claims, args.also_base)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
