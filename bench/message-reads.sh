#!/usr/bin/env bash
# Two ways for a read of messages to name each message's recipient, timed: joining
# `conversations` (what shared/src/adapters/postgres.rs does, MESSAGE_COLUMNS) and taking the other
# participant from the message row's own `participant_ids` (migration V3), which was tried on
# 2026-12-04 and not adopted: no difference beyond the order the forms ran in (docs/benchmarks.md,
# "Tried and not adopted: naming the recipient from the message row"). Two reads, each in both
# forms, in the order A B B A so that a drift during the run favours neither: a message by id
# (what the send's delivered mark returns; the idempotent retry's look-up by clientMessageId reads
# one row the same way) and a history page (the newest 50 messages of a conversation).
#
#   bench/message-reads.sh [SECONDS] [CLIENTS]     defaults: 10 s, 8 clients (chat-local's pool)
#
# Runs pgbench with each form in turn against a scratch database `message_reads_bench` (made from
# migrations/ and dropped here) holding 1,000 conversations of 200 messages. As in a load run on
# a PostgreSQL without autovacuum, each conversation's row was then updated 20 times (every send
# bumps `last_seq` and `updated_at`, and the activity indexes hold `updated_at`, so no such update
# is HOT), so its primary key holds the dead versions a run leaves. Prints pgbench's figures for
# each form. Needs PostgreSQL (local/services.sh) and pgbench.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_EACH="${1:-10}"
CLIENTS="${2:-8}"
# shellcheck source=bench/pgbench-forms.sh
. "$ROOT/bench/pgbench-forms.sh"
pgbench_chat_db message_reads_bench 200
# Conversation n is between user n and user n + 1000; message s of it is md5('m' || n || '.' || s).
psql -X -q -v ON_ERROR_STOP=1 "$URL" <<'SQL'
INSERT INTO conversation_members (conversation_id, user_id)
  SELECT md5('c' || n)::uuid, p1 FROM pairs UNION ALL SELECT md5('c' || n)::uuid, p2 FROM pairs;
INSERT INTO messages (id, conversation_id, seq, sender_id, content, participant_ids)
  SELECT md5('m' || n || '.' || s)::uuid, md5('c' || n)::uuid, s, CASE WHEN s % 2 = 0 THEN p1 ELSE p2 END,
         'message number ' || s || ' of conversation ' || n, ARRAY[p1, p2]
    FROM pairs, generate_series(1, 200) s;
VACUUM ANALYZE;
SQL
# Then 20 sends' worth of conversation updates, as a run leaves them.
for _ in $(seq 1 20); do
    psql -X -q "$URL" -c "UPDATE conversations SET updated_at = now()"
done

COLUMNS="m.id, m.conversation_id, m.seq, m.sender_id, m.content, m.status, m.created_at, m.delivered_at, m.read_at, m.client_message_id"
JOINED="$COLUMNS, CASE WHEN c.participant1_id = m.sender_id THEN c.participant2_id ELSE c.participant1_id END AS recipient_id"
ALONE="$COLUMNS, CASE WHEN m.participant_ids[1] = m.sender_id THEN m.participant_ids[2] ELSE m.participant_ids[1] END AS recipient_id"
cat >"$WORK/by-id-joined.sql" <<SQL
\\set n random(1, 1000)
\\set s random(1, 200)
SELECT $JOINED FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.id = md5('m' || :n || '.' || :s)::uuid;
SQL
cat >"$WORK/by-id-alone.sql" <<SQL
\\set n random(1, 1000)
\\set s random(1, 200)
SELECT $ALONE FROM messages m WHERE m.id = md5('m' || :n || '.' || :s)::uuid;
SQL
cat >"$WORK/history-joined.sql" <<SQL
\\set n random(1, 1000)
SELECT $JOINED FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.conversation_id = md5('c' || :n)::uuid AND m.seq <= 9223372036854775807 ORDER BY m.seq DESC LIMIT 50;
SQL
cat >"$WORK/history-alone.sql" <<SQL
\\set n random(1, 1000)
SELECT $ALONE FROM messages m WHERE m.conversation_id = md5('c' || :n)::uuid AND m.seq <= 9223372036854775807 ORDER BY m.seq DESC LIMIT 50;
SQL

pgbench_forms "a message by id" by-id-joined by-id-alone by-id-alone by-id-joined
pgbench_forms "a history page (50 newest)" history-joined history-alone history-alone history-joined
