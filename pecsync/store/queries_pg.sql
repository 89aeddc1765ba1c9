-- PostgreSQL versions of named statements whose SQLite text (queries.sql) cannot be translated
-- mechanically (pecsync.store.dialect).  Same names; psycopg parameters %(name)s, bound
-- client-side.  Every other statement of queries.sql is translated, so keep this file short.

-- name: insert_job_event_if_changed
-- SQLite asks changes(); here the backend passes the previous statement's row count as
-- %(_changes)s (pecsync.store.postgres_backend).
INSERT INTO job_event (job_id, at, event, state, detail)
SELECT %(job_id)s, %(now)s, %(event)s, %(state)s, %(detail)s WHERE %(_changes)s > 0
RETURNING job_id;

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

-- name: copies_by_uid
-- :uids is a JSON list of numbers (SQLite reads it with json_each).
SELECT src_uid, size, sha256, internaldate, flags, dst_uid, verified_at, state, note, message_id
FROM message
WHERE folder_id = %(folder_id)s AND src_uidvalidity = %(src_uidvalidity)s
  AND state IN ('appended', 'present')
  AND src_uid IN (SELECT value::bigint FROM jsonb_array_elements_text(%(uids)s::jsonb))
ORDER BY src_uid;

-- name: current_credential_sources
-- The latest version of each mailbox's credential per side.  One pass over the primary key
-- (job_id, side, version): the correlated MAX of queries.sql took 0.2 s for 10,000 jobs here.
SELECT DISTINCT ON (c.job_id, c.side) c.job_id, c.side, c.source, c.created_at
FROM credential c ORDER BY c.job_id, c.side, c.version DESC;

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

-- name: insert_job_event_if_requeued
-- As insert_job_event_if_changed: %(_changes)s is the previous statement's row count.
INSERT INTO job_event (job_id, at, event, state, detail)
SELECT %(id)s, %(now)s, 'requeued', 'pending', %(detail)s WHERE %(_changes)s > 0;

-- name: insert_admin_action_if_requeued
INSERT INTO admin_action (at, user_name, action, address, order_name, detail)
SELECT %(now)s, %(user_name)s, 'requeue', %(address)s, %(order_name)s, %(detail)s
WHERE %(_changes)s > 0
RETURNING id;
