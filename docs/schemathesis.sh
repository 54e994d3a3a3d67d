#!/usr/bin/env bash
# Fuzzes the HTTP API against its contract, docs/openapi.yaml, with schemathesis: a dev build of
# `chat-local serve` on free ports, a real user, a second user and a conversation between them
# (so generated paths can hit real ids), every schemathesis check that applies, bounded in
# examples and time. Exits non-zero on any failure.
#
#   docs/schemathesis.sh                       # ~50 examples per operation, 180 s at most
#   SCHEMATHESIS_MAX_EXAMPLES=200 docs/schemathesis.sh
#
# Idempotent. Installs schemathesis from PyPI into the git-ignored .venv-schemathesis/ when it is
# missing; needs python3, curl and the backing services (it runs local/services.sh).
#
# Checks left out, and why:
#   unsupported_method       API Gateway HTTP APIs answer 404 {"message":"Not Found"} for a
#                            method a path has no route for, not 405; chat-local does the same.
#   positive_data_acceptance schema-valid input is not always accepted: random UUIDs are 404,
#                            random cursors 400, `before` with `after` 400 (OpenAPI cannot say
#                            "not both"). The statuses themselves are still checked to be
#                            documented, and their bodies to conform.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-schemathesis"
SCHEMATHESIS_SPEC='schemathesis>=4.32,<5'
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-50}"
MAX_TIME="${SCHEMATHESIS_MAX_TIME:-180}"

log() { printf '==> schemathesis: %s\n' "$*" >&2; }

if [[ ! -x "$VENV/bin/schemathesis" ]]; then
  log "installing $SCHEMATHESIS_SPEC into ${VENV#"$ROOT"/}"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "$SCHEMATHESIS_SPEC"
fi

"$ROOT/local/services.sh" >/dev/null
# shellcheck source=/dev/null
. "$ROOT/.local-state/env"
cd "$ROOT"

cargo build --quiet -p chat-local
CHAT_LOCAL="$ROOT/target/debug/chat-local"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# Created before the server starts, so the polling below never races its redirection.
: >"$WORK/server.log"
# Generous REST limit: schemathesis sends thousands of requests as one user.
RATE_LIMIT_REST_PER_MINUTE=100000 RUST_LOG="${RUST_LOG:-warn}" \
  "$CHAT_LOCAL" serve --ws-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

HTTP_URL="" WS_URL=""
for _ in $(seq 1 100); do
  HTTP_URL="$(sed -n 's/^HTTP API *\(http:[^ ]*\).*/\1/p' "$WORK/server.log")"
  WS_URL="$(sed -n 's/^WebSocket API *\(ws:[^?]*\).*/\1/p' "$WORK/server.log")"
  [[ -n "$HTTP_URL" && -n "$WS_URL" ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; log "chat-local exited"; exit 1; }
  sleep 0.1
done
[[ -n "$HTTP_URL" ]] || { cat "$WORK/server.log" >&2; log "chat-local did not start"; exit 1; }
log "chat-local on $HTTP_URL (WebSocket $WS_URL)"

TOKEN="$("$CHAT_LOCAL" token --user schemathesis)"
PEER="$("$CHAT_LOCAL" token --user schemathesis-peer --json)"
PEER_ID="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["userId"])' <<<"$PEER")"
PEER_TOKEN="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' <<<"$PEER")"

# Users exist once they have connected: one WebSocket handshake for each, then close.
for token in "$TOKEN" "$PEER_TOKEN"; do
  python3 - "$WS_URL" "$token" <<'PY'
import base64, os, socket, sys, urllib.parse
url = urllib.parse.urlparse(sys.argv[1])
with socket.create_connection((url.hostname, url.port), timeout=10) as s:
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {url.path or '/'}?token={sys.argv[2]} HTTP/1.1\r\nHost: {url.netloc}\r\n"
               f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = s.recv(4096).decode(errors="replace")
    if not head.startswith("HTTP/1.1 101"):
        sys.exit(f"WebSocket handshake refused: {head.splitlines()[0] if head else 'no answer'}")
    s.sendall(bytes([0x88, 0x82]) + os.urandom(4))  # masked close frame, empty-ish payload
PY
done

CONVERSATION="$(curl -fsS -X POST "$HTTP_URL/conversations" -H "Authorization: Bearer $TOKEN" \
  -H 'content-type: application/json' -d "{\"participantId\":\"$PEER_ID\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
log "conversation $CONVERSATION with $PEER_ID"

# Real ids for path parameters: half the generated cases use them, so the 200 paths get fuzzed.
# Every check but the two explained at the top (set here, not with --checks: a CLI list would
# override the per-operation exception below).
cat >"$WORK/schemathesis.toml" <<EOF
[checks]
not_a_server_error.enabled = true
status_code_conformance.enabled = true
content_type_conformance.enabled = true
response_headers_conformance.enabled = true
response_schema_conformance.enabled = true
negative_data_rejection.enabled = true
missing_required_header.enabled = true
allow_header_conformance.enabled = true
use_after_free.enabled = true
ensure_resource_availability.enabled = true
ignored_auth.enabled = true
object_level_authorization.enabled = true
positive_data_acceptance.enabled = false
unsupported_method.enabled = false

[parameters]
"path.conversationId" = "$CONVERSATION"

EOF

status=0
# From $WORK, so that schemathesis' .schemathesis/ cache is thrown away with it.
cd "$WORK"
"$VENV/bin/schemathesis" --no-color --config-file "$WORK/schemathesis.toml" run "$HTTP_URL/openapi.yaml" \
  --url "$HTTP_URL" \
  -H "Authorization: Bearer $TOKEN" \
  --max-examples "$MAX_EXAMPLES" \
  --max-time "$MAX_TIME" \
  --request-timeout 10 \
  --seed "${SCHEMATHESIS_SEED:-1}" \
  || status=$?

if ((status)); then
  log "FAILED (exit $status); chat-local log:"
  tail -n 50 "$WORK/server.log" >&2
  exit "$status"
fi
log OK
