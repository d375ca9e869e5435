# A throw-away PostgreSQL for the benchmarks (sourced): Debian's server binaries run as the
# `postgres` account, a data directory of its own, a loopback port, password authentication, and a
# role and database for `ship`. The same set-up as the tests' PostgresServer.
#
#   pg_up DIR PORT     initdb DIR/data if it is not there yet (a cached one is reused), start it, and
#                      set PG_URL (no password in it) and PG_PASSFILE
#   pg_down DIR        stop it (the data directory stays)
#   pg_sql SQL         run SQL as the fleet database's owner; rows as `|`-separated text

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

pg_up() {
  local dir=$1 port=$2 bin; bin=$(pg_bin)
  [ -n "$bin" ] || { echo "no PostgreSQL server installed (Debian: postgresql)" >&2; return 1; }
  mkdir -p "$dir"
  if [ ! -s "$dir/data/PG_VERSION" ]; then
    rm -rf "$dir/data"
    printf 'Pg-Admin-1\n' > "$dir/admin"
    chown -R postgres: "$dir"
    runuser -u postgres -- "$bin/initdb" -D "$dir/data" -A scram-sha-256 --pwfile "$dir/admin" -U postgres >/dev/null
    local fresh=1
  fi
  chown -R postgres: "$dir"
  runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 120 \
    -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c fsync=off -c shared_buffers=1GB -c max_wal_size=8GB -c maintenance_work_mem=1GB" \
    start >/dev/null </dev/null
  PG_DIR=$dir PG_PORT=$port
  PG_URL="postgresql://shipper@127.0.0.1:$port/fleet"
  PG_PASSFILE=$dir/password
  if [ -n "${fresh:-}" ]; then
    PGPASSWORD=Pg-Admin-1 "$bin/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -c "CREATE ROLE shipper LOGIN PASSWORD 'Ship-Pw-3x'" \
      -c "CREATE DATABASE fleet OWNER shipper" >/dev/null
  fi
  # A new file of root's (the data directory was just given to postgres): sshaudit refuses others'.
  rm -f "$PG_PASSFILE"; (umask 077; printf 'Ship-Pw-3x\n' > "$PG_PASSFILE")
}

pg_down() {
  runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$1/data" -w -m fast stop >/dev/null 2>&1 || true
}

pg_sql() {
  PGPASSWORD=Ship-Pw-3x "$(pg_bin)/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U shipper -d fleet -c "$1"
}
