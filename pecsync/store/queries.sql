-- Every SQL statement pecsync runs, named.  Python calls them by name (pecsync.store.queries).

-- name: upsert_mailbox
INSERT INTO mailbox (src_user, dst_user, created_at) VALUES (:src_user, :dst_user, :now)
ON CONFLICT (src_user) DO UPDATE SET dst_user = excluded.dst_user;

-- name: get_mailbox_id
SELECT id FROM mailbox WHERE src_user = :src_user;

-- name: get_folder
SELECT id, src_name, dst_name, src_uidvalidity, dst_uidvalidity, high_water, src_uidnext_seen
FROM folder WHERE mailbox_id = :mailbox_id AND src_name = :src_name;

-- name: list_folders
SELECT id, src_name, dst_name, src_uidvalidity, dst_uidvalidity, high_water, src_uidnext_seen
FROM folder WHERE mailbox_id = :mailbox_id ORDER BY src_name;

-- name: insert_folder
INSERT INTO folder (mailbox_id, src_name, dst_name, src_uidvalidity, dst_uidvalidity, updated_at)
VALUES (:mailbox_id, :src_name, :dst_name, :src_uidvalidity, :dst_uidvalidity, :now);

-- name: reset_folder
-- A UIDVALIDITY change: the old UIDs mean nothing any more.  Old rows stay as history of the
-- previous UIDVALIDITY (they never match the new one); the high-water mark starts again.
UPDATE folder SET src_uidvalidity = :src_uidvalidity, dst_uidvalidity = :dst_uidvalidity,
       dst_name = :dst_name, high_water = 0, src_uidnext_seen = NULL, updated_at = :now
WHERE id = :folder_id;

-- name: forget_folder_messages
DELETE FROM message WHERE folder_id = :folder_id;

-- name: set_high_water
UPDATE folder SET high_water = MAX(high_water, :high_water), updated_at = :now
WHERE id = :folder_id;

-- name: set_uidnext_seen
UPDATE folder SET src_uidnext_seen = :uidnext, updated_at = :now WHERE id = :folder_id;

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
SELECT src_uid, size, sha256, internaldate, flags, dst_uid, verified_at, state, note FROM message
WHERE folder_id = :folder_id AND src_uidvalidity = :src_uidvalidity
  AND state IN ('appended', 'present', 'skipped')
ORDER BY src_uid;

-- name: mark_verified
UPDATE message SET verified_at = :now
WHERE folder_id = :folder_id AND src_uidvalidity = :src_uidvalidity AND src_uid = :src_uid;

-- name: clear_verified
UPDATE message SET verified_at = NULL
WHERE folder_id = :folder_id AND src_uidvalidity = :src_uidvalidity AND src_uid = :src_uid;

-- name: count_unverified
SELECT COUNT(*) FROM message
WHERE folder_id = :folder_id AND src_uidvalidity = :src_uidvalidity
  AND state IN ('appended', 'present') AND verified_at IS NULL;
