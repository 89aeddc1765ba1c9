"""``pecsync db copy``: move a migration from the embedded SQLite file to PostgreSQL.

Every table of the SQLite database that the PostgreSQL schema also has is copied whole, in
schema order (parents before children), ids kept: the vault binds each ciphertext to its
row (job id, side, version), so credentials move still encrypted and still open.  Tables
other helpers add to schema.sql are copied too, without a change here.

One PostgreSQL transaction: the target gets everything or nothing.  Then the SQLite file is
marked as moved (``meta.moved_to``), so no ``run`` keeps writing to the old copy by mistake.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import psycopg
from psycopg.rows import dict_row

from pecsync.config import PostgresTarget
from pecsync.errors import StoreError
from pecsync.store.backend import committed
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.postgres_backend import PostgresBackend
from pecsync.store.queries import schema

#: Rows read from SQLite and sent to PostgreSQL at a time (COPY).
CHUNK = 5000


@dataclass
class CopyReport:
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _schema_tables() -> list[str]:
    """Tables in schema.sql's order: referenced tables come first."""
    return re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", schema())


def _moved_to(db: sqlite3.Connection) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = 'moved_to'").fetchone()
    return None if row is None else str(row["value"])


def _check_source(db: sqlite3.Connection, path: Path) -> None:
    moved = _moved_to(db)
    if moved:
        raise StoreError(f"{path}: already copied to {moved}",
                         hint="run against that database ([state] database = its URL)")
    now = datetime.now(UTC).isoformat(timespec="seconds")
    live = db.execute("SELECT address, lease_owner, lease_until FROM job "
                      "WHERE state = 'running' AND lease_until >= ? ORDER BY lease_until DESC",
                      (now,)).fetchall()
    if live:
        first = live[0]
        raise StoreError(f"{path}: {len(live)} mailbox(es) are being copied right now "
                         f"(e.g. {first['address']} by {first['lease_owner']})",
                         hint=f"stop every `pecsync run` on this database first; a run that "
                              f"crashed lets go at {first['lease_until']} at the latest")


async def _target_is_empty(backend: PostgresBackend, url: str) -> None:
    async with backend.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute("SELECT (SELECT COUNT(*) FROM job) + "
                          "(SELECT COUNT(*) FROM mailbox) AS n")
        row = await cur.fetchone()
    if row is not None and int(row["n"]):
        raise StoreError(f"{url}: the target database already holds mailboxes",
                         hint="copy into an empty database (pecsync never merges two "
                              "migrations)")


async def copy_sqlite_to_postgres(source: Path, target: PostgresTarget) -> CopyReport:
    """Copy the migration in *source* (an SQLite state file) into the empty *target*."""
    if not source.is_file():
        raise StoreError(f"{source}: no such state database")
    started = anyio.current_time()
    # Bring the file up to this pecsync's schema first: the columns then match PostgreSQL's.
    async with await CheckpointStore.open(source):
        pass
    db = sqlite3.connect(f"file:{source}?mode=rw", uri=True)
    db.row_factory = sqlite3.Row  # rows read by column name
    report = CopyReport()
    try:
        # A read transaction for the whole copy: one consistent snapshot.
        db.execute("BEGIN")
        _check_source(db, source)
        async with await CheckpointStore.open(target) as store:
            backend = store.backend
            assert isinstance(backend, PostgresBackend)
            await _target_is_empty(backend, target.url)
            present = {str(r["name"]) for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            try:
                async with backend.pool.connection() as conn, conn.transaction():
                    for table in _schema_tables():
                        if table not in present:
                            continue
                        report.rows[table] = await _copy_table(db, conn, table)
            except psycopg.Error as exc:
                raise StoreError(f"{target.url}: copy failed, nothing was written: "
                                 f"{str(exc).splitlines()[0]}") from None
            committed(["copy_tables"])
        db.execute("COMMIT")
        db.execute("INSERT INTO meta (key, value) VALUES ('moved_to', ?) "
                   "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (target.url,))
        db.commit()
        committed(["set_moved_to"])
    finally:
        db.close()
    report.seconds = anyio.current_time() - started
    return report


async def _copy_table(db: sqlite3.Connection, conn: psycopg.AsyncConnection[Any],
                      table: str) -> int:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT column_name, data_type, is_identity FROM information_schema.columns"
                      " WHERE table_schema = current_schema() AND table_name = %s", (table,))
    pg_columns = {str(r["column_name"]): (str(r["data_type"]), r["is_identity"] == "YES")
                  for r in await cur.fetchall()}
    columns = [str(r["name"]) for r in db.execute(f'PRAGMA table_info("{table}")')
               if str(r["name"]) in pg_columns]
    if table == "meta":
        # PostgreSQL has its own schema version; other keys move.
        rows = db.execute("SELECT key, value FROM meta WHERE key NOT IN ('schema', 'moved_to')"
                          ).fetchall()
        for row in rows:
            await cur.execute("INSERT INTO meta (key, value) VALUES (%s, %s) "
                              "ON CONFLICT (key) DO NOTHING", (row["key"], row["value"]))
        return len(rows)
    names = ", ".join(f'"{c}"' for c in columns)
    count = 0
    select = db.execute(f'SELECT {names} FROM "{table}"')
    async with cur.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
        while True:
            chunk = select.fetchmany(CHUNK)
            if not chunk:
                break
            for row in chunk:
                await copy.write_row(tuple(row))  # in the order of *columns*, named above
            count += len(chunk)
    # Identity columns go on after the highest id copied, so new rows never collide.
    for column, (_, identity) in pg_columns.items():
        if identity:
            await cur.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, %s), "
                f'GREATEST((SELECT MAX("{column}") FROM "{table}"), 0) + 1, false)',
                (table, column))
    return count
