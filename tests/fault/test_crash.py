"""Crash at every step, and a real kill -9: nothing lost, nothing duplicated."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pecsync.sync.shares import MIN_MESSAGES
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
HEADER = "order,address,source_user,source_password,dest_user,dest_password\n"


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


@pytest.mark.slow
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
    # Every commit of the store is a step (folder rows, intents, outcomes, verification), and
    # every change on the destination server (APPEND).
    assert {"commit:insert_folder+set_folder_flags_baseline", "commit:insert_message", "appended",
            "commit:mark_appended+set_high_water", "commit:mark_verified"} <= kinds, kinds
    for crash_at in range(1, n + 1):
        _crash_resume_rerun(tmp_path, dovecot_src, dovecot_dst, user, users.dst_only(),
                            engine, f"crash{crash_at}.sqlite3", crash_at)


def _crash_resume_rerun(tmp_path: Path, src: Any, dst: Any, user: str, dst_user: str,
                        engine: Any, database: str, crash_at: int) -> None:
    """Crash after step *crash_at*, resume: source and destination equal; a third run copies
    nothing."""
    cfg = write_config(tmp_path, src, dst, database=database, engine=engine)
    crashed = _copy(cfg, cli_env(src, dst, PECSYNC_CRASH_AFTER_STEP=str(crash_at)), user,
                    dst_user)
    assert crashed.returncode == CRASH_EXIT, (crash_at, crashed.stderr)
    resumed = _copy(cfg, cli_env(src, dst), user, dst_user)
    assert resumed.returncode == 0, (crash_at, resumed.stdout, resumed.stderr)
    assert_same_content(src, dst, user, dst_user)
    again = _copy(cfg, cli_env(src, dst), user, dst_user)
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


def _crash_points(tmp_path: Path, src: Any, dst: Any, src_user: str, dst_user: str,
                  engine: dict[str, Any], name: str) -> list[str]:
    """The steps of an uninterrupted run (its destination is then thrown away)."""
    log = tmp_path / f"{name}.steps"
    cfg = write_config(tmp_path, src, dst, database=f"{name}.sqlite3", engine=engine)
    r = _copy(cfg, cli_env(src, dst, PECSYNC_STEP_LOG=str(log)), src_user, dst_user)
    assert r.returncode == 0, r.stdout + r.stderr
    return log.read_text().splitlines()


@pytest.mark.slow
def test_crash_during_content_matched_pass_then_resume(dovecot_src: Any, dovecot_dst: Any,
                                                       users: Any, tmp_path: Path) -> None:
    """The destination already holds part of the folder (twins too, some with other flags): a
    crash anywhere in the content-matched pass must not make the resumed run append what is
    already there, and every matched message ends with the source's flags."""
    user = users.pair()
    twin = b"Subject: twin\r\n\r\nsame bytes\r\n"
    msgs = [(b"Subject: p%d\r\n\r\nbody %d\r\n" % (i, i), ("\\Seen",), when(i))
            for i in range(6)] + [(twin, (), when(7))] * 3
    seed(dovecot_src, user, "INBOX", msgs)
    # Four of the six (two unread there), two of the three twins (one flagged there).
    prefill = [(b, () if i % 2 else f, d) for i, (b, f, d) in enumerate(msgs[:4])] \
        + [(twin, ("\\Flagged",), when(7)), (twin, (), when(7))]
    engine = {"batch_max_messages": 2}

    def fresh() -> str:
        dst_user = users.dst_only()
        seed(dovecot_dst, dst_user, "INBOX", prefill)
        return dst_user

    steps = _crash_points(tmp_path, dovecot_src, dovecot_dst, user, fresh(), engine, "probe")
    kinds = {s.split()[1] for s in steps}
    assert {"flags_stored", "appended"} <= kinds and "commit:insert_message" in kinds, steps
    for crash_at in range(1, len(steps) + 1):
        _crash_resume_rerun(tmp_path, dovecot_src, dovecot_dst, user, fresh(), engine,
                            f"cm{crash_at}.sqlite3", crash_at)


