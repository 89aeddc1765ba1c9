"""The bench's verified-copy floor (bench/floor.py) copies a mailbox byte for byte against
real Dovecot, and proves it: its comparison of SHA-256 multisets fails on a wrong copy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers import ROOT, assert_same_content, seed, when


def floor(src: Any, dst: Any, *users: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, FLOOR_SRC_PASSWORD=src.master_password,
               FLOOR_DST_PASSWORD=dst.master_password)
    return subprocess.run([sys.executable, str(ROOT / "bench" / "floor.py"),
                           "--src", f"{src.host}:{src.port}", "--dst", f"{dst.host}:{dst.port}",
                           "--master-user", src.master_user, "--dst-master-user",
                           dst.master_user, "--parallel", "2", *users],
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def test_floor_copies_and_proves_every_folder(dovecot_src: Any, dovecot_dst: Any,
                                              users: Any, tmp_path: Path) -> None:
    user = users.pair()
    for n, folder in enumerate(["INBOX", "INBOX.Archivio", "INBOX.Archivio.2024",
                                "INBOX.&AMg- urgente"]):
        seed(dovecot_src, user, folder, [
            (f"Subject: {folder} {i}\r\nMessage-ID: <{n}.{i}@x.it>\r\n\r\n{'x' * i}\r\n"
             .encode(), ("\\Seen", "$Etichetta") if i % 2 else (), when(i))
            for i in range(60 + n)])  # more than one MULTIAPPEND of 50
    r = floor(dovecot_src, dovecot_dst, user)
    assert r.returncode == 0, r.stderr
    assert "messages copied and proven in 1 mailboxes" in r.stdout
    assert_same_content(dovecot_src, dovecot_dst, user)
    # A second run appends every message again: the destination then holds each twice and
    # the proof (multisets, not sets) fails.
    r = floor(dovecot_src, dovecot_dst, user)
    assert r.returncode != 0 and "the copy differs from the source" in r.stderr
