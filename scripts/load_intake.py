#!/usr/bin/env python3
"""Load check of the intake page (a script, not a timed test).

50 concurrent clients post 500 submissions — right passwords, wrong ones, unknown addresses
and members over their rate limit — to a real `pecsync serve` while `pecsync run --follow`
copies the mailboxes the submissions unlock, on the same SQLite database, against two lab
Dovecot servers.  Checks: no 5xx, every answer what its kind expects, no lost or duplicated
credential (one credential version per accepted mailbox, none for the others), no "database
is locked" anywhere, every accepted mailbox copied.  Prints p50/p95/max response times.

    .venv/bin/python scripts/load_intake.py [--clients 50] [--submissions 500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from lab.dovecot import free_port, lab_pair, servers_toml  # noqa: E402
from pecsync.web.security import solve_pow  # noqa: E402

KEY = "q3Jd0mFf1y3oN0K2mU4n1v3rS4lK3yF0rT3sTs0nLy0="
DOMAIN = "pec.load.test"
POW_BITS = 10


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--submissions", type=int, default=500)
    ap.add_argument("--members", type=int, default=120)
    ap.add_argument("--only-right", action="store_true",
                    help="right passwords only (no failed LOGINs: without Dovecot's per-IP "
                         "auth penalty, which slows every check after failures)")
    ap.add_argument("--no-run", action="store_true",
                    help="without `run --follow` beside the server (for comparison)")
    args = ap.parse_args()
    rng = random.Random(7)
    work = Path(tempfile.mkdtemp(prefix="pecsync-load-"))
    env = dict(os.environ, PECSYNC_KEY=KEY)
    with lab_pair() as (src, dst):
        members = [f"socio{i:03d}@{DOMAIN}" for i in range(args.members)]
        from pecsync.config import ServerConfig
        from pecsync.imap.session import ImapSession
        from pecsync.model import AppendItem, Credentials, Secret, Side

        for m in members:
            src.add_user(m, f"giusta-{m}")
            dst.add_user(m, "x")
        from datetime import UTC, datetime
        for m in members:  # some mail to copy while the page is under load
            s = ImapSession(ServerConfig(host=src.host, port=src.port, security="plain"),
                            Side.SRC, mailbox=m)
            s.login(Credentials(m, Secret(src.master_password), src.master_user))
            s.append("INBOX", [AppendItem(b"Subject: %d\r\n\r\n" % i + b"x" * 4000, (),
                                          datetime(2026, 1, 1, tzinfo=UTC))
                               for i in range(30)]).raise_refused()
            s.logout()
        env["PECSYNC_DEST_PASSWORD"] = dst.master_password
        cfg = work / "pecsync.toml"
        cfg.write_text(servers_toml(src, dst) + f"""
[engine]
workers = 4
verify = true

