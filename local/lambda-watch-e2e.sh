#!/usr/bin/env bash
# End-to-end check of `chat-local serve --invoke-endpoint`: the functions run as their own
# binaries under `cargo lambda watch` (the Lambda Invoke API on 127.0.0.1), chat-local is
# only the API Gateway in front of them, and a short chat goes through both
# (local/examples/smoke.rs: alice -> bob, bob receives it live, a bad frame -> error ack).
#
#   local/lambda-watch-e2e.sh            # prints PASS or FAIL, exits 0 or 1
#
# Steps: local/services.sh (PostgreSQL, Redis, moto, migrations, table) and its env file;
# cargo-lambda from PyPI into the git-ignored virtualenv .venv-lambda/ when missing (never
# globally); `cargo lambda watch` on 127.0.0.1:9000 (or a free port) with the functions' env;
# one warm-up invocation per function the chat needs (each function is built on its first
# invocation, which takes longer than API Gateway's 29 s integration timeout the first
# time); `chat-local serve --invoke-endpoint` on free ports; the smoke client. Everything it
# started is stopped on exit, whatever happened. Idempotent; logs go to
# .local-state/lambda-watch-e2e/.
#
# Not run by CI (the first build under cargo lambda watch alone takes minutes): run it by hand
# after changing chat-local's invoker, the functions' wiring or their configuration.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.local-state"
LOGS="$STATE/lambda-watch-e2e"
VENV="$ROOT/.venv-lambda"
CARGO_LAMBDA_PIP_SPEC='cargo-lambda>=1.9,<2'
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
STAGE=local
# The functions the smoke chat invokes, in the order a chat first needs them.
FUNCTIONS=(authorizer ws-connect http-create-conversation ws-send-message ws-default ws-disconnect)

WATCH_PGID=""
SERVE_PID=""
RESULT=FAIL

log() { echo "lambda-watch-e2e: $*"; }

die() {
    log "error: $*"
    exit 1
}

# A free TCP port on 127.0.0.1 (the kernel's choice), or $1 when that one is free.
free_port() {
    python3 - "${1:-0}" <<'EOF'
import socket, sys
wanted = int(sys.argv[1])
for port in ([wanted] if wanted else []) + [0]:
    s = socket.socket()
    # As the servers bind (tokio sets SO_REUSEADDR): a port in TIME_WAIT is free for them.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    print(s.getsockname()[1])
    s.close()
    break
EOF
}

# The HTTP status of GET $1 (000 when nothing answers).
http_status() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null || true
}

stop_everything() {
    local rc=$?
    if [ -n "$SERVE_PID" ] && kill -0 "$SERVE_PID" 2>/dev/null; then
        # SIGTERM: chat-local closes its sockets and waits for their $disconnect.
        kill -TERM "$SERVE_PID" 2>/dev/null || true
        for _ in $(seq 1 75); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$SERVE_PID" 2>/dev/null || true
        wait "$SERVE_PID" 2>/dev/null || true
        log "stopped chat-local (pid $SERVE_PID)"
    fi
    if [ -n "$WATCH_PGID" ] && kill -0 -- "-$WATCH_PGID" 2>/dev/null; then
        # Its own process group: cargo lambda watch, the cargo runs and the function processes.
        kill -TERM -- "-$WATCH_PGID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 -- "-$WATCH_PGID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL -- "-$WATCH_PGID" 2>/dev/null || true
        wait "$WATCH_PGID" 2>/dev/null || true
        log "stopped cargo lambda watch (process group $WATCH_PGID)"
    fi
    if [ "$RESULT" != PASS ]; then
        for file in "$LOGS/lambda-watch.log" "$LOGS/chat-local.log"; do
            [ -s "$file" ] || continue
            echo "----- last lines of ${file#"$ROOT"/} -----"
            tail -n 25 "$file"
        done
        echo "lambda-watch-e2e: FAIL"
        exit $((rc == 0 ? 1 : rc))
    fi
    echo "lambda-watch-e2e: PASS"
    exit 0
}
trap stop_everything EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started=$SECONDS
log "$(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(uname -sm), $(nproc) cores"
command -v curl >/dev/null 2>&1 || die "curl is required"
command -v python3 >/dev/null 2>&1 || die "python3 is required"
mkdir -p "$LOGS"
rm -f "$LOGS/lambda-watch.log" "$LOGS/chat-local.log"

# ------------------------------------------------------------ backing services
"$ROOT/local/services.sh"
# shellcheck source=/dev/null
. "$STATE/env"

# ----------------------------------------------------------------- cargo-lambda
if ! "$VENV/bin/cargo-lambda" lambda --version >/dev/null 2>&1; then
    log "installing $CARGO_LAMBDA_PIP_SPEC into .venv-lambda/"
    if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c '' 2>/dev/null; then
        rm -rf "$VENV"
        python3 -m venv "$VENV" || die "python3 -m venv $VENV failed (apt-get install python3-venv?)"
    fi
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$CARGO_LAMBDA_PIP_SPEC" \
        || die "pip install '$CARGO_LAMBDA_PIP_SPEC' into $VENV failed"
fi
# Keep the virtualenv out of git whatever the repository's .gitignore says.
[ -f "$VENV/.gitignore" ] || echo '*' >"$VENV/.gitignore"
export PATH="$VENV/bin:$PATH"
log "$(cargo lambda --version)"

