#!/usr/bin/env bash
# Starts dynalite, the in-memory DynamoDB emulator on Node.js (npm), on 127.0.0.1:${DYNALITE_PORT:-4567}
# unless it already answers there, and creates the connections table in it. For load
# benchmarks: it answers DynamoDB calls several times faster than moto (docs/benchmarks.md).
# moto stays the emulator of the tests (it also serves Secrets Manager, and TTL).
#
#   local/dynalite.sh            prints the endpoint: AWS_ENDPOINT_URL=http://127.0.0.1:4567
#
# Installs dynalite with `npm ci` from local/dynalite/package-lock.json into
# local/dynalite/node_modules (git-ignored); runs local/services.sh first for the rest of
# .local-state/env. Idempotent; its log is .local-state/dynalite.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HERE="$ROOT/local/dynalite"
PORT="${DYNALITE_PORT:-4567}"
ENDPOINT="http://127.0.0.1:$PORT"

die() {
    echo "dynalite.sh: error: $*" >&2
    exit 1
}

answers() {
    # dynalite answers an unsigned GET with 400 (missing authentication): any HTTP answer will do.
    curl -s -o /dev/null --max-time 1 "$ENDPOINT/"
}

"$ROOT/local/services.sh" --no-setup >/dev/null
# shellcheck source=/dev/null
. "$ROOT/.local-state/env"

if ! answers; then
    command -v node >/dev/null 2>&1 || die "Node.js is needed for dynalite (node not found)"
    if [ ! -x "$HERE/node_modules/.bin/dynalite" ]; then
        (cd "$HERE" && npm ci --silent --no-audit --no-fund) || die "npm ci failed in local/dynalite"
    fi
    # In memory (no --path): a restart starts empty, like the benchmark wants.
    # A 2 MB young generation: with Node's default (16 MB) each scavenge copied up to 30 MB of
    # survivors and paused dynalite 5-13 ms, and old-space collections followed every 3 s; the
    # sends in flight waited for it (docs/benchmarks.md, "Load": the slowest sends 35-160 ms,
    # 15 ms with this).
    nohup node --max-semi-space-size=2 "$HERE/node_modules/.bin/dynalite" --host 127.0.0.1 --port "$PORT" \
        >"$ROOT/.local-state/dynalite.log" 2>&1 </dev/null &
    for _ in $(seq 1 50); do
        answers && break
        sleep 0.2
    done
    answers || die "dynalite did not answer on $ENDPOINT (log: .local-state/dynalite.log)"
fi

# The table (dynalite has no UpdateTimeToLive; setup treats TTL as optional).
if ! out="$(cd "$ROOT" && AWS_ENDPOINT_URL="$ENDPOINT" cargo run --quiet -p chat-local -- setup 2>&1)"; then
    echo "$out" >&2
    die "chat-local setup against dynalite failed"
fi
echo "AWS_ENDPOINT_URL=$ENDPOINT"
