#!/usr/bin/env bash
# Sets up everything and runs every check: install, build, lint, typecheck, the tests of every package
# against real brokers on 127.0.0.1 (each started by scripts/brokers/<name>.sh and stopped afterwards),
# then the unit tests again on Node 24 to prove the declared engines range.
#
# It ends with one line counting the tests passed, failed and skipped, read from the runners' own
# reports (vitest's "Tests" summaries, go test -v's "--- PASS/FAIL/SKIP" lines, PHPUnit's "OK (N tests"
# and "Tests: N, …, Failures: F" summaries, the conformance table's "conformance: <runtime> <transport>
# <passed> <failed> <skipped>" rows, each scenario run counted once), and exits non-zero
# when a test or a step failed. The suites that run twice (on Node 24 too) are counted twice.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1
pnpm() { bash scripts/pnpm.sh "$@"; }

pnpm install --frozen-lockfile --reporter=silent

# The PHP runtime's toolchain (php-cli, php-redis, php-amqp, phpunit, composer) from Debian packages.
bash scripts/php.sh setup

# Brokers: each script installs what is missing, starts a private instance, waits until it is ready
# and prints the environment its tests read (THRUN_REDIS_URL, …).
started=()
log=$(mktemp)
stop_brokers() {
  for broker in "${started[@]}"; do bash "scripts/brokers/$broker.sh" stop || true; done
  rm -f "$log"
}
trap stop_brokers EXIT
for script in scripts/brokers/*.sh; do
  [ -e "$script" ] || continue
  broker=$(basename "$script" .sh)
  started+=("$broker")
  out=$(timeout 600 bash "$script" start) # a broker that does not start stops the run here, loudly
  eval "$out"
done

pnpm lint
bash scripts/tools/promtool.sh # promtool check metrics, in the metrics tests
bash scripts/tools/chromium.sh # the browser the dashboard tests drive

# From here on every step runs even when one fails, so that the closing line counts everything. Each
# step has a time limit, and all of them share one budget (THRUN_CI_BUDGET_S, counted from the start of
# this script): a step that hangs fails alone, and the run still ends with its counts and timings.
budget_end=$((SECONDS + ${THRUN_CI_BUDGET_S:-4800}))
failed_steps=()
timings=()
step() {
  local name=$1 limit=$2 began=$SECONDS rc=0
  shift 2
  if [ "$((budget_end - SECONDS))" -lt "$limit" ]; then limit=$((budget_end - SECONDS)); fi
  if [ "$limit" -le 0 ]; then
    failed_steps+=("$name")
    timings+=("$name: not run, the budget is spent")
    return
  fi
  timeout --kill-after=120 "$limit" "$@" 2>&1 | tee -a "$log" || rc=$?
  if [ "$rc" -ne 0 ]; then failed_steps+=("$name"); fi
  if [ "$rc" -eq 124 ]; then
    timings+=("$name: $((SECONDS - began)) s, stopped at its limit of $limit s")
  else
    timings+=("$name: $((SECONDS - began)) s")
  fi
}
step turbo 2700 bash scripts/pnpm.sh exec turbo run build typecheck test --output-logs=new-only --concurrency=1 --continue
step go 900 bash -c 'cd sdks/go && go vet ./... && go test -v ./... && cd ../../apps/go-consumer && go vet ./... && go test -v ./...'
step php 600 bash scripts/php.sh test
step conformance 900 bash scripts/conformance.sh
step cluster 1800 npm run test:cluster
step node24 600 bash scripts/node24.sh

printf 'thrun: step %s\n' "${timings[@]}"

# The names of what failed, next to the closing lines: a run's tail is often all a reader gets.
# vitest marks a failed test "×" and a failed file "FAIL", go test says "--- FAIL:", PHPUnit numbers
# its failures "1) Class::testName", the conformance harness says "FAIL <scenario>"; turbo puts
# "<package>:<task>: " before each line of a package's output.
sed 's/\x1b\[[0-9;]*m//g' "$log" |
  grep -E '^([@A-Za-z0-9/._-]+:[a-z0-9:-]+: )? *(× |FAIL[[:space:]]|--- FAIL: |[0-9]+\) [A-Za-z0-9_\\]+::)' |
  awk '!seen[$0]++' | head -n 40 | sed 's/^/thrun: failed: /' || true

# Each vitest run prints "Test Files …" then "Tests  N passed | M failed | K skipped (T)". A file that
# failed outside any test (a hook, an import) shows only in "Test Files", so a run whose files failed
# with no failed test counts those files as failures.
read -r passed failed skipped < <(
  sed 's/\x1b\[[0-9;]*m//g' "$log" | awk '
    function count(line, word,   n) {
      n = 0
      if (match(line, "[0-9]+ " word)) n = substr(line, RSTART, RLENGTH) + 0
      return n
    }
    function field(line, word,   n) {
      n = 0
      if (match(line, word ": [0-9]+")) n = substr(line, RSTART + length(word) + 2) + 0
      return n
    }
    /Test Files +[0-9]/ { files_failed = count($0, "failed") }
    /(^|[: ])Tests +[0-9]/ {
      p += count($0, "passed"); s += count($0, "skipped") + count($0, "todo")
      f_tests = count($0, "failed"); f += f_tests
      if (f_tests == 0) f += files_failed
      files_failed = 0
    }
    /^conformance: [a-z0-9]+ +[a-z-]+ +[0-9]+ +[0-9]+ +[0-9]+/ { p += $4; f += $5; s += $6 }
    /^ *--- PASS: / { p++ }
    /^ *--- FAIL: / { f++ }
    /^ *--- SKIP: / { s++ }
    /^FAIL\t.*\[(build|setup) failed\]/ { f++ }
    /^OK \([0-9]+ tests?, / { p += substr($0, 5) + 0 }
    /^Tests: [0-9]+, Assertions: / {
      f_php = field($0, "Failures") + field($0, "Errors"); s_php = field($0, "Skipped") + field($0, "Incomplete")
      f += f_php; s += s_php; p += field($0, "Tests") - f_php - s_php
    }
    END { print p + 0, f + 0, s + 0 }'
)

echo "thrun: $passed passed, $failed failed, $skipped skipped"
if [ "${#failed_steps[@]}" -gt 0 ]; then
  echo "thrun: failed steps: ${failed_steps[*]}" >&2
  exit 1
fi
[ "$failed" -eq 0 ]
