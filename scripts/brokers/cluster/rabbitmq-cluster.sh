#!/usr/bin/env bash
# A private three-node RabbitMQ cluster on one host for the cluster tests (not started by test-all.sh:
# scripts/test-cluster.sh starts and stops it).
#
#   scripts/brokers/cluster/rabbitmq-cluster.sh start|stop|reset|status|kill <n>|revive <n>
#
# `start` installs rabbitmq-server when missing, runs nodes thrun-c1..c3@localhost on 127.0.0.1 (AMQP
# 5701-5703, distribution 25701-25703, one epmd on 4391 and one Erlang cookie for all three), joins c2
# and c3 to c1 (`join_cluster`) once, waits until all three run, and prints
# `export THRUN_AMQP_CLUSTER_URLS=amqp://…:5701,…` on stdout. Idempotent.
# `kill <n>` ends node n's VM with SIGKILL; `revive <n>` starts it again on its data directory, and it
# rejoins the cluster. `stop` shuts down only the nodes (and the epmd) this script started; `reset` stops
# them and deletes their data. Every wait has a deadline: a node that does not come up fails `start`
# with the tail of its logs on stderr, and no rabbitmqctl call can hang the script.
#
# Environment: THRUN_RABBITMQ_CLUSTER_PORTS (5701,5702,5703), THRUN_RABBITMQ_CLUSTER_DIST_PORTS
# (25701,25702,25703), THRUN_RABBITMQ_CLUSTER_NODES (thrun-c1@localhost,…), THRUN_RABBITMQ_CLUSTER_EPMD_PORT
# (4391), THRUN_RABBITMQ_CLUSTER_START_TIMEOUT_S (300, per node), THRUN_STATE_DIR (data in
# <it>/rabbitmq-cluster/<n>).
set -euo pipefail

IFS=, read -r -a ports <<<"${THRUN_RABBITMQ_CLUSTER_PORTS:-5701,5702,5703}"
IFS=, read -r -a dist_ports <<<"${THRUN_RABBITMQ_CLUSTER_DIST_PORTS:-25701,25702,25703}"
IFS=, read -r -a names <<<"${THRUN_RABBITMQ_CLUSTER_NODES:-thrun-c1@localhost,thrun-c2@localhost,thrun-c3@localhost}"
epmd_port="${THRUN_RABBITMQ_CLUSTER_EPMD_PORT:-4391}"
base="${THRUN_STATE_DIR:-$HOME/.cache/thrun/state}/rabbitmq-cluster"
start_timeout_s="${THRUN_RABBITMQ_CLUSTER_START_TIMEOUT_S:-300}"
bin=/usr/lib/rabbitmq/bin
log() { echo "[rabbitmq-cluster.sh] $*" >&2; }

