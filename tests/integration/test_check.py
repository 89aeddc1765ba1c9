"""`pecsync check` and `run`'s pre-flight against real Dovecot: what is wrong is said plainly,
with the exit codes of docs/reference/exit-codes.md, and nothing is touched when a server is
wrong."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.dovecot import DovecotServer, free_port
from tests.helpers import cli_env, run_cli, seed, when, write_config

HEADER = "order,address,source_user,source_password,dest_user,dest_password\n"


def mailboxes(cfg: Path, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    r = run_cli(["status", "--config", str(cfg), "--json"], env)
    assert r.returncode == 0, r.stderr
    return {m["address"]: m for m in json.loads(r.stdout)["mailboxes"]}


def set_destination(cfg: Path, **values: Any) -> None:
    """Rewrite keys of the [destination] table (strings quoted)."""
    head, _, tail = cfg.read_text().partition("[destination]")
    table, sep, rest = tail.partition("[state]")
    lines = [ln for ln in table.splitlines() if ln.split(" = ")[0] not in values]
    lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    cfg.write_text(head + "[destination]" + "\n".join(lines) + "\n\n" + sep + rest)


@pytest.fixture
def smtp_like() -> Iterator[int]:
    """A TCP service that is not IMAP: it greets like an SMTP server."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.sendall(b"220 smtp.example.it ESMTP Postfix\r\n")
                conn.settimeout(1)
                with contextlib.suppress(OSError):
                    conn.recv(100)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    server.close()
    thread.join(timeout=2)


