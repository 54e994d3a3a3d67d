#!/usr/bin/env bash
# Does the knee depend on how much the database has grown? (docs/benchmarks.md, "Latest
# results", "A fresh database against a grown one"):
#
#   bench/fresh-db.sh [ROUNDS]        default: 2 rounds
#
# Each round runs `bench/load.sh knee` twice, first against a new scratch database `chat_fresh`
# (dropped, made again and migrated by `chat-local migrate` before every fresh run), then against
# the database of .local-state/env, which keeps every earlier run's messages; and prints, for
# each run, the last good rate, each step's ack p99 and the machine's busy time, how many
# buffers PostgreSQL's backends had to write out themselves to make room (pg_stat_bgwriter's
# buffers_backend: the database outgrew shared_buffers), the most dirty page cache waiting for
# the disk (/proc/meminfo's Dirty, read every second), and the database's size after the run.
# Writes each run's output to target/chat-bench/fresh-db-<fresh|grown><round>.txt.
set -euo pipefail

ROUNDS="${1:-2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/target/chat-bench"
cd "$ROOT"
local/services.sh >/dev/null
# shellcheck source=/dev/null
. .local-state/env
BASE="${DATABASE_URL%/*}"
GROWN="$DATABASE_URL"
FRESH="$BASE/chat_fresh"
mkdir -p "$OUT"

backend_writes() { psql -X -At "$BASE/postgres" -c "SELECT buffers_backend FROM pg_stat_bgwriter"; }

# The largest Dirty (kB) seen while the process PID lives, read every second.
peak_dirty() {
    local peak=0 dirty
    while kill -0 "$1" 2>/dev/null; do
        dirty="$(awk '/^Dirty:/ {print $2}' /proc/meminfo)"
        ((dirty > peak)) && peak="$dirty"
        sleep 1
    done
    echo "$peak"
}

knee() {
    local label="$1" url="$2" before after status=0
    before="$(backend_writes)"
    DATABASE_URL="$url" bench/load.sh knee >"$OUT/fresh-db-$label.txt" 2>&1 &
    local run=$!
    peak_dirty "$run" >"$OUT/fresh-db-$label.dirty" &
    wait "$run" || status=$?
    wait
    after="$(backend_writes)"
    [[ "$status" -le 1 ]] || { echo "bench/load.sh failed ($status): $OUT/fresh-db-$label.txt" >&2; exit "$status"; }
    echo "== $label: $(grep -m1 -i 'last good rate' "$OUT/fresh-db-$label.txt"); backend writes $((after - before));" \
        "peak Dirty $(cat "$OUT/fresh-db-$label.dirty") kB; database $(psql -X -At "$url" -c 'SELECT pg_size_pretty(pg_database_size(current_database()))')"
    # Each step: ack p99 (the summary table's seventh column) and the machine's busy time.
    awk -F'|' '/^\| knee [0-9]+\/s \| ack /{p99[$2]=$8} /^\| knee [0-9]+\/s \| server /{print "  " $2 "ack p99" p99[$2] "ms, busy" $4}' \
        "$OUT/fresh-db-$label.txt"
}

for round in $(seq 1 "$ROUNDS"); do
    psql -X -q "$BASE/postgres" -c "DROP DATABASE IF EXISTS chat_fresh" -c "CREATE DATABASE chat_fresh"
    if ! migrated="$(DATABASE_URL="$FRESH" cargo run --quiet -p chat-local -- migrate 2>&1)"; then
        echo "$migrated" >&2
        exit 2
    fi
    knee "fresh$round" "$FRESH"
    knee "grown$round" "$GROWN"
done
