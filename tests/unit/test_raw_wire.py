"""The IMAP wire behind one door (issue 25): imaplib's internals are used in
pecsync/imap/raw.py only, and nothing changes imaplib for the whole process."""

from __future__ import annotations

import imaplib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pecsync.imap.raw import MAX_LINE, _Imap4

PACKAGE = Path(__file__).resolve().parents[2] / "pecsync"
#: Private names of imaplib's IMAP4 (and imapclient's) that only the door may use.
INTERNALS = re.compile(
    r"\b_MAXLINE\b|imaplib\.Commands\b|\._imap\b|\._new_tag\(|\._command\("
    r"|\._command_complete\(|\._simple_command\(|untagged_responses|tagged_commands"
    r"|\._get_response\(|\._get_line\(|_process_select_response|_proc_folder_list"
    r"|\.is_readonly\b|\.tagnum\b")


def test_only_the_door_touches_imaplibs_internals() -> None:
    found = [f"{p.relative_to(PACKAGE)}:{n}: {line.strip()}"
             for p in sorted(PACKAGE.rglob("*.py")) if p.name != "raw.py"
             for n, line in enumerate(p.read_text("utf-8").splitlines(), 1)
             if INTERNALS.search(line)]
    assert found == []


def test_the_checker_can_fail() -> None:
    assert INTERNALS.search("tag = conn.client._imap._new_tag()")
    assert INTERNALS.search("imap.untagged_responses.pop('FETCH', None)")


def test_importing_pecsync_patches_nothing_in_imaplib() -> None:
    # A fresh interpreter: nothing else has imported pecsync's IMAP layer in it.  imapclient
    # adds its own commands (ID, IDLE, XLIST) when imported: that is imapclient's.
    code = ("import imaplib, imapclient; "
            "before = (imaplib._MAXLINE, dict(imaplib.Commands)); "
            "import pecsync.imap.session, pecsync.sync.mailbox; "
            "print(before == (imaplib._MAXLINE, dict(imaplib.Commands)), imaplib._MAXLINE, "
            "'COMPRESS' in imaplib.Commands)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["True", "1000000", "False"]


def _reading(cls: type[imaplib.IMAP4], data: bytes) -> imaplib.IMAP4:
    imap = cls.__new__(cls)  # no connection: only its reader
    imap.file = io.BytesIO(data)  # type: ignore[attr-defined]
    return imap


def test_the_line_limit_is_per_connection() -> None:
    """A 2 MB line: too long for imaplib's process-wide limit, read by a pecsync
    connection, and a connection given a smaller limit refuses it."""
    line = b"* LIST () \"/\" " + b"x" * 2_000_000 + b"\r\n"
    assert len(line) > imaplib._MAXLINE  # type: ignore[attr-defined]
    with pytest.raises(imaplib.IMAP4.error):
        _reading(imaplib.IMAP4, line).readline()
    assert _reading(_Imap4, line).readline() == line
    small = _reading(_Imap4, line)
    small.max_line = 1000  # type: ignore[attr-defined]
    with pytest.raises(imaplib.IMAP4.error, match="more than 1000 bytes"):
        small.readline()
    assert MAX_LINE == 50_000_000 and imaplib._MAXLINE == 1_000_000  # type: ignore[attr-defined]
