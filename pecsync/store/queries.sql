-- Every SQL statement pecsync runs, named, in SQLite's dialect; queries_pg.sql has each again in
-- PostgreSQL's (a new statement goes in both).  Python calls them by name (pecsync.store.queries).

-- name: upsert_mailbox
INSERT INTO mailbox (src_user, dst_user, created_at) VALUES (:src_user, :dst_user, :now)
ON CONFLICT (src_user) DO UPDATE SET dst_user = excluded.dst_user;

-- name: get_mailbox_id
SELECT id FROM mailbox WHERE src_user = :src_user;

-- name: get_folder
SELECT id, src_name, dst_name, src_uidvalidity, dst_uidvalidity, high_water, src_uidnext_seen,
       content_match
FROM folder WHERE mailbox_id = :mailbox_id AND src_name = :src_name;

-- name: list_folders
SELECT id, src_name, dst_name, src_uidvalidity, dst_uidvalidity, high_water, src_uidnext_seen,
       content_match
FROM folder WHERE mailbox_id = :mailbox_id ORDER BY src_name;

-- name: insert_folder
INSERT INTO folder (mailbox_id, src_name, dst_name, src_uidvalidity, dst_uidvalidity,
                    content_match, updated_at)
VALUES (:mailbox_id, :src_name, :dst_name, :src_uidvalidity, :dst_uidvalidity, :content_match,
        :now);

-- name: reset_folder
-- A UIDVALIDITY change: the old UIDs mean nothing any more.  Old rows stay as history of the
-- previous UIDVALIDITY (they never match the new one); the high-water mark starts again.
UPDATE folder SET src_uidvalidity = :src_uidvalidity, dst_uidvalidity = :dst_uidvalidity,
       dst_name = :dst_name, high_water = 0, src_uidnext_seen = NULL,
       content_match = :content_match, updated_at = :now
WHERE id = :folder_id;

-- name: forget_folder_messages
DELETE FROM message WHERE folder_id = :folder_id;

-- name: set_high_water
UPDATE folder SET high_water = MAX(high_water, :high_water), updated_at = :now
WHERE id = :folder_id;

-- name: set_uidnext_seen
-- A pass completed: every source message it listed is appended, present or skipped, so the
-- content-matched pass (if one was needed) is over.
UPDATE folder SET src_uidnext_seen = :uidnext, content_match = 0, updated_at = :now
WHERE id = :folder_id;

-- name: folder_columns
SELECT name FROM pragma_table_info('folder');

-- name: add_content_match
ALTER TABLE folder ADD COLUMN content_match INTEGER NOT NULL DEFAULT 0;

-- name: content_match_unfinished
-- Schema 1 did not record whether a pass had to be content-matched: a folder whose pass never
-- completed may be in the middle of one (a content-matched pass where none was needed costs
-- hashing the unclaimed destination messages; a missing one duplicates the folder).
UPDATE folder SET content_match = 1 WHERE src_uidnext_seen IS NULL;

-- name: set_schema_version
UPDATE meta SET value = :version WHERE key = 'schema';

-- name: insert_message
INSERT INTO message (folder_id, src_uidvalidity, src_uid, size, sha256, message_id, internaldate,
                     flags, state, dst_uidvalidity, dst_uid, dst_uidnext_before, note)
VALUES (:folder_id, :src_uidvalidity, :src_uid, :size, :sha256, :message_id, :internaldate,
        :flags, :state, :dst_uidvalidity, :dst_uid, :dst_uidnext_before, :note)
ON CONFLICT (folder_id, src_uidvalidity, src_uid) DO UPDATE SET
    size = excluded.size, sha256 = excluded.sha256, message_id = excluded.message_id,
    internaldate = excluded.internaldate, flags = excluded.flags, state = excluded.state,
    dst_uidvalidity = excluded.dst_uidvalidity, dst_uid = excluded.dst_uid,
    dst_uidnext_before = excluded.dst_uidnext_before, note = excluded.note, verified_at = NULL;

-- name: mark_appended
UPDATE message SET state = 'appended', dst_uidvalidity = :dst_uidvalidity, dst_uid = :dst_uid
WHERE folder_id = :folder_id AND src_uidvalidity = :src_uidvalidity AND src_uid = :src_uid;

-- name: drop_intent
DELETE FROM message
WHERE folder_id = :folder_id AND src_uidvalidity = :src_uidvalidity AND src_uid = :src_uid
  AND state = 'intent';

