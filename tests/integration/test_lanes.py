"""Folder lanes and pipelined FETCHes against real Dovecot: several folders of one mailbox
copied at once over borrowed connection pairs, within the per-host budget, byte-exact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pecsync.config import load_config
from pecsync.engine.budget import HostBudget
from pecsync.engine.pool import run_pool
from pecsync.engine.worker import EngineEnv
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import JobStore
from tests.helpers import (
    assert_same_content,
    cli_env,
    run_cli,
    seed,
    vault_of_test_key,
    when,
    write_config,
)
from tests.helpers import session as session_for

FOLDERS = ["INBOX", "INBOX.Archivio", "INBOX.Archivio.2024", "INBOX.Clienti", "INBOX.Fornitori"]


def message(folder: str, i: int) -> bytes:
    body = (f"Riga {i} della cartella {folder}.\r\n" * (40 + i % 17)).encode()
    return (f"From: mittente{i}@pec.example.it\r\nTo: dest@pec.example.it\r\n"
            f"Subject: {folder} #{i}\r\nMessage-ID: <{folder}.{i}@pec.example.it>\r\n"
            f"Date: Mon, 2 Sep 2024 10:00:00 +0200\r\n\r\n").encode() + body


def fill(server: Any, user: str, per_folder: int) -> None:
    for n, folder in enumerate(FOLDERS):
        seed(server, user, folder, [(message(folder, i), ("\\Seen",) if i % 3 else (),
                                     when(i + n)) for i in range(per_folder + 5 * n)])


def copy_counting_logins(src: Any, cfg: Path, env: dict[str, str], user: str
                         ) -> tuple[Any, int]:
    """Run ``pecsync copy``: its result and how many times it logged in to the source."""
    before = src.login_count(user)
    result = run_cli(["copy", "--config", str(cfg), "--source-user", user], env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result, src.login_count(user) - before


def first_copy(src: Any, dst: Any, tmp_path: Path, user: str, engine: dict[str, Any]
               ) -> tuple[Path, dict[str, str], Any, int]:
    """Config and environment for *engine*, and the first ``pecsync copy`` of *user*: its
    result and how many source logins it took."""
    cfg = write_config(tmp_path, src, dst, engine=engine)
    env = cli_env(src, dst)
    result, logins = copy_counting_logins(src, cfg, env, user)
    return cfg, env, result, logins


def test_folders_copied_in_parallel_lanes_with_pipelined_batches(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    user = users.pair()
    fill(dovecot_src, user, per_folder=23)
    # Small batches: every folder takes several pipelined FETCHes.
    cfg, env, first, logins = first_copy(dovecot_src, dovecot_dst, tmp_path, user,
                                         {"folders_in_parallel": 3, "batch_max_messages": 4})
    assert first.returncode == 0, first.stdout + first.stderr
    # One pair for the mailbox and two borrowed lanes.
    assert logins == 3
    assert_same_content(dovecot_src, dovecot_dst, user)
    # A re-run settles every folder from LIST-STATUS: one login, no lane.
    again, logins = copy_counting_logins(dovecot_src, cfg, env, user)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "total: " in again.stdout and " 0 copied" in again.stdout
    assert logins == 1
    assert_same_content(dovecot_src, dovecot_dst, user)


def test_no_lane_beyond_the_connection_budget(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    user = users.pair()
    fill(dovecot_src, user, per_folder=6)
    *_, result, logins = first_copy(dovecot_src, dovecot_dst, tmp_path, user,
                                    {"folders_in_parallel": 3, "max_connections_per_host": 1})
    assert result.returncode == 0, result.stdout + result.stderr
    assert logins == 1  # no lane: the budget is one
    assert_same_content(dovecot_src, dovecot_dst, user)


def test_a_first_copy_logs_in_no_lane_that_has_no_folder_to_copy(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    """Early lanes connect before the plan, but log in only as many as folders need: a
    mailbox with one folder to copy (the others empty) logs in once."""
    user = users.pair()
    seed(dovecot_src, user, "INBOX", [(message("INBOX", i), (), when(i)) for i in range(8)])
    s = session_for(dovecot_src, user)
    try:
        s.create_folder("INBOX.Vuota")
    finally:
        s.logout()
    *_, result, logins = first_copy(dovecot_src, dovecot_dst, tmp_path, user,
                                    {"folders_in_parallel": 3})
    assert logins == 1, result.stdout
    assert_same_content(dovecot_src, dovecot_dst, user)


def test_a_mailbox_failing_before_its_plan_gives_back_its_early_lanes(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    """Whatever fails between the early connections and the copy (here a progress hook),
    every borrowed connection pair comes back and no lane logs in."""
    import anyio
    import pytest

    from pecsync.config import load_config
    from pecsync.engine.settings import mailbox_settings
    from pecsync.model import Credentials, Secret
    from pecsync.store.checkpoints import CheckpointStore
    from pecsync.sync.context import Progress
    from pecsync.sync.lanes import FixedSlots
    from pecsync.sync.mailbox import copy_mailbox

    user = users.pair()
    fill(dovecot_src, user, per_folder=3)
    cfg = load_config(write_config(tmp_path, dovecot_src, dovecot_dst,
                                   engine={"folders_in_parallel": 3}))
    src = Credentials(user, Secret(dovecot_src.master_password), "master")
    dst = Credentials(user, Secret(dovecot_dst.master_password), "master")
    slots = FixedSlots(2)

    async def broken_hook(phase: str) -> None:
        await anyio.sleep(0.2)  # the early lanes are connected by now
        raise RuntimeError(f"bookkeeping failed at {phase}")

    async def go() -> None:
        async with await CheckpointStore.open(cfg.database) as store:
            with pytest.raises(RuntimeError, match="bookkeeping failed at login"):
                await copy_mailbox(mailbox_settings(cfg), store, src, dst, slots=slots,
                                   progress=Progress(on_phase=broken_hook))

    before = dovecot_src.login_count(user)
    anyio.run(go)
    assert slots.free == 2
    assert dovecot_src.login_count(user) == before


def test_a_password_changed_under_the_lanes_is_refused_once(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    """The member changes the password after the mailbox's own pair logged in and before its
    lanes log in (default lanes: two extra): one refused LOGIN at the provider, not one per
    lane, and the mailbox stops on it.  Counted in Dovecot's auth log."""
    import anyio
    import pytest

    from pecsync.config import load_config
    from pecsync.engine.settings import mailbox_settings
    from pecsync.errors import AuthenticationFailed
    from pecsync.model import Credentials, Secret
    from pecsync.store.checkpoints import CheckpointStore
    from pecsync.sync.context import Progress
    from pecsync.sync.lanes import FixedSlots
    from pecsync.sync.mailbox import copy_mailbox

    user = users.pair("vecchia", "x")
    fill(dovecot_src, user, per_folder=5)
    cfg = load_config(write_config(tmp_path, dovecot_src, dovecot_dst))
    assert cfg.engine.folders_in_parallel == 3  # the default lanes
    src = Credentials(user, Secret("vecchia"), None)
    dst = Credentials(user, Secret(dovecot_dst.master_password), "master")

    async def change_password(phase: str) -> None:
        if phase == "copy":  # logged in and planned; the early lanes wait to log in
            await anyio.to_thread.run_sync(dovecot_src.set_password, user, "nuova")

    async def go() -> None:
        async with await CheckpointStore.open(cfg.database) as store:
            with pytest.raises(AuthenticationFailed):
                await copy_mailbox(mailbox_settings(cfg), store, src, dst, slots=FixedSlots(2),
                                   progress=Progress(on_phase=change_password))

    def refused() -> int:
        return sum(1 for line in dovecot_src.log_text().splitlines()
                   if f"({user}," in line and "Password mismatch" in line)

    anyio.run(go)
    import time
    time.sleep(0.5)  # the log catches up
    assert refused() == 1


