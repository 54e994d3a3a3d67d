# Sourced by bench/upsert-user.sh and bench/read-receipt.sh, which time two forms of one statement
# with pgbench against a scratch database.
#
#   pgbench_scratch_db NAME    starts PostgreSQL if needed (local/services.sh), makes the database
#                              NAME (dropped on exit) and sets URL, the URL of NAME, and WORK, a
#                              temporary directory for the pgbench scripts
#   pgbench_forms WHAT FORM…   runs $WORK/FORM.sql for each FORM with $CLIENTS clients for
#                              $SECONDS_EACH seconds and prints pgbench's figures and the WAL written
# shellcheck shell=bash

pgbench_scratch_db() {
    local root
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    "$root/local/services.sh" --no-setup >/dev/null
    # shellcheck source=/dev/null
    . "$root/.local-state/env"
    command -v pgbench >/dev/null || { echo "${0##*/}: pgbench not found" >&2; exit 1; }
    export PGOPTIONS="-c client_min_messages=warning"
    PGBENCH_DB="$1"
    PGBENCH_ADMIN="${DATABASE_URL%/*}/postgres"
    URL="${DATABASE_URL%/*}/$PGBENCH_DB"
    WORK="$(mktemp -d)"
    trap 'rm -rf "$WORK"; psql -X -q "$PGBENCH_ADMIN" -c "DROP DATABASE IF EXISTS $PGBENCH_DB" >/dev/null' EXIT
    psql -X -q "$PGBENCH_ADMIN" -c "DROP DATABASE IF EXISTS $PGBENCH_DB" -c "CREATE DATABASE $PGBENCH_DB"
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
