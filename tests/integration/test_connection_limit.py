"""A source that caps connections per user and IP (Dovecot's ``mail_max_userip_connections``
at 2, as providers do): the run learns the limit from the refusals, opens no lane over it
again (in this run and the next, from the state database) and fails no job."""

from __future__ import annotations

import imaplib
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.dovecot import DovecotServer
from tests.helpers import ROOT, assert_same_content, cli_env, run_cli, seed, when, write_config

HEADER = "order,address,source_user,source_password,dest_user,dest_password\n"
FOLDERS = ["INBOX", "INBOX.Archivio", "INBOX.Clienti", "INBOX.Fornitori", "INBOX.Varie"]
LIMIT = 2
REFUSED = "Maximum number of connections"


@pytest.fixture(scope="module")
def limited_src(lab_root: Path) -> Iterator[DovecotServer]:
    conf = f"protocol imap {{\n  mail_max_userip_connections = {LIMIT}\n}}"
    with DovecotServer(lab_root, "src-limit2", flavour="src", extra_conf=conf) as server:
        yield server


def fill(server: DovecotServer, user: str, per_folder: int = 8) -> None:
    for n, folder in enumerate(FOLDERS):
        seed(server, user, folder,
             [((f"From: a{i}@pec.example.it\r\nSubject: {folder} {i}\r\n"
                f"Message-ID: <{n}.{i}@pec.example.it>\r\n\r\n"
                + f"riga {i} " * (2000 + 50 * i) + "\r\n").encode(),
               ("\\Seen",) if i % 2 else (), when(i))
              for i in range(per_folder + 3 * n)])


def new_users(src: DovecotServer, dst: DovecotServer, tag: str, n: int) -> list[str]:
    users = [f"{tag}{i}@pec.test.it" for i in range(n)]
    for u in users:
        src.add_user(u, "src-pw")
        dst.add_user(u, "dst-pw")
        fill(src, u)
    return users


def peak_connections(server: DovecotServer, user: str, since: int) -> int:
    """The most IMAP sessions *user* had at once, from the server's log after line *since*."""
    held, peak = set(), 0
    for line in server.log_text().splitlines()[since:]:
        if "imap-login: Info: Login: " in line and f"user=<{user}>" in line:
            held.add(line.rsplit("session=<", 1)[1].rstrip(">"))
            peak = max(peak, len(held))
        elif f" imap({user})<" in line and "Disconnected" in line:
            held.discard(line.split(">: ", 1)[0].rsplit("<", 1)[1])
    return peak


def states(cfg: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    r = run_cli(["status", "--config", str(cfg), "--json"], env)
    assert r.returncode == 0, r.stderr
    jobs: list[dict[str, Any]] = json.loads(r.stdout)["mailboxes"]
    return jobs


def test_the_limit_is_learned_from_refusals_and_kept_for_the_next_run(
        limited_src: DovecotServer, dovecot_dst: DovecotServer, tmp_path: Path) -> None:
    """Dovecot counts a connection once its process runs: logins made at the same moment all
    pass (a mailbox's lanes may then hold more than the limit), a later one over the limit
    is refused.  Here the member's own client holds one connection: the mailbox logs in, and
    its lanes are refused."""
    cfg = write_config(tmp_path, limited_src, dovecot_dst, engine={"folders_in_parallel": 4})
    env = cli_env(limited_src, dovecot_dst)
    (user,) = new_users(limited_src, dovecot_dst, "limita", 1)
    (tmp_path / "a.csv").write_text(HEADER + f"O,{user},,,,\n")
    assert run_cli(["import", "--config", str(cfg), str(tmp_path / "a.csv")], env
                   ).returncode == 0
    member = imaplib.IMAP4(limited_src.host, limited_src.port)
    member.login(user, "src-pw")
    refusals = limited_src.log_text().count(REFUSED)
    try:
        r = run_cli(["run", "--config", str(cfg)], env)
    finally:
        member.logout()
    assert r.returncode == 0, r.stdout + r.stderr
    (job,) = states(cfg, env)
    assert job["state"] == "done" and not job.get("reason"), job
    assert_same_content(limited_src, dovecot_dst, user)
    # The lanes were refused, and the limit the server states was learned and kept in the
    # state database.
    assert limited_src.log_text().count(REFUSED) > refusals
    assert "connection_limit_learned" in r.stderr
    with sqlite3.connect(tmp_path / "state.sqlite3") as db:
        assert db.execute("SELECT server, max_connections FROM server_limit").fetchall() == [
            (f"{limited_src.host}:{limited_src.port}", LIMIT)]

    # A later run (a new process) starts from the learned limit: each mailbox holds two
    # source connections at most (its own pair and one lane), not four (without the limit
    # its lanes, logging in at once, would all pass), and no LOGIN is refused.
    second = new_users(limited_src, dovecot_dst, "limitb", 2)
    (tmp_path / "b.csv").write_text(HEADER + "".join(f"O,{u},,,,\n" for u in second))
    assert run_cli(["import", "--config", str(cfg), str(tmp_path / "b.csv")], env
                   ).returncode == 0
    refusals = limited_src.log_text().count(REFUSED)
    since = len(limited_src.log_text().splitlines())
    r = run_cli(["run", "--config", str(cfg), "--workers", "2"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert {j["state"] for j in states(cfg, env)} == {"done"}
    assert limited_src.log_text().count(REFUSED) == refusals
    assert {u: peak_connections(limited_src, u, since) for u in second} == {u: 2 for u in second}
    for u in second:
        assert_same_content(limited_src, dovecot_dst, u)


def test_a_mailbox_refused_for_the_limit_waits_instead_of_failing(
        limited_src: DovecotServer, dovecot_dst: DovecotServer, tmp_path: Path) -> None:
    """The member's own mail client holds both connections the provider allows when the job
    starts: the job's LOGIN is refused for the limit, waits, and goes through once one is
    closed; the job ends done, never in retry_wait for "too many connections"."""
    (user,) = new_users(limited_src, dovecot_dst, "limitc", 1)
    cfg = write_config(tmp_path, limited_src, dovecot_dst, engine={"folders_in_parallel": 2})
    env = cli_env(limited_src, dovecot_dst)
    (tmp_path / "c.csv").write_text(HEADER + f"O,{user},,,,\n")
    assert run_cli(["import", "--config", str(cfg), str(tmp_path / "c.csv")], env
                   ).returncode == 0
    held = []
    for _ in range(LIMIT):
        c = imaplib.IMAP4(limited_src.host, limited_src.port)
        c.login(user, "src-pw")
        held.append(c)
    refusals = limited_src.log_text().count(REFUSED)
    proc = subprocess.Popen([sys.executable, "-m", "pecsync", "run", "--config", str(cfg)],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 30
        # The start-up check's LOGIN (it warns and goes on), then the job's own.
        while limited_src.log_text().count(REFUSED) < refusals + 2:
            assert time.monotonic() < deadline and proc.poll() is None, "never refused"
            time.sleep(0.05)
        for c in held:
            c.logout()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out + err
    assert "login_waits_for_connection_limit" in err, err
    (job,) = states(cfg, env)
    assert job["state"] == "done", job
    assert_same_content(limited_src, dovecot_dst, user)
