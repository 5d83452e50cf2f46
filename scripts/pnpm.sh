#!/usr/bin/env bash
# Runs the pinned pnpm, installing it with npm when it is missing or another version is on the PATH.
set -euo pipefail
PNPM_VERSION=10.34.9
if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  prefix="${THRUN_TOOLS_DIR:-$HOME/.cache/thrun/tools}/pnpm-$PNPM_VERSION"
  if [ ! -x "$prefix/bin/pnpm" ]; then
    npm install --silent --no-fund --no-audit -g --prefix "$prefix" "pnpm@$PNPM_VERSION" >&2
  fi
  export PATH="$prefix/bin:$PATH"
fi
exec pnpm "$@"
