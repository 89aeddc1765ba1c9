"""``pecsync run`` on a terminal of 80 columns (a pseudo-terminal read back through the pyte
terminal emulator), against real Dovecot: the live area is never broken by log lines, never
wider than the terminal, and leaves nothing behind when the run ends."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

import pyte

from tests.helpers import ROOT, cli_env, run_cli, seed, when, write_config

AREA = re.compile(r"^\d+/\d+ done · \d+ running · \d+ pending · \d+\.\d MB/s")


def test_run_progress_in_an_80_column_terminal(dovecot_src: Any, dovecot_dst: Any, users: Any,
                                               tmp_path: Path) -> None:
    good = [users.pair(f"s{i}", f"d{i}") for i in range(3)]
    wrong = users.pair("real", "d")
    for n, user in enumerate(good):
        for folder in ("INBOX", "INBOX.Archivio", "INBOX.Fatture elettroniche 2024"):
            seed(dovecot_src, user, folder,
                 [(f"Subject: {folder} {i}\r\n\r\n{'x' * 3000}\r\n".encode(), (), when(i + n))
                  for i in range(40)])
    csv = tmp_path / "l.csv"
    csv.write_text("order,address,source_user,source_password,dest_user,dest_password\n"
                   + "".join(f"Ordine,{u},,s{i},,d{i}\n" for i, u in enumerate(good))
                   + f"Ordine,{wrong},,not-it,,d\n", "utf-8")
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False,
                       engine={"batch_max_messages": 5})
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 80, 0, 0))
    env = dict(env, TERM="xterm", COLUMNS="80", LINES="30")
    child = subprocess.Popen([sys.executable, "-m", "pecsync", "run", "--config", str(cfg),
                              "--workers", "2"], stdin=slave, stdout=slave, stderr=slave,
                             env=env, cwd=ROOT, close_fds=True)
    os.close(slave)
    screen = pyte.Screen(80, 30)
    stream = pyte.ByteStream(screen)
    frames = 0
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            stream.feed(data)
            rows = [row.rstrip() for row in screen.display]
            area = [i for i, row in enumerate(rows) if " done · " in row]
            # At any moment: at most one area, whole, its first line never sharing a row with
            # a log line (the old display wrote "\r" + the line into whatever was there).
            assert len(area) <= 1, "\n".join(rows)
            for i in area:
                assert AREA.match(rows[i]), "\n".join(rows)
                frames += 1
    finally:
        code = child.wait(timeout=60)
        os.close(master)
    rows = [row.rstrip() for row in screen.display]
    shown = "\n".join(rows)
    assert code == 1, shown  # the wrong password blocks one mailbox
    assert frames > 0, shown
    # The area has left the screen; the summary and the log lines are there, whole.
    assert not any(" done · " in row for row in rows), shown
    assert "run: 4 job(s) run" in shown and "done 3, blocked_invalid_credentials 1" in shown
    assert "job_finished" in shown and "not-it" not in shown