def test_crash_after_uidvalidity_reset_then_resume(dovecot_src: Any, dovecot_dst: Any,
                                                   users: Any, tmp_path: Path) -> None:
    """A recreated source folder (new UIDVALIDITY) resets the folder's state; a crash in the
    content-matched pass that follows must not duplicate the whole folder on resume."""
    user = users.pair()
    msgs = [(b"Subject: r%d\r\n\r\nbody %d\r\n" % (i, i), ("\\Seen",), when(i))
            for i in range(10)]
    seed(dovecot_src, user, "INBOX.Lavoro", msgs)
    engine = {"batch_max_messages": 2}
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, engine=engine)
    env = cli_env(dovecot_src, dovecot_dst)
    assert _copy(cfg, env, user, user).returncode == 0
    s = session(dovecot_src, user)
    s.connection.client.delete_folder(b"INBOX.Lavoro")
    s.logout()
    seed(dovecot_src, user, "INBOX.Lavoro", msgs)
    base = tmp_path / "state.sqlite3"
    saved = {p.name: p.read_bytes() for p in tmp_path.glob("state.sqlite3*")}

    def restore() -> None:
        for p in tmp_path.glob("state.sqlite3*"):
            p.unlink()
        for name, data in saved.items():
            (tmp_path / name).write_bytes(data)
        assert base.exists()

    # The first three crash points from the folder's reset on (every commit is a step, the
    # opening ones too): a probe run on the same state finds them.
    log = tmp_path / "reset.steps"
    assert _copy(cfg, cli_env(dovecot_src, dovecot_dst, PECSYNC_STEP_LOG=str(log)), user,
                 user).returncode == 0
    steps = [line.split()[1] for line in log.read_text().splitlines()]
    reset = next(i for i, s in enumerate(steps, 1) if "reset_folder" in s)
    points = list(range(reset + 1, len(steps) + 1))[:3]
    assert len(points) == 3, steps
    for crash_at in points:
        restore()
        crashed = _copy(cfg, cli_env(dovecot_src, dovecot_dst,
                                     PECSYNC_CRASH_AFTER_STEP=str(crash_at)), user, user)
        assert crashed.returncode == CRASH_EXIT, (crash_at, crashed.stderr)
        resumed = _copy(cfg, env, user, user)
        assert resumed.returncode == 0, (crash_at, resumed.stdout, resumed.stderr)
        assert " 0 copied" in resumed.stdout, (crash_at, resumed.stdout)
        assert_same_content(dovecot_src, dovecot_dst, user, user)


# --- the same loop through `pecsync run` (the job queue: claim, leases, phases, outcome) ------
def _imported(tmp_path: Path, src: Any, dst: Any, pairs: list[tuple[str, str]],
              engine: dict[str, Any]) -> tuple[Path, dict[str, str]]:
    """A fresh state database in *tmp_path* with the list of (source, destination) mailboxes
    imported: one queued job each, logging in with the members' own passwords."""
    tmp_path.mkdir(parents=True)
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + "".join(f"Ordine,{s},,src-pw,{d},dst-pw\n" for s, d in pairs))
    cfg = write_config(tmp_path, src, dst, master=False, engine=engine)
    env = cli_env(src, dst)
    r = run_cli(["import", "--config", str(cfg), str(csv)], env)
    assert r.returncode == 0, r.stdout + r.stderr
    return cfg, env


def _job_states(cfg: Path) -> dict[str, str]:
    with sqlite3.connect(cfg.parent / "state.sqlite3") as db:
        return {str(a): str(s) for a, s in db.execute("SELECT address, state FROM job")}


def _expire_leases(cfg: Path) -> None:
    """The crashed process's jobs stay `running` under its lease (10 minutes by default); a
    later run takes them over once it has expired: expire it now."""
    with sqlite3.connect(cfg.parent / "state.sqlite3") as db:
        db.execute("UPDATE job SET lease_until = '2000-01-01T00:00:00+00:00' "
                   "WHERE state = 'running'")


