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

SECONDS_EACH="${1:-10}"
CLIENTS="${2:-8}"
# shellcheck source=bench/pgbench-forms.sh
. "$(dirname "${BASH_SOURCE[0]}")/pgbench-forms.sh"
pgbench_scratch_db upsert_user_bench

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

pgbench_forms "every user already there under the same name" before now
