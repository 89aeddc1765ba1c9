"""``python -m lab up`` leaves two servers running with a ready config; ``down`` stops them."""

from __future__ import annotations

import socket
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.helpers import ROOT


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            return s.recv(100).startswith(b"* OK")
    except OSError:
        return False


def test_lab_up_then_down(lab_root: Path) -> None:
    # Under the session's lab root, not tmp_path (see test_minimal_servers._private_root).
    run_dir = lab_root / "rehearsal"
    up = subprocess.run([sys.executable, "-m", "lab", "up", "--dir", str(run_dir),
                         "--members", "4"], cwd=ROOT, capture_output=True, text=True,
                        timeout=120)
    try:
        assert up.returncode == 0, up.stderr
        cfg = Path(up.stdout.strip())
        assert cfg == run_dir / "pecsync.toml" and cfg.is_file()
        conf = tomllib.loads(cfg.read_text("utf-8"))
        ports = conf["source"]["port"], conf["destination"]["port"]
        assert all(_answers(p) for p in ports)  # still running after `up` returned
        rows = (run_dir / "mailboxes.csv").read_text("utf-8").splitlines()
        assert len(rows) == 5 and rows[0].startswith("order,address")
        assert "python -m lab down" in up.stderr and "pecsync import" in up.stderr
    finally:
        down = subprocess.run([sys.executable, "-m", "lab", "down", "--dir", str(run_dir)],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert down.returncode == 0, down.stderr
    assert not any(_answers(p) for p in ports)
    again = subprocess.run([sys.executable, "-m", "lab", "down", "--dir", str(run_dir)],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "no lab servers" in again.stderr
