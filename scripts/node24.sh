#!/usr/bin/env bash
# Runs the broker-free test suites on Node 24 (from the npm registry's `node` package, cached).
set -euo pipefail
cd "$(dirname "$0")/.."
NODE24_VERSION=24.21.0
prefix="${THRUN_TOOLS_DIR:-$HOME/.cache/thrun/tools}/node-$NODE24_VERSION"
if [ ! -x "$prefix/bin/node" ]; then
  npm install --silent --no-fund --no-audit -g --prefix "$prefix" "node@$NODE24_VERSION" >&2
fi
echo "node24: $("$prefix/bin/node" --version)"
for package in packages/contract packages/transport-memory packages/core; do
  [ -d "$package" ] || continue
  (cd "$package" && "$prefix/bin/node" ./node_modules/vitest/vitest.mjs run)
done
