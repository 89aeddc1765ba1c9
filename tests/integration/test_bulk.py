"""Bulk migrations against real Dovecot: import, worker pool, failure classes, retry."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pecsync.config import load_config
from pecsync.engine.budget import HostBudget
from pecsync.engine.pool import run_pool
from pecsync.engine.worker import EngineEnv
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import JobStore
from tests.helpers import (
    ROOT,
    assert_same_content,
    cli_env,
    run_cli,
    run_until_copied,
    seed,
    session,
    snapshot,
    vault_of_test_key,
    when,
    write_config,
)

HEADER = "order,address,source_user,source_password,dest_user,dest_password\n"




def messages(n: int, tag: str, size: int = 200) -> list[tuple[bytes, tuple[str, ...], Any]]:
    pad = b"x" * size
    return [(b"Subject: %s %d\r\nMessage-ID: <%s.%d@t>\r\n\r\n%s\r\n" % (tag.encode(), i,
                                                                          tag.encode(), i, pad),
             ("\\Seen",) if i % 2 else (), when(i)) for i in range(n)]


def status(cfg: Path, env: dict[str, str]) -> dict[str, Any]:
    r = run_cli(["status", "--config", str(cfg), "--json"], env)
    assert r.returncode == 0, r.stderr
    doc: dict[str, Any] = json.loads(r.stdout)
    return doc


def by_address(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["address"]: m for m in doc["mailboxes"]}


async def test_twenty_mailboxes_two_orders_four_workers(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    names = [users.pair(f"s{i}", f"d{i}") for i in range(20)]
    for i, user in enumerate(names):
        seed(dovecot_src, user, "INBOX", messages(4 + i % 3, user))
        if i % 4 == 0:
            seed(dovecot_src, user, "INBOX.Pratiche", messages(2, user + "p"))
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + "".join(f"{'Ordine A' if i < 10 else 'Ordine B'},{u},,s{i},,d{i}\n"
                                    for i, u in enumerate(names)))
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False,
                       engine={"max_connections_per_host": 3})
    env = cli_env(dovecot_src, dovecot_dst)
    r = run_cli(["import", "--config", str(cfg), str(csv)], env)
    assert r.returncode == 0, r.stderr
    assert "20 added" in r.stdout
    config = load_config(cfg)
    vault = vault_of_test_key()
    started = time.monotonic()
    async with await CheckpointStore.open(config.database) as store:
        env_ = EngineEnv(cfg=config, store=store, jobs=JobStore(store, vault),
                         budget=HostBudget(3))
        summary = await run_pool(env_, workers=4)
    elapsed = time.monotonic() - started
    assert summary.exit_code == 0, summary.states
    assert summary.states["done"] == 20
    # The per-host budget is shared by all workers and never exceeded.
    assert max(env_.budget.peak.values()) <= 3
    assert env_.budget.peak[(dovecot_src.host, dovecot_src.port)] == 3
    for user in names:
        assert_same_content(dovecot_src, dovecot_dst, user)
    doc = status(cfg, env)
    assert doc["totals"]["done"] == 20
    assert [o["order"] for o in doc["orders"]] == ["Ordine A", "Ordine B"]
    assert set(doc["mailboxes"][0]) >= {"address", "order", "state", "phase", "reason",
                                        "messages_copied", "messages_total", "bytes_copied",
                                        "bytes_total", "attempts", "updated_at"}
    print(f"20 mailboxes, 4 workers: {elapsed:.2f} s")


def test_2fa_and_wrong_password_are_blocked_without_retry_loops(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    twofa, wrong, good = users.name(), users.name(), users.pair("ok", "ok")
    reason = "Verifica in due passaggi attiva: usa una password per app"
    dovecot_src.add_2fa_user(twofa, "right", reason)
    dovecot_dst.add_user(twofa, "ok")
    dovecot_src.add_user(wrong, "the-real-one")
    dovecot_dst.add_user(wrong, "ok")
    seed(dovecot_src, good, "INBOX", messages(2, "g"))
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + f"O,{twofa},,right,,ok\nO,{wrong},,not-it,,ok\nO,{good},,ok,,ok\n")
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False)
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    r = run_cli(["run", "--config", str(cfg), "--workers", "2"], env)
    assert r.returncode == 1, r.stdout + r.stderr
    jobs = by_address(status(cfg, env))
    assert jobs[good]["state"] == "done"
    assert jobs[twofa]["state"] == "blocked_2fa"
    assert reason in jobs[twofa]["reason"] and "app password" in jobs[twofa]["reason"]
    assert jobs[wrong]["state"] == "blocked_invalid_credentials"
    assert dovecot_src.login_count(twofa) == 1
    assert dovecot_src.login_count(wrong) == 1
    # Blocked jobs are not runnable: a second run does not try to log in again.
    r = run_cli(["run", "--config", str(cfg)], env)
    assert r.returncode == 1
    assert dovecot_src.login_count(twofa) == 1 and dovecot_src.login_count(wrong) == 1
    assert "not-it" not in r.stdout + r.stderr


@pytest.mark.slow
def test_password_changed_mid_copy_blocks_then_resumes(dovecot_src: Any, dovecot_dst: Any,
                                                       users: Any, tmp_path: Path) -> None:
    user = users.pair("old-pw", "dst-pw")
    total = 1500
    seed(dovecot_src, user, "INBOX", messages(total, "c", size=3_000))
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + f"O,{user},,old-pw,,dst-pw\n")
    # One message per APPEND: slow enough that the password changes mid-copy.
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False,
                       engine={"batch_max_messages": 1, "retry_initial_seconds": 0.2,
                               "retry_max_seconds": 0.5, "verify": False})
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    proc = run_until_copied(cfg, env, dovecot_dst, user, 30)
    dovecot_src.set_password(user, "new-pw")  # the member changed it on the provider's panel
    dovecot_src.kick(user)  # ...and the running session dropped
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, out + err
    job = by_address(status(cfg, env))[user]
    assert job["state"] == "blocked_credentials_changed", job
    assert "resumes where it stopped" in job["reason"]
    copied_before = sum(snapshot(dovecot_dst, user)["INBOX"].values())
    assert 0 < copied_before < total
    r = subprocess.run([sys.executable, "-m", "pecsync", "retry", "--config", str(cfg), user,
                        "--password-stdin"], input="new-pw\n", env=env, cwd=ROOT,
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{user}: done" in r.stdout
    assert_same_content(dovecot_src, dovecot_dst, user)  # resumed: nothing lost, nothing duplicated
    assert "new-pw" not in r.stdout + r.stderr + out + err


def test_full_destination_blocks_then_resumes(dovecot_src: Any, dovecot_dst: Any, users: Any,
                                              tmp_path: Path) -> None:
    user = users.name()
    dovecot_src.add_user(user, "s")
    dovecot_dst.add_user(user, "d", quota_bytes=60_000)
    seed(dovecot_src, user, "INBOX", messages(20, "q", size=10_000))
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + f"O,{user},,s,,d\n")
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False,
                       engine={"batch_max_messages": 3})
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    r = run_cli(["run", "--config", str(cfg)], env)
    assert r.returncode == 1, r.stdout + r.stderr
    job = by_address(status(cfg, env))[user]
    assert job["state"] == "blocked_destination_full", job
    assert "OVERQUOTA" in job["reason"] or "quota" in job["reason"].lower()
    dovecot_dst.set_quota(user, 50_000_000)  # the operator raised the quota
    r = run_cli(["retry", "--config", str(cfg), user], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert_same_content(dovecot_src, dovecot_dst, user)


@pytest.mark.slow
def test_destination_restart_goes_through_retry_wait(lab_root: Path, dovecot_src: Any,
                                                     users: Any, tmp_path: Path) -> None:
    from lab.dovecot import DovecotServer

    dst = DovecotServer(lab_root, f"dst-restart-{os.getpid()}", flavour="dst")
    dst.start()
    try:
        names = [users.name() for _ in range(3)]
        for u in names:
            dovecot_src.add_user(u, "s")
            dst.add_user(u, "d")
            seed(dovecot_src, u, "INBOX", messages(3, u))
        csv = tmp_path / "list.csv"
        csv.write_text(HEADER + "".join(f"O,{u},,s,,d\n" for u in names))
        cfg = write_config(tmp_path, dovecot_src, dst, master=False,
                           engine={"retry_initial_seconds": 1, "retry_max_seconds": 2})
        env = cli_env(dovecot_src, dst)
        assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
        dst.stop()
        proc = subprocess.Popen([sys.executable, "-m", "pecsync", "run", "--config", str(cfg),
                                 "--follow"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        seen: set[str] = set()
        while "retry_wait" not in seen and time.monotonic() < deadline:
            states = {m["state"] for m in status(cfg, env)["mailboxes"]}
            assert states <= {"retry_wait", "running", "pending"}, states
            seen |= states
            time.sleep(0.1)
        assert "retry_wait" in seen
        dst.start(fresh=False)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(m["state"] == "done" for m in status(cfg, env)["mailboxes"]):
                break
            time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, out + err
        for u in names:
            assert_same_content(dovecot_src, dst, u)
    finally:
        dst.stop()


@pytest.mark.parametrize("signals", [1, 2])
def test_sigint_drains_once_and_aborts_twice(dovecot_src: Any, dovecot_dst: Any, users: Any,
                                             tmp_path: Path, signals: int) -> None:
    names = [users.pair("s", "d") for _ in range(3)]
    for u in names:
        seed(dovecot_src, u, "INBOX", messages(300, u, size=10_000))
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + "".join(f"O,{u},,s,,d\n" for u in names))
    # Small batches: the copy must still be running when the signal arrives.
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False,
                       engine={"batch_max_messages": 2})
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "pecsync", "run", "--config", str(cfg),
                             "--workers", "3"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    d = session(dovecot_dst, names[0])
    try:
        deadline = time.monotonic() + 60
        while d.status("INBOX").exists < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        d.logout()
    for _ in range(signals):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, out + err  # work left: run again
    states = {m["state"] for m in status(cfg, env)["mailboxes"]}
    assert "running" not in states
    r = run_cli(["run", "--config", str(cfg), "--workers", "3"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    for u in names:
        assert_same_content(dovecot_src, dovecot_dst, u)


def test_import_refuses_bad_files_and_reimport_is_idempotent(
        dovecot_src: Any, dovecot_dst: Any, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False)
    env = cli_env(dovecot_src, dovecot_dst)
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "O,a@pec.it,,pw-a,,x\nO,broken,,pw-b,,x\nO,a@pec.it,,pw-c,,x\n")
    r = run_cli(["import", "--config", str(cfg), str(bad)], env)
    assert r.returncode == 2
    assert f"{bad}:3: column address" in r.stderr and f"{bad}:4: column address" in r.stderr
    assert "nothing imported" in r.stderr and "pw-" not in r.stderr + r.stdout
    assert not (tmp_path / "state.sqlite3").exists()  # refused before the database is opened
    r = run_cli(["import", "--config", str(cfg), "--skip-invalid", str(bad)], env)
    assert r.returncode == 0 and "1 added" in r.stdout
    good = tmp_path / "list.csv"
    good.write_text(HEADER + "O,a@pec.it,,pw-a,,x\nO,b@pec.it,,,,x\n")
    r = run_cli(["import", "--config", str(cfg), str(good)], env)
    assert "1 added" in r.stdout and "1 unchanged" in r.stdout
    jobs = by_address(status(cfg, env))
    assert jobs["b@pec.it"]["state"] == "waiting_credentials"
    # Late additions plus a changed password: two new jobs, one re-queued.
    good.write_text(HEADER + "O,a@pec.it,,pw-a,,x\nO,b@pec.it,,pw-b,,x\nO,c@pec.it,,pw,,x\n"
                    "P,d@pec.it,,pw,,x\n")
    r = run_cli(["import", "--config", str(cfg), str(good)], env)
    assert r.returncode == 0
    assert "2 added" in r.stdout and "(1 re-queued)" in r.stdout and "1 unchanged" in r.stdout
    jobs = by_address(status(cfg, env))
    assert jobs["b@pec.it"]["state"] == "pending" and len(jobs) == 4
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("state.sqlite3*"))
    assert b"pw-a" not in raw and b"pw-b" not in raw
