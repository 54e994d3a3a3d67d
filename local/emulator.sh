# shellcheck shell=bash
# Sourced by local/dynoxide.sh and local/dynalite.sh, which start a fast DynamoDB emulator for the
# load benchmarks (bench/load.sh):
#
#   emulator_main NAME PORT INSTALL START
#
# Runs local/services.sh --no-setup and reads .local-state/env; unless something already answers
# HTTP on 127.0.0.1:PORT, calls the function INSTALL, then START (which starts the emulator in
# the background, its output to $LOG), and waits up to 10 s for an answer; then creates the
# connections table in it (`chat-local setup`) and prints AWS_ENDPOINT_URL=http://127.0.0.1:PORT.
# INSTALL and START see ROOT, PORT and LOG (.local-state/NAME.log) and stop the script with
# `emulator_die MESSAGE`.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

emulator_die() {
    echo "$EMULATOR_NAME.sh: error: $*" >&2
    exit 1
}

emulator_answers() {
    # Any HTTP answer will do: dynalite answers an unsigned GET with 400 (missing authentication).
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/"
}

emulator_main() {
    EMULATOR_NAME="$1"
    PORT="$2"
    LOG="$ROOT/.local-state/$1.log"
    local endpoint="http://127.0.0.1:$PORT" out
    "$ROOT/local/services.sh" --no-setup >/dev/null
    # shellcheck source=/dev/null
    . "$ROOT/.local-state/env"
    if ! emulator_answers; then
        "$3"
        "$4"
        for _ in $(seq 1 50); do
            emulator_answers && break
            sleep 0.2
        done
        emulator_answers || emulator_die "$EMULATOR_NAME did not answer on $endpoint (log: .local-state/$1.log)"
    fi
    if ! out="$(cd "$ROOT" && AWS_ENDPOINT_URL="$endpoint" cargo run --quiet -p chat-local -- setup 2>&1)"; then
        echo "$out" >&2
        emulator_die "chat-local setup against $EMULATOR_NAME failed"
    fi
    echo "AWS_ENDPOINT_URL=$endpoint"
}
