"""pecsync against Dovecot's own IMAP migration (dsync via imapc) on the same servers.

    .venv/bin/python bench/bench.py --profile small            # 5 mailboxes x 300 messages
    .venv/bin/python bench/bench.py --profile large            # 20 x 1,500 (about 1.7 GB)
    .venv/bin/python bench/bench.py --profile latency --rtt-ms 20

Starts two lab Dovecot servers, seeds a reproducible PEC-shaped corpus (lab/sample.py: size mix
of 5-80 KB with some up to 1 MB and rare 1-30 MB messages, nested and non-ASCII folders, flags
and keywords), then for each contender wipes the destination, runs it, checks every mailbox
byte for byte (multisets of SHA-256 of every message, source against destination) and
records wall time, msgs/s, MB/s and, of the migrating processes, user and sys CPU, minor page
faults, context switches (wait4 / getrusage) and peak RSS, with the load average before each
run; medians over ``--repeat`` rounds, as JSON and a markdown table.  Over ``--rtt-ms`` the
latency proxy logs every chunk per connection (the ``timeline``: connections in flight, time
each waited for the client).  Not part of the test suite: speed is measured here, never
asserted in a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.latency_proxy import LatencyProxy  # noqa: E402
from lab.dovecot import DovecotServer, lab_pair  # noqa: E402
from lab.sample import mailbox  # noqa: E402
from pecsync.config import ServerConfig  # noqa: E402
from pecsync.imap import utf7 as imap_utf7  # noqa: E402
from pecsync.imap.session import ImapSession  # noqa: E402
from pecsync.imap.wire import format_internaldate  # noqa: E402
from pecsync.model import AppendItem, Credentials, Secret, Side  # noqa: E402

#: What Dovecot logs for a LOGIN over mail_max_userip_connections.
LIMIT_REFUSAL = "Maximum number of connections from user+IP exceeded"
PROFILES = {"small": (5, 300), "large": (20, 1500), "latency": (4, 138)}
KEY = "q3Jd0mFf1y3oN0K2mU4n1v3rS4lK3yF0rT3sTs0nLy0="


def session(server: DovecotServer, user: str) -> ImapSession:
    s = ImapSession(ServerConfig(server.host, server.port, "plain", timeout=120,
                                 master_user=server.master_user), Side.SRC, mailbox=user)
    s.login(Credentials(user, Secret(server.master_password), server.master_user))
    return s


def seed(server: DovecotServer, user: str, seed_no: int, count: int,
         large: bool) -> tuple[int, int]:
    s = session(server, user)
    folders: dict[str, list[AppendItem]] = {}
    total = 0
    for m in mailbox(seed_no, count, large=large):
        name = "INBOX" if m.folder == "INBOX" else "INBOX." + m.folder.replace("/", ".")
        folders.setdefault(name, []).append(AppendItem(m.body, m.flags, m.internaldate))
        total += len(m.body)
    for name, items in folders.items():
        if name != "INBOX":
            s.create_folder(name)
        batch: list[AppendItem] = []
        size = 0
        for item in items:
            batch.append(item)
            size += len(item.body)
            if len(batch) >= 50 or size > 16_000_000:
                s.append(name, batch).raise_refused()
                batch, size = [], 0
        if batch:
            s.append(name, batch).raise_refused()
    s.logout()
    return count, total


def content(server: DovecotServer, user: str) -> Counter[str]:
    """Every message of every folder as a multiset of SHA-256 (folder names differ between
    contenders: dsync keeps the source's tree, pecsync maps it)."""
    s = session(server, user)
    out: Counter[str] = Counter()
    try:
        for f in s.list_folders():
            if not f.selectable or not s.examine(f.name).exists:
                continue
            metas = s.fetch_meta("1:*")
            batch: list[Any] = []
            size = 0
            for info in metas:
                batch.append(info)
                size += info.size
                if len(batch) >= 100 or size > 16_000_000:
                    out.update(m.sha256 for m in s.fetch_bodies(batch))
                    batch, size = [], 0
            if batch:
                out.update(m.sha256 for m in s.fetch_bodies(batch))
    finally:
        s.logout()
    return out


def wipe(dst: DovecotServer, users: list[str], workdir: Path) -> None:
    dst.stop()
    for u in users:
        dst.wipe_user(u)
    dst.start(fresh=False)
    for p in workdir.glob("state.sqlite3*"):
        p.unlink()


def machine_cpu() -> float:
    """CPU seconds the whole machine has been busy (every core, /proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(x) for x in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def peak_rss_kb(pid: int, done: threading.Event) -> list[int]:
    """Poll the process's own high-water mark (VmHWM) until *done*; ``[kB]``.

    Not ``wait4``'s ru_maxrss: on Linux that keeps the RSS the forked child had before exec,
    i.e. this benchmark's own (large) footprint."""
    out = [0]

    def poll() -> None:
        status = Path(f"/proc/{pid}/status")
        while not done.is_set():
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        out[0] = max(out[0], int(line.split()[1]))
            except (OSError, ValueError):
                pass
            done.wait(0.02)

    threading.Thread(target=poll, daemon=True).start()
    return out


Usage = dict[str, float]


def usage_of(ru: resource.struct_rusage) -> Usage:
    return {"user_s": ru.ru_utime, "sys_s": ru.ru_stime, "minflt": float(ru.ru_minflt),
            "majflt": float(ru.ru_majflt), "nvcsw": float(ru.ru_nvcsw),
            "nivcsw": float(ru.ru_nivcsw)}


def add_usage(rows: list[Usage]) -> Usage:
    return {k: sum(r.get(k, 0.0) for r in rows) for k in USAGE_KEYS}


USAGE_KEYS = ("user_s", "sys_s", "minflt", "majflt", "nvcsw", "nivcsw")

#: Put in front of pecsync's command line (e.g. ``py-spy record --idle -o f.svg --``); the
#: measured usage then includes the wrapper.
WRAP: list[str] = []
#: ``--also-base DIR``: the source tree the pecsync-base contender runs from.
BASE: list[str] = []


def timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
          ) -> tuple[float, int, int, float, Usage]:
    """(seconds, exit code, peak RSS in kB, CPU seconds, rusage) of one process (its own and
    its waited-for children's, from wait4)."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=cwd)
    done = threading.Event()
    rss = peak_rss_kb(proc.pid, done)
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 and proc.stderr:
        sys.stderr.write(proc.stderr.read().decode(errors="replace")[-2000:])
    if proc.stderr:
        proc.stderr.close()
    return (time.monotonic() - started, proc.returncode, rss[0],
            usage.ru_utime + usage.ru_stime, usage_of(usage))


def server_cpu(server: DovecotServer) -> float:
    """CPU seconds used so far by a Dovecot instance: its master process and every child it
    has reaped (imap, auth, ... processes end at logout)."""
    try:
        pid = int((server.root / "run" / "master.pid").read_text().split()[0])
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return 0.0
    # fields[0] is field 3 (state): utime, stime, cutime, cstime are fields 14-17.
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def run_pecsync(src_port: int, dst: DovecotServer, src: DovecotServer, users: list[str],
                workdir: Path, workers: int, engine: dict[str, Any], tls: bool = False,
                wrap: bool = True, dst_port: int | None = None
                ) -> tuple[float, int, int, float, Usage]:
    cfg = workdir / "bench.toml"
    security = f'"tls"\nca_file = "{src.ca_file}"' if tls else '"plain"'
    compress = engine.get("source_compress", "auto")
    dst_compress = engine.get("destination_compress", "auto")
    base = bool(engine.get("_base"))
    engine = {k: v for k, v in engine.items()
              if k not in ("source_compress", "destination_compress", "_base")}
    lines = [f'[source]\nhost = "127.0.0.1"\nport = {src_port}\nsecurity = {security}\n'
             f'master_user = "{src.master_user}"\ntimeout = 120\ncompress = "{compress}"\n',
             f'[destination]\nhost = "127.0.0.1"\nport = {dst_port or dst.port}\n'
             f'security = "plain"\nmaster_user = "{dst.master_user}"\ntimeout = 120\n'
             f'compress = "{dst_compress}"\n',
             '[state]\ndatabase = "state.sqlite3"\n',
             "[engine]\n" + "".join(f"{k} = {v}\n" for k, v in engine.items())]
    cfg.write_text("\n".join(lines))
    csv = workdir / "list.csv"
    csv.write_text("order,address,source_user,source_password,dest_user,dest_password\n"
                   + "".join(f"Bench,{u},,,,\n" for u in users))
    env = dict(os.environ, PECSYNC_KEY=KEY, PECSYNC_SOURCE_PASSWORD=src.master_password,
               PECSYNC_DEST_PASSWORD=dst.master_password)
    # An installed pecsync has its bytecode cached; a sandbox setting that forbids writing
    # it would add the compile time of every module to each run.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if BASE and base:
        # pecsync-base: the same command from another source tree (e.g. `git worktree add
        # /tmp/base main`), run in the same script for a ratio taken at the same moment.
        env["PYTHONPATH"] = BASE[0]
        where = subprocess.run([sys.executable, "-c", "import pecsync; print(pecsync.__file__)"],
                               env=env, cwd=workdir, check=True, capture_output=True,
                               text=True).stdout.strip()
        if not Path(where).resolve().is_relative_to(Path(BASE[0]).resolve()):
            raise SystemExit(f"pecsync-base would run {where}, not the tree in {BASE[0]}")
    exe = [sys.executable, "-m", "pecsync", "--quiet"]
    if os.environ.get("BENCH_PECSYNC_LOG"):  # every run's debug log, appended to this file
        exe = [sys.executable, "-m", "pecsync", "-v", "--log-format", "json", "--log-file",
               os.environ["BENCH_PECSYNC_LOG"]]
    # Not from the checkout's folder: `python -m pecsync` puts the working directory first on
    # the module path, so from there pecsync-base ran the checkout's code, not BASE's (every
    # "before and after" of issues 25 and 26 until this was found compared main with itself).
    subprocess.run([*exe, "import", "--config", str(cfg), str(csv)], env=env, check=True,
                   stdout=subprocess.DEVNULL, cwd=workdir)
    return timed([*(WRAP if wrap else []), *exe, "run", "--config", str(cfg),
                  "--workers", str(workers)], env, cwd=workdir)


def run_dsync(src_port: int, dst: DovecotServer, src: DovecotServer, users: list[str],
              parallel: int, tls: bool = False) -> tuple[float, int, int, float, Usage]:
    ssl = (["-o", "imapc_ssl=imaps", "-o", "imapc_ssl_verify=yes",
            "-o", f"ssl_client_ca_file={src.ca_file}"] if tls else ["-o", "imapc_ssl=no"])

    def one(user: str) -> tuple[float, int, int, float, Usage]:
        return timed(["doveadm", "-c", str(dst.conf), "-o", "imapc_host=127.0.0.1",
                      "-o", f"imapc_port={src_port}", *ssl,
                      "-o", f"imapc_user={user}", "-o", f"imapc_master_user={src.master_user}",
                      "-o", f"imapc_password={src.master_password}",
                      "-o", "imapc_features=rfc822.size fetch-headers",
                      "-o", "mail_prefetch_count=20", "backup", "-R", "-u", user, "imapc:"])
    started = time.monotonic()
    with ThreadPoolExecutor(parallel) as pool:
        results = list(pool.map(one, users))
    return (time.monotonic() - started, max(r[1] for r in results),
            max(r[2] for r in results), sum(r[3] for r in results),
            add_usage([r[4] for r in results]))


def run_floor(src_port: int, dst_port: int, src: DovecotServer, dst: DovecotServer,
              users: list[str], parallel: int) -> tuple[float, int, int, float, Usage]:
    """The verified-copy floor (bench/floor.py) as its own process, *parallel* mailboxes at
    once: wall time, own CPU and peak RSS measured like pecsync's."""
    env = dict(os.environ, FLOOR_SRC_PASSWORD=src.master_password,
               FLOOR_DST_PASSWORD=dst.master_password)
    return timed([sys.executable, str(ROOT / "bench" / "floor.py"),
                  "--src", f"127.0.0.1:{src_port}", "--dst", f"127.0.0.1:{dst_port}",
                  "--master-user", src.master_user, "--dst-master-user", dst.master_user,
                  "--parallel", str(parallel), *users], env)