[intake]
trusted_proxies = ["127.0.0.1"]
pow_bits = {POW_BITS}
min_fill_seconds = 0
rate_per_address = 5
rate_per_client = 30
""")
        csv = work / "list.csv"
        csv.write_text("order,address,source_user,source_password,dest_user,dest_password\n"
                       + "".join(f"Ordine Carico,{m},,,,\n" for m in members))
        subprocess.run([sys.executable, "-m", "pecsync", "import", "--config", str(cfg),
                        str(csv)], env=env, cwd=ROOT, check=True, capture_output=True)
        port = free_port()
        server_log = (work / "serve.log").open("w")
        server = subprocess.Popen([sys.executable, "-m", "pecsync", "-q", "serve", "--config",
                                   str(cfg), "--listen", f"127.0.0.1:{port}"], env=env,
                                  cwd=ROOT, stdout=server_log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        run_log = (work / "run.log").open("w")
        runner = subprocess.Popen([sys.executable, "-m", "pecsync", "-q", "run", "--config",
                                   str(cfg), "--follow"], env=env, cwd=ROOT, stdout=run_log,
                                  stderr=subprocess.STDOUT)
        if args.no_run:
            runner.send_signal(signal.SIGTERM)
            runner.wait(timeout=60)
        # The plan: right passwords for most members (some twice), wrong ones, unknown
        # addresses, and 6 "hot" members submitted far over their limit of 5 per hour.
        hot = [] if args.only_right else members[:6]
        plan: list[tuple[str, str, str]] = []  # (kind, address, password)
        for m in hot:
            plan += [("hot", m, f"sbagliata-{i}") for i in range(12)]
        rest = members[len(hot):]
        while len(plan) < args.submissions:
            roll = rng.random()
            m = rng.choice(rest)
            if roll < 0.55 or args.only_right:
                plan.append(("right", m, f"giusta-{m}"))
            elif roll < 0.85:
                plan.append(("wrong", m, "sbagliata"))
            else:
                plan.append(("unknown", f"ignoto{rng.randrange(10_000)}@{DOMAIN}", "pw"))
        rng.shuffle(plan)
        results: list[tuple[str, str, int, float]] = []
        queue: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()
        for item in plan:
            queue.put_nowait(item)

        async def client(n: int) -> None:
            ip = f"198.51.100.{n + 1}"
            async with httpx.AsyncClient(base_url=url, timeout=120,
                                         headers={"x-forwarded-for": ip}) as http:
                while True:
                    try:
                        kind, address, password = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        return
                    page = await http.get("/")
                    fields = dict(re.findall(r'name="(csrf|challenge)" value="([^"]+)"',
                                             page.text))
                    fields["pow"] = solve_pow(fields["challenge"], POW_BITS)
                    started = time.perf_counter()
                    try:
                        r = await http.post("/", data={**fields, "address": address,
                                                       "password": password})
                        status = r.status_code
                    except httpx.HTTPError:
                        status = 0  # no answer at all: counted as a problem below
                    results.append((kind, address, status, time.perf_counter() - started))

        async def drive() -> float:
            started = time.perf_counter()
            await asyncio.gather(*(client(i) for i in range(args.clients)))
            return time.perf_counter() - started

        wall = asyncio.run(drive())
        # Let `run --follow` drain the queue, then stop it (first SIGTERM: finish, stop).
        db = work / "state.sqlite3"
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not args.no_run:
            with sqlite3.connect(db) as c:
                busy = c.execute("SELECT COUNT(*) FROM job WHERE state IN "
                                 "('pending', 'running')").fetchone()[0]
            if not busy:
                break
            time.sleep(1)
        runner.send_signal(signal.SIGTERM)
        runner.wait(timeout=120)
        server.terminate()
        server.wait(timeout=30)
        server_log.close()
        run_log.close()
        with sqlite3.connect(db) as c:
            versions = Counter(str(a) for a, in c.execute(
                "SELECT j.address FROM credential c JOIN job j ON j.id = c.job_id "
                "WHERE c.side = 'src'"))
            sources = Counter(str(s) for s, in c.execute(
                "SELECT source FROM credential WHERE side = 'src'"))
            states = dict(c.execute("SELECT address, state FROM job").fetchall())
            late = c.execute("SELECT COUNT(DISTINCT address) FROM intake_request").fetchone()[0]
    logs = (work / "serve.log").read_text() + (work / "run.log").read_text()
    statuses = Counter((k, s) for k, _, s, _ in results)
    times = sorted(t for *_, t in results)
    accepted = {a for k, a, s, _ in results if s == 200}
    problems = []
    if any(s >= 500 or s == 0 for _, _, s, _ in results):
        problems.append("5xx answers or dropped connections")
    if len(results) != len(plan):
        problems.append(f"{len(plan) - len(results)} submissions without an answer")
    for kind, allowed in (("right", {200, 429}), ("wrong", {400, 429}), ("unknown", {404, 429}),
                          ("hot", {400, 429})):
        bad = [s for (k, s) in statuses if k == kind and s not in allowed]
        if bad:
            problems.append(f"{kind}: unexpected statuses {sorted(set(bad))}")
    if set(versions) != accepted:
        problems.append(f"credentials stored for {len(versions)} mailboxes, accepted "
                        f"{len(accepted)} (lost or extra credentials)")
    if any(n != 1 for n in versions.values()):
        problems.append("duplicated credential versions: "
                        + ", ".join(a for a, n in versions.items() if n != 1))
    hot_checks = sum(1 for k, _, s, _ in results if k == "hot" and s != 429)
    if hot_checks > 5 * len(hot):
        problems.append(f"rate limit leaked: {hot_checks} checks for {len(hot)} hot members")
    not_done = [a for a in accepted if states.get(a) != "done" and not args.no_run]
    if not_done:
        problems.append(f"{len(not_done)} accepted mailboxes not done: {not_done[:3]}")
    if "database is locked" in logs or "Traceback" in logs:
        problems.append("'database is locked' or a traceback in the logs")
    print(f"{len(results)} submissions by {args.clients} clients in {wall:.1f} s "
          f"({len(results) / wall:.1f}/s), `run --follow` copying meanwhile")
    for (kind, status), n in sorted(statuses.items()):
        print(f"  {kind:8} HTTP {status}: {n}")
    print(f"POST response time: p50 {statistics.median(times) * 1000:.0f} ms, "
          f"p95 {times[int(len(times) * 0.95) - 1] * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms")
    for kind in ("right", "wrong", "unknown", "hot"):
        for label, codes in (("checked by a LOGIN", {200, 400}), ("no LOGIN", {404, 429})):
            ts = sorted(t for k, _, s, t in results if k == kind and s in codes)
            if ts:
                p50 = statistics.median(ts) * 1000
                p95 = ts[max(int(len(ts) * 0.95) - 1, 0)] * 1000
                print(f"  {kind:8} {label:18} n={len(ts):3}  p50 {p50:6.0f} ms  p95 {p95:6.0f} ms")
    print(f"credentials: {sum(versions.values())} versions for {len(accepted)} accepted "
          f"mailboxes (sources {dict(sources)}); late additions recorded: {late}; "
          f"jobs: {dict(Counter(states.values()))}")
    print("OK" if not problems else "PROBLEMS:\n  " + "\n  ".join(problems))
    return 0 if not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
