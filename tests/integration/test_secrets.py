"""No password anywhere: logs at DEBUG, CLI output, status JSON, the database and its WAL."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from tests.helpers import cli_env, run_cli, seed, when, write_config

HEADER = "order,address,source_user,source_password,dest_user,dest_password\n"
# Quotes, spaces, non-ASCII, %, backslash: every way a password could be mangled or leaked.
PASSWORDS = ['Pw"quoted\'1', "pass word 2", "pàsswörd-€3", "100%pw4", "back\\slash5"]


def csv_field(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def test_no_secret_leaks_anywhere(dovecot_src: Any, dovecot_dst: Any, users: Any,
                                  tmp_path: Path) -> None:
    rows = []
    names = []
    for i, pw in enumerate(PASSWORDS):
        user = users.name()
        names.append(user)
        if i == 4:
            dovecot_src.add_user(user, "not-the-listed-one")  # listed password is wrong
        else:
            dovecot_src.add_user(user, pw)
        dovecot_dst.add_user(user, pw[::-1])
        seed(dovecot_src, user, "INBOX", [(b"Subject: s\r\n\r\nbody\r\n", (), when(i))])
        rows.append(f"O,{user},,{csv_field(pw)},,{csv_field(pw[::-1])}\n")
    bad_row = f"O,not-an-address,,{csv_field(PASSWORDS[0])},,x\n"
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + "".join(rows) + bad_row, "utf-8")
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False,
                       extra="")
    cfg.write_text(cfg.read_text().replace('database = "state.sqlite3"',
                                           'database = "state.sqlite3"\npurge_after_done = false'))
    env = cli_env(dovecot_src, dovecot_dst)
    outputs = []
    for args in (["import", str(csv)], ["import", "--skip-invalid", str(csv)],
                 ["run", "--workers", "2"], ["status"], ["status", "--json"]):
        r = run_cli(["-v", args[0], "--config", str(cfg), *args[1:]], env)
        outputs.append(r.stdout + r.stderr)
    r = run_cli(["-v", "retry", "--config", str(cfg), names[4], "--password-stdin"],
                env | {"PYTHONIOENCODING": "utf-8"})
    outputs.append(r.stdout + r.stderr)
    for args in (["report", "--out", str(tmp_path / "rep")],
                 ["notices", "--out", str(tmp_path / "not")], ["certificate", names[0]]):
        r = run_cli(["-v", args[0], "--config", str(cfg), *args[1:]], env)
        assert r.returncode == 0, r.stderr
        outputs.append(r.stdout + r.stderr)
    files = [p for d in ("rep", "not", "certificates") for p in (tmp_path / d).rglob("*")
             if p.is_file()]
    assert len(files) >= 6
    outputs += [p.read_text("utf-8") for p in files]
    text = "\n".join(outputs)
    assert "blocked_invalid_credentials" in text and '"done"' in text
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("state.sqlite3*"))
    for pw in PASSWORDS:
        for candidate in (pw, pw[::-1]):
            assert candidate not in text, f"password {candidate!r} leaked into CLI output"
            assert candidate.encode() not in raw, f"password {candidate!r} in the database"
    for p in tmp_path.glob("state.sqlite3*"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


def test_key_file_mode_and_rotation(dovecot_src: Any, dovecot_dst: Any, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False)
    cfg.write_text(cfg.read_text().replace('database = "state.sqlite3"',
                                           'database = "state.sqlite3"\nkey_file = "pecsync.key"'))
    env = cli_env(dovecot_src, dovecot_dst)
    env.pop("PECSYNC_KEY")
    r = run_cli(["init-key", "--config", str(cfg)], env)
    assert r.returncode == 0, r.stderr
    key = tmp_path / "pecsync.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + "O,rot@pec.test.it,,s3cret-rot,,d3st-rot\n")
    key.chmod(0o644)
    r = run_cli(["import", "--config", str(cfg), str(csv)], env)
    assert r.returncode == 2 and "readable by others" in r.stderr and "chmod 600" in r.stderr
    key.chmod(0o600)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    old_key = key.read_text()
    r = run_cli(["rotate-key", "--config", str(cfg)], env)
    assert r.returncode == 0, r.stderr
    assert "re-encrypted 2 stored password(s)" in r.stdout and key.read_text() != old_key
    # Same list again: the stored passwords decrypt under the new key (nothing changed).
    r = run_cli(["import", "--config", str(cfg), str(csv)], env)
    assert r.returncode == 0 and "1 unchanged" in r.stdout, r.stdout + r.stderr
    # The old key no longer opens them: a clear error, not garbage.
    key.write_text(old_key)
    r = run_cli(["import", "--config", str(cfg), str(csv)], env)
    assert r.returncode != 0 and "wrong key" in r.stderr and "Traceback" not in r.stderr