def run_raw_append(dst: DovecotServer, users: list[str], seeds: dict[str, int], n_msg: int,
                   large: bool, parallel: int) -> tuple[float, int, int, float, Usage]:
    """The floor for any IMAP client, as the issue's "minimal raw client": every message
    already in memory (generated again from the seed, not fetched), folders created before
    the clock starts, then only MULTIAPPENDs of 50 with LITERAL+ on *parallel* connections.
    No source, no checkpoints, no verification: not a migration, a reference."""
    work: dict[str, list[tuple[str, list[bytes]]]] = {}
    for u in users:
        folders: dict[str, list[bytes]] = {}
        for m in mailbox(seeds[u], n_msg, large=large):
            flags = " ".join(m.flags)
            folders.setdefault(imap_utf7.encode(m.folder).decode(), []).append(
                f' ({flags}) "{format_internaldate(m.internaldate)}" {{{len(m.body)}+}}\r\n'
                .encode() + m.body)
        work[u] = list(folders.items())
    clients = {}
    for u in users:
        c = dst.client(u)
        c._imap.debug = 0
        c.folder_encode = False  # names are modified UTF-7 already
        for name, _ in work[u]:
            if name != "INBOX":
                c.create_folder(name)
        clients[u] = c

    def one(user: str) -> None:
        imap = clients[user]._imap
        for name, items in work[user]:
            for i in range(0, len(items), 50):
                tag = imap._new_tag()
                quoted = name.replace("\\", "\\\\").replace('"', '\\"')
                imap.send(tag + f' APPEND "{quoted}"'.encode() + b"".join(items[i:i + 50])
                          + b"\r\n")
                while not (line := imap._get_line()).startswith(tag):
                    pass
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(line.decode(errors="replace"))

    try:
        before = usage_of(resource.getrusage(resource.RUSAGE_SELF))
        cpu = time.process_time()
        started = time.monotonic()
        with ThreadPoolExecutor(parallel) as pool:
            list(pool.map(one, users))
        secs = time.monotonic() - started
        cpu = time.process_time() - cpu
        after = usage_of(resource.getrusage(resource.RUSAGE_SELF))
    finally:
        for c in clients.values():
            c.logout()
    # The bench's own process: only the APPEND threads run during the timed part.
    return secs, 0, 0, cpu, {k: after[k] - before[k] for k in USAGE_KEYS}


