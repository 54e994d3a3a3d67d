#!/usr/bin/env bash
# Where chat-local's CPU goes under a steady send load, callers included (docs/benchmarks.md,
# "Where chat-local's CPU goes, with callers"):
#
#   bench/profile.sh [RATE] [SECONDS]        defaults: 700 msg/s, 10 s of samples
#
# Builds chat-local with frame pointers (-C force-frame-pointers=yes, and -fno-omit-frame-pointer
# for mimalloc's C) into target/profile-fp, its own target directory, so the usual build stays
# as it is (the first build takes about 5 minutes); runs `bench/load.sh knee --rates RATE` with
# that binary (BENCH_SERVER_BIN) for SECONDS + 25 s; records chat-local with `perf record -g`
# for SECONDS in the middle of the step; and prints the user-space functions by inclusive share
# of chat-local's samples (each function with everything it calls; shares overlap), then the
# rows that name the stages of a send. Without frame pointers `perf` could only attribute samples
# to the function they fell in, which left a flat profile; DWARF unwinding lost most samples on
# this machine. Needs `perf` (Debian's linux-perf). Leaves target/chat-bench/profile.data.
set -euo pipefail

RATE="${1:-700}"
SECONDS_SAMPLED="${2:-10}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/target/chat-bench"
log() { printf '==> profile.sh: %s\n' "$*" >&2; }

command -v perf >/dev/null 2>&1 || { log "perf not found (Debian: apt-get install linux-perf)"; exit 2; }
cd "$ROOT"
log "building chat-local with frame pointers (target/profile-fp)"
CARGO_TARGET_DIR="$ROOT/target/profile-fp" RUSTFLAGS="-C force-frame-pointers=yes" \
  CFLAGS="-fno-omit-frame-pointer" cargo build --quiet --profile tools -p chat-local --bin chat-local
mkdir -p "$OUT"

BENCH_SERVER_BIN="$ROOT/target/profile-fp/tools/chat-local" \
  "$ROOT/bench/load.sh" knee --rates "$RATE" --duration $((SECONDS_SAMPLED + 25)) >"$OUT/profile-run.txt" 2>&1 &
RUN=$!
# The server's pid, from load.sh's own line (another chat-local, local/dev's say, may be running),
# once it is up; the step starts once the connections are open and the warm-up is over, about
# 12 s later.
SERVER=""
for _ in $(seq 1 1200); do
  SERVER="$(sed -n 's/^==> load.sh: chat-local (pid \([0-9]*\)).*/\1/p' "$OUT/profile-run.txt" 2>/dev/null)"
  [[ -n "$SERVER" ]] && break
  kill -0 "$RUN" 2>/dev/null || break
  sleep 0.1
done
[[ -n "$SERVER" ]] || { log "chat-local did not start (see $OUT/profile-run.txt)"; wait "$RUN" || true; exit 2; }
sleep 12
log "recording chat-local (pid $SERVER) for $SECONDS_SAMPLED s"
perf record -q -g -F 499 -p "$SERVER" -o "$OUT/profile.data" -- sleep "$SECONDS_SAMPLED" 2>/dev/null
rc=0
wait "$RUN" || rc=$?
case "$rc" in
  0) ;;
  1) log "chat-bench reports a target missed (one step below 1,000 msg/s misses the knee's); the profile stands" ;;
  *) log "bench/load.sh failed (exit code $rc; see $OUT/profile-run.txt)"; exit "$rc" ;;
esac
grep -E "^\| knee [0-9]+/s \| (ack|delivery|server) " "$OUT/profile-run.txt" || true

report() {
  perf report -i "$OUT/profile.data" --children --sort symbol --stdio -g none 2>/dev/null \
    | grep -E '^ +[0-9]' | grep -v '\[k\]' | cut -c1-160
}
echo
echo "chat-local, user-space functions by inclusive share of its samples (1 % and more; the"
echo "runtime's own frames, which hold everything, left out):"
report | grep -vE '\] (<)?(tokio|futures_util|futures_core|core::future|core::ops|std::sys|tracing::instrument)::|start_thread' \
  | awk '$1 + 0 >= 1.0 && shown++ < 50'
echo
echo "the stages of a send:"
report | grep -E 'WsSendMessage as|connections_of_each|ApiGatewayNotifier as|orchestrator::try_op::|auth::sign_request|append_message|mark_delivered|RedisRateLimiter as|RedisTypingTracker as|events::ws_message_event|axum::serve::handle_connection' \
  | grep -v drop_in_place | awk '$1 + 0 >= 0.5 { name = $0; sub(/^[^]]*] /, "", name); if (!seen[name]++) print }'
