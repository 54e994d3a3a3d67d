#!/usr/bin/env bash
# Validates the machine-readable API contracts in docs/ with their official tools.
#
#   docs/validate-contracts.sh            # every contract
#   docs/validate-contracts.sh asyncapi   # only the named ones
#
# Idempotent: it only reads the contracts; npx caches the pinned tools in ~/.npm/_npx.
# Needs Node.js and npm (the npm registry, on the first run).
#
# Each contract has a `validate_<name>` function, registered in CONTRACTS below.
set -euo pipefail

DOCS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(dirname "$DOCS_DIR")"

# @asyncapi/cli is pinned. 4.1.1 is the newest release that supports Node 20 (5.x and 6.x
# require Node >= 24); it bundles @asyncapi/parser 3.x, which validates AsyncAPI 3.0 documents.
# Override with ASYNCAPI_CLI_VERSION=6.2.0 on Node >= 24.
ASYNCAPI_CLI_VERSION="${ASYNCAPI_CLI_VERSION:-4.1.1}"

# @redocly/cli is pinned; 2.x supports Node 20.19+ and OpenAPI 3.1.
REDOCLY_CLI_VERSION="${REDOCLY_CLI_VERSION:-2.77.0}"

# Contracts in the order they are validated: each NAME has a validate_NAME function.
CONTRACTS=(asyncapi openapi)

log() { printf '==> %s\n' "$*" >&2; }

require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || { log "missing required tool: $tool"; return 1; }
  done
}

# docs/asyncapi.yaml: the WebSocket API (AsyncAPI 3.0), with the official parser behind the
# AsyncAPI CLI. Warnings fail the check too (--fail-severity warn): the document is kept clean.
validate_asyncapi() {
  local spec="$DOCS_DIR/asyncapi.yaml"
  [[ -f "$spec" ]] || { log "not found: $spec"; return 1; }
  require npx
  log "asyncapi: validating ${spec#"$REPO_ROOT"/} with @asyncapi/cli@$ASYNCAPI_CLI_VERSION"
  # The CLI sends usage metrics unless its analytics config says otherwise, and writes that
  # config to ~/.asyncapi-analytics by default: point it at a private, disabled one instead.
  local analytics
  analytics="$(mktemp)"
  printf '{"analyticsEnabled":"false","infoMessageShown":"true"}' >"$analytics"
  local status=0
  ASYNCAPI_METRICS_CONFIG_PATH="$analytics" NODE_NO_WARNINGS=1 \
    npx --yes "@asyncapi/cli@$ASYNCAPI_CLI_VERSION" validate "$spec" \
      --fail-severity warn --diagnostics-format stylish || status=$?
  rm -f "$analytics"
  return "$status"
}

# docs/openapi.yaml: the HTTP API (OpenAPI 3.1), linted by Redocly CLI with its strict
# recommended rules (every warning is an error), less three whose checks are done better
# elsewhere or misfire on this document:
#   no-invalid-media-type-examples          its validator misreads `allOf` + `additionalProperties`;
#                                           tests/tests/contract_openapi.rs validates every example
#                                           with a draft 2020-12 validator instead
#   no-required-schema-properties-undefined misses properties that come from an `allOf` branch
#   info-license-strict                     the license is proprietary (an SPDX LicenseRef)
validate_openapi() {
  local spec="$DOCS_DIR/openapi.yaml"
  [[ -f "$spec" ]] || { log "not found: $spec"; return 1; }
  require npx
  log "openapi: linting ${spec#"$REPO_ROOT"/} with @redocly/cli@$REDOCLY_CLI_VERSION"
  local config status=0
  config="$(mktemp -d)"
  cat >"$config/redocly.yaml" <<'EOF'
extends:
  - recommended-strict
rules:
  no-invalid-media-type-examples: off
  no-required-schema-properties-undefined: off
  info-license-strict: off
EOF
  REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NODE_NO_WARNINGS=1 \
    npx --yes "@redocly/cli@$REDOCLY_CLI_VERSION" lint "$spec" --config "$config/redocly.yaml" || status=$?
  rm -rf "$config"
  return "$status"
}

main() {
  local selected=("$@") name failed=()
  ((${#selected[@]})) || selected=("${CONTRACTS[@]}")
  for name in "${selected[@]}"; do
    if ! declare -F "validate_$name" >/dev/null; then
      log "unknown contract: $name (known: ${CONTRACTS[*]})"
      return 2
    fi
  done
  cd "$REPO_ROOT"
  for name in "${selected[@]}"; do
    if "validate_$name"; then
      log "$name: OK"
    else
      log "$name: FAILED"
      failed+=("$name")
    fi
  done
  if ((${#failed[@]})); then
    log "failed: ${failed[*]}"
    return 1
  fi
  log "all contracts valid: ${selected[*]}"
}

main "$@"
