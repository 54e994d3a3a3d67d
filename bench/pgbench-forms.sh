# Sourced by bench/upsert-user.sh, bench/read-receipt.sh and bench/message-reads.sh, which time
# two forms of a statement with pgbench against a scratch database.
#
#   pgbench_scratch_db NAME    starts PostgreSQL if needed (local/services.sh), makes the database
#                              NAME (dropped on exit) and sets URL, the URL of NAME, and WORK, a
#                              temporary directory for the pgbench scripts
#   pgbench_chat_db NAME SEQ   pgbench_scratch_db NAME, then migrations/ and 1,000 conversations
#                              at last_seq SEQ: conversation n (id md5('c' || n)) is between users
#                              n and n + 1000 (ids md5('u' || n)); table `pairs` (n, p1, p2) holds
#                              each one's participants in the conversations table's order
#   pgbench_forms WHAT FORM…   runs $WORK/FORM.sql for each FORM with $CLIENTS clients for
#                              $SECONDS_EACH seconds and prints pgbench's figures and the WAL written
# shellcheck shell=bash

PGBENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

pgbench_scratch_db() {
    "$PGBENCH_ROOT/local/services.sh" --no-setup >/dev/null
    # shellcheck source=/dev/null
    . "$PGBENCH_ROOT/.local-state/env"
    command -v pgbench >/dev/null || { echo "${0##*/}: pgbench not found" >&2; exit 1; }
    export PGOPTIONS="-c client_min_messages=warning"
    PGBENCH_DB="$1"
    PGBENCH_ADMIN="${DATABASE_URL%/*}/postgres"
    URL="${DATABASE_URL%/*}/$PGBENCH_DB"
    WORK="$(mktemp -d)"
    trap 'rm -rf "$WORK"; psql -X -q "$PGBENCH_ADMIN" -c "DROP DATABASE IF EXISTS $PGBENCH_DB" >/dev/null' EXIT
    psql -X -q "$PGBENCH_ADMIN" -c "DROP DATABASE IF EXISTS $PGBENCH_DB" -c "CREATE DATABASE $PGBENCH_DB"
}

pgbench_chat_db() {
    local migration
    pgbench_scratch_db "$1"
    for migration in "$PGBENCH_ROOT"/migrations/V*.sql; do
        psql -X -q -v ON_ERROR_STOP=1 "$URL" -f "$migration" >/dev/null
    done
    psql -X -q -v ON_ERROR_STOP=1 -v seq="$2" "$URL" <<'SQL'
INSERT INTO users (id, display_name) SELECT md5('u' || n)::uuid, 'user ' || n FROM generate_series(1, 2000) n;
CREATE TABLE pairs AS
  SELECT n, least(md5('u' || n)::uuid, md5('u' || (n + 1000))::uuid) AS p1,
            greatest(md5('u' || n)::uuid, md5('u' || (n + 1000))::uuid) AS p2
    FROM generate_series(1, 1000) n;
INSERT INTO conversations (id, participant1_id, participant2_id, last_seq)
  SELECT md5('c' || n)::uuid, p1, p2, :seq FROM pairs;
SQL
}

pgbench_forms() {
    local what="$1" form lsn
    shift
    for form in "$@"; do
        lsn="$(psql -X -At "$URL" -c 'SELECT pg_current_wal_lsn()')"
        echo "== $form: $CLIENTS clients, $SECONDS_EACH s, $what"
        pgbench -n -M prepared -c "$CLIENTS" -j 2 -T "$SECONDS_EACH" -f "$WORK/$form.sql" "$URL" \
            | grep -E '^(number of transactions actually processed|latency average|tps)'
        psql -X -At "$URL" -c "SELECT 'WAL written: ' || pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn'))"
    done
}
