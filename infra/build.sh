#!/usr/bin/env bash
# `sam build` of every function for arm64, the way a user deploys (docs/deploy.md):
#
#   infra/build.sh            # -> .aws-sam/build/ (git-ignored), then `sam deploy`
#
# Installs what it needs, idempotently: the SAM CLI (with infra/validate.sh's virtualenv,
# .venv-sam), cargo-lambda and Zig from PyPI into the same virtualenv, and the Rust standard
# library for aarch64-unknown-linux-gnu (rustup). cargo-lambda cross-compiles with Zig as the
# linker, so no aarch64 C toolchain is needed. Prints the time, each bootstrap's size and its
# zip's size (bytes).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-sam"
cd "$ROOT"

if ! "$VENV/bin/sam" --version >/dev/null 2>&1; then
    infra/validate.sh >/dev/null
fi
if ! "$VENV/bin/cargo-lambda" lambda --version >/dev/null 2>&1 || ! "$VENV/bin/python" -m ziglang version >/dev/null 2>&1; then
    echo "==> installing cargo-lambda and ziglang into $VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check cargo-lambda ziglang
fi
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    echo "==> rustup target add aarch64-unknown-linux-gnu"
    rustup target add aarch64-unknown-linux-gnu
fi

export SAM_CLI_TELEMETRY=0
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export PATH="$VENV/bin:$PATH"
echo "==> $(sam --version), $(cargo-lambda lambda --version), zig $(python -m ziglang version)"
started=$(date +%s)
sam build "$@"
echo "==> sam build took $(( $(date +%s) - started )) s"
# The zip Lambda gets: `bootstrap` (mode 755) deflated at level 9, as bench/coldstart.sh measures it.
zip_bytes() {
    python3 - "$1" <<'PY'
import io, sys, zipfile
info = zipfile.ZipInfo("bootstrap")
info.external_attr = 0o755 << 16
buffer = io.BytesIO()
with zipfile.ZipFile(buffer, "w") as archive:
    archive.writestr(info, open(sys.argv[1], "rb").read(), zipfile.ZIP_DEFLATED, 9)
print(len(buffer.getvalue()))
PY
}
printf '%-32s %10s %10s  %s\n' function bootstrap zip type
for bootstrap in .aws-sam/build/*/bootstrap; do
    printf '%-32s %10d %10d  %s\n' "$(basename "$(dirname "$bootstrap")")" "$(stat -c %s "$bootstrap")" \
        "$(zip_bytes "$bootstrap")" "$(file -b "$bootstrap" | cut -d, -f1-2)"
done
