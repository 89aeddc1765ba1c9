"""Re-sync of done mailboxes against real Dovecot (issue 16): flags, new and renamed folders,
new mail, the members' changes on the destination, the --follow schedule, no CONDSTORE."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lab.dovecot import DovecotServer
from tests.helpers import ROOT, cli_env, run_cli, seed, when, write_config

HEADER = "order,address,source_user,source_password,dest_user,dest_password\n"


def _msgs(n: int, tag: str) -> list[tuple[bytes, tuple[str, ...], Any]]:
    return [(b"Subject: %s %d\r\nMessage-ID: <%s.%d@t>\r\n\r\nbody %d\r\n"
             % (tag.encode(), i, tag.encode(), i, i), ("\\Seen",) if i == 0 else (), when(i))
            for i in range(n)]


def _setup(tmp_path: Path, src: Any, dst: Any, user: str, extra: str = ""
           ) -> tuple[Path, dict[str, str]]:
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + f"Ordine A,{user},,src-pw,,dst-pw\n")
    cfg = write_config(tmp_path, src, dst, master=False, extra=extra)
    env = cli_env(src, dst)
    r = run_cli(["import", "--config", str(cfg), str(csv)], env)
    assert r.returncode == 0, r.stderr
    return cfg, env


def _run(cfg: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    r = run_cli(["run", "--config", str(cfg), *extra], env)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def _status(cfg: Path, env: dict[str, str]) -> dict[str, Any]:
    r = run_cli(["status", "--config", str(cfg), "--json"], env)
    assert r.returncode == 0, r.stderr
    doc: dict[str, Any] = json.loads(r.stdout)
    return doc


def _dst_state(server: Any, user: str) -> dict[str, dict[str, frozenset[str]]]:
    """Destination folder → {Subject line: flags} (no \\Recent)."""
    c = server.client(user)
    out: dict[str, dict[str, frozenset[str]]] = {}
    try:
        for flags, _delim, name in c.list_folders():
            if b"\\Noselect" in flags:
                continue
            c.select_folder(name, readonly=True)
            uids = c.search(["ALL"])
            got = c.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]) if uids else {}
            folder: dict[str, frozenset[str]] = {}
            for item in got.values():
                subject = item[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().strip()
                subject = subject.removeprefix("Subject: ")
                assert subject not in folder, f"duplicate {subject!r} in {name}"
                folder[subject] = frozenset(f.decode() for f in item[b"FLAGS"]) - {"\\Recent"}
            out[name] = folder
    finally:
        c.logout()
    return out


def _set_flags(server: Any, user: str, folder: str, subject: str, flags: list[str], *,
               add: bool = True) -> None:
    c = server.client(user)
    try:
        c.select_folder(folder)
        uids = c.search(["SUBJECT", subject])
        assert len(uids) == 1, (folder, subject, uids)
        (c.add_flags if add else c.remove_flags)(uids, flags)
    finally:
        c.logout()


def _scenario(tmp_path: Path, src: Any, dst: Any, user: str) -> None:
    """Copy, change things on both sides, --resync, check; a second --resync changes nothing."""
    seed(src, user, "INBOX", _msgs(5, "inbox"))
    seed(src, user, "INBOX.Pratiche", _msgs(3, "prat"))
    seed(src, user, "INBOX.Pratiche.2019", _msgs(2, "old"))
    cfg, env = _setup(tmp_path, src, dst, user)
    _run(cfg, env)
    first = _status(cfg, env)["mailboxes"][0]
    assert first["state"] == "done" and first["last_synced_at"]
    assert first["final_sync_done"] is False

    # At the source: flags change on two messages, one message gets a keyword, one is deleted.
    _set_flags(src, user, "INBOX", "inbox 1", ["\\Flagged"])
    _set_flags(src, user, "INBOX", "inbox 2", ["\\Seen", "$Pratica"])
    _set_flags(src, user, "INBOX", "inbox 0", ["\\Seen"], add=False)
    _set_flags(src, user, "INBOX", "inbox 3", ["\\Seen"])
    # The member, on the destination: flags message 3 (the source marks it seen: both kept)
    # and marks message 4 answered (the source leaves it alone: kept).
    _set_flags(dst, user, "INBOX", "inbox 3", ["\\Flagged"])
    _set_flags(dst, user, "INBOX", "inbox 4", ["\\Answered"])
    # ... and un-flags nothing pecsync wrote; message 0 is un-seen at the source AND marked
    # important by the member: \Seen goes, $Important stays.
    _set_flags(dst, user, "INBOX", "inbox 0", ["$Important"])
    c = src.client(user)
    try:
        c.select_folder("INBOX.Pratiche")
        c.delete_messages(c.search(["SUBJECT", "prat 2"]))
        c.expunge()
        # New mail, a new folder, and a renamed folder (with its subfolder).
        c.create_folder("INBOX.Nuova")
        c.rename_folder("INBOX.Pratiche", "INBOX.Archivio")
    finally:
        c.logout()
    seed(src, user, "INBOX", _msgs(7, "inbox")[5:])
    seed(src, user, "INBOX.Nuova", _msgs(2, "nuova"))
    # A message the member files at the destination is never touched.
    seed(dst, user, "INBOX", [(b"Subject: mine\r\n\r\nmember's own\r\n", ("$Mine",), when(9))])

    _run(cfg, env, "--resync")
    got = _dst_state(dst, user)
    inbox = got["INBOX"]
    assert inbox["inbox 1"] == {"\\Flagged"}
    assert inbox["inbox 2"] == {"\\Seen", "$Pratica"}
    assert inbox["inbox 3"] == {"\\Seen", "\\Flagged"}
    assert inbox["inbox 4"] == {"\\Answered"}
    assert inbox["inbox 0"] == {"$Important"}
    assert inbox["mine"] == {"$Mine"}
    assert {"inbox 5", "inbox 6"} <= set(inbox)
    assert set(got["Nuova"]) == {"nuova 0", "nuova 1"}
    # The renamed folder goes on into the destination folder it was copied into: no copy of
    # its messages a second time, no empty "Archivio".
    assert set(got["Pratiche"]) == {"prat 0", "prat 1", "prat 2"}  # prat 2: kept on the dst
    assert set(got["Pratiche/2019"]) == {"old 0", "old 1"}
    assert "Archivio" not in got and "Archivio/2019" not in got
    mailbox = _status(cfg, env)["mailboxes"][0]
    assert mailbox["state"] == "done"
    assert mailbox["deleted_at_source"] == 1
    assert mailbox["last_synced_at"] >= first["last_synced_at"]

    # Nothing changed: a re-sync copies nothing, stores no flag.
    log = tmp_path / "steps.log"
    r = run_cli(["run", "--config", str(cfg), "--resync"], {**env, "PECSYNC_STEP_LOG": str(log)})
    assert r.returncode == 0, r.stderr
    steps = log.read_text() if log.exists() else ""
    assert "appended" not in steps and "resync_flags_stored" not in steps, steps
    assert _dst_state(dst, user) == got


def test_resync_flags_folders_and_member_changes(dovecot_src: Any, dovecot_dst: Any,
                                                 users: Any, tmp_path: Path) -> None:
    _scenario(tmp_path, dovecot_src, dovecot_dst, users.pair())


@pytest.fixture(scope="module")
def src_without_condstore(lab_root: Path, dovecot_src: DovecotServer
                          ) -> Iterator[DovecotServer]:
    """The source flavour with CONDSTORE and QRESYNC taken out of its capabilities."""
    import imapclient

    probe = imapclient.IMAPClient(dovecot_src.host, port=dovecot_src.port, ssl=False)
    dovecot_src.add_user("capprobe@pec.test.it", "pw")
    probe.login("capprobe@pec.test.it", "pw")
    caps = [c.decode() for c in probe.capabilities()]
    probe.logout()
    kept = [c for c in caps if c.upper() not in ("CONDSTORE", "QRESYNC", "IMAP4REV1")]
    extra = f"protocol imap {{\n  imap_capability = IMAP4rev1 {' '.join(kept)}\n}}"
    with DovecotServer(lab_root, "src-nocondstore", flavour="src", extra_conf=extra) as server:
        yield server


def test_resync_without_condstore_same_result(src_without_condstore: Any, dovecot_dst: Any,
                                              tmp_path: Path) -> None:
    import imapclient

    user = "nocondstore@pec.test.it"
    src_without_condstore.add_user(user, "src-pw")
    dovecot_dst.add_user(user, "dst-pw")
    c = imapclient.IMAPClient(src_without_condstore.host, port=src_without_condstore.port,
                              ssl=False)
    c.login(user, "src-pw")
    assert b"CONDSTORE" not in c.capabilities()
    c.logout()
    _scenario(tmp_path, src_without_condstore, dovecot_dst, user)


def test_new_mail_during_a_run_is_copied_by_the_next_resync(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    user = users.pair()
    seed(dovecot_src, user, "INBOX", _msgs(300, "many"))
    cfg, env = _setup(tmp_path, dovecot_src, dovecot_dst, user,
                      extra="[engine]\nbatch_max_messages = 10\n")
    steps = tmp_path / "steps.log"
    proc = subprocess.Popen([sys.executable, "-m", "pecsync", "run", "--config", str(cfg)],
                            env={**env, "PECSYNC_STEP_LOG": str(steps)}, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The message arrives once the first batch is committed: after the run listed the folder.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (steps.exists()
                                               and "mark_appended" in steps.read_text()):
        time.sleep(0.01)
    seed(dovecot_src, user, "INBOX", [(b"Subject: late\r\n\r\narrived mid-run\r\n", (),
                                       when(400))])
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert "late" not in _dst_state(dovecot_dst, user)["INBOX"]
    r = _run(cfg, env, "--resync")
    inbox = _dst_state(dovecot_dst, user)["INBOX"]
    assert "late" in inbox and len(inbox) == 301, (len(inbox), out, err, r.stdout, r.stderr)


def test_follow_resyncs_then_one_final_sync_then_stops(dovecot_src: Any, dovecot_dst: Any,
                                                       users: Any, tmp_path: Path) -> None:
    user = users.pair()
    seed(dovecot_src, user, "INBOX", _msgs(3, "f"))
    switch = datetime.now(UTC) + timedelta(seconds=8)
    extra = (f'[migration]\nresync_every = "1s"\n'
             f'switch_at = {switch.isoformat(timespec="seconds")}\n')
    cfg, env = _setup(tmp_path, dovecot_src, dovecot_dst, user, extra=extra)
    proc = subprocess.Popen([sys.executable, "-m", "pecsync", "run", "--config", str(cfg),
                             "--follow"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)
        before = _status(cfg, env)
        m = before["mailboxes"][0]
        assert m["state"] in ("done", "running") and m["final_sync_done"] is False
        assert before["orders"][0]["missing_final_sync"] == 1
        # Mail that arrives at the old provider during the switch.
        while datetime.now(UTC) < switch - timedelta(seconds=1):
            time.sleep(0.2)
        seed(dovecot_src, user, "INBOX", [(b"Subject: switch day\r\n\r\nduring\r\n", (),
                                           when(50))])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            doc = _status(cfg, env)
            if doc["mailboxes"][0]["final_sync_done"] and doc["mailboxes"][0]["state"] == "done":
                break
            time.sleep(0.5)
        assert doc["mailboxes"][0]["final_sync_done"], doc
        assert doc["orders"][0]["missing_final_sync"] == 0
        text = run_cli(["status", "--config", str(cfg)], env).stdout
        assert "final sync after the switch" in text and "1 done, 0 missing" in text, text
        assert "switch day" in _dst_state(dovecot_dst, user)["INBOX"]
        synced = doc["mailboxes"][0]["last_synced_at"]
        time.sleep(4)  # resync_every is 1 s: no re-sync after the final one
        assert _status(cfg, env)["mailboxes"][0]["last_synced_at"] == synced
        assert proc.poll() is None  # still following (new credentials, retries)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    cert = Path(cfg.parent / "certificates" / f"{user}.json")
    assert cert.exists()
    r = run_cli(["verify", "--config", str(cfg), "--source-user", user, "--dest-user", user,
                 "--certificate", str(cert)], {**env, "PECSYNC_DEST_PASSWORD": "dst-pw"})
    assert r.returncode == 0, r.stdout + r.stderr
    # Rewritten after the final sync: it counts the mail of the switch day.
    assert json.loads(cert.read_text())["totals"]["messages_source"] == 4


def test_renamed_folder_with_a_new_uidvalidity_is_not_copied_twice(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    """A server that gives a renamed folder a new UIDVALIDITY (here: copy, then delete): the
    new folder holds every copy of the old one (sizes and INTERNALDATEs), so it goes on into
    the old destination folder, content-matched: nothing appended twice."""
    user = users.pair()
    seed(dovecot_src, user, "INBOX", _msgs(2, "inbox"))
    seed(dovecot_src, user, "INBOX.Pratiche", _msgs(3, "prat"))
    cfg, env = _setup(tmp_path, dovecot_src, dovecot_dst, user)
    _run(cfg, env)
    c = dovecot_src.client(user)
    try:
        old = c.folder_status("INBOX.Pratiche", ["UIDVALIDITY"])[b"UIDVALIDITY"]
        c.create_folder("INBOX.Archivio")
        c.select_folder("INBOX.Pratiche")
        c.copy(c.search(["ALL"]), "INBOX.Archivio")
        c.close_folder()
        c.delete_folder("INBOX.Pratiche")
        assert c.folder_status("INBOX.Archivio", ["UIDVALIDITY"])[b"UIDVALIDITY"] != old
    finally:
        c.logout()
    seed(dovecot_src, user, "INBOX.Archivio", _msgs(5, "prat")[3:])  # and new mail in it
    _run(cfg, env, "--resync")
    got = _dst_state(dovecot_dst, user)  # asserts no Subject twice in a folder
    assert set(got["Pratiche"]) == {f"prat {i}" for i in range(5)}
    assert "Archivio" not in got


def test_a_first_copy_opens_no_source_folder_again_for_flags_and_loses_no_flag_change(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    """With CONDSTORE, the flag pass after a first copy costs no source command (over a slow
    link each folder opened again cost two round trips); a flag set at the source during that
    copy, after its folder was read, reaches the destination on the next pass."""
    import anyio

    from pecsync.config import load_config
    from pecsync.engine.settings import mailbox_settings
    from pecsync.model import Credentials, Secret
    from pecsync.store.checkpoints import CheckpointStore
    from pecsync.sync import mailbox as mailbox_mod
    from pecsync.sync.mailbox import MailboxRun, copy_mailbox

    plain, synced = users.pair(), users.pair()
    for user in (plain, synced):
        for folder in ("INBOX", "INBOX.Uno", "INBOX.Due"):
            seed(dovecot_src, user, folder, _msgs(5, folder.rsplit(".", 1)[-1]))
    cfg = load_config(write_config(tmp_path, dovecot_src, dovecot_dst,
                                   extra="[engine]\nfolders_in_parallel = 1\n"))
    commands: dict[str, int] = {}
    original_exit = MailboxRun.__aexit__
    original_pass = mailbox_mod.sync_mailbox_flags

    def creds(user: str) -> tuple[Credentials, Credentials]:
        return (Credentials(user, Secret(dovecot_src.master_password), "master"),
                Credentials(user, Secret(dovecot_dst.master_password), "master"))

    async def copy(user: str, sync_flags: bool) -> None:
        async def count(self: MailboxRun, *exc: object) -> None:
            commands.setdefault(user, self.src.commands)
            await original_exit(self, *exc)

        async def flag_during_copy(*args: Any, **kw: Any) -> None:
            # The folders are copied, their flags recorded: the member flags a message now.
            _set_flags(dovecot_src, user, "INBOX.Uno", "Uno 3", ["\\Flagged"])
            await original_pass(*args, **kw)

        MailboxRun.__aexit__ = count  # type: ignore[method-assign]
        mailbox_mod.sync_mailbox_flags = flag_during_copy  # type: ignore[assignment]
        try:
            async with await CheckpointStore.open(cfg.database) as store:
                report = await copy_mailbox(mailbox_settings(cfg), store, *creds(user),
                                            sync_flags=sync_flags)
                assert report.copied == 15
        finally:
            MailboxRun.__aexit__ = original_exit  # type: ignore[method-assign]
            mailbox_mod.sync_mailbox_flags = original_pass

    anyio.run(copy, plain, False)
    anyio.run(copy, synced, True)
    # The flag pass opened no source folder: as many source commands as without it.
    assert commands[synced] == commands[plain], commands
    assert _dst_state(dovecot_dst, synced)["Uno"]["Uno 3"] == frozenset()

    async def next_pass() -> None:
        async with await CheckpointStore.open(cfg.database) as store:
            await copy_mailbox(mailbox_settings(cfg), store, *creds(synced), sync_flags=True)

    anyio.run(next_pass)
    state = _dst_state(dovecot_dst, synced)
    assert state["Uno"]["Uno 3"] == frozenset({"\\Flagged"})
    assert state["Uno"]["Uno 0"] == frozenset({"\\Seen"})


def test_a_copy_made_without_the_flag_pass_needs_no_folder_opened_by_the_next_one(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    """The flag baseline is recorded with the folder's state: after a plain copy (no flag
    pass), the first flag pass of an unchanged mailbox opens no source folder either."""
    import anyio

    from pecsync.config import load_config
    from pecsync.engine.settings import mailbox_settings
    from pecsync.model import Credentials, Secret
    from pecsync.store.checkpoints import CheckpointStore
    from pecsync.sync.mailbox import MailboxRun, copy_mailbox

    user = users.pair()
    for folder in ("INBOX", "INBOX.Uno", "INBOX.Due"):
        seed(dovecot_src, user, folder, _msgs(4, folder.rsplit(".", 1)[-1]))
    cfg = load_config(write_config(tmp_path, dovecot_src, dovecot_dst))
    src = Credentials(user, Secret(dovecot_src.master_password), "master")
    dst = Credentials(user, Secret(dovecot_dst.master_password), "master")
    commands: list[int] = []
    original = MailboxRun.__aexit__

    async def count(self: MailboxRun, *exc: object) -> None:
        commands.append(self.src.commands)
        await original(self, *exc)

    async def go() -> None:
        async with await CheckpointStore.open(cfg.database) as store:
            assert (await copy_mailbox(mailbox_settings(cfg), store, src, dst)).copied == 12
            MailboxRun.__aexit__ = count  # type: ignore[method-assign]
            try:
                await copy_mailbox(mailbox_settings(cfg), store, src, dst)  # unchanged: no flags
                await copy_mailbox(mailbox_settings(cfg), store, src, dst, sync_flags=True)
            finally:
                MailboxRun.__aexit__ = original  # type: ignore[method-assign]

    anyio.run(go)
    assert len(commands) == 2 and commands[1] == commands[0], commands
