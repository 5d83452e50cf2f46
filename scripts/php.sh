#!/usr/bin/env bash
# The PHP runtime (sdks/php): its toolchain from Debian packages, and its tests.
#
#   scripts/php.sh setup   installs php-cli, php-redis, php-amqp, phpunit and composer when missing
#   scripts/php.sh test    composer dump-autoload, then PHPUnit against the brokers of
#                          scripts/brokers/*.sh (THRUN_REDIS_URL, THRUN_RABBITMQ_URL)
#   scripts/php.sh bench   the worker's consume rate on Redis Lists against a raw ext-redis loop
#                          (THRUN_REDIS_URL; optional: the number of messages)
#   scripts/php.sh profile the worker's consume loop alone under Xdebug's profiler (php-xdebug from
#                          Debian, installed when missing and never enabled by default): prints the
#                          functions by own time and leaves the cachegrind file for kcachegrind
#                          (THRUN_REDIS_URL; optional: the number of messages, 5000 by default)
#
# No PHP package registry is needed: the package requires only php and ext-*, and Composer is used
# offline, for its autoloader.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "[php.sh] $*" >&2; }

packages=(php-cli php-redis php-amqp phpunit composer)

missing_packages() {
  local package
  for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || echo "$package"
  done
}

setup() {
  local missing
  missing=$(missing_packages)
  if [ -z "$missing" ]; then return 0; fi
  log "installing from Debian packages: $(echo $missing)"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >&2
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq $missing >&2
}

check_extensions() {
  local extension loaded
  loaded=$(php -m)
  for extension in redis amqp pcntl json; do
    if ! grep -qx "$extension" <<<"$loaded"; then
      log "the PHP extension '$extension' is not loaded: run 'bash scripts/php.sh setup'"
      return 1
    fi
  done
}

run_tests() {
  check_extensions
  cd sdks/php
  COMPOSER_ALLOW_SUPERUSER=1 composer dump-autoload --dev --quiet
  phpunit --colors=never "$@"
}

setup_profiler() {
  dpkg-query -W -f='${Status}' php-xdebug 2>/dev/null | grep -q "install ok installed" && return 0
  log "installing php-xdebug from Debian packages"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq php-xdebug >&2
  # Xdebug slows every PHP process down: it is loaded only by `profile`, with -d zend_extension.
  $sudo phpdismod -v ALL -s ALL xdebug
}

run_profile() {
  check_extensions
  setup_profiler
  cd sdks/php
  COMPOSER_ALLOW_SUPERUSER=1 composer dump-autoload --quiet
  local out
  out=$(mktemp -d)
  php -d zend_extension=xdebug -d xdebug.mode=profile -d xdebug.start_with_request=yes \
    -d xdebug.output_dir="$out" -d xdebug.profiler_output_name=cachegrind.out bench/worker.php "${1:-5000}"
  # Xdebug's times are wall-clock: the script calls (Redis->evalsha, lrem) include the wait for Redis.
  if command -v callgrind_annotate >/dev/null; then # from valgrind
    callgrind_annotate --inclusive=no "$out/cachegrind.out" | sed -n '/^Time/,$p' | head -n 40
  fi
  log "profile: $out/cachegrind.out"
}

run_bench() {
  check_extensions
  cd sdks/php
  COMPOSER_ALLOW_SUPERUSER=1 composer dump-autoload --quiet
  php bench/consume.php "$@"
}

case "${1:-}" in
  setup) setup ;;
  test) shift; run_tests "$@" ;;
  bench) shift; run_bench "$@" ;;
  profile) shift; run_profile "$@" ;;
  *) echo "usage: $0 setup|test [phpunit arguments]|bench [messages]|profile [messages]" >&2; exit 2 ;;
esac
