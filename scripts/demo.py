"""Demo: two local Dovecot servers, sample PEC mailboxes, verified migrations.

First an operator's single-mailbox copies (`pecsync copy`, `verify`); then a list of four
members as an Ordine runs it: one of them gives the password on the member page (`pecsync
serve` on a free port, over real HTTP: the form, the password check, the confirmation),
`run` copies the ready ones, two are blocked on their members (a wrong password, 2-step
verification), they act on their notices on the page, and the next `run` copies them.
Exits 0 only when every mailbox is copied and verified.

Run through scripts/demo.sh (which installs what is missing: Dovecot and ./.venv, nothing
else).  Everything lives under ./demo-run; the servers and the page are stopped at the end,
or, with --keep, left up until Ctrl-C so that a person can open the page.
"""

from __future__ import annotations

import argparse
import contextlib
import http.cookiejar
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from html import unescape
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.dovecot import free_port, lab_pair  # noqa: E402
from lab.sample import mailbox  # noqa: E402
from pecsync.config import ServerConfig  # noqa: E402
from pecsync.imap.session import ImapSession  # noqa: E402
from pecsync.model import AppendItem, Credentials, Secret, Side  # noqa: E402
from pecsync.web.security import solve_pow  # noqa: E402

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


#: The operator's list: (address, real source password, password in the list, 2FA reason).
#: verdi is ready; gialli has 2-step verification on; neri's listed password is wrong;
#: blu is listed without a password: the member gives it on the member page.
BULK = [("geom.verdi@pec.ordine-demo.it", "pw-verdi", "pw-verdi", None),
        ("arch.gialli@pec.ordine-demo.it", "pw-gialli", "pw-gialli",
         "Verifica in due passaggi attiva: usa una password per le app"),
        ("dott.neri@pec.ordine-demo.it", "pw-neri", "sbagliata", None),
        ("avv.blu@pec.ordine-demo.it", "pw-blu", "", None)]
PAGE_MEMBER = BULK[3]
ORDER_SLUG = "ingegneri-demo"


class MemberPage:
    """``pecsync serve`` on a free port, and a member's browser reduced to the standard
    library: the form's GET (its CSRF cookie and one-time fields), the proof of work the
    page's script computes, the POST, the page that answers."""

    def __init__(self, pecsync: list[str], cfg: Path, env: dict[str, str]) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/"
        self.log = cfg.parent / "serve.log"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([*pecsync, "serve", "--config", str(cfg), "--listen",
                                          f"127.0.0.1:{port}"], env=env,
                                         stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.url, timeout=2) as page:
                    if page.status == 200:
                        return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    tail = self.log.read_text("utf-8", "replace")[-2000:]
                    raise SystemExit(f"demo: pecsync serve did not start: {tail}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def submit(self, address: str, password: str) -> tuple[int, str, str | None]:
        """What a member does: open the page, type the address and password, send.  The
        answer's HTTP status, its heading, and the status link it gives (if accepted)."""
        browser = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with browser.open(self.url, timeout=30) as page:
            form = page.read().decode("utf-8")
        fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"',
                                 form))
        bits = re.search(r'data-pow-bits="(\d+)"', form)
        wait_ms = re.search(r'data-min-fill-ms="(\d+)"', form)
        if "csrf" not in fields or "challenge" not in fields or bits is None:
            raise SystemExit("demo: the member page's form has no CSRF/challenge fields")
        fields["pow"] = solve_pow(fields["challenge"], int(bits.group(1)))  # the page's script
        time.sleep(int(wait_ms.group(1)) / 1000 + 0.2 if wait_ms else 1.2)  # a person types
        fields.update(address=address, password=password)
        request = urllib.request.Request(self.url, data=urllib.parse.urlencode(fields).encode(),
                                         method="POST")
        try:
            with browser.open(request, timeout=60) as answer:
                status, html = answer.status, answer.read().decode("utf-8")
        except urllib.error.HTTPError as refused:
            status, html = refused.code, refused.read().decode("utf-8")
        title = re.search(r"<h1>(.*?)</h1>", html, re.S)
        link = re.search(r'id="status-link" href="([^"]+)"', html)
        return (status, unescape(title.group(1).strip()) if title else "",
                urllib.parse.urljoin(self.url, unescape(link.group(1))) if link else None)

    def state_on(self, link: str) -> str:
        """The state a member reads on their own status page."""
        with urllib.request.urlopen(link, timeout=30) as page:
            html = page.read().decode("utf-8")
        found = re.search(r'<dd id="state"[^>]*>(.*?)</dd>', html, re.S)
        return unescape(found.group(1).strip()) if found else "?"


def through_the_page(page: MemberPage, address: str, password: str) -> str | None:
    """One member on the page; the status link when the password was accepted."""
    print(f"\n# {address} opens {page.url}, types the address and the password, sends")
    status, title, link = page.submit(address, password)
    print(f"  HTTP {status}: {title}" + (f" (status page: {link})" if link else ""))
    return link if status == 200 and link else None


