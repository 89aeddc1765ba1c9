"""Demo: two local Dovecot servers, two sample PEC mailboxes, a verified migration.

Run through scripts/demo.sh (which installs what is missing).  Everything lives under
./demo-run and the servers are stopped at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.dovecot import lab_pair  # noqa: E402
from lab.sample import mailbox  # noqa: E402
from pecsync.config import ServerConfig  # noqa: E402
from pecsync.imap.session import ImapSession  # noqa: E402
from pecsync.model import AppendItem, Credentials, Secret, Side  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "pec"
MEMBERS = ("avv.rossi@pec.ordine-demo.it", "ing.bianchi@pec.ordine-demo.it")


def seed(server: object, user: str, seed_no: int, count: int) -> int:
    s = ImapSession(ServerConfig(server.host, server.port, "plain",  # type: ignore[attr-defined]
                                 master_user=server.master_user),  # type: ignore[attr-defined]
                    Side.SRC, mailbox=user)
    s.login(Credentials(user, Secret(server.master_password),  # type: ignore[attr-defined]
                        server.master_user))  # type: ignore[attr-defined]
    by_folder: dict[str, list[AppendItem]] = {}
    for m in mailbox(seed_no, count, large=False):
        name = "INBOX" if m.folder == "INBOX" else "INBOX." + m.folder.replace("/", ".")
        by_folder.setdefault(name, []).append(AppendItem(m.body, m.flags, m.internaldate))
    if CORPUS.is_dir() and seed_no == 1:
        real = [p.read_bytes() for p in sorted(CORPUS.rglob("*.eml"))]
        by_folder.setdefault("INBOX", []).extend(
            AppendItem(b, ("\\Seen",), time_of(i)) for i, b in enumerate(real))
    total = 0
    for name, items in by_folder.items():
        if name != "INBOX":
            s.create_folder(name)
        for i in range(0, len(items), 50):
            s.append(name, items[i:i + 50]).raise_refused()
        total += len(items)
    s.logout()
    return total


def time_of(i: int):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta
    return datetime(2022, 3, 1, 10, 0, tzinfo=UTC) + timedelta(hours=i)


def bulk_demo(run_dir: Path, src: object, dst: object, pecsync: list[str]) -> int:
    """An operator's list: one member ready, one with 2-step verification on, one whose
    password is wrong.  Import, run, status, daily report and notices."""
    members = [("geom.verdi@pec.ordine-demo.it", "pw-verdi", "pw-verdi", None),
               ("arch.gialli@pec.ordine-demo.it", "pw-gialli", "pw-gialli",
                "Verifica in due passaggi attiva: usa una password per le app"),
               ("dott.neri@pec.ordine-demo.it", "pw-neri", "sbagliata", None)]
    rows = ["order,address,source_user,source_password,dest_user,dest_password"]
    for i, (user, real, listed, twofa) in enumerate(members):
        if twofa:
            src.add_2fa_user(user, real, twofa)  # type: ignore[attr-defined]
        else:
            src.add_user(user, real)  # type: ignore[attr-defined]
        dst.add_user(user, "dst-" + real)  # type: ignore[attr-defined]
        if not twofa:
            seed(src, user, 10 + i, 120)
        order = "Ordine degli Ingegneri (demo)" if i % 2 else "Ordine degli Architetti (demo)"
        rows.append(f"{order},{user},,{listed},,dst-{real}")
    (run_dir / "mailboxes.csv").write_text("\n".join(rows) + "\n", "utf-8")
    cfg = run_dir / "bulk.toml"
    cfg.write_text(
        f'[source]\nhost = "127.0.0.1"\nport = {src.port}\nsecurity = "plain"\n\n'  # type: ignore[attr-defined]
        f'[destination]\nhost = "127.0.0.1"\nport = {dst.port}\nsecurity = "plain"\n\n'  # type: ignore[attr-defined]
        '[state]\ndatabase = "bulk.sqlite3"\nkey_file = "pecsync.key"\n\n'
        "[migration]\ndeadline = 2026-12-31\n", "utf-8")
    env = dict(os.environ)
    rel = cfg.relative_to(ROOT)
    steps = [["init-key"], ["import", str(run_dir / "mailboxes.csv")], ["run", "--workers", "2"],
             ["status"], ["report", "--out", str(run_dir / "report")],
             ["notices", "--out", str(run_dir / "notices")]]
    for step in steps:
        shown = " ".join(step).replace(str(ROOT) + "/", "")
        print(f"\n$ pecsync {step[0]} --config {rel} {shown[len(step[0]) + 1:]}")
        rc = subprocess.call([*pecsync, step[0], "--config", str(cfg), *step[1:]], env=env)
        if step[0] == "run":
            print(f"(exit {rc}: 1 = some mailboxes are blocked on their members, as expected)")
        elif rc != 0:
            return rc
    print(f"\ndemo: open {(run_dir / 'report' / 'index.html').relative_to(ROOT)} in a browser")
    return 0


def main() -> int:
    run_dir = ROOT / "demo-run"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir()
    with lab_pair(run_dir / "lab") as (src, dst):
        print(f"demo: source Dovecot on 127.0.0.1:{src.port} (INBOX. prefix, '.' separator), "
              f"destination on 127.0.0.1:{dst.port} ('/' separator)")
        for i, user in enumerate(MEMBERS, 1):
            src.add_user(user, f"demo-src-{i}")
            dst.add_user(user, f"demo-dst-{i}")
            n = seed(src, user, i, 400 if i == 1 else 250)
            print(f"demo: seeded {user} with {n} messages")
        cfg = run_dir / "pecsync.toml"
        cfg.write_text(
            f'[source]\nhost = "127.0.0.1"\nport = {src.port}\nsecurity = "plain"\n'
            f'master_user = "{src.master_user}"\n\n'
            f'[destination]\nhost = "127.0.0.1"\nport = {dst.port}\nsecurity = "plain"\n'
            f'master_user = "{dst.master_user}"\n\n[state]\ndatabase = "state.sqlite3"\n',
            "utf-8")
        env = dict(os.environ, PECSYNC_SOURCE_PASSWORD=src.master_password,
                   PECSYNC_DEST_PASSWORD=dst.master_password)
        pecsync = [str(ROOT / ".venv" / "bin" / "pecsync"), "--quiet"]
        if not Path(pecsync[0]).exists():
            pecsync = [sys.executable, "-m", "pecsync", "--quiet"]
        status = 0
        for user in MEMBERS:
            print(f"\n$ pecsync copy --config {cfg.relative_to(ROOT)} --source-user {user}")
            started = time.monotonic()
            rc = subprocess.call([*pecsync, "copy", "--config", str(cfg), "--source-user", user],
                                 env=env)
            print(f"(exit {rc}, {time.monotonic() - started:.1f} s)")
            status |= rc
        user = MEMBERS[0]
        print(f"\n$ pecsync copy ... --source-user {user}   # again: nothing new to copy")
        status |= subprocess.call([*pecsync, "copy", "--config", str(cfg), "--source-user", user],
                                  env=env)
        print(f"\n$ pecsync verify --config {cfg.relative_to(ROOT)} --source-user {user}")
        status |= subprocess.call([*pecsync, "verify", "--config", str(cfg), "--source-user",
                                   user], env=env)
        status |= bulk_demo(run_dir, src, dst, pecsync)
    print("\ndemo: " + ("every mailbox copied and verified" if status == 0
                        else f"something failed (exit {status})"))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
