# Sourced by scripts/lib/ensure.sh: a real Apache Kafka broker for the Kafka suites,
# without Docker or the Apache download site (recipe: shared kafka-broker.md).
# - ensure_kafka: when nothing answers on 127.0.0.1:19092, fetch the broker jars once
#   from Maven Central (scripts/kafka/pom.xml → ~/.cache/backbeat/kafka-<version>/libs),
#   write a single-node KRaft config (broker+controller in one JVM), format the data dir
#   once, start the JVM in the background and wait until it answers metadata requests.
#   Exports TEST_KAFKA_BROKERS and BACKBEAT_KAFKA_LIBS (test/helpers/kafka-broker.ts starts
#   private brokers from those jars) and records `kafka` in STARTED_SERVICES.
# - stop_kafka: stops the broker this script started (stop_started_services calls it).
# To change the Kafka version, edit KAFKA_VERSION here and kafka.version in the POM; to add
# broker settings, extend kafka_write_config (test/helpers/kafka-broker.ts calls it for the
# private brokers too).

KAFKA_VERSION=4.1.2
# Overridable to try the script beside a running broker (e.g. a cold start on other ports).
KAFKA_PORT="${BACKBEAT_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${BACKBEAT_KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_HOME_DIR="${BACKBEAT_KAFKA_DIR:-/tmp/backbeat-kafka}"
KAFKA_CACHE_DIR="${BACKBEAT_CACHE_DIR:-$HOME/.cache/backbeat}/kafka-$KAFKA_VERSION"

kafka_answers() {
  # Cheap TCP check first (no Node start-up when the port is closed), then a real
  # metadata request, so a port held by something else does not count.
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null || return 1
  "$ROOT/node_modules/.bin/node" "$ROOT/scripts/kafka/ready.ts" "127.0.0.1:$1" "${2:-3000}" ${3:+"$3"} 2>/dev/null
}

kafka_fetch_jars() {
  local libs="$KAFKA_CACHE_DIR/libs"
  if [ -f "$KAFKA_CACHE_DIR/.complete" ] && ls "$libs"/kafka_2.13-*.jar >/dev/null 2>&1; then
    return 0
  fi
  command -v java >/dev/null 2>&1 || { log "installing Java 17 (apt)…"; apt_install openjdk-17-jre-headless || return 1; }
  command -v mvn >/dev/null 2>&1 || { log "installing Maven (apt)…"; apt_install maven || return 1; }
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central (once)…"
  rm -rf "$libs" && mkdir -p "$libs"
  if ! mvn -B -q -Dstyle.color=never -f "$ROOT/scripts/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$libs" >"$KAFKA_CACHE_DIR/mvn.log" 2>&1; then
    log "mvn could not fetch the Kafka jars: $(tail -20 "$KAFKA_CACHE_DIR/mvn.log")"
    return 1
  fi
  touch "$KAFKA_CACHE_DIR/.complete"
}

kafka_write_config() {
  # $1 config file, $2 data dir, $3 port, $4 controller port
  cat >"$1" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$4
listeners=PLAINTEXT://127.0.0.1:$3,CONTROLLER://127.0.0.1:$4
advertised.listeners=PLAINTEXT://127.0.0.1:$3
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$2
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# After a crash the restarted broker cannot register until its old session expired (9 s by default).
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
EOF
}

KAFKA_JVM_OPTS="-Xms256m -Xmx512m -XX:+UseSerialGC -Dlog4j2.configurationFile=file:$ROOT/scripts/kafka/log4j2.properties"
kafka_java() {
  # shellcheck disable=SC2086 # KAFKA_JVM_OPTS is a list of words
  java $KAFKA_JVM_OPTS -cp "$KAFKA_CACHE_DIR/libs/*" "$@"
}

kafka_cluster_id() {
  # What `StorageTool random-uuid` prints (16 random bytes, base64url) without one more JVM start;
  # an id starting with '-' would read as a flag.
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    case "$id" in -*) ;; *) printf '%s' "$id"; return ;; esac
  done
}

kafka_start() {
  local data="$KAFKA_HOME_DIR/data" conf="$KAFKA_HOME_DIR/server.properties"
  mkdir -p "$KAFKA_HOME_DIR"
  kafka_write_config "$conf" "$data" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"
  # Format once per data dir: the cluster id lives in meta.properties, so a restart keeps topics.
  if [ ! -f "$data/meta.properties" ]; then
    kafka_java kafka.tools.StorageTool format -t "$(kafka_cluster_id)" -c "$conf" --ignore-formatted >"$KAFKA_HOME_DIR/format.log" 2>&1 ||
      { log "kafka storage format failed: $(tail -5 "$KAFKA_HOME_DIR/format.log")"; return 1; }
  fi
  # setsid: the JVM outlives this shell (a later `bash -c` or the test run reuses it) and
  # leads its own process group. Without job control setsid execs in place, so $! is the JVM.
  setsid nohup java $KAFKA_JVM_OPTS -cp "$KAFKA_CACHE_DIR/libs/*" kafka.Kafka "$conf" \
    >"$KAFKA_HOME_DIR/broker.log" 2>&1 </dev/null &
  echo $! >"$KAFKA_HOME_DIR/kafka.pid"
  "$ROOT/node_modules/.bin/node" "$ROOT/scripts/kafka/ready.ts" "127.0.0.1:$KAFKA_PORT" 90000 "$(cat "$KAFKA_HOME_DIR/kafka.pid")"
}

ensure_kafka() {
  [ -x "$ROOT/node_modules/.bin/node" ] || ensure_node_modules || return 1 # the readiness probe is a Node script
  if kafka_answers "$KAFKA_PORT"; then
    export TEST_KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT"
    # The private brokers of the chaos tests need the jars even when the shared broker is not ours.
    kafka_fetch_jars && export BACKBEAT_KAFKA_LIBS="$KAFKA_CACHE_DIR/libs"
    return 0
  fi
  kafka_fetch_jars || return 1
  log "starting kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT"
  # The test broker keeps nothing between runs: every test makes topics of its own, and a
  # data dir that grows by hundreds of topics per run slows every later start.
  rm -rf "$KAFKA_HOME_DIR/data"
  if ! kafka_start; then
    # A data dir left by another version or config can stop the broker: start once more from scratch.
    log "kafka did not start ($(tail -3 "$KAFKA_HOME_DIR/broker.log" 2>/dev/null)); retrying on a fresh data dir"
    stop_kafka
    rm -rf "$KAFKA_HOME_DIR/data"
    kafka_start || { log "kafka did not start: see $KAFKA_HOME_DIR/broker.log"; return 1; }
  fi
  export TEST_KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT"
  export BACKBEAT_KAFKA_LIBS="$KAFKA_CACHE_DIR/libs"
  STARTED_SERVICES+=(kafka)
}

stop_kafka() {
  local pidfile="$KAFKA_HOME_DIR/kafka.pid" pid
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  # Only the broker we started: a stale pid file may name a process that reused the number.
  if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka'; then rm -f "$pidfile"; return 0; fi
  # setsid made the JVM a process-group leader: signal the group.
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$pidfile"
}
