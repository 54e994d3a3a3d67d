#!/usr/bin/env bash
# Where PostgreSQL reads outside its buffers during a run (docs/benchmarks.md, "Earlier results (2026-12-04, 06:19 to 07:42 UTC)"):
#
#   bench/pg-reads.sh [SECONDS]      default 100; start it just before `bench/load.sh <scenario>`
#
# Snapshots pg_statio_user_tables and pg_statio_user_indexes (blocks read from the kernel, page
# cache or disk, and blocks found in shared_buffers), samples every PostgreSQL process's
# read_bytes in /proc/<pid>/io (what came from the disk itself) every half second for SECONDS,
# then prints the disk reads as they came (UTC time, pid, bytes) and each relation's blocks read
# and hit over the window. Needs psql and .local-state/env (local/services.sh writes it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=/dev/null
. "$ROOT/.local-state/env"
SECONDS_TO_WATCH="${1:-100}"
QUERY="SELECT n, blks_read, blks_hit FROM (
  SELECT relname || '.' || indexrelname AS n, idx_blks_read AS blks_read, idx_blks_hit AS blks_hit
    FROM pg_statio_user_indexes
  UNION ALL
  SELECT relname, heap_blks_read, heap_blks_hit FROM pg_statio_user_tables) s ORDER BY n COLLATE \"C\""
before="$(psql "$DATABASE_URL" -AtF ' ' -c "$QUERY")"
declare -A last
end=$((SECONDS + SECONDS_TO_WATCH))
total=0
while [ "$SECONDS" -lt "$end" ]; do
  now="$(date -u +%H:%M:%S.%N | cut -c1-12)"
  for pid in $(pgrep -x postgres); do
    bytes="$(awk '/^read_bytes/ {print $2}' "/proc/$pid/io" 2>/dev/null)" || continue
    [ -n "$bytes" ] || continue
    if [ -n "${last[$pid]:-}" ] && [ "$bytes" != "${last[$pid]}" ]; then
      echo "$now pid $pid read $((bytes - last[$pid])) bytes from disk"
      total=$((total + bytes - last[$pid]))
    fi
    last[$pid]=$bytes
  done
  sleep 0.5
done
echo "PostgreSQL processes read $total bytes from disk in ${SECONDS_TO_WATCH} s"
after="$(psql "$DATABASE_URL" -AtF ' ' -c "$QUERY")"
echo "relation: blocks read from the kernel / found in shared_buffers, over the window"
LC_ALL=C join <(echo "$before") <(echo "$after") | awk '{ r = $4 - $2; h = $5 - $3; if (r || h) printf "%s: %d / %d\n", $1, r, h }'
