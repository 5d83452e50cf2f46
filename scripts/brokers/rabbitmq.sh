#!/usr/bin/env bash
# A private RabbitMQ node for tests, benchmarks and the demo: `start | stop | restart | status`.
#
# `start` installs rabbitmq-server from Debian packages when missing, runs the node `thrun-test@localhost`
# without systemd on 127.0.0.1 (AMQP 5682, distribution 25682), its data, logs, config and Erlang cookie
# under ${THRUN_STATE_DIR:-~/.cache/thrun/state}/rabbitmq, waits until it accepts AMQP connections and
# prints `export THRUN_AMQP_URL=…` on stdout (everything else goes to stderr). Idempotent.
# A TLS listener (5683, self-signed certificate for 127.0.0.1 and localhost) is exported as
# THRUN_AMQPS_URL, with THRUN_AMQPS_CA naming the certificate to trust.
# `stop` shuts down only the node this script started (pid file), and the epmd it started, if it did.
# `ctl …` runs rabbitmqctl against that node.
#
# Overrides: THRUN_RABBITMQ_NODE, THRUN_RABBITMQ_PORT, THRUN_RABBITMQ_DIST_PORT, THRUN_RABBITMQ_TLS_PORT,
# THRUN_RABBITMQ_EPMD_PORT.
set -euo pipefail

node="${THRUN_RABBITMQ_NODE:-thrun-test@localhost}"
port="${THRUN_RABBITMQ_PORT:-5682}"
dist_port="${THRUN_RABBITMQ_DIST_PORT:-25682}"
tls_port="${THRUN_RABBITMQ_TLS_PORT:-5683}"
epmd_port="${THRUN_RABBITMQ_EPMD_PORT:-4369}"
dir="${THRUN_STATE_DIR:-$HOME/.cache/thrun/state}/rabbitmq"
bin=/usr/lib/rabbitmq/bin
url="amqp://guest:guest@127.0.0.1:$port"
tls_url="amqps://guest:guest@127.0.0.1:$tls_port"

log() { echo "[rabbitmq.sh] $*" >&2; }

