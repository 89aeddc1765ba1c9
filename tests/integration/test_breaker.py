"""The circuit breaker: mailboxes that cannot log in at one server, one after the other, stop
the run and are left as they were — not blocked, no notices, no attempt spent.  One member's
wrong password among good ones still blocks that mailbox alone."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lab.dovecot import free_port
from pecsync.config import load_config
from pecsync.engine.breaker import CircuitBreaker
from pecsync.engine.budget import HostBudget
from pecsync.engine.pool import run_pool
from pecsync.engine.worker import EngineEnv
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import JobStore
from pecsync.vault import Vault, load_key
from tests.helpers import (
    TEST_KEY,
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
    tail = tail.replace(f"port = {real_port}", f"port = {port}", 1)
    cfg.write_text(head + "[destination]" + tail)


def no_notices(cfg: Path, env: dict[str, str], out: Path) -> None:
    r = run_cli(["notices", "--config", str(cfg), "--out", str(out)], env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("0 notice(s)"), r.stdout
    assert [p.name for p in out.iterdir()] == ["notices.csv"]


def test_destination_that_refuses_everyone_trips_the_breaker(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    names = [users.pair(f"s{i}", f"d{i}") for i in range(8)]
    for i, user in enumerate(names):
        seed(dovecot_src, user, "INBOX", [(b"Subject: b\r\n\r\nbody\r\n", (), when(i))])
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + "".join(f"O,{u},,s{i},,d{i}\n" for i, u in enumerate(names)))
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False)
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    # The operator typed the source server's port for the destination: another IMAP server,
    # where the destination passwords are all wrong.
    point_destination_at(cfg, dovecot_src.port, dovecot_dst.port)
    r = run_cli(["run", "--config", str(cfg), "--workers", "2"], env)
    assert r.returncode == 3, r.stdout + r.stderr
    assert (f"consecutive login failures at {dovecot_src.host}:{dovecot_src.port} "
            f"(destination): check the configuration") in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    ran = int(r.stdout.split("run: ")[1].split(" job(s)")[0])
    assert 5 <= ran < len(names), r.stdout  # it stopped claiming
    states = mailboxes(cfg, env)
    for user in names:
        job = states[user]
        assert job["state"] == "pending", job  # as before the run: not blocked, not failed
        assert job["attempts"] == 0, job
    no_notices(cfg, env, tmp_path / "notices")
    # Configuration fixed: every mailbox copies, with the passwords it had.
    point_destination_at(cfg, dovecot_dst.port, dovecot_src.port)
    r = run_cli(["run", "--config", str(cfg), "--workers", "2"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    for user in names:
        assert_same_content(dovecot_src, dovecot_dst, user)


def test_wrong_passwords_between_good_ones_block_only_those(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    good = [users.pair("s", "d") for _ in range(3)]
    bad = [users.name() for _ in range(3)]
    for user in bad:
        dovecot_src.add_user(user, "the-real-one")
        dovecot_dst.add_user(user, "d")
    # Claimed in list order with one worker: bad, good, bad, good, bad, good.  A threshold
    # of 2 trips on two bad ones in a row: each good login in between resets the count.
    order = [u for pair in zip(bad, good, strict=True) for u in pair]
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + "".join(f"O,{u},,{'not-it' if u in bad else 's'},,d\n"
                                    for u in order))
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False,
                       engine={"breaker_failures": 2})
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    r = run_cli(["run", "--config", str(cfg), "--workers", "1"], env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "consecutive" not in r.stderr
    states = mailboxes(cfg, env)
    for user in bad:
        assert states[user]["state"] == "blocked_invalid_credentials", states[user]
        assert dovecot_src.login_count(user) == 1
    for user in good:
        assert states[user]["state"] == "done", states[user]


async def test_closed_destination_port_trips_the_breaker_without_spending_attempts(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    """The pool itself (below `run`'s pre-flight check): a server that cannot be reached
    trips the breaker after 3 mailboxes; none of them is retry_wait, failed or blocked."""
    names = [users.pair("s", "d") for _ in range(5)]
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + "".join(f"O,{u},,s,,d\n" for u in names))
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False,
                       engine={"breaker_failures": 3, "max_attempts": 1})
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    point_destination_at(cfg, free_port(), dovecot_dst.port)  # nothing listens there
    config = load_config(cfg)
    vault = vault_of_test_key()
    async with await CheckpointStore.open(config.database) as store:
        engine = EngineEnv(cfg=config, store=store, jobs=JobStore(store, vault),
                           budget=HostBudget(12), breaker=CircuitBreaker(config, 3))
        summary = await run_pool(engine, workers=1)
    assert summary.exit_code == 3
    assert summary.jobs_run == 3
    assert summary.breaker and "3 consecutive failures to reach" in summary.breaker
    assert "connection refused" in summary.breaker
    states = mailboxes(cfg, env)
    assert {m["state"] for m in states.values()} == {"pending"}, states
    assert {m["attempts"] for m in states.values()} == {0}
    no_notices(cfg, env, tmp_path / "notices")


async def test_follow_waits_out_an_unreachable_server_without_spending_attempts(
        lab_root: Path, dovecot_src: Any, users: Any, tmp_path: Path) -> None:
    """`run --follow`: a destination that is down trips the breaker (the two mailboxes that
    failed go back as they were), the pool waits instead of ending, and once the server is
    back every mailbox is copied, each with exactly one attempt counted."""
    import anyio

    from lab.dovecot import DovecotServer

    dst = DovecotServer(lab_root, f"dst-breaker-{os.getpid()}", flavour="dst")
    dst.start()
    try:
        names = [users.name() for _ in range(4)]
        for i, user in enumerate(names):
            dovecot_src.add_user(user, "s")
            dst.add_user(user, "d")
            seed(dovecot_src, user, "INBOX", [(b"Subject: f\r\n\r\nbody\r\n", (), when(i))])
        csv = tmp_path / "list.csv"
        csv.write_text(HEADER + "".join(f"O,{u},,s,,d\n" for u in names))
        cfg = write_config(tmp_path, dovecot_src, dst, master=False,
                           engine={"breaker_failures": 2})
        env = cli_env(dovecot_src, dst)
        assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
        dst.stop()
        config = load_config(cfg)
        os.environ["PECSYNC_KEY"] = TEST_KEY
        try:
            vault = Vault(load_key(None))
        finally:
            del os.environ["PECSYNC_KEY"]
        stop = {"now": False}
        trips = 0
        async with await CheckpointStore.open(config.database) as store:
            jobs = JobStore(store, vault)
            engine = EngineEnv(cfg=config, store=store, jobs=jobs, budget=HostBudget(12),
                               breaker=CircuitBreaker(config, 2),
                               should_stop=lambda: stop["now"])

            async def operator() -> None:
                nonlocal trips
                with anyio.fail_after(90):
                    while not (engine.breaker and engine.breaker.open):
                        await anyio.sleep(0.02)
                    trips += 1
                    # While it is open (breaker_wait) nothing is claimed: the server comes
                    # back in that window (start() returns once it accepts connections).
                    dst.start(fresh=False)
                    while any(j.state.value != "done" for j in await jobs.jobs()):
                        await anyio.sleep(0.2)
                stop["now"] = True

            async with anyio.create_task_group() as tg:
                tg.start_soon(operator)
                summary = await run_pool(engine, workers=1, follow=True, poll_seconds=0.2,
                                         breaker_wait=5.0)
            assert trips == 1
            assert summary.exit_code == 0, summary
            final = await jobs.jobs()
        assert [j.state.value for j in final] == ["done"] * 4
        assert [j.attempts for j in final] == [1] * 4  # the failed tries were not counted
        for user in names:
            assert_same_content(dovecot_src, dst, user)
    finally:
        dst.stop()
