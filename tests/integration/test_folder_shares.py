"""A large folder copied by several lanes at once, against real Dovecot (pecsync.sync.shares):
the lanes with no folder left copy batches from the back of it, byte-exact, and a lane that
loses its connection mid-share (after its APPEND reached the server, before it was recorded)
leaves nothing lost and nothing twice: the folder's owner reconciles and copies the rest."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.helpers import assert_same_content, cli_env, run_cli, seed, when, write_config


def messages(n: int, tag: str) -> list[tuple[bytes, tuple[str, ...], Any]]:
    return [(f"Subject: {tag} {i}\r\nMessage-ID: <{tag}.{i}@pec.example.it>\r\n\r\n".encode()
             + (f"riga {i} " * (800 + i % 50)).encode(), ("\\Seen",) if i % 2 else (), when(i))
            for i in range(n)]


def events(stderr: str, name: str) -> list[dict[str, Any]]:
    return [e for e in (json.loads(line) for line in stderr.splitlines()
                        if line.startswith("{")) if e["event"] == name]


def test_one_large_folder_is_copied_by_three_lanes(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    user = users.pair()
    seed(dovecot_src, user, "INBOX", messages(400, "uno"))
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst,
                       engine={"folders_in_parallel": 3, "batch_max_messages": 10})
    env = cli_env(dovecot_src, dovecot_dst)
    before = dovecot_src.login_count(user)
    r = run_cli(["-v", "--log-format", "json", "copy", "--config", str(cfg),
                 "--source-user", user], env)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    # One folder, yet the mailbox's two lanes logged in (40 batches: 3 lanes' worth) ...
    assert dovecot_src.login_count(user) - before == 3
    shared = events(r.stderr, "folder_shared")
    # ... and copied part of it from the back while the first lane copied from the front.
    assert len(shared) == 1 and shared[0]["folder"] == "INBOX", shared
    assert shared[0]["lanes"] >= 1 and 0 < shared[0]["messages"] < 400, shared
    assert "400 copied" in r.stdout and "400 verified" in r.stdout, r.stdout
    assert_same_content(dovecot_src, dovecot_dst, user)  # byte-exact, nothing twice
    again = run_cli(["copy", "--config", str(cfg), "--source-user", user], env)
    assert again.returncode == 0 and " 0 copied" in again.stdout, again.stdout + again.stderr


def test_a_small_folder_is_not_shared(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    user = users.pair()
    seed(dovecot_src, user, "INBOX", messages(25, "due"))
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst,
                       engine={"folders_in_parallel": 3, "batch_max_messages": 10})
    env = cli_env(dovecot_src, dovecot_dst)
    before = dovecot_src.login_count(user)
    r = run_cli(["-v", "--log-format", "json", "copy", "--config", str(cfg),
                 "--source-user", user], env)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    # Three batches: the first lane has them in hand; no lane logs in for nothing.
    assert dovecot_src.login_count(user) - before == 1
    assert events(r.stderr, "folder_shared") == []
    assert_same_content(dovecot_src, dovecot_dst, user)


@pytest.mark.parametrize("when_lost", ["after_append", "before_append"])
def test_a_lane_lost_mid_share_leaves_nothing_lost_and_nothing_twice(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path,
        when_lost: str) -> None:
    """The other lane's connection is lost on its second batch: after the server stored the
    APPEND and before it was recorded (intents left open: the owner reconciles them, finds
    the messages and does not append them again), or before the APPEND (the owner copies
    the batch)."""
    from pecsync.config import load_config
    from pecsync.engine.settings import mailbox_settings
    from pecsync.errors import TransientError
    from pecsync.model import Credentials, Secret
    from pecsync.store.checkpoints import CheckpointStore
    from pecsync.sync import copier as copier_mod
    from pecsync.sync.importer import Importer
    from pecsync.sync.mailbox import copy_mailbox

    user = users.pair()
    seed(dovecot_src, user, "INBOX", messages(200, "tre"))
    cfg = load_config(write_config(tmp_path, dovecot_src, dovecot_dst,
                                   engine={"folders_in_parallel": 2, "batch_max_messages": 10}))
    lost: list[int] = []

    class Flaky(Importer):
        """The other lane's importer (it never moves the high-water mark)."""

        batches = 0

        async def _append(self, out: Any) -> Any:
            if self.moves_high_water:
                # The owner waits (10 s at most) for the other lane to have joined, so that
                # the share happens however fast this machine copies.
                with anyio.move_on_after(10):
                    while Flaky.batches < 2:
                        await anyio.sleep(0.01)
                return await super()._append(out)
            Flaky.batches += 1
            if Flaky.batches != 2:
                return await super()._append(out)
            lost.extend(o.msg.info.uid for o in out)
            if when_lost == "after_append":
                await super()._append(out)  # stored on the server, intents open
            raise TransientError("connection lost (test)", mailbox=user, folder="INBOX")

    async def go() -> Any:
        async with await CheckpointStore.open(cfg.database) as store:
            return await copy_mailbox(
                mailbox_settings(cfg), store,
                Credentials(user, Secret(dovecot_src.master_password), "master"),
                Credentials(user, Secret(dovecot_dst.master_password), "master"))

    original = copier_mod.Importer
    copier_mod.Importer = Flaky  # type: ignore[misc]
    try:
        report = anyio.run(go)
    finally:
        copier_mod.Importer = original  # type: ignore[misc]
    assert 0 < len(lost) <= 10, lost  # one batch (the sizer may cut it below 10)
    assert sum(f.copied + f.already_present for f in report.folders) == 200
    assert sum(f.verified for f in report.folders) == 200
    assert_same_content(dovecot_src, dovecot_dst, user)  # none lost, none twice


