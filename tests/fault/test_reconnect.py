"""Dropped connections and a password changed mid-copy, against real Dovecot (issue 13, 1-2).

Each connection of a bulk run is reset once at a random byte count (tests/faultproxy.py):
one `run` reconnects and resumes until every mailbox is done, byte-exact.  A password
changed while a copy runs (the provider drops the sessions with BYE) blocks the mailbox as
`blocked_credentials_changed` within that run, after a single refused LOGIN.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.faultproxy import ResetProxy
from tests.helpers import (
    ROOT,
    assert_same_content,
    cli_env,
    run_cli,
    run_until_copied,
    seed,
    session,
    snapshot,
    when,
    write_config,
)

HEADER = "order,address,source_user,source_password,dest_user,dest_password\n"


def messages(n: int, tag: str, size: int) -> list[tuple[bytes, tuple[str, ...], Any]]:
    return [(b"Subject: %s %d\r\nMessage-ID: <%s.%d@t>\r\n\r\n%s\r\n"
             % (tag.encode(), i, tag.encode(), i, (b"%d " % i) * (size // 4)),
             ("\\Seen",) if i % 3 else (), when(i)) for i in range(n)]


def states(cfg: Path, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    r = run_cli(["status", "--config", str(cfg), "--json"], env)
    assert r.returncode == 0, r.stderr
    return {m["address"]: m for m in json.loads(r.stdout)["mailboxes"]}


@pytest.mark.slow
def test_one_run_survives_a_reset_of_every_connection(dovecot_src: Any, dovecot_dst: Any,
                                                      users: Any, tmp_path: Path) -> None:
    names = [users.pair("s-pw", "d-pw") for _ in range(3)]
    for user in names:
        seed(dovecot_src, user, "INBOX", messages(150, user, 8_000))
        seed(dovecot_src, user, "INBOX.Pratiche", messages(60, user + "p", 12_000))
        seed(dovecot_src, user, "INBOX.Archivio", messages(40, user + "a", 5_000))
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + "".join(f"O,{u},,s-pw,,d-pw\n" for u in names))
    # A mailbox opens up to twice folders_in_parallel lanes when workers are idle (architecture
    # §5), so a source connection may read only a few hundred kB: the cut falls below 800 kB.
    with ResetProxy(dovecot_src.host, dovecot_src.port, seed=13, high=800_000) as src_proxy, \
            ResetProxy(dovecot_dst.host, dovecot_dst.port, seed=31) as dst_proxy:
        # Default settings: without reconnects inside the attempt, the run would end at the
        # first reset with the mailboxes in retry_wait (60 s, doubling).
        cfg = write_config(tmp_path, SimpleNamespace(host="127.0.0.1", port=src_proxy.port),
                           SimpleNamespace(host="127.0.0.1", port=dst_proxy.port),
                           master=False, engine={"batch_max_messages": 10})
        env = cli_env(dovecot_src, dovecot_dst)
        assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
        started = time.monotonic()
        r = run_cli(["run", "--config", str(cfg), "--workers", "2"], env, timeout=600)
        elapsed = time.monotonic() - started
        src_proxy.armed = dst_proxy.armed = False
        resets = src_proxy.resets + dst_proxy.resets
        connections = src_proxy.connections + dst_proxy.connections
        assert r.returncode == 0, r.stdout + r.stderr[-3000:]
        jobs = states(cfg, env)
    assert {jobs[u]["state"] for u in names} == {"done"}, jobs
    # The faults happened, mid-copy, on both servers' connections.
    assert src_proxy.resets >= 1 and dst_proxy.resets >= 1 and resets >= 4, (
        src_proxy.resets, dst_proxy.resets)
    assert "connection_lost_reconnecting" in r.stderr
    for user in names:
        assert_same_content(dovecot_src, dovecot_dst, user)  # byte-exact, no duplicates
    print(f"3 mailboxes through resetting proxies: {resets} resets of {connections} "
          f"connections, {elapsed:.1f} s; mailbox reconnects "
          f"{r.stderr.count('connection_lost_reconnecting')}, lanes handing a folder back "
          f"{r.stderr.count('lane_connection_lost')}")


def _refused_logins(log: str, user: str) -> int:
    return sum(1 for line in log.splitlines()
               if "imap-login:" in line and f"user=<{user}>" in line and "auth failed" in line)


@pytest.mark.slow
def test_password_changed_mid_copy_blocks_in_the_same_run(dovecot_src: Any, dovecot_dst: Any,
                                                          users: Any, tmp_path: Path) -> None:
    user = users.pair("old-pw", "dst-pw")
    seed(dovecot_src, user, "INBOX", messages(1200, "c", 3_000))
    seed(dovecot_src, user, "INBOX.Pratiche", messages(800, "p", 3_000))
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + f"O,{user},,old-pw,,dst-pw\n")
    # One message per APPEND: slow enough that the password changes mid-copy.  Default
    # retry settings: a job sent to retry_wait would end this run with exit 3.
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False,
                       engine={"batch_max_messages": 1, "verify": False})
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    proc = run_until_copied(cfg, env, dovecot_dst, user, 30)
    log_before = len(dovecot_src.log_text())
    dovecot_src.set_password(user, "new-pw")  # the member changed it (waits out the re-read)
    dovecot_src.kick(user)  # ...and the provider dropped the open sessions (BYE)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, out + err[-3000:]
    job = states(cfg, env)[user]
    assert job["state"] == "blocked_credentials_changed", job
    assert "AUTHENTICATIONFAILED" in job["reason"]  # the server's words
    assert f"`pecsync retry {user} --password-stdin`" in job["reason"]
    assert "intake page" in job["reason"]
    assert f"{user}: blocked_credentials_changed" in out
    # One refused LOGIN after the change, not one per connection (lanes) or per retry.
    assert _refused_logins(dovecot_src.log_text()[log_before:], user) == 1
    snap = snapshot(dovecot_dst, user)
    copied = sum(sum(c.values()) for c in snap.values())
    assert 0 < copied < 2000  # what was copied is kept
    r = subprocess.run([sys.executable, "-m", "pecsync", "retry", "--config", str(cfg), user,
                        "--password-stdin"], input="new-pw\n", env=env, cwd=ROOT,
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert f"{user}: done" in r.stdout
    assert_same_content(dovecot_src, dovecot_dst, user)  # resumed: no duplicates, none lost
    assert "new-pw" not in r.stdout + r.stderr + out + err


@pytest.mark.slow
def test_a_plain_run_waits_for_jobs_in_retry_wait(lab_root: Path, dovecot_src: Any,
                                                  users: Any, tmp_path: Path) -> None:
    """The destination went down under a run: every job is in retry_wait when the next
    plain `run` starts (with the server back), and that `run` (no --follow) waits for them
    and takes them up again when their time comes, until done.  (A plain run cannot start
    while the server is down: its pre-flight exits 3, see test_first_run.py; the jobs are
    put in retry_wait by a `run --follow`, which starts anyway, stopped with Ctrl-C.)"""
    from lab.dovecot import DovecotServer

    dst = DovecotServer(lab_root, f"dst-wait-{time.monotonic_ns()}", flavour="dst")
    dst.start()
    try:
        names = [users.name() for _ in range(3)]
        for u in names:
            dovecot_src.add_user(u, "s")
            dst.add_user(u, "d")
            seed(dovecot_src, u, "INBOX", messages(5, u, 1_000))
        csv = tmp_path / "list.csv"
        csv.write_text(HEADER + "".join(f"O,{u},,s,,d\n" for u in names))
        cfg = write_config(tmp_path, dovecot_src, dst, master=False,
                           engine={"retry_initial_seconds": 24, "retry_max_seconds": 30})
        env = cli_env(dovecot_src, dst)
        assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
        dst.stop()
        follow = subprocess.Popen([sys.executable, "-m", "pecsync", "run", "--config",
                                   str(cfg), "--workers", "2", "--follow"], env=env, cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and follow.poll() is None:
            if {m["state"] for m in states(cfg, env).values()} == {"retry_wait"}:
                break
            time.sleep(0.1)
        follow.send_signal(signal.SIGINT)
        follow.communicate(timeout=60)
        assert {m["state"] for m in states(cfg, env).values()} == {"retry_wait"}
        dst.start(fresh=False)
        proc = subprocess.Popen([sys.executable, "-m", "pecsync", "run", "--config", str(cfg),
                                 "--workers", "2"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        assert proc.poll() is None, "run ended with every job in retry_wait"
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err[-3000:]
        assert "waiting_for_retry" in err
        assert {m["state"] for m in states(cfg, env).values()} == {"done"}
        for u in names:
            assert_same_content(dovecot_src, dst, u)
    finally:
        dst.stop()


@pytest.mark.slow
def test_a_stalled_link_times_out_and_is_reconnected(dovecot_src: Any, dovecot_dst: Any,
                                                     users: Any, tmp_path: Path) -> None:
    """Each connection stops answering once (nothing forwarded, nothing closed): the read
    times out ([source]/[destination] timeout), the mailbox reconnects, one run finishes."""
    names = [users.pair("s-pw", "d-pw") for _ in range(2)]
    for user in names:
        seed(dovecot_src, user, "INBOX", messages(120, user, 8_000))
        seed(dovecot_src, user, "INBOX.Pratiche", messages(40, user + "p", 8_000))
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + "".join(f"O,{u},,s-pw,,d-pw\n" for u in names))
    # Thresholds below the ~1 MB each INBOX carries (down from the source, up to the
    # destination), so the connection copying each INBOX surely stalls once on both sides;
    # two stalls per side at most, so the reconnected sessions finish.
    with ResetProxy(dovecot_src.host, dovecot_src.port, seed=7, stall=True, high=400_000,
                    max_faults=2) as src_proxy, \
            ResetProxy(dovecot_dst.host, dovecot_dst.port, seed=8, stall=True, high=400_000,
                       max_faults=2) as dst_proxy:
        cfg = write_config(tmp_path, SimpleNamespace(host="127.0.0.1", port=src_proxy.port),
                           SimpleNamespace(host="127.0.0.1", port=dst_proxy.port),
                           master=False, engine={"batch_max_messages": 10})
        cfg.write_text(cfg.read_text().replace("timeout = 30", "timeout = 2"))
        env = cli_env(dovecot_src, dovecot_dst)
        assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
        r = run_cli(["run", "--config", str(cfg), "--workers", "2"], env, timeout=600)
        src_proxy.armed = dst_proxy.armed = False
        assert r.returncode == 0, r.stdout + r.stderr[-3000:]
        jobs = states(cfg, env)
    assert {jobs[u]["state"] for u in names} == {"done"}, jobs
    assert src_proxy.resets >= 1 and dst_proxy.resets >= 1, (src_proxy.resets, dst_proxy.resets)
    assert "timeout during" in r.stderr
    for user in names:
        assert_same_content(dovecot_src, dovecot_dst, user)


@pytest.mark.slow
def test_sessions_dropped_by_the_server_are_reconnected(dovecot_src: Any, dovecot_dst: Any,
                                                        users: Any, tmp_path: Path) -> None:
    """`doveadm kick` (BYE) twice during a copy, the password unchanged: the same run logs in
    again each time and finishes, byte-exact."""
    user = users.pair("s-pw", "d-pw")
    seed(dovecot_src, user, "INBOX", messages(900, "k", 3_000))
    seed(dovecot_src, user, "INBOX.Pratiche", messages(600, "kp", 3_000))
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + f"O,{user},,s-pw,,d-pw\n")
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False,
                       engine={"batch_max_messages": 2})
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "pecsync", "--log-format", "json", "run",
                             "--config", str(cfg)],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    for at_least in (100, 400):
        d = session(dovecot_dst, user)
        try:
            deadline = time.monotonic() + 60
            while d.status("INBOX").exists < at_least and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            d.logout()
        dovecot_src.kick(user)
        dovecot_dst.kick(user)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err[-3000:]
    assert states(cfg, env)[user]["state"] == "done"
    assert err.count("connection_lost_reconnecting") >= 2
    finished = [json.loads(line) for line in err.splitlines()
                if line.startswith("{") and '"job_finished"' in line]
    assert finished[-1]["copied"] == 1500  # rounds cut short are counted too
    assert_same_content(dovecot_src, dovecot_dst, user)
