#!/usr/bin/env bash
# Stops the engines started by up.sh. Engines that answer on the ports but
# were not started from $LECTERN_ENGINES_DIR are left alone. Data is kept:
# remove $LECTERN_ENGINES_DIR to start from scratch.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Try each even if one fails, so one stuck engine does not keep the others
# running; report failure at the end.
status=0
"$LECTERN_LOCAL_DIR/jaeger.sh" stop || status=1
"$LECTERN_LOCAL_DIR/mailpit.sh" stop || status=1
"$LECTERN_LOCAL_DIR/minio.sh" stop || status=1
"$LECTERN_LOCAL_DIR/redis.sh" stop || status=1
"$LECTERN_LOCAL_DIR/clickhouse.sh" stop || status=1
"$LECTERN_LOCAL_DIR/kafka.sh" stop || status=1
"$LECTERN_LOCAL_DIR/postgres.sh" stop || status=1
rm -f "$LECTERN_ENGINES_DIR/engines.env"
exit "$status"
