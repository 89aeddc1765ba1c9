"""Copy one mailbox between two real Dovecot servers: byte-exact, idempotent, mapped."""

from __future__ import annotations

import base64
import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    PEC_CORPUS,
    SIGNED_VALID,
    assert_same_content,
    cli_env,
    corpus_files,
    run_cli,
    seed,
    session,
    sha,
    snapshot,
    when,
    write_config,
)

FLAG_SETS: list[tuple[str, ...]] = [(), ("\\Seen",), ("\\Seen", "\\Flagged"),
                                    ("\\Answered", "$PecRicevuta"), ("\\Draft",)]




def copy(cfg: Path, env: dict[str, str], user: str, *extra: str
         ) -> subprocess.CompletedProcess[str]:
    return run_cli(["copy", "--config", str(cfg), "--source-user", user, *extra], env)


def copied_total(out: str) -> int:
    m = re.search(r"total: \d+ source messages, (\d+) copied", out)
    assert m, out
    return int(m.group(1))


def test_corpus_arrives_byte_exact_and_signatures_still_verify(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    user = users.pair()
    files = corpus_files()
    pec = [p for p in files if PEC_CORPUS in p.parents]
    eml = [p for p in files if PEC_CORPUS not in p.parents]
    seed(dovecot_src, user, "INBOX", [(p.read_bytes(), FLAG_SETS[i % 5], when(i))
                                      for i, p in enumerate(pec)])
    seed(dovecot_src, user, "INBOX.Torture", [(p.read_bytes(), FLAG_SETS[i % 5], when(i))
                                              for i, p in enumerate(eml)])
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst)
    env = cli_env(dovecot_src, dovecot_dst)
    first = copy(cfg, env, user)
    # Messages with NUL bytes, and one with 0x80 in 8-bit header fields beside a base64
    # attachment that decodes to NULs: all lined up with BINARY[] and verified.
    assert first.returncode == 0, first.stdout + first.stderr
    assert "0 mismatched, 0 not verifiable" in first.stdout
    assert copied_total(first.stdout) == len(files)
    assert_same_content(dovecot_src, dovecot_dst, user)

    # The provider signatures survive the round trip (byte-exactness oracle).
    d = session(dovecot_dst, user)
    try:
        d.examine("INBOX")
        bodies = {m.sha256: m.body for m in d.fetch_bodies(d.fetch_meta("1:*"))}
    finally:
        d.logout()
    s = session(dovecot_src, user)
    try:
        s.examine("INBOX")
        src_bodies = {m.sha256: m.body for m in s.fetch_bodies(s.fetch_meta("1:*"))}
    finally:
        s.logout()
    assert set(bodies) == set(src_bodies)
    verified = 0
    for rel in SIGNED_VALID:
        original = (PEC_CORPUS / rel).read_bytes()
        normalised = re.sub(rb"\r?\n", b"\r\n", original)
        copy_bytes = next(b for b in bodies.values() if b == normalised)
        out = tmp_path / "signed.eml"
        out.write_bytes(copy_bytes)
        r = subprocess.run(["openssl", "smime", "-verify", "-noverify", "-in", str(out),
                            "-out", "/dev/null"], capture_output=True, check=False)
        assert r.returncode == 0, f"{rel}: signature no longer verifies: {r.stderr!r}"
        verified += 1
    assert verified == 12

    # A second run appends nothing.
    before = snapshot(dovecot_dst, user)
    second = copy(cfg, env, user)
    assert second.returncode == 0, second.stdout + second.stderr
    assert copied_total(second.stdout) == 0
    assert snapshot(dovecot_dst, user) == before


