"""Two lab servers that keep running for a rehearsal: ``python -m lab up`` / ``down``.

``up`` starts a source (``INBOX.`` prefix, ``.`` separator, like Aruba) and a destination
(``/`` separator) Dovecot under a directory (default ``./lab-run``), creates a few members
with PEC-shaped sample mail, and writes there a ready configuration (``pecsync.toml``),
its key file and the member list (``mailboxes.csv``: one member with 2-step verification on,
one with a wrong password, one without a password).  The servers are daemons: they keep
running after ``up`` returns, until ``python -m lab down``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import imapclient
import imapclient.exceptions

from lab.dovecot import DOVECOT, DovecotServer, servers_toml
from lab.sample import mailbox

STATE = "lab.json"
ORDER = "Ordine di prova"
DOMAIN = "pec.ordine-prova.it"


@dataclass(frozen=True)
class Member:
    user: str
    password: str
    listed: str  # the password in the list ("" = waiting for credentials)
    twofa: str | None = None
    messages: int = 60


def members(count: int) -> list[Member]:
    """*count* members (at least 3): the last three are a 2-step verification case, a wrong
    password in the list and a member without a password yet."""
    plain = [Member(f"membro{n:02d}@{DOMAIN}", f"pw-{n:02d}", f"pw-{n:02d}")
             for n in range(1, max(count - 2, 1))]
    return [
        *plain,
        Member(f"duepassaggi@{DOMAIN}", "pw-2fa", "pw-2fa",
               "Verifica in due passaggi attiva: disattivarla prima della migrazione"),
        Member(f"sbagliata@{DOMAIN}", "pw-vera", "pw-sbagliata"),
        Member(f"senzapassword@{DOMAIN}", "pw-senza", ""),
    ]


def _seed(server: DovecotServer, member: Member, seed_no: int) -> int:
    client = server.client(member.user)
    try:
        made: set[str] = set()
        n = 0
        for msg in mailbox(seed_no, member.messages, large=False):
            folder = "INBOX" if msg.folder == "INBOX" else "INBOX." + msg.folder.replace("/", ".")
            if folder != "INBOX" and folder not in made:
                client.create_folder(folder)
                made.add(folder)
            for attempt in range(3):  # a loaded lab Dovecot rarely answers [SERVERBUG]
                try:
                    client.append(folder, msg.body, msg.flags, msg.internaldate)
                    break
                except imapclient.exceptions.IMAPClientError:
                    if attempt == 2:
                        raise
                    time.sleep(0.5)
            n += 1
        return n
    finally:
        client.logout()


def _config(src: DovecotServer, dst: DovecotServer) -> str:
    return (f'# Written by `python -m lab up`: the two lab servers of {src.root.parent}.\n'
            + servers_toml(src, dst, dest_master=False)
            + 'key_file = "pecsync.key"\n\n[migration]\ndeadline = 2026-12-31\n')


def up(run_dir: Path, count: int = 6) -> Path:
    """Start the pair (stopping a previous one there first); return the config path."""
    run_dir = run_dir.resolve()
    down(run_dir, quiet=True)
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    src = DovecotServer(run_dir / "lab", "src", flavour="src")
    dst = DovecotServer(run_dir / "lab", "dst", flavour="dst")
    src.start()
    try:
        dst.start()
    except BaseException:
        src.stop()
        raise
    (run_dir / STATE).write_text(json.dumps({
        "servers": {s.name: {"host": s.host, "port": s.port, "conf": str(s.conf),
                             "master_user": s.master_user,
                             "master_password": s.master_password} for s in (src, dst)},
    }, indent=2) + "\n", "utf-8")
    (run_dir / STATE).chmod(0o600)
    rows = ["order,address,source_user,source_password,dest_user,dest_password"]
    for i, m in enumerate(members(count), 1):
        if m.twofa:
            src.add_2fa_user(m.user, m.password, m.twofa)
        else:
            src.add_user(m.user, m.password)
        dst.add_user(m.user, "dst-" + m.password)
        if not m.twofa:
            _seed(src, m, i)
        dst_pw = f"dst-{m.password}" if m.listed else ""
        rows.append(f"{ORDER},{m.user},,{m.listed},,{dst_pw}")
    (run_dir / "mailboxes.csv").write_text("\n".join(rows) + "\n", "utf-8")
    cfg = run_dir / "pecsync.toml"
    cfg.write_text(_config(src, dst), "utf-8")
    return cfg


def down(run_dir: Path, *, quiet: bool = False) -> bool:
    """Stop the pair started by :func:`up` in *run_dir*; False when none was running."""
    state = run_dir.resolve() / STATE
    try:
        servers = json.loads(state.read_text("utf-8"))["servers"]
    except (OSError, ValueError, KeyError):
        if not quiet:
            sys.stderr.write(f"lab down: no lab servers recorded in {state}\n")
        return False
    for info in servers.values():
        conf = Path(info["conf"])
        subprocess.run([DOVECOT, "-c", str(conf), "stop"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        pidfile = conf.parent / "run" / "master.pid"
        deadline = time.monotonic() + 10
        while pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    state.unlink()
    return True