def timeline(events: list[tuple[int, float, str, int]], delay: float,
             commands: list[tuple[int, float, str]] | None = None) -> dict[str, Any]:
    """What the source connections did, from the latency proxy's per-chunk log (and, with
    *commands*, each connection's commands: ``[seconds from the first event, command]``).

    A *turn* is a client chunk that follows server data on the same connection (a new
    command after an answer).  *client_wait* is, per turn, the time from the answer's arrival
    at the client (proxy read + one-way delay) to the next command: the client's own time
    (CPU, a queue, a hand-off), during which that connection carries nothing.  *in_flight*
    is how many connections carry data at once, sampled every 50 ms over the run."""
    if not events:
        return {}
    t0 = min(e[1] for e in events)
    conns: dict[int, list[tuple[float, str, int]]] = {}
    for c, t, d, n in events:
        conns.setdefault(c, []).append((t - t0, d, n))
    end = max(e[1] for e in events) - t0
    sent: dict[int, list[list[Any]]] = {}
    for c, t, head in commands or ():
        sent.setdefault(c, []).append([round(t - t0, 3), head])
    per: list[dict[str, Any]] = []
    for c, evs in sorted(conns.items()):
        evs.sort()
        turns, waits, last_down = 0, [], None
        for t, d, n in evs:
            if d == "down" and n:
                last_down = t
            elif d == "up" and n and last_down is not None:
                turns += 1
                waits.append(max(0.0, t - (last_down + delay)))
                last_down = None
        per.append({"conn": c, "open_s": round(evs[0][0], 3), "close_s": round(evs[-1][0], 3),
                    "mb_down": round(sum(n for _, d, n in evs if d == "down") / 1e6, 2),
                    "turns": turns, "client_wait_s": round(sum(waits), 3),
                    "client_wait_median_ms": round(1000 * statistics.median(waits), 1)
                    if waits else 0.0, **({"commands": sent.get(c, [])} if commands else {})})
    step = 0.05
    buckets = [set[int]() for _ in range(int(end / step) + 1)]
    for c, t, _d, n in events:
        if n:
            buckets[int((t - t0) / step)].add(c)
    flying = [len(b) for b in buckets]
    # MB carried per half second and direction: which link sat idle when.
    carried = {d: [0.0] * (int(end / 0.5) + 1) for d in ("up", "down")}
    for _c, t, d, n in events:
        carried[d][int((t - t0) / 0.5)] += n / 1e6
    return {"connections": len(conns), "span_s": round(end, 3),
            "mb_per_half_second": {d: [round(x, 2) for x in v] for d, v in carried.items()},
            "in_flight_median": statistics.median(flying),
            "in_flight_max": max(flying),
            "turns": sum(p["turns"] for p in per),
            "client_wait_s": round(sum(p["client_wait_s"] for p in per), 3),
            "per_connection": per}