def test_8bit_text_beside_a_signature_and_real_nul_bytes_are_verified(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    """Dovecot serves NUL as 0x80 in BODY[]; 0x80 is also in every UTF-8 quote (E2 80 99).
    BINARY[] keeps NULs but decodes the base64 signature (full of NULs).  Neither kind of
    message may end up "not verifiable", and the NULs must arrive."""
    user = users.pair()
    p7s = base64.encodebytes(bytes(range(256)) * 4).replace(b"\n", b"\r\n")

    def pec(text: bytes, header: bytes = b"") -> bytes:
        return (b"From: posta-certificata@pec.example.it\r\nSubject: CONSEGNA" + header
                + b'\r\nMIME-Version: 1.0\r\nContent-Type: multipart/signed; '
                b'protocol="application/pkcs7-signature"; boundary="S"\r\n\r\n--S\r\n'
                b"Content-Type: text/plain; charset=utf-8\r\n"
                b"Content-Transfer-Encoding: 8bit\r\n\r\n" + text + b"\r\n--S\r\n"
                b"Content-Type: application/pkcs7-signature; name=smime.p7s\r\n"
                b"Content-Transfer-Encoding: base64\r\n\r\n" + p7s + b"\r\n--S--\r\n")

    quotes = pec("Il messaggio è stato consegnato all’avvocato — ricevuta".encode())
    nuls = pec(b"testo \x00 con NUL \xe2\x80\x99", header=b" \x00")
    seed(dovecot_src, user, "INBOX", [(quotes, ("\\Seen",), when(1)), (nuls, (), when(2))])
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst)
    env = cli_env(dovecot_src, dovecot_dst)
    run = copy(cfg, env, user)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 copied" in run.stdout and "0 mismatched, 0 not verifiable" in run.stdout

    def served(server: Any) -> list[tuple[bytes, bytes]]:
        """(BODY[], BINARY[]) of each message, straight from imaplib."""
        s = session(server, user)
        try:
            s.examine("INBOX")
            imap = s.connection.imap  # the raw answers are the oracle here
            out = []
            for uid in ("1", "2"):
                body = imap.uid("FETCH", uid, "(BODY.PEEK[])")[1][0][1]
                binary = imap.uid("FETCH", uid, "(BINARY.PEEK[])")[1][0][1]
                out.append((body, binary))
            return out
        finally:
            s.logout()

    # Same BODY[] (NULs as 0x80) and same BINARY[] (NULs kept) on both servers: the stored
    # messages are the same bytes, the NULs included.
    assert served(dovecot_dst) == served(dovecot_src)
    assert served(dovecot_dst)[1][0] == nuls.replace(b"\x00", b"\x80")
    assert copied_total(copy(cfg, env, user).stdout) == 0


def test_message_over_the_destination_size_limit_is_skipped_not_retried(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    """Dovecot refuses it with ``NO [LIMIT] Mail size is larger than ...``: that message
    never fits, so it is listed as skipped (kept in the quarantine) and the rest of the
    mailbox completes.  Issue 13: a refused message makes ``copy`` exit 1 (it was 0)."""
    user = users.pair()
    dovecot_dst.set_max_mail_size(user, 5000)
    small = [b"Subject: %d\r\n\r\nbody\r\n" % i for i in range(3)]
    big = b"Subject: big\r\n\r\n" + b"x" * 8000 + b"\r\n"
    seed(dovecot_src, user, "INBOX", [(b, (), when(i)) for i, b in enumerate([*small, big])])
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst)
    env = cli_env(dovecot_src, dovecot_dst)
    run = copy(cfg, env, user)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 skipped" in run.stdout and "maximum size" in run.stdout, run.stdout
    assert (tmp_path / "quarantine" / user / "INBOX" / "4.eml").read_bytes() == big
    assert sorted(m.sha256 for m in snapshot(dovecot_dst, user)["INBOX"].elements()) == sorted(
        sha(b) for b in small)
    assert copied_total(copy(cfg, env, user).stdout) == 0


