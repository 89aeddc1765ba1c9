-- Every SQL statement pecsync runs, named, in PostgreSQL's dialect: the same names as
-- queries.sql (SQLite's dialect), each written out for PostgreSQL (psycopg parameters
-- %(name)s, bound client-side; a literal % is written %%).  Python calls them by name
-- (pecsync.store.queries); tests/unit/test_store_dialect.py checks both files hold the same
-- names and plans every statement here on a real PostgreSQL.
--
-- A statement may be several, separated by ";" (run in order, in one transaction, each with a
-- fresh snapshot; the last one's rows are returned): e.g. an advisory lock, then the
-- check-then-insert it serializes (two PostgreSQL transactions would both pass the check).

-- name: upsert_mailbox
INSERT INTO mailbox (src_user, dst_user, created_at) VALUES (%(src_user)s, %(dst_user)s, %(now)s)
ON CONFLICT (src_user) DO UPDATE SET dst_user = excluded.dst_user;

-- name: get_mailbox_id
SELECT id FROM mailbox WHERE src_user = %(src_user)s;

-- name: get_folder
SELECT id, src_name, dst_name, src_uidvalidity, dst_uidvalidity, high_water, src_uidnext_seen,
       content_match
FROM folder WHERE mailbox_id = %(mailbox_id)s AND src_name = %(src_name)s;

-- name: list_folders
SELECT id, src_name, dst_name, src_uidvalidity, dst_uidvalidity, high_water, src_uidnext_seen,
       content_match
FROM folder WHERE mailbox_id = %(mailbox_id)s ORDER BY src_name;

-- name: insert_folder
INSERT INTO folder (mailbox_id, src_name, dst_name, src_uidvalidity, dst_uidvalidity,
                    content_match, updated_at)
VALUES (%(mailbox_id)s, %(src_name)s, %(dst_name)s, %(src_uidvalidity)s, %(dst_uidvalidity)s, %(content_match)s,
        %(now)s);

-- name: reset_folder
-- A UIDVALIDITY change: the old UIDs mean nothing any more.  Old rows stay as history of the
-- previous UIDVALIDITY (they never match the new one); the high-water mark starts again.
UPDATE folder SET src_uidvalidity = %(src_uidvalidity)s, dst_uidvalidity = %(dst_uidvalidity)s,
       dst_name = %(dst_name)s, high_water = 0, src_uidnext_seen = NULL,
       content_match = %(content_match)s, updated_at = %(now)s
WHERE id = %(folder_id)s;

-- name: forget_folder_messages
DELETE FROM message WHERE folder_id = %(folder_id)s;

-- name: set_high_water
UPDATE folder SET high_water = GREATEST(high_water, %(high_water)s), updated_at = %(now)s
WHERE id = %(folder_id)s;

-- name: set_uidnext_seen
-- A pass completed: every source message it listed is appended, present or skipped, so the
-- content-matched pass (if one was needed) is over.
UPDATE folder SET src_uidnext_seen = %(uidnext)s, content_match = 0, updated_at = %(now)s
WHERE id = %(folder_id)s;

-- name: folder_columns
SELECT column_name AS name FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = 'folder';

-- name: add_content_match
-- BIGINT like every integer column of schema_pg.sql (the translator left it INTEGER).
ALTER TABLE folder ADD COLUMN content_match BIGINT NOT NULL DEFAULT 0;

-- name: content_match_unfinished
-- Schema 1 did not record whether a pass had to be content-matched: a folder whose pass never
-- completed may be in the middle of one (a content-matched pass where none was needed costs
-- hashing the unclaimed destination messages; a missing one duplicates the folder).
UPDATE folder SET content_match = 1 WHERE src_uidnext_seen IS NULL;

-- name: set_schema_version
UPDATE meta SET value = %(version)s WHERE key = 'schema';

-- name: insert_message
INSERT INTO message (folder_id, src_uidvalidity, src_uid, size, sha256, message_id, internaldate,
                     flags, state, dst_uidvalidity, dst_uid, dst_uidnext_before, note)
VALUES (%(folder_id)s, %(src_uidvalidity)s, %(src_uid)s, %(size)s, %(sha256)s, %(message_id)s, %(internaldate)s,
        %(flags)s, %(state)s, %(dst_uidvalidity)s, %(dst_uid)s, %(dst_uidnext_before)s, %(note)s)
ON CONFLICT (folder_id, src_uidvalidity, src_uid) DO UPDATE SET
    size = excluded.size, sha256 = excluded.sha256, message_id = excluded.message_id,
    internaldate = excluded.internaldate, flags = excluded.flags, state = excluded.state,
    dst_uidvalidity = excluded.dst_uidvalidity, dst_uid = excluded.dst_uid,
    dst_uidnext_before = excluded.dst_uidnext_before, note = excluded.note, verified_at = NULL;

-- name: mark_appended
UPDATE message SET state = 'appended', dst_uidvalidity = %(dst_uidvalidity)s, dst_uid = %(dst_uid)s
WHERE folder_id = %(folder_id)s AND src_uidvalidity = %(src_uidvalidity)s AND src_uid = %(src_uid)s;

-- name: drop_intent
DELETE FROM message
WHERE folder_id = %(folder_id)s AND src_uidvalidity = %(src_uidvalidity)s AND src_uid = %(src_uid)s
  AND state = 'intent';

-- name: open_intents
SELECT src_uid, size, sha256, dst_uidnext_before FROM message
WHERE folder_id = %(folder_id)s AND src_uidvalidity = %(src_uidvalidity)s AND state = 'intent'
ORDER BY src_uid;

-- name: done_uids_above
SELECT src_uid FROM message
WHERE folder_id = %(folder_id)s AND src_uidvalidity = %(src_uidvalidity)s AND src_uid > %(above)s
  AND state IN ('appended', 'present', 'skipped');

-- name: claimed_dst_uids
SELECT dst_uid FROM message
WHERE folder_id = %(folder_id)s AND dst_uidvalidity = %(dst_uidvalidity)s AND dst_uid IS NOT NULL
  AND state IN ('appended', 'present');

-- name: copied_messages
SELECT src_uid, size, sha256, internaldate, flags, dst_uid, verified_at, state, note, message_id
FROM message
WHERE folder_id = %(folder_id)s AND src_uidvalidity = %(src_uidvalidity)s
  AND state IN ('appended', 'present', 'skipped')
ORDER BY src_uid;

-- name: unverified_copies_above
-- Copies recorded above a source UID and not yet verified, with their destination UID: what a
-- lane helping with a folder's verification checks next (pecsync.sync.copier.help_verify).
SELECT src_uid, size, sha256, internaldate, flags, dst_uid, verified_at, state, note, message_id
FROM message
WHERE folder_id = %(folder_id)s AND src_uidvalidity = %(src_uidvalidity)s AND src_uid > %(above)s
  AND state IN ('appended', 'present') AND verified_at IS NULL AND dst_uid IS NOT NULL
ORDER BY src_uid;

-- name: mark_verified
UPDATE message SET verified_at = %(now)s
WHERE folder_id = %(folder_id)s AND src_uidvalidity = %(src_uidvalidity)s AND src_uid = %(src_uid)s;

-- name: clear_verified
UPDATE message SET verified_at = NULL
WHERE folder_id = %(folder_id)s AND src_uidvalidity = %(src_uidvalidity)s AND src_uid = %(src_uid)s;

-- name: set_message_note
UPDATE message SET note = %(note)s
WHERE folder_id = %(folder_id)s AND src_uidvalidity = %(src_uidvalidity)s AND src_uid = %(src_uid)s;

-- name: count_copies
SELECT COUNT(*) FROM message
WHERE folder_id = %(folder_id)s AND src_uidvalidity = %(src_uidvalidity)s
  AND state IN ('appended', 'present');

-- name: count_unverified
SELECT COUNT(*) FROM message
WHERE folder_id = %(folder_id)s AND src_uidvalidity = %(src_uidvalidity)s
  AND state IN ('appended', 'present') AND verified_at IS NULL;

-- name: job_by_address
SELECT id, address, order_name, src_user, dst_user, state, phase, attempts, error_class,
       error_text, next_attempt_at, messages_copied, messages_total, bytes_copied, bytes_total,
       skipped, updated_at, started_at, finished_at
FROM job WHERE address = %(address)s;

-- name: list_jobs
SELECT id, address, order_name, src_user, dst_user, state, phase, attempts, error_class,
       error_text, next_attempt_at, messages_copied, messages_total, bytes_copied, bytes_total,
       skipped, updated_at, started_at, finished_at
FROM job WHERE (%(order_name)s IS NULL OR order_name = %(order_name)s) ORDER BY order_name, address;

-- name: insert_job
INSERT INTO job (address, order_name, src_user, dst_user, state, created_at, updated_at)
VALUES (%(address)s, %(order_name)s, %(src_user)s, %(dst_user)s, %(state)s, %(now)s, %(now)s);

-- name: update_job_identity
UPDATE job SET order_name = %(order_name)s, src_user = %(src_user)s, dst_user = %(dst_user)s,
       updated_at = %(now)s
WHERE id = %(id)s;

-- name: latest_credential
SELECT version, ciphertext, logged_in_at, source FROM credential
WHERE job_id = %(job_id)s AND side = %(side)s ORDER BY version DESC LIMIT 1;

-- name: insert_credential
INSERT INTO credential (job_id, side, version, ciphertext, created_at, source)
VALUES (%(job_id)s, %(side)s, %(version)s, %(ciphertext)s, %(now)s, %(source)s);

-- name: credential_columns
SELECT column_name AS name FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = 'credential';

-- name: add_credential_source
ALTER TABLE credential ADD COLUMN source TEXT;

-- name: current_credential_sources
-- The latest version of each mailbox's credential per side.  One pass over the primary key
-- (job_id, side, version): the correlated MAX of queries.sql took 0.2 s for 10,000 jobs here.
SELECT DISTINCT ON (c.job_id, c.side) c.job_id, c.side, c.source, c.created_at
FROM credential c ORDER BY c.job_id, c.side, c.version DESC;

-- name: csv_fingerprint
SELECT fingerprint FROM credential_import WHERE job_id = %(job_id)s AND side = %(side)s;

-- name: set_csv_fingerprint
INSERT INTO credential_import (job_id, side, fingerprint, imported_at)
VALUES (%(job_id)s, %(side)s, %(fingerprint)s, %(now)s)
ON CONFLICT (job_id, side) DO UPDATE SET fingerprint = excluded.fingerprint,
                                         imported_at = excluded.imported_at;

-- name: forget_csv_fingerprints
-- After rotate-key the fingerprints (keyed by the old key) mean nothing; the next import
-- records new ones without replacing a password that came from the web or stdin.
DELETE FROM credential_import;

-- name: requeue_after_intake
-- A password checked by one LOGIN arrived (web intake, retry --password-stdin): a job
-- waiting for it or blocked on credentials runs again; done, running and the others stay.
UPDATE job SET state = 'pending', error_class = NULL, error_text = NULL, next_attempt_at = NULL,
       attempts = 0, updated_at = %(now)s
WHERE id = %(id)s AND state IN ('waiting_credentials', 'blocked_invalid_credentials',
                             'blocked_2fa', 'blocked_credentials_changed');

-- name: insert_intake_request
INSERT INTO intake_request (address, order_name, at) VALUES (%(address)s, %(order_name)s, %(now)s);

-- name: intake_requests
-- Addresses asked for on the intake page that are not in the list, one row per address.
SELECT r.address, MAX(r.order_name) AS order_name, COUNT(*) AS count, MIN(r.at) AS first_at,
       MAX(r.at) AS last_at
FROM intake_request r
WHERE NOT EXISTS (SELECT 1 FROM job j WHERE j.address = r.address)
GROUP BY r.address ORDER BY MIN(r.at);

-- name: insert_intake_token
INSERT INTO intake_token (token_hash, job_id, created_at) VALUES (%(token_hash)s, %(job_id)s, %(now)s);

-- name: job_of_intake_token
SELECT j.address FROM intake_token t JOIN job j ON j.id = t.job_id
WHERE t.token_hash = %(token_hash)s;

-- name: prune_intake_attempts
-- Per kind: each limit prunes with its own window (the member page's, the dashboard's).
DELETE FROM intake_attempt WHERE kind = %(kind)s AND at < %(before)s;

-- name: clear_intake_slots
DELETE FROM intake_attempt WHERE kind = %(kind)s AND key = %(key)s;

-- name: take_intake_slot
-- The count and the insert are one step on SQLite (its write lock); here concurrent
-- submissions for one key are serialized by an advisory lock taken first, so the count
-- (a statement of its own, with its own snapshot) sees every slot taken before.
SELECT pg_advisory_xact_lock(hashtext(%(kind)s || ':' || %(key)s));
INSERT INTO intake_attempt (kind, key, at)
SELECT %(kind)s, %(key)s, %(now)s
WHERE (SELECT COUNT(*) FROM intake_attempt
       WHERE kind = %(kind)s AND key = %(key)s AND at > %(since)s) < %(limit)s
RETURNING id;

-- name: oldest_intake_slot
SELECT MIN(at) FROM intake_attempt WHERE kind = %(kind)s AND key = %(key)s AND at > %(since)s;

-- name: use_intake_form
INSERT INTO intake_form (form_hash, at) VALUES (%(form_hash)s, %(now)s)
ON CONFLICT (form_hash) DO NOTHING
RETURNING form_hash;

-- name: prune_intake_forms
DELETE FROM intake_form WHERE at < %(before)s;

-- name: mark_logged_in
UPDATE credential SET logged_in_at = COALESCE(logged_in_at, %(now)s)
WHERE job_id = %(job_id)s AND side = %(side)s AND version = %(version)s;

-- name: set_job_state
-- A job this process claimed (:owner) is only written while it still holds the lease: after a
-- stall past the lease another process may own the job, and its row is not ours to end.
UPDATE job SET state = %(state)s, error_class = %(error_class)s, error_text = %(error_text)s,
       next_attempt_at = %(next_attempt_at)s, updated_at = %(now)s,
       finished_at = CASE WHEN %(state)s = 'done' THEN %(now)s ELSE finished_at END,
       lease_owner = NULL, lease_until = NULL
WHERE id = %(id)s AND (%(owner)s IS NULL OR (lease_owner = %(owner)s AND state = 'running'));

-- name: insert_job_event_if_changed
-- SQLite asks changes(); here the backend passes the previous statement's row count as
-- %(_changes)s (pecsync.store.postgres_backend).
INSERT INTO job_event (job_id, at, event, state, detail)
SELECT %(job_id)s, %(now)s, %(event)s, %(state)s, %(detail)s WHERE %(_changes)s > 0
RETURNING job_id;

-- name: requeue_job
-- New credentials arrived: a job blocked on credentials (or waiting for them) runs again.
UPDATE job SET state = 'pending', error_class = NULL, error_text = NULL, next_attempt_at = NULL,
       attempts = 0, updated_at = %(now)s
WHERE id = %(id)s AND state IN ('waiting_credentials', 'blocked_invalid_credentials',
                             'blocked_2fa', 'blocked_credentials_changed', 'failed');

-- name: recover_stale_jobs
-- Jobs a crashed or killed run left "running": their checkpoints are safe, run them again.
UPDATE job SET state = 'pending', lease_owner = NULL, lease_until = NULL, updated_at = %(now)s
WHERE state = 'running' AND (lease_until IS NULL OR lease_until < %(now)s);

-- name: claim_next_job
-- FOR UPDATE SKIP LOCKED: workers of every host claim at once without waiting on each other;
-- a row another transaction is claiming is skipped, never claimed twice.
WITH pending AS (
    SELECT id FROM job
    WHERE state = 'pending' AND (%(order_name)s IS NULL OR order_name = %(order_name)s)
    ORDER BY id LIMIT 1
    FOR UPDATE SKIP LOCKED
), due AS (
    SELECT id FROM job
    WHERE state = 'retry_wait' AND next_attempt_at <= %(now)s
      AND (%(order_name)s IS NULL OR order_name = %(order_name)s)
      AND NOT EXISTS (SELECT 1 FROM pending)
    ORDER BY id LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE job SET state = 'running', attempts = attempts + 1, lease_owner = %(owner)s,
       lease_until = %(lease_until)s, started_at = COALESCE(started_at, %(now)s),
       updated_at = %(now)s, phase = 'login'
WHERE id = COALESCE((SELECT id FROM pending), (SELECT id FROM due))
RETURNING id, address, order_name, src_user, dst_user, state, phase, attempts, error_class,
          error_text, next_attempt_at, messages_copied, messages_total, bytes_copied, bytes_total,
          skipped, updated_at, started_at, finished_at;

-- name: claim_job
-- `retry`: a job in any state, except one another process is running (its lease is alive).
-- The check is part of the UPDATE, so two processes never both take the job; a lease left by
-- a crashed process has expired and no longer counts (the same rule as recover_stale_jobs).
UPDATE job SET state = 'running', attempts = attempts + 1, lease_owner = %(owner)s,
       lease_until = %(lease_until)s, started_at = COALESCE(started_at, %(now)s), updated_at = %(now)s,
       phase = 'login'
WHERE id = %(id)s AND (state != 'running' OR lease_until IS NULL OR lease_until < %(now)s)
RETURNING id, address, order_name, src_user, dst_user, state, phase, attempts, error_class,
          error_text, next_attempt_at, messages_copied, messages_total, bytes_copied, bytes_total,
          skipped, updated_at, started_at, finished_at;

-- name: job_lease
SELECT lease_owner, lease_until FROM job WHERE id = %(id)s;

-- name: next_wakeup
SELECT MIN(next_attempt_at) FROM job
WHERE state = 'retry_wait' AND (%(order_name)s IS NULL OR order_name = %(order_name)s);

-- name: set_job_phase
UPDATE job SET phase = %(phase)s, updated_at = %(now)s, lease_until = %(lease_until)s
WHERE id = %(id)s AND (%(owner)s IS NULL OR (lease_owner = %(owner)s AND state = 'running'))
RETURNING id;

-- name: set_job_progress
UPDATE job SET messages_copied = %(messages_copied)s, messages_total = %(messages_total)s,
       bytes_copied = %(bytes_copied)s, bytes_total = %(bytes_total)s, skipped = %(skipped)s,
       phase = COALESCE(%(phase)s, phase), updated_at = %(now)s, lease_until = %(lease_until)s
WHERE id = %(id)s AND (%(owner)s IS NULL OR (lease_owner = %(owner)s AND state = 'running'))
RETURNING id;

-- name: insert_job_event
INSERT INTO job_event (job_id, at, event, state, detail) VALUES (%(job_id)s, %(now)s, %(event)s, %(state)s,
                                                                 %(detail)s);

-- name: purge_credentials_of_done
UPDATE credential SET ciphertext = NULL
WHERE ciphertext IS NOT NULL AND job_id IN (SELECT id FROM job WHERE state = 'done');

-- name: purge_all_credentials
UPDATE credential SET ciphertext = NULL WHERE ciphertext IS NOT NULL;

-- name: all_credentials
SELECT job_id, side, version, ciphertext FROM credential WHERE ciphertext IS NOT NULL;

-- name: replace_ciphertext
UPDATE credential SET ciphertext = %(ciphertext)s
WHERE job_id = %(job_id)s AND side = %(side)s AND version = %(version)s;

-- name: purge_credentials_of_job
UPDATE credential SET ciphertext = NULL WHERE job_id = %(job_id)s AND ciphertext IS NOT NULL;

-- name: first_done_times
SELECT j.address, MIN(e.at) AS done_at FROM job_event e JOIN job j ON j.id = e.job_id
WHERE e.state = 'done' GROUP BY j.address;

-- name: first_event_time
SELECT MIN(at) FROM job_event WHERE event IN ('finished', 'stopped');

-- name: last_snapshot
SELECT report_date, states FROM report_snapshot
WHERE report_date < %(report_date)s ORDER BY report_date DESC, id DESC LIMIT 1;

-- name: insert_snapshot
INSERT INTO report_snapshot (taken_at, report_date, states) VALUES (%(now)s, %(report_date)s, %(states)s);

-- name: upsert_delivery
INSERT INTO report_delivery (report_date, order_name, recipients, payload, status, updated_at)
VALUES (%(report_date)s, %(order_name)s, %(recipients)s, %(payload)s, 'pending', %(now)s)
ON CONFLICT (report_date, order_name) DO UPDATE SET
    recipients = excluded.recipients, payload = excluded.payload, updated_at = excluded.updated_at,
    status = CASE WHEN report_delivery.status = 'sent' THEN 'sent' ELSE 'pending' END;

-- name: unsent_deliveries
SELECT id, report_date, order_name, recipients, payload, attempts FROM report_delivery
WHERE status != 'sent' ORDER BY report_date, order_name;

-- name: mark_delivery
UPDATE report_delivery SET status = %(status)s, attempts = attempts + 1, last_error = %(last_error)s,
       updated_at = %(now)s
WHERE id = %(id)s;

-- name: mailbox_messages
SELECT f.src_name, f.dst_name, f.src_uidvalidity, f.dst_uidvalidity, m.src_uid, m.size,
       m.sha256, m.message_id, m.dst_uid, m.state, m.note, m.verified_at
FROM folder f JOIN message m ON m.folder_id = f.id AND m.src_uidvalidity = f.src_uidvalidity
WHERE f.mailbox_id = %(mailbox_id)s
ORDER BY f.src_name, m.src_uid;

-- name: get_schema_version
SELECT value FROM meta WHERE key = 'schema';

-- name: count_running
SELECT COUNT(*) FROM job
WHERE state = 'running' AND (%(order_name)s IS NULL OR order_name = %(order_name)s);

-- name: meta_value
SELECT value FROM meta WHERE key = %(key)s;

-- name: ensure_host_slot
INSERT INTO host_slot (server, slot) VALUES (%(server)s, %(slot)s)
ON CONFLICT DO NOTHING;

-- name: take_host_slot
-- A free slot (never held, released, or its holder's lease expired) now ours.  The outer
-- condition is checked again on the row itself: two processes racing for one slot, one wins.
UPDATE host_slot SET owner = %(owner)s, lease_until = %(lease_until)s
WHERE server = %(server)s AND (owner IS NULL OR lease_until < %(now)s)
  AND slot = (SELECT slot FROM host_slot
              WHERE server = %(server)s AND slot < %(limit)s
                AND (owner IS NULL OR lease_until < %(now)s)
              ORDER BY slot LIMIT 1)
RETURNING slot;

-- name: renew_host_slots
-- Every slot still ours (a stalled process may have lost some), renewed.
UPDATE host_slot SET lease_until = %(lease_until)s
WHERE owner = %(owner)s AND lease_until >= %(now)s
RETURNING server, slot;

-- name: release_host_slot
UPDATE host_slot SET owner = NULL, lease_until = NULL
WHERE owner = %(owner)s AND server = %(server)s AND slot = %(slot)s;

-- name: release_all_host_slots
-- --- connection limits learned from refusals (pecsync.store.limits) ----------------------
UPDATE host_slot SET owner = NULL, lease_until = NULL WHERE owner = %(owner)s;

-- name: list_server_limits
SELECT server, max_connections FROM server_limit;

-- name: learn_server_limit
-- The lower limit wins (two hosts learning at once, or a limit lowered by the provider).
-- --- incremental re-sync (pecsync.store.syncstate) ----------------------------------------
INSERT INTO server_limit (server, max_connections, learned_at)
VALUES (%(server)s, %(max_connections)s, %(now)s)
ON CONFLICT (server) DO UPDATE SET
    max_connections = CASE WHEN excluded.max_connections < server_limit.max_connections
                           THEN excluded.max_connections ELSE server_limit.max_connections END,
    learned_at = excluded.learned_at;

-- name: get_folder_sync
SELECT src_highestmodseq, deleted_at_source, renamed_from FROM folder_sync
WHERE folder_id = %(folder_id)s;

-- name: list_folder_sync
SELECT s.folder_id, s.src_highestmodseq, s.deleted_at_source, s.renamed_from
FROM folder_sync s JOIN folder f ON f.id = s.folder_id WHERE f.mailbox_id = %(mailbox_id)s;

-- name: upsert_folder_sync
INSERT INTO folder_sync (folder_id, src_highestmodseq, deleted_at_source, synced_at)
VALUES (%(folder_id)s, %(modseq)s, %(deleted)s, %(now)s)
ON CONFLICT (folder_id) DO UPDATE SET src_highestmodseq = excluded.src_highestmodseq,
    deleted_at_source = excluded.deleted_at_source, synced_at = excluded.synced_at;

-- name: set_folder_flags_baseline
-- With insert_folder: the source HIGHESTMODSEQ the new folder's recorded flags will be at
-- least as recent as (the round's LIST-STATUS, read before any of them; NULL: unknown, the
-- next flag pass reads every flag).  A reset folder gets its baseline by upsert_folder_sync.
INSERT INTO folder_sync (folder_id, src_highestmodseq, deleted_at_source, synced_at)
SELECT id, %(modseq)s, 0, %(now)s FROM folder WHERE mailbox_id = %(mailbox_id)s AND src_name = %(src_name)s
ON CONFLICT (folder_id) DO UPDATE SET src_highestmodseq = excluded.src_highestmodseq,
    deleted_at_source = 0, synced_at = excluded.synced_at;

-- name: set_folder_deleted
INSERT INTO folder_sync (folder_id, src_highestmodseq, deleted_at_source, synced_at)
VALUES (%(folder_id)s, NULL, %(deleted)s, %(now)s)
ON CONFLICT (folder_id) DO UPDATE SET deleted_at_source = excluded.deleted_at_source,
    synced_at = excluded.synced_at;

-- name: adopt_renamed_folder
-- The source renamed the folder (same UIDVALIDITY under a new name): its state follows it,
-- so its messages are not copied a second time into a new destination folder.
UPDATE folder SET src_name = %(src_name)s, updated_at = %(now)s WHERE id = %(folder_id)s;

-- name: mark_folder_renamed
INSERT INTO folder_sync (folder_id, src_highestmodseq, deleted_at_source, renamed_from, synced_at)
VALUES (%(folder_id)s, NULL, 0, %(renamed_from)s, %(now)s)
ON CONFLICT (folder_id) DO UPDATE SET renamed_from = COALESCE(folder_sync.renamed_from,
                                                              excluded.renamed_from),
    synced_at = excluded.synced_at;

-- name: set_message_flags
-- What pecsync last wrote at the destination (the three-way base of the next flag pass).
UPDATE message SET flags = %(flags)s
WHERE folder_id = %(folder_id)s AND src_uidvalidity = %(src_uidvalidity)s AND src_uid = %(src_uid)s;

-- name: count_folder_copies
SELECT COUNT(*) FROM message
WHERE folder_id = %(folder_id)s AND src_uidvalidity = %(src_uidvalidity)s
  AND state IN ('appended', 'present');

-- name: set_last_synced
-- In the transaction that ends the job `done`, before set_job_state and guarded like it (a
-- separate write would let another worker claim the job for a re-sync in between).
INSERT INTO job_sync (job_id, last_synced_at)
SELECT %(id)s, %(synced_at)s WHERE EXISTS (
    SELECT 1 FROM job WHERE id = %(id)s
      AND (%(owner)s IS NULL OR (lease_owner = %(owner)s AND state = 'running')))
ON CONFLICT (job_id) DO UPDATE SET
    last_synced_at = GREATEST(job_sync.last_synced_at, excluded.last_synced_at);

-- name: list_job_sync
SELECT j.address, s.last_synced_at,
       (SELECT COALESCE(SUM(fs.deleted_at_source), 0)
        FROM mailbox m JOIN folder f ON f.mailbox_id = m.id
        JOIN folder_sync fs ON fs.folder_id = f.id
        WHERE m.src_user = j.src_user) AS deleted_at_source
FROM job j LEFT JOIN job_sync s ON s.job_id = j.id
WHERE (%(order_name)s IS NULL OR j.order_name = %(order_name)s);

-- name: claim_resync_job
-- A `done` mailbox whose last sync started before :before runs again (running, then back to
-- done): the oldest sync first.  One statement, like claim_next_job.
UPDATE job SET state = 'running', attempts = 1, lease_owner = %(owner)s,
       lease_until = %(lease_until)s, updated_at = %(now)s, phase = 'login'
WHERE id = (SELECT j.id FROM job j LEFT JOIN job_sync s ON s.job_id = j.id
            WHERE j.state = 'done' AND (%(order_name)s IS NULL OR j.order_name = %(order_name)s)
              AND (s.last_synced_at IS NULL OR s.last_synced_at < %(before)s)
            ORDER BY s.last_synced_at IS NOT NULL, s.last_synced_at, j.id LIMIT 1)
  AND state = 'done'
RETURNING id, address, order_name, src_user, dst_user, state, phase, attempts, error_class,
          error_text, next_attempt_at, messages_copied, messages_total, bytes_copied, bytes_total,
          skipped, updated_at, started_at, finished_at;

-- name: count_folder_rows
SELECT COUNT(*) FROM message
WHERE folder_id = %(folder_id)s AND src_uidvalidity = %(src_uidvalidity)s
  AND state IN ('appended', 'present', 'skipped');

-- name: copied_uids
SELECT src_uid FROM message
WHERE folder_id = %(folder_id)s AND src_uidvalidity = %(src_uidvalidity)s
  AND state IN ('appended', 'present');

-- name: copies_by_uid
-- :uids is a JSON list of numbers (SQLite reads it with json_each).
SELECT src_uid, size, sha256, internaldate, flags, dst_uid, verified_at, state, note, message_id
FROM message
WHERE folder_id = %(folder_id)s AND src_uidvalidity = %(src_uidvalidity)s
  AND state IN ('appended', 'present')
  AND src_uid IN (SELECT value::bigint FROM jsonb_array_elements_text(%(uids)s::jsonb))
ORDER BY src_uid;

-- name: restore_job
-- The circuit breaker tripped (many mailboxes in a row refused at one server: the
-- configuration, not their passwords): the job goes back to what it was before its claim,
-- attempt count included.  Only a job this run ended and nobody has claimed since.
UPDATE job SET state = %(state)s, attempts = %(attempts)s, error_class = %(error_class)s,
       error_text = %(error_text)s, next_attempt_at = %(next_attempt_at)s, updated_at = %(now)s,
       lease_owner = NULL, lease_until = NULL
WHERE id = %(id)s AND lease_owner IS NULL
  AND state IN ('blocked_invalid_credentials', 'blocked_2fa', 'blocked_credentials_changed',
                'retry_wait', 'failed');

-- name: credential_checked
SELECT result FROM credential_check WHERE job_id = %(job_id)s AND side = %(side)s AND version = %(version)s;

-- name: record_credential_check
INSERT INTO credential_check (job_id, side, version, checked_at, result)
VALUES (%(job_id)s, %(side)s, %(version)s, %(now)s, %(result)s)
ON CONFLICT (job_id, side, version) DO UPDATE SET checked_at = excluded.checked_at,
    result = excluded.result;

-- name: insert_member_link
INSERT INTO member_link (token_hash, address, order_name, created_at)
VALUES (%(token_hash)s, %(address)s, %(order_name)s, %(now)s);

-- name: member_link_of_token
SELECT token_hash, address, order_name, created_at, opened_at, open_count, submitted_at
FROM member_link WHERE token_hash = %(token_hash)s;

-- name: member_links_of_address
SELECT token_hash, address, order_name, created_at, opened_at, open_count, submitted_at
FROM member_link WHERE address = %(address)s ORDER BY created_at;

-- name: mark_member_link_opened
UPDATE member_link SET opened_at = COALESCE(opened_at, %(now)s), open_count = open_count + 1
WHERE token_hash = %(token_hash)s;

-- name: mark_member_link_submitted
UPDATE member_link SET submitted_at = COALESCE(submitted_at, %(now)s) WHERE token_hash = %(token_hash)s;

-- name: upsert_campaign_contact
INSERT INTO campaign_contact (address, contact, updated_at) VALUES (%(address)s, %(contact)s, %(now)s)
ON CONFLICT (address) DO UPDATE SET contact = excluded.contact, updated_at = excluded.updated_at;

-- name: delete_campaign_contact
DELETE FROM campaign_contact WHERE address = %(address)s;

-- name: campaign_contacts
SELECT address, contact FROM campaign_contact;

-- name: enqueue_campaign_send
-- UNIQUE (address, wave): a second process enqueuing the same wave adds nothing.
INSERT INTO campaign_send (address, wave, order_name, state, job_state, queued_at,
                                     updated_at)
VALUES (%(address)s, %(wave)s, %(order_name)s, 'queued', %(job_state)s, %(now)s, %(now)s)
ON CONFLICT DO NOTHING;

-- name: claim_campaign_send
-- FOR UPDATE SKIP LOCKED: senders of every host claim at once, never one row twice.
WITH next AS (
    SELECT id FROM campaign_send
    WHERE state = 'queued' AND id > %(after)s
      AND (lease_until IS NULL OR lease_until < %(now)s)
      AND (%(order_name)s IS NULL OR order_name = %(order_name)s)
    ORDER BY id LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE campaign_send SET lease_owner = %(owner)s, lease_until = %(lease_until)s,
       attempts = attempts + 1, updated_at = %(now)s
WHERE id = (SELECT id FROM next)
RETURNING id, address, wave, order_name, attempts;

-- name: finish_campaign_send
-- Guarded by the lease: a sender that lost its row (stalled past the lease) writes nothing.
UPDATE campaign_send SET state = %(state)s, recipient = %(recipient)s, job_state = %(job_state)s,
       last_answer = %(answer)s, token_hash = %(token_hash)s,
       sent_at = CASE WHEN %(state)s = 'sent' THEN %(now)s ELSE sent_at END,
       lease_owner = NULL, lease_until = NULL, updated_at = %(now)s
WHERE id = %(id)s AND lease_owner = %(owner)s
RETURNING id;

-- name: campaign_sends
-- ---------------------------------------------------------------------------------------
-- The orders' dashboard (pecsync.store.admin).
SELECT s.address, s.wave, s.order_name, s.state, s.attempts, s.recipient, s.job_state,
       s.last_answer, s.queued_at, s.sent_at, l.opened_at, l.submitted_at,
       j.state AS current_state
FROM campaign_send s
LEFT JOIN member_link l ON l.token_hash = s.token_hash
LEFT JOIN job j ON j.address = s.address
WHERE (%(order_name)s IS NULL OR s.order_name = %(order_name)s)
ORDER BY s.id;

-- name: insert_admin_user
INSERT INTO admin_user (name, role, orders, password_hash, created_at)
VALUES (%(name)s, %(role)s, %(orders)s, %(password_hash)s, %(now)s)
RETURNING id;

-- name: delete_admin_sessions_of_user
DELETE FROM admin_session WHERE user_id IN (SELECT id FROM admin_user WHERE name = %(name)s);

-- name: delete_admin_user
DELETE FROM admin_user WHERE name = %(name)s RETURNING id;

-- name: admin_users
SELECT id, name, role, orders, password_hash, created_at, last_login_at FROM admin_user
ORDER BY name;

-- name: admin_user_by_name
SELECT id, name, role, orders, password_hash, created_at, last_login_at FROM admin_user
WHERE name = %(name)s;

-- name: set_admin_last_login
UPDATE admin_user SET last_login_at = %(now)s WHERE id = %(id)s;

-- name: insert_admin_session
INSERT INTO admin_session (token_hash, user_id, created_at, expires_at)
VALUES (%(token_hash)s, %(user_id)s, %(now)s, %(expires_at)s);

-- name: prune_admin_sessions
DELETE FROM admin_session WHERE expires_at <= %(now)s;

-- name: admin_session_user
SELECT u.id, u.name, u.role, u.orders, u.password_hash, u.created_at, u.last_login_at
FROM admin_session s JOIN admin_user u ON u.id = s.user_id
WHERE s.token_hash = %(token_hash)s AND s.expires_at > %(now)s;

-- name: delete_admin_session
DELETE FROM admin_session WHERE token_hash = %(token_hash)s;

-- name: insert_admin_action
INSERT INTO admin_action (at, user_name, action, address, order_name, detail)
VALUES (%(now)s, %(user_name)s, %(action)s, %(address)s, %(order_name)s, %(detail)s);

-- name: admin_actions
-- The audit log, newest first (:order_name NULL: every order).
SELECT at, user_name, action, address, order_name, detail FROM admin_action
WHERE (%(order_name)s IS NULL OR order_name = %(order_name)s)
ORDER BY at DESC, id DESC LIMIT %(limit)s;

-- name: admin_action_counts
-- Per member and action: how many times, and the last time (invitations sent, checks).
SELECT address, action, COUNT(*) AS count, MAX(at) AS last_at FROM admin_action
GROUP BY address, action;

-- name: admin_requeue_job
-- The dashboard's "run again": a failed or blocked mailbox (or one waiting for a retry) back
-- to pending with its stored credential; a run picks it up and logs in again.
UPDATE job SET state = 'pending', error_class = NULL, error_text = NULL, next_attempt_at = NULL,
       attempts = 0, updated_at = %(now)s
WHERE id = %(id)s AND state IN ('blocked_invalid_credentials', 'blocked_2fa',
                             'blocked_credentials_changed', 'blocked_destination_full',
                             'retry_wait', 'failed');

-- name: last_job_events
-- Per job: when anything last happened to it (the dashboard's "last activity").
SELECT job_id, MAX(at) AS at FROM job_event GROUP BY job_id;

-- name: insert_job_event_if_requeued
-- As insert_job_event_if_changed: %(_changes)s is the previous statement's row count.
INSERT INTO job_event (job_id, at, event, state, detail)
SELECT %(id)s, %(now)s, 'requeued', 'pending', %(detail)s WHERE %(_changes)s > 0;

-- name: insert_admin_action_if_requeued
INSERT INTO admin_action (at, user_name, action, address, order_name, detail)
SELECT %(now)s, %(user_name)s, 'requeue', %(address)s, %(order_name)s, %(detail)s
WHERE %(_changes)s > 0
RETURNING id;

-- name: admin_order_names
SELECT DISTINCT order_name FROM job ORDER BY order_name;

-- name: release_intake_slot
-- A slot taken for a check that did not fail (the password was accepted, or the provider
-- could not be reached): only failed checks count against the limits.
DELETE FROM intake_attempt WHERE id = (SELECT MAX(id) FROM intake_attempt
                                       WHERE kind = %(kind)s AND key = %(key)s);

-- name: self_enrolled_jobs
-- Mailboxes added by their member on the intake page (not on the list; the source accepted
-- the password): for the order to check.
SELECT j.address, j.order_name, MIN(e.at) AS at, j.state
FROM job_event e JOIN job j ON j.id = e.job_id
WHERE e.event = 'self_enrolled'
GROUP BY j.address, j.order_name, j.state ORDER BY MIN(e.at);

-- name: give_back_attempt
-- The attempt ended for a reason that is not the mailbox's (the state database went away):
-- it is not counted.  Right before set_job_state, in its transaction, while the job is ours.
UPDATE job SET attempts = %(attempts)s
WHERE id = %(id)s AND (%(owner)s IS NULL OR (lease_owner = %(owner)s AND state = 'running'));
