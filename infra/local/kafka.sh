#!/usr/bin/env bash
# A real Apache Kafka (KRaft, one node acting as broker and controller) for
# development and CI, on loopback only, with no Docker: the broker's jars come
# from Maven Central and run on the machine's JDK.
#
#   infra/local/kafka.sh start|stop|status|brokers|verify
#
# Ports: LECTERN_KAFKA_PORT (19092), LECTERN_KAFKA_CONTROLLER_PORT (19093).
# State (config, data, logs, pid): LECTERN_KAFKA_DIR ($LECTERN_ENGINES_DIR/kafka).
# Jars: $LECTERN_CACHE_DIR/kafka-<version>/libs, fetched once.
# `start` is idempotent: if something already answers on the port it is taken
# to be our broker, provided it serves metadata.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# 3.9 rather than 4.x: kafkajs is unmaintained since 2023 and was built against
# 2.x/3.x brokers; 4.0 removed old protocol versions, and although kafkajs's
# stay above the new floors, the last 3.x line is the safer pairing for CI.
readonly KAFKA_VERSION=3.9.1 SCALA_VERSION=2.13 SLF4J_VERSION=1.7.36
readonly DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

HOST=127.0.0.1
PORT="${LECTERN_KAFKA_PORT:-19092}"
CTRL_PORT="${LECTERN_KAFKA_CONTROLLER_PORT:-19093}"
K_DIR="${LECTERN_KAFKA_DIR:-$LECTERN_ENGINES_DIR/kafka}"
JAR_HOME="$LECTERN_CACHE_DIR/kafka-$KAFKA_VERSION"
LIBS="$JAR_HOME/libs"
PIDFILE="$K_DIR/kafka.pid"
STDOUT_LOG="$K_DIR/stdout.log" # JVM output: crashes, bad options
SERVER_LOG="$K_DIR/server.log" # Kafka's own log4j output, WARN and up

ensure_java() {
  command -v java >/dev/null || apt_install default-jre-headless
  local major
  major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)
  ((${major:-0} >= 11)) || die "Kafka $KAFKA_VERSION needs Java 11 or later; found: $(java -version 2>&1 | head -n 1)"
}

# Fetches the broker and every runtime dependency into one folder, once. The
# pom is the whole recipe; writing it here keeps the version next to the code.
fetch_jars() {
  [[ -f $LIBS/kafka_$SCALA_VERSION-$KAFKA_VERSION.jar ]] && return 0
  command -v mvn >/dev/null || apt_install maven
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIBS (once; seconds to a minute)"
  mkdir -p "$JAR_HOME"
  cat >"$JAR_HOME/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <!-- Written by infra/local/kafka.sh: the Kafka broker's runtime classpath. -->
  <modelVersion>4.0.0</modelVersion>
  <groupId>lectern.local</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_$SCALA_VERSION</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <!-- Kafka logs through slf4j; without a binding it would log nothing. -->
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId>
      <version>$SLF4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
  # Copy into a scratch folder and rename it into place, so an interrupted
  # fetch never leaves a partial classpath that later runs would trust.
  local tmp="$JAR_HOME/libs.partial"
  rm -rf "$tmp"
  if ! mvn -q -B -f "$JAR_HOME/pom.xml" "$DEPENDENCY_PLUGIN:copy-dependencies" \
    -DoutputDirectory="$tmp" -DincludeScope=runtime </dev/null >"$JAR_HOME/mvn.log" 2>&1; then
    show_log_tail "$JAR_HOME/mvn.log"
    die "could not fetch the Kafka jars (full log: $JAR_HOME/mvn.log)"
  fi
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  log "fetched $(find "$LIBS" -name '*.jar' | wc -l) jars"
}

kafka_java() {
  java -cp "$LIBS/*" -Dlog4j.configuration="file:$K_DIR/log4j.properties" "$@"
}

# Rewritten on every start so that changing the ports takes effect; the data
# folder keeps only the cluster id and the log segments.
write_config() {
  mkdir -p "$K_DIR/data"
  cat >"$K_DIR/server.properties" <<EOF
# Written by infra/local/kafka.sh on each start; edits here are lost.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CTRL_PORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CTRL_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$K_DIR/data
# One node: the internal topics must have replication factor 1, or consumer
# groups never find a coordinator and transactions never start.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
# Tests create consumer groups constantly; do not wait 3 s for more members.
group.initial.rebalance.delay.ms=0
num.partitions=4
# Topics are created deliberately (by the adapters), never by a typo.
auto.create.topics.enable=false
EOF
  cat >"$K_DIR/log4j.properties" <<EOF
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=$SERVER_LOG
log4j.appender.file.MaxFileSize=10MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
}