def test_folder_mapping_across_separators_prefixes_and_utf7(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    user = users.pair()
    msg = b"From: a@example.it\r\nSubject: x\r\n\r\nbody\r\n"
    # "." is the source separator, so "S.r.l." cannot be one source folder (Dovecot's fs
    # layout refuses "/" too): those cases are unit tests of the plan.
    names = ["INBOX.Àrchivio", "INBOX.Società Rossi & Figli", "INBOX.Posta dell'avvocato",
             "INBOX.Clienti.Rossi.2019", "INBOX.Posta inviata"]
    for i, name in enumerate(names):
        seed(dovecot_src, user, name, [(msg + str(i).encode(), ("\\Seen",), when(i))])
    s = session(dovecot_src, user)
    s.create_folder("INBOX.Vuota")
    s.logout()
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst)
    r = copy(cfg, cli_env(dovecot_src, dovecot_dst), user)
    assert r.returncode == 0, r.stdout + r.stderr
    d = session(dovecot_dst, user)
    try:
        dst_names = {f.name for f in d.list_folders()}
    finally:
        d.logout()
    for expected in ("Àrchivio", "Società Rossi & Figli", "Posta dell'avvocato",
                     "Clienti", "Clienti/Rossi", "Clienti/Rossi/2019", "Vuota", "Sent"):
        assert expected in dst_names, f"{expected} not in {sorted(dst_names)}"
    assert "Posta inviata" not in dst_names  # special-use mapped onto the destination's \Sent
    assert_same_content(dovecot_src, dovecot_dst, user)


def test_large_duplicates_and_no_message_id(dovecot_src: Any, dovecot_dst: Any, users: Any,
                                            tmp_path: Path) -> None:
    user = users.pair()
    big = (b"From: a@example.it\r\nSubject: big\r\nMessage-ID: <big@x>\r\n\r\n"
           + b"".join(b"%075d\r\n" % i for i in range(25 * 1024 * 1024 // 77)))
    same = b"From: a@example.it\r\nSubject: same\r\n\r\nidentical\r\n"
    seed(dovecot_src, user, "INBOX", [(big, ("\\Seen",), when(1))]
         + [(same, (), when(2))] * 3)
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst,
                       engine={"batch_max_bytes": 4 * 1024 * 1024})
    env = cli_env(dovecot_src, dovecot_dst)
    r = copy(cfg, env, user)
    assert r.returncode == 0, r.stdout + r.stderr
    dst = snapshot(dovecot_dst, user)["INBOX"]
    assert sum(dst.values()) == 4
    assert max(dst.values()) == 3  # three identical messages give exactly three copies
    assert_same_content(dovecot_src, dovecot_dst, user)
    assert copied_total(copy(cfg, env, user).stdout) == 0


def test_prefilled_destination_gets_no_duplicates(dovecot_src: Any, dovecot_dst: Any,
                                                  users: Any, tmp_path: Path) -> None:
    user = users.pair()
    msgs = [(b"Subject: m%d\r\n\r\nbody %d\r\n" % (i, i), ("\\Seen",), when(i)) for i in range(6)]
    seed(dovecot_src, user, "INBOX", msgs)
    seed(dovecot_dst, user, "INBOX", msgs[:3])  # someone already copied half by hand
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst)
    r = copy(cfg, cli_env(dovecot_src, dovecot_dst), user)
    assert r.returncode == 0, r.stdout + r.stderr
    assert copied_total(r.stdout) == 3
    assert_same_content(dovecot_src, dovecot_dst, user)


def test_lost_database_and_uidvalidity_change(dovecot_src: Any, dovecot_dst: Any, users: Any,
                                              tmp_path: Path) -> None:
    user = users.pair()
    msgs = [(b"Subject: m%d\r\n\r\nbody %d\r\n" % (i, i), (), when(i)) for i in range(5)]
    seed(dovecot_src, user, "INBOX.Lavoro", msgs)
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst)
    env = cli_env(dovecot_src, dovecot_dst)
    assert copy(cfg, env, user).returncode == 0
    # Lost state: the database is gone; nothing may be appended twice.
    for p in tmp_path.glob("state.sqlite3*"):
        p.unlink()
    r = copy(cfg, env, user)
    assert r.returncode == 0, r.stdout + r.stderr
    assert copied_total(r.stdout) == 0
    # Source folder recreated (new UIDVALIDITY) with one more message.
    s = session(dovecot_src, user)
    s.connection.client.delete_folder(b"INBOX.Lavoro")
    s.logout()
    new = (b"Subject: new\r\n\r\nnew one\r\n", ("\\Seen",), when(9))
    seed(dovecot_src, user, "INBOX.Lavoro", [*msgs, new])
    r = copy(cfg, env, user)
    assert r.returncode == 0, r.stdout + r.stderr
    assert copied_total(r.stdout) == 1
    assert_same_content(dovecot_src, dovecot_dst, user)


