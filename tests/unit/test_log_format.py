"""Log lines are readable text wherever they go (a terminal, a pipe, cron's mail, CI),
JSON lines only when asked for (``--log-format json``), and a log file when one is named."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import structlog

from pecsync import log as logsetup
from pecsync.cli.parser import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _one_line(**kwargs: object) -> str:
    out = io.StringIO()  # not a TTY, as a pipe or cron
    logsetup.configure(stream=out, **kwargs)  # type: ignore[arg-type]
    try:
        structlog.get_logger("t").info("job_finished", mailbox="a@pec.it", copied=3)
    finally:
        logsetup.configure()
    return out.getvalue()


def test_not_a_tty_still_gets_readable_lines() -> None:
    line = _one_line()
    assert not line.lstrip().startswith("{"), line
    assert "job_finished" in line and "mailbox=a@pec.it" in line and "copied=3" in line


def test_json_only_when_asked() -> None:
    doc = json.loads(_one_line(json=True))
    assert doc["event"] == "job_finished" and doc["copied"] == 3


def test_the_options() -> None:
    args = build_parser().parse_args(["--log-format", "json", "--log-file", "x.log", "status",
                                      "--config", "c.toml"])
    assert (args.log_format, args.log_file) == ("json", "x.log")
    assert build_parser().parse_args(["status", "--config", "c.toml"]).log_format == "text"
    assert build_parser().parse_args(["run", "--wait", "--config", "c.toml"]).wait


def test_log_file_gets_the_lines_and_stderr_does_not(tmp_path: Path) -> None:
    """A command that logs (a configuration that does not exist: ``command_failed``): its
    line goes to the file; the message for the person stays on stderr."""
    log_file = tmp_path / "pecsync.log"
    r = subprocess.run([sys.executable, "-m", "pecsync", "--log-file", str(log_file),
                        "status", "--config", str(tmp_path / "missing.toml")],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "command_failed" in log_file.read_text() and "command_failed" not in r.stderr
    assert "pecsync status:" in r.stderr
    r = subprocess.run([sys.executable, "-m", "pecsync", "--log-file",
                        str(tmp_path / "no" / "dir.log"), "status", "--config", "x.toml"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 2 and "cannot write the log file" in r.stderr, r.stderr
