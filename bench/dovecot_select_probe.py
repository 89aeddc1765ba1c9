"""Does a Dovecot session that holds a folder open grow while other sessions append to it?

One session (the "owner", as pecsync's lane that owns a shared folder) APPENDs single
messages to INBOX while four others append to the same INBOX; the destination's imap
processes' virtual sizes are printed every 3 s.  Modes: ``select`` (the owner holds INBOX
SELECTed), ``examine`` (read-only), ``noselect`` (no folder open), ``alone`` (SELECTed, no
other session).  Measured with Dovecot 2.3.19.1 (bench/results/issue26/session31): only
``select`` grows, doubling until vsz_limit (256 MB) kills the session; see architecture §5.

    .venv/bin/python bench/dovecot_select_probe.py select 1500 [--size 50000]
"""

from __future__ import annotations

import argparse
import imaplib
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lab.dovecot import DovecotServer


def imap_vsz_kb() -> list[int]:
    out = subprocess.run(["ps", "-eo", "vsz,cmd"], capture_output=True, text=True).stdout
    return sorted((int(line.split()[0]) for line in out.splitlines()
                   if line.rstrip().endswith("dst/imap")), reverse=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["select", "examine", "noselect", "alone"])
    ap.add_argument("appends", type=int, help="the owner's APPENDs")
    ap.add_argument("--size", type=int, default=50_000, help="bytes of each message's body")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pecsync-probe-"))
    srv = DovecotServer(root, "dst", flavour="dst")
    srv.start()
    try:
        srv.add_user("u@pec.bench.it", "pw")
        body = b"Subject: x\r\n\r\n" + b"y" * args.size + b"\r\n"

        def connect() -> imaplib.IMAP4:
            c = imaplib.IMAP4(srv.host, srv.port)
            c.login("u@pec.bench.it", "pw")
            return c
        owner = connect()
        if args.mode in ("select", "alone"):
            owner.select("INBOX")
        elif args.mode == "examine":
            owner.select("INBOX", readonly=True)
        stop = threading.Event()

        def pump(c: imaplib.IMAP4) -> None:
            while not stop.is_set():
                c.append("INBOX", "", imaplib.Time2Internaldate(time.time()), body)
        others = [connect() for _ in range(0 if args.mode == "alone" else 4)]
        for c in others:
            threading.Thread(target=pump, args=(c,), daemon=True).start()
        last = time.monotonic()
        for n in range(1, args.appends + 1):
            owner.append("INBOX", "", imaplib.Time2Internaldate(time.time()), body)
            if time.monotonic() - last > 3:
                last = time.monotonic()
                print(f"{n} owner appends; imap processes' VSZ (kB): {imap_vsz_kb()[:5]}",
                      flush=True)
        stop.set()
    except imaplib.IMAP4.abort as exc:
        print(f"owner's connection lost: {exc}")
    finally:
        srv.stop()
        log = (root / "dst" / "dovecot.log").read_text(errors="replace")
        print("\n".join(line for line in log.splitlines() if "Out of memory" in line)[:600])
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