-- name: open_intents
SELECT src_uid, size, sha256, dst_uidnext_before FROM message
WHERE folder_id = :folder_id AND src_uidvalidity = :src_uidvalidity AND state = 'intent'
ORDER BY src_uid;

-- name: done_uids_above
SELECT src_uid FROM message
WHERE folder_id = :folder_id AND src_uidvalidity = :src_uidvalidity AND src_uid > :above
  AND state IN ('appended', 'present', 'skipped');

-- name: claimed_dst_uids
SELECT dst_uid FROM message
WHERE folder_id = :folder_id AND dst_uidvalidity = :dst_uidvalidity AND dst_uid IS NOT NULL
  AND state IN ('appended', 'present');

-- name: copied_messages
SELECT src_uid, size, sha256, internaldate, flags, dst_uid, verified_at, state, note, message_id
FROM message
WHERE folder_id = :folder_id AND src_uidvalidity = :src_uidvalidity
  AND state IN ('appended', 'present', 'skipped')
ORDER BY src_uid;

-- name: unverified_copies_above
-- Copies recorded above a source UID and not yet verified, with their destination UID: what a
-- lane helping with a folder's verification checks next (pecsync.sync.copier.help_verify).
SELECT src_uid, size, sha256, internaldate, flags, dst_uid, verified_at, state, note, message_id
FROM message
WHERE folder_id = :folder_id AND src_uidvalidity = :src_uidvalidity AND src_uid > :above
  AND state IN ('appended', 'present') AND verified_at IS NULL AND dst_uid IS NOT NULL
ORDER BY src_uid;

-- name: mark_verified
UPDATE message SET verified_at = :now
WHERE folder_id = :folder_id AND src_uidvalidity = :src_uidvalidity AND src_uid = :src_uid;

-- name: clear_verified
UPDATE message SET verified_at = NULL
WHERE folder_id = :folder_id AND src_uidvalidity = :src_uidvalidity AND src_uid = :src_uid;

-- name: set_message_note
UPDATE message SET note = :note
WHERE folder_id = :folder_id AND src_uidvalidity = :src_uidvalidity AND src_uid = :src_uid;

-- name: count_copies
SELECT COUNT(*) FROM message
WHERE folder_id = :folder_id AND src_uidvalidity = :src_uidvalidity
  AND state IN ('appended', 'present');

-- name: count_unverified
SELECT COUNT(*) FROM message
WHERE folder_id = :folder_id AND src_uidvalidity = :src_uidvalidity
  AND state IN ('appended', 'present') AND verified_at IS NULL;

-- name: job_by_address
SELECT id, address, order_name, src_user, dst_user, state, phase, attempts, error_class,
       error_text, next_attempt_at, messages_copied, messages_total, bytes_copied, bytes_total,
       skipped, updated_at, started_at, finished_at
FROM job WHERE address = :address;

-- name: list_jobs
SELECT id, address, order_name, src_user, dst_user, state, phase, attempts, error_class,
       error_text, next_attempt_at, messages_copied, messages_total, bytes_copied, bytes_total,
       skipped, updated_at, started_at, finished_at
FROM job WHERE (:order_name IS NULL OR order_name = :order_name) ORDER BY order_name, address;

-- name: insert_job
INSERT INTO job (address, order_name, src_user, dst_user, state, created_at, updated_at)
VALUES (:address, :order_name, :src_user, :dst_user, :state, :now, :now);

-- name: update_job_identity
UPDATE job SET order_name = :order_name, src_user = :src_user, dst_user = :dst_user,
       updated_at = :now
WHERE id = :id;

-- name: latest_credential
SELECT version, ciphertext, logged_in_at, source FROM credential
WHERE job_id = :job_id AND side = :side ORDER BY version DESC LIMIT 1;

-- name: insert_credential
INSERT INTO credential (job_id, side, version, ciphertext, created_at, source)
VALUES (:job_id, :side, :version, :ciphertext, :now, :source);

-- name: credential_columns
SELECT name FROM pragma_table_info('credential');

-- name: add_credential_source
ALTER TABLE credential ADD COLUMN source TEXT;

-- name: current_credential_sources
-- The latest version of each mailbox's credential per side: where it came from and when.
SELECT c.job_id, c.side, c.source, c.created_at FROM credential c
WHERE c.version = (SELECT MAX(c2.version) FROM credential c2
                   WHERE c2.job_id = c.job_id AND c2.side = c.side);

