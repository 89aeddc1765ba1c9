"""Two processes never copy one mailbox at once: `retry` respects a live lease, a running job
keeps its lease, and one server as source and destination cannot hang the run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pecsync.config import load_config
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import JobState, JobStore
from pecsync.vault import Vault
from tests.helpers import (
    assert_same_content,
    cli_env,
    run_cli,
    seed,
    snapshot,
    vault_of_test_key,
    when,
    write_config,
)

HEADER = "order,address,source_user,source_password,dest_user,dest_password\n"


def messages(n: int, tag: str) -> list[tuple[bytes, tuple[str, ...], Any]]:
    return [(b"Subject: %s %d\r\nMessage-ID: <%s.%d@t>\r\n\r\nbody\r\n" % (
        tag.encode(), i, tag.encode(), i), (), when(i)) for i in range(n)]


def vault() -> Vault:
    return vault_of_test_key()


async def test_retry_refuses_a_mailbox_another_run_is_copying(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    user = users.pair("s", "d")
    seed(dovecot_src, user, "INBOX", messages(5, "r"))
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + f"O,{user},,s,,d\n")
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False)
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    config = load_config(cfg)
    async with await CheckpointStore.open(config.database) as store:
        jobs = JobStore(store, vault())
        # `pecsync run` on another host has claimed the job and is copying it.
        running = await jobs.claim_next("other-host:4242", None)
        assert running is not None and running.address == user
        logins = dovecot_src.login_count(user)  # the seeding's
        r = run_cli(["retry", "--config", str(cfg), user], env)
        assert r.returncode == 3, r.stdout + r.stderr
        assert f"mailbox {user} is being copied by another process (other-host:4242" \
            in r.stderr
        assert "wait for that run to finish" in r.stderr and "Traceback" not in r.stderr
        assert dovecot_src.login_count(user) == logins  # nothing was started
        job = await jobs.job(user)
        assert job is not None and (job.state, job.attempts) == (JobState.RUNNING, 1)
        # That process crashed: once its lease has expired, retry takes the job over.
        past = (datetime.now(UTC) - timedelta(seconds=5)).isoformat(timespec="seconds")
        await store.db.execute("UPDATE job SET lease_until = ? WHERE id = ?",
                               (past, running.id))
    r = run_cli(["retry", "--config", str(cfg), user], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{user}: done" in r.stdout
    assert_same_content(dovecot_src, dovecot_dst, user)
    assert sum(snapshot(dovecot_dst, user)["INBOX"].values()) == 5


async def test_one_server_as_source_and_destination(dovecot_src: Any, users: Any,
                                                    tmp_path: Path) -> None:
    """Same server at both ends: a budget of 1 is refused at once (it used to hang the run);
    with 2, mailboxes take turns and are copied."""
    from pecsync.engine.budget import HostBudget
    from pecsync.engine.pool import run_pool
    from pecsync.engine.worker import EngineEnv

    pairs = []
    for i in range(2):
        src, dst = users.name(), users.name()
        dovecot_src.add_user(src, f"s{i}")
        dovecot_src.add_user(dst, f"d{i}")
        seed(dovecot_src, src, "INBOX", messages(6, src))
        pairs.append((src, dst))
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + "".join(f"O,{s},{s},s{i},{d},d{i}\n"
                                    for i, (s, d) in enumerate(pairs)))
    env = cli_env(dovecot_src, dovecot_src)
    cfg = write_config(tmp_path, dovecot_src, dovecot_src, master=False,
                       engine={"max_connections_per_host": 2})
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    write_config(tmp_path, dovecot_src, dovecot_src, master=False,
                 engine={"max_connections_per_host": 1})
    r = run_cli(["run", "--config", str(cfg)], env, timeout=30)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "[engine] max_connections_per_host: source and destination are the same server" \
        in r.stderr
    write_config(tmp_path, dovecot_src, dovecot_src, master=False,
                 engine={"max_connections_per_host": 2})
    config = load_config(cfg)
    async with await CheckpointStore.open(config.database) as store:
        engine = EngineEnv(cfg=config, store=store, jobs=JobStore(store, vault()),
                           budget=HostBudget(2))
        summary = await run_pool(engine, workers=2)
    assert summary.exit_code == 0, summary.states
    assert engine.budget.peak == {(dovecot_src.host, dovecot_src.port): 2}
    for src, dst in pairs:
        assert snapshot(dovecot_src, dst)["INBOX"] == snapshot(dovecot_src, src)["INBOX"]
