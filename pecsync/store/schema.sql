-- pecsync state database.  One file per migration; see README "State and crash safety".
PRAGMA foreign_keys = ON;

CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- A mailbox pair: one source account copied into one destination account.
CREATE TABLE IF NOT EXISTS mailbox (
    id         INTEGER PRIMARY KEY,
    src_user   TEXT NOT NULL UNIQUE,
    dst_user   TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Per folder pair: the high-water mark moves only over a contiguous done prefix of source UIDs.
CREATE TABLE IF NOT EXISTS folder (
    id               INTEGER PRIMARY KEY,
    mailbox_id       INTEGER NOT NULL REFERENCES mailbox(id),
    src_name         TEXT NOT NULL,
    dst_name         TEXT NOT NULL,
    src_uidvalidity  INTEGER,
    dst_uidvalidity  INTEGER,
    high_water       INTEGER NOT NULL DEFAULT 0,  -- every source UID <= this is appended/present/skipped
    src_uidnext_seen INTEGER,                     -- source UIDNEXT when a pass last completed
    updated_at       TEXT NOT NULL,
    UNIQUE (mailbox_id, src_name)
);

-- Per source message.  state: intent (APPEND may or may not have happened), appended (we stored
-- it, dst_uid known or reconciled), present (found on the destination by content), skipped.
CREATE TABLE IF NOT EXISTS message (
    folder_id          INTEGER NOT NULL REFERENCES folder(id),
    src_uidvalidity    INTEGER NOT NULL,
    src_uid            INTEGER NOT NULL,
    size               INTEGER NOT NULL,
    sha256             TEXT NOT NULL,
    message_id         TEXT,
    internaldate       TEXT NOT NULL,
    flags              TEXT NOT NULL,
    state              TEXT NOT NULL CHECK (state IN ('intent', 'appended', 'present', 'skipped')),
    dst_uidvalidity    INTEGER,
    dst_uid            INTEGER,
    dst_uidnext_before INTEGER,
    note               TEXT,
    verified_at        TEXT,
    PRIMARY KEY (folder_id, src_uidvalidity, src_uid)
);
CREATE INDEX IF NOT EXISTS message_state ON message (folder_id, state);
