#!/usr/bin/env bash
# The load generator against a local chat-local in one command (docs/benchmarks.md):
#
#   bench/load.sh <scenario> [chat-bench options...]
#   e.g. bench/load.sh delivery --users 1000 --rate 100 --duration 60
#        bench/load.sh r10
#        bench/load.sh knee --rates 200,400,800,1000,1500
#        bench/load.sh idle --connections 10000 --hold 30
#
# Starts PostgreSQL, Redis and moto if needed (local/services.sh, which writes .local-state/env)
# and a fast DynamoDB emulator: Dynoxide (local/dynoxide.sh), or dynalite with
# BENCH_EMULATOR=dynalite (local/dynalite.sh); BENCH_EMULATOR=moto keeps moto;
# vacuums the chat tables (in place of autovacuum, which may be off; psql if installed),
# builds chat-local and chat-bench with the `tools` profile, flushes dirty pages (CHECKPOINT and
# sync, so that no writeback lands in the run), raises the open file limit (every
# connection is a descriptor, on both sides), starts `chat-local serve` on free ports with every
# rate limit raised out of reach and 8 pooled PostgreSQL connections, runs chat-bench against it
# with --server-pid (its VmRSS and CPU) and --watch-pid for PostgreSQL, Redis and the emulator,
# and stops chat-local afterwards. chat-bench's exit code is the script's: 1 when a target is
# missed, 2 on errors. CHAT_LOCAL_LOG (chat-local's RUST_LOG, default warn) sets what goes to
# target/chat-bench/chat-local.log; `warn,chat_shared::app::send_message=debug` times each send.
# BENCH_ALLOCATOR=system builds chat-local with the system allocator instead of mimalloc.
# BENCH_SERVER_BIN=PATH runs that chat-local binary instead of building one (A/B comparisons of
# two versions on the same machine, interleaved). BENCH_FLUSH=0 skips the flush before the run
# (bench/writeback.sh compares the two).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf '==> load.sh: %s\n' "$*" >&2; }