def small(n: int, tag: str) -> list[tuple[bytes, tuple[str, ...], Any]]:
    return [(f"Subject: {tag} {i}\r\nMessage-ID: <{tag}.{i}@pec.example.it>\r\n\r\n{i}\r\n"
             .encode(), (), when(i)) for i in range(n)]


@pytest.mark.slow
def test_the_owner_of_a_shared_folder_survives_a_server_memory_limit(
        dovecot_src: Any, users: Any, tmp_path: Path) -> None:
    """Dovecot 2.3 grows a session that holds a folder SELECTed while other sessions append
    to it until the service's vsz_limit kills it (at 256 MB, a 22,623-message folder shared
    by six lanes lost its owner's connection): the owner appends with the folder closed
    (UNSELECT).  A destination at 40 MB kills such a session within 5,000 messages."""
    from lab.dovecot import DovecotServer

    short = Path(tempfile.mkdtemp(prefix="pecsync-vsz-"))  # (socket paths: 108 bytes)
    dst = DovecotServer(short, "dst", flavour="dst",
                        extra_conf="service imap {\n  vsz_limit = 40M\n}\n")
    dst.start()
    try:
        user = users.name()
        dovecot_src.add_user(user, "src-pw")
        dst.add_user(user, "dst-pw")
        seed(dovecot_src, user, "INBOX", small(5_000, "vsz"))
        cfg = write_config(tmp_path, dovecot_src, dst,
                           engine={"folders_in_parallel": 4, "batch_max_messages": 4})
        r = run_cli(["-v", "--log-format", "json", "copy", "--config", str(cfg),
                     "--source-user", user], cli_env(dovecot_src, dst), timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr[-3000:]
        log = (dst.root / "dovecot.log").read_text(errors="replace")
        assert "Out of memory" not in log, [line for line in log.splitlines()
                                            if "memory" in line][:2]
        assert events(r.stderr, "connection_lost_reconnecting") == []
        shared = events(r.stderr, "folder_shared")
        assert shared and shared[0]["lanes"] >= 2, shared  # appended by three sessions or more
        assert_same_content(dovecot_src, dst, user)
    finally:
        dst.stop()
        shutil.rmtree(short, ignore_errors=True)
