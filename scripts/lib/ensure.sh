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

# A private CA and a server certificate for 127.0.0.1/localhost, for the protocol-true
# local push provider servers (APNs, FCM, Web Push). Clients verify certificates as in
# production: the CA reaches them through NODE_EXTRA_CA_CERTS (read by Node at start, so
# it is exported here, before vitest starts), never by turning verification off.
# Exports TEST_TLS_DIR (ca.pem, server.pem, server-key.pem) and NODE_EXTRA_CA_CERTS.
ensure_test_ca() {
  local dir="${TEST_TLS_DIR:-$HOME/.cache/backbeat/test-ca}"
  if [ ! -s "$dir/ca.pem" ] || [ ! -s "$dir/server.pem" ] || [ ! -s "$dir/server-key.pem" ] \
     || ! openssl x509 -checkend 86400 -noout -in "$dir/server.pem" >/dev/null 2>&1; then
    command -v openssl >/dev/null 2>&1 || apt_install openssl || return 1
    rm -rf "$dir" && mkdir -p "$dir"
    (
      cd "$dir" || exit 1
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
        -subj "/CN=Backbeat test CA" -keyout ca-key.pem -out ca.pem \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1 &&
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
        -keyout server-key.pem -out server.csr >/dev/null 2>&1 &&
      printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > ext.cnf &&
      openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 825 \
        -extfile ext.cnf -out server.pem >/dev/null 2>&1
    ) || { log "test CA generation failed"; return 1; }
  fi
  export TEST_TLS_DIR="$dir"
  export NODE_EXTRA_CA_CERTS="$dir/ca.pem"
}

# PostgreSQL on 127.0.0.1:5432 (trust auth) with a database `test`, for the store's
# PostgreSQL engine. Uses a running server when one answers; else installs (apt) and
# starts a private cluster under /tmp. Exports TEST_DATABASE_URL.
ensure_postgres() {
  local url="postgres://postgres@127.0.0.1:5432/test"
  if command -v pg_isready >/dev/null 2>&1 && pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" 2>/dev/null | grep -q 1 \
      || psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE test" >/dev/null 2>&1 || true
    export TEST_DATABASE_URL="$url"
    return 0
  fi
  local bindir
  bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  if [ -z "$bindir" ] && ! command -v initdb >/dev/null 2>&1; then
    log "installing postgresql (apt)…"
    apt_install postgresql || return 1
    bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  fi
  local initdb="${bindir:+$bindir/}initdb" pgctl="${bindir:+$bindir/}pg_ctl"
  local data=/tmp/backbeat-pg
  log "starting postgresql on 127.0.0.1:5432 ($data)"
  rm -rf "$data" && mkdir -p "$data"
  local runas=()
  if [ "$(id -u)" = 0 ]; then id postgres >/dev/null 2>&1 || useradd -r postgres 2>/dev/null; chown postgres "$data"; runas=(su postgres -s /bin/sh -c); fi
  local init="$initdb -D $data -U postgres -A trust >/dev/null" start="$pgctl -D $data -l $data/log -o '-h 127.0.0.1 -p 5432 -k /tmp' -w start >/dev/null"
  if [ ${#runas[@]} -gt 0 ]; then "${runas[@]}" "$init" && "${runas[@]}" "$start"; else sh -c "$init" && sh -c "$start"; fi || { log "postgresql did not start"; return 1; }
  STARTED_SERVICES+=(postgres)
  PG_STARTED_DATA="$data"; PG_CTL="$pgctl"
  psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE test" >/dev/null 2>&1 || true
  export TEST_DATABASE_URL="$url"
}

stop_started_services() {
  for s in "${STARTED_SERVICES[@]:-}"; do
    case "$s" in
      redis) redis-cli -h 127.0.0.1 -p 6379 shutdown nosave >/dev/null 2>&1 || true ;;
      redis-cluster) for p in "${REDIS_CLUSTER_PORTS[@]}"; do redis-cli -h 127.0.0.1 -p "$p" shutdown nosave >/dev/null 2>&1 || true; done ;;
      kafka) stop_kafka ;;
      postgres) if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$PG_CTL -D $PG_STARTED_DATA -m fast stop" >/dev/null 2>&1; else "$PG_CTL" -D "$PG_STARTED_DATA" -m fast stop >/dev/null 2>&1; fi || true ;;
    esac
  done
}

# Kafka (ensure_kafka, stop_kafka): its own file, being longer than the others.
source "$ROOT/scripts/lib/kafka.sh"
