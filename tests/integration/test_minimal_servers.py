"""Servers that offer little: no LIST-STATUS, MULTIAPPEND, LITERAL+, BINARY or COMPRESS.

Dovecot's ``imap_capability`` narrows what it announces after login, so pecsync takes its
fallback paths (NAMESPACE, LIST and a STATUS per folder; one APPEND per message with
synchronising literals) against a real server, and must still copy byte for byte and re-run
cheaply."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from lab.dovecot import DovecotServer
from tests.helpers import (
    assert_same_content,
    cli_env,
    run_cli,
    seed,
    session,
    sha,
    snapshot,
    when,
    write_config,
)

PLAIN = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE NAMESPACE UIDPLUS SPECIAL-USE"


@contextmanager
def narrowed_server(root: Path, flavour: str, capability: str = PLAIN, extra: str = ""
                    ) -> Iterator[DovecotServer]:
    """One server announcing only *capability*; *extra*: more dovecot.conf."""
    server = DovecotServer(root, f"min-{flavour}", flavour=flavour)  # type: ignore[arg-type]
    try:
        # The narrowed configuration is written before the first start (no start, stop
        # and restart: 3 s saved per server).
        server._prepare()
        server.conf.write_text(server.conf.read_text()
                               + f"\nprotocol imap {{\n  imap_capability = {capability}\n}}\n"
                               + extra)
        server.start(fresh=False)
        yield server
    finally:
        server.stop()


@contextmanager
def minimal_servers(root: Path, src_extra: str = "", dst_extra: str = "", *,
                    src_capability: str = PLAIN, dst_capability: str = PLAIN
                    ) -> Iterator[tuple[DovecotServer, DovecotServer]]:
    """A (src, dst) pair announcing only PLAIN; *src_extra*/*dst_extra*: more dovecot.conf."""
    with narrowed_server(root, "src", src_capability, src_extra) as src, \
            narrowed_server(root, "dst", dst_capability, dst_extra) as dst:
        yield src, dst


def _private_root(lab_root: Path, request: pytest.FixtureRequest) -> Path:
    """The servers' directory under the session's lab root, never under pytest's tmp_path:
    every pytest session that starts on this machine (another checkout's, say) resets
    /tmp/pytest-of-USER to mode 0700, and Dovecot's auth process (user dovecot) then cannot
    read its passwd-files — logins answer "[UNAVAILABLE] Temporary authentication failure"
    (its log: "passwd-file .../master-users: open(...) failed: Permission denied")."""
    return lab_root / f"min{next(_counter)}"  # short: Dovecot's socket paths have a limit


_counter = itertools.count(1)


@pytest.fixture
def minimal_pair(lab_root: Path, request: pytest.FixtureRequest
                 ) -> Iterator[tuple[DovecotServer, DovecotServer]]:
    root = _private_root(lab_root, request)
    with minimal_servers(root) as pair:
        yield pair
    shutil.rmtree(root, ignore_errors=True)


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


def _nine_hundred(i: int) -> bytes:
    head = f"Subject: quota {i}\r\nMessage-ID: <quota.{i}@pec.test.it>\r\n\r\n".encode()
    return head + b"x" * (900 - len(head) - 2) + b"\r\n"


def test_refusal_partway_through_a_batch_duplicates_nothing(minimal_pair: Any,
                                                            tmp_path: Path) -> None:
    """Without MULTIAPPEND a batch is one APPEND per message: when message k is refused over
    quota, 1..k-1 are stored already and must be recorded so, not appended again later."""
    src, dst = minimal_pair
    user = "pieno@pec.test.it"
    src.add_user(user, "x")
    dst.add_user(user, "y", quota_bytes=5000)
    bodies = [_nine_hundred(i) for i in range(10)]
    assert {len(b) for b in bodies} == {900}
    seed(src, user, "INBOX", [(b, (), when(i)) for i, b in enumerate(bodies)])
    cfg = write_config(tmp_path, src, dst)
    env = cli_env(src, dst)
    first = run_cli(["copy", "--config", str(cfg), "--source-user", user], env)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "over quota" in first.stderr, first.stderr
    stored = sum(snapshot(dst, user)["INBOX"].values())
    assert 0 < stored < 10
    dst.set_quota(user, 50_000_000)  # the operator raised the quota
    again = run_cli(["copy", "--config", str(cfg), "--source-user", user], env)
    assert again.returncode == 0, again.stdout + again.stderr
    inbox = snapshot(dst, user)["INBOX"]
    assert sorted(m.sha256 for m in inbox.elements()) == sorted(sha(b) for b in bodies)
    assert_same_content(src, dst, user)


def test_message_refused_partway_through_a_batch_duplicates_nothing(
        tmp_path: Path, lab_root: Path, request: pytest.FixtureRequest) -> None:
    """Message 4 of 10 carries a keyword longer than the destination takes (its APPEND gets a
    tagged NO): 1..3, stored by then, are not appended again when the rest go one by one."""
    long_keyword = "k" * 80
    with minimal_servers(_private_root(lab_root, request),
                         src_extra="mail_max_keyword_length = 200\n") \
            as (src, dst):
        user = "rifiuto@pec.test.it"
        src.add_user(user, "x")
        dst.add_user(user, "y")
        bodies = [_nine_hundred(i) for i in range(10)]
        seed(src, user, "INBOX", [(b, (long_keyword,) if i == 3 else (), when(i))
                                  for i, b in enumerate(bodies)])
        cfg = write_config(tmp_path, src, dst)
        env = cli_env(src, dst)
        first = run_cli(["copy", "--config", str(cfg), "--source-user", user], env)
        # Issue 13: a refused message is kept in the quarantine and `copy` exits 1 (was 0).
        assert first.returncode == 1, first.stdout + first.stderr
        assert "1 skipped" in first.stdout and "Keyword length" in first.stdout, first.stdout
        kept = tmp_path / "quarantine" / user / "INBOX" / "4.eml"
        assert kept.read_bytes() == bodies[3]
        inbox = snapshot(dst, user)["INBOX"]
        assert sorted(m.sha256 for m in inbox.elements()) == sorted(
            sha(b) for i, b in enumerate(bodies) if i != 3)


# --- NUL bytes towards a server without BINARY (issue 15) ------------------------------------
_NUL = b"Subject: nul\r\nMessage-ID: <nul@pec.test.it>\r\n\r\nbefore\x00after\r\n"


@pytest.mark.parametrize("capability", [PLAIN, PLAIN + " MULTIAPPEND LITERAL+"],
                         ids=["one-append-each", "multiappend"])
def test_a_nul_message_is_refused_before_a_byte_is_sent(
        capability: str, lab_root: Path, request: pytest.FixtureRequest) -> None:
    """A message with NUL bytes cannot be stored byte-exactly without BINARY: APPEND reports it
    refused without sending any of it, so the connection stays in step (the next command on it
    works).  The messages before it are stored (one MULTIAPPEND, or one APPEND each), those
    after it are not sent."""
    from pecsync.errors import MessageRefused
    from pecsync.model import AppendItem, Side

    root = _private_root(lab_root, request)
    with narrowed_server(root, "dst", capability) as dst:
        user = "nul@pec.test.it"
        dst.add_user(user, "y")
        first, last = _nine_hundred(1), _nine_hundred(2)
        s = session(dst, user, Side.DST)
        try:
            assert not s.has("BINARY")
            assert s.has("MULTIAPPEND") == ("MULTIAPPEND" in capability)
            items = [AppendItem(b, (), when(i)) for i, b in enumerate((first, _NUL, last))]
            outcome = s.append("INBOX", items)
            assert outcome.stored == 1 and outcome.refused_index == 1
            assert len(outcome.uids) == 1 and outcome.uidvalidity
            assert isinstance(outcome.refused, MessageRefused)
            assert "NUL" in str(outcome.refused) and "INBOX" in str(outcome.refused)
            # The same connection, in step: the next APPEND and a FETCH are answered.
            again = s.append("INBOX", [AppendItem(last, (), when(2))])
            assert again.refused is None and again.stored == 1
            s.examine("INBOX")
            bodies = s.fetch_bodies(s.fetch_meta("1:*"))
            assert [m.body for m in bodies] == [first, last]
        finally:
            s.logout()
        # Read independently of pecsync's reader: nothing else reached the server.
        inbox = snapshot(dst, user)["INBOX"]
        assert sorted(m.sha256 for m in inbox.elements()) == sorted((sha(first), sha(last)))
    shutil.rmtree(root, ignore_errors=True)


def test_a_nul_message_towards_a_server_without_binary_is_quarantined(
        tmp_path: Path, lab_root: Path, request: pytest.FixtureRequest) -> None:
    """The source serves the NUL bytes (BINARY), the destination cannot take them: the message
    is kept byte-exact in the quarantine, every other message is copied, `copy` exits 1, and
    a second run appends nothing more."""
    root = _private_root(lab_root, request)
    with minimal_servers(root, src_capability=PLAIN + " BINARY",
                         dst_capability=PLAIN + " MULTIAPPEND LITERAL+") as (src, dst):
        user = "nulq@pec.test.it"
        src.add_user(user, "x")
        dst.add_user(user, "y")
        bodies = [_nine_hundred(i) for i in range(6)]
        bodies[3] = _NUL
        seed(src, user, "INBOX", [(b, (), when(i)) for i, b in enumerate(bodies)])
        cfg = write_config(tmp_path, src, dst)
        env = cli_env(src, dst)
        first = run_cli(["copy", "--config", str(cfg), "--source-user", user], env)
        assert first.returncode == 1, first.stdout + first.stderr
        assert "1 skipped" in first.stdout and "NUL" in first.stdout, first.stdout
        kept = tmp_path / "quarantine" / user / "INBOX" / "4.eml"
        assert kept.read_bytes() == _NUL
        inbox = snapshot(dst, user)["INBOX"]
        assert sorted(m.sha256 for m in inbox.elements()) == sorted(
            sha(b) for i, b in enumerate(bodies) if i != 3)
        again = run_cli(["copy", "--config", str(cfg), "--source-user", user], env)
        assert " 0 copied" in again.stdout, again.stdout + again.stderr
        assert snapshot(dst, user)["INBOX"] == inbox
    shutil.rmtree(root, ignore_errors=True)


# --- a destination announcing APPENDLIMIT (RFC 7889) -----------------------------------------
def test_a_message_over_appendlimit_is_never_sent_and_is_quarantined(
        tmp_path: Path, lab_root: Path, request: pytest.FixtureRequest) -> None:
    """A destination announcing APPENDLIMIT=2000: APPEND does not send the 5 KB message (it
    is reported refused, the connection stays in step), and `copy` keeps it in the
    quarantine, copies the others and exits 1."""
    from pecsync.model import AppendItem, Side

    big = b"Subject: big\r\nMessage-ID: <big@pec.test.it>\r\n\r\n" + b"y" * 5000 + b"\r\n"
    root = _private_root(lab_root, request)
    with minimal_servers(root, dst_capability=PLAIN + " MULTIAPPEND APPENDLIMIT=2000") \
            as (src, dst):
        probe = "limitp@pec.test.it"
        dst.add_user(probe, "y")
        s = session(dst, probe, Side.DST)
        try:
            assert s.unstorable(big) is not None and s.unstorable(_nine_hundred(0)) is None
            outcome = s.append("INBOX", [AppendItem(_nine_hundred(0), (), when(0)),
                                         AppendItem(big, (), when(1))])
            assert outcome.stored == 1 and outcome.refused_index == 1
            assert "APPENDLIMIT" in str(outcome.refused)
            assert s.append("INBOX", [AppendItem(_nine_hundred(2), (), when(2))]).stored == 1
        finally:
            s.logout()

        user = "limit@pec.test.it"
        src.add_user(user, "x")
        dst.add_user(user, "y")
        bodies = [_nine_hundred(i) for i in range(4)]
        bodies[2] = big
        seed(src, user, "INBOX", [(b, (), when(i)) for i, b in enumerate(bodies)])
        cfg = write_config(tmp_path, src, dst)
        r = run_cli(["copy", "--config", str(cfg), "--source-user", user], cli_env(src, dst))
        assert r.returncode == 1, r.stdout + r.stderr
        assert "1 skipped" in r.stdout and "APPENDLIMIT" in r.stdout, r.stdout
        assert (tmp_path / "quarantine" / user / "INBOX" / "3.eml").read_bytes() == big
        inbox = snapshot(dst, user)["INBOX"]
        assert sorted(m.sha256 for m in inbox.elements()) == sorted(
            sha(b) for i, b in enumerate(bodies) if i != 2)
    shutil.rmtree(root, ignore_errors=True)