-- name: csv_fingerprint
SELECT fingerprint FROM credential_import WHERE job_id = :job_id AND side = :side;

-- name: set_csv_fingerprint
INSERT INTO credential_import (job_id, side, fingerprint, imported_at)
VALUES (:job_id, :side, :fingerprint, :now)
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
       attempts = 0, updated_at = :now
WHERE id = :id AND state IN ('waiting_credentials', 'blocked_invalid_credentials',
                             'blocked_2fa', 'blocked_credentials_changed');

-- name: insert_intake_request
INSERT INTO intake_request (address, order_name, at) VALUES (:address, :order_name, :now);

-- name: intake_requests
-- Addresses asked for on the intake page that are not in the list, one row per address.
SELECT r.address, MAX(r.order_name) AS order_name, COUNT(*) AS count, MIN(r.at) AS first_at,
       MAX(r.at) AS last_at
FROM intake_request r
WHERE NOT EXISTS (SELECT 1 FROM job j WHERE j.address = r.address)
GROUP BY r.address ORDER BY MIN(r.at);

-- name: insert_intake_token
INSERT INTO intake_token (token_hash, job_id, created_at) VALUES (:token_hash, :job_id, :now);

-- name: job_of_intake_token
SELECT j.address FROM intake_token t JOIN job j ON j.id = t.job_id
WHERE t.token_hash = :token_hash;

-- name: prune_intake_attempts
-- Per kind: each limit prunes with its own window (the member page's, the dashboard's).
DELETE FROM intake_attempt WHERE kind = :kind AND at < :before;

-- name: clear_intake_slots
DELETE FROM intake_attempt WHERE kind = :kind AND key = :key;

-- name: take_intake_slot
-- One statement: the slot is taken only while fewer than :limit were taken since :since, so
-- two concurrent submissions never both get the last one.
INSERT INTO intake_attempt (kind, key, at)
SELECT :kind, :key, :now
WHERE (SELECT COUNT(*) FROM intake_attempt
       WHERE kind = :kind AND key = :key AND at > :since) < :limit
RETURNING id;

-- name: oldest_intake_slot
SELECT MIN(at) FROM intake_attempt WHERE kind = :kind AND key = :key AND at > :since;

-- name: use_intake_form
INSERT INTO intake_form (form_hash, at) VALUES (:form_hash, :now)
ON CONFLICT (form_hash) DO NOTHING
RETURNING form_hash;

-- name: prune_intake_forms
DELETE FROM intake_form WHERE at < :before;

-- name: mark_logged_in
UPDATE credential SET logged_in_at = COALESCE(logged_in_at, :now)
WHERE job_id = :job_id AND side = :side AND version = :version;

-- name: set_job_state
UPDATE job SET state = :state, error_class = :error_class, error_text = :error_text,
       next_attempt_at = :next_attempt_at, updated_at = :now,
       finished_at = CASE WHEN :state = 'done' THEN :now ELSE finished_at END,
       lease_owner = NULL, lease_until = NULL
-- A job this process claimed (:owner) is only written while it still holds the lease: after a
-- stall past the lease another process may own the job, and its row is not ours to end.
WHERE id = :id AND (:owner IS NULL OR (lease_owner = :owner AND state = 'running'));

-- name: insert_job_event_if_changed
-- Right after set_job_state, in its transaction: the event only when the state was written.
INSERT INTO job_event (job_id, at, event, state, detail)
SELECT :job_id, :now, :event, :state, :detail WHERE changes() > 0
RETURNING job_id;

-- name: requeue_job
-- New credentials arrived: a job blocked on credentials (or waiting for them) runs again.
UPDATE job SET state = 'pending', error_class = NULL, error_text = NULL, next_attempt_at = NULL,
       attempts = 0, updated_at = :now
WHERE id = :id AND state IN ('waiting_credentials', 'blocked_invalid_credentials',
                             'blocked_2fa', 'blocked_credentials_changed', 'failed');

-- name: recover_stale_jobs
-- Jobs a crashed or killed run left "running": their checkpoints are safe, run them again.
UPDATE job SET state = 'pending', lease_owner = NULL, lease_until = NULL, updated_at = :now
WHERE state = 'running' AND (lease_until IS NULL OR lease_until < :now);

-- name: claim_next_job
-- One statement, so two workers (or two hosts on a shared database) never claim one job.
UPDATE job SET state = 'running', attempts = attempts + 1, lease_owner = :owner,
       lease_until = :lease_until, started_at = COALESCE(started_at, :now), updated_at = :now,
       phase = 'login'
