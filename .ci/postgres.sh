#!/usr/bin/env bash
# A throwaway PostgreSQL on 127.0.0.1 for the Postgres checkpointer tests (tests/integration/test_postgres.py).
#
#   eval "$(bash .ci/postgres.sh start)"   # idempotent; prints: export SDD_TEST_POSTGRES_URL=postgresql://...
#   bash .ci/postgres.sh url               # the same export line for a running server
#   bash .ci/postgres.sh status
#   bash .ci/postgres.sh stop              # fast shutdown (data kept; `start` reuses it)
#   bash .ci/postgres.sh clean             # stop and delete the cluster
#
# Uses an installed PostgreSQL (/usr/lib/postgresql/*/bin, or pg_ctl on PATH); installs the Debian package only
# when none is found (needs root). Postgres refuses to run as root, so as root the cluster belongs to the
# `postgres` user (created if missing) and every server command runs through runuser. Only the export line goes
# to stdout; progress goes to stderr. Folder: $SDD_PG_DIR (default ${TMPDIR:-/tmp}/sdd-postgres).
set -euo pipefail

PGROOT=${SDD_PG_DIR:-${TMPDIR:-/tmp}/sdd-postgres}
DATA=$PGROOT/data
LOG=$PGROOT/server.log
DB=sdd_test
DBUSER=sdd

say() { echo "postgres.sh: $*" >&2; }

find_bin() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [[ -x $dir/pg_ctl && -x $dir/initdb ]]; then echo "$dir"; return 0; fi
  done
  if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"; return 0
  fi
  return 1
}

ensure_installed() {
  if BIN=$(find_bin); then return 0; fi
  if [[ $(id -u) -ne 0 ]]; then
    say "PostgreSQL not found; install it (sudo apt-get install postgresql) or run this script as root"; exit 1
  fi
  say "installing PostgreSQL from Debian (apt-get install postgresql)"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
  BIN=$(find_bin) || { say "pg_ctl still not found after install"; exit 1; }
}

# as root: run as the postgres user; otherwise as ourselves
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ensure_owner() {
  [[ $(id -u) -eq 0 ]] || return 0
  if ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

running() { [[ -f $DATA/PG_VERSION ]] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

url() {
  echo "postgresql://$DBUSER:$(cat "$PGROOT/password")@127.0.0.1:$(cat "$PGROOT/port")/$DB"
}

print_url() { echo "export SDD_TEST_POSTGRES_URL=$(url)"; }

psql_admin() {
  PGPASSWORD=$(cat "$PGROOT/password") "$BIN/psql" -X -q -h 127.0.0.1 -p "$(cat "$PGROOT/port")" -U "$DBUSER" \
    -d postgres -v ON_ERROR_STOP=1 "$@"
}

start() {
  ensure_installed
  ensure_owner
  if running; then
    say "already running on 127.0.0.1:$(cat "$PGROOT/port") ($DATA)"
    print_url; return 0
  fi
  mkdir -p "$PGROOT"
  chmod 700 "$PGROOT"
  if [[ ! -f $DATA/PG_VERSION ]]; then
    rm -rf "$DATA"
    (umask 077; python3 -c 'import secrets; print(secrets.token_hex(12))' >"$PGROOT/password")
    if [[ $(id -u) -eq 0 ]]; then chown -R postgres "$PGROOT"; fi
    say "initdb $DATA ($("$BIN/postgres" --version))"
    as_owner "$BIN/initdb" -D "$DATA" -U "$DBUSER" --pwfile="$PGROOT/password" --auth-local=scram-sha-256 \
      --auth-host=scram-sha-256 --encoding=UTF8 --no-instructions >"$PGROOT/initdb.log" 2>&1 \
      || { cat "$PGROOT/initdb.log" >&2; exit 1; }
  fi
  free_port >"$PGROOT/port"
  if [[ $(id -u) -eq 0 ]]; then chown -R postgres "$PGROOT"; fi
  local port
  port=$(cat "$PGROOT/port")
  # loopback only, socket in our folder; fsync off: a test server (a killed *client* loses nothing either way)
  as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PGROOT -c fsync=off -c full_page_writes=off" start >&2 \
    || { tail -n 30 "$LOG" >&2; exit 1; }
  if [[ -z $(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'") ]]; then
    psql_admin -c "CREATE DATABASE $DB"
  fi
  say "running on 127.0.0.1:$port, database $DB (stop: bash .ci/postgres.sh stop)"
  print_url
}

stop() {
  BIN=$(find_bin) || { say "PostgreSQL not installed; nothing to stop"; return 0; }
  if running; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2
    say "stopped"
  else
    say "not running"
  fi
}

case ${1:-start} in
  start) start ;;
  stop) stop ;;
  clean) stop; rm -rf "$PGROOT"; say "removed $PGROOT" ;;
  url) BIN=$(find_bin); running || { say "not running"; exit 1; }; print_url ;;
  status) BIN=$(find_bin) || exit 1; if running; then say "running: $(url | sed 's/:[^:@]*@/:***@/')"; else say "stopped"; exit 3; fi ;;
  *) echo "usage: $0 start|stop|clean|url|status" >&2; exit 2 ;;
esac
