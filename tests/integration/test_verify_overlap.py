"""Read-back verification overlaps the copy (real Dovecot): the lane that has no folder left
verifies the copies of the largest folder recorded so far while lane 0 still copies it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.helpers import (
    assert_same_content,
    cli_env,
    import_members,
    run_cli,
    seed,
    when,
    write_config,
)


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


def test_the_next_mailbox_starts_before_the_last_batches_of_the_one_before(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    """One mailbox copied at a time (`run --workers 1`): the next one is claimed while the
    first still has batches to fetch (about a second of its copy rate, `HAND_OVER_AHEAD_S`),
    not after its last batch: its login and plan overlap the first one's end (issue 26)."""
    first, second = users.pair("ok", "ok"), users.pair("ok", "ok")
    body = b"y" * 50_000
    seed(dovecot_src, first, "INBOX", [
        (b"Subject: grande %d\r\nMessage-ID: <h%d@pec.example.it>\r\n\r\n%s\r\n" % (i, i, body),
         (), when(i)) for i in range(800)])  # 40 MB: more than a second to copy here
    seed(dovecot_src, second, "INBOX", [
        (b"Subject: piccola %d\r\n\r\ntesto\r\n" % i, (), when(i)) for i in range(3)])
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False,
                       engine={"batch_max_messages": 20})
    env = cli_env(dovecot_src, dovecot_dst)
    import_members(cfg, env, [(first, "ok", "ok"), (second, "ok", "ok")])
    r = run_cli(["-v", "--log-format", "json", "run", "--config", str(cfg), "--workers", "1"],
                env)
    assert r.returncode == 0, r.stdout + r.stderr
    events = [json.loads(line) for line in r.stderr.splitlines() if line.startswith("{")]
    order = [(e["event"], e.get("mailbox")) for e in events
             if e["event"] in ("hand_over", "job_claimed", "job_finished")]
    early = [e for e in events if e["event"] == "hand_over" and e["mailbox"] == first]
    # Handed over with bytes still to fetch, then the second claimed before the first ended.
    assert early and early[0]["bytes_left"] > 0, order
    assert order.index(("job_claimed", second)) < order.index(("job_finished", first)), order
    assert_same_content(dovecot_src, dovecot_dst, first)
    assert_same_content(dovecot_src, dovecot_dst, second)