# ------------------------------------------------------------------- binaries
t0=$SECONDS
(cd "$ROOT" && cargo build --quiet -p chat-local --bin chat-local --example smoke)
log "built chat-local and the smoke client in $((SECONDS - t0)) s"

# ------------------------------------------------------------------------ ports
INVOKE_PORT="$(free_port 9000)"
WS_PORT="$(free_port)"
HTTP_PORT="$(free_port)"
if [ -z "$INVOKE_PORT" ] || [ -z "$WS_PORT" ] || [ -z "$HTTP_PORT" ]; then
    die "no free ports"
fi
# The kernel may hand out one port twice between two closed probes: ask again.
while [ "$HTTP_PORT" = "$WS_PORT" ] || [ "$HTTP_PORT" = "$INVOKE_PORT" ]; do HTTP_PORT="$(free_port)"; done
while [ "$WS_PORT" = "$INVOKE_PORT" ]; do WS_PORT="$(free_port)"; done
INVOKE_ENDPOINT="http://127.0.0.1:$INVOKE_PORT"
WS_URL="ws://127.0.0.1:$WS_PORT/$STAGE"
HTTP_URL="http://127.0.0.1:$HTTP_PORT"

# --------------------------------------------------------- cargo lambda watch
# The functions inherit this environment: .local-state/env (DATABASE_URL, REDIS_URL,
# AWS_ENDPOINT_URL, CONNECTIONS_TABLE, JWT_SECRET, ...) plus where chat-local's management
# API will be. --ignore-changes: the run tests one build, even while files are being edited.
export APIGW_MANAGEMENT_ENDPOINT="http://127.0.0.1:$WS_PORT/$STAGE"
log "starting cargo lambda watch on $INVOKE_ENDPOINT (log: ${LOGS#"$ROOT"/}/lambda-watch.log)"
cd "$ROOT"
# Not a process-group leader here, so setsid execs in place and $! is its pid and group id.
setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$INVOKE_PORT" --ignore-changes \
    </dev/null >"$LOGS/lambda-watch.log" 2>&1 &
WATCH_PGID=$!
for _ in $(seq 1 150); do
    [ "$(http_status "$INVOKE_ENDPOINT/")" = 000 ] || break
    kill -0 "$WATCH_PGID" 2>/dev/null || die "cargo lambda watch exited at start"
    sleep 0.2
done
[ "$(http_status "$INVOKE_ENDPOINT/")" != 000 ] || die "cargo lambda watch does not answer on $INVOKE_ENDPOINT after 30 s"
log "cargo lambda watch answers on $INVOKE_ENDPOINT"

# Each function is built and started on its first invocation. An empty event is enough: the
# function's runtime answers that it does not deserialize, which shows the binary runs.
for function in "${FUNCTIONS[@]}"; do
    t0=$SECONDS
    answer="$(curl -s --max-time 1800 -X POST -H 'content-type: application/json' -d '{}' \
        "$INVOKE_ENDPOINT/2015-03-31/functions/$function/invocations" || true)"
    if ! grep -qiE 'deserializ|statusCode|policyDocument|isAuthorized' <<<"$answer"; then
        die "warm-up of $function: unexpected answer: ${answer:0:300}"
    fi
    log "warm-up: $function built and running in $((SECONDS - t0)) s"
done

# ------------------------------------------------------------------- chat-local
log "starting chat-local serve --invoke-endpoint $INVOKE_ENDPOINT (log: ${LOGS#"$ROOT"/}/chat-local.log)"
"$TARGET_DIR/debug/chat-local" serve --invoke-endpoint "$INVOKE_ENDPOINT" \
    --ws-addr "127.0.0.1:$WS_PORT" --http-addr "127.0.0.1:$HTTP_PORT" --stage "$STAGE" \
    </dev/null >"$LOGS/chat-local.log" 2>&1 &
SERVE_PID=$!
for _ in $(seq 1 50); do
    [ "$(http_status "$HTTP_URL/")" = 000 ] || break
    kill -0 "$SERVE_PID" 2>/dev/null || die "chat-local exited at start"
    sleep 0.2
done
[ "$(http_status "$HTTP_URL/")" != 000 ] || die "chat-local does not answer on $HTTP_URL after 10 s"
log "chat-local answers: $WS_URL, $HTTP_URL"

# ------------------------------------------------------------------------ smoke
log "smoke: alice and bob chat through chat-local -> cargo lambda watch"
smoke_rc=0
"$TARGET_DIR/debug/examples/smoke" --ws-url "$WS_URL" --http-url "$HTTP_URL" --secret "$JWT_SECRET" \
    --wait-seconds 30 || smoke_rc=$?

spawned="$(grep -o 'spawning function instance function="[^"]*"' "$LOGS/lambda-watch.log" \
    | sed 's/.*function="\([^"]*\)"/\1/' | sort -u | tr '\n' ' ')"
log "function instances started by cargo lambda watch: ${spawned:-none}"
failures="$(grep -c 'integration failed' "$LOGS/chat-local.log" || true)"
log "integration failures logged by chat-local: $failures"
log "total time: $((SECONDS - started)) s"

if [ "$smoke_rc" -eq 0 ] && [ "$failures" = 0 ]; then
    RESULT=PASS
fi