def pecsync_engine(tool: str, engine: dict[str, str]) -> dict[str, str]:
    if tool == "pecsync-noverify":
        return dict(engine, verify="false")
    if tool == "pecsync-compress":
        return dict(engine, source_compress="always")
    if tool == "pecsync-compress-both":
        return dict(engine, source_compress="always", destination_compress="always")
    if tool.startswith("pecsync-lanes"):
        return dict(engine, folders_in_parallel=tool.removeprefix("pecsync-lanes"))
    if tool == "pecsync-base":
        return dict(engine, _base="1")
    return engine


def measure(tool: str, par: int, args: argparse.Namespace, src: DovecotServer,
            dst: DovecotServer, src_port: int, users: list[str], work: Path,
            engine: dict[str, str], expected: dict[str, Counter[str]], msgs: int,
            size: int) -> dict[str, Any]:
    """One run of one contender on a wiped destination, checked byte for byte."""
    wipe(dst, users, work)
    proxy: LatencyProxy | None = args.proxy
    if proxy is not None:
        proxy.events.clear()
        proxy.commands.clear()
        proxy.record = True
        proxy_cpu = proxy.cpu_seconds()
    load = os.getloadavg()
    refused = src.log_text().count(LIMIT_REFUSAL)
    busy = machine_cpu()
    cpu_src, cpu_dst = server_cpu(src), server_cpu(dst)
    dst_proxy: LatencyProxy | None = args.dst_proxy
    dst_port = dst_proxy.port if dst_proxy is not None else dst.port
    if dst_proxy is not None and args.commands:
        dst_proxy.events.clear()
        dst_proxy.commands.clear()
        dst_proxy.record = True
    links = [p for p in (proxy, dst_proxy) if p is not None]
    carried = [dict(p.carried) for p in links]
    if tool.startswith("pecsync"):
        secs, rc, rss, cpu, use = run_pecsync(src_port, dst, src, users, work, par,
                                              pecsync_engine(tool, engine), args.tls,
                                              dst_port=dst_port)
    elif tool == "floor":
        secs, rc, rss, cpu, use = run_floor(src_port, dst_port, src, dst, users, par)
    elif tool == "raw-append":
        secs, rc, rss, cpu, use = run_raw_append(dst, users, args.seeds, args.n_msg,
                                                 not args.no_large, par)
    else:
        secs, rc, rss, cpu, use = run_dsync(src_port, dst, src, users, par, args.tls)
    busy = machine_cpu() - busy
    extra: dict[str, Any] = {}
    if args.source_user_limit:
        extra["source_limit_refusals"] = src.log_text().count(LIMIT_REFUSAL) - refused
        print(f"{'':21}source LOGINs refused for the connection limit: "
              f"{extra['source_limit_refusals']}", flush=True)
    if args.rate_mbit:
        # The link limit: every byte of the corpus crosses the source's downstream once (and
        # the destination's upstream, and its downstream again for a verifying tool).
        extra["rate_mbit"] = args.rate_mbit
        extra["link_limit_s"] = size * 8 / (args.rate_mbit * 1e6)
        extra["link_share"] = extra["link_limit_s"] / secs
        for name, p, before in zip(("source", "destination"), links, carried, strict=True):
            for d in ("up", "down"):
                extra[f"{name}_{d}_mb"] = round((p.carried[d] - before[d]) / 1e6, 1)
    if proxy is not None:
        proxy.record = False
        extra["proxy_cpu_s"] = proxy.cpu_seconds() - proxy_cpu
        extra["timeline"] = timeline(list(proxy.events), proxy.delay,
                                     list(proxy.commands) if args.commands else None)
        tl = extra["timeline"]
        if tl:
            print(f"{'':21}source link: {tl['connections']} connections, in flight median "
                  f"{tl['in_flight_median']} max {tl['in_flight_max']}, {tl['turns']} turns, "
                  f"client wait {tl['client_wait_s']:.2f} s, proxy CPU "
                  f"{extra['proxy_cpu_s']:.2f} s", flush=True)
            for conn in tl["per_connection"] if args.commands else ():
                print(f"{'':23}conn {conn['conn']} {conn['open_s']:.2f}-{conn['close_s']:.2f} s: "
                      + ", ".join(f"{t:.2f} {c}" for t, c in conn.get("commands", [])))
    if dst_proxy is not None and args.commands:
        # The destination's connections too (APPENDs, the read-back), on the same clock.
        dst_proxy.record = False
        extra["dst_timeline"] = dtl = timeline(list(dst_proxy.events), dst_proxy.delay,
                                               list(dst_proxy.commands))
        for conn in dtl.get("per_connection", []):
            print(f"{'':23}dst conn {conn['conn']} {conn['open_s']:.2f}-{conn['close_s']:.2f}"
                  f" s: " + ", ".join(f"{t:.2f} {c}" for t, c in conn.get("commands", [])))
    cpu_src, cpu_dst = server_cpu(src) - cpu_src, server_cpu(dst) - cpu_dst
    exact = rc == 0 and all(content(dst, u) == expected[u] for u in users)
    row = {"tool": tool, "parallel": par, "rtt_ms": args.rtt_ms, "tls": args.tls,
           "seconds": secs, "msgs_per_s": msgs / secs, "mb_per_s": size / 1e6 / secs,
           "peak_rss_mb": rss / 1024, "exit": rc, "tool_cpu_s": cpu,
           "src_server_cpu_s": cpu_src, "dst_server_cpu_s": cpu_dst, "machine_cpu_s": busy,
           "byte_exact": exact, "messages": msgs, "mb": size / 1e6,
           "load_before": round(load[0], 2), "load_after": round(os.getloadavg()[0], 2),
           **use, "cpu_per_gb_s": cpu / (size / 1e9) if size else 0.0,
           "minflt_per_msg": use["minflt"] / msgs if msgs else 0.0, **extra}
    print(f"{tool:16} x{par}: {secs:7.1f} s {row['msgs_per_s']:7.0f} msg/s "
          f"{row['mb_per_s']:6.1f} MB/s  RSS {row['peak_rss_mb']:5.0f} MB  "
          f"CPU {cpu:5.1f} s (user {use['user_s']:.1f} sys {use['sys_s']:.1f} minflt "
          f"{use['minflt']:.0f} ctxsw {use['nvcsw']:.0f}+{use['nivcsw']:.0f}), source server "
          f"{cpu_src:4.1f} s, destination server {cpu_dst:4.1f} s, machine {busy:5.1f} s  "
          f"load {load[0]:.1f}  exact={exact}", flush=True)
    if args.rate_mbit:
        print(f"{'':21}link limit {extra['link_limit_s']:.1f} s at {args.rate_mbit:g} Mbit/s: "
              f"{100 * extra['link_share']:.0f}% of the link; MB carried: source down "
              f"{extra['source_down_mb']}, destination up {extra['destination_up_mb']} "
              f"down {extra['destination_down_mb']}", flush=True)
    return row


