"""What a newcomer meets on a first `run` (issue 22): a server that cannot be reached stops a
plain run at once, with nothing claimed (``--wait`` waits for it); one mailbox failing to
connect again and again trips the circuit breaker; `status` names a blocked mailbox once;
a `run` whose output is not a terminal keeps its log lines readable, on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lab.dovecot import DovecotServer, free_port
from pecsync.config import load_config
from pecsync.engine.breaker import CircuitBreaker
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
    seed,
    vault_of_test_key,
    when,
    write_config,
)

HEADER = "order,address,source_user,source_password,dest_user,dest_password\n"


def mailboxes(cfg: Path, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    r = run_cli(["status", "--config", str(cfg), "--json"], env)
    assert r.returncode == 0, r.stderr
    return {m["address"]: m for m in json.loads(r.stdout)["mailboxes"]}


def point_destination_at(cfg: Path, port: int, real_port: int) -> None:
    text = cfg.read_text()
    head, _, tail = text.partition("[destination]")
    cfg.write_text(head + "[destination]" + tail.replace(f"port = {real_port}",
                                                         f"port = {port}", 1))


def listed(tmp_path: Path, src: Any, dst: Any, names: list[str], **engine: Any
           ) -> tuple[Path, dict[str, str]]:
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + "".join(f"O,{u},,s,,d\n" for u in names))
    cfg = write_config(tmp_path, src, dst, master=False, engine=engine or None)
    env = cli_env(src, dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    return cfg, env


def test_plain_run_with_the_destination_port_closed_exits_3_at_once(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    user = users.pair("s", "d")
    seed(dovecot_src, user, "INBOX", [(b"Subject: a\r\n\r\nbody\r\n", (), when(1))])
    cfg, env = listed(tmp_path, dovecot_src, dovecot_dst, [user])
    closed = free_port()
    point_destination_at(cfg, closed, dovecot_dst.port)
    before = mailboxes(cfg, env)[user]
    started = time.monotonic()
    r = run_cli(["run", "--config", str(cfg)], env, timeout=60)
    took = time.monotonic() - started
    assert r.returncode == 3, r.stdout + r.stderr
    assert took < 20, took  # not the half hour of retry_wait backoffs
    assert f"nothing listens on 127.0.0.1:{closed}" in r.stderr, r.stderr
    assert "not started" in r.stderr and "--wait" in r.stderr, r.stderr
    assert "starting anyway" not in r.stderr
    after = mailboxes(cfg, env)[user]
    assert after == before, (before, after)  # nothing claimed, no attempt spent
    assert after["state"] == "pending" and after["attempts"] == 0


def test_run_wait_waits_for_the_server_then_copies(
        lab_root: Path, dovecot_src: Any, users: Any, tmp_path: Path) -> None:
    dst = DovecotServer(lab_root, f"dst-wait-start-{os.getpid()}", flavour="dst")
    dst.start()
    try:
        user = users.name()
        dovecot_src.add_user(user, "s")
        dst.add_user(user, "d")
        seed(dovecot_src, user, "INBOX", [(b"Subject: w\r\n\r\nbody\r\n", (), when(2))])
        cfg, env = listed(tmp_path, dovecot_src, dst, [user], retry_initial_seconds=1)
        dst.stop()
        proc = subprocess.Popen([sys.executable, "-m", "pecsync", "run", "--config", str(cfg),
                                 "--wait"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(4)
            assert proc.poll() is None, proc.communicate()
            job = mailboxes(cfg, env)[user]
            assert (job["state"], job["attempts"]) == ("pending", 0), job  # nothing claimed
            dst.start(fresh=False)
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 0, out + err
        assert "waiting (--wait)" in err and "trying again every 1 s" in err, err
        assert err.count("waiting (--wait)") == 1, err  # said once, not at every try
        assert "both servers answer now" in err, err
        job = mailboxes(cfg, env)[user]
        assert (job["state"], job["attempts"]) == ("done", 1), job
        assert_same_content(dovecot_src, dst, user)
    finally:
        dst.stop()


async def test_one_mailbox_failing_to_connect_again_and_again_trips_the_breaker(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    """Below the pre-flight (the server went away after it): one mailbox, retried every
    0.2 s, trips the breaker at its third connection failure and goes back to pending with
    no attempt spent — not half an hour of retry_wait."""
    user = users.pair("s", "d")
    cfg, env = listed(tmp_path, dovecot_src, dovecot_dst, [user], breaker_failures=3,
                      max_attempts=10, retry_initial_seconds=0.2, retry_max_seconds=0.4)
    point_destination_at(cfg, free_port(), dovecot_dst.port)
    config = load_config(cfg)
    vault = vault_of_test_key()
    started = time.monotonic()
    async with await CheckpointStore.open(config.database) as store:
        engine = EngineEnv(cfg=config, store=store, jobs=JobStore(store, vault),
                           budget=HostBudget(12), breaker=CircuitBreaker(config, 3))
        summary = await run_pool(engine, workers=1, poll_seconds=0.1)
    assert time.monotonic() - started < 30
    assert summary.exit_code == 3, summary
    assert summary.jobs_run == 3  # three attempts of the one mailbox
    assert summary.breaker and "3 consecutive failures to reach" in summary.breaker
    job = mailboxes(cfg, env)[user]
    assert (job["state"], job["attempts"]) == ("pending", 0), job


def test_status_names_a_blocked_mailbox_once_and_run_logs_readable_lines(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    """A wrong password: the `status` line and the JSON reason do not repeat the address
    (`mailbox ADDR: source login refused for ADDR: ...` after the address itself), and a
    `run` writing to pipes (cron, CI, the demo) prints no JSON: its summary on stdout, its
    log lines on stderr as text."""
    good = users.pair("s", "d")
    wrong = users.name()
    dovecot_src.add_user(wrong, "the-real-one")
    dovecot_dst.add_user(wrong, "d")
    seed(dovecot_src, good, "INBOX", [(b"Subject: g\r\n\r\nbody\r\n", (), when(3))])
    cfg, env = listed(tmp_path, dovecot_src, dovecot_dst, [good, wrong])
    r = run_cli(["run", "--config", str(cfg)], env)
    assert r.returncode == 1, r.stdout + r.stderr
    for stream in (r.stdout, r.stderr):
        assert not [line for line in stream.splitlines() if line.lstrip().startswith("{")], \
            stream
    assert "run: 2 job(s) run" in r.stdout and "job_finished" not in r.stdout
    assert "job_finished" in r.stderr and f"mailbox={good}" in r.stderr, r.stderr
    st = run_cli(["status", "--config", str(cfg)], env)
    assert st.returncode == 0, st.stderr
    line = next(x for x in st.stdout.splitlines() if wrong in x)
    assert line.count(wrong) == 1, line
    assert "blocked_invalid_credentials: source login refused: " in line, line
    reason = mailboxes(cfg, env)[wrong]["reason"]
    assert wrong not in reason and reason.startswith("source login refused: "), reason
    # The JSON log format, when asked for: every stderr log line is a JSON object.
    r = run_cli(["--log-format", "json", "run", "--config", str(cfg), "--resync"], env)
    events = [json.loads(x) for x in r.stderr.splitlines() if x.startswith("{")]
    assert any(e["event"] == "run_finished" for e in events), r.stderr


async def test_a_refused_connection_is_logged_once_per_attempt(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    """The mailbox's own connection and its early lanes all meet the closed port: the
    attempt's end says so (``job_finished``), and no ``extra_lane_not_opened`` repeats it."""
    import io

    from pecsync import log as logsetup

    user = users.pair("s", "d")
    cfg, _ = listed(tmp_path, dovecot_src, dovecot_dst, [user], max_attempts=2,
                    retry_initial_seconds=0.2, retry_max_seconds=0.4)
    point_destination_at(cfg, free_port(), dovecot_dst.port)
    config = load_config(cfg)
    vault = vault_of_test_key()
    out = io.StringIO()
    logsetup.configure(stream=out)
    try:
        async with await CheckpointStore.open(config.database) as store:
            engine = EngineEnv(cfg=config, store=store, jobs=JobStore(store, vault),
                               budget=HostBudget(12), breaker=None)
            summary = await run_pool(engine, workers=1, poll_seconds=0.1)
    finally:
        logsetup.configure()
    text = out.getvalue()
    assert summary.jobs_run == 2, (summary, text)
    refused = [line for line in text.splitlines() if "connection refused" in line.lower()]
    assert len(refused) == 2, text  # one per attempt
    assert all("job_finished" in line for line in refused), refused
    assert "extra_lane_not_opened" not in text


def test_ctrl_c_ends_the_wait_with_exit_3_and_nothing_claimed(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    import signal

    user = users.pair("s", "d")
    cfg, env = listed(tmp_path, dovecot_src, dovecot_dst, [user], retry_initial_seconds=1)
    point_destination_at(cfg, free_port(), dovecot_dst.port)
    proc = subprocess.Popen([sys.executable, "-m", "pecsync", "run", "--config", str(cfg),
                             "--wait"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        seen = ""
        while "waiting (--wait)" not in seen and time.monotonic() < deadline:
            seen += proc.stderr.readline()
        assert "waiting (--wait)" in seen, seen
        time.sleep(2.5)  # a few tries
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        err = proc.communicate(timeout=30)[1]
        assert time.monotonic() - started < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 3, seen + err
    assert "Traceback" not in err, err
    job = mailboxes(cfg, env)[user]
    assert (job["state"], job["attempts"]) == ("pending", 0), job
