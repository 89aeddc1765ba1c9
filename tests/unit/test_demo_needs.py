"""The demo runs in the demo profile's .venv (pecsync without its test extras) and needs no
PostgreSQL, Cyrus or chromium: its modules import without the test-only packages, and it
starts no server of those."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import importlib.abc, importlib.util, sys
    TEST_ONLY = {"httpx", "selenium", "pytest", "aiosmtpd", "pyte"}

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in TEST_ONLY:
                raise ImportError(f"{name} is a test extra: the demo profile has not got it")
            return None

    sys.meta_path.insert(0, Refuse())
    spec = importlib.util.spec_from_file_location("demo", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    print("imported", sorted(m for m in sys.modules if m.split(".")[0] in
                             {"lab", "pecsync"} and m.count(".") < 1))
""")


def test_demo_imports_without_the_test_extras() -> None:
    r = subprocess.run([sys.executable, "-c", CHILD, str(ROOT / "scripts" / "demo.py")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("imported"), r.stdout


def test_demo_starts_no_postgres_cyrus_or_chromium() -> None:
    source = (ROOT / "scripts" / "demo.py").read_text("utf-8")
    for other in ("lab.postgres", "lab.cyrus", "chromium", "selenium", "postgresql://"):
        assert other not in source, other
    assert "lab_pair" in source  # the Dovecot pair it does start
