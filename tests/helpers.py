"""Shared test helpers: configs, running the CLI, seeding and snapshotting real mailboxes."""

from __future__ import annotations

import hashlib
import imaplib
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pecsync.config import ServerConfig
from pecsync.imap.session import ImapSession
from pecsync.model import Credentials, FetchedMessage, MessageInfo, Secret, Side
from pecsync.vault import Vault, load_key

ROOT = Path(__file__).resolve().parent.parent
#: The shared test material (the PEC corpus) beside the checkout; $PECSYNC_SHARED_DIR moves it.
SHARED = Path(os.environ.get("PECSYNC_SHARED_DIR") or ROOT.parent / "shared")
PEC_CORPUS = SHARED / "corpus" / "pec"
EML_CORPUS = SHARED / "corpus" / "eml"

# The 12 corpus files whose provider S/MIME signature still verifies (SOURCES.md, "sig valid").
SIGNED_VALID = (
    "OCA__l10n-italy/ACCETTAZIONE__IT03339130126_00009.xml.txt.eml",
    "OCA__l10n-italy/CONSEGNA__IT03339130126_00009.xml.txt.eml",
    "OCA__l10n-italy/POSTA_CERTIFICATA_Invio_File_7339338.txt.eml",
    "OCA__l10n-italy/POSTA_CERTIFICATA__Ricevuta_di_consegna_6782414.txt.eml",
    "OCA__l10n-italy/message1.eml",
    "OCA__l10n-italy/message2.eml",
    "OCA__l10n-italy/message2_accettazione.eml",
    "OCA__l10n-italy/message2_consegna.eml",
    "fabioportieri__java-pec-parser/XDCR_xdcr_2022_02_00583.txt.eml",
    "tornabene__jopenpec/message-ok2.eml",
    "tornabene__jopenpec/message_ko.eml",
    "tornabene__jopenpec/message_ok.eml",
)

# Special-use folders of the lab's two flavours, by logical name.
SRC_TO_DST_SPECIAL = {"Posta inviata": "Sent", "Bozze": "Drafts", "Cestino": "Trash",
                      "Spam": "Junk"}


def corpus_files() -> list[Path]:
    """The corpus messages; the calling test is skipped (not failed) when the corpus is not
    there: it is not part of the repository (CI has it)."""
    files = sorted(p for base in (PEC_CORPUS, EML_CORPUS) for p in base.rglob("*")
                   if p.is_file() and p.suffix in (".eml", ".msg"))
    if not files:
        pytest.skip(f"the PEC test corpus is not at {SHARED / 'corpus'} (pec/ and eml/ "
                    f"beside the checkout, or set $PECSYNC_SHARED_DIR): corpus tests skipped")
    return files


def server_config(server: Any) -> ServerConfig:
    return ServerConfig(host=server.host, port=server.port, security="plain",
                        master_user=server.master_user, timeout=30)


def write_config(tmp_path: Path, src: Any, dst: Any, *, database: str = "state.sqlite3",
                 engine: dict[str, Any] | None = None, extra: str = "",
                 master: bool = True) -> Path:
    lines = []
    for table, server in (("source", src), ("destination", dst)):
        lines += [f"[{table}]", f'host = "{server.host}"', f"port = {server.port}",
                  'security = "plain"', "timeout = 30"]
        if master:
            lines.append(f'master_user = "{server.master_user}"')
        lines.append("")
    lines += ["[state]", f'database = "{database}"', ""]
    if engine:
        lines.append("[engine]")
        for k, v in engine.items():
            lines.append(f"{k} = {str(v).lower() if isinstance(v, bool) else v}")
        lines.append("")
    path = tmp_path / "pecsync.toml"
    path.write_text("\n".join(lines) + extra, "utf-8")
    return path


TEST_KEY = "q3Jd0mFf1y3oN0K2mU4n1v3rS4lK3yF0rT3sTs0nLy0="


def vault_of_test_key() -> Vault:
    """The credential vault of TEST_KEY (the key the CLI gets in :func:`cli_env`), for
    tests that run the engine in-process on a state the CLI imported."""
    os.environ["PECSYNC_KEY"] = TEST_KEY
    try:
        return Vault(load_key(None))
    finally:
        del os.environ["PECSYNC_KEY"]


