#!/usr/bin/env bash
# What a read receipt that moves nothing costs PostgreSQL (a client marks a conversation read each
# time it shows it, mostly with nothing new), in the form before commit "mark_read reads before it
# locks" (the participants, then BEGIN, the position under FOR UPDATE of the member row, ROLLBACK)
# and in the form of shared/src/adapters/postgres.rs now (one unlocked read).
#
#   bench/read-receipt.sh [SECONDS] [CLIENTS]      defaults: 10 s, 8 clients (chat-local's pool)
#
# Runs pgbench with each form in turn against a scratch database `read_receipt_bench` (made from
# migrations/ and dropped here) holding 1,000 conversations of 20 messages, each read to the end
# by its reader, and prints pgbench's figures and the WAL each form wrote. Needs PostgreSQL
# (local/services.sh) and pgbench.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_EACH="${1:-10}"
CLIENTS="${2:-8}"
# shellcheck source=bench/pgbench-forms.sh
. "$ROOT/bench/pgbench-forms.sh"
pgbench_chat_db read_receipt_bench 20
# Conversation n is between user n and user n + 1000; the lower id sent 20 messages, the higher
# one (the reader) has read them all.
psql -X -q -v ON_ERROR_STOP=1 "$URL" <<'SQL'
INSERT INTO conversation_members (conversation_id, user_id, last_read_seq)
  SELECT md5('c' || n)::uuid, p1, 0 FROM pairs
  UNION ALL SELECT md5('c' || n)::uuid, p2, 20 FROM pairs;
INSERT INTO messages (id, conversation_id, seq, sender_id, content, participant_ids, status, delivered_at, read_at)
  SELECT gen_random_uuid(), md5('c' || n)::uuid, s, p1, 'message ' || s, ARRAY[p1, p2], 'read', now(), now()
    FROM pairs, generate_series(1, 20) s;
VACUUM ANALYZE;
SQL

# The reader of conversation n, as pgbench can name it.
READER="greatest(md5('u' || :n)::uuid, md5('u' || (:n + 1000))::uuid)"
cat >"$WORK/before.sql" <<SQL
\\set n random(1, 1000)
SELECT participant1_id, participant2_id FROM conversations WHERE id = md5('c' || :n)::uuid;
BEGIN;
SELECT least(coalesce(NULL::bigint, c.last_seq), c.last_seq), cm.last_read_seq FROM conversations c JOIN conversation_members cm ON cm.conversation_id = c.id AND cm.user_id = $READER WHERE c.id = md5('c' || :n)::uuid FOR UPDATE OF cm;
ROLLBACK;
SQL
cat >"$WORK/now.sql" <<SQL
\\set n random(1, 1000)
SELECT c.participant1_id, c.participant2_id, least(coalesce(NULL::bigint, c.last_seq), c.last_seq), cm.last_read_seq FROM conversations c LEFT JOIN conversation_members cm ON cm.conversation_id = c.id AND cm.user_id = $READER WHERE c.id = md5('c' || :n)::uuid;
SQL

pgbench_forms "every receipt moves nothing" before now
