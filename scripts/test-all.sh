#!/usr/bin/env bash
# Sets up everything and runs every check: install, build, lint, typecheck, the tests of every package
# against real brokers on 127.0.0.1 (each started by scripts/brokers/<name>.sh and stopped afterwards),
# then the unit tests again on Node 24 to prove the declared engines range.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1
pnpm() { bash scripts/pnpm.sh "$@"; }

pnpm install --frozen-lockfile --reporter=silent

# Brokers: each script installs what is missing, starts a private instance, waits until it is ready
# and prints the environment its tests read (THRUN_REDIS_URL, …).
started=()
stop_brokers() {
  for broker in "${started[@]}"; do bash "scripts/brokers/$broker.sh" stop || true; done
}
trap stop_brokers EXIT
for script in scripts/brokers/*.sh; do
  [ -e "$script" ] || continue
  broker=$(basename "$script" .sh)
  eval "$(bash "$script" start)"
  started+=("$broker")
done

log=$(mktemp)
pnpm lint
pnpm exec turbo run build typecheck test --output-logs=new-only --concurrency=1 2>&1 | tee "$log"
(cd apps/go-consumer && go vet ./... && go test ./...) 2>&1 | tee -a "$log"

bash scripts/node24.sh 2>&1 | tee -a "$log"

# One closing line for the whole run: vitest's "Tests  N passed" lines and go test's "ok" packages.
passed=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -oE 'Tests +[0-9]+ passed' | grep -oE '[0-9]+' | awk '{ sum += $1 } END { print sum + 0 }')
go_packages=$(grep -cE '^ok ' "$log" || true)
rm -f "$log"
echo "thrun: $((passed + go_packages)) passed, 0 failed"
