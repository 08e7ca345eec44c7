#!/usr/bin/env bash
# Start a local PostgreSQL server for braintwin's store tests (and for users who want one).
#
# Installs Debian's `postgresql` package when it is missing, makes sure a cluster listens on
# 127.0.0.1:5432, creates the role and database `braintwin` (password `braintwin`) and prints the
# SQLAlchemy URL as its last line of stdout. Safe to run any number of times. Must run as root
# (it installs packages and acts as the `postgres` user); CI containers run as root.
#
#   export BRAINTWIN_TEST_PG_URL="$(scripts/start-postgres.sh | tail -n 1)"
set -euo pipefail

PORT="${BRAINTWIN_PG_PORT:-5432}"
HOST=127.0.0.1
ROLE=braintwin
PASSWORD=braintwin
DB=braintwin

log() { echo "start-postgres: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    log "must run as root (installs packages and runs commands as the postgres user)"
    exit 1
fi

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    log "installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends postgresql >&2
fi

# The newest installed server version (Debian can hold several side by side).
VERSION="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
CLUSTER=main

# Some container images install the package without creating the default cluster.
if ! pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c {found=1} END {exit !found}'; then
    log "creating cluster $VERSION/$CLUSTER on port $PORT"
    pg_createcluster "$VERSION" "$CLUSTER" --port "$PORT" >&2
fi

# Listen on loopback TCP only; the default pg_hba.conf already allows password logins there.
# A conf.d drop-in (Debian's postgresql.conf includes conf.d) rather than pg_conftool, which
# writes 127.0.0.1 unquoted and so breaks the file.
pg_conftool "$VERSION" "$CLUSTER" remove listen_addresses || true
pg_conftool "$VERSION" "$CLUSTER" set port "$PORT"
CONFD="/etc/postgresql/$VERSION/$CLUSTER/conf.d"
install -d -o postgres -g postgres "$CONFD"
printf "listen_addresses = '%s'\n" "$HOST" >"$CONFD/braintwin.conf"
chown postgres:postgres "$CONFD/braintwin.conf"

# /var/run is often a fresh tmpfs in containers: the socket directory may be missing.
install -d -o postgres -g postgres -m 2775 /var/run/postgresql

status="$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c {print $4}')"
if [ "$status" != "online" ]; then
    log "starting cluster $VERSION/$CLUSTER"
    pg_ctlcluster "$VERSION" "$CLUSTER" start >&2
fi

for _ in $(seq 1 60); do
    if pg_isready -q -h "$HOST" -p "$PORT"; then
        break
    fi
    sleep 0.5
done
if ! pg_isready -q -h "$HOST" -p "$PORT"; then
    log "server did not become ready on $HOST:$PORT; see /var/log/postgresql/postgresql-$VERSION-$CLUSTER.log"
    exit 1
fi

as_postgres() { runuser -u postgres -- "$@"; }
psql_admin() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PORT" "$@"; }

if [ -z "$(psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" ]; then
    log "creating role $ROLE"
    psql_admin -c "CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD'"
else
    # Reset the password so a half-configured earlier run cannot leave a different one.
    psql_admin -c "ALTER ROLE $ROLE LOGIN PASSWORD '$PASSWORD'"
fi
if [ -z "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" ]; then
    log "creating database $DB"
    psql_admin -c "CREATE DATABASE $DB OWNER $ROLE"
fi

# Prove the URL works with a password login over TCP before printing it.
PGPASSWORD="$PASSWORD" psql -X -q -h "$HOST" -p "$PORT" -U "$ROLE" -d "$DB" -tAc "SELECT 1" >/dev/null

echo "postgresql+psycopg://$ROLE:$PASSWORD@$HOST:$PORT/$DB"
