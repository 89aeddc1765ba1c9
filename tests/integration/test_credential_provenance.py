"""Credentials never go backwards (issue 14 item 2): a password fixed with `retry
--password-stdin` is not undone by re-importing the unchanged list; a changed CSV row still
replaces it; status shows where each password came from."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers import ROOT, cli_env, run_cli, seed, when, write_config

HEADER = "order,address,source_user,source_password,dest_user,dest_password\n"


def _status(cfg: Path, env: dict[str, str]) -> dict[str, Any]:
    r = run_cli(["status", "--config", str(cfg), "--json"], env)
    assert r.returncode == 0, r.stderr
    doc: dict[str, Any] = json.loads(r.stdout)
    return doc


def test_reimport_of_unchanged_list_keeps_the_fixed_password(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    user = users.name()
    dovecot_src.add_user(user, "the-real-one")
    dovecot_dst.add_user(user, "d")
    seed(dovecot_src, user, "INBOX", [(b"Subject: a\r\n\r\nbody\r\n", (), when(1))])
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + f"O,{user},,stale-in-the-list,,d\n")
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False)
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    assert _status(cfg, env)["mailboxes"][0]["credential_source"] == "csv"
    r = run_cli(["run", "--config", str(cfg)], env)
    assert r.returncode == 1
    assert _status(cfg, env)["mailboxes"][0]["state"] == "blocked_invalid_credentials"

    # A wrong password on stdin: refused by one LOGIN, nothing stored, state unchanged.
    before = dovecot_src.login_count(user)
    r = subprocess.run([sys.executable, "-m", "pecsync", "retry", "--config", str(cfg), user,
                        "--password-stdin"], input="also-wrong\n", env=env, cwd=ROOT,
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "not stored" in r.stderr and "also-wrong" not in r.stdout + r.stderr
    assert dovecot_src.login_count(user) == before + 1
    m = _status(cfg, env)["mailboxes"][0]
    assert m["credential_source"] == "csv" and m["state"] == "blocked_invalid_credentials"

    r = subprocess.run([sys.executable, "-m", "pecsync", "retry", "--config", str(cfg), user,
                        "--password-stdin"], input="the-real-one\n", env=env, cwd=ROOT,
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    m = _status(cfg, env)["mailboxes"][0]
    assert m["state"] == "done" and m["credential_source"] == "stdin" and m["credential_at"]

    # The unchanged list again: nothing replaced (this used to say "1 with new credentials").
    r = run_cli(["import", "--config", str(cfg), str(csv)], env)
    assert r.returncode == 0, r.stderr
    assert "0 with new credentials" in r.stdout and "1 unchanged" in r.stdout, r.stdout
    assert _status(cfg, env)["mailboxes"][0]["credential_source"] == "stdin"
    r = subprocess.run([sys.executable, "-m", "pecsync", "retry", "--config", str(cfg), user],
                       env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
                       check=False)
    assert r.returncode == 0 and f"{user}: done" in r.stdout, r.stdout + r.stderr

    # The operator changes the row: that is new information, and it wins.
    csv.write_text(HEADER + f"O,{user},,newer-in-the-list,,d\n")
    r = run_cli(["import", "--config", str(cfg), str(csv)], env)
    assert "1 with new credentials" in r.stdout, r.stdout
    assert _status(cfg, env)["mailboxes"][0]["credential_source"] == "csv"
    text = run_cli(["status", "--config", str(cfg)], env).stdout
    assert "passwords from: csv 1" in text
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("state.sqlite3*"))
    for pw in ("the-real-one", "stale-in-the-list", "newer-in-the-list", "also-wrong"):
        assert pw.encode() not in raw
