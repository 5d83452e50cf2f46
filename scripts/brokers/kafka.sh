#!/usr/bin/env bash
# A private single-node Apache Kafka broker (KRaft, combined broker+controller) on 127.0.0.1 for tests.
#
#   scripts/brokers/kafka.sh start|stop|restart|status
#
# start: fetches the broker's jars from Maven Central into the cache when missing, formats the storage
# once, starts the broker unless it is already running, waits until it answers Metadata, and prints
# `export THRUN_KAFKA_BROKERS=…` on stdout (everything else goes to stderr). stop: stops only the
# process it started (pid file), with SIGTERM so that the data and committed offsets survive.
#
# Environment: THRUN_KAFKA_PORT (9192), THRUN_KAFKA_CONTROLLER_PORT (9193), THRUN_KAFKA_HEAP (512m),
# THRUN_STATE_DIR (~/.cache/thrun/state), THRUN_KAFKA_CACHE (~/.cache/thrun/kafka).
set -euo pipefail

PORT="${THRUN_KAFKA_PORT:-9192}"
CONTROLLER_PORT="${THRUN_KAFKA_CONTROLLER_PORT:-9193}"
HEAP="${THRUN_KAFKA_HEAP:-512m}"
STATE="${THRUN_STATE_DIR:-$HOME/.cache/thrun/state}/kafka"
DATA="$STATE/data"
PID_FILE="$STATE/kafka.pid"
LOG_FILE="$STATE/broker.log"
READY_TIMEOUT_S="${THRUN_KAFKA_READY_TIMEOUT_S:-90}"

log() { echo "[kafka] $*" >&2; }

# shellcheck source=lib/kafka.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/kafka.sh"

running_pid() { kafka_live_pid "$PID_FILE"; }

ready() { kafka_answers "127.0.0.1:$PORT"; }

write_config() {
  mkdir -p "$DATA"
  cat >"$STATE/server.properties" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
PROPERTIES
}

format_storage() {
  [ -f "$DATA/meta.properties" ] && return 0
  local cluster_id
  cluster_id="$(kafka_random_cluster_id)"
  log "formatting $DATA (cluster $cluster_id)"
  kafka_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$STATE/server.properties" --standalone >&2
}

wait_ready() {
  local deadline=$((SECONDS + READY_TIMEOUT_S))
  until ready; do
    if ! running_pid >/dev/null; then
      log "the broker exited; last lines of $LOG_FILE:"
      tail -n 30 "$LOG_FILE" >&2 || true
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "not ready after ${READY_TIMEOUT_S}s; see $LOG_FILE"
      exit 1
    fi
    sleep 0.25
  done
}

start() {
  mkdir -p "$STATE"
  if running_pid >/dev/null; then
    wait_ready
  else
    if ready; then
      log "something else already answers on 127.0.0.1:$PORT; not starting a second broker"
      exit 1
    fi
    kafka_fetch_jars
    write_config
    format_storage
    log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$PORT (log: $LOG_FILE)"
    kafka_launch "$STATE/server.properties" "$HEAP" "$LOG_FILE" "$PID_FILE"
    wait_ready
    log "ready (pid $(cat "$PID_FILE"))"
  fi
  echo "export THRUN_KAFKA_BROKERS=127.0.0.1:$PORT"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE"
    return 0
  fi
  log "stopping pid $pid"
  kafka_stop_pid "$pid" 60
  rm -f "$PID_FILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  restart)
    stop
    start
    ;;
  status)
    if pid="$(running_pid)"; then log "running (pid $pid)"; else log "not running"; exit 1; fi
    ;;
  *)
    echo "usage: $0 start|stop|restart|status" >&2
    exit 2
    ;;
esac
