-- pecsync state database on SQLite (schema_pg.sql is the same for PostgreSQL: change both): the
-- tables of schema 3 (pecsync.store.migrations.BASELINE), created where missing (CREATE ... IF
-- NOT EXISTS).  A new table may be appended here; a change to a
-- table below is a numbered migration in pecsync/store/migrations.py, never an edit of its
-- CREATE TABLE (docs/design/architecture.md §10).
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
    -- 1 from the moment the folder's state is created or reset while the destination folder
    -- already holds messages, until the pass that follows completes: every pass until then,
    -- however often interrupted, is content-matched (README "How a folder is copied").
    -- Databases of schema 1 get it from migration 2 (pecsync.store.migrations).
    content_match    INTEGER NOT NULL DEFAULT 0,
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

-- Bulk migrations: one job per mailbox of the operator's list.  State names are a contract
-- (README "Job states"): waiting_credentials, pending, running, done,
-- blocked_invalid_credentials, blocked_2fa, blocked_credentials_changed,
-- blocked_destination_full, retry_wait, failed.
CREATE TABLE IF NOT EXISTS job (
    id                 INTEGER PRIMARY KEY,
    address            TEXT NOT NULL UNIQUE,
    order_name         TEXT NOT NULL,
    src_user           TEXT NOT NULL,
    dst_user           TEXT NOT NULL,
    state              TEXT NOT NULL,
    phase              TEXT,                    -- login, plan, copy, verify
    attempts           INTEGER NOT NULL DEFAULT 0,
    error_class        TEXT,
    error_text         TEXT,
    next_attempt_at    TEXT,
    messages_copied    INTEGER NOT NULL DEFAULT 0,
    messages_total     INTEGER NOT NULL DEFAULT 0,
    bytes_copied       INTEGER NOT NULL DEFAULT 0,
    bytes_total        INTEGER NOT NULL DEFAULT 0,
    skipped            INTEGER NOT NULL DEFAULT 0,
    lease_owner        TEXT,
    lease_until        TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    started_at         TEXT,
    finished_at        TEXT
);
CREATE INDEX IF NOT EXISTS job_state ON job (state, next_attempt_at);
-- Claiming walks pending jobs in id order: (state, id) needs no sort (1,000s of queued jobs).
CREATE INDEX IF NOT EXISTS job_state_id ON job (state, id);

-- Credential versions, encrypted (pecsync.vault).  logged_in_at tells "never worked" from
-- "worked before" (a changed password or an expired app password).
CREATE TABLE IF NOT EXISTS credential (
    job_id       INTEGER NOT NULL REFERENCES job(id),
    side         TEXT NOT NULL CHECK (side IN ('src', 'dst')),
    version      INTEGER NOT NULL,
    ciphertext   BLOB,
    created_at   TEXT NOT NULL,
    logged_in_at TEXT,
    -- Where this version came from: csv (import), web (the intake page), stdin (retry
    -- --password-stdin); NULL for versions stored before pecsync recorded it.  Databases
    -- without the column get it from migration 3 (pecsync.store.migrations).
    source       TEXT,
    PRIMARY KEY (job_id, side, version)
);

-- The fingerprint of the password each mailbox's CSV row carried at its last import: an
-- HMAC-SHA256 under a key derived from the vault key (pecsync.vault.Vault.fingerprint), never
-- the password.  A re-import replaces the stored password only when this changed, so a
-- password fixed on the web or with `retry --password-stdin` is not undone by re-importing
-- an unchanged list.
CREATE TABLE IF NOT EXISTS credential_import (
    job_id      INTEGER NOT NULL REFERENCES job(id),
    side        TEXT NOT NULL CHECK (side IN ('src', 'dst')),
    fingerprint TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    PRIMARY KEY (job_id, side)
);

