#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on 127.0.0.1 for the tests and print its DSN.
# Installs the server from Debian's packages when missing. Usage: eval "$(scripts/pg-test-server.sh)"
set -euo pipefail
PORT="${PG_TEST_PORT:-55432}"
DATA="${PG_TEST_DIR:-/tmp/privtune-pg}"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
fi
BIN=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
RUNAS=()
if [ "$(id -u)" = 0 ]; then
  RUNAS=(runuser -u postgres --)
fi
if ! "${RUNAS[@]}" "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  rm -rf "$DATA"; mkdir -p "$DATA"
  [ "$(id -u)" = 0 ] && chown postgres "$DATA"
  "${RUNAS[@]}" "$BIN/initdb" -D "$DATA" -A trust -U postgres >/dev/null
  "${RUNAS[@]}" "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DATA" start >/dev/null
fi
echo "export PRIVTUNE_TEST_PG_DSN=postgresql://postgres@127.0.0.1:$PORT/postgres"
