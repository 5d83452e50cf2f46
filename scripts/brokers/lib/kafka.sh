# Shared by kafka.sh and cluster/kafka-cluster.sh (sourced, not run): the broker's jars, its tools,
# launching and stopping one broker process. Each caller defines `log`.
#
# Environment: THRUN_KAFKA_CACHE (~/.cache/thrun/kafka: the jars and Maven's repository).

KAFKA_VERSION=4.4.0
# The pom and log4j configurations beside kafka.sh.
KAFKA_FILES="$(cd "$(dirname "${BASH_SOURCE[0]}")/../kafka" && pwd)"
KAFKA_CACHE="${THRUN_KAFKA_CACHE:-$HOME/.cache/thrun/kafka}"
KAFKA_LIBS="$KAFKA_CACHE/libs-$KAFKA_VERSION"

# Fetches the broker's runtime jars from Maven Central into the cache, once.
kafka_fetch_jars() {
  [ -f "$KAFKA_LIBS/.complete" ] && return 0
  command -v java >/dev/null || { log "Java 17+ is needed to run Kafka"; return 1; }
  command -v mvn >/dev/null || { log "Maven (mvn) is needed to fetch the Kafka jars"; return 1; }
  log "fetching kafka_2.13:$KAFKA_VERSION from Maven Central into $KAFKA_LIBS"
  local work="$KAFKA_CACHE/maven-project"
  rm -rf "$work" "$KAFKA_LIBS"
  mkdir -p "$work"
  cp "$KAFKA_FILES/pom.xml" "$work/pom.xml"
  (cd "$work" && mvn -q -B -Dstyle.color=never -Dmaven.repo.local="$KAFKA_CACHE/m2" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS" >&2)
  [ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ] || {
    log "Maven did not deliver kafka_2.13-$KAFKA_VERSION.jar"
    return 1
  }
  touch "$KAFKA_LIBS/.complete"
}

# Runs a Kafka tool class (StorageTool, …) with a small heap, tuned to start fast; its log goes to stderr.
kafka_tool() {
  java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Dlog4j2.configurationFile="$KAFKA_FILES/log4j2-tools.xml" -cp "$KAFKA_LIBS/*" "$@"
}

# A new cluster id, checked to look like one.
kafka_random_cluster_id() {
  local cluster_id
  cluster_id="$(kafka_tool kafka.tools.StorageTool random-uuid | tr -d '[:space:]')"
  if ! [[ "$cluster_id" =~ ^[A-Za-z0-9_-]{22}$ ]]; then
    log "unexpected cluster id from StorageTool random-uuid: '$cluster_id'"
    return 1
  fi
  echo "$cluster_id"
}

# The pid in pid file $1 when it still names a Kafka broker (not a recycled pid).
kafka_live_pid() {
  local pid
  [ -f "$1" ] || return 1
  pid="$(cat "$1" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q "kafka.Kafka" "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

# Exits 0 once the broker at host:port answers Metadata with at least $2 (default 1) brokers
# registered and a controller elected.
kafka_answers() { node "$KAFKA_FILES/probe.mjs" "$1" "${2:-1}" >/dev/null 2>&1; }

# Starts a broker in the background: kafka_launch <server.properties> <heap> <log file> <pid file>.
kafka_launch() {
  local properties=$1 heap=$2 log_file=$3 pid_file=$4
  (
    # Close every inherited descriptor above stderr (lock files of whatever started us, pipes of a
    # test runner): a long-lived broker holding them would keep those locks and pipes open.
    for fd in /proc/self/fd/*; do
      fd="${fd##*/}"
      if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec setsid java "-Xmx$heap" "-Xms$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$KAFKA_FILES/log4j2-broker.xml" \
      -cp "$KAFKA_LIBS/*" kafka.Kafka "$properties" </dev/null >>"$log_file" 2>&1
  ) &
  echo $! >"$pid_file"
}

# Stops the broker of pid $1 with SIGTERM (data and committed offsets survive), SIGKILL after $2 s (60).
kafka_stop_pid() {
  local pid=$1 patience=$((${2:-60} * 4))
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 "$patience"); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.25
  done
  log "pid $pid still running after ${2:-60}s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}
