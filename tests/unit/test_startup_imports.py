"""Every pecsync process imports the CLI: what it loads at start is paid by every run in
start-up time and resident memory (issue 18's peak RSS target)."""

from __future__ import annotations

import subprocess
import sys


def test_cli_start_does_not_load_the_postgresql_driver() -> None:
    # A fresh interpreter: other tests may have imported psycopg into this one.
    code = ("import sys, pecsync.cli.main, pecsync.engine.pool, pecsync.sync.mailbox; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('psycopg', 'psycopg_pool')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
