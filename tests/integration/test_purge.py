"""`purge-credentials` erases the stored passwords from every file of the database: the
ciphertext bytes are gone from the database and from its write-ahead log."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import cli_env, run_cli, seed, when, write_config

HEADER = "order,address,source_user,source_password,dest_user,dest_password\n"


def ciphertexts(db: sqlite3.Connection, address: str) -> list[bytes]:
    rows = db.execute("SELECT c.ciphertext FROM credential c JOIN job j ON j.id = c.job_id "
                      "WHERE j.address = ? AND c.ciphertext IS NOT NULL", (address,)).fetchall()
    return [bytes(r[0]) for r in rows]


def file_bytes(path: Path) -> bytes:
    """The database and its -wal and -shm files, as they are on disk."""
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


@pytest.mark.slow  # a purge that meets a reader waits out the 10 s busy timeout, by design
def test_purge_erases_ciphertexts_from_database_and_wal(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    done_user, blocked_user = users.pair("s-done", "d-done"), users.name()
    dovecot_src.add_user(blocked_user, "the-real-one")
    dovecot_dst.add_user(blocked_user, "d-blocked")
    seed(dovecot_src, done_user, "INBOX", [(b"Subject: p\r\n\r\nbody\r\n", (), when(1))])
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + f"O,{done_user},,s-done,,d-done\n"
                            f"O,{blocked_user},,not-it,,d-blocked\n")
    cfg = write_config(tmp_path, dovecot_src, dovecot_dst, master=False)
    env = cli_env(dovecot_src, dovecot_dst)
    path = tmp_path / "state.sqlite3"
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    # An idle reader keeps the WAL file in place between the commands (the last connection
    # to close would checkpoint and delete it): a database with a live WAL, as during a run.
    reader = sqlite3.connect(path)
    try:
        assert reader.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        r = run_cli(["run", "--config", str(cfg)], env)
        assert r.returncode == 1, r.stdout + r.stderr  # one done, one blocked
        done_ct, blocked_ct = ciphertexts(reader, done_user), ciphertexts(reader, blocked_user)
        assert len(done_ct) == 2 and len(blocked_ct) == 2
        assert Path(str(path) + "-wal").exists()
        before = file_bytes(path)
        assert all(ct in before for ct in done_ct + blocked_ct)

        # A reader inside a transaction keeps the WAL from being emptied: said, exit 3.
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM job").fetchone()
        r = run_cli(["purge-credentials", "--config", str(cfg), "--done"], env)
        assert r.returncode == 3, r.stdout + r.stderr
        assert "another process" in r.stderr and "Traceback" not in r.stderr
        reader.execute("COMMIT")

        r = run_cli(["purge-credentials", "--config", str(cfg), "--done"], env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "erased for verified mailboxes" in r.stdout
        after = file_bytes(path)
        for ct in done_ct:
            assert ct not in after, "a purged ciphertext is still in the database files"
        assert all(ct in after for ct in blocked_ct)  # --done keeps the others
        assert ciphertexts(reader, done_user) == [] and ciphertexts(reader, blocked_user)

        r = run_cli(["purge-credentials", "--config", str(cfg)], env)
        assert r.returncode == 0, r.stdout + r.stderr
        after = file_bytes(path)
        for ct in done_ct + blocked_ct:
            assert ct not in after, "a purged ciphertext is still in the database files"
        wal = Path(str(path) + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0  # checkpointed and truncated
    finally:
        reader.close()
    # The database is still whole and usable.
    r = run_cli(["status", "--config", str(cfg), "--json"], env)
    assert r.returncode == 0, r.stderr
    states = {m["address"]: m["state"] for m in json.loads(r.stdout)["mailboxes"]}
    assert states == {done_user: "done", blocked_user: "blocked_invalid_credentials"}
