#!/usr/bin/env bash
# Installs the workspace, builds it and runs the demo on the embedded transport.
# `npm run demo -- --transport redis` (or rabbitmq, kafka) first starts that broker on 127.0.0.1 with
# scripts/brokers/<name>.sh (installing it when missing) and leaves it running: stop it with
# `bash scripts/brokers/<name>.sh stop`.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1
pnpm() { bash scripts/pnpm.sh "$@"; }

transport=memory
args=("$@")
for i in "${!args[@]}"; do
  case "${args[$i]}" in
    --transport=*) transport="${args[$i]#--transport=}" ;;
    --transport) transport="${args[$((i + 1))]:-memory}" ;;
  esac
done

pnpm install --frozen-lockfile --reporter=silent
pnpm exec turbo run build --filter=@thrun/demo... --output-logs=errors-only >/dev/null
if [ "$transport" != memory ] && [ -f "scripts/brokers/$transport.sh" ]; then
  eval "$(bash "scripts/brokers/$transport.sh" start)"
fi
pnpm --filter @thrun/demo --silent start "$@"
