"""A state database written by schema 1 (no ``folder.content_match``) keeps working."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pecsync.errors import StoreError
from pecsync.store.checkpoints import SCHEMA_VERSION, CheckpointStore

# The tables of schema 1 that the migration touches, exactly as that version created them.
SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE mailbox (
    id INTEGER PRIMARY KEY, src_user TEXT NOT NULL UNIQUE, dst_user TEXT NOT NULL,
    created_at TEXT NOT NULL);
CREATE TABLE folder (
    id               INTEGER PRIMARY KEY,
    mailbox_id       INTEGER NOT NULL REFERENCES mailbox(id),
    src_name         TEXT NOT NULL,
    dst_name         TEXT NOT NULL,
    src_uidvalidity  INTEGER,
    dst_uidvalidity  INTEGER,
    high_water       INTEGER NOT NULL DEFAULT 0,
    src_uidnext_seen INTEGER,
    updated_at       TEXT NOT NULL,
    UNIQUE (mailbox_id, src_name)
);
INSERT INTO meta VALUES ('schema', '1');
INSERT INTO mailbox VALUES (1, 'a@pec.example.it', 'a@pec.example.it', 'then');
-- "INBOX" completed a pass; "INBOX.Lavoro" was interrupted before its first pass completed.
INSERT INTO folder VALUES (1, 1, 'INBOX', 'INBOX', 11, 21, 40, 41, 'then');
INSERT INTO folder VALUES (2, 1, 'INBOX.Lavoro', 'Lavoro', 12, 22, 3, NULL, 'then');
"""


def _old_database(path: Path) -> None:
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_1)
    db.close()


def _schema_version(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return str(db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0])
    finally:
        db.close()


async def test_schema_1_database_gets_content_match(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    _old_database(path)
    async with await CheckpointStore.open(path) as store:
        done = await store.folder(1, "INBOX")
        interrupted = await store.folder(1, "INBOX.Lavoro")
        assert done is not None and interrupted is not None
        assert (done.high_water, done.src_uidnext_seen, done.content_match) == (40, 41, False)
        # Schema 1 did not say whether the interrupted pass was content-matched: it is now.
        assert (interrupted.high_water, interrupted.content_match) == (3, True)
    assert _schema_version(path) == str(SCHEMA_VERSION) == "3"
    # Opening again changes nothing; a completed pass ends the content-matched one.
    async with await CheckpointStore.open(path) as store:
        interrupted = await store.folder(1, "INBOX.Lavoro")
        assert interrupted is not None and interrupted.content_match
        await store.set_uidnext_seen(interrupted.id, 9)
        after = await store.folder(1, "INBOX.Lavoro")
        assert after is not None and not after.content_match and after.src_uidnext_seen == 9


async def test_content_match_is_kept_until_the_pass_completes(tmp_path: Path) -> None:
    async with await CheckpointStore.open(tmp_path / "new.sqlite3") as store:
        mailbox = await store.mailbox_id("b@pec.example.it", "b@pec.example.it")
        empty = await store.add_folder(mailbox, "INBOX", "INBOX", 1, 2)
        full = await store.add_folder(mailbox, "INBOX.Pieno", "Pieno", 3, 4, content_match=True)
        assert not empty.content_match and full.content_match
        await store.set_uidnext_seen(full.id, 10)
        state = await store.folder(mailbox, "INBOX.Pieno")
        assert state is not None and not state.content_match
        reset = await store.reset_folder(state, "Pieno", 5, 4, forget_messages=True,
                                         content_match=True)
        assert reset.content_match
        assert await store.folder(mailbox, "INBOX.Pieno") == reset
    assert _schema_version(tmp_path / "new.sqlite3") == str(SCHEMA_VERSION)


async def test_a_database_of_a_newer_pecsync_is_refused_not_used(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    async with await CheckpointStore.open(path):
        pass
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(int(SCHEMA_VERSION) + 1),))
    db.commit()
    db.close()
    with pytest.raises(StoreError) as info:
        await CheckpointStore.open(path)
    assert "newer pecsync" in str(info.value) and info.value.hint


# --- numbered migrations (pecsync.store.migrations) -------------------------------------------
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "store"
#: The vault key tests/fixtures/store/make_release_db.py sealed the passwords with.
RELEASE_KEY = bytes(range(1, 33))


