#!/usr/bin/env bash
# A private Redis Cluster for tests: six servers on 127.0.0.1 (three masters with one replica each),
# each with its own port, data directory and pid file, so that `stop` ends only the servers this
# script started.
#
#   scripts/brokers/redis-cluster.sh start|stop|status
#
# `start` is idempotent: it installs redis-server from Debian packages when missing, starts each server
# unless its pid file names a live one, creates the cluster once (`redis-cli --cluster create …
# --cluster-replicas 1`), waits until every slot is served and every master has its replica, and prints
# `export THRUN_REDIS_CLUSTER_NODES=127.0.0.1:7001,…` on stdout (everything else goes to stderr).
#
# Environment: THRUN_REDIS_CLUSTER_PORTS (7001,7002,7003,7004,7005,7006), THRUN_STATE_DIR
# (~/.cache/thrun/state; data in <it>/redis-cluster/<port>).
set -euo pipefail

IFS=, read -r -a ports <<<"${THRUN_REDIS_CLUSTER_PORTS:-7001,7002,7003,7004,7005,7006}"
base="${THRUN_STATE_DIR:-$HOME/.cache/thrun/state}/redis-cluster"
log() { echo "[redis-cluster.sh] $*" >&2; }

if [ "${#ports[@]}" -ne 6 ]; then
  log "THRUN_REDIS_CLUSTER_PORTS needs six ports (three masters, three replicas), got ${#ports[@]}"
  exit 2
fi

# shellcheck source=lib/redis.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/redis.sh"
running_pid() { live_redis_pid "$base/$1/redis.pid"; }

cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }

wait_for() {
  local what=$1 check=$2
  for _ in $(seq 1 200); do
    if eval "$check"; then return 0; fi
    sleep 0.1
  done
  log "$what did not happen within 20 s (logs: $base/<port>/redis.log)"
  return 1
}

nodes() {
  local IFS=,
  local list=()
  for port in "${ports[@]}"; do list+=("127.0.0.1:$port"); done
  echo "${list[*]}"
}

start() {
  install_redis_if_missing
  for port in "${ports[@]}"; do
    local dir="$base/$port"
    mkdir -p "$dir"
    if running_pid "$port" >/dev/null; then
      log "127.0.0.1:$port already running (pid $(running_pid "$port"))"
      continue
    fi
    rm -f "$dir/redis.pid"
    redis-server --daemonize yes --port "$port" --bind 127.0.0.1 --protected-mode yes \
      --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
      --cluster-enabled yes --cluster-config-file "$dir/nodes.conf" --cluster-node-timeout 5000 \
      --save '' --appendonly yes --appendfsync everysec >&2
    wait_for "PING on 127.0.0.1:$port" "[ \"\$(cli $port ping 2>/dev/null)\" = PONG ]"
    log "started 127.0.0.1:$port (pid $(running_pid "$port" || echo '?'))"
  done
  if [ "$(cli "${ports[0]}" cluster info | tr -d '\r' | sed -n 's/^cluster_slots_assigned://p')" != 16384 ]; then
    local addresses=()
    for port in "${ports[@]}"; do addresses+=("127.0.0.1:$port"); done
    log "creating the cluster: ${addresses[*]}"
    redis-cli --cluster create "${addresses[@]}" --cluster-replicas 1 --cluster-yes >&2
  fi
  wait_for "cluster_state:ok on every node" "all_ok"
  wait_for "a replica for every master" "[ \"\$(connected_replicas)\" -ge 3 ]"
  echo "export THRUN_REDIS_CLUSTER_NODES=$(nodes)"
}

all_ok() {
  for port in "${ports[@]}"; do
    cli "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
  done
}

# Replicas in sync with their master, summed over the masters.
connected_replicas() {
  local total=0 count
  for port in "${ports[@]}"; do
    count="$(cli "$port" info replication 2>/dev/null | tr -d '\r' | sed -n 's/^connected_slaves://p')"
    total=$((total + ${count:-0}))
  done
  echo "$total"
}

stop() {
  for port in "${ports[@]}"; do
    local pid
    if ! pid="$(running_pid "$port")"; then
      rm -f "$base/$port/redis.pid"
      continue
    fi
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid ignored SIGTERM for 10 s; sending SIGKILL"
      kill -KILL "$pid" || true
    fi
    rm -f "$base/$port/redis.pid"
    log "stopped 127.0.0.1:$port (pid $pid)"
  done
}

status() {
  local down=0
  for port in "${ports[@]}"; do
    if pid="$(running_pid "$port")"; then log "127.0.0.1:$port running (pid $pid)"; else
      log "127.0.0.1:$port not running"
      down=1
    fi
  done
  return "$down"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
