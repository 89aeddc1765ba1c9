"""A state database that goes away is not the mailbox's fault (issue 25).

Two ``pecsync run`` processes share one PostgreSQL; the server is crashed
(``pg_ctl -m immediate``: every connection cut, no shutdown) while both copy a mailbox, and
started again.  Before the "database" retry policy the two mailboxes in flight ended
``failed`` ("write failed: consuming input failed: server closed the connection
unexpectedly") and stayed so.  Now the statements are tried again on new connections, an
attempt whose COMMIT was in doubt goes back to ``retry_wait`` without spending an attempt,
and every mailbox ends ``done`` once, each message copied once.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT, assert_same_content, cli_env, run_cli, seed, when, write_config

HEADER = "order,address,source_user,source_password,dest_user,dest_password\n"


@pytest.fixture
def own_cluster() -> Any:
    """A PostgreSQL cluster of this test alone: it is crashed on purpose.  Durable (fsync,
    synchronous commits, as in production): with ``synchronous_commit = off`` a crash loses
    the last transactions the server had acknowledged, an intent among them, and a message
    whose intent is lost is copied twice — no client can guard against that."""
    from lab.postgres import PostgresCluster, available

    reason = available()
    if reason:
        pytest.skip(reason)
    with PostgresCluster(Path(tempfile.mkdtemp(prefix="pecsync-pgcrash-")),
                         durable=True) as cluster:
        yield cluster


def test_a_postgresql_crash_under_two_runs_fails_no_mailbox(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path,
        own_cluster: Any) -> None:
    import psycopg

    url = own_cluster.create_database("crash")
    names = [users.pair(f"s{i}", f"d{i}") for i in range(4)]
    for user in names:
        seed(dovecot_src, user, "INBOX",
             [(b"Subject: %s %d\r\nMessage-ID: <%s.%d@t>\r\n\r\n%s\r\n"
               % (user.encode(), i, user.encode(), i, b"z" * 500), (), when(i))
              for i in range(400)])
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + "".join(f"Ordine,{u},,s{i},,d{i}\n" for i, u in enumerate(names)))
    # One message per batch: a transaction per message, so the crash finds writes in flight.
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False, database=url,
                       engine={"workers": 1, "batch_max_messages": 1, "verify": True,
                               "retry_initial_seconds": 1, "retry_max_seconds": 2})
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    procs = [subprocess.Popen([sys.executable, "-m", "pecsync", "run", "--config", str(cfg)],
                              env=env, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        outs = _crash_and_restart_under(procs, url, own_cluster)
    finally:
        for p in procs:
            if p.poll() is None:  # a run that hung: end it (this test's own processes)
                p.kill()
                p.communicate()
    logs = "".join(err for _, err in outs)
    (tmp_path / "runs.log").write_text(logs)  # for a failure's post-mortem
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, out + err[-3000:]
    assert "state_database_lost_retrying" in logs  # the crash did hit the runs' writes
    assert "server closed the connection" not in "".join(out for out, _ in outs)
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT address, state, attempts FROM job").fetchall()
        done_events = dict(conn.execute(
            "SELECT j.address, COUNT(*) FROM job_event e JOIN job j ON j.id = e.job_id "
            "WHERE e.state = 'done' GROUP BY j.address").fetchall())
        failed_events = conn.execute("SELECT COUNT(*) FROM job_event WHERE state = 'failed'"
                                     ).fetchone()
    assert {r[1] for r in rows} == {"done"}, rows
    assert {r[2] for r in rows} == {1}, rows  # no attempt spent on the database's crash
    assert done_events == {u: 1 for u in names}  # reported once each
    assert failed_events == (0,)
    for user in names:
        assert_same_content(dovecot_src, dovecot_dst, user)


def _crash_and_restart_under(procs: list[subprocess.Popen[str]], url: str,
                             cluster: Any) -> list[tuple[str, str]]:
    """Crash the server once each run holds a mailbox in its copy phase (its progress count
    is written every few seconds only, too rarely to wait for: a mailbox of 400 one-message
    batches is still copying when both are seen), start it again 2 s later,
    and wait for the runs to end: their (stdout, stderr)."""
    import psycopg

    crashed_during: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            copying = [str(r[0]) for r in conn.execute(
                "SELECT address FROM job WHERE state = 'running' AND phase = 'copy'"
                ).fetchall()]
            if len(copying) == 2:  # each run holds a mailbox mid-copy
                crashed_during = copying
                break
            time.sleep(0.05)
    assert crashed_during, "the two runs never copied at the same time"
    cluster.crash()
    time.sleep(2)  # down for a while: statements in flight fail, new connections too
    cluster.resume()
    return [p.communicate(timeout=240) for p in procs]
