"""Re-sync cost on the lab servers (issue 16).

    .venv/bin/python bench/resync.py --mailboxes 200 --workers 8
    .venv/bin/python bench/resync.py --flags 1500,15000 --changes 10

Part 1: N done mailboxes of 5 folders each, nothing new at the source: ``run --resync`` with
W workers.  Prints the wall time, the commands each mailbox sent per server (from a hook on
the IMAP command writer) and the sequence for one mailbox, so round trips can be counted
(NAMESPACE and LIST-STATUS are pipelined: one round trip; LOGOUT is not waited for).

Part 2 (CONDSTORE): one mailbox of M messages, copied, then K messages change flags at the
source; the re-sync's time and the flags fetched, for each M: the cost follows K, not M.
"""

from __future__ import annotations

import argparse
import imaplib
import logging
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.dovecot import lab_pair  # noqa: E402
from pecsync import log as logsetup  # noqa: E402
from pecsync.cli.importlist import cmd_import  # noqa: E402
from pecsync.cli.run import cmd_run  # noqa: E402
from pecsync.config import load_config  # noqa: E402
from tests.helpers import TEST_KEY, seed, when, write_config  # noqa: E402

FOLDERS = ("INBOX", "INBOX.Pratiche", "INBOX.Fatture", "INBOX.Archivio", "INBOX.Notifiche")
#: per connection (id of the imaplib object) → [port, command names]
SENT: dict[int, list[Any]] = {}
LOCK = threading.Lock()
_orig_command = imaplib.IMAP4._command


def _counting_command(self: imaplib.IMAP4, name: str, *args: Any) -> Any:
    with LOCK:
        entry = getattr(self, "_bench_sent", None)
        if entry is None:
            entry = [self.port, []]
            self._bench_sent = entry  # type: ignore[attr-defined]
            SENT[len(SENT)] = entry
        entry[1].append(name if name != "UID" else f"UID {args[0]}")
    return _orig_command(self, name, *args)


def _msgs(n: int, tag: str, size: int = 2000) -> list[tuple[bytes, tuple[str, ...], Any]]:
    pad = b"x" * size
    return [(b"Subject: %s %d\r\nMessage-ID: <%s.%d@b>\r\n\r\n%s\r\n"
             % (tag.encode(), i, tag.encode(), i, pad), (), when(i)) for i in range(n)]


def _args(**kw: Any) -> argparse.Namespace:
    base = {"order": None, "follow": False, "resync": False, "workers": None,
            "skip_invalid": False}
    base.update(kw)
    return argparse.Namespace(**base)


def _prepare(work: Path, src: Any, dst: Any, users: list[str]) -> Any:
    import os

    os.environ["PECSYNC_KEY"] = TEST_KEY
    csv = work / "list.csv"
    csv.write_text("order,address,source_user,source_password,dest_user,dest_password\n"
                   + "".join(f"Bench,{u},,pw,,pw\n" for u in users))
    cfg = load_config(write_config(work, src, dst, master=False,
                                   engine={"max_connections_per_host": 64}))
    anyio.run(cmd_import, cfg, _args(file=str(csv), list=str(csv), csv=str(csv)))
    return cfg


