#!/usr/bin/env bash
# What PostgreSQL's busy backends wait for during a run (docs/benchmarks.md, "Latest results",
# "Stalls that are not the CPU"):
#
#   bench/pg-waits.sh [SECONDS]      default 40; start it just after `bench/load.sh <scenario>`
#
# Samples pg_stat_activity every 20 ms for SECONDS (one psql session, `\watch 0.02`): for each
# backend of the chat database that is not idle, its wait event, or `cpu` when it waits for
# nothing. Prints how many samples each came to, most first, and the instants when five or more
# backends were at work at once, with what each waited for. Needs psql and .local-state/env
# (local/services.sh writes it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=/dev/null
. "$ROOT/.local-state/env"
SECONDS_TO_WATCH="${1:-40}"
SAMPLES="$(mktemp)"
trap 'rm -f "$SAMPLES"' EXIT

QUERY="SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'HH24:MI:SS.MS'),
         string_agg(coalesce(wait_event_type || ':' || wait_event, 'cpu'), ' ' ORDER BY pid)
    FROM pg_stat_activity
   WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'"
printf '%s \\watch 0.02\n' "$QUERY" \
  | timeout "$SECONDS_TO_WATCH" psql -X -q -At -F ' ' "$DATABASE_URL" >"$SAMPLES" 2>/dev/null || true

echo "samples of busy backends, by what they waited for:"
awk '{for (i = 2; i <= NF; i++) n[$i]++} END {for (w in n) print n[w], w}' "$SAMPLES" | sort -rn
echo
echo "instants with five or more busy backends:"
awk 'NF >= 6' "$SAMPLES"