# The node runs as the invoking user with HOME in the state directory, so its Erlang cookie is private
# and the CLI finds the same one; the Debian wrapper in /usr/sbin would switch to the rabbitmq user.
node_env() {
  export HOME="$dir"
  export ERL_EPMD_PORT="$epmd_port"
  export RABBITMQ_NODENAME="$node"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="$port"
  export RABBITMQ_DIST_PORT="$dist_port"
  export RABBITMQ_MNESIA_BASE="$dir/mnesia"
  export RABBITMQ_LOG_BASE="$dir/log"
  export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
  export RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
  export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
  export RABBITMQ_PID_FILE="$dir/node.pid"
  # Distribution listens on loopback only, like AMQP.
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

ctl() { "$bin/rabbitmqctl" -n "$node" "$@"; }

# A pid from our pid file that is still running, and still the program we started (pids get reused).
alive() {
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
  [ -z "${2:-}" ] || tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "$2"
}

# Sends the AMQP 0-9-1 protocol header and expects the broker's Connection.Start method frame (type 1).
amqp_ready() {
  timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && printf 'AMQP\\x00\\x00\\x09\\x01' >&3 && head -c 1 <&3 | od -An -tx1" 2>/dev/null |
    grep -q 01
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

install_if_missing() {
  [ -x "$bin/rabbitmq-server" ] && command -v openssl >/dev/null && return 0
  log "installing rabbitmq-server from Debian packages"
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq rabbitmq-server openssl >&2
}

write_certificate() {
  [ -s "$dir/tls/cert.pem" ] && [ -s "$dir/tls/key.pem" ] && return 0
  mkdir -p "$dir/tls"
  (umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj '/CN=localhost' \
    -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' -addext 'basicConstraints=critical,CA:TRUE' \
    -keyout "$dir/tls/key.pem" -out "$dir/tls/cert.pem" 2>/dev/null)
}

exports() {
  echo "export THRUN_AMQP_URL=$url"
  echo "export THRUN_AMQPS_URL=$tls_url"
  echo "export THRUN_AMQPS_CA=$dir/tls/cert.pem"
}

write_config() {
  mkdir -p "$dir/mnesia" "$dir/log"
  write_certificate
  # guest may log in from loopback only (the default), which is where tests connect from.
  # max_message_size is RabbitMQ 3.10's default, stated so the transport's limit below it is visible.
  cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$port
listeners.ssl.default = 127.0.0.1:$tls_port
ssl_options.cacertfile = $dir/tls/cert.pem
ssl_options.certfile = $dir/tls/cert.pem
ssl_options.keyfile = $dir/tls/key.pem
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
loopback_users.guest = true
max_message_size = 134217728
disk_free_limit.absolute = 50MB
vm_memory_high_watermark.absolute = 2GB
log.console = false
log.file.level = warning
EOF
  echo '[].' >"$dir/enabled_plugins"
  : >"$dir/rabbitmq-env.conf"
  if [ ! -s "$dir/.erlang.cookie" ]; then
    (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/.erlang.cookie")
  fi
  chmod 600 "$dir/.erlang.cookie"
}

start_epmd() {
  port_in_use "$epmd_port" && return 0
  setsid epmd -port "$epmd_port" -address 127.0.0.1 </dev/null >>"$dir/log/epmd.log" 2>&1 &
  echo $! >"$dir/epmd.pid"
  for _ in $(seq 50); do
    port_in_use "$epmd_port" && return 0
    sleep 0.1
  done
  log "epmd did not start on port $epmd_port"
  return 1
}

start() {
  install_if_missing
  mkdir -p "$dir"
  local pid
  pid=$(cat "$dir/server.pid" 2>/dev/null || true)
  alive "$pid" rabbitmq-server || pid=
  if alive "$pid" && amqp_ready && [ -s "$dir/tls/cert.pem" ]; then
    exports
    return 0
  fi
  if ! alive "$pid" && port_in_use "$port"; then
    log "port $port is taken by a process this script did not start; set THRUN_RABBITMQ_PORT"
    return 1
  fi
  write_config
  node_env
  if ! alive "$pid"; then
    start_epmd
    log "starting $node on 127.0.0.1:$port (state in $dir)"
    (cd "$dir" && exec setsid "$bin/rabbitmq-server" </dev/null >>"$dir/log/startup.log" 2>&1) &
    pid=$!
    echo "$pid" >"$dir/server.pid"
  fi
  local deadline=$((SECONDS + 120))
  until ctl await_startup --timeout 30 >/dev/null 2>&1; do
    if ! alive "$pid"; then
      log "the node exited during startup; last log lines:"
      tail -n 30 "$dir/log/startup.log" >&2 || true
      rm -f "$dir/server.pid"
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "the node did not start within 120 s; see $dir/log"
      return 1
    fi
    sleep 0.5
  done
  until amqp_ready; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "the node runs but does not accept AMQP connections on 127.0.0.1:$port"
      return 1
    fi
    sleep 0.2
  done
  log "ready: $node"
  exports
}

stop() {
  local pid epmd_pid
  pid=$(cat "$dir/server.pid" 2>/dev/null || true)
  node_env
  if alive "$pid" rabbitmq-server; then
    log "stopping $node"
    ctl shutdown >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 300); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
      log "the node did not stop within 30 s; sending SIGKILL to $pid"
      pkill -KILL -P "$pid" 2>/dev/null || true
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$dir/server.pid"
  epmd_pid=$(cat "$dir/epmd.pid" 2>/dev/null || true)
  if [ "${1:-}" != keep-epmd ] && alive "$epmd_pid" epmd; then
    kill -TERM "$epmd_pid" 2>/dev/null || true
    rm -f "$dir/epmd.pid"
  fi
}

status() {
  local pid
  pid=$(cat "$dir/server.pid" 2>/dev/null || true)
  if alive "$pid" rabbitmq-server && amqp_ready; then
    log "running: $node (pid $pid) on 127.0.0.1:$port"
  else
    log "not running"
    return 1
  fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
# A restart keeps the data directory, so durable queues and persistent messages survive it.
restart)
  stop keep-epmd
  start
  ;;
status) status ;;
# rabbitmqctl against this node, e.g. `ctl set_policy …` (tests use it to make the broker refuse).
ctl)
  shift
  node_env
  ctl "$@"
  ;;
*)
  echo "usage: $0 start|stop|restart|status|ctl <rabbitmqctl arguments>" >&2
  exit 2
  ;;
esac