def _steps(log: Path) -> list[str]:
    return [line.split()[1] for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.slow
def test_run_crashed_after_every_step_then_resumed(dovecot_src: Any, dovecot_dst: Any,
                                                   users: Any, tmp_path: Path) -> None:
    """`pecsync run` on an imported list, killed after each durable step in turn (every
    commit of the store, job rows and leases included, and every server-side change), then
    run again until its jobs are done: each destination holds the source's messages, none
    lost, none twice."""
    first, second = users.pair(), users.pair()
    twin = b"Subject: twin\r\n\r\nsame bytes\r\n"
    seed(dovecot_src, first, "INBOX", [(b"Subject: a\r\n\r\nbody\r\n", ("\\Seen",), when(1)),
                                       (twin, (), when(7)), (twin, (), when(7))])
    seed(dovecot_src, first, "INBOX.Lavoro", [(b"Subject: l\r\n\r\nwork\r\n", ("\\Flagged",),
                                               when(2))])
    seed(dovecot_src, second, "INBOX", [(b"Subject: solo\r\n\r\nonly one\r\n", (), when(3))])
    # One worker: the steps come in the same order in every run.
    engine = {"batch_max_messages": 2, "workers": 1}
    sources = [first, second]

    cfg, env = _imported(tmp_path / "probe", dovecot_src, dovecot_dst,
                         [(s, users.dst_only()) for s in sources], engine)
    # The imported list, before any run: each crashed run starts from a copy of it, with
    # fresh destination mailboxes (an `import` each would cost a process per crash point).
    imported = {p.name: p.read_bytes() for p in cfg.parent.glob("state.sqlite3*")}

    def fresh(name: str) -> tuple[Path, list[str]]:
        dsts = [users.dst_only() for _ in sources]
        (tmp_path / name).mkdir()
        cfg = write_config(tmp_path / name, dovecot_src, dovecot_dst, master=False,
                           engine=engine)
        for file, data in imported.items():
            (tmp_path / name / file).write_bytes(data)
        with sqlite3.connect(tmp_path / name / "state.sqlite3") as db:
            for src_user, dst_user in zip(sources, dsts, strict=True):
                assert db.execute("UPDATE job SET dst_user = ? WHERE address = ?",
                                  (dst_user, src_user)).rowcount == 1
        return cfg, dsts

    log = tmp_path / "probe.steps"
    r = run_cli(["run", "--config", str(cfg)], {**env, "PECSYNC_STEP_LOG": str(log)})
    assert r.returncode == 0, r.stdout + r.stderr
    steps = _steps(log)
    # Job-table writes are crash points now, not only the copy's.
    assert {"commit:claim_next_job", "commit:set_job_phase", "commit:insert_message",
            "appended", "commit:mark_appended+set_high_water"} <= set(steps), steps
    assert any(s.startswith("commit:set_job_state") or "+set_job_state" in s
               for s in steps), steps
    # Every step is a durable state of its own: a store commit or an APPEND.
    points = list(range(1, len(steps) + 1))
    assert len(points) >= 25, steps
    for crash_at in points:
        cfg, dsts = fresh(f"c{crash_at}")
        crash_log = cfg.parent / "crashed.steps"
        crashed = run_cli(["run", "--config", str(cfg)],
                          {**env, "PECSYNC_CRASH_AFTER_STEP": str(crash_at),
                           "PECSYNC_STEP_LOG": str(crash_log)})
        if crashed.returncode != CRASH_EXIT:
            # A timed write (the job's progress every 2 s) the probe had and this run did not:
            # it ended before reaching the step.
            assert crashed.returncode == 0 and len(_steps(crash_log)) < crash_at, \
                (crash_at, crashed.returncode, crashed.stderr)
        for _ in range(3):
            if set(_job_states(cfg).values()) == {"done"}:
                break
            _expire_leases(cfg)
            resumed = run_cli(["run", "--config", str(cfg)], env)
            assert resumed.returncode == 0, (crash_at, steps[crash_at - 1], resumed.stdout,
                                             resumed.stderr)
        assert set(_job_states(cfg).values()) == {"done"}, (crash_at, _job_states(cfg))
        for src_user, dst_user in zip(sources, dsts, strict=True):
            assert_same_content(dovecot_src, dovecot_dst, src_user, dst_user)


@pytest.mark.slow
def test_crash_after_every_step_of_a_shared_folder_then_resume(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    """A folder whose batches two lanes copy at once (pecsync.sync.shares): a crash after any
    step of either lane, then a resume, leaves source and destination equal, nothing twice.
    The lanes interleave differently from run to run, so a run may have fewer steps than the
    probe had: a crash point it never reaches is a complete run (checked the same way)."""
    user = users.pair()
    seed(dovecot_src, user, "INBOX", [
        (b"Subject: s%d\r\nMessage-ID: <s%d@t>\r\n\r\n%s\r\n" % (i, i, b"riga %d " % i * 40),
         ("\\Seen",) if i % 2 else (), when(i)) for i in range(MIN_MESSAGES + 4)])
    # Three lanes: the first extra one reads back first, the second shares the folder.
    engine = {"batch_max_messages": 6, "folders_in_parallel": 3}
    slow = {"PECSYNC_STEP_DELAY": "0.02"}  # the other lanes log in before the folder is copied
    probe = users.dst_only()
    log = tmp_path / "steps.log"
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, database="probe.sqlite3",
                       engine=engine)
    r = run_cli(["-v", "--log-format", "json", "copy", "--config", str(cfg), "--source-user",
                 user, "--dest-user", probe],
                cli_env(dovecot_src, dovecot_dst, PECSYNC_STEP_LOG=str(log), **slow))
    assert r.returncode == 0, r.stdout + r.stderr
    assert '"folder_shared"' in r.stderr, "the probe's second lane copied no batch"
    n = len(log.read_text().splitlines())
    for crash_at in range(1, n + 1):
        dst_user = users.dst_only()
        cfg = write_config(tmp_path, dovecot_src, dovecot_dst, database=f"s{crash_at}.sqlite3",
                           engine=engine)
        crashed = _copy(cfg, cli_env(dovecot_src, dovecot_dst,
                                     PECSYNC_CRASH_AFTER_STEP=str(crash_at), **slow),
                        user, dst_user)
        assert crashed.returncode in (CRASH_EXIT, 0), (crash_at, crashed.stderr)
        if crashed.returncode == CRASH_EXIT:
            resumed = _copy(cfg, cli_env(dovecot_src, dovecot_dst), user, dst_user)
            assert resumed.returncode == 0, (crash_at, resumed.stdout, resumed.stderr)
        assert_same_content(dovecot_src, dovecot_dst, user, dst_user)
        again = _copy(cfg, cli_env(dovecot_src, dovecot_dst), user, dst_user)
        assert again.returncode == 0 and " 0 copied" in again.stdout, (crash_at, again.stdout)
