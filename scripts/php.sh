#!/usr/bin/env bash
# The PHP runtime (sdks/php): its toolchain from Debian packages, and its tests.
#
#   scripts/php.sh setup   installs php-cli, php-redis, php-amqp, phpunit and composer when missing
#   scripts/php.sh test    composer dump-autoload, then PHPUnit against the brokers of
#                          scripts/brokers/*.sh (THRUN_REDIS_URL, THRUN_RABBITMQ_URL)
#   scripts/php.sh bench   the worker's consume rate on Redis Lists against a raw ext-redis loop
#                          (THRUN_REDIS_URL; optional: the number of messages)
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
  *) echo "usage: $0 setup|test [phpunit arguments]|bench [messages]" >&2; exit 2 ;;
esac