# KRaft storage must be formatted once with a cluster id before first start.
format_storage() {
  [[ -f $K_DIR/data/meta.properties ]] && return 0
  local cluster_id
  cluster_id=$(kafka_java kafka.tools.StorageTool random-uuid)
  log "formatting storage in $K_DIR/data (cluster id $cluster_id)"
  kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$K_DIR/server.properties" >>"$STDOUT_LOG" 2>&1 ||
    {
      show_log_tail "$STDOUT_LOG"
      die "could not format Kafka storage"
    }
}

# The pid of our Kafka broker, if it runs (see live_pid_from).
managed_pid() { live_pid_from "$PIDFILE" 'kafka\.Kafka'; }

# The port in the config our broker was started with (it differs from $PORT
# if that was started with another LECTERN_KAFKA_PORT).
managed_port() {
  sed -n 's|^listeners=PLAINTEXT://[^:]*:\([0-9]*\),.*|\1|p' "$K_DIR/server.properties" 2>/dev/null
}

run_verify() {
  local node_bin
  node_bin=$(node24_bin)
  [[ -d $LECTERN_ROOT/node_modules/kafkajs ]] ||
    die "kafkajs is not installed; run 'npm ci' in $LECTERN_ROOT first (./dev does it for you)"
  # TimeoutNegativeWarning: kafkajs 2.2.4 on Node 24, harmless and noisy.
  KAFKA_BROKERS="$HOST:$PORT" KAFKAJS_NO_PARTITIONER_WARNING=1 \
    "$node_bin/node" --disable-warning=TimeoutNegativeWarning "$LECTERN_LOCAL_DIR/verify-kafka.ts" "$@"
}

cmd_start() {
  with_lock kafka
  if port_open "$HOST" "$PORT"; then
    if pid=$(managed_pid) && [[ $(managed_port) == "$PORT" ]]; then
      log "already running on $HOST:$PORT (pid $pid)"
    else
      log "something already answers on $HOST:$PORT; using it as the Kafka broker"
    fi
    # Short wait: a broker that is up serves metadata at once.
    run_verify --metadata-only --wait=10 || die "$HOST:$PORT answers but does not serve Kafka metadata"
    return
  fi
  if pid=$(managed_pid); then
    die "broker pid $pid is alive but $HOST:$PORT does not answer; see $SERVER_LOG, or '$0 stop' and retry"
  fi
  ensure_java
  fetch_jars
  # In CI every topic is a test's, named for its run: a broker that keeps them
  # all grows by thousands of partitions a run, until its controller falls
  # behind and metadata requests time out. CI starts from empty storage.
  if [[ ${CI:-} == true && -d $K_DIR/data ]]; then
    log "CI: removing the last run's topics ($(find "$K_DIR/data" -mindepth 1 -maxdepth 1 -type d | wc -l) directories)"
    rm -rf "$K_DIR/data"
  fi
  write_config
  format_storage
  log "starting Kafka $KAFKA_VERSION on $HOST:$PORT (controller $CTRL_PORT, state in $K_DIR)"
  # setsid: the broker gets its own session, so a Ctrl-C in the terminal that
  # ran `./dev test` does not take it down, and it never holds the caller's
  # stdout (CI pipes output through tee, which would otherwise wait forever).
  # 9>&-: do not inherit the fd of our start lock (see with_lock).
  local launcher=()
  command -v setsid >/dev/null && launcher=(setsid)
  (cd "$K_DIR" && exec "${launcher[@]}" java -Xmx512m -cp "$LIBS/*" \
    -Dlog4j.configuration="file:$K_DIR/log4j.properties" \
    kafka.Kafka "$K_DIR/server.properties" </dev/null >>"$STDOUT_LOG" 2>&1 9>&-) &
  local pid=$!
  echo "$pid" >"$PIDFILE"
  if ! wait_for_port "$HOST" "$PORT" "$ENGINE_READY_SECONDS" "$pid" "$SERVER_LOG"; then
    show_log_tail "$STDOUT_LOG"
    die "Kafka did not start"
  fi
  run_verify --metadata-only || die "Kafka answers on $HOST:$PORT but serves no metadata"
  run_verify || die "Kafka started but failed verification (logs: $SERVER_LOG)"
  log "Kafka ready: $HOST:$PORT (pid $pid)"
}

cmd_stop() { stop_managed Kafka "$PIDFILE" 'kafka\.Kafka' "$HOST" "$PORT" "$K_DIR"; }

cmd_status() {
  local pid
  if pid=$(managed_pid); then
    echo "running on $HOST:$(managed_port) (pid $pid, state in $K_DIR)"
  fi
  if pid=$(managed_pid) && [[ $(managed_port) == "$PORT" ]]; then
    return 0
  elif port_open "$HOST" "$PORT"; then
    echo "something answers on $HOST:$PORT (not started from $K_DIR)"
  else
    echo "stopped"
    return 3
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  brokers) echo "$HOST:$PORT" ;;
  verify) run_verify ;;
  *)
    echo "usage: $0 start|stop|status|brokers|verify" >&2
    exit 2
    ;;
esac
