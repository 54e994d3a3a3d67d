#!/usr/bin/env bash
# The query benchmark in one command (docs/benchmarks.md):
#
#   bench/query-bench.sh [chat-query-bench options...]     e.g. --iterations 2000 --json out.json
#
# Starts PostgreSQL and Redis if needed (local/services.sh), creates the database chat_bench
# and loads the 1M-message dataset into it when it does not hold it yet (chat-dataset, about a
# minute; BENCH_RELOAD=1 forces a reload), builds the tools with the `tools` profile, then runs
# chat-query-bench, which prints the Markdown table and exits 1 if a target is missed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DB_NAME="${BENCH_DATABASE:-chat_bench}"
DB_URL="postgres://postgres:postgres@127.0.0.1:5432/$DB_NAME"
log() { printf '==> query-bench: %s\n' "$*" >&2; }

"$ROOT/local/services.sh" >/dev/null
# shellcheck source=/dev/null
. "$ROOT/.local-state/env"
cd "$ROOT"
cargo build --quiet --profile tools -p chat-bench --bins

psql_bench() { PGPASSWORD=postgres psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres "$@"; }
if [[ "$(psql_bench -d postgres -tAc "SELECT count(*) FROM pg_database WHERE datname = '$DB_NAME'")" == 0 ]]; then
  log "creating database $DB_NAME"
  psql_bench -d postgres -c "CREATE DATABASE $DB_NAME"
fi
messages="$(psql_bench -d "$DB_NAME" -tAc "SELECT count(*) FROM messages" 2>/dev/null || echo 0)"
if [[ "${BENCH_RELOAD:-0}" == 1 || "$messages" != 1000000 || ! -f bench/dataset-summary.json ]]; then
  log "loading the dataset into $DB_NAME (chat-dataset)"
  target/tools/chat-dataset --database-url "$DB_URL" --reset >/dev/null
fi
exec target/tools/chat-query-bench --database-url "$DB_URL" "$@"