if [[ $# -eq 0 || "$1" == -* ]]; then
  sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  [[ $# -gt 0 ]] && exec "$ROOT/target/tools/chat-bench" "$@"
  exit 2
fi

"$ROOT/local/services.sh" >/dev/null
# shellcheck source=/dev/null
. "$ROOT/.local-state/env"
# Every message updates its conversation's row, and PostgreSQL installations with autovacuum off
# (this machine's) keep every dead row: after a few runs the conversation list read 20 times as
# many tuples as it returns. What autovacuum would have done, done before each run, to the chat
# tables that have dead rows, and only once they hold 10 pages: a vacuum of a (nearly) empty
# table records it as empty, the server's pooled connections then cache generic plans that scan
# it sequentially, and without autovacuum nothing invalidates them while the run fills it (the
# first knee run on a fresh database: 200 msg/s, every send reading the whole messages table).
# Left unvacuumed, the planner assumes 10 pages and picks the indexes (docs/benchmarks.md, "A
# vacuumed empty table").
if command -v psql >/dev/null 2>&1; then
  stale="$(psql -X -q -At "$DATABASE_URL" -c "SELECT string_agg(relname, ', ') FROM pg_stat_user_tables \
    WHERE relname IN ('conversations', 'conversation_members', 'messages') AND n_dead_tup > 0 \
      AND pg_relation_size(relid) >= 10 * current_setting('block_size')::int")" \
    || log "reading the tables' dead rows failed; the run goes on"
  if [[ -n "$stale" ]]; then
    psql -X -q "$DATABASE_URL" -c "VACUUM (ANALYZE) $stale" || log "VACUUM failed; the run goes on"
  fi
fi
# moto answers a DynamoDB call in 2-7 ms, dynalite in about 1 ms, and a connection look-up costs
# Dynoxide a fifth to a third of the CPU it costs dynalite: the load runs measure us, not the
# emulator (docs/benchmarks.md).
EMULATOR="${BENCH_EMULATOR:-dynoxide}"
case "$EMULATOR" in
  dynoxide | dynalite) export "$("$ROOT/local/$EMULATOR.sh" | tail -n 1)" ;;
  moto) ;;
  *) log "BENCH_EMULATOR must be dynoxide, dynalite or moto"; exit 2 ;;
esac
log "DynamoDB emulator: $AWS_ENDPOINT_URL"
cd "$ROOT"
log "building chat-local and chat-bench (tools profile)"
cargo build --quiet --profile tools -p chat-bench --bin chat-bench
# BENCH_ALLOCATOR=system: chat-local with the system allocator instead of mimalloc (built on its
# own, so that chat-bench's use of the library does not turn the default feature back on).
LOCAL_FEATURES=()
[[ "${BENCH_ALLOCATOR:-mimalloc}" == system ]] && LOCAL_FEATURES=(--no-default-features)
SERVER_BIN="${BENCH_SERVER_BIN:-target/tools/chat-local}"
if [[ -z "${BENCH_SERVER_BIN:-}" ]]; then
  cargo build --quiet --profile tools -p chat-local --bin chat-local "${LOCAL_FEATURES[@]}"
else
  log "chat-local: $SERVER_BIN (BENCH_SERVER_BIN, not built here)"
fi

# A commit waits for PostgreSQL's WAL to reach the disk, and on a machine whose one disk also
# takes everything else, a burst of writeback from another file holds that fsync up: 1 GB written
# by dd and flushed during a run held sends up to 280 ms, and the kernel flushes dirty pages 30 s
# after they were written, so what the build above, the vacuum and the last run left dirty would
# land in this run. Flushed now, with a checkpoint (which also starts the 5-minute timer anew, so
# no timed checkpoint falls in a run shorter than that): docs/benchmarks.md, "Writeback in the run".
if [[ "${BENCH_FLUSH:-1}" == 0 ]]; then
  log "BENCH_FLUSH=0: no checkpoint or sync before the run"
else
  if command -v psql >/dev/null 2>&1; then
    psql -X -q "$DATABASE_URL" -c CHECKPOINT || log "CHECKPOINT failed; the run goes on"
  fi
  sync
fi

# 10,000 connections need 10,000 descriptors in each process; raise the soft limit as far as allowed.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
log "open files limit: $(ulimit -n)"

OUT="$ROOT/target/chat-bench"
mkdir -p "$OUT"
SERVER_LOG="$OUT/chat-local.log"
export RATE_LIMIT_MESSAGES_PER_MINUTE=1000000000
export RATE_LIMIT_TYPING_PER_MINUTE=1000000000
export RATE_LIMIT_CONNECTS_PER_MINUTE=1000000000
export RATE_LIMIT_REST_PER_MINUTE=1000000000
# chat-local stands for many Lambda containers, each with its own connection; with the default
# 4 pooled connections, marking messages delivered queued for the pool at 1,000 msg/s.
export DATABASE_POOL_SIZE="${DATABASE_POOL_SIZE:-8}"
RUST_LOG="${CHAT_LOCAL_LOG:-warn}" "$SERVER_BIN" serve --ws-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 \
  >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
stop_server() {
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
}
trap stop_server EXIT

# chat-local prints its URLs once both listeners are bound.
WS_URL="" HTTP_URL=""
for _ in $(seq 1 300); do
  WS_URL="$(sed -n 's/^WebSocket API *\(ws:[^?]*\)?token=.*/\1/p' "$SERVER_LOG")"
  HTTP_URL="$(sed -n 's/^HTTP API *\(http:.*\)$/\1/p' "$SERVER_LOG")"
  [[ -n "$WS_URL" && -n "$HTTP_URL" ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$SERVER_LOG" >&2; log "chat-local exited"; exit 2; }
  sleep 0.1
done
[[ -n "$WS_URL" && -n "$HTTP_URL" ]] || { cat "$SERVER_LOG" >&2; log "chat-local did not start"; exit 2; }
log "chat-local (pid $SERVER_PID): $WS_URL, $HTTP_URL"

# Read-only: the CPU of the backing services, per phase.
WATCH=()
if command -v pgrep >/dev/null 2>&1; then
  pg_pid="$(pgrep -o -x postgres || true)"
  [[ -n "$pg_pid" ]] && WATCH+=(--watch-pid "postgres=$pg_pid")
  redis_pid="$(pgrep -o -x redis-server || true)"
  [[ -n "$redis_pid" ]] && WATCH+=(--watch-pid "redis=$redis_pid")
fi
emulator_port="${AWS_ENDPOINT_URL##*:}"
emulator_pid="$(ss -Hltnp "sport = :${emulator_port%%/*}" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1)"
[[ -n "$emulator_pid" ]] && WATCH+=(--watch-pid "dynamodb-emulator=$emulator_pid")

set +e
target/tools/chat-bench "$@" --ws-url "$WS_URL" --http-url "$HTTP_URL" --server-pid "$SERVER_PID" "${WATCH[@]}"
status=$?
set -e
exit "$status"
