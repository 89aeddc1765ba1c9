"""A state database written by schema 1 (no ``folder.content_match``) keeps working."""

from __future__ import annotations

import sqlite3
from pathlib import Path

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
    import pytest

    from pecsync.errors import StoreError

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