def is_tmpfs(path: Path) -> bool:
    """Whether *path* lives on tmpfs (the servers' mail and pecsync's state are below it)."""
    best, kind = "", ""
    for line in Path("/proc/mounts").read_text().splitlines():
        parts = line.split()
        mount = parts[1]
        if str(path.resolve()).startswith(mount.rstrip("/") + "/") and len(mount) > len(best):
            best, kind = mount, parts[2]
    return kind == "tmpfs"


def markdown(results: list[dict[str, Any]], head: str, tls: bool) -> str:
    """Wall time beside the migrating processes' own CPU (user + sys), minor page faults and
    peak RSS; ratios to dsync and to the raw APPEND floor at the same parallelism."""
    lines = [head, "",
             "| tool | parallel | +RTT | TLS | s | msgs/s | MB/s | speed vs dsync | "
             "own CPU s (user + sys) | CPU vs raw | minor faults | peak RSS | exact | re-run | "
             "share of the link | wall vs floor | CPU vs floor |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        dsync, raw, floor = (next((x for x in results if x["tool"] == tool
                                   and x["parallel"] == r["parallel"]), None)
                             for tool in ("dsync-imapc", "raw-append", "floor"))
        link = (f"{100 * r['link_share']:.0f}% of {r['link_limit_s']:.1f} s"
                if "link_share" in r else "-")
        # Wall: the floor's time over this one's (1.00 = as fast as the floor).
        vs_floor = (f"{floor['seconds'] / r['seconds']:.2f}x" if floor else "-")
        cpu_floor = (f"{r['tool_cpu_s'] / floor['tool_cpu_s']:.1f}x"
                     if floor and floor["tool_cpu_s"] else "-")
        ratio = f"{dsync['seconds'] / r['seconds']:.2f}x" if dsync else "-"
        vs_raw = (f"{r['tool_cpu_s'] / raw['tool_cpu_s']:.1f}x"
                  if raw and raw["tool_cpu_s"] else "-")
        rerun_cell = (f"{r['rerun_seconds']:.2f} s ({r['rerun_percent']:.1f}%)"
                      if "rerun_seconds" in r else "-")
        rss = f"{r['peak_rss_mb']:.0f} MB" if r["peak_rss_mb"] else "-"
        lines.append(
            f"| {r['tool']} | {r['parallel']} | {r['rtt_ms']:.0f} ms | "
            f"{'yes' if tls else 'no'} | {r['seconds']:.1f} | {r['msgs_per_s']:,.0f} | "
            f"{r['mb_per_s']:.1f} | {ratio} | {r['tool_cpu_s']:.1f} ({r['user_s']:.1f} + "
            f"{r['sys_s']:.1f}) | {vs_raw} | {r['minflt']:,.0f} | {rss} | "
            f"{'yes' if r['byte_exact'] else 'NO'} | {rerun_cell} | {link} | {vs_floor} | "
            f"{cpu_floor} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", choices=sorted(PROFILES), default="small")
    ap.add_argument("--mailboxes", type=int)
    ap.add_argument("--messages", type=int)
    ap.add_argument("--rtt-ms", type=float, default=0.0, help="added round-trip latency")
    ap.add_argument("--mbit", type=float, default=0.0,
                    help="also cap each connection's bandwidth on the source link (Mbit/s)")
    ap.add_argument("--rate-mbit", type=float, default=0.0, metavar="R",
                    help="cap each server's link at R Mbit/s per direction, shared by every "
                         "connection to it (a proxy in front of the source and one in front "
                         "of the destination); reports the link limit (corpus / R) and each "
                         "tool's share of it")
    ap.add_argument("--also-base", metavar="DIR",
                    help="also run pecsync from the source tree DIR (contender pecsync-base), "
                         "e.g. a worktree of main: before and after in one script run")
    ap.add_argument("--also-lanes", type=int, metavar="N",
                    help="also run pecsync with [engine] folders_in_parallel = N "
                         "(contender pecsync-lanesN)")
    ap.add_argument("--source-user-limit", type=int, metavar="N",
                    help="the source Dovecot allows N connections per user and address "
                         "(mail_max_userip_connections), as a provider's limit")
    ap.add_argument("--also-floor", action="store_true",
                    help="also time the verified-copy floor (bench/floor.py): per folder one "
                         "FETCH of everything, MULTIAPPENDs of 50 with LITERAL+, one FETCH "
                         "back and a comparison of the SHA-256 multisets")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 4],
                    help="parallel mailboxes to measure (pecsync workers, dsync processes)")
    ap.add_argument("--no-large", action="store_true", help="leave out the 1-30 MB messages")
    ap.add_argument("--skip-dsync", action="store_true")
    ap.add_argument("--also-raw-append", action="store_true",
                    help="also time the APPEND floor: messages already in memory, folders "
                         "already created, MULTIAPPEND of 50 with LITERAL+ on N connections "
                         "(the issue's \"minimal raw client\"; not a migration)")
    ap.add_argument("--also-compress", action="store_true",
                    help="also run pecsync with COMPRESS=DEFLATE on the source link")
    ap.add_argument("--also-compress-both", action="store_true",
                    help="also run pecsync with COMPRESS=DEFLATE on both links (what "
                         "compress = \"auto\" does with servers that offer it and are not on "
                         "this machine; the bench's proxies are, so auto does not compress)")
    ap.add_argument("--also-no-verify", action="store_true",
                    help="also run pecsync with [engine] verify = false (copy only, as dsync)")
    ap.add_argument("--tls", action="store_true",
                    help="both tools reach the source over implicit TLS (verified, test CA)")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="N rounds, each running every contender once (order reversed every "
                         "other round); report each one's median run (this machine's "
                         "timings drift under sustained load)")
    ap.add_argument("--engine", action="append", default=[], metavar="KEY=VALUE",
                    help="an [engine] setting for pecsync's runs, e.g. verify=false "
                         "(repeatable; TOML values)")
    ap.add_argument("--workdir", metavar="DIR",
                    help="where the two servers keep their mail and pecsync its state "
                         "(default: the system's temporary folder).  On this machine /tmp "
                         "grows slower as a session goes on (file creation and fsync cost up "
                         "to 3x more after hours of tests), so runs there drift; /dev/shm "
                         "(tmpfs, where fsync costs nothing) gives steady numbers")
    ap.add_argument("--commands", action="store_true",
                    help="with --rtt-ms or --mbit (plain, not --tls): print each source "
                         "connection's commands with their times, and keep them in the "
                         "JSON's timeline (LOGIN and AUTHENTICATE without their arguments)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the servers' mail and pecsync's state in the work folder "
                         "(removed at the end otherwise)")
    ap.add_argument("--json", metavar="FILE", help="also write the results here")
    ap.add_argument("--markdown", metavar="FILE", help="also write the table here")
    ap.add_argument("--wrap", metavar="CMD", default="",
                    help="put this in front of pecsync's command line, e.g. "
                         "'py-spy record --idle -o /tmp/p.svg --' (its usage is counted too)")
    args = ap.parse_args()
    WRAP[:] = shlex.split(args.wrap)
    BASE[:] = [str(Path(args.also_base).resolve())] if args.also_base else []
    engine = dict(kv.split("=", 1) for kv in args.engine)
    n_box, n_msg = PROFILES[args.profile]
    n_box, n_msg = args.mailboxes or n_box, args.messages or n_msg
    work = Path(tempfile.mkdtemp(prefix="pecsync-bench-", dir=args.workdir))
    work.chmod(0o755)
    where = "tmpfs" if is_tmpfs(work) else "disk"
    results: list[dict[str, Any]] = []
    with ExitStack() as stack:
        if not args.keep:
            # Last out, once the servers have stopped: their mail and pecsync's state (GBs;
            # on tmpfs, memory: left behind, they filled /dev/shm after a few runs).
            stack.callback(shutil.rmtree, work, True)
        if args.source_user_limit:
            # A provider's per-user connection limit on the source (issue 26).
            src = stack.enter_context(DovecotServer(
                work / "lab", "src", flavour="src", tls=args.tls,
                extra_conf=f"protocol imap {{\n  mail_max_userip_connections = "
                           f"{args.source_user_limit}\n}}"))
            dst = stack.enter_context(DovecotServer(work / "lab", "dst", flavour="dst"))
        else:
            src, dst = stack.enter_context(lab_pair(work / "lab", src_tls=args.tls))
        users = [f"bench{i:02d}@pec.bench.it" for i in range(n_box)]
        msgs = size = 0
        t = time.monotonic()
        args.seeds, args.n_msg = {u: 1000 + i for i, u in enumerate(users)}, n_msg
        for i, u in enumerate(users):
            src.add_user(u, "x")
            dst.add_user(u, "x")
            c, b = seed(src, u, 1000 + i, n_msg, large=not args.no_large)
            msgs, size = msgs + c, size + b
        print(f"seeded {n_box} mailboxes, {msgs} messages, {size / 1e6:.0f} MB in "
              f"{time.monotonic() - t:.0f} s; rtt +{args.rtt_ms:.0f} ms")
        src_port = src.tls_port if args.tls and src.tls_port else src.port
        args.proxy = args.dst_proxy = None
        if args.rtt_ms or args.mbit or args.rate_mbit:
            proxy = stack.enter_context(LatencyProxy(src.host, src_port, args.rtt_ms,
                                                     args.mbit, args.rate_mbit))
            src_port = proxy.port
            args.proxy = proxy
        if args.rate_mbit:
            # The destination's link too (dsync writes its mail store directly: it has none).
            args.dst_proxy = stack.enter_context(LatencyProxy(dst.host, dst.port, args.rtt_ms,
                                                              args.mbit, args.rate_mbit))
        expected = {u: content(src, u) for u in users}
        contenders: list[tuple[str, int]] = [("pecsync", w) for w in args.workers]
        if args.also_no_verify:
            contenders += [("pecsync-noverify", w) for w in args.workers]
        if args.also_compress:
            contenders += [("pecsync-compress", w) for w in args.workers]
        if args.also_compress_both:
            contenders += [("pecsync-compress-both", w) for w in args.workers]
        if not args.skip_dsync:
            contenders += [("dsync-imapc", w) for w in args.workers]
        if args.also_lanes:
            contenders += [(f"pecsync-lanes{args.also_lanes}", w) for w in args.workers]
        if args.also_base:
            contenders += [("pecsync-base", w) for w in args.workers]
        if args.also_floor:
            contenders += [("floor", w) for w in args.workers]
        if args.also_raw_append:
            contenders += [("raw-append", w) for w in args.workers]
        # Rounds, not one contender after another: this machine slows down under sustained
        # load (the destination's CPU per run doubled over 8 back-to-back runs), so whoever
        # ran last would be measured on a slower machine.  Each round runs every contender
        # once, in reverse order every other round, and each contender's median is reported.
        rounds = max(1, args.repeat)
        runs: dict[tuple[str, int], list[dict[str, Any]]] = {c: [] for c in contenders}
        for n in range(rounds):
            for tool, par in (contenders if n % 2 == 0 else contenders[::-1]):
                runs[(tool, par)].append(measure(tool, par, args, src, dst, src_port, users,
                                                 work, engine, expected, msgs, size))
                if n == rounds - 1 and tool.startswith("pecsync"):
                    # The destination holds this run's copy: a second run finds nothing new.
                    rerun = run_pecsync(src_port, dst, src, users, work, par,
                                        pecsync_engine(tool, engine), args.tls, wrap=False,
                                        dst_port=args.dst_proxy.port if args.dst_proxy
                                        else None)
                    runs[(tool, par)][-1]["rerun_seconds"] = rerun[0]
                    print(f"{'':12}     re-run with nothing new: {rerun[0]:.2f} s", flush=True)
        for tool, par in contenders:
            done = runs[(tool, par)]
            row = dict(sorted(done, key=lambda r: r["seconds"])[len(done) // 2])
            row["all_seconds"] = [round(r["seconds"], 2) for r in done]
            # Each resource figure is its own median over the rounds (not the median run's).
            for key in (*USAGE_KEYS, "tool_cpu_s", "peak_rss_mb", "src_server_cpu_s",
                        "dst_server_cpu_s", "machine_cpu_s", "cpu_per_gb_s",
                        "minflt_per_msg"):
                row[key] = statistics.median(r[key] for r in done)
            if "proxy_cpu_s" in done[0]:
                row["proxy_cpu_s"] = statistics.median(r["proxy_cpu_s"] for r in done)
            row["all_tool_cpu_s"] = [round(r["tool_cpu_s"], 2) for r in done]
            row["loads"] = [r["load_before"] for r in done]
            row["byte_exact"] = all(r["byte_exact"] for r in done)
            if "rerun_seconds" in done[-1]:
                row["rerun_seconds"] = done[-1]["rerun_seconds"]
                row["rerun_percent"] = 100 * done[-1]["rerun_seconds"] / row["seconds"]
            results.append(row)
    head = (f"{msgs} messages, {size / 1e6:.0f} MB in {n_box} mailboxes; source link: "
            f"{'TLS' if args.tls else 'plain'}, +{args.rtt_ms:.0f} ms RTT"
            f"{f', {args.rate_mbit:g} Mbit/s per server and direction' if args.rate_mbit else ''}"
            f"; servers' mail on "
            f"{where} ({work}); {rounds} round(s), medians; load average before each run "
            f"{min(r['load_before'] for rs in runs.values() for r in rs):.1f}-"
            f"{max(r['load_before'] for rs in runs.values() for r in rs):.1f}")
    table = markdown(results, head, args.tls)
    print("\n" + table)
    if args.markdown:
        Path(args.markdown).write_text(table)
    if args.json:
        Path(args.json).write_text(json.dumps({"setup": head, "where": where, "runs": {
            f"{t}x{p}": rs for (t, p), rs in runs.items()}, "results": results}, indent=2))
    return 0 if all(r["byte_exact"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
