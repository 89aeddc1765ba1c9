"""The verified-copy floor: the least a client that copies mailboxes and proves the copy does.

Per folder, one ``UID FETCH 1:* (FLAGS INTERNALDATE BODY.PEEK[])`` on the source, its messages
appended to the destination as they arrive in pipelined MULTIAPPENDs of 50 with LITERAL+ (at
most :data:`WINDOW` unanswered), then one ``FETCH 1:* BODY.PEEK[]`` back from the destination
and a comparison of the SHA-256 multisets.  Standard library only (imaplib for the session,
its socket for the pipelined commands).  No state, no resume, no retry: a reference for
``bench.py --also-floor``, not a migration tool.  Exit 0 when every folder's copy is proven.

    FLOOR_SRC_PASSWORD=... FLOOR_DST_PASSWORD=... python bench/floor.py \\
        --src 127.0.0.1:1143 --dst 127.0.0.1:2143 --master-user master --parallel 4 USER...

Passwords come from the environment (never the command line: the process list shows it);
with ``--master-user`` each USER is reached through SASL PLAIN as that master user.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import imaplib
import os
import re
import sys
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor

BATCH = 50
WINDOW = 4  # MULTIAPPENDs sent and not yet answered
_LIST = re.compile(rb'^\((?P<flags>[^)]*)\) (?:NIL|"(?:[^"\\]|\\.)*") (?P<name>.*)$')
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")
_DATE = re.compile(rb'INTERNALDATE ("[^"]*")')
_LITERAL = re.compile(rb"\{(\d+)\}\r\n$")


def login(addr: str, user: str, master: str | None, password: str) -> imaplib.IMAP4:
    host, port = addr.rsplit(":", 1)
    imap = imaplib.IMAP4(host, int(port))
    if master:
        imap.authenticate("PLAIN", lambda _: f"{user}\0{master}\0{password}".encode())
    else:
        imap.login(user, password)
    return imap


def quoted(name: bytes) -> bytes:
    return b'"' + name.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def folders(imap: imaplib.IMAP4) -> list[tuple[bytes, bytes]]:
    """(name as sent, hierarchy delimiter) of every selectable folder."""
    _typ, data = imap.list()
    out = []
    for line in data:
        if not isinstance(line, bytes) or not (m := _LIST.match(line)):
            continue
        if b"\\noselect" in m["flags"].lower() or b"\\nonexistent" in m["flags"].lower():
            continue
        name = m["name"]
        if name.startswith(b'"'):
            name = re.sub(rb"\\(.)", rb"\1", name[1:-1])
        delim = line.split(b") ", 1)[1].split(b" ", 1)[0].strip(b'"')
        out.append((name, delim))
    return out


def dst_name(name: bytes, src_delim: bytes, dst_delim: bytes, dst_prefix: bytes) -> bytes:
    """The destination folder for a source folder: below the source's personal prefix
    (``INBOX.``), the same path with the destination's delimiter and prefix."""
    if name.upper() == b"INBOX":
        return b"INBOX"
    if name.upper().startswith(b"INBOX" + src_delim):
        name = name[len(b"INBOX" + src_delim):]
    return dst_prefix + name.replace(src_delim, dst_delim)


class Wire:
    """Pipelined commands on an imaplib session's socket."""

    def __init__(self, imap: imaplib.IMAP4) -> None:
        self.imap = imap
        self.n = 0

    def tag(self) -> bytes:
        self.n += 1
        return b"F%d" % self.n

    def send(self, data: bytes) -> None:
        self.imap.send(data)

    def until(self, tag: bytes, literal: bool = False) -> list[tuple[bytes, bytes]]:
        """Read to *tag*'s completion; the untagged FETCH responses as (text around the
        literal, literal)."""
        out = []
        while True:
            line = self.imap.readline()
            if not line:
                raise ConnectionError("connection closed")
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(line.decode(errors="replace").strip())
                return out
            m = _LITERAL.search(line)
            if m:
                body = self.imap.read(int(m[1]))
                rest = self.imap.readline()
                if literal:
                    out.append((line + rest, body))