def bulk_demo(run_dir: Path, src: object, dst: object, pecsync: list[str], keep: bool) -> int:
    """An operator's list: one member ready, one with 2-step verification on, one whose
    password is wrong, one who gives it on the member page.  Import, the page, run, status,
    daily report and notices; then the two blocked members act on their notices (on the
    page) and the next run copies them too.  0 only when every mailbox is done (copied and
    verified)."""
    rows = ["order,address,source_user,source_password,dest_user,dest_password"]
    for i, (user, real, listed, twofa) in enumerate(BULK):
        if twofa:
            src.add_2fa_user(user, real, twofa)  # type: ignore[attr-defined]
        else:
            src.add_user(user, real)  # type: ignore[attr-defined]
        dst.add_user(user, "dst-" + real)  # type: ignore[attr-defined]
        seed(src, user, 10 + i, 120)  # through the master user, 2-step verification or not
        order = "Ordine degli Ingegneri (demo)" if i % 2 else "Ordine degli Architetti (demo)"
        rows.append(f"{order},{user},,{listed},,")
    (run_dir / "mailboxes.csv").write_text("\n".join(rows) + "\n", "utf-8")
    cfg = run_dir / "bulk.toml"
    cfg.write_text(
        f'[source]\nhost = "127.0.0.1"\nport = {src.port}\nsecurity = "plain"\n\n'  # type: ignore[attr-defined]
        f'[destination]\nhost = "127.0.0.1"\nport = {dst.port}\nsecurity = "plain"\n'  # type: ignore[attr-defined]
        f'master_user = "{dst.master_user}"\n\n'  # type: ignore[attr-defined]
        '[state]\ndatabase = "bulk.sqlite3"\nkey_file = "pecsync.key"\n\n'
        "[migration]\ndeadline = 2026-12-31\n\n"
        '[intake]\ncontact = "segreteria@ordine-demo.it"\npow_bits = 12\n'
        "min_fill_seconds = 1\n\n"
        '[orders."Ordine degli Architetti (demo)"]\nslug = "architetti-demo"\n'
        'domains = ["pec.ordine-demo.it"]\n\n'
        f'[orders."Ordine degli Ingegneri (demo)"]\nslug = "{ORDER_SLUG}"\n'
        'domains = ["pec.ordine-demo.it"]\n', "utf-8")
    env = dict(os.environ, PECSYNC_DEST_PASSWORD=dst.master_password)  # type: ignore[attr-defined]
    rel = cfg.relative_to(ROOT)

    def pecsync_cmd(*step: str, expect: tuple[int, ...] = (0,), why: str = "") -> int:
        shown = " ".join(step[1:]).replace(str(ROOT) + "/", "")
        print(f"\n$ pecsync {step[0]} --config {rel} {shown}".rstrip())
        rc = subprocess.call([*pecsync, step[0], "--config", str(cfg), *step[1:]], env=env)
        if rc not in expect:
            print(f"demo: pecsync {step[0]} exited {rc}, expected {' or '.join(map(str, expect))}")
            return rc or 1
        if why:
            print(f"(exit {rc}: {why})")
        return 0

    for step in (("init-key",), ("import", str(run_dir / "mailboxes.csv"))):
        if rc := pecsync_cmd(*step):
            return rc
    page = MemberPage(pecsync, cfg, env)
    try:
        print(f"\ndemo: the member page (pecsync serve) is at {page.url}")
        address, password = PAGE_MEMBER[0], PAGE_MEMBER[1]
        link = through_the_page(page, address, password)
        if link is None:
            print(f"demo: the page did not accept {address}'s password")
            return 1
        status = pecsync_cmd("run", "--workers", "2", expect=(1,),
                             why="1 = some mailboxes are blocked on their members, as expected")
        for step in (("status",), ("report", "--out", str(run_dir / "report")),
                     ("notices", "--out", str(run_dir / "notices"))):
            status |= pecsync_cmd(*step)
        print(f"\n# {address} reloads the status page: {page.state_on(link)}")
        print("\n# the blocked members act on their notices: dott.neri gives the right "
              "password; arch.gialli turns 2-step verification off, then sends it again")
        src.clear_2fa(BULK[1][0])  # type: ignore[attr-defined]
        for user, real, _, _ in (BULK[2], BULK[1]):
            if through_the_page(page, user, real) is None:
                print(f"demo: the page did not accept {user}'s password")
                status |= 1
        status |= pecsync_cmd("run", "--workers", "2")
        status |= pecsync_cmd("status")
        status |= all_done(pecsync, cfg, env)
        print(f"\n# {address} reloads the status page: {page.state_on(link)}")
        print(f"\ndemo: open {(run_dir / 'report' / 'index.html').relative_to(ROOT)} in a browser")
        if keep:
            print(f"demo: --keep: the lab servers and the member page stay up: open {page.url} "
                  f"(order page: {page.url}o/{ORDER_SLUG}); try {PAGE_MEMBER[0]} with "
                  f"password {PAGE_MEMBER[1]}, or a wrong one.  Ctrl-C stops everything.")
            with contextlib.suppress(KeyboardInterrupt):
                while page.proc.poll() is None:
                    time.sleep(1)
        else:
            print(f"demo: the member page was at {page.url}; to open it yourself while the "
                  f"servers are up: ./scripts/demo.sh --keep (Ctrl-C stops it)")
    finally:
        page.stop()
    return status


def all_done(pecsync: list[str], cfg: Path, env: dict[str, str]) -> int:
    """0 when every mailbox of the list is done (copied and verified), else 1, saying which."""
    out = subprocess.run([*pecsync, "status", "--config", str(cfg), "--json"], env=env,
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print(f"demo: status --json failed: {out.stderr}")
        return 1
    left = [f"{m['address']} ({m['state']})" for m in json.loads(out.stdout)["mailboxes"]
            if m["state"] != "done"]
    if left:
        print("demo: not copied and verified: " + ", ".join(left))
    return 1 if left else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", action="store_true",
                    help="at the end, keep the lab servers and the member page up until "
                         "Ctrl-C, to open the page in a browser")
    args = ap.parse_args()
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
        status |= bulk_demo(run_dir, src, dst, pecsync, args.keep)
    print("\ndemo: " + ("every mailbox copied and verified" if status == 0
                        else f"something failed (exit {status})"))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
