"""Reports, notices, e-mail and certificates after a real bulk run against Dovecot."""

from __future__ import annotations

import json
import socket
from email import message_from_bytes
from email.message import Message
from email.policy import default
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tests.helpers import cli_env, run_cli, seed, session, when, write_config

HEADER = "order,address,source_user,source_password,dest_user,dest_password\n"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session_: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos),
                              message_from_bytes(envelope.content, policy=default)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_report_notices_send_and_certificates(dovecot_src: Any, dovecot_dst: Any, users: Any,
                                              tmp_path: Path) -> None:
    twofa, wrong, good = users.name(), users.name(), users.pair("g-src", "g-dst")
    dovecot_src.add_2fa_user(twofa, "right", "Verifica in due passaggi attiva")
    dovecot_dst.add_user(twofa, "x")
    dovecot_src.add_user(wrong, "real")
    dovecot_dst.add_user(wrong, "x")
    seed(dovecot_src, good, "INBOX", [(b"Subject: a%d\r\nMessage-ID: <a%d@t>\r\n\r\nx\r\n"
                                       % (i, i), (), when(i)) for i in range(3)])
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + f"O,{twofa},,right,,x\nO,{wrong},,wrong-pw,,x\n"
                            f"O,{good},,g-src,,g-dst\n")
    port = free_port()
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False, extra=(
        "[migration]\ndeadline = 2026-12-15\n\n"
        '[orders.O]\ndisplay_name = "Ordine di prova"\ncontacts = ["segreteria@ordine.test"]\n\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "plain"\n'
        'from_address = "pecsync@operatore.test"\n'))
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    assert run_cli(["run", "--config", str(cfg)], env).returncode == 1

    out = tmp_path / "report"
    r = run_cli(["report", "--config", str(cfg), "--out", str(out)], env)
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads((out / "report.json").read_text())
    by = {m["address"]: m for m in data["mailboxes"]}
    assert by[twofa]["state"] == "blocked_2fa" and "due passaggi" in by[twofa]["reason"]
    assert by[wrong]["state"] == "blocked_invalid_credentials"
    assert by[good]["state"] == "done" and by[good]["verified"] is True
    assert data["overall"]["forecast"]["deadline"] == "2026-12-15"
    assert (out / "index.html").exists() and (out / "order-o.html").exists()
    page = (out / "order-o.html").read_text()
    assert "Ordine di prova" in page and twofa in page and "wrong-pw" not in page

    notices = tmp_path / "notices"
    r = run_cli(["notices", "--config", str(cfg), "--out", str(notices)], env)
    assert r.returncode == 0 and "2 notice(s)" in r.stdout
    assert "due passaggi" in (notices / f"{twofa}.txt").read_text()

    # SMTP down: the send fails, is reported, and stays queued.
    r = run_cli(["report", "--config", str(cfg), "--out", str(out), "--send"], env)
    assert r.returncode == 3 and "will be sent again" in r.stderr
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        r = run_cli(["report", "--config", str(cfg), "--out", str(out), "--send"], env)
    finally:
        controller.stop()
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(inbox.messages) == 1
    rcpts, msg = inbox.messages[0]
    assert rcpts == ["segreteria@ordine.test"] and "Ordine di prova" in str(msg["Subject"])
    parts = {p.get_content_type(): p for p in msg.walk()}
    assert "text/html" in parts and "text/csv" in parts
    csv_text = parts["text/csv"].get_payload(decode=True).decode()
    assert csv_text.startswith("order,address,state") and good in csv_text

    # The certificate written when the mailbox was verified matches the destination...
    cert_file = tmp_path / "certificates" / f"{good}.json"
    cert = json.loads(cert_file.read_text())
    assert cert["totals"]["messages_source"] == 3 and cert["totals"]["messages_destination"] == 3
    r = run_cli(["certificate", "--config", str(cfg), good], env)
    assert json.loads(r.stdout)["digest"] == cert["digest"]
    verify = ["verify", "--config", str(cfg), "--source-user", good, "--certificate",
              str(cert_file)]
    denv = env | {"PECSYNC_DEST_PASSWORD": "g-dst"}
    r = run_cli(verify, denv)
    assert r.returncode == 0 and "certificate check passed" in r.stdout, r.stdout + r.stderr
    # ...and tampering is caught and named: one message deleted, a changed copy appended.
    d = session(dovecot_dst, good)
    d.select("INBOX")
    uids = [m.uid for m in d.fetch_meta("1:*")]
    d.connection.client.delete_messages([uids[0]])
    d.connection.client.expunge()
    d.logout()
    seed(dovecot_dst, good, "INBOX", [(b"Subject: a1\r\nMessage-ID: <a1-forged@t>\r\n\r\ny\r\n",
                                       (), when(1))])
    r = run_cli(verify, denv)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Message-ID <a0@t>" in r.stdout and "missing or changed" in r.stdout
    assert "<a1-forged@t>" in r.stdout and "not in the certificate" in r.stdout