# Node i's environment (0-based). HOME is the shared base: one cookie for the nodes and the CLI.
node_env() {
  local i=$1 dir="$base/$(($1 + 1))"
  export HOME="$base" ERL_EPMD_PORT="$epmd_port"
  export RABBITMQ_NODENAME="${names[$i]}" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="${ports[$i]}" RABBITMQ_DIST_PORT="${dist_ports[$i]}"
  export RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log"
  export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
  export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
  export RABBITMQ_PID_FILE="$dir/node.pid"
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

# rabbitmqctl against node i, never for longer than 60 s (a CLI waiting on a half-started node can
# otherwise wait forever). Its chatter goes to the cluster's cli.log, shown when something fails.
ctl() {
  local i=$1; shift
  mkdir -p "$base"
  (node_env "$i" && timeout --kill-after=10 60 "$bin/rabbitmqctl" -n "${names[$i]}" "$@" 2>>"$base/cli.log")
}

# The last lines of every log of the cluster, on stderr: why a node did not start or join.
show_logs() {
  local file
  for file in "$base"/cli.log "$base"/*/log/*.log; do
    [ -s "$file" ] || continue
    echo "----- $file (last 30 lines)" >&2
    tail -n 30 "$file" >&2
  done
}

alive() {
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
  [ -z "${2:-}" ] || tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "$2"
}
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# Node i's VM: from its pid file, else asked of the node itself (RabbitMQ removes the pid file on
# stop_app, which join_cluster needs). Checked to be a BEAM before it is trusted.
vm_pid() {
  local pid
  pid=$(cat "$base/$(($1 + 1))/node.pid" 2>/dev/null || true)
  alive "$pid" beam || pid=$(ctl "$1" eval 'list_to_integer(os:getpid()).' 2>/dev/null | tr -d '\r"' || true)
  alive "$pid" beam && echo "$pid"
}

install_if_missing() {
  [ -x "$bin/rabbitmq-server" ] && return 0
  log "installing rabbitmq-server from Debian packages"
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq rabbitmq-server >&2
}

write_config() {
  local i=$1 dir="$base/$(($1 + 1))"
  mkdir -p "$dir/mnesia" "$dir/log"
  cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:${ports[$i]}
loopback_users.guest = true
disk_free_limit.absolute = 50MB
vm_memory_high_watermark.absolute = 1GB
log.console = false
log.file.level = warning
EOF
  echo '[].' >"$dir/enabled_plugins"
  : >"$dir/rabbitmq-env.conf"
  if [ ! -s "$base/.erlang.cookie" ]; then
    (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$base/.erlang.cookie")
  fi
  chmod 600 "$base/.erlang.cookie"
}

start_epmd() {
  port_in_use "$epmd_port" && return 0
  mkdir -p "$base"
  setsid epmd -port "$epmd_port" -address 127.0.0.1 </dev/null >>"$base/epmd.log" 2>&1 &
  echo $! >"$base/epmd.pid"
  for _ in $(seq 50); do port_in_use "$epmd_port" && return 0; sleep 0.1; done
  log "epmd did not start on port $epmd_port"
  return 1
}

start_node() {
  local i=$1 dir="$base/$(($1 + 1))"
  if vm_pid "$i" >/dev/null && ctl "$i" await_startup --timeout 5 >/dev/null 2>&1; then return 0; fi
  write_config "$i"
  log "starting ${names[$i]} on 127.0.0.1:${ports[$i]}"
  (node_env "$i" && cd "$dir" && exec setsid "$bin/rabbitmq-server" </dev/null >>"$dir/log/startup.log" 2>&1) &
  local deadline=$((SECONDS + start_timeout_s))
  until ctl "$i" await_startup --timeout 30 >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "${names[$i]} did not start within $start_timeout_s s"
      show_logs
      return 1
    fi
    sleep 0.5
  done
}

running_nodes() { ctl 0 eval 'length(rabbit_nodes:all_running()).' 2>/dev/null | tr -d '\r' || echo 0; }

start() {
  install_if_missing
  mkdir -p "$base"
  start_epmd
  for i in 0 1 2; do start_node "$i"; done
  for i in 1 2; do
    if ! ctl "$i" cluster_status | grep -q "${names[0]}"; then
      log "joining ${names[$i]} to ${names[0]}"
      if ! { ctl "$i" stop_app && ctl "$i" reset && ctl "$i" join_cluster "${names[0]}" && ctl "$i" start_app; } >/dev/null; then
        log "${names[$i]} could not join ${names[0]}"
        show_logs
        return 1
      fi
    fi
  done
  for _ in $(seq 120); do [ "$(running_nodes)" = 3 ] && break; sleep 0.5; done
  if [ "$(running_nodes)" != 3 ]; then
    log "the cluster does not run three nodes"
    show_logs
    return 1
  fi
  local IFS=, urls=()
  for port in "${ports[@]}"; do urls+=("amqp://guest:guest@127.0.0.1:$port"); done
  echo "export THRUN_AMQP_CLUSTER_URLS=${urls[*]}"
}

index_of() {
  if ! [[ "${1:-}" =~ ^[1-3]$ ]]; then log "expected a node number from 1 to 3, got '${1:-}'"; exit 2; fi
  echo $(($1 - 1))
}

kill_node() {
  local i pid
  i=$(index_of "${1:-}")
  if ! pid=$(vm_pid "$i"); then log "${names[$i]} is not running"; return 0; fi
  kill -KILL "$pid"
  for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
  log "killed ${names[$i]} (pid $pid, SIGKILL)"
}

revive_node() {
  local i
  i=$(index_of "${1:-}")
  start_node "$i"
  for _ in $(seq 120); do [ "$(running_nodes)" = 3 ] && return 0; sleep 0.5; done
  log "${names[$i]} runs but has not rejoined"
  return 1
}

stop() {
  for i in 2 1 0; do
    local pid
    pid=$(vm_pid "$i") || continue
    log "stopping ${names[$i]}"
    ctl "$i" shutdown >/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 300); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
  done
  local epmd_pid
  epmd_pid=$(cat "$base/epmd.pid" 2>/dev/null || true)
  if alive "$epmd_pid" epmd; then kill -TERM "$epmd_pid" 2>/dev/null || true; fi
  rm -f "$base/epmd.pid"
}

reset() {
  stop
  log "deleting the cluster's data in $base"
  rm -rf "$base"
}

status() {
  local down=0
  for i in 0 1 2; do
    if pid=$(vm_pid "$i"); then log "${names[$i]} running (pid $pid)"; else log "${names[$i]} not running"; down=1; fi
  done
  return "$down"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
reset) reset ;;
status) status ;;
kill) kill_node "${2:-}" ;;
revive) revive_node "${2:-}" ;;
*) echo "usage: $0 start|stop|reset|status|kill <n>|revive <n>" >&2; exit 2 ;;
esac
