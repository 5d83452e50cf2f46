# Shared by redis.sh and redis-cluster.sh (sourced, not run). Each caller defines `log`.

# Installs redis-server and redis-cli from Debian packages when missing.
install_redis_if_missing() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return
  log "installing redis-server from Debian packages"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq redis-server >&2
}

# The pid in pid file $1, when it names a live redis-server (a stale file after a reboot names nothing,
# or somebody else's process: the command line is checked before the pid is trusted).
live_redis_pid() {
  local pidfile=$1 pid
  [ -f "$pidfile" ] || return 1
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  grep -q "redis-server" "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}