def _columns(path: Path) -> dict[str, list[str]]:
    """Every table's columns: ``{"credential": ["ciphertext", …, "version"], …}``.  Sorted:
    ``ALTER TABLE ADD COLUMN`` appends, and rows are read by column name, never position."""
    db = sqlite3.connect(path)
    try:
        tables = [str(r[0]) for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(str(c[1]) for c in db.execute(f'PRAGMA table_info("{t}")'))
                for t in tables}
    finally:
        db.close()


async def test_a_database_of_the_release_upgrades_in_place(tmp_path: Path) -> None:
    """A state file written by the release at 1c4819b (schema 2, made by
    tests/fixtures/store/make_release_db.py with that release's code) opens, is migrated to
    this schema, and everything it recorded reads back: jobs, their credential versions
    (still opening under the same key), folders, messages, re-sync state, intake, reports."""
    import shutil

    from pecsync.model import Secret
    from pecsync.store.intake import IntakeStore
    from pecsync.store.jobs import JobState, JobStore
    from pecsync.store.reporting import ReportStore
    from pecsync.store.syncstate import SyncStore
    from pecsync.vault import Vault

    path = tmp_path / "release.sqlite3"
    shutil.copyfile(FIXTURES / "release-1c4819b.sqlite3", path)
    assert _schema_version(path) == "2"
    async with await CheckpointStore.open(path) as store:
        jobs = JobStore(store, Vault(RELEASE_KEY))
        rossi = await jobs.job("rossi@pec.example.it")
        bianchi = await jobs.job("bianchi@pec.example.it")
        assert rossi is not None and bianchi is not None
        assert (rossi.order, rossi.state, rossi.attempts, rossi.phase) == (
            "ordine-a", JobState.RETRY_WAIT, 1, "copy")
        assert (rossi.error_class, rossi.error_text, rossi.next_attempt_at) == (
            "network", "connection reset", "2026-03-01T11:00:00+00:00")
        assert (rossi.messages_copied, rossi.messages_total, rossi.bytes_copied,
                rossi.bytes_total) == (2, 3, 60, 90)
        assert bianchi.state == JobState.WAITING_CREDENTIALS
        creds = await jobs.credentials(rossi)
        assert creds.src == Secret("src-pw-rossi") and creds.dst == Secret("dst-pw-rossi")
        assert (await jobs.credentials(bianchi)).src == Secret("src-pw-bianchi")
        sources = await jobs.credential_sources()
        assert (sources[(rossi.id, "src")].source, sources[(bianchi.id, "src")].source) == (
            "csv", "stdin")
        mailbox = await store.find_mailbox("rossi@pec.example.it")
        assert mailbox is not None
        inbox, lavoro = await store.folder(mailbox, "INBOX"), await store.folder(mailbox,
                                                                               "INBOX.Lavoro")
        assert inbox is not None and lavoro is not None
        assert (inbox.high_water, inbox.src_uidnext_seen, inbox.content_match) == (2, 3, False)
        assert (lavoro.dst_name, lavoro.content_match) == ("Lavoro", True)
        copies = await store.copied_messages(inbox.id, 1700000000)
        assert [(c.src_uid, c.dst_uid, c.state, c.flags) for c in copies] == [
            (1, 100, "appended", ("\\Seen",)), (2, 101, "appended", ())]
        assert copies[0].verified_at is not None and copies[1].note == "a note"
        assert copies[0].message_id == "<m1@pec.example.it>"
        assert [(i.src_uid, i.dst_uidnext_before) for i in
                await store.open_intents(inbox.id, 1700000000)] == [(3, 100)]
        assert await store.count_copies(lavoro.id, 1700000001) == 1
        assert (await SyncStore(store).folder_syncs(mailbox))[inbox.id].src_highestmodseq == 77
        intake = IntakeStore(store)
        assert [(r.address, r.order, r.count) for r in await intake.requests()] == [
            ("verdi@pec.example.it", "ordine-a", 1)]
        assert await intake.address_of_token("ab" * 32) == "rossi@pec.example.it"
        from datetime import date
        snapshot = await ReportStore(store).last_snapshot(date(2026, 3, 2))
        assert snapshot is not None and snapshot.states == {"rossi@pec.example.it": "retry_wait"}
        # And it goes on working: a new credential version, a new job.
        await jobs.set_password(bianchi, "dst", Secret("dst-pw-bianchi"), "web")
        assert (await jobs.credentials(bianchi)).dst == Secret("dst-pw-bianchi")
    assert _schema_version(path) == str(SCHEMA_VERSION)
    # The migrated file has exactly the tables and columns of a new one.
    async with await CheckpointStore.open(tmp_path / "new.sqlite3"):
        pass
    assert _columns(path) == _columns(tmp_path / "new.sqlite3")