def test_verify_command_detects_a_missing_copy(dovecot_src: Any, dovecot_dst: Any, users: Any,
                                               tmp_path: Path) -> None:
    user = users.pair()
    seed(dovecot_src, user, "INBOX", [(b"Subject: v%d\r\n\r\nx%d\r\n" % (i, i), (), when(i))
                                      for i in range(4)])
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst)
    env = cli_env(dovecot_src, dovecot_dst)
    assert copy(cfg, env, user).returncode == 0
    ok = run_cli(["verify", "--config", str(cfg), "--source-user", user], env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert re.search(r"INBOX\s+4\s+0\s+\d+\s+0\s+4\s+0", ok.stdout), ok.stdout
    d = session(dovecot_dst, user)
    d.select("INBOX")
    d.connection.client.delete_messages([2])
    d.connection.client.expunge()
    d.logout()
    bad = run_cli(["verify", "--config", str(cfg), "--source-user", user], env)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "missing on the destination" in bad.stdout


def test_source_is_left_untouched(dovecot_src: Any, dovecot_dst: Any, users: Any,
                                  tmp_path: Path) -> None:
    user = users.pair()
    seed(dovecot_src, user, "INBOX", [(b"Subject: u%d\r\n\r\nx%d\r\n" % (i, i), (), when(i))
                                      for i in range(5)])
    before = snapshot(dovecot_src, user)
    s = session(dovecot_src, user)
    st_before = s.status("INBOX")
    s.logout()
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst)
    assert copy(cfg, cli_env(dovecot_src, dovecot_dst), user).returncode == 0
    assert snapshot(dovecot_src, user) == before  # no \Seen appeared
    s = session(dovecot_src, user)
    assert s.status("INBOX") == st_before
    s.logout()
    assert all(not any("\\Seen" in m.flags for m in c) for c in before.values())


@pytest.mark.parametrize("bad", ["wrong-password"])
def test_wrong_password_is_a_clear_error(dovecot_src: Any, dovecot_dst: Any, users: Any,
                                         tmp_path: Path, bad: str) -> None:
    user = users.pair()
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst)
    env = cli_env(dovecot_src, dovecot_dst, PECSYNC_SOURCE_PASSWORD=bad)
    r = copy(cfg, env, user)
    assert r.returncode == 1
    assert "login refused" in r.stderr and user in r.stderr
    assert "Traceback" not in r.stderr and bad not in r.stderr + r.stdout


