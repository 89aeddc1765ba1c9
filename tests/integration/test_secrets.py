"""No password anywhere: logs at DEBUG, CLI output, status JSON, the database and its WAL."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pecsync.config import ServerConfig
from pecsync.errors import AuthenticationFailed
from pecsync.imap import auth
from pecsync.imap.session import ImapSession
from pecsync.model import Credentials, Secret, Side
from tests.helpers import ROOT, assert_same_content, cli_env, run_cli, seed, when, write_config

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


ACCENTED = "perché123"


def _no_trace_of(password: str, text: str) -> None:
    """Neither the password nor what an encoding error says about it (a character and its
    position), nor a traceback."""
    assert password not in text
    for clue in ("\\xe9", "codec can't", "position", "Traceback", "UnicodeEncodeError",
                 "UnicodeDecodeError", "internal error"):
        assert clue not in text, f"{clue!r} in {text!r}"


def test_non_ascii_password_without_master_user(dovecot_src: Any, dovecot_dst: Any,
                                                users: Any, tmp_path: Path) -> None:
    """`perché123` logs in (AUTHENTICATE PLAIN, UTF-8); a wrong accented password is a typed
    refusal naming the mailbox, and nothing of it reaches the job's reason or the output."""
    good = users.name()
    dovecot_src.add_user(good, ACCENTED)
    dovecot_dst.add_user(good, ACCENTED)
    wrong = users.name()
    dovecot_src.add_user(wrong, "perché999")
    dovecot_dst.add_user(wrong, ACCENTED)
    for user in (good, wrong):
        seed(dovecot_src, user, "INBOX", [(b"Subject: s\r\n\r\nbody\r\n", (), when(1))])
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + f"O,{good},,{ACCENTED},,{ACCENTED}\n"
                   f"O,{wrong},,{ACCENTED},,{ACCENTED}\n", "utf-8")
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False)
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    r = run_cli(["-v", "run", "--config", str(cfg)], env)
    assert r.returncode == 1, r.stdout + r.stderr  # one mailbox blocked, none internal (4)
    st = run_cli(["status", "--config", str(cfg), "--json"], env)
    jobs = {m["address"]: m for m in json.loads(st.stdout)["mailboxes"]}
    assert jobs[good]["state"] == "done", jobs[good]
    assert jobs[wrong]["state"] == "blocked_invalid_credentials", jobs[wrong]
    # A typed refusal; the entry names the mailbox, its reason does not again.
    assert jobs[wrong]["reason"].startswith("source login refused: "), jobs[wrong]
    _no_trace_of(ACCENTED, r.stdout + r.stderr + st.stdout + st.stderr)
    assert_same_content(dovecot_src, dovecot_dst, good)
    # `copy` with the password from the environment, no master user: the same login path.
    other = users.pair(ACCENTED, ACCENTED)
    seed(dovecot_src, other, "INBOX", [(b"Subject: t\r\n\r\nbody\r\n", (), when(2))])
    env = env | {"PECSYNC_SOURCE_PASSWORD": ACCENTED, "PECSYNC_DEST_PASSWORD": ACCENTED}
    c = run_cli(["copy", "--config", str(cfg), "--source-user", other], env)
    assert c.returncode == 0, c.stdout + c.stderr
    assert_same_content(dovecot_src, dovecot_dst, other)


@pytest.mark.parametrize(("hidden", "refusal"), [
    ("AUTH=PLAIN", "not ASCII"),  # LOGIN only: the password goes as a UTF-8 literal
    ("SASL-IR", "check the user name and password"),  # AUTHENTICATE PLAIN, then the response
])
def test_non_ascii_password_on_other_servers(dovecot_src: Any, users: Any, hidden: str,
                                             refusal: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Servers without AUTH=PLAIN or without SASL-IR (Dovecot offers both, so pecsync is made
    to believe one is missing; Dovecot really answers the commands sent instead)."""
    user = users.name()
    dovecot_src.add_user(user, ACCENTED)
    real = auth.offered_before_login
    monkeypatch.setattr(auth, "offered_before_login",
                        lambda conn, cap: cap.upper() != hidden and real(conn, cap))
    cfg = ServerConfig(host=dovecot_src.host, port=dovecot_src.port, security="plain",
                       timeout=30)
    s = ImapSession(cfg, Side.SRC, mailbox=user)
    s.login(Credentials(user, Secret(ACCENTED)))
    try:
        assert s.select("INBOX").uidvalidity
    finally:
        s.logout()
    s = ImapSession(cfg, Side.SRC, mailbox=user)
    with pytest.raises(AuthenticationFailed) as refused:
        s.login(Credentials(user, Secret("perché999")))
    text = str(refused.value)
    assert f"mailbox {user}" in text and refusal in text
    _no_trace_of("perché999", text)
    # Not text at all (a Latin-1 byte kept as a lone surrogate): refused before it is sent.
    s = ImapSession(cfg, Side.SRC, mailbox=user)
    with pytest.raises(AuthenticationFailed) as unsendable:
        s.login(Credentials(user, Secret("perch\udce9123")))
    text = str(unsendable.value)
    assert f"mailbox {user}" in text and "not valid text" in text
    assert "udce9" not in text
    _no_trace_of("perch\udce9123", text)


def test_undecodable_password_is_a_usage_error(dovecot_src: Any, dovecot_dst: Any,
                                               users: Any, tmp_path: Path) -> None:
    """A password typed in a Latin-1 terminal (byte 0xE9 for é) is not UTF-8: a precise
    message, exit 2, and neither the byte nor its position is shown."""
    user = users.pair(ACCENTED, ACCENTED)
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False)
    latin1 = ACCENTED.encode("latin-1")
    env = cli_env(dovecot_src, dovecot_dst)
    env["PECSYNC_SOURCE_PASSWORD"] = os.fsdecode(latin1)  # passed on as the raw bytes
    r = run_cli(["copy", "--config", str(cfg), "--source-user", user], env)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "PECSYNC_SOURCE_PASSWORD" in r.stderr and "UTF-8" in r.stderr, r.stderr
    _no_trace_of(ACCENTED, r.stdout + r.stderr)
    pw_file = tmp_path / "pw"
    pw_file.write_bytes(latin1 + b"\n")
    r = run_cli(["copy", "--config", str(cfg), "--source-user", user,
                 "--source-password-file", str(pw_file)], env)
    assert r.returncode == 2 and "UTF-8" in r.stderr, r.stdout + r.stderr
    _no_trace_of(ACCENTED, r.stdout + r.stderr)
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + f"O,{user},,{ACCENTED},,{ACCENTED}\n", "utf-8")
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    r = subprocess.run([sys.executable, "-m", "pecsync", "retry", "--config", str(cfg), user,
                        "--password-stdin"], input=latin1 + b"\n", env=env, cwd=ROOT,
                       capture_output=True, timeout=120, check=False)
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    assert r.returncode == 2 and "UTF-8" in out, out
    _no_trace_of(ACCENTED, out)
