#!/usr/bin/env bash
# A private Redis for tests and benchmarks: 127.0.0.1 only, its own port and data directory, and a pid
# file so that `stop` ends only the server this script started.
#
#   scripts/brokers/redis.sh start|stop|restart|status
#
# `start` is idempotent: it installs redis-server from Debian packages when missing, starts the server
# unless the pid file names a live one, waits for PING, and prints `export THRUN_REDIS_URL=…` on stdout
# (everything else goes to stderr), so callers can `eval "$(scripts/brokers/redis.sh start)"`.
#
# Environment: THRUN_REDIS_PORT (6390), THRUN_STATE_DIR (~/.cache/thrun/state; data in <it>/redis).
set -euo pipefail

port="${THRUN_REDIS_PORT:-6390}"
dir="${THRUN_STATE_DIR:-$HOME/.cache/thrun/state}/redis"
pidfile="$dir/redis.pid"
log() { echo "[redis.sh] $*" >&2; }

# shellcheck source=lib/redis.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/redis.sh"
running_pid() { live_redis_pid "$pidfile"; }

wait_ready() {
  for _ in $(seq 1 100); do
    if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null || true)" = "PONG" ]; then return 0; fi
    sleep 0.1
  done
  log "redis did not answer PING on 127.0.0.1:$port within 10 s (log: $dir/redis.log)"
  return 1
}

start() {
  install_redis_if_missing
  mkdir -p "$dir"
  if running_pid >/dev/null; then
    log "already running (pid $(running_pid)) on 127.0.0.1:$port"
  else
    rm -f "$pidfile"
    # Append-only file with fsync every second: messages survive a restart (the reliability test
    # restarts the server mid-run), and `publish` can ask for WAIT/WAITAOF when it needs more.
    redis-server --daemonize yes --port "$port" --bind 127.0.0.1 --protected-mode yes \
      --dir "$dir" --pidfile "$pidfile" --logfile "$dir/redis.log" \
      --save '' --appendonly yes --appendfsync everysec >&2
    for _ in $(seq 1 50); do running_pid >/dev/null && break; sleep 0.05; done
    log "started (pid $(running_pid || echo '?')) on 127.0.0.1:$port, data in $dir"
  fi
  wait_ready
  echo "export THRUN_REDIS_URL=redis://127.0.0.1:$port"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    log "not running (no live pid in $pidfile)"
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid ignored SIGTERM for 10 s; sending SIGKILL"
    kill -KILL "$pid" || true
  fi
  rm -f "$pidfile"
  log "stopped (pid $pid)"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) if pid="$(running_pid)"; then log "running (pid $pid)"; else log "not running"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|restart|status" >&2; exit 2 ;;
esac
