#!/usr/bin/env bash
# Installs the workspace, builds it and runs the demo on the embedded transport.
# `npm run demo -- --transport redis` (or rabbitmq, kafka) runs it on a broker started by scripts/brokers/.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1
pnpm() { bash scripts/pnpm.sh "$@"; }
pnpm install --frozen-lockfile --reporter=silent
pnpm exec turbo run build --filter=@thrun/demo... --output-logs=errors-only
pnpm --filter @thrun/demo --silent start "$@"
