#!/usr/bin/env bash
# The behavioural conformance harness (packages/conformance-harness, protocol/conformance.md) judging
# the worker under test of every runtime on every transport it has: the TypeScript reference worker,
# the Go worker (sdks/go/cmd/conformance-worker, built into a temporary directory) and the PHP worker
# (sdks/php/bin/conformance-worker). PHP has no Kafka transport: Debian packages no PHP Kafka extension.
#
# Needs the built harness (bash scripts/pnpm.sh build), go, the PHP toolchain (scripts/php.sh setup)
# and the brokers of scripts/brokers/*.sh (their THRUN_REDIS_URL, THRUN_AMQP_URL, THRUN_KAFKA_BROKERS).
# Prints each run's scenario lines, then one table; exits 1 when any scenario failed.
#
#   scripts/conformance.sh [runtime …]   runtimes: ts go php (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
harness=packages/conformance-harness/dist/cli.js
transports=(redis redis-streams rabbitmq kafka)
php_no_kafka="unsupported transport: Debian packages no PHP Kafka extension"

if [ ! -f "$harness" ]; then
  echo "[conformance.sh] $harness is missing: run 'bash scripts/pnpm.sh build' first" >&2
  exit 1
fi
runtimes=("$@")
[ "${#runtimes[@]}" -gt 0 ] || runtimes=(ts go php)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

worker_command() {
  case "$1" in
    ts) echo "node $root/packages/conformance-harness/dist/reference-worker.js" ;;
    go) echo "$work/go-conformance-worker" ;;
    php) echo "php $root/sdks/php/bin/conformance-worker" ;;
  esac
}

for runtime in "${runtimes[@]}"; do
  case "$runtime" in
    ts) ;;
    go) (cd sdks/go && go build -o "$work/go-conformance-worker" ./cmd/conformance-worker) ;;
    php) (cd sdks/php && COMPOSER_ALLOW_SUPERUSER=1 composer dump-autoload --dev --quiet) ;;
    *) echo "[conformance.sh] unknown runtime '$runtime' (ts, go, php)" >&2; exit 2 ;;
  esac
done

rows=()
any_failed=0
for runtime in "${runtimes[@]}"; do
  for transport in "${transports[@]}"; do
    if [ "$runtime" = php ] && [ "$transport" = kafka ]; then
      rows+=("$runtime $transport - - - $php_no_kafka")
      continue
    fi
    echo "== conformance: $runtime on $transport"
    report="$work/$runtime-$transport.txt"
    status=0
    node "$harness" --transport "$transport" --worker "$(worker_command "$runtime")" >"$report" 2>"$report.stderr" || status=$?
    cat "$report"
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$report" | tail -n 1 || true)
    if [ -z "$summary" ]; then
      # The harness itself broke (no summary line): show why, and count the run as one failure.
      cat "$report.stderr" >&2
      rows+=("$runtime $transport 0 1 0 the harness exited with status $status before its summary")
      any_failed=1
      continue
    fi
    [ "$status" -eq 0 ] || { any_failed=1; tail -n 40 "$report.stderr" >&2; }
    read -r passed failed skipped < <(echo "$summary" | awk '{ print $1 + 0, $3 + 0, ($5 == "" ? 0 : $5 + 0) }')
    rows+=("$runtime $transport $passed $failed $skipped")
  done
done

# One table; scripts/test-all.sh counts its "conformance:" rows with numbers in its closing line.
echo
printf 'conformance: %-8s %-14s %7s %7s %8s\n' runtime transport passed failed skipped
for row in "${rows[@]}"; do
  read -r runtime transport passed failed skipped note <<<"$row"
  printf 'conformance: %-8s %-14s %7s %7s %8s %s\n' "$runtime" "$transport" "$passed" "$failed" "$skipped" "${note:-}"
done
exit "$any_failed"
