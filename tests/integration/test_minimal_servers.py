"""Servers that offer little: no LIST-STATUS, MULTIAPPEND, LITERAL+, BINARY or COMPRESS.

Dovecot's ``imap_capability`` narrows what it announces after login, so pecsync takes its
fallback paths (NAMESPACE, LIST and a STATUS per folder; one APPEND per message with
synchronising literals) against a real server, and must still copy byte for byte and re-run
cheaply."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.dovecot import DovecotServer
from tests.helpers import assert_same_content, cli_env, run_cli, seed, session, when, write_config

PLAIN = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE NAMESPACE UIDPLUS SPECIAL-USE"


@pytest.fixture
def minimal_pair(tmp_path: Path) -> Iterator[tuple[DovecotServer, DovecotServer]]:
    servers = []
    try:
        for flavour in ("src", "dst"):
            server = DovecotServer(tmp_path / "lab", f"min-{flavour}", flavour=flavour)  # type: ignore[arg-type]
            server.start()
            server.stop()
            server.conf.write_text(server.conf.read_text()
                                   + f"\nprotocol imap {{\n  imap_capability = {PLAIN}\n}}\n")
            server.start(fresh=False)
            servers.append(server)
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


def test_copy_and_rerun_without_extensions(minimal_pair: Any, tmp_path: Path) -> None:
    src, dst = minimal_pair
    user = "minimo@pec.test.it"
    src.add_user(user, "x")
    dst.add_user(user, "y")
    for n, folder in enumerate(("INBOX", "INBOX.Archivio", "INBOX.Posta inviata")):
        seed(src, user, folder, [(f"Subject: {folder} {i}\r\n\r\n{'corpo ' * (50 + i)}\r\n"
                                  .encode(), ("\\Seen",) if i % 2 else (), when(i + n))
                                 for i in range(12 + n)])
    s = session(src, user)
    try:
        assert not s.has("LIST-STATUS") and not s.has("MULTIAPPEND") and not s.has("LITERAL+")
    finally:
        s.logout()
    cfg = write_config(tmp_path, src, dst, engine={"batch_max_messages": 5})
    env = cli_env(src, dst)
    first = run_cli(["copy", "--config", str(cfg), "--source-user", user], env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "39 copied" in first.stdout and " 0 mismatched" in first.stdout
    assert_same_content(src, dst, user)
    again = run_cli(["copy", "--config", str(cfg), "--source-user", user], env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert " 0 copied" in again.stdout
    assert_same_content(src, dst, user)
