#!/usr/bin/env bash
# Starts dynalite, the in-memory DynamoDB emulator on Node.js (npm), on 127.0.0.1:${DYNALITE_PORT:-4567}
# unless it already answers there, and creates the connections table in it. For load
# benchmarks (`BENCH_EMULATOR=dynalite bench/load.sh …`; local/dynoxide.sh is the default): it
# answers DynamoDB calls several times faster than moto (docs/benchmarks.md). moto stays the
# emulator of the tests (it also serves Secrets Manager, and TTL).
#
#   local/dynalite.sh            prints the endpoint: AWS_ENDPOINT_URL=http://127.0.0.1:4567
#
# Installs dynalite with `npm ci` from local/dynalite/package-lock.json into
# local/dynalite/node_modules (git-ignored); runs local/services.sh first for the rest of
# .local-state/env. Idempotent; its log is .local-state/dynalite.log. dynalite has no
# UpdateTimeToLive; `chat-local setup` treats TTL as optional.
set -euo pipefail
# shellcheck source=local/emulator.sh
. "$(dirname "${BASH_SOURCE[0]}")/emulator.sh"
HERE="$ROOT/local/dynalite"

install_dynalite() {
    command -v node >/dev/null 2>&1 || emulator_die "Node.js is needed for dynalite (node not found)"
    if [ ! -x "$HERE/node_modules/.bin/dynalite" ]; then
        (cd "$HERE" && npm ci --silent --no-audit --no-fund) || emulator_die "npm ci failed in local/dynalite"
    fi
}

start_dynalite() {
    # In memory (no --path): a restart starts empty, like the benchmark wants.
    # A 2 MB young generation: with Node's default (16 MB) each scavenge copied up to 30 MB of
    # survivors and paused dynalite 5-13 ms, and old-space collections followed every 3 s; the
    # sends in flight waited for it (docs/benchmarks.md, "Load": the slowest sends 35-160 ms,
    # 15 ms with this).
    nohup node --max-semi-space-size=2 "$HERE/node_modules/.bin/dynalite" --host 127.0.0.1 --port "$PORT" \
        >"$LOG" 2>&1 </dev/null &
}

emulator_main dynalite "${DYNALITE_PORT:-4567}" install_dynalite start_dynalite