def test_rerun_costs_round_trips_per_mailbox_not_per_message(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    """A finished mailbox re-checks in a fixed number of IMAP commands (LIST-STATUS), however
    many messages and folders it holds: counted in the session layer."""
    import anyio

    from pecsync.config import load_config
    from pecsync.engine.settings import mailbox_settings
    from pecsync.model import Credentials, Secret
    from pecsync.store.checkpoints import CheckpointStore
    from pecsync.sync.mailbox import MailboxRun, copy_mailbox

    user = users.pair()
    for folder in ("INBOX", "INBOX.Uno", "INBOX.Due", "INBOX.Tre"):
        seed(dovecot_src, user, folder, [(b"Subject: r%d\r\n\r\nx\r\n" % i, (), when(i))
                                         for i in range(30)])
    cfg = load_config(write_config(tmp_path, dovecot_src, dovecot_dst))
    src = Credentials(user, Secret(dovecot_src.master_password), "master")
    dst = Credentials(user, Secret(dovecot_dst.master_password), "master")
    commands: list[int] = []

    async def go() -> None:
        async with await CheckpointStore.open(cfg.database) as store:
            report = await copy_mailbox(mailbox_settings(cfg), store, src, dst)
            assert report.copied == 120
            original = MailboxRun.__aexit__

            async def count(self: MailboxRun, *exc: object) -> None:
                commands.append(self.src.commands + self.dst.commands)
                await original(self, *exc)

            MailboxRun.__aexit__ = count  # type: ignore[method-assign]
            try:
                again = await copy_mailbox(mailbox_settings(cfg), store, src, dst)
            finally:
                MailboxRun.__aexit__ = original  # type: ignore[method-assign]
            assert again.copied == 0

    anyio.run(go)
    # login x2, namespace x2, LIST x2, LIST-STATUS x2, and no command per folder or message.
    assert commands and commands[0] <= 10, commands


def test_login_needs_no_capability_round_trip_and_pipelining_is_not_delayed(
        dovecot_src: Any, users: Any) -> None:
    """Dovecot's greeting lists its capabilities: the only command before the mailbox is
    usable is the login itself (imaplib would otherwise ask for CAPABILITY first, one round
    trip per connection), and the post-login capabilities are the full ones."""
    user = users.pair()
    s = session(dovecot_src, user)
    try:
        assert s.connection.imap.tagnum == 1  # AUTHENTICATE with SASL-IR, nothing before it
        # Pipelined commands leave at once (no Nagle wait for the previous command's ACK).
        assert s.connection.client.socket().getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert s.has("UIDPLUS") and s.has("MULTIAPPEND")  # announced only after login
        assert s.list_folders()
    finally:
        s.logout()


def test_folder_tree_is_created_in_one_round_trip(dovecot_dst: Any, users: Any) -> None:
    """CREATEs are pipelined: parents and children, an existing folder is fine, and a refusal
    names its folder after every answer has been read (the session stays usable)."""
    from pecsync.errors import FolderError
    from pecsync.model import Side

    user = users.dst_only()
    s = session(dovecot_dst, user, Side.DST)
    try:
        s.create_folders(["Albero", "Albero/Ramo", "Albero/Ramo/Foglia", "INBOX"])
        names = {f.name for f in s.list_folders()}
        assert {"Albero", "Albero/Ramo", "Albero/Ramo/Foglia"} <= names
        with pytest.raises(FolderError) as err:
            s.create_folders(["Buona", "~Cattiva", "Altra"])
        assert err.value.folder == "~Cattiva" and "Invalid mailbox name" in str(err.value)
        assert {"Buona", "Altra"} <= {f.name for f in s.list_folders()}
    finally:
        s.logout()


def test_content_match_takes_the_source_flags(dovecot_src: Any, dovecot_dst: Any, users: Any,
                                              tmp_path: Path) -> None:
    """A destination message with the source's bytes and INTERNALDATE but other flags is the
    copy: it gets the source's flags (not a second copy), and verification passes."""
    user = users.pair()
    bodies = [b"Subject: f%d\r\n\r\nflags %d\r\n" % (i, i) for i in range(4)]
    src_flags: list[tuple[str, ...]] = [("\\Seen",), ("\\Answered", "$PecRicevuta"), (),
                                        ("\\Seen", "\\Flagged")]
    dst_flags: list[tuple[str, ...]] = [(), ("\\Flagged",), ("\\Seen",), ("\\Flagged", "\\Seen")]
    seed(dovecot_src, user, "INBOX", [(bodies[i], f, when(i)) for i, f in enumerate(src_flags)])
    seed(dovecot_dst, user, "INBOX", [(bodies[i], f, when(i)) for i, f in enumerate(dst_flags)])
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst)
    env = cli_env(dovecot_src, dovecot_dst)
    r = copy(cfg, env, user)
    assert r.returncode == 0, r.stdout + r.stderr
    assert copied_total(r.stdout) == 0 and " 0 mismatched" in r.stdout, r.stdout
    assert_same_content(dovecot_src, dovecot_dst, user)
    again = copy(cfg, env, user)
    assert again.returncode == 0 and copied_total(again.stdout) == 0, again.stdout
    ok = run_cli(["verify", "--config", str(cfg), "--source-user", user], env)
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_content_match_with_another_internaldate_appends_an_exact_copy(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    """Same bytes, other INTERNALDATE (which IMAP cannot change): not the legal copy.  A copy
    with the source's INTERNALDATE is appended and the other message is named in the report."""
    from tests.helpers import Msg, sha

    user = users.pair()
    body = b"Subject: d\r\n\r\nwhen matters\r\n"
    seed(dovecot_src, user, "INBOX", [(body, ("\\Seen",), when(1))])
    seed(dovecot_dst, user, "INBOX", [(body, ("\\Seen",), when(30))])
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst)
    env = cli_env(dovecot_src, dovecot_dst)
    r = copy(cfg, env, user)
    assert r.returncode == 0, r.stdout + r.stderr
    assert copied_total(r.stdout) == 1 and " 0 mismatched" in r.stdout, r.stdout
    assert "destination uid 1 has the same content" in r.stdout, r.stdout
    dst = snapshot(dovecot_dst, user)["INBOX"]
    assert dst == {Msg(sha(body), frozenset({"\\Seen"}), when(1)): 1,
                   Msg(sha(body), frozenset({"\\Seen"}), when(30)): 1}, dst
    again = copy(cfg, env, user)
    assert again.returncode == 0 and copied_total(again.stdout) == 0, again.stdout