async def test_a_schema_1_database_ends_like_a_new_one(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    _old_database(path)
    async with await CheckpointStore.open(path):
        pass
    async with await CheckpointStore.open(tmp_path / "new.sqlite3"):
        pass
    assert _columns(path) == _columns(tmp_path / "new.sqlite3")


def _with_step_4(monkeypatch: Any, apply: Any) -> None:
    from pecsync.store import migrations

    step = migrations.Migration(4, "test_step", apply)
    known = tuple(m for m in migrations.MIGRATIONS if m.number < 4)
    monkeypatch.setattr(migrations, "MIGRATIONS", (*known, step))
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", 4)


async def _version(store: CheckpointStore) -> str:
    return str((await store.connector._query("get_schema_version"))[0]["value"])


async def test_each_step_is_one_transaction_and_runs_once(state_db: Path | str,
                                                          monkeypatch: Any) -> None:
    """A step that fails leaves nothing of itself (its number included); the next open runs
    it again, and once it has run, never again.  On both backends."""
    from pecsync.store.migrations import MigrationStep

    async with await CheckpointStore.open(state_db) as store:
        assert await _version(store) == "3"
    ran: list[str] = []

    async def failing(step: MigrationStep) -> None:
        await step.execute("set_schema_version", {"version": "99"})
        await step.execute("add_content_match")  # the column exists: this fails
        ran.append(step.dialect)

    _with_step_4(monkeypatch, failing)
    with pytest.raises(StoreError):
        await CheckpointStore.open(state_db)

    async def working(step: MigrationStep) -> None:
        ran.append(step.dialect)

    _with_step_4(monkeypatch, working)
    async with await CheckpointStore.open(state_db) as store:
        assert await _version(store) == "4"  # not 99: the failed step was rolled back
    async with await CheckpointStore.open(state_db) as store:
        assert await _version(store) == "4"
    assert ran == ["sqlite" if isinstance(state_db, Path) else "postgresql"]


async def test_two_processes_opening_an_old_database_migrate_it_once(
        state_db: Path | str, monkeypatch: Any) -> None:
    """Two opens at once (two hosts starting together on PostgreSQL, or `run` and `serve` on
    one SQLite file): the step runs once; the second open waits, then finds it done."""
    import anyio

    from pecsync.store.migrations import MigrationStep

    async with await CheckpointStore.open(state_db):
        pass
    ran: list[int] = []

    async def slow(step: MigrationStep) -> None:
        ran.append(1)
        await anyio.sleep(0.5)

    _with_step_4(monkeypatch, slow)
    versions: list[str] = []

    async def opener() -> None:
        async with await CheckpointStore.open(state_db) as store:
            versions.append(await _version(store))

    async with anyio.create_task_group() as tg:
        tg.start_soon(opener)
        tg.start_soon(opener)
    assert ran == [1] and versions == ["4", "4"]


async def test_a_postgresql_database_without_credential_source_gets_it(pg_url: str) -> None:
    """What releases before 1c4819b left on PostgreSQL: schema 2 without ``credential.source``
    (it was added by probing, with no number)."""
    import psycopg

    async with await CheckpointStore.open(pg_url):
        pass
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await conn.execute("ALTER TABLE credential DROP COLUMN source")
        await conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema'")
    async with await CheckpointStore.open(pg_url) as store:
        assert await _version(store) == "3"
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        cur = await conn.execute("SELECT column_name FROM information_schema.columns "
                                 "WHERE table_name = 'credential' AND column_name = 'source'")
        assert await cur.fetchall() == [("source",)]
