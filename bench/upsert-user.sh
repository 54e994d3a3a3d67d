#!/usr/bin/env bash
# What a reconnect costs PostgreSQL: the user upsert that every `$connect` runs, for a user who is
# already there under the same name, in the form before commit "upsert_user writes nothing for
# an unchanged user" (a plain ON CONFLICT DO UPDATE … WHERE, which locks the row anyway) and in
# the form of shared/src/adapters/postgres.rs now.
#
#   bench/upsert-user.sh [SECONDS] [CLIENTS]      defaults: 10 s, 8 clients (chat-local's pool)
#
# Runs pgbench with each statement in turn against a scratch database `upsert_user_bench` (made
# and dropped here) holding 10,000 users, and prints pgbench's figures and the WAL each form wrote.
# Needs PostgreSQL (local/services.sh) and pgbench.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_EACH="${1:-10}"
CLIENTS="${2:-8}"
"$ROOT/local/services.sh" --no-setup >/dev/null
# shellcheck source=/dev/null
. "$ROOT/.local-state/env"
command -v pgbench >/dev/null || { echo "upsert-user.sh: pgbench not found" >&2; exit 1; }

export PGOPTIONS="-c client_min_messages=warning"
DB=upsert_user_bench
ADMIN="${DATABASE_URL%/*}/postgres"
URL="${DATABASE_URL%/*}/$DB"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"; psql -X -q "$ADMIN" -c "DROP DATABASE IF EXISTS $DB" >/dev/null' EXIT

psql -X -q "$ADMIN" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
# The users table of migrations/V1__init.sql.
psql -X -q "$URL" <<'SQL'
CREATE TABLE users (
    id           uuid PRIMARY KEY,
    display_name text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 200),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
INSERT INTO users (id, display_name) SELECT md5(n::text)::uuid, 'user ' || n FROM generate_series(1, 10000) n;
VACUUM ANALYZE users;
SQL

cat >"$WORK/before.sql" <<'SQL'
\set n random(1, 10000)
INSERT INTO users (id, display_name) VALUES (md5(:n::text)::uuid, 'user ' || :n) ON CONFLICT (id) DO UPDATE SET display_name = EXCLUDED.display_name, updated_at = now() WHERE users.display_name IS DISTINCT FROM EXCLUDED.display_name;
SQL
cat >"$WORK/now.sql" <<'SQL'
\set n random(1, 10000)
INSERT INTO users (id, display_name) SELECT md5(:n::text)::uuid, 'user ' || :n WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = md5(:n::text)::uuid AND display_name = 'user ' || :n) ON CONFLICT (id) DO UPDATE SET display_name = EXCLUDED.display_name, updated_at = now() WHERE users.display_name IS DISTINCT FROM EXCLUDED.display_name;
SQL

for form in before now; do
    lsn="$(psql -X -At "$URL" -c 'SELECT pg_current_wal_lsn()')"
    echo "== $form: $CLIENTS clients, $SECONDS_EACH s, every user already there under the same name"
    pgbench -n -M prepared -c "$CLIENTS" -j 2 -T "$SECONDS_EACH" -f "$WORK/$form.sql" "$URL" \
        | grep -E '^(number of transactions actually processed|latency average|tps)'
    psql -X -At "$URL" -c "SELECT 'WAL written: ' || pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn'))"
done
