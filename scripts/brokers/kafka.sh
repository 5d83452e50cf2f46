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

KAFKA_VERSION=4.4.0
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PORT="${THRUN_KAFKA_PORT:-9192}"
CONTROLLER_PORT="${THRUN_KAFKA_CONTROLLER_PORT:-9193}"
HEAP="${THRUN_KAFKA_HEAP:-512m}"
CACHE="${THRUN_KAFKA_CACHE:-$HOME/.cache/thrun/kafka}"
LIBS="$CACHE/libs-$KAFKA_VERSION"
STATE="${THRUN_STATE_DIR:-$HOME/.cache/thrun/state}/kafka"
DATA="$STATE/data"
PID_FILE="$STATE/kafka.pid"
LOG_FILE="$STATE/broker.log"
READY_TIMEOUT_S="${THRUN_KAFKA_READY_TIMEOUT_S:-90}"

log() { echo "[kafka] $*" >&2; }

running_pid() {
  [ -f "$PID_FILE" ] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  # The pid must still be our java process, not a recycled pid.
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q "kafka.Kafka" "/proc/$pid/cmdline" 2>/dev/null; then
    echo "$pid"
    return 0
  fi
  return 1
}

ready() { node "$HERE/kafka/probe.mjs" "127.0.0.1:$PORT" >/dev/null 2>&1; }

fetch_jars() {
  [ -f "$LIBS/.complete" ] && return 0
  command -v mvn >/dev/null || { log "Maven (mvn) is needed to fetch the Kafka jars"; exit 1; }
  log "fetching kafka_2.13:$KAFKA_VERSION from Maven Central into $LIBS"
  local work="$CACHE/maven-project"
  rm -rf "$work" "$LIBS"
  mkdir -p "$work"
  cp "$HERE/kafka/pom.xml" "$work/pom.xml"
  (cd "$work" && mvn -q -B -Dstyle.color=never -Dmaven.repo.local="$CACHE/m2" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$LIBS" >&2)
  [ -f "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" ] || { log "Maven did not deliver kafka_2.13-$KAFKA_VERSION.jar"; exit 1; }
  touch "$LIBS/.complete"
}

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

java_tool() {
  java -Xmx256m -Dlog4j2.configurationFile="$HERE/kafka/log4j2-tools.xml" -cp "$LIBS/*" "$@"
}

format_storage() {
  [ -f "$DATA/meta.properties" ] && return 0
  local cluster_id
  cluster_id="$(java_tool kafka.tools.StorageTool random-uuid | tr -d '[:space:]')"
  if ! [[ "$cluster_id" =~ ^[A-Za-z0-9_-]{22}$ ]]; then
    log "unexpected cluster id from StorageTool random-uuid: '$cluster_id'"
    exit 1
  fi
  log "formatting $DATA (cluster $cluster_id)"
  java_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$STATE/server.properties" --standalone >&2
}

launch() {
  (
    # Close every inherited descriptor above stderr (lock files of whatever started us, pipes of a
    # test runner): a long-lived broker holding them would keep those locks and pipes open.
    for fd in /proc/self/fd/*; do
      fd="${fd##*/}"
      if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec setsid java "-Xmx$HEAP" "-Xms$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$HERE/kafka/log4j2-broker.xml" \
      -cp "$LIBS/*" kafka.Kafka "$STATE/server.properties" </dev/null >>"$LOG_FILE" 2>&1
  ) &
  echo $! >"$PID_FILE"
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
    command -v java >/dev/null || { log "Java 17+ is needed to run Kafka"; exit 1; }
    fetch_jars
    write_config
    format_storage
    log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$PORT (log: $LOG_FILE)"
    launch
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
  kill -TERM "$pid"
  for _ in $(seq 1 240); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid still running after 60s; sending SIGKILL"
    kill -KILL "$pid" || true
  fi
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
