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

# A local 3-master Redis Cluster on 127.0.0.1:7101-7103 (no replicas), for the engine
# contract suite and the cluster-mode tests. Needs redis-server (ensure_redis installs it).
REDIS_CLUSTER_PORTS=(7101 7102 7103)
ensure_redis_cluster() {
  if redis-cli -h 127.0.0.1 -p 7101 cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then
    export TEST_REDIS_CLUSTER_URL=redis://127.0.0.1:7101
    return 0
  fi
  log "starting a 3-node Redis Cluster on 127.0.0.1:7101-7103"
  local nodes=()
  for p in "${REDIS_CLUSTER_PORTS[@]}"; do
    rm -rf "/tmp/backbeat-rc/$p" && mkdir -p "/tmp/backbeat-rc/$p"
    redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file nodes.conf \
      --dir "/tmp/backbeat-rc/$p" --save '' --appendonly no --daemonize yes --logfile "/tmp/backbeat-rc/$p/redis.log" || return 1
    nodes+=("127.0.0.1:$p")
  done
  for p in "${REDIS_CLUSTER_PORTS[@]}"; do
    for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p "$p" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  done
  STARTED_SERVICES+=(redis-cluster)
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >/dev/null 2>&1 || { log "redis cluster create failed"; return 1; }
  for _ in $(seq 1 100); do
    if redis-cli -h 127.0.0.1 -p 7101 cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then
      export TEST_REDIS_CLUSTER_URL=redis://127.0.0.1:7101
      return 0
    fi
    sleep 0.1
  done
  log "redis cluster did not become ready"; return 1
}

# Debian's Chromium for the browser tests (playwright-core drives it; no browser download).
ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then return 0; fi
  log "installing chromium (apt)…"
  apt_install chromium || return 1
}

stop_started_services() {
  for s in "${STARTED_SERVICES[@]:-}"; do
    case "$s" in
      redis) redis-cli -h 127.0.0.1 -p 6379 shutdown nosave >/dev/null 2>&1 || true ;;
      redis-cluster) for p in "${REDIS_CLUSTER_PORTS[@]}"; do redis-cli -h 127.0.0.1 -p "$p" shutdown nosave >/dev/null 2>&1 || true; done ;;
      kafka) stop_kafka ;;
    esac
  done
}

# Kafka (ensure_kafka, stop_kafka): its own file, being longer than the others.
source "$ROOT/scripts/lib/kafka.sh"