def test_check_logs_in_a_sample_once_and_shows_the_mapping(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    good = [users.pair("s", "d") for _ in range(3)]
    wrong = users.name()
    dovecot_src.add_user(wrong, "the-real-one")
    dovecot_dst.add_user(wrong, "d")
    blocked = users.pair("s", "d")
    for user in good:
        seed(dovecot_src, user, "INBOX.Archivio.2019", [(b"Subject: a\r\n\r\nb\r\n", (),
                                                         when(1))])
    csv = tmp_path / "list.csv"
    listed = [*good, wrong, blocked]
    csv.write_text(HEADER + "".join(f"O,{u},,{'not-it' if u == wrong else 's'},,d\n"
                                    for u in listed))
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False)
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    # A mailbox already blocked is never tried by a check.
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    with db:
        db.execute("UPDATE job SET state = 'blocked_2fa' WHERE address = ?", (blocked,))
    db.close()
    logins = {u: dovecot_src.login_count(u) for u in listed}
    r = run_cli(["check", "--config", str(cfg), "--sample", "4"], env)
    out = r.stdout
    assert r.returncode == 1, out + r.stderr  # one member refused
    assert "source: 127.0.0.1" in out and "destination: 127.0.0.1" in out
    assert 'personal "INBOX." (separator ".")' in out and 'personal "" (separator "/")' in out
    assert "quota: supported (QUOTA)" in out
    assert "folder mapping of " in out
    assert "INBOX.Archivio.2019 -> Archivio/2019 (to create)" in out
    assert "INBOX.Posta inviata -> Sent" in out
    assert f"{wrong}: source refused" in out and "blocked_invalid_credentials" in out
    assert "not-it" not in out + r.stderr
    after = {u: dovecot_src.login_count(u) for u in listed}
    assert [after[u] - logins[u] for u in listed] == [1, 1, 1, 1, 0]
    states = mailboxes(cfg, env)
    assert states[wrong]["state"] == "blocked_invalid_credentials"
    assert states[blocked]["state"] == "blocked_2fa"
    assert {states[u]["state"] for u in good} == {"pending"}
    # Again: no password is tried a second time (the good ones were checked, the wrong one
    # is blocked now).
    r = run_cli(["check", "--config", str(cfg), "--sample", "4"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "none tried (3 already checked with their current passwords)" in r.stdout
    assert {u: dovecot_src.login_count(u) for u in listed} == after
    # A new password is a new credential version: checked again.
    csv.write_text(HEADER + f"O,{wrong},,the-real-one,,d\n")
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    r = run_cli(["check", "--config", str(cfg), "--sample", "4"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{wrong}: source ok, destination ok" in r.stdout
    assert dovecot_src.login_count(wrong) == after[wrong] + 1
    # And the run copies them all (the blocked one stays blocked).
    r = run_cli(["run", "--config", str(cfg)], env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert {mailboxes(cfg, env)[u]["state"] for u in [*good, wrong]} == {"done"}


def test_master_login_refused_stops_check_and_run(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    names = [users.pair("s", "d") for _ in range(3)]
    # Listed first (addresses sort), and missing on the destination.
    missing = "a" + users.name()
    dovecot_src.add_user(missing, "s")
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + "".join(f"O,{u},,,,\n" for u in [missing, *names]))
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=True)
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    # The destination port points at the source server: the master password is wrong there.
    set_destination(cfg, port=dovecot_src.port)
    r = run_cli(["check", "--config", str(cfg)], env)
    assert r.returncode == 2, r.stdout + r.stderr
    assert (f"destination: master login refused at 127.0.0.1:{dovecot_src.port}"
            in r.stdout), r.stdout
    assert "PECSYNC_DEST_PASSWORD" in r.stdout and "Traceback" not in r.stderr
    r = run_cli(["run", "--config", str(cfg)], env)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "pecsync run: not started: destination: master login refused" in r.stderr
    states = mailboxes(cfg, env)
    assert {m["state"] for m in states.values()} == {"pending"}
    assert {m["attempts"] for m in states.values()} == {0}
    # The right port: one mailbox missing on the destination is not a wrong configuration.
    set_destination(cfg, port=dovecot_dst.port)
    r = run_cli(["check", "--config", str(cfg)], env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"master user master logged in as {names[0]}" in r.stdout
    assert f"warning: the master login as {missing} was refused" in r.stdout
    assert f"{missing}: destination login as this mailbox refused through the master user" \
        in r.stdout
    r = run_cli(["run", "--config", str(cfg)], env)
    assert r.returncode == 1, r.stdout + r.stderr
    states = mailboxes(cfg, env)
    assert states[missing]["state"] == "blocked_invalid_credentials"
    assert {states[u]["state"] for u in names} == {"done"}


@pytest.mark.parametrize("problem", ["closed_port", "not_imap", "tls_on_plain", "no_host"])
def test_wrong_server_settings_are_told_apart(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path, smtp_like: int,
        problem: str) -> None:
    names = [users.pair("s", "d") for _ in range(2)]
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + "".join(f"O,{u},,s,,d\n" for u in names))
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False)
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    expected = {
        "closed_port": (3, "nothing listens on 127.0.0.1:{port} (connection refused)"),
        "not_imap": (2, "127.0.0.1:{port} is not an IMAP server: it said '220 smtp.example.it"),
        "tls_on_plain": (2, "127.0.0.1:{port}: TLS handshake failed"),
        "no_host": (2, "host name 'no-such-host.invalid' not found"),
    }
    code, text = expected[problem]
    port = {"closed_port": free_port(), "not_imap": smtp_like}.get(problem, dovecot_dst.port)
    if problem == "tls_on_plain":
        set_destination(cfg, security="tls")
    elif problem == "no_host":
        set_destination(cfg, host="no-such-host.invalid")
    else:
        set_destination(cfg, port=port)
    text = "destination: " + text.format(port=port)
    r = run_cli(["check", "--config", str(cfg)], env)
    assert r.returncode == code, r.stdout + r.stderr
    assert text in r.stdout and "next step:" in r.stdout, r.stdout
    # A server down now is the server's fact: a plain run exits 3 at once, like a wrong
    # setting exits 2, nothing claimed (`run --wait` waits: test_first_run.py).
    r = run_cli(["run", "--config", str(cfg)], env)
    assert r.returncode == code, r.stdout + r.stderr
    assert f"pecsync run: not started: {text}" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    states = mailboxes(cfg, env)
    assert {m["state"] for m in states.values()} == {"pending"}  # nothing touched
    assert {m["attempts"] for m in states.values()} == {0}
    r = run_cli(["notices", "--config", str(cfg), "--out", str(tmp_path / "n")], env)
    assert r.returncode == 0 and r.stdout.startswith("0 notice(s)"), r.stdout


@pytest.fixture(scope="module")
def tls_server(lab_root: Path) -> Iterator[DovecotServer]:
    server = DovecotServer(lab_root, f"tls-check-{os.getpid()}", flavour="dst", tls=True)
    with server:
        yield server


def test_check_over_tls_and_an_untrusted_certificate(
        dovecot_src: Any, tls_server: DovecotServer, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, dovecot_src, tls_server, master=False)
    env = cli_env(dovecot_src, tls_server)
    set_destination(cfg, port=tls_server.tls_port, security="tls",
                    ca_file=str(tls_server.ca_file))
    r = run_cli(["check", "--config", str(cfg)], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "TLS: TLSv1." in r.stdout and "certificate verified" in r.stdout
    assert "members: none to try (no mailbox list imported)" in r.stdout
    set_destination(cfg, port=tls_server.port, security="starttls",
                    ca_file=str(tls_server.ca_file))
    r = run_cli(["check", "--config", str(cfg)], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "TLS: STARTTLS, TLSv1." in r.stdout
    for port, security in ((tls_server.tls_port, "tls"), (tls_server.port, "starttls")):
        cfg.write_text(cfg.read_text().replace(f'ca_file = "{tls_server.ca_file}"\n', ""))
        set_destination(cfg, port=port, security=security)
        r = run_cli(["check", "--config", str(cfg)], env)
        assert r.returncode == 2, r.stdout + r.stderr
        assert "certificate not trusted" in r.stdout and "ca_file" in r.stdout, r.stdout