def cli_env(src: Any, dst: Any, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PECSYNC_KEY"] = TEST_KEY
    env["PECSYNC_SOURCE_PASSWORD"] = src.master_password
    env["PECSYNC_DEST_PASSWORD"] = dst.master_password
    env.pop("PECSYNC_CRASH_AFTER_STEP", None)
    env.pop("PECSYNC_STEP_LOG", None)
    env.update(extra)
    return env


def run_cli(args: list[str], env: dict[str, str], *, timeout: float = 300
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pecsync", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)


def import_members(cfg: Path, env: dict[str, str], rows: list[tuple[str, str, str]],
                   order: str = "O") -> None:
    """Write the mailbox list *rows* (address, source password, destination password) next
    to *cfg* and ``pecsync import`` it."""
    csv = cfg.parent / "list.csv"
    csv.write_text("order,address,source_user,source_password,dest_user,dest_password\n"
                   + "".join(f"{order},{a},,{sp},,{dp}\n" for a, sp, dp in rows))
    r = run_cli(["import", "--config", str(cfg), str(csv)], env)
    assert r.returncode == 0, r.stdout + r.stderr


def session(server: Any, user: str, side: Side = Side.SRC) -> ImapSession:
    s = ImapSession(server_config(server), side, mailbox=user)
    s.login(Credentials(user, Secret(server.master_password), server.master_user))
    return s


@dataclass(frozen=True)
class Msg:
    sha256: str
    flags: frozenset[str]
    internaldate: datetime


def seed(server: Any, user: str, folder: str, messages: list[tuple[bytes, tuple[str, ...],
                                                                     datetime]]) -> None:
    """APPEND raw messages into *folder* (full server-side name), creating it if needed."""
    from pecsync.model import AppendItem

    s = session(server, user)
    try:
        if folder.upper() != "INBOX":
            s.create_folder(folder)
        for i in range(0, len(messages), 20):
            s.append(folder, [AppendItem(b, f, d) for b, f, d in messages[i:i + 20]]
                     ).raise_refused()
    finally:
        s.logout()


def _imap_login(server: Any, user: str) -> imaplib.IMAP4:
    """A plain stdlib connection as *user* through the lab's master user: nothing of pecsync's
    own IMAP code is on the reading side of a test's check."""
    c = imaplib.IMAP4(server.host, server.port, timeout=60)
    if getattr(server, "proxy_auth", False):
        # Cyrus: the admin logs in as the user with SASL PLAIN and an authorization identity.
        plain = f"{user}\0{server.master_user}\0{server.master_password}".encode()
        c.authenticate("PLAIN", lambda _: plain)
    else:
        c.login(f"{user}*{server.master_user}", server.master_password)
    return c


_LIST_LINE = re.compile(rb'\((?P<flags>[^)]*)\) (?:NIL|"(?:[^"\\]|\\.)*") (?P<name>.*)$')
_UID = re.compile(rb"\bUID (\d+)")
_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)")
_DATE = re.compile(rb'\bINTERNALDATE "([^"]+)"')


def _list_selectable(c: imaplib.IMAP4) -> list[str]:
    """Selectable folder names, as the server spells them (modified UTF-7)."""
    typ, data = c.list()
    assert typ == "OK", data
    names: list[str] = []
    for item in data:
        line, name = (item[0], item[1]) if isinstance(item, tuple) else (item, None)
        m = _LIST_LINE.match(line or b"")
        assert m, line
        if b"\\noselect" in m["flags"].lower() or b"\\nonexistent" in m["flags"].lower():
            continue
        raw = name if name is not None else m["name"]
        if raw.startswith(b'"'):
            raw = re.sub(rb"\\(.)", rb"\1", raw[1:-1])
        names.append(raw.decode("ascii"))
    return names


def content_sha(body: bytes) -> str:
    """SHA-256 of a message as served by BODY[], with every 0x80 read as NUL: Dovecot serves a
    stored NUL as 0x80 in BODY[] and Cyrus serves it raw, so this compares equal across both
    and still tells any other changed byte."""
    return sha(body.replace(b"\x80", b"\x00") if b"\x80" in body else body)


def snapshot(server: Any, user: str) -> dict[str, Counter[Msg]]:
    """Every selectable folder (server-side name, modified UTF-7) → multiset of (content SHA-256,
    flags, INTERNALDATE), read with the standard library's imaplib."""
    c = _imap_login(server, user)
    out: dict[str, Counter[Msg]] = {}
    try:
        for name in _list_selectable(c):
            typ, data = c.select(_quote(name), readonly=True)  # EXAMINE
            assert typ == "OK", (name, data)
            counter: Counter[Msg] = Counter()
            if int(data[0] or 0):
                typ, uids_data = c.uid("SEARCH", "ALL")
                uids = [int(u) for u in (uids_data[0] or b"").split()]
                for i in range(0, len(uids), 100):
                    chunk = ",".join(str(u) for u in uids[i:i + 100])
                    typ, fetched = c.uid("FETCH", chunk, "(UID FLAGS INTERNALDATE BODY.PEEK[])")
                    assert typ == "OK", fetched
                    counter.update(_parse_fetch(fetched))
            out[name] = counter
    finally:
        c.logout()
    return out


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _parse_fetch(fetched: list[Any]) -> list[Msg]:
    """imaplib's FETCH answer: (prefix, body) tuples, each followed by the rest of its item
    (``b')'`` or ``b' UID 5)'`` where a server puts items after the literal)."""
    msgs: list[Msg] = []
    items = list(fetched)
    for i, item in enumerate(items):
        if not isinstance(item, tuple):
            continue
        after = items[i + 1] if i + 1 < len(items) and isinstance(items[i + 1], bytes) else b""
        meta = item[0] + b" " + after
        flags_m, date_m = _FLAGS.search(meta), _DATE.search(meta)
        assert flags_m and date_m and _UID.search(meta), meta
        flags = frozenset(f for f in flags_m[1].decode().split() if f != "\\Recent")
        date = datetime.strptime(date_m[1].decode().strip(), "%d-%b-%Y %H:%M:%S %z")
        msgs.append(Msg(content_sha(item[1]), flags, date.astimezone(UTC)))
    return msgs


def logical(name: str, prefix: str, delim: str) -> str:
    if name.upper() == "INBOX":
        return "INBOX"
    if prefix and name.startswith(prefix):
        name = name[len(prefix):]
    path = name.replace(delim, "/")
    return SRC_TO_DST_SPECIAL.get(path.split("/")[0], path.split("/")[0]) + (
        path[len(path.split("/")[0]):])


def src_as_dst(snap: dict[str, Counter[Msg]]) -> dict[str, Counter[Msg]]:
    """Source snapshot keyed by the destination names the lab's mapping should produce."""
    return {logical(k, "INBOX.", "."): v for k, v in snap.items()}


def dst_keyed(snap: dict[str, Counter[Msg]]) -> dict[str, Counter[Msg]]:
    return {logical(k, "", "/"): v for k, v in snap.items()}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def when(i: int = 0) -> datetime:
    return datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC).replace(minute=i % 60)


