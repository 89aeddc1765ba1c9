"""A crash while a certificate is written leaves the old certificate or the new one, whole:
never a truncated or empty file (pecsync.files.write_atomically)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pecsync import files
from pecsync.files import write_atomically

ROOT = Path(__file__).resolve().parents[2]
OLD = b'{"digest": "old"}\n' + b" " * 100_000
NEW = b'{"digest": "new"}\n' + b"x" * 3_000_000


#: The child writes NEW over OLD and dies (os._exit, no cleanup) at the chosen point.
_CRASH_AT = """
import os, sys
from pathlib import Path
from pecsync import files
where, path = sys.argv[1], Path(sys.argv[2])
real_write = os.write
def half_write(fd, data):
    real_write(fd, bytes(data)[: len(data) // 2])
    os._exit(86)
def die(*a, **k):
    os._exit(86)
if where == "write":
    files.os.write = half_write
elif where == "fsync":
    files.os.fsync = die
elif where == "replace":
    files.os.replace = die
files.write_atomically(path, b'{"digest": "new"}\\n' + b"x" * 3_000_000)
os._exit(0)
"""


@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_a_crash_inside_the_write_keeps_the_old_certificate(tmp_path: Path, where: str) -> None:
    path = tmp_path / "rossi@pec.it.json"
    path.write_bytes(OLD)
    proc = subprocess.run([sys.executable, "-c", _CRASH_AT, where, str(path)], cwd=ROOT,
                          timeout=60)
    assert proc.returncode == 86
    assert path.read_bytes() == OLD
    # The next write is whole, whatever the crash left behind.
    write_atomically(path, NEW)
    assert path.read_bytes() == NEW


def test_a_crash_after_the_rename_has_the_new_certificate(tmp_path: Path) -> None:
    path = tmp_path / "rossi@pec.it.json"
    path.write_bytes(OLD)
    code = _CRASH_AT.replace("files.os.write = half_write", "pass")
    proc = subprocess.run([sys.executable, "-c", code, "none", str(path)], cwd=ROOT,
                          timeout=60)
    assert proc.returncode == 0
    assert path.read_bytes() == NEW


_LOOP = """
import sys
from pathlib import Path
from pecsync import files
from pecsync.files import write_atomically
path = Path(sys.argv[1])
versions = [b'{"digest": "old"}\\n' + b" " * 100_000, b'{"digest": "new"}\\n' + b"x" * 3_000_000]
write_atomically(path, versions[0])
print("ready", flush=True)
n = 0
while True:
    n += 1
    write_atomically(path, versions[n % 2])
"""


def test_kill_9_at_random_moments_never_truncates(tmp_path: Path) -> None:
    path = tmp_path / "rossi@pec.it.json"
    rng = random.Random(15)
    for _ in range(8):
        proc = subprocess.Popen([sys.executable, "-c", _LOOP, str(path)], cwd=ROOT,
                                stdout=subprocess.PIPE)
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.0, 0.2))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL
        assert path.read_bytes() in (OLD, NEW)


def test_a_failed_write_in_process_keeps_the_old_certificate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "rossi@pec.it.json"
    path.write_bytes(OLD)

    def no_space(fd: int, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "write", no_space)
    with pytest.raises(OSError):
        write_atomically(path, NEW)
    assert path.read_bytes() == OLD


def test_the_certificate_keeps_the_umask_mode(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    old = os.umask(0o022)
    try:
        write_atomically(path, NEW)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
