#!/usr/bin/env bash
# Validates infra/template.yaml with the SAM CLI (translator + cfn-lint) and cfn-lint itself.
#
# Idempotent: the tools live in a git-ignored virtualenv at <repo>/.venv-sam, created on first
# run (or rebuilt when broken) and reused afterwards. Needs python3 and PyPI access on first run;
# needs no AWS account or credentials.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-sam"
TEMPLATE="infra/template.yaml"
REGION="us-east-1"

cd "$ROOT"
echo "==> repo root: $ROOT"

# A venv is broken when its interpreter is gone or no longer runs (e.g. python was upgraded).
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    echo "==> creating virtualenv $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
fi

# Install only when a tool is missing (or does not start), so reruns cost nothing.
if ! "$VENV/bin/sam" --version >/dev/null 2>&1 || ! "$VENV/bin/cfn-lint" --version >/dev/null 2>&1; then
    echo "==> installing aws-sam-cli and cfn-lint into $VENV (takes a minute or two)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check aws-sam-cli cfn-lint
fi

echo "==> $("$VENV/bin/sam" --version), cfn-lint $("$VENV/bin/cfn-lint" --version | awk '{print $NF}')"

# No AWS account is needed. Keep SAM CLI from phoning home, and give botocore a region.
export SAM_CLI_TELEMETRY=0
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-$REGION}"

echo "==> sam validate --lint --template $TEMPLATE --region $REGION"
"$VENV/bin/sam" validate --lint --template "$TEMPLATE" --region "$REGION"

echo "==> cfn-lint $TEMPLATE"
"$VENV/bin/cfn-lint" "$TEMPLATE"

echo "==> OK: $TEMPLATE passes sam validate --lint and cfn-lint"
