#!/usr/bin/env bash
# A private three-broker Apache Kafka cluster (KRaft, each node a combined broker and controller) on
# 127.0.0.1 for the cluster tests (not started by test-all.sh: scripts/test-cluster.sh starts and stops
# it). Topics get replication factor 3 and min.insync.replicas=2 (the offsets, transaction and share
# state topics too), so one broker may die without losing what `acks: -1` acknowledged.
#
#   scripts/brokers/cluster/kafka-cluster.sh start|stop|status|kill <n>|revive <n>
#
# `start` fetches the jars as scripts/brokers/kafka.sh does (scripts/brokers/lib/kafka.sh), formats each
# node's storage once with one cluster id and a static quorum of the three controllers, starts each
# broker unless its pid file names a live one, waits until every broker answers Metadata listing all
# three, and prints `export THRUN_KAFKA_CLUSTER_BROKERS=127.0.0.1:9291,…` on stdout (everything else
# goes to stderr). Idempotent. `kill <n>` ends broker n (node.id n, 1-3) with SIGKILL, as a crash
# would; `revive <n>` starts it again on its data directory and waits until it is back in the cluster.
# `stop` stops only the brokers this script started (pid files), all at once with SIGTERM (one by one,
# the last two would wait for a controller quorum that is gone), SIGKILL after 30 s.
#
# Every wait is bounded: a broker that exits or is not ready within THRUN_KAFKA_CLUSTER_READY_TIMEOUT_S
# (180) fails the command, the tail of its log on stderr.
#
# Environment: THRUN_KAFKA_CLUSTER_PORTS (9291,9292,9293), THRUN_KAFKA_CLUSTER_CONTROLLER_PORTS
# (9294,9295,9296), THRUN_KAFKA_CLUSTER_HEAP (384m a broker), THRUN_STATE_DIR (~/.cache/thrun/state;
# node n in <it>/kafka-cluster/<n>), THRUN_KAFKA_CACHE (~/.cache/thrun/kafka).
set -euo pipefail

IFS=, read -r -a ports <<<"${THRUN_KAFKA_CLUSTER_PORTS:-9291,9292,9293}"
IFS=, read -r -a controller_ports <<<"${THRUN_KAFKA_CLUSTER_CONTROLLER_PORTS:-9294,9295,9296}"
heap="${THRUN_KAFKA_CLUSTER_HEAP:-384m}"
base="${THRUN_STATE_DIR:-$HOME/.cache/thrun/state}/kafka-cluster"
ready_timeout_s="${THRUN_KAFKA_CLUSTER_READY_TIMEOUT_S:-180}"
log() { echo "[kafka-cluster.sh] $*" >&2; }

# shellcheck source=../lib/kafka.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/kafka.sh"

if [ "${#ports[@]}" -ne 3 ] || [ "${#controller_ports[@]}" -ne 3 ]; then
  log "THRUN_KAFKA_CLUSTER_PORTS and THRUN_KAFKA_CLUSTER_CONTROLLER_PORTS need three ports each"
  exit 2
fi

# Node n is 1-3: its node.id, and the n-th port of each list.
dir_of() { echo "$base/$1"; }
port_of() { echo "${ports[$(($1 - 1))]}"; }
running_pid() { kafka_live_pid "$(dir_of "$1")/kafka.pid"; }
# Broker n answers Metadata with all three brokers registered and a controller elected.
in_cluster() { kafka_answers "127.0.0.1:$(port_of "$1")" 3; }

brokers() {
  local IFS=, list=()
  for port in "${ports[@]}"; do list+=("127.0.0.1:$port"); done
  echo "${list[*]}"
}

voters() {
  local IFS=, list=()
  for n in 1 2 3; do list+=("$n@127.0.0.1:${controller_ports[$((n - 1))]}"); done
  echo "${list[*]}"
}

write_config() {
  local n=$1 dir port controller_port
  dir="$(dir_of "$n")"
  port="$(port_of "$n")"
  controller_port="${controller_ports[$((n - 1))]}"
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<PROPERTIES
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$(voters)
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=3
default.replication.factor=3
min.insync.replicas=2
unclean.leader.election.enable=false
offsets.topic.replication.factor=3
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
PROPERTIES
}