WHERE id = COALESCE(
    -- pending first, then retries that are due; each walks an index, no sort
    (SELECT id FROM job INDEXED BY job_state_id
     WHERE state = 'pending' AND (:order_name IS NULL OR order_name = :order_name)
     ORDER BY id LIMIT 1),
    (SELECT id FROM job
     WHERE state = 'retry_wait' AND next_attempt_at <= :now
       AND (:order_name IS NULL OR order_name = :order_name)
     ORDER BY id LIMIT 1))
RETURNING id, address, order_name, src_user, dst_user, state, phase, attempts, error_class,
          error_text, next_attempt_at, messages_copied, messages_total, bytes_copied, bytes_total,
          skipped, updated_at, started_at, finished_at;

-- name: claim_job
-- `retry`: a job in any state, except one another process is running (its lease is alive).
-- The check is part of the UPDATE, so two processes never both take the job; a lease left by
-- a crashed process has expired and no longer counts (the same rule as recover_stale_jobs).
UPDATE job SET state = 'running', attempts = attempts + 1, lease_owner = :owner,
       lease_until = :lease_until, started_at = COALESCE(started_at, :now), updated_at = :now,
       phase = 'login'
WHERE id = :id AND (state != 'running' OR lease_until IS NULL OR lease_until < :now)
RETURNING id, address, order_name, src_user, dst_user, state, phase, attempts, error_class,
          error_text, next_attempt_at, messages_copied, messages_total, bytes_copied, bytes_total,
          skipped, updated_at, started_at, finished_at;

-- name: job_lease
SELECT lease_owner, lease_until FROM job WHERE id = :id;

-- name: next_wakeup
SELECT MIN(next_attempt_at) FROM job
WHERE state = 'retry_wait' AND (:order_name IS NULL OR order_name = :order_name);

-- name: set_job_phase
UPDATE job SET phase = :phase, updated_at = :now, lease_until = :lease_until
WHERE id = :id AND (:owner IS NULL OR (lease_owner = :owner AND state = 'running'))
RETURNING id;

-- name: set_job_progress
UPDATE job SET messages_copied = :messages_copied, messages_total = :messages_total,
       bytes_copied = :bytes_copied, bytes_total = :bytes_total, skipped = :skipped,
       phase = COALESCE(:phase, phase), updated_at = :now, lease_until = :lease_until
WHERE id = :id AND (:owner IS NULL OR (lease_owner = :owner AND state = 'running'))
RETURNING id;

-- name: insert_job_event
INSERT INTO job_event (job_id, at, event, state, detail) VALUES (:job_id, :now, :event, :state,
                                                                 :detail);

-- name: purge_credentials_of_done
UPDATE credential SET ciphertext = NULL
WHERE ciphertext IS NOT NULL AND job_id IN (SELECT id FROM job WHERE state = 'done');

-- name: purge_all_credentials
UPDATE credential SET ciphertext = NULL WHERE ciphertext IS NOT NULL;

-- name: all_credentials
SELECT job_id, side, version, ciphertext FROM credential WHERE ciphertext IS NOT NULL;

-- name: replace_ciphertext
UPDATE credential SET ciphertext = :ciphertext
WHERE job_id = :job_id AND side = :side AND version = :version;

-- name: purge_credentials_of_job
UPDATE credential SET ciphertext = NULL WHERE job_id = :job_id AND ciphertext IS NOT NULL;

-- name: first_done_times
SELECT j.address, MIN(e.at) AS done_at FROM job_event e JOIN job j ON j.id = e.job_id
WHERE e.state = 'done' GROUP BY j.address;

-- name: first_event_time
SELECT MIN(at) FROM job_event WHERE event IN ('finished', 'stopped');

-- name: last_snapshot
SELECT report_date, states FROM report_snapshot
WHERE report_date < :report_date ORDER BY report_date DESC, id DESC LIMIT 1;

-- name: insert_snapshot
INSERT INTO report_snapshot (taken_at, report_date, states) VALUES (:now, :report_date, :states);

-- name: upsert_delivery
INSERT INTO report_delivery (report_date, order_name, recipients, payload, status, updated_at)
VALUES (:report_date, :order_name, :recipients, :payload, 'pending', :now)
ON CONFLICT (report_date, order_name) DO UPDATE SET
    recipients = excluded.recipients, payload = excluded.payload, updated_at = excluded.updated_at,
    status = CASE WHEN report_delivery.status = 'sent' THEN 'sent' ELSE 'pending' END;