async def test_a_run_s_last_mailbox_borrows_the_lanes_idle_workers_leave(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    """With workers that found no job, the mailbox running alone opens up to twice
    [engine] folders_in_parallel lanes (issue 26: the last mailbox of a run copied on 3 lanes
    at half the link); never more than that, byte-exact."""
    user = users.pair("s0", "d0")
    fill(dovecot_src, user, per_folder=12)
    csv = tmp_path / "list.csv"
    csv.write_text("order,address,source_user,source_password,dest_user,dest_password\n"
                   f"Ordine,{user},,s0,,d0\n")
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False,
                       engine={"folders_in_parallel": 2})
    env = cli_env(dovecot_src, dovecot_dst)
    r = run_cli(["import", "--config", str(cfg), str(csv)], env)
    assert r.returncode == 0, r.stderr
    config = load_config(cfg)
    vault = vault_of_test_key()
    async with await CheckpointStore.open(config.database) as store:
        engine = EngineEnv(cfg=config, store=store, jobs=JobStore(store, vault),
                           budget=HostBudget(12))
        summary = await run_pool(engine, workers=3)
    assert summary.exit_code == 0, summary.states
    # Its own pair and three lanes: 2 x folders_in_parallel, for five folders.
    assert engine.budget.peak[(dovecot_src.host, dovecot_src.port)] == 4
    assert_same_content(dovecot_src, dovecot_dst, user)
