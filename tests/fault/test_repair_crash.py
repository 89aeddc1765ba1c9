"""A repair (copies deleted on the destination, appended again) crashed after every step,
then resumed: nothing lost, nothing duplicated, and every repair is verified."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    assert_same_content,
    cli_env,
    run_cli,
    seed,
    session,
    when,
    write_config,
)

CRASH_EXIT = 86


def _prepare(tmp_path: Path, src: Any, dst: Any, users: Any, database: str
             ) -> tuple[str, Path]:
    """A copied mailbox with two of its four copies deleted on the destination."""
    user = users.pair()
    seed(src, user, "INBOX", [(b"Subject: r%d\r\n\r\nrepair %d\r\n" % (i, i), ("\\Seen",),
                               when(i)) for i in range(4)])
    cfg = write_config(tmp_path, src, dst, database=database, engine={"batch_max_messages": 1})
    first = run_cli(["copy", "--config", str(cfg), "--source-user", user], cli_env(src, dst))
    assert first.returncode == 0, first.stdout + first.stderr
    d = session(dst, user)
    try:
        d.select("INBOX")
        d.connection.client.delete_messages([2, 3], silent=True)
        d.connection.client.expunge()
    finally:
        d.logout()
    return user, cfg


@pytest.mark.slow
def test_repair_crashed_after_every_step_resumes_exactly(dovecot_src: Any, dovecot_dst: Any,
                                                         users: Any, tmp_path: Path) -> None:
    user, cfg = _prepare(tmp_path, dovecot_src, dovecot_dst, users, "probe.sqlite3")
    log = tmp_path / "steps.log"
    probe = run_cli(["copy", "--config", str(cfg), "--source-user", user],
                    cli_env(dovecot_src, dovecot_dst, PECSYNC_STEP_LOG=str(log)))
    assert probe.returncode == 0, probe.stdout + probe.stderr
    steps = log.read_text().splitlines()
    kinds = {line.split()[1] for line in steps}
    assert {"commit:mark_verified", "commit:insert_message", "appended"} <= kinds, steps
    assert any(k.startswith("commit:mark_appended") for k in kinds), steps
    assert_same_content(dovecot_src, dovecot_dst, user)
    for crash_at in range(1, len(steps) + 1):
        user, cfg = _prepare(tmp_path, dovecot_src, dovecot_dst, users, f"c{crash_at}.sqlite3")
        crashed = run_cli(["copy", "--config", str(cfg), "--source-user", user],
                          cli_env(dovecot_src, dovecot_dst, PECSYNC_CRASH_AFTER_STEP=str(crash_at)))
        assert crashed.returncode == CRASH_EXIT, (crash_at, crashed.stdout, crashed.stderr)
        resumed = run_cli(["copy", "--config", str(cfg), "--source-user", user],
                          cli_env(dovecot_src, dovecot_dst))
        assert resumed.returncode == 0, (crash_at, resumed.stdout, resumed.stderr)
        assert_same_content(dovecot_src, dovecot_dst, user)
        checked = run_cli(["verify", "--config", str(cfg), "--source-user", user],
                          cli_env(dovecot_src, dovecot_dst))
        assert checked.returncode == 0, (crash_at, checked.stdout)
