"""Transport security against a real Dovecot with a certificate from a test CA."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.dovecot import DovecotServer
from pecsync.config import ServerConfig
from pecsync.errors import TlsError
from pecsync.imap.session import ImapSession
from pecsync.model import Credentials, Secret, Side
from tests.helpers import cli_env, run_cli, seed, when, write_config


@pytest.fixture(scope="module")
def tls_server(lab_root: Path) -> Iterator[DovecotServer]:
    server = DovecotServer(lab_root, f"tls-{os.getpid()}", flavour="dst", tls=True,
                           listen="127.0.0.1 127.0.0.2")
    with server:
        server.add_user("tls-user@pec.test.it", "pw")
        yield server


def connect(server: DovecotServer, **changes: Any) -> ImapSession:
    cfg = ServerConfig(host="127.0.0.1", port=server.tls_port or 0, security="tls",
                       ca_file=server.ca_file, timeout=10)
    s = ImapSession(dataclasses.replace(cfg, **changes), Side.DST, mailbox="tls-user@pec.test.it")
    s.login(Credentials("tls-user@pec.test.it", Secret("pw")))
    return s


def test_implicit_tls_and_starttls_with_the_test_ca(tls_server: DovecotServer) -> None:
    s = connect(tls_server)
    assert s.list_folders()
    s.logout()
    s = connect(tls_server, security="starttls", port=tls_server.port)
    assert s.list_folders()
    s.logout()


def test_untrusted_certificate_is_refused(tls_server: DovecotServer) -> None:
    with pytest.raises(TlsError, match="certificate not trusted") as err:
        connect(tls_server, ca_file=None)
    assert "ca_file" in str(err.value)
    with pytest.raises(TlsError, match="certificate not trusted"):
        connect(tls_server, ca_file=None, security="starttls", port=tls_server.port)


def test_host_name_mismatch_is_refused(tls_server: DovecotServer) -> None:
    # The certificate names 127.0.0.1 and localhost; 127.0.0.2 is the same server.
    with pytest.raises(TlsError, match=r"certificate not trusted.*(mismatch|IP address)"):
        connect(tls_server, host="127.0.0.2")


def test_starttls_missing_is_an_error_not_a_downgrade(dovecot_dst: DovecotServer) -> None:
    dovecot_dst.add_user("plain-only@pec.test.it", "pw")
    cfg = ServerConfig(host=dovecot_dst.host, port=dovecot_dst.port, security="starttls",
                       timeout=10)
    s = ImapSession(cfg, Side.DST, mailbox="plain-only@pec.test.it")
    with pytest.raises(TlsError, match="does not offer STARTTLS"):
        s.login(Credentials("plain-only@pec.test.it", Secret("pw")))


def test_tls_verify_false_connects_and_the_cli_warns(tls_server: DovecotServer,
                                                    dovecot_src: Any, tmp_path: Path) -> None:
    s = connect(tls_server, ca_file=None, tls_verify=False)
    s.logout()
    user = "tls-user@pec.test.it"
    dovecot_src.add_user(user, "pw")
    seed(dovecot_src, user, "INBOX", [(b"Subject: t\r\n\r\nover TLS\r\n", (), when(1))])
    cfg = write_config(tmp_path, dovecot_src, tls_server)
    text = cfg.read_text().replace(f"port = {tls_server.port}", f"port = {tls_server.tls_port}")
    head, tail = text.split("[destination]")
    tail = tail.replace('security = "plain"', 'security = "tls"\ntls_verify = false')
    cfg.write_text(head + "[destination]" + tail)
    r = run_cli(["copy", "--config", str(cfg), "--source-user", user],
                cli_env(dovecot_src, tls_server))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "tls_verify = false" in r.stderr and "not checked" in r.stderr