def bench_nothing_new(n: int, workers: int) -> None:
    with tempfile.TemporaryDirectory(prefix="pecsync-bench-") as tmp, lab_pair(Path(tmp)) as (
            src, dst):
        work = Path(tmp) / "work"
        work.mkdir()
        users = [f"rs{i}@pec.test.it" for i in range(n)]
        t0 = time.monotonic()
        for u in users:
            src.add_user(u, "pw")
            dst.add_user(u, "pw")
            for folder in FOLDERS:
                seed(src, u, folder, _msgs(2, folder))
        print(f"seeded {n} mailboxes x {len(FOLDERS)} folders in {time.monotonic() - t0:.1f} s")
        cfg = _prepare(work, src, dst, users)
        t0 = time.monotonic()
        anyio.run(cmd_run, cfg, _args(workers=workers))
        print(f"first copy: {time.monotonic() - t0:.1f} s")
        SENT.clear()
        imaplib.IMAP4._command = _counting_command  # type: ignore[method-assign]
        try:
            t0 = time.monotonic()
            anyio.run(cmd_run, cfg, _args(workers=workers, resync=True))
            wall = time.monotonic() - t0
        finally:
            imaplib.IMAP4._command = _orig_command  # type: ignore[method-assign]
        per_server: dict[str, list[int]] = defaultdict(list)
        sequences: dict[str, Counter[str]] = defaultdict(Counter)
        for port, names in SENT.values():
            side = "source" if port == src.port else "destination"
            per_server[side].append(len(names))
            sequences[side][" ".join(names)] += 1
        print(f"re-sync of {n} done mailboxes, nothing new, {workers} workers: {wall:.1f} s "
              f"({wall / n * 1000:.1f} ms per mailbox; x{1000 / n:.0f} -> "
              f"{wall * 1000 / n:.0f} s for 1,000)")
        for side, counts in per_server.items():
            print(f"  {side}: {len(counts)} connections, commands per connection: "
                  f"min {min(counts)} max {max(counts)}")
            for seq, k in sequences[side].most_common(3):
                print(f"    {k} x: {seq}")


FLAG_PASS: list[float] = []


def _timed_flag_pass() -> None:
    """Time pecsync.sync.resync.sync_mailbox_flags (the flag pass alone) in every mailbox."""
    import pecsync.sync.mailbox as mailbox_module

    inner = mailbox_module.sync_mailbox_flags

    async def timed(*args: Any, **kwargs: Any) -> None:
        t0 = time.perf_counter()
        try:
            await inner(*args, **kwargs)
        finally:
            FLAG_PASS.append(time.perf_counter() - t0)

    mailbox_module.sync_mailbox_flags = timed  # type: ignore[assignment]


def bench_flags(sizes: list[int], changes: int) -> None:
    _timed_flag_pass()
    with tempfile.TemporaryDirectory(prefix="pecsync-bench-") as tmp, lab_pair(Path(tmp)) as (
            src, dst):
        for size in sizes:
            work = Path(tmp) / f"work{size}"
            work.mkdir()
            u = f"flags{size}@pec.test.it"
            src.add_user(u, "pw")
            dst.add_user(u, "pw")
            seed(src, u, "INBOX", _msgs(size, "f", size=500))
            cfg = _prepare(work, src, dst, [u])
            anyio.run(cmd_run, cfg, _args(workers=1))
            anyio.run(cmd_run, cfg, _args(workers=1, resync=True))  # baseline recorded
            c = src.client(u)
            c.select_folder("INBOX")
            uids = c.search(["ALL"])
            step = max(1, len(uids) // changes)
            c.add_flags(uids[::step][:changes], ["\\Flagged"])
            c.logout()
            SENT.clear()
            FLAG_PASS.clear()
            imaplib.IMAP4._command = _counting_command  # type: ignore[method-assign]
            try:
                t0 = time.monotonic()
                anyio.run(cmd_run, cfg, _args(workers=1, resync=True))
                wall = time.monotonic() - t0
            finally:
                imaplib.IMAP4._command = _orig_command  # type: ignore[method-assign]
            seqs = [" ".join(names) for port, names in SENT.values() if port == src.port]
            print(f"{size} messages, {changes} flag changes: re-sync {wall:.2f} s, of which "
                  f"the flag pass {sum(FLAG_PASS) * 1000:.0f} ms; source commands: {seqs}")
            d = dst.client(u)
            d.select_folder("INBOX", readonly=True)
            print(f"  destination \\Flagged now: {len(d.search(['FLAGGED']))}")
            d.logout()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mailboxes", type=int, default=0)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--flags", default="", help="comma-separated mailbox sizes")
    ap.add_argument("--changes", type=int, default=10)
    a = ap.parse_args()
    logsetup.configure(level=logging.WARNING)
    if a.mailboxes:
        bench_nothing_new(a.mailboxes, a.workers)
    if a.flags:
        bench_flags([int(x) for x in a.flags.split(",")], a.changes)


if __name__ == "__main__":
    main()
