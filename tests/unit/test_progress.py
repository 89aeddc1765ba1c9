"""The run's progress area: per-folder counts, its lines at the terminal's width, the ETA
from runnable mailboxes only, and — in a real pseudo-terminal of 80 columns read back through
a terminal emulator (pyte) — log lines printed above the area, never into it."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import textwrap
import time
from collections import Counter

import pyte

from pecsync.cli.progress import RunSnapshot, bytes_left, eta_text, fit, run_lines
from pecsync.engine.live import LiveMailbox
from pecsync.store.jobs import Job, JobState


def _job(address: str, state: JobState, copied: int = 0) -> Job:
    return Job(id=1, order="Ordine", address=address, src_user=address, dst_user=address,
               state=state, phase=None, attempts=0, next_attempt_at=None, error_class=None,
               error_text=None, messages_copied=0, messages_total=0, bytes_copied=copied,
               bytes_total=copied, skipped=0, updated_at="",
               started_at=None, finished_at=None)


def test_folder_counts_are_per_folder_with_parallel_lanes() -> None:
    """Three lanes interleave their batches; each folder keeps its own count (the old view
    added every lane's messages to the last folder planned: "INBOX.Archivio 1163/192")."""
    box = LiveMailbox()
    box.planned("INBOX", 1000, 10_000)
    box.planned("INBOX.Archivio", 192, 1_920)
    box.copied("INBOX", 500, 5_000)
    box.copied("INBOX.Archivio", 100, 1_000)
    box.copied("INBOX", 500, 5_000)
    box.copied("INBOX.Archivio", 63, 630)
    assert box.describe() == "INBOX.Archivio 163/192"
    assert box.bytes_left == 290
    box.planned("INBOX.Inviata", 7, 70)  # the finished INBOX leaves the view
    assert box.describe() == "INBOX.Archivio 163/192 · INBOX.Inviata 0/7"


def test_run_lines_fit_80_columns() -> None:
    box = LiveMailbox()
    for n in range(6):
        box.planned(f"INBOX.Cartella con un nome molto lungo {n}", 1000 + n, 10)
    live = {f"membro.{n}.con.indirizzo.lungo@pec.ordine-degli-avvocati.example": box
            for n in range(30)}
    snap = RunSnapshot(Counter({"done": 1200, "pending": 40, "running": 30,
                                "waiting_credentials": 12, "blocked_2fa": 3,
                                "retry_wait": 2}), live, 12.5e6, 10**10)
    lines = run_lines(snap, 80, 24)
    assert all(len(line) <= 80 for line in lines)
    assert len(lines) <= 23
    assert lines[-1] == "  … and 10 more mailboxes"
    assert lines[0] == "1200/1287 done · 30 running · 40 pending · 12.5 MB/s · ETA 13m20s"
    assert lines[1] == ("  not in the ETA: 2 retry later · 12 without password · "
                        "3 need attention (pecsy…")
    assert fit("x" * 100, 80) == "x" * 79 + "…"


def test_eta_counts_runnable_mailboxes_only() -> None:
    jobs = [_job("a@x", JobState.DONE, 100), _job("b@x", JobState.DONE, 300),
            _job("c@x", JobState.PENDING), _job("d@x", JobState.RUNNING, 50),
            _job("e@x", JobState.BLOCKED_INVALID_CREDENTIALS),
            _job("f@x", JobState.WAITING_CREDENTIALS), _job("g@x", JobState.FAILED)]
    live = {"d@x": LiveMailbox()}
    live["d@x"].planned("INBOX", 10, 400)
    # pending: the average done size 200; running: max(400 planned left, 200 - 50)
    assert bytes_left(jobs, live) == 600
    assert eta_text(bytes_left(jobs, live), 10.0) == "ETA 1m00s"
    # Nothing done yet: no average to guess the pending mailboxes' size from.
    assert bytes_left(jobs[2:], live) is None
    assert eta_text(None, 10.0) == "ETA —"
    # Only blocked and waiting ones left: no ETA at all (not "0h00m").
    assert bytes_left(jobs[:2] + jobs[4:], {}) == 0
    assert eta_text(0, 10.0) == ""


CHILD = textwrap.dedent("""
    import time
    from collections import Counter
    import structlog
    from pecsync import log as logsetup
    from pecsync.cli.progress import LiveArea, RunSnapshot, run_lines
    from pecsync.engine.live import LiveMailbox

    logsetup.configure(json=False)
    log = structlog.get_logger("t")
    box = LiveMailbox()
    box.planned("INBOX.Archivio", 192, 1000)
    live = {"rossi.mario.avvocato.con.un.indirizzo.lungo@pec.ordine.example": box}
    snap = RunSnapshot(Counter({"done": 3, "pending": 9, "running": 1}), live, 2e6, 10**9)
    with LiveArea(lambda w, h: run_lines(snap, w, h)) as area:
        for n in range(8):
            box.copied("INBOX.Archivio", 20, 100)
            log.info("log line %02d" % n, detail="x" * (30 + 10 * n), mailbox="rossi@pec")
            area.refresh()
            time.sleep(0.02)
        print("MARK", flush=True)
        time.sleep(3)
""")


def test_log_lines_never_break_the_area_in_an_80_column_pty() -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 80, 0, 0))
    env = dict(os.environ, TERM="xterm", COLUMNS="80", LINES="40")
    env.pop("NO_COLOR", None)
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=slave, stdout=slave,
                             stderr=slave, env=env, close_fds=True)
    os.close(slave)
    screen = pyte.Screen(80, 40)
    stream = pyte.ByteStream(screen)
    deadline = time.monotonic() + 30
    try:
        while b"MARK" not in b"".join(line.encode() for line in screen.display):
            assert time.monotonic() < deadline, "\n".join(screen.display)
            try:
                stream.feed(os.read(master, 65536))
            except OSError:
                break
    finally:
        child.kill()
        child.wait()
        os.close(master)
    rows = [row.rstrip() for row in screen.display]
    shown = "\n".join(rows)
    # Each log line is printed once, whole (folded at 80 columns by the area's printer, not
    # cut by it), above the area; none carries a piece of the area.
    for n in range(8):
        assert shown.count(f"log line {n:02d}") == 1, shown
    log_rows = [i for i, row in enumerate(rows) if "log line" in row]
    area_rows = [i for i, row in enumerate(rows) if "done ·" in row]
    # The area is drawn once (no leftovers of earlier draws), below every log line, and its
    # mailbox line shows the folder's own count, cut to the width.
    assert len(area_rows) == 1 and area_rows[0] > max(log_rows), shown
    area = rows[area_rows[0]:area_rows[0] + 2]
    assert area[0].startswith("3/13 done · 1 running · 9 pending"), shown
    assert "INBOX.Archivio 160/192" in area[1] or area[1].endswith("…"), shown
    assert area[1].startswith("  rossi.mario.avvocato"), shown
    for row in rows:
        assert "done ·" not in row or row.startswith("3/13 done"), shown


def test_run_summary_never_prints_an_empty_reason() -> None:
    from dataclasses import replace

    from pecsync.cli.common import job_reason
    from pecsync.engine.outcome import NO_DEST_PASSWORD

    waiting = _job("w@x", JobState.WAITING_CREDENTIALS)
    assert job_reason(waiting).startswith("next step: no password yet")
    no_dst = replace(waiting, error_class=NO_DEST_PASSWORD, error_text="  ")
    assert "--dest-password-stdin" in job_reason(no_dst)
    assert job_reason(replace(waiting, error_text="refused")) == "refused"
    named = replace(waiting, error_text=f"mailbox {waiting.address}: source login refused")
    assert job_reason(named) == "source login refused"  # the line names the mailbox already
    for state in JobState:
        assert job_reason(_job("a@x", state)).strip()
