"""`scripts/screenshots_intake.py --listen`: the page on the address asked for, the lab
members' passwords on the terminal and nothing else secret (the key and the master password
in a mode-0600 file whose path is printed), and no temporary folder left after Ctrl-C or
SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from lab.dovecot import free_port
from tests.helpers import ROOT


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_listen_prints_only_members_passwords_and_cleans_up(stop: str) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "scripts/screenshots_intake.py", "--listen",
                             f"127.0.0.1:{port}"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C stops" in line:
                break
        text = "".join(lines)
        assert f"intake page: http://127.0.0.1:{port}/" in text, text
        assert "mario.rossi / Password-Giusta1" in text, text
        found = re.search(r"master password: (\S+) \(mode 0600\)", text)
        assert found, text
        secrets = Path(found.group(1))
        assert secrets.stat().st_mode & 0o777 == 0o600
        values = dict(line.split("=", 1) for line in secrets.read_text().splitlines()
                      if "=" in line and not line.startswith("#"))
        assert set(values) == {"PECSYNC_KEY", "PECSYNC_DEST_PASSWORD"}
        for value in values.values():
            assert value and value not in text  # not on the terminal
        work = Path(re.search(r"and removes (\S+)\.", text).group(1))  # type: ignore[union-attr]
        assert work.is_dir() and secrets.is_relative_to(work)
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as page:
                    assert page.status == 200
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError("the page did not answer")
        if stop == "ctrl-c":  # the terminal signals the whole foreground group
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=60)[0]
        assert proc.returncode == 0, text + rest
        assert "temporary folders removed" in rest, rest
        assert not work.exists(), list(work.rglob("*"))[:20]
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
