#!/usr/bin/env bash
# Starts the real engines the test suites and benchmarks use (PostgreSQL,
# Kafka, ClickHouse, Redis, MinIO, mailpit and Jaeger), idempotently, then prints the environment that
# points Lectern at them:
#
#   eval "$(infra/local/up.sh)"
#
# The same lines are written to $LECTERN_ENGINES_DIR/engines.env, so another
# shell can `source` them without running this again.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

started=$SECONDS
"$LECTERN_LOCAL_DIR/ffmpeg.sh" ensure >&2 # first: the engines' apt-get would contend for dpkg's lock
"$LECTERN_LOCAL_DIR/poppler.sh" ensure >&2 # likewise before the engines: it may apt-get too
# MinIO, mailpit and Jaeger in the background: on a fresh machine they are
# built from source first (minutes), and the other engines can start meanwhile.
"$LECTERN_LOCAL_DIR/minio.sh" start &
minio_start=$!
"$LECTERN_LOCAL_DIR/mailpit.sh" start &
mailpit_start=$!
"$LECTERN_LOCAL_DIR/jaeger.sh" start &
jaeger_start=$!
"$LECTERN_LOCAL_DIR/postgres.sh" start
"$LECTERN_LOCAL_DIR/kafka.sh" start
"$LECTERN_LOCAL_DIR/clickhouse.sh" start
# In the foreground like the other Debian engines: its first start runs apt-get.
"$LECTERN_LOCAL_DIR/redis.sh" start
wait "$minio_start" || die "MinIO did not start (see the lines of [minio] above)"
wait "$mailpit_start" || die "mailpit did not start (see the lines of [mailpit] above)"
wait "$jaeger_start" || die "Jaeger did not start (see the lines of [jaeger] above)"

env_file="$LECTERN_ENGINES_DIR/engines.env"
mkdir -p "$LECTERN_ENGINES_DIR"
# Write then rename: a reader never sees half a file.
{
  printf 'export DATABASE_URL=%q\n' "$("$LECTERN_LOCAL_DIR/postgres.sh" url)"
  printf 'export KAFKA_BROKERS=%q\n' "$("$LECTERN_LOCAL_DIR/kafka.sh" brokers)"
  printf 'export CLICKHOUSE_URL=%q\n' "$("$LECTERN_LOCAL_DIR/clickhouse.sh" url)"
  # The path, not the password: the password stays in its 0600 file.
  printf 'export CLICKHOUSE_ANALYST_PASSWORD_FILE=%q\n' "$("$LECTERN_LOCAL_DIR/clickhouse.sh" analyst-password-file)"
  printf 'export S3_ENDPOINT=%q\n' "$("$LECTERN_LOCAL_DIR/minio.sh" url)"
  printf 'export S3_ACCESS_KEY=%q\n' "$("$LECTERN_LOCAL_DIR/minio.sh" access-key)"
  # Likewise the secret key's file, not the key.
  printf 'export S3_SECRET_KEY_FILE=%q\n' "$("$LECTERN_LOCAL_DIR/minio.sh" secret-key-file)"
  printf 'export REDIS_URL=%q\n' "$("$LECTERN_LOCAL_DIR/redis.sh" url)"
  # The user is in the URL; its password stays in its 0600 file.
  printf 'export REDIS_PASSWORD_FILE=%q\n' "$("$LECTERN_LOCAL_DIR/redis.sh" password-file)"
  printf 'export SMTP_URL=%q\n' "$("$LECTERN_LOCAL_DIR/mailpit.sh" smtp-url)"
  printf 'export MAILPIT_URL=%q\n' "$("$LECTERN_LOCAL_DIR/mailpit.sh" api-url)"
  # Not OTEL_EXPORTER_OTLP_ENDPOINT: that would turn tracing on in every
  # process started from this environment. A test hands it to the processes
  # it means to trace.
  printf 'export JAEGER_OTLP_URL=%q\n' "$("$LECTERN_LOCAL_DIR/jaeger.sh" otlp-url)"
  printf 'export JAEGER_URL=%q\n' "$("$LECTERN_LOCAL_DIR/jaeger.sh" api-url)"
} >"$env_file.tmp"
mv "$env_file.tmp" "$env_file"
log "engines up in $((SECONDS - started))s; environment in $env_file"
cat "$env_file"
