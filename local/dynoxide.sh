#!/usr/bin/env bash
# Starts Dynoxide, an in-memory DynamoDB emulator in Rust (on SQLite; crates.io `dynoxide-rs`), on
# 127.0.0.1:${DYNOXIDE_PORT:-4577} unless something already answers there, and creates the
# connections table in it. The load benchmarks' default emulator (bench/load.sh): a connection
# look-up costs it a fifth to a third of the CPU it costs dynalite (docs/benchmarks.md, "Load"),
# so more of the machine is left to what is measured. moto stays the emulator of the tests (it
# also serves Secrets Manager).
#
#   local/dynoxide.sh            prints the endpoint: AWS_ENDPOINT_URL=http://127.0.0.1:4577
#
# Installs the pinned version with `cargo install --locked` into local/dynoxide/ (git-ignored;
# the first build takes 2-3 minutes on 2 cores), without its MCP server and import tools; runs
# local/services.sh first for the rest of .local-state/env. Idempotent; its log is
# .local-state/dynoxide.log.
set -euo pipefail
# shellcheck source=local/emulator.sh
. "$(dirname "${BASH_SOURCE[0]}")/emulator.sh"
VERSION="3.2.0"
HERE="$ROOT/local/dynoxide"

install_dynoxide() {
    # cargo's own record of what it installed there (the binary reports a product version, not
    # the crate's).
    if [[ ! -x "$HERE/bin/dynoxide" ]] || ! grep -qs "^\"dynoxide-rs $VERSION " "$HERE/.crates.toml"; then
        echo "dynoxide.sh: installing dynoxide-rs $VERSION into local/dynoxide (cargo install)" >&2
        CARGO_TARGET_DIR="$ROOT/target/dynoxide-build" cargo install --quiet --locked --force \
            dynoxide-rs --version "$VERSION" --no-default-features --features native-sqlite,http-server,cli \
            --root "$HERE" || emulator_die "cargo install dynoxide-rs $VERSION failed"
    fi
}

start_dynoxide() {
    # In memory (no --db-path): a restart starts empty, like the benchmark wants.
    nohup "$HERE/bin/dynoxide" serve --host 127.0.0.1 --port "$PORT" --log quiet >"$LOG" 2>&1 </dev/null &
}

emulator_main dynoxide "${DYNOXIDE_PORT:-4577}" install_dynoxide start_dynoxide