# Formats the storage of the nodes not formatted yet, all at once (a JVM each), with one cluster id
# kept beside them.
format_storage() {
  local cluster_id pids=() n dir failed=0
  if [ ! -s "$base/cluster.id" ]; then
    cluster_id="$(kafka_random_cluster_id)"
    echo "$cluster_id" >"$base/cluster.id"
  fi
  cluster_id="$(cat "$base/cluster.id")"
  for n in 1 2 3; do
    dir="$(dir_of "$n")"
    [ -f "$dir/data/meta.properties" ] && continue
    [ -f "$dir/server.properties" ] || write_config "$n"
    log "formatting $dir/data (cluster $cluster_id, node $n)"
    kafka_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" >"$dir/format.log" 2>&1 &
    pids+=("$!:$n")
  done
  for entry in "${pids[@]}"; do
    if ! wait "${entry%%:*}"; then
      n="${entry#*:}"
      log "formatting node $n failed:"
      cat "$(dir_of "$n")/format.log" >&2
      failed=1
    fi
  done
  return "$failed"
}

log_tail() {
  local n=$1
  log "last lines of $(dir_of "$n")/broker.log:"
  tail -n 40 "$(dir_of "$n")/broker.log" >&2 2>/dev/null || true
}

# Starts broker n unless it runs already (returns 1 when a stranger holds its port).
launch_node() {
  local n=$1 dir
  dir="$(dir_of "$n")"
  running_pid "$n" >/dev/null && return 0
  if (exec 3<>"/dev/tcp/127.0.0.1/$(port_of "$n")") 2>/dev/null; then
    log "something else listens on 127.0.0.1:$(port_of "$n"); not starting broker $n there"
    return 1
  fi
  write_config "$n"
  [ -f "$dir/data/meta.properties" ] || format_storage
  log "starting broker $n on 127.0.0.1:$(port_of "$n") (log: $dir/broker.log)"
  kafka_launch "$dir/server.properties" "$heap" "$dir/broker.log" "$dir/kafka.pid"
}

# Waits until each of the given brokers is in the cluster; fails at the deadline or when one exits.
wait_in_cluster() {
  local deadline=$((SECONDS + ready_timeout_s)) n
  for n in "$@"; do
    until in_cluster "$n"; do
      if ! running_pid "$n" >/dev/null; then
        log "broker $n exited"
        log_tail "$n"
        return 1
      fi
      if [ "$SECONDS" -ge "$deadline" ]; then
        log "broker $n is not in a cluster of three after ${ready_timeout_s}s"
        for m in 1 2 3; do log_tail "$m"; done
        return 1
      fi
      sleep 0.25
    done
  done
}

node_number() {
  if ! [[ "${1:-}" =~ ^[1-3]$ ]]; then
    log "expected a broker number from 1 to 3, got '${1:-}'"
    exit 2
  fi
  echo "$1"
}

start() {
  mkdir -p "$base"
  kafka_fetch_jars
  for n in 1 2 3; do running_pid "$n" >/dev/null || write_config "$n"; done
  format_storage
  # All three at once: a controller quorum needs two of them running.
  for n in 1 2 3; do launch_node "$n"; done
  wait_in_cluster 1 2 3
  log "ready: $(brokers)"
  echo "export THRUN_KAFKA_CLUSTER_BROKERS=$(brokers)"
}

kill_node() {
  local n pid
  n="$(node_number "${1:-}")"
  if ! pid="$(running_pid "$n")"; then
    log "broker $n is not running"
    return 0
  fi
  kill -KILL "$pid"
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "broker $n (pid $pid) still runs 5 s after SIGKILL"
    return 1
  fi
  log "killed broker $n (pid $pid, SIGKILL)"
}

revive_node() {
  local n
  n="$(node_number "${1:-}")"
  launch_node "$n"
  wait_in_cluster "$n"
  log "broker $n is back (pid $(running_pid "$n"))"
}

stop() {
  local pids=() pid
  for n in 1 2 3; do
    if pid="$(running_pid "$n")"; then
      log "stopping broker $n (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  local deadline=$((SECONDS + 30))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.25; done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid still running after 30 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  for n in 1 2 3; do rm -f "$(dir_of "$n")/kafka.pid"; done
}

status() {
  local down=0 pid
  for n in 1 2 3; do
    if pid="$(running_pid "$n")"; then
      if in_cluster "$n"; then
        log "broker $n running (pid $pid) on 127.0.0.1:$(port_of "$n")"
      else
        log "broker $n running (pid $pid) but not (yet) in a cluster of three"
        down=1
      fi
    else
      log "broker $n not running"
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
*)
  echo "usage: $0 start|stop|status|kill <n>|revive <n>" >&2
  exit 2
  ;;
esac
