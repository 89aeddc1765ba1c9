"""Crash at every step, and a real kill -9: nothing lost, nothing duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.helpers import (
    ROOT,
    assert_same_content,
    cli_env,
    run_cli,
    seed,
    session,
    snapshot,
    when,
    write_config,
)

CRASH_EXIT = 86


def _seed_small(src: Any, user: str) -> None:
    dup = b"Subject: twin\r\n\r\nsame bytes\r\n"
    seed(src, user, "INBOX", [(b"Subject: a%d\r\n\r\nbody %d\r\n" % (i, i), ("\\Seen",), when(i))
                              for i in range(3)] + [(dup, (), when(7))] * 2)
    seed(src, user, "INBOX.Lavoro", [(b"Subject: l%d\r\n\r\nwork %d\r\n" % (i, i),
                                      ("\\Flagged",), when(i)) for i in range(3)])




def _copy(cfg: Path, env: dict[str, str], src_user: str, dst_user: str
          ) -> subprocess.CompletedProcess[str]:
    return run_cli(["copy", "--config", str(cfg), "--source-user", src_user, "--dest-user",
                    dst_user], env)


def test_crash_after_every_step_then_resume(dovecot_src: Any, dovecot_dst: Any, users: Any,
                                            tmp_path: Path) -> None:
    user = users.pair()
    _seed_small(dovecot_src, user)
    engine = {"batch_max_messages": 2}
    # Count the steps of an uninterrupted run.
    probe = users.dst_only()
    log = tmp_path / "steps.log"
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, database="probe.sqlite3",
                       engine=engine)
    r = _copy(cfg, cli_env(dovecot_src, dovecot_dst, PECSYNC_STEP_LOG=str(log)), user, probe)
    assert r.returncode == 0, r.stdout + r.stderr
    steps = log.read_text().splitlines()
    n = len(steps)
    assert n >= 10, steps
    kinds = {line.split()[1] for line in steps}
    assert {"intents_recorded", "appended", "appended_recorded", "batch_committed",
            "verified"} <= kinds
    for crash_at in range(1, n + 1):
        dst_user = users.dst_only()
        cfg = write_config(tmp_path, dovecot_src, dovecot_dst,
                           database=f"crash{crash_at}.sqlite3", engine=engine)
        crashed = _copy(cfg, cli_env(dovecot_src, dovecot_dst,
                                     PECSYNC_CRASH_AFTER_STEP=str(crash_at)), user, dst_user)
        assert crashed.returncode == CRASH_EXIT, (crash_at, crashed.stderr)
        resumed = _copy(cfg, cli_env(dovecot_src, dovecot_dst), user, dst_user)
        assert resumed.returncode == 0, (crash_at, resumed.stdout, resumed.stderr)
        assert_same_content(dovecot_src, dovecot_dst, user, dst_user)
        again = _copy(cfg, cli_env(dovecot_src, dovecot_dst), user, dst_user)
        assert again.returncode == 0 and " 0 copied" in again.stdout, (crash_at, again.stdout)


def test_kill_9_mid_folder(dovecot_src: Any, dovecot_dst: Any, users: Any,
                           tmp_path: Path) -> None:
    user = users.pair()
    filler = b"x" * 20_000
    seed(dovecot_src, user, "INBOX", [(b"Subject: k%d\r\n\r\n%s %d\r\n" % (i, filler, i),
                                       ("\\Seen",), when(i)) for i in range(400)])
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, engine={"batch_max_messages": 5})
    env = cli_env(dovecot_src, dovecot_dst)
    proc = subprocess.Popen([sys.executable, "-m", "pecsync", "copy", "--config", str(cfg),
                             "--source-user", user], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    d = session(dovecot_dst, user)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if d.status("INBOX").exists >= 60:
                break
            time.sleep(0.02)
    finally:
        d.logout()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    mid = sum(snapshot(dovecot_dst, user)["INBOX"].values())
    assert 0 < mid < 400, f"kill landed outside the folder copy ({mid} copied)"
    r = run_cli(["copy", "--config", str(cfg), "--source-user", user], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert_same_content(dovecot_src, dovecot_dst, user, user)
