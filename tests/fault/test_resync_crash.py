"""Crash after every durable step of a re-sync (flags stored and recorded, a renamed folder
adopted, the sync time recorded), then re-sync again: the destination ends as after an
uninterrupted re-sync, nothing duplicated, and a further re-sync changes nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli, seed, when
from tests.integration.test_resync import _dst_state, _msgs, _run, _set_flags, _setup

CRASH_EXIT = 86


def _expire_leases(database: Path) -> None:
    with sqlite3.connect(database) as db:
        db.execute("UPDATE job SET lease_until = '2000-01-01T00:00:00+00:00' "
                   "WHERE state = 'running'")


def _done_then_changed(tmp_path: Path, src: Any, dst: Any, user: str
                       ) -> tuple[Path, dict[str, str]]:
    seed(src, user, "INBOX", _msgs(3, "inbox"))
    seed(src, user, "INBOX.Pratiche", _msgs(2, "prat"))
    tmp_path.mkdir(parents=True, exist_ok=True)
    cfg, env = _setup(tmp_path, src, dst, user)
    _run(cfg, env)
    _set_flags(src, user, "INBOX", "inbox 1", ["\\Flagged", "$Pratica"])
    _set_flags(src, user, "INBOX", "inbox 0", ["\\Seen"], add=False)
    _set_flags(dst, user, "INBOX", "inbox 2", ["\\Answered"])
    c = src.client(user)
    try:
        c.select_folder("INBOX.Pratiche")
        c.delete_messages(c.search(["SUBJECT", "prat 1"]))
        c.expunge()
        c.rename_folder("INBOX.Pratiche", "INBOX.Archivio")
    finally:
        c.logout()
    seed(src, user, "INBOX", [(b"Subject: new\r\n\r\nnew mail\r\n", (), when(20))])
    return cfg, env


@pytest.mark.slow
def test_crash_after_every_resync_step(dovecot_src: Any, dovecot_dst: Any, users: Any,
                                       tmp_path: Path) -> None:
    probe = users.pair()
    cfg, env = _done_then_changed(tmp_path / "probe", dovecot_src, dovecot_dst, probe)
    log = tmp_path / "steps.log"
    r = run_cli(["run", "--config", str(cfg), "--resync"], {**env, "PECSYNC_STEP_LOG": str(log)})
    assert r.returncode == 0, r.stderr
    steps = [line.split()[1] for line in log.read_text().splitlines()]
    assert {"resync_flags_stored", "commit:adopt_renamed_folder+mark_folder_renamed"} <= set(
        steps), steps
    assert any("upsert_folder_sync" in s for s in steps), steps  # the flag pass recorded
    assert any("set_job_state" in s for s in steps), steps  # the job back to done
    expected = _dst_state(dovecot_dst, probe)
    assert expected["INBOX"]["inbox 1"] == {"\\Flagged", "$Pratica"}
    assert expected["INBOX"]["inbox 2"] == {"\\Answered"}
    # Every step is a durable state of its own: a store commit or a STORE on the destination.
    for crash_at in range(1, len(steps) + 1):
        user = users.pair()
        cfg, env = _done_then_changed(tmp_path / f"c{crash_at}", dovecot_src, dovecot_dst, user)
        crashed = run_cli(["run", "--config", str(cfg), "--resync"],
                          {**env, "PECSYNC_CRASH_AFTER_STEP": str(crash_at)})
        assert crashed.returncode == CRASH_EXIT, (crash_at, steps[crash_at - 1], crashed.stderr)
        # The crashed job is `running` under a lease of the dead process; a later run takes
        # it over once the lease has expired (10 minutes): expire it here.
        _expire_leases(cfg.parent / "state.sqlite3")
        resumed = run_cli(["run", "--config", str(cfg), "--resync"], env)
        assert resumed.returncode == 0, (crash_at, resumed.stdout, resumed.stderr)
        got = _dst_state(dovecot_dst, user)
        assert got == expected, (crash_at, steps[crash_at - 1], resumed.stdout, resumed.stderr)
        again = run_cli(["run", "--config", str(cfg), "--resync"],
                        {**env, "PECSYNC_STEP_LOG": str(tmp_path / f"again{crash_at}.log")})
        assert again.returncode == 0, again.stderr
        assert _dst_state(dovecot_dst, user) == expected
        later = (tmp_path / f"again{crash_at}.log").read_text()
        assert "appended" not in later and "resync_flags_stored" not in later, (crash_at, later)
