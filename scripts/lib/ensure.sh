# Shared by scripts/start.sh and scripts/test.sh: make a fresh machine ready.
# - ensure_node_modules: `npm ci` when node_modules is missing or older than the lock
#   file; the lock pins Node 24 (node_modules/.bin/node), which every script then uses.
# - ensure_redis: start (installing via apt if needed) a Redis on 127.0.0.1:6379 when
#   none answers; remembers whether it started one so `stop_started_services` can stop it.
# Extend with ensure_<service> functions in the same style (check → install → start → wait).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STARTED_SERVICES=()

log() { printf '[backbeat] %s\n' "$*" >&2; }

ensure_node_modules() {
  local stamp="$ROOT/node_modules/.package-lock.json"
  if [ ! -x "$ROOT/node_modules/.bin/node" ] || [ ! -f "$stamp" ] || [ "$ROOT/package-lock.json" -nt "$stamp" ]; then
    log "installing npm packages (npm ci)…"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  export PATH="$ROOT/node_modules/.bin:$PATH"
  local v
  v="$("$ROOT/node_modules/.bin/node" --version)"
  case "$v" in v24.*) ;; *) log "expected the pinned Node 24, found $v"; return 1 ;; esac
}

apt_install() {
  if [ -z "${APT_UPDATED:-}" ]; then
    apt-get update -qq >/dev/null 2>&1 || true
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_redis() {
  if command -v redis-cli >/dev/null 2>&1 && redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
    return 0
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    log "installing redis-server (apt)…"
    apt_install redis-server redis-tools
  fi
  log "starting redis on 127.0.0.1:6379"
  mkdir -p /tmp/backbeat-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no \
    --dir /tmp/backbeat-redis --logfile /tmp/backbeat-redis/redis.log --pidfile /tmp/backbeat-redis/redis.pid
  for _ in $(seq 1 50); do
    redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG && { STARTED_SERVICES+=(redis); return 0; }
    sleep 0.1
  done
  log "redis did not start"; return 1
}

stop_started_services() {
  for s in "${STARTED_SERVICES[@]:-}"; do
    case "$s" in
      redis) redis-cli -h 127.0.0.1 -p 6379 shutdown nosave >/dev/null 2>&1 || true ;;
    esac
  done
}
