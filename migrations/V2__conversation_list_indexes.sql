-- V2: indexes for the conversation list (GET /conversations).
--
-- A user's conversations are the rows where they are participant1 OR participant2. The list
-- is ordered by last activity, keyset-paged on (updated_at, id). One index per side lets the
-- query read each side in order and stop after `limit` rows (a UNION ALL of two index scans,
-- merged), never sorting all of a user's conversations.
CREATE INDEX conversations_p1_activity_idx ON conversations (participant1_id, updated_at DESC, id DESC);
CREATE INDEX conversations_p2_activity_idx ON conversations (participant2_id, updated_at DESC, id DESC);
-- Superseded by conversations_p2_activity_idx (same leading column).
DROP INDEX conversations_participant2_idx;
