#!/usr/bin/env bash
# Cold start and size of every Lambda function in one command (docs/benchmarks.md):
#
#   bench/coldstart.sh [chat-coldstart options...]     e.g. --runs 50 --functions ws-send-message --json out.json
#   bench/coldstart.sh --deployed                      the configuration infra/template.yaml deploys
#
# Starts PostgreSQL, Redis and moto if needed and migrates (local/services.sh), builds every
# package under functions/ with the release profile (fat LTO, what is deployed; about 11 minutes
# from cold on two cores), builds chat-coldstart with the `tools` profile, then runs it with
# .local-state/env's configuration (or, with --deployed, secrets in moto read at init, TLS to
# PostgreSQL and HTTPS to every AWS endpoint): it prints the Markdown table, writes the zips and the
# functions' logs under target/coldstart/, and exits 1 if a target is missed, 2 on errors.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/local/services.sh" >/dev/null
# shellcheck source=/dev/null
. "$ROOT/.local-state/env"
cd "$ROOT"
packages=()
for manifest in functions/*/Cargo.toml; do
  packages+=(-p "$(sed -n 's/^name = "\(.*\)"$/\1/p' "$manifest" | head -n 1)")
done
cargo build --quiet --release "${packages[@]}"
cargo build --quiet --profile tools -p chat-bench --bin chat-coldstart
exec target/tools/chat-coldstart "$@"
