#!/bin/bash
# First start (empty $PGDATA): initdb with POSTGRES_USER/POSTGRES_PASSWORD, POSTGRES_DB, then
# /docker-entrypoint-initdb.d/*.sql and *.sh in name order, on a server reachable through its
# socket only. Every start: `postgres` listening on all the container's addresses, password
# (scram-sha-256) required over TCP. Other commands are run as given.
set -euo pipefail
if [ "${1:-}" != postgres ]; then exec "$@"; fi
shift
: "${PGDATA:=/var/lib/postgresql/data}"
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "refusé : POSTGRES_PASSWORD est requis au premier démarrage (refused: POSTGRES_PASSWORD is required at first start)" >&2
    exit 1
  fi
  pw=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pw"
  initdb -D "$PGDATA" -U "$user" --pwfile="$pw" --auth-host=scram-sha-256 --auth-local=trust \
    -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pw"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -w -t 60 -o "-c listen_addresses='' -k /var/run/postgresql" start >/dev/null
  psql=(psql -v ON_ERROR_STOP=1 -q -h /var/run/postgresql -U "$user")
  # initdb makes `postgres` only (not a database named after the user)
  [ "$db" = postgres ] || "${psql[@]}" -d postgres -c "CREATE DATABASE \"$db\""
  for f in /docker-entrypoint-initdb.d/*; do
    case $f in
      *.sql) echo "initdb: $f"; "${psql[@]}" -d "$db" -f "$f" ;;
      *.sh) echo "initdb: $f"; # shellcheck disable=SC1090
        . "$f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "initdb: cluster ready in $PGDATA (superuser $user, database $db)"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -k /var/run/postgresql "$@"