-- Web intake (pecsync.web): addresses members typed that are not in the list ("late
-- additions" for the operator: the address and the time, never a password).
CREATE TABLE IF NOT EXISTS intake_request (
    id         INTEGER PRIMARY KEY,
    address    TEXT NOT NULL,
    order_name TEXT,
    at         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS intake_request_address ON intake_request (address);

-- Personal status links (/s/<token>): only the SHA-256 of the token is kept.
CREATE TABLE IF NOT EXISTS intake_token (
    token_hash TEXT PRIMARY KEY,
    job_id     INTEGER NOT NULL REFERENCES job(id),
    created_at TEXT NOT NULL
);

-- Rate limits of the intake page, kept here so a restart does not reset them.  kind:
-- address (checks per member address) or client (submissions per client address).
CREATE TABLE IF NOT EXISTS intake_attempt (
    id   INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    key  TEXT NOT NULL,
    at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS intake_attempt_key ON intake_attempt (kind, key, at);

-- Forms already submitted (the SHA-256 of each form's one-time challenge): a form posted twice
-- is answered without a second LOGIN.
CREATE TABLE IF NOT EXISTS intake_form (
    form_hash TEXT PRIMARY KEY,
    at        TEXT NOT NULL
);

-- What happened to each job, for reports ("since the previous report") and audits.
CREATE TABLE IF NOT EXISTS job_event (
    id        INTEGER PRIMARY KEY,
    job_id    INTEGER NOT NULL REFERENCES job(id),
    at        TEXT NOT NULL,
    event     TEXT NOT NULL,
    state     TEXT NOT NULL,
    detail    TEXT
);
CREATE INDEX IF NOT EXISTS job_event_at ON job_event (at);

-- Reports: what each report saw, so the next one can say what changed since.
CREATE TABLE IF NOT EXISTS report_snapshot (
    id          INTEGER PRIMARY KEY,
    taken_at    TEXT NOT NULL,
    report_date TEXT NOT NULL,
    states      TEXT NOT NULL          -- JSON {address: state}
);

-- Report e-mails: kept until sent, so a failed send is retried by the next `report --send`.
CREATE TABLE IF NOT EXISTS report_delivery (
    id          INTEGER PRIMARY KEY,
    report_date TEXT NOT NULL,
    order_name  TEXT NOT NULL,
    recipients  TEXT NOT NULL,
    payload     BLOB NOT NULL,         -- the complete message (no secrets in it)
    status      TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    updated_at  TEXT NOT NULL,
    UNIQUE (report_date, order_name)
);

-- Fleet-wide [engine] max_connections_per_host: one row per (server, slot number), leased by
-- the process using it (pecsync.engine.fleet), so several processes or hosts sharing this
-- database never hold more connections to one server than the limit, and the slots of a
-- host that died come back when their leases expire.
CREATE TABLE IF NOT EXISTS host_slot (
    server      TEXT NOT NULL,              -- host:port
    slot        INTEGER NOT NULL,
    owner       TEXT,
    lease_until TEXT,
    PRIMARY KEY (server, slot)
);

-- Connection limits learned from servers' refusals (pecsync.sync.limits): the most
-- connections one mailbox may hold on a server, shared by the hosts of one database.
CREATE TABLE IF NOT EXISTS server_limit (
    server          TEXT PRIMARY KEY,       -- host:port
    max_connections INTEGER NOT NULL,
    learned_at      TEXT NOT NULL
);

-- Incremental re-sync (README "Keeping mailboxes in step until the switch"): per folder, what
-- the last flag pass saw at the source.  Flags are in step with the source up to
-- src_highestmodseq (CONDSTORE); NULL: the next pass fetches every message's flags.
CREATE TABLE IF NOT EXISTS folder_sync (
    folder_id         INTEGER PRIMARY KEY REFERENCES folder(id),
    src_highestmodseq INTEGER,
    -- copied messages no longer at the source (counted and reported, never propagated)
    deleted_at_source INTEGER NOT NULL DEFAULT 0,
    -- the source name this folder's state was recorded under before the source renamed it
    renamed_from      TEXT,
    synced_at         TEXT NOT NULL
);

-- Per job: when the last copy or re-sync that ended `done` started (mail up to then is on
-- the destination).  final_sync_done in `status --json` is last_synced_at >= switch_at.
CREATE TABLE IF NOT EXISTS job_sync (
    job_id         INTEGER PRIMARY KEY REFERENCES job(id),
    last_synced_at TEXT NOT NULL
);

-- `pecsync check`: which credential versions a pre-flight login has tried, so the same
-- password is never tried twice by a check (providers lock accounts after failed logins).
CREATE TABLE IF NOT EXISTS credential_check (
    job_id     INTEGER NOT NULL REFERENCES job(id),
    side       TEXT NOT NULL CHECK (side IN ('src', 'dst')),
    version    INTEGER NOT NULL,
    checked_at TEXT NOT NULL,
    result     TEXT NOT NULL,          -- ok, refused, twofa, unreachable
    PRIMARY KEY (job_id, side, version)
);

-- Personal links of invitations and reminders (/i/<token>): only the SHA-256 of the token is
-- kept.  A link opens the member form with the address filled in; it has its own rate limit,
-- so other people's failed tries on the address never lock the member out of it.
CREATE TABLE IF NOT EXISTS member_link (
    token_hash   TEXT PRIMARY KEY,
    address      TEXT NOT NULL,
    order_name   TEXT,
    created_at   TEXT NOT NULL,
    opened_at    TEXT,
    open_count   INTEGER NOT NULL DEFAULT 0,
    submitted_at TEXT
);
CREATE INDEX IF NOT EXISTS member_link_address ON member_link (address);

-- The invitation campaign (pecsync.campaign): one row per member and wave ("invite", or a
-- reminder offset of [campaign] reminders such as "-7d").  UNIQUE(address, wave) makes a wave
-- go once per member even when two processes or hosts enqueue it at once; a sender claims a
-- queued row with a lease (lease_owner/lease_until), so two senders never send one row.
-- state: queued (to send; an SMTP 4xx keeps it queued), sent, failed (an SMTP 5xx: the
-- server's answer in last_answer), cancelled (the member no longer needed to act when its
-- turn came).  token_hash: the personal link (member_link) the sent message carried.
CREATE TABLE IF NOT EXISTS campaign_send (
    id          INTEGER PRIMARY KEY,
    address     TEXT NOT NULL,
    wave        TEXT NOT NULL,
    order_name  TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'failed', 'cancelled')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    recipient   TEXT,
    job_state   TEXT,
    last_answer TEXT,
    token_hash  TEXT,
    lease_owner TEXT,
    lease_until TEXT,
    queued_at   TEXT NOT NULL,
    sent_at     TEXT,
    updated_at  TEXT NOT NULL,
    UNIQUE (address, wave)
);
CREATE INDEX IF NOT EXISTS campaign_send_state ON campaign_send (state, id);

-- Where a member's invitation and reminders go when it is not the PEC address itself: the
-- optional `contact` column of the imported list.
CREATE TABLE IF NOT EXISTS campaign_contact (
    address    TEXT PRIMARY KEY,
    contact    TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- The orders' dashboard (pecsync.web.admin, /admin): accounts made with `pecsync users add`.
-- role: operator (every order) or order (the orders in `orders`, a JSON list of names).
-- password_hash: Argon2id (argon2-cffi's encoded form, salt and parameters included).
CREATE TABLE IF NOT EXISTS admin_user (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('operator', 'order')),
    orders        TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_login_at TEXT
);

-- Dashboard sessions: only the SHA-256 of the cookie's token is kept.
CREATE TABLE IF NOT EXISTS admin_session (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES admin_user(id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

-- Dashboard logins tried are kept in intake_attempt (kinds admin_account, admin_client).

-- What dashboard users did (the audit log): who, what (requeue, invite, check), to which
-- member of which order, when.  user_name is kept as text: removing an account keeps its log.
CREATE TABLE IF NOT EXISTS admin_action (
    id         INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    user_name  TEXT NOT NULL,
    action     TEXT NOT NULL,
    address    TEXT NOT NULL,
    order_name TEXT,
    detail     TEXT
);
CREATE INDEX IF NOT EXISTS admin_action_address ON admin_action (address, action);
