#!/usr/bin/env bash
# Bounded local fuzzing of chat-shared with cargo-fuzz (libFuzzer). CI does not run this.
#
# Usage: shared/fuzz/run.sh [SECONDS] [TARGET...]
#   SECONDS  time per target (default 120); TARGET defaults to every target (`cargo fuzz list`).
# Needs `cargo install cargo-fuzz --locked`. Copies seeds/<target>/ into corpus/<target>/, runs
# each target in turn, prints libFuzzer's final stats, and exits 1 if any target found a crash
# (the input is then in artifacts/<target>/; older files there are not counted again).
# Full logs: target/fuzz-logs/<target>.log.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

seconds=${1:-120}
shift || true
if [[ ! $seconds =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [SECONDS] [TARGET...]" >&2
    exit 2
fi

# cargo fuzz passes -Z flags (sanitizer, coverage); this lets a stable toolchain accept them.
export RUSTC_BOOTSTRAP=1

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

for target in "${targets[@]}"; do
    cargo fuzz build "$target"
done

mkdir -p target/fuzz-logs
failed=()
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target"
    if [ -d "seeds/$target" ]; then
        cp -n "seeds/$target"/* "corpus/$target/" 2>/dev/null || true
    fi
    log="target/fuzz-logs/$target.log"
    stamp="target/fuzz-logs/$target.start"
    touch "$stamp"
    echo "==> $target: ${seconds}s"
    rc=0
    # -timeout: an input slower than 10 s is a finding; -print_final_stats: the stat:: lines.
    cargo fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1 || rc=$?
    grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|^Done ' "$log" || true
    findings=$(find "artifacts/$target" -type f -newer "$stamp" | wc -l)
    echo "<== $target: exit $rc, new findings in artifacts/$target: $findings"
    if [ "$rc" -ne 0 ] || [ "$findings" -ne 0 ]; then
        grep -E 'panicked at|ERROR: libFuzzer|SUMMARY|Test unit written to' "$log" || tail -n 30 "$log"
        failed+=("$target")
    fi
done

if [ ${#failed[@]} -ne 0 ]; then
    echo "findings: ${failed[*]}"
    exit 1
fi
echo "findings: none"