def copy_folder(src: Wire, dst: Wire, name: bytes, target: bytes) -> int:
    """Copy and prove one folder; the number of messages."""
    typ, data = src.imap.select(quoted(name).decode(), readonly=True)
    if typ != "OK":
        raise RuntimeError(f"EXAMINE {name!r}: {data}")
    if target != b"INBOX":
        tag = dst.tag()
        dst.send(tag + b" CREATE " + quoted(target) + b"\r\n")
        try:
            dst.until(tag)
        except RuntimeError as exc:
            if "ALREADYEXISTS" not in str(exc):
                raise
    if int(data[0] or 0) == 0:
        return 0
    want: Counter[str] = Counter()
    pending: deque[bytes] = deque()
    batch: list[bytes] = []

    def flush() -> None:
        tag = dst.tag()
        dst.send(tag + b" APPEND " + quoted(target) + b"".join(batch) + b"\r\n")
        batch.clear()
        pending.append(tag)
        while len(pending) >= WINDOW:
            dst.until(pending.popleft())

    tag = src.tag()
    src.send(tag + b" UID FETCH 1:* (FLAGS INTERNALDATE BODY.PEEK[])\r\n")
    while True:  # the source's answer, message by message, appended in batches meanwhile
        line = src.imap.readline()
        if not line:
            raise ConnectionError("source closed the connection")
        if line.startswith(tag + b" "):
            if not line.startswith(tag + b" OK"):
                raise RuntimeError(line.decode(errors="replace").strip())
            break
        m = _LITERAL.search(line)
        if not m:
            continue
        body = src.imap.read(int(m[1]))
        text = line + src.imap.readline()
        flags = (_FLAGS.search(text) or [b"", b""])[1]
        flags = b" ".join(f for f in flags.split() if f.lower() != b"\\recent")
        date = (_DATE.search(text) or [b"", b""])[1]
        want[hashlib.sha256(body).hexdigest()] += 1
        batch.append(b" (" + flags + b") " + date + b" {%d+}\r\n" % len(body) + body)
        if len(batch) == BATCH:
            flush()
    if batch:
        flush()
    while pending:
        dst.until(pending.popleft())
    # Proof: every message back from the destination, as a multiset of SHA-256.
    typ, data = dst.imap.select(quoted(target).decode(), readonly=True)
    if typ != "OK":
        raise RuntimeError(f"EXAMINE {target!r} on the destination: {data}")
    tag = dst.tag()
    dst.send(tag + b" FETCH 1:* BODY.PEEK[]\r\n")
    got = Counter(hashlib.sha256(body).hexdigest() for _, body in dst.until(tag, literal=True))
    if got != want:
        raise RuntimeError(f"{name!r}: the copy differs from the source "
                           f"({sum(got.values())} messages against {sum(want.values())})")
    dst.imap.unselect() if "UNSELECT" in dst.imap.capabilities else dst.imap.close()
    return sum(want.values())


def copy_mailbox(args: argparse.Namespace, user: str) -> int:
    src = login(args.src, user, args.master_user, os.environ["FLOOR_SRC_PASSWORD"])
    dst = login(args.dst, user, args.dst_master_user or args.master_user,
                os.environ["FLOOR_DST_PASSWORD"])
    try:
        dst_delim = (folders(dst) or [(b"INBOX", b"/")])[0][1]
        wire_src, wire_dst = Wire(src), Wire(dst)
        return sum(copy_folder(wire_src, wire_dst, name,
                               dst_name(name, delim, dst_delim, b""))
                   for name, delim in folders(src))
    finally:
        for imap in (src, dst):
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                imap.logout()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", required=True, metavar="HOST:PORT")
    ap.add_argument("--dst", required=True, metavar="HOST:PORT")
    ap.add_argument("--master-user", help="SASL PLAIN as this master user (both servers)")
    ap.add_argument("--dst-master-user", help="the destination's, if different")
    ap.add_argument("--parallel", type=int, default=1, help="mailboxes at once")
    ap.add_argument("users", nargs="+")
    args = ap.parse_args()
    with ThreadPoolExecutor(args.parallel) as pool:
        counts = list(pool.map(lambda u: copy_mailbox(args, u), args.users))
    print(f"{sum(counts)} messages copied and proven in {len(counts)} mailboxes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
