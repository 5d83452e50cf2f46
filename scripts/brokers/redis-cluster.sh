#!/usr/bin/env bash
# A private Redis Cluster for tests: six servers on 127.0.0.1 (three masters with one replica each),
# each with its own port, data directory and pid file, so that `stop` ends only the servers this
# script started.
#
#   scripts/brokers/redis-cluster.sh start|stop|status|kill <n>|revive <n>
#
# `kill <n>` ends server n (1-6, in the order of THRUN_REDIS_CLUSTER_PORTS) with SIGKILL, as a crash
# would; `revive <n>` starts it again on its data directory and nodes.conf, so it rejoins the cluster
# (a killed master comes back as a replica of the one promoted in its place).
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

start_node() {
  local port=$1 dir="$base/$1"
  mkdir -p "$dir"
  if running_pid "$port" >/dev/null; then
    log "127.0.0.1:$port already running (pid $(running_pid "$port"))"
    return 0
  fi
  rm -f "$dir/redis.pid"
  redis-server --daemonize yes --port "$port" --bind 127.0.0.1 --protected-mode yes \
    --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    --cluster-enabled yes --cluster-config-file "$dir/nodes.conf" --cluster-node-timeout 5000 \
    --cluster-replica-validity-factor 0 \
    --save '' --appendonly yes --appendfsync everysec >&2
  wait_for "PING on 127.0.0.1:$port" "[ \"\$(cli $port ping 2>/dev/null)\" = PONG ]"
  log "started 127.0.0.1:$port (pid $(running_pid "$port" || echo '?'))"
}

start() {
  install_redis_if_missing
  for port in "${ports[@]}"; do start_node "$port"; done
  if [ "$(cli "${ports[0]}" cluster info | tr -d '\r' | sed -n 's/^cluster_slots_assigned://p')" != 16384 ]; then
    local addresses=()
    for port in "${ports[@]}"; do addresses+=("127.0.0.1:$port"); done
    log "creating the cluster: ${addresses[*]}"
    redis-cli --cluster create "${addresses[@]}" --cluster-replicas 1 --cluster-yes >&2
  fi
  wait_for "cluster_state:ok on every node" "all_ok"
  wait_for "a replica in sync with every master" "[ \"\$(replicas_in_sync)\" -ge 3 ]"
  echo "export THRUN_REDIS_CLUSTER_NODES=$(nodes)"
}

# The port of server $1 (1-based), or exit 2.
port_of() {
  local n=${1:-}
  if ! [[ "$n" =~ ^[1-6]$ ]]; then
    log "expected a server number from 1 to 6, got '${n}'"
    exit 2
  fi
  echo "${ports[$((n - 1))]}"
}

kill_node() {
  local port pid
  port="$(port_of "${1:-}")"
  if ! pid="$(running_pid "$port")"; then
    log "127.0.0.1:$port is not running"
    return 0
  fi
  kill -KILL "$pid"
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$base/$port/redis.pid"
  log "killed 127.0.0.1:$port (pid $pid, SIGKILL)"
}

revive_node() {
  local port
  port="$(port_of "${1:-}")"
  start_node "$port"
  wait_for "cluster_state:ok on every node" "all_ok"
  wait_for "a replica in sync with every master" "[ \"\$(replicas_in_sync)\" -ge 3 ]"
}

all_ok() {
  for port in "${ports[@]}"; do
    cli "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
  done
}

# Replicas whose link to their master is up (the first full sync done).
replicas_in_sync() {
  local total=0
  for port in "${ports[@]}"; do
    if cli "$port" info replication 2>/dev/null | grep -q '^master_link_status:up'; then total=$((total + 1)); fi
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
  kill) kill_node "${2:-}" ;;
  revive) revive_node "${2:-}" ;;
  *) echo "usage: $0 start|stop|status|kill <n>|revive <n>" >&2; exit 2 ;;
esac