def assert_same_content(src: Any, dst: Any, src_user: str, dst_user: str | None = None) -> None:
    """Every source folder equals its mapped destination folder as a multiset of
    (SHA-256, flags, INTERNALDATE); destination-only folders are empty."""
    s = src_as_dst(snapshot(src, src_user))
    d = dst_keyed(snapshot(dst, dst_user or src_user))
    for name, msgs in s.items():
        assert name in d, f"folder {name} missing on the destination"
        assert d[name] == msgs, f"folder {name} differs: {d[name]} != {msgs}"
    for name, msgs in d.items():
        assert name in s or not msgs, f"destination-only folder {name} is not empty"


async def raw_sql(store: Any, statement: str, params: dict[str, Any] | None = None) -> None:
    """A test's own write (SQL both dialects read alike, ``:name`` parameters) on either
    backend: what a crashed or stalled process would have left behind."""
    import re

    from pecsync.store.sqlite_backend import SqliteBackend

    if isinstance(store.backend, SqliteBackend):
        await store.db.execute(statement, params or {})
    else:  # psycopg's parameter style
        await store.backend.execute_sql(re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", statement),
                                        params or {})


def run_until_copied(cfg: Path, env: dict[str, str], dst: Any, user: str,
                     copies: int) -> subprocess.Popen[str]:
    """Start ``pecsync run`` in the background and return once the destination INBOX of *user*
    holds *copies* messages (at most 60 s): the moment to change a password or cut a link."""
    import time

    proc = subprocess.Popen([sys.executable, "-m", "pecsync", "run", "--config", str(cfg)],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    d = session(dst, user)
    try:
        deadline = time.monotonic() + 60
        while d.status("INBOX").exists < copies and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        d.logout()
    return proc


def fetched(uid: int) -> FetchedMessage:
    """A 3-byte fetched message with source UID *uid*, for store tests."""
    info = MessageInfo(uid, 3, ("\\Seen",), datetime(2024, 5, 1, tzinfo=UTC))
    return FetchedMessage(info, b"abc", f"sha{uid}", f"<{uid}@x>")
