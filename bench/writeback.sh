#!/usr/bin/env bash
# What writeback during a run does to sends, with and without the flush that bench/load.sh makes
# before each run (CHECKPOINT and sync; BENCH_FLUSH=0 skips it): docs/benchmarks.md, "Writeback in
# the run".
#
#   bench/writeback.sh [MB] [PAIRS]      defaults: 1000 MB, 3 pairs
#
# Before each run, writes MB of zeros to a file in /var/tmp without flushing them, as a build of
# chat-local leaves its binaries; the kernel writes such pages back 30 s later, during the run.
# Then runs `bench/load.sh knee --rates 100 --duration 40` with the server's per-send timings
# (CHAT_LOCAL_LOG=warn,chat_shared::app::send_message=debug), first with BENCH_FLUSH=0, then with
# the flush, PAIRS times. Prints for each run the knee step's row of the summary (rate, achieved,
# delivery and ack p99 in ms, lost, errors, good) and, from the server's timings (rate limit, store,
# push and delivered mark of each send), how many sends took over 40 ms and the slowest.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MB="${1:-1000}"
PAIRS="${2:-3}"
OUT="$ROOT/target/chat-bench"
DIRTY="$(mktemp -p /var/tmp writeback.XXXXXX)"
trap 'rm -f "$DIRTY"' EXIT

for pair in $(seq 1 "$PAIRS"); do
    for flush in 0 1; do
        dd if=/dev/zero of="$DIRTY" bs=1M count="$MB" status=none
        status=0
        BENCH_FLUSH="$flush" CHAT_LOCAL_LOG='warn,chat_shared::app::send_message=debug' \
            "$ROOT/bench/load.sh" knee --rates 100 --duration 40 --quiet >"$OUT/writeback.txt" 2>&1 || status=$?
        # 1 is a missed target (the knee's 1,000 msg/s, out of reach at 100); 2 is a failed run.
        if [[ "$status" -gt 1 ]]; then
            cat "$OUT/writeback.txt" >&2
            exit 2
        fi
        rm -f "$DIRTY"
        sync
        sends="$(awk '/message:send timings/ {
                t = 0
                for (i = 1; i <= NF; i++) {
                    split($i, kv, "=")
                    if (kv[1] == "limit_us" || kv[1] == "store_us" || kv[1] == "push_us" || kv[1] == "mark_us") t += kv[2]
                }
                n++; if (t > 40000) over++; if (t > max) max = t
            }
            END { printf "%d sends, %d over 40 ms, slowest %.0f ms", n, over, max / 1000 }' "$OUT/chat-local.log")"
        printf 'pair %s, BENCH_FLUSH=%s: %s  %s\n' "$pair" "$flush" "$(grep '^| 100 ' "$OUT/writeback.txt")" "$sends"
    done
done
