"""COMPRESS=DEFLATE against real Dovecot (imap_zlib): the same bytes, through both directions."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from pecsync.config import ServerConfig
from pecsync.imap.session import ImapSession
from pecsync.model import AppendItem, Credentials, Secret, Side
from tests.helpers import (
    assert_same_content,
    cli_env,
    corpus_files,
    run_cli,
    seed,
    server_config,
    when,
    write_config,
)


def open_session(server: Any, user: str, compress: str) -> ImapSession:
    cfg: ServerConfig = dataclasses.replace(server_config(server), compress=compress)
    s = ImapSession(cfg, Side.SRC, mailbox=user)
    s.login(Credentials(user, Secret(server.master_password), server.master_user))
    return s


def test_compressed_session_reads_and_writes_the_same_bytes(dovecot_src: Any,
                                                            users: Any) -> None:
    user = users.pair()
    files = corpus_files()[:30]
    seed(dovecot_src, user, "INBOX", [(p.read_bytes(), (), when(i))
                                      for i, p in enumerate(files)])
    plain = open_session(dovecot_src, user, "never")
    packed = open_session(dovecot_src, user, "always")
    auto = open_session(dovecot_src, user, "auto")
    try:
        assert "COMPRESS=DEFLATE" in packed.capabilities
        assert packed.compressed and not plain.compressed
        assert not auto.compressed  # loopback: not worth the CPU
        packed.examine("INBOX")
        plain.examine("INBOX")
        metas = packed.fetch_meta("1:*")
        assert metas == plain.fetch_meta("1:*")
        a = packed.fetch_bodies(metas[:10], then=metas[10:])
        b = packed.fetch_bodies(metas[10:])
        c = plain.fetch_bodies(metas)
        assert [m.body for m in a + b] == [m.body for m in c]
        # Writing through deflate: MULTIAPPEND with LITERAL+.
        packed.create_folder("INBOX.Copia")
        packed.append("INBOX.Copia", [AppendItem(m.body, (), m.info.internaldate) for m in c]
                      ).raise_refused()
        plain.examine("INBOX.Copia")
        again = plain.fetch_bodies(plain.fetch_meta("1:*"))
        assert sorted(m.sha256 for m in again) == sorted(m.sha256 for m in c)
    finally:
        for s in (plain, packed, auto):
            s.logout()


def test_copy_with_compression_on_both_sides(dovecot_src: Any, dovecot_dst: Any, users: Any,
                                             tmp_path: Path) -> None:
    user = users.pair()
    seed(dovecot_src, user, "INBOX", [(p.read_bytes(), ("\\Seen",), when(i))
                                      for i, p in enumerate(corpus_files()[:40])])
    seed(dovecot_src, user, "INBOX.Archivio", [(b"Subject: x\r\n\r\n" + bytes([65 + i % 26]) * 5000,
                                                (), when(i)) for i in range(25)])
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, engine={"batch_max_messages": 7})
    text = cfg.read_text().replace('timeout = 30\n', 'timeout = 30\ncompress = "always"\n')
    cfg.write_text(text)
    result = run_cli(["copy", "--config", str(cfg), "--source-user", user],
                     cli_env(dovecot_src, dovecot_dst))
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 mismatched" in result.stdout
    assert_same_content(dovecot_src, dovecot_dst, user)
