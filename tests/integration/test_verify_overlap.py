"""Read-back verification overlaps the copy (real Dovecot): the lane that has no folder left
verifies the copies of the largest folder recorded so far while lane 0 still copies it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.helpers import assert_same_content, cli_env, run_cli, seed, when, write_config


def test_an_idle_lane_verifies_the_folder_still_being_copied(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    user = users.pair()
    seed(dovecot_src, user, "INBOX", [
        (f"Subject: grande {i}\r\nMessage-ID: <g{i}@pec.example.it>\r\n\r\n".encode()
         + (f"riga {i} " * 3000).encode(), ("\\Seen",) if i % 2 else (), when(i))
        for i in range(300)])
    seed(dovecot_src, user, "INBOX.Piccola", [
        (f"Subject: piccola {i}\r\n\r\ntesto\r\n".encode(), (), when(i)) for i in range(3)])
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst,
                       engine={"folders_in_parallel": 2, "batch_max_messages": 10})
    env = cli_env(dovecot_src, dovecot_dst)
    r = run_cli(["-v", "--log-format", "json", "copy", "--config", str(cfg),
                 "--source-user", user], env)
    assert r.returncode == 0, r.stdout + r.stderr
    events = [json.loads(line) for line in r.stderr.splitlines() if line.startswith("{")]
    helped = [e for e in events if e["event"] == "verification_helped"]
    # The small folder's lane helped with INBOX: part of INBOX was verified before its copy
    # ended, on the other lane's connections; the rest by INBOX's own verification.
    assert len(helped) == 1 and helped[0]["folder"] == "INBOX", helped
    assert 0 < helped[0]["messages"] < 300
    assert "303 verified" in r.stdout and "0 mismatched" in r.stdout, r.stdout
    assert_same_content(dovecot_src, dovecot_dst, user)
    # Every copy is recorded as verified: a re-run finds nothing to do.
    again = run_cli(["copy", "--config", str(cfg), "--source-user", user], env)
    assert again.returncode == 0 and " 0 copied" in again.stdout, again.stdout + again.stderr
