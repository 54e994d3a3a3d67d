#!/usr/bin/env bash
# The web client's browser test: Debian's headless Chromium, driven by playwright-core, against
# a chat-local started here on free ports (so it runs beside a `local/dev` on 3000/3001).
#
# Installs Chromium (Debian's package) and the npm dependency if missing, makes sure the local
# services run (local/services.sh), builds and starts chat-local, runs the Node tests, and
# stops chat-local however it ends. Screenshots and chat-local's log go to
# ${CARGO_TARGET_DIR:-target}/browser-test/. Called by local/test; works from any directory.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tests/browser"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="$TARGET/browser-test"
CHROMIUM=/usr/bin/chromium

die() {
    echo "browser test: error: $*" >&2
    exit 1
}

# ------------------------------------------------------------- prerequisites
if [ ! -x "$CHROMIUM" ]; then
    echo "browser test: installing Debian's chromium"
    as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
    install_chromium() {
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
    }
    # The package lists may be stale or missing on a fresh machine: update only if needed.
    install_chromium || { as_root apt-get update -qq >/dev/null && install_chromium; } \
        || die "apt-get install chromium failed"
fi

command -v node >/dev/null 2>&1 || die "Node.js 20 or later is needed (node not found)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
    || die "Node.js 20 or later is needed (found $(node --version))"
(cd "$HERE" && npm ci --silent --no-audit --no-fund) || die "npm ci failed in tests/browser"

"$ROOT/local/services.sh"
# shellcheck source=/dev/null
. "$ROOT/.local-state/env"

(cd "$ROOT" && cargo build --quiet -p chat-local) || die "cargo build -p chat-local failed"

# ---------------------------------------------------------------- chat-local
mkdir -p "$OUT"
LOG="$OUT/chat-local.log"
# Port 0: chat-local binds free ports and prints its URLs. The test sends more than the
# default 10 messages a minute (to page through history), so that limit is raised here.
RATE_LIMIT_MESSAGES_PER_MINUTE=1000 RUST_LOG="${RUST_LOG:-warn}" \
    "$TARGET/debug/chat-local" serve --http-addr 127.0.0.1:0 --ws-addr 127.0.0.1:0 >"$LOG" 2>&1 &
CHAT_LOCAL_PID=$!
stop_chat_local() {
    kill "$CHAT_LOCAL_PID" 2>/dev/null || true
    wait "$CHAT_LOCAL_PID" 2>/dev/null || true
}
trap stop_chat_local EXIT

url=""
for _ in $(seq 1 150); do
    kill -0 "$CHAT_LOCAL_PID" 2>/dev/null || { cat "$LOG" >&2; die "chat-local exited at start"; }
    url="$(sed -n 's/^HTTP API *\(http:[^ ]*\)$/\1/p' "$LOG")"
    if [ -n "$url" ] && curl -sf -o /dev/null --max-time 2 "$url/"; then
        break
    fi
    url=""
    sleep 0.2
done
[ -n "$url" ] || { cat "$LOG" >&2; die "chat-local did not answer within 30 s"; }
echo "browser test: chat-local at $url; screenshots in $OUT"

# ---------------------------------------------------------------------- test
cd "$HERE"
status=0
CHAT_WEB_URL="$url" BROWSER_TEST_OUT="$OUT" CHROMIUM="$CHROMIUM" \
    node --test --test-reporter=spec model.test.mjs chat.test.mjs || status=$?
if [ "$status" -ne 0 ]; then
    echo "browser test: FAILED; the last lines of chat-local's log ($LOG):" >&2
    tail -n 40 "$LOG" >&2
fi
exit "$status"