-- name: unsent_deliveries
SELECT id, report_date, order_name, recipients, payload, attempts FROM report_delivery
WHERE status != 'sent' ORDER BY report_date, order_name;

-- name: mark_delivery
UPDATE report_delivery SET status = :status, attempts = attempts + 1, last_error = :last_error,
       updated_at = :now
WHERE id = :id;

-- name: mailbox_messages
SELECT f.src_name, f.dst_name, f.src_uidvalidity, f.dst_uidvalidity, m.src_uid, m.size,
       m.sha256, m.message_id, m.dst_uid, m.state, m.note, m.verified_at
FROM folder f JOIN message m ON m.folder_id = f.id AND m.src_uidvalidity = f.src_uidvalidity
WHERE f.mailbox_id = :mailbox_id
ORDER BY f.src_name, m.src_uid;

-- name: get_schema_version
SELECT value FROM meta WHERE key = 'schema';

-- name: count_running
SELECT COUNT(*) FROM job
WHERE state = 'running' AND (:order_name IS NULL OR order_name = :order_name);

-- name: meta_value
SELECT value FROM meta WHERE key = :key;

-- name: ensure_host_slot
INSERT OR IGNORE INTO host_slot (server, slot) VALUES (:server, :slot);

-- name: take_host_slot
-- A free slot (never held, released, or its holder's lease expired) now ours.  The outer
-- condition is checked again on the row itself: two processes racing for one slot, one wins.
UPDATE host_slot SET owner = :owner, lease_until = :lease_until
WHERE server = :server AND (owner IS NULL OR lease_until < :now)
  AND slot = (SELECT slot FROM host_slot
              WHERE server = :server AND slot < :limit
                AND (owner IS NULL OR lease_until < :now)
              ORDER BY slot LIMIT 1)
RETURNING slot;

-- name: renew_host_slots
-- Every slot still ours (a stalled process may have lost some), renewed.
UPDATE host_slot SET lease_until = :lease_until
WHERE owner = :owner AND lease_until >= :now
RETURNING server, slot;

-- name: release_host_slot
UPDATE host_slot SET owner = NULL, lease_until = NULL
WHERE owner = :owner AND server = :server AND slot = :slot;

-- name: release_all_host_slots
UPDATE host_slot SET owner = NULL, lease_until = NULL WHERE owner = :owner;

-- --- connection limits learned from refusals (pecsync.store.limits) ----------------------

-- name: list_server_limits
SELECT server, max_connections FROM server_limit;

-- name: learn_server_limit
-- The lower limit wins (two hosts learning at once, or a limit lowered by the provider).
INSERT INTO server_limit (server, max_connections, learned_at)
VALUES (:server, :max_connections, :now)
ON CONFLICT (server) DO UPDATE SET
    max_connections = CASE WHEN excluded.max_connections < server_limit.max_connections
                           THEN excluded.max_connections ELSE server_limit.max_connections END,
    learned_at = excluded.learned_at;

-- --- incremental re-sync (pecsync.store.syncstate) ----------------------------------------

-- name: get_folder_sync
SELECT src_highestmodseq, deleted_at_source, renamed_from FROM folder_sync
WHERE folder_id = :folder_id;

-- name: list_folder_sync
SELECT s.folder_id, s.src_highestmodseq, s.deleted_at_source, s.renamed_from
FROM folder_sync s JOIN folder f ON f.id = s.folder_id WHERE f.mailbox_id = :mailbox_id;

-- name: upsert_folder_sync
INSERT INTO folder_sync (folder_id, src_highestmodseq, deleted_at_source, synced_at)
VALUES (:folder_id, :modseq, :deleted, :now)
ON CONFLICT (folder_id) DO UPDATE SET src_highestmodseq = excluded.src_highestmodseq,
    deleted_at_source = excluded.deleted_at_source, synced_at = excluded.synced_at;

-- name: set_folder_flags_baseline
-- With insert_folder: the source HIGHESTMODSEQ the new folder's recorded flags will be at
-- least as recent as (the round's LIST-STATUS, read before any of them; NULL: unknown, the
-- next flag pass reads every flag).  A reset folder gets its baseline by upsert_folder_sync.
INSERT INTO folder_sync (folder_id, src_highestmodseq, deleted_at_source, synced_at)
SELECT id, :modseq, 0, :now FROM folder WHERE mailbox_id = :mailbox_id AND src_name = :src_name
ON CONFLICT (folder_id) DO UPDATE SET src_highestmodseq = excluded.src_highestmodseq,
    deleted_at_source = 0, synced_at = excluded.synced_at;

-- name: set_folder_deleted
INSERT INTO folder_sync (folder_id, src_highestmodseq, deleted_at_source, synced_at)
VALUES (:folder_id, NULL, :deleted, :now)
ON CONFLICT (folder_id) DO UPDATE SET deleted_at_source = excluded.deleted_at_source,
    synced_at = excluded.synced_at;

-- name: adopt_renamed_folder
-- The source renamed the folder (same UIDVALIDITY under a new name): its state follows it,
-- so its messages are not copied a second time into a new destination folder.
UPDATE folder SET src_name = :src_name, updated_at = :now WHERE id = :folder_id;

-- name: mark_folder_renamed
INSERT INTO folder_sync (folder_id, src_highestmodseq, deleted_at_source, renamed_from, synced_at)
VALUES (:folder_id, NULL, 0, :renamed_from, :now)
ON CONFLICT (folder_id) DO UPDATE SET renamed_from = COALESCE(folder_sync.renamed_from,
                                                              excluded.renamed_from),
    synced_at = excluded.synced_at;

-- name: set_message_flags
-- What pecsync last wrote at the destination (the three-way base of the next flag pass).
UPDATE message SET flags = :flags
WHERE folder_id = :folder_id AND src_uidvalidity = :src_uidvalidity AND src_uid = :src_uid;

-- name: count_folder_copies
SELECT COUNT(*) FROM message
WHERE folder_id = :folder_id AND src_uidvalidity = :src_uidvalidity
  AND state IN ('appended', 'present');

-- name: set_last_synced
-- In the transaction that ends the job `done`, before set_job_state and guarded like it (a
-- separate write would let another worker claim the job for a re-sync in between).
INSERT INTO job_sync (job_id, last_synced_at)
SELECT :id, :synced_at WHERE EXISTS (
    SELECT 1 FROM job WHERE id = :id
      AND (:owner IS NULL OR (lease_owner = :owner AND state = 'running')))
ON CONFLICT (job_id) DO UPDATE SET
    last_synced_at = MAX(job_sync.last_synced_at, excluded.last_synced_at);

-- name: list_job_sync
SELECT j.address, s.last_synced_at,
       (SELECT COALESCE(SUM(fs.deleted_at_source), 0)
        FROM mailbox m JOIN folder f ON f.mailbox_id = m.id
        JOIN folder_sync fs ON fs.folder_id = f.id
        WHERE m.src_user = j.src_user) AS deleted_at_source
FROM job j LEFT JOIN job_sync s ON s.job_id = j.id
WHERE (:order_name IS NULL OR j.order_name = :order_name);

-- name: claim_resync_job
-- A `done` mailbox whose last sync started before :before runs again (running, then back to
-- done): the oldest sync first.  One statement, like claim_next_job.
UPDATE job SET state = 'running', attempts = 1, lease_owner = :owner,
       lease_until = :lease_until, updated_at = :now, phase = 'login'
WHERE id = (SELECT j.id FROM job j LEFT JOIN job_sync s ON s.job_id = j.id
            WHERE j.state = 'done' AND (:order_name IS NULL OR j.order_name = :order_name)
              AND (s.last_synced_at IS NULL OR s.last_synced_at < :before)
            ORDER BY s.last_synced_at IS NOT NULL, s.last_synced_at, j.id LIMIT 1)
  AND state = 'done'
RETURNING id, address, order_name, src_user, dst_user, state, phase, attempts, error_class,
          error_text, next_attempt_at, messages_copied, messages_total, bytes_copied, bytes_total,
          skipped, updated_at, started_at, finished_at;

-- name: count_folder_rows
SELECT COUNT(*) FROM message
WHERE folder_id = :folder_id AND src_uidvalidity = :src_uidvalidity
  AND state IN ('appended', 'present', 'skipped');

-- name: copied_uids
SELECT src_uid FROM message
WHERE folder_id = :folder_id AND src_uidvalidity = :src_uidvalidity
  AND state IN ('appended', 'present');

-- name: copies_by_uid
-- The copies of the source messages in :uids (a JSON list): a flag pass reads the rows of the
-- messages that changed, not the whole folder.
SELECT src_uid, size, sha256, internaldate, flags, dst_uid, verified_at, state, note, message_id
FROM message
WHERE folder_id = :folder_id AND src_uidvalidity = :src_uidvalidity
  AND state IN ('appended', 'present')
  AND src_uid IN (SELECT value FROM json_each(:uids))
ORDER BY src_uid;

-- name: restore_job
-- The circuit breaker tripped (many mailboxes in a row refused at one server: the
-- configuration, not their passwords): the job goes back to what it was before its claim,
-- attempt count included.  Only a job this run ended and nobody has claimed since.
UPDATE job SET state = :state, attempts = :attempts, error_class = :error_class,
       error_text = :error_text, next_attempt_at = :next_attempt_at, updated_at = :now,
       lease_owner = NULL, lease_until = NULL
WHERE id = :id AND lease_owner IS NULL
  AND state IN ('blocked_invalid_credentials', 'blocked_2fa', 'blocked_credentials_changed',
                'retry_wait', 'failed');

-- name: credential_checked
SELECT result FROM credential_check WHERE job_id = :job_id AND side = :side AND version = :version;

-- name: record_credential_check
INSERT INTO credential_check (job_id, side, version, checked_at, result)
VALUES (:job_id, :side, :version, :now, :result)
ON CONFLICT (job_id, side, version) DO UPDATE SET checked_at = excluded.checked_at,
    result = excluded.result;

-- name: insert_member_link
INSERT INTO member_link (token_hash, address, order_name, created_at)
VALUES (:token_hash, :address, :order_name, :now);

-- name: member_link_of_token
SELECT token_hash, address, order_name, created_at, opened_at, open_count, submitted_at
FROM member_link WHERE token_hash = :token_hash;

-- name: member_links_of_address
SELECT token_hash, address, order_name, created_at, opened_at, open_count, submitted_at
FROM member_link WHERE address = :address ORDER BY created_at;

-- name: mark_member_link_opened
UPDATE member_link SET opened_at = IFNULL(opened_at, :now), open_count = open_count + 1
WHERE token_hash = :token_hash;

-- name: mark_member_link_submitted
UPDATE member_link SET submitted_at = IFNULL(submitted_at, :now) WHERE token_hash = :token_hash;

-- name: upsert_campaign_contact
INSERT INTO campaign_contact (address, contact, updated_at) VALUES (:address, :contact, :now)
ON CONFLICT (address) DO UPDATE SET contact = excluded.contact, updated_at = excluded.updated_at;

-- name: delete_campaign_contact
DELETE FROM campaign_contact WHERE address = :address;

-- name: campaign_contacts
SELECT address, contact FROM campaign_contact;

-- name: enqueue_campaign_send
-- UNIQUE (address, wave): a second process enqueuing the same wave adds nothing.
INSERT OR IGNORE INTO campaign_send (address, wave, order_name, state, job_state, queued_at,
                                     updated_at)
VALUES (:address, :wave, :order_name, 'queued', :job_state, :now, :now);

-- name: claim_campaign_send
-- One statement: two senders (processes, hosts) never claim one row.  :after skips the rows
-- this pass has already tried (an SMTP 4xx keeps a row queued for the next pass).
UPDATE campaign_send SET lease_owner = :owner, lease_until = :lease_until,
       attempts = attempts + 1, updated_at = :now
WHERE id = (SELECT id FROM campaign_send
            WHERE state = 'queued' AND id > :after
              AND (lease_until IS NULL OR lease_until < :now)
              AND (:order_name IS NULL OR order_name = :order_name)
            ORDER BY id LIMIT 1)
RETURNING id, address, wave, order_name, attempts;

-- name: finish_campaign_send
-- Guarded by the lease: a sender that lost its row (stalled past the lease) writes nothing.
UPDATE campaign_send SET state = :state, recipient = :recipient, job_state = :job_state,
       last_answer = :answer, token_hash = :token_hash,
       sent_at = CASE WHEN :state = 'sent' THEN :now ELSE sent_at END,
       lease_owner = NULL, lease_until = NULL, updated_at = :now
WHERE id = :id AND lease_owner = :owner
RETURNING id;

-- name: campaign_sends
SELECT s.address, s.wave, s.order_name, s.state, s.attempts, s.recipient, s.job_state,
       s.last_answer, s.queued_at, s.sent_at, l.opened_at, l.submitted_at,
       j.state AS current_state
FROM campaign_send s
LEFT JOIN member_link l ON l.token_hash = s.token_hash
LEFT JOIN job j ON j.address = s.address
WHERE (:order_name IS NULL OR s.order_name = :order_name)
ORDER BY s.id;

-- ---------------------------------------------------------------------------------------
-- The orders' dashboard (pecsync.store.admin).

-- name: insert_admin_user
INSERT INTO admin_user (name, role, orders, password_hash, created_at)
VALUES (:name, :role, :orders, :password_hash, :now)
RETURNING id;

-- name: delete_admin_sessions_of_user
DELETE FROM admin_session WHERE user_id IN (SELECT id FROM admin_user WHERE name = :name);

-- name: delete_admin_user
DELETE FROM admin_user WHERE name = :name RETURNING id;

-- name: admin_users
SELECT id, name, role, orders, password_hash, created_at, last_login_at FROM admin_user
ORDER BY name;

-- name: admin_user_by_name
SELECT id, name, role, orders, password_hash, created_at, last_login_at FROM admin_user
WHERE name = :name;

-- name: set_admin_last_login
UPDATE admin_user SET last_login_at = :now WHERE id = :id;

-- name: insert_admin_session
INSERT INTO admin_session (token_hash, user_id, created_at, expires_at)
VALUES (:token_hash, :user_id, :now, :expires_at);

-- name: prune_admin_sessions
DELETE FROM admin_session WHERE expires_at <= :now;

-- name: admin_session_user
SELECT u.id, u.name, u.role, u.orders, u.password_hash, u.created_at, u.last_login_at
FROM admin_session s JOIN admin_user u ON u.id = s.user_id
WHERE s.token_hash = :token_hash AND s.expires_at > :now;

-- name: delete_admin_session
DELETE FROM admin_session WHERE token_hash = :token_hash;

-- name: insert_admin_action
INSERT INTO admin_action (at, user_name, action, address, order_name, detail)
VALUES (:now, :user_name, :action, :address, :order_name, :detail);

-- name: admin_actions
-- The audit log, newest first (:order_name NULL: every order).
SELECT at, user_name, action, address, order_name, detail FROM admin_action
WHERE (:order_name IS NULL OR order_name = :order_name)
ORDER BY at DESC, id DESC LIMIT :limit;

-- name: admin_action_counts
-- Per member and action: how many times, and the last time (invitations sent, checks).
SELECT address, action, COUNT(*) AS count, MAX(at) AS last_at FROM admin_action
GROUP BY address, action;

-- name: admin_requeue_job
-- The dashboard's "run again": a failed or blocked mailbox (or one waiting for a retry) back
-- to pending with its stored credential; a run picks it up and logs in again.
UPDATE job SET state = 'pending', error_class = NULL, error_text = NULL, next_attempt_at = NULL,
       attempts = 0, updated_at = :now
WHERE id = :id AND state IN ('blocked_invalid_credentials', 'blocked_2fa',
                             'blocked_credentials_changed', 'blocked_destination_full',
                             'retry_wait', 'failed');

-- name: last_job_events
-- Per job: when anything last happened to it (the dashboard's "last activity").
SELECT job_id, MAX(at) AS at FROM job_event GROUP BY job_id;

-- name: insert_job_event_if_requeued
-- Right after admin_requeue_job, in its transaction: only when it re-queued the job.
INSERT INTO job_event (job_id, at, event, state, detail)
SELECT :id, :now, 'requeued', 'pending', :detail WHERE changes() > 0;

-- name: insert_admin_action_if_requeued
-- Right after insert_job_event_if_requeued: only when that wrote its event.
INSERT INTO admin_action (at, user_name, action, address, order_name, detail)
SELECT :now, :user_name, 'requeue', :address, :order_name, :detail WHERE changes() > 0
RETURNING id;

-- name: admin_order_names
SELECT DISTINCT order_name FROM job ORDER BY order_name;

-- name: release_intake_slot
-- A slot taken for a check that did not fail (the password was accepted, or the provider
-- could not be reached): only failed checks count against the limits.
DELETE FROM intake_attempt WHERE id = (SELECT MAX(id) FROM intake_attempt
                                       WHERE kind = :kind AND key = :key);

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
UPDATE job SET attempts = :attempts
WHERE id = :id AND (:owner IS NULL OR (lease_owner = :owner AND state = 'running'));