def test_stopped_content_matched_pass_stays_content_matched(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    """A stop request (Ctrl-C) after the first batch of a content-matched pass: the next run
    matches the rest by content too instead of appending it a second time."""
    import anyio

    from pecsync.config import load_config
    from pecsync.engine.settings import mailbox_settings
    from pecsync.errors import StopRequested
    from pecsync.model import Credentials, Secret
    from pecsync.store.checkpoints import CheckpointStore
    from pecsync.sync.context import Progress
    from pecsync.sync.mailbox import copy_mailbox

    user = users.pair()
    msgs = [(b"Subject: s%d\r\n\r\nstop %d\r\n" % (i, i), ("\\Seen",), when(i)) for i in range(8)]
    seed(dovecot_src, user, "INBOX", msgs)
    seed(dovecot_dst, user, "INBOX", msgs)
    cfg = load_config(write_config(tmp_path, dovecot_src, dovecot_dst,
                                   engine={"batch_max_messages": 2}))
    src = Credentials(user, Secret(dovecot_src.master_password), "master")
    dst = Credentials(user, Secret(dovecot_dst.master_password), "master")

    async def go() -> None:
        async with await CheckpointStore.open(cfg.database) as store:
            stop = Progress(should_stop=lambda: True)
            with pytest.raises(StopRequested):
                await copy_mailbox(mailbox_settings(cfg), store, src, dst, progress=stop)
            again = await copy_mailbox(mailbox_settings(cfg), store, src, dst)
            assert again.copied == 0 and again.mismatched == 0

    anyio.run(go)
    assert_same_content(dovecot_src, dovecot_dst, user)


def test_copy_repairs_flags_of_unverified_content_matches(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    """Earlier versions recorded a content match without giving it the source's flags, so its
    verification failed on every run: the next copy sets them.  A verified copy whose flags
    were changed on the destination afterwards is left alone."""
    import sqlite3

    from pecsync.model import Side
    from tests.helpers import Msg, sha

    user = users.pair()
    old, kept = b"Subject: old\r\n\r\nlegacy\r\n", b"Subject: kept\r\n\r\nuser's\r\n"
    seed(dovecot_src, user, "INBOX", [(old, ("\\Seen",), when(1)), (kept, ("\\Seen",), when(2))])
    seed(dovecot_dst, user, "INBOX", [(old, ("\\Seen",), when(1)), (kept, ("\\Seen",), when(2))])
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst)
    env = cli_env(dovecot_src, dovecot_dst)
    assert copy(cfg, env, user).returncode == 0
    # What an earlier version left: "old" present and unverified, unread on the destination.
    d = session(dovecot_dst, user, Side.DST)
    try:
        d.select("INBOX")
        d.store_flags([1], [])
        d.store_flags([2], ["\\Flagged"])  # the user's own change, after verification
    finally:
        d.logout()
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    with db:
        db.execute("UPDATE message SET verified_at = NULL WHERE dst_uid = 1")
    db.close()
    r = copy(cfg, env, user)
    assert r.returncode == 0 and " 0 mismatched" in r.stdout, r.stdout + r.stderr
    assert copied_total(r.stdout) == 0
    dst = snapshot(dovecot_dst, user)["INBOX"]
    assert dst == {Msg(sha(old), frozenset({"\\Seen"}), when(1)): 1,
                   Msg(sha(kept), frozenset({"\\Flagged"}), when(2)): 1}, dst
