"""`.ci/run` runs the test suite and then the demo (the README's first command, which CI
never ran before), each with its own exit status: CI fails if either fails, and says both.
Run here against stand-in scripts that exit as told (the real ones install packages)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("tests", "demo"), [(0, 0), (1, 0), (0, 1), (4, 3)])
def test_both_run_and_either_fails_it(tmp_path: Path, tests: int, demo: int) -> None:
    (tmp_path / ".ci").mkdir()
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    for name, code in (("test", tests), ("demo", demo)):
        (tmp_path / "scripts" / f"{name}.sh").write_text(
            f"echo ran {name} >> \"$(dirname \"$0\")/../ran\"\nexit {code}\n")
    r = subprocess.run(["bash", str(tmp_path / ".ci" / "run")], capture_output=True,
                       text=True, timeout=60, check=False)
    assert (tmp_path / "ran").read_text().split("\n")[:2] == ["ran test", "ran demo"]
    assert (r.returncode == 0) == (tests == 0 and demo == 0), r.stdout + r.stderr
    assert (f"test suite (scripts/test.sh) exit {tests}; demo (scripts/demo.sh) exit {demo}"
            in r.stdout), r.stdout
