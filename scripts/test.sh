#!/usr/bin/env bash
# Runs the whole test suite against a real PostgreSQL server (and Chromium for the dashboard test).
#
# With DATABASE_URL set, tests use that server (the role needs CREATEDB: every test gets a fresh
# database). Without it, a throwaway cluster is created in a temporary directory, listening only on a
# unix socket there, and removed afterwards. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

# The dashboard test drives Debian's headless Chromium.
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "Chromium not found; installing Debian's chromium package for the dashboard test." >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq chromium >&2
    else
        echo "warning: /usr/bin/chromium is missing; the dashboard test will fail (apt-get install chromium)." >&2
    fi
fi

# The daemon test checks /metrics with Prometheus's own promtool.
if ! command -v promtool >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "promtool not found; installing Debian's prometheus package for the /metrics check." >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq --no-install-recommends prometheus >&2
    else
        echo "warning: promtool is missing; the daemon test will fail (apt-get install prometheus)." >&2
    fi
fi

if [ -z "${DATABASE_URL:-}" ]; then
    # shellcheck source=scripts/postgres.sh
    . scripts/postgres.sh
    PG_TMP=$(mktemp -d /tmp/coinpulse-test-pg.XXXXXX)
    chmod 755 "$PG_TMP"
    run_pg() { "$@"; }
    if [ "$(id -u)" = 0 ]; then
        # initdb and postgres refuse to run as root.
        chown postgres: "$PG_TMP"
        run_pg() { runuser -u postgres -- "$@"; }
    fi
    cleanup() {
        run_pg "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m immediate -w stop >/dev/null 2>&1 || true
        rm -rf "$PG_TMP"
    }
    trap cleanup EXIT
    run_pg "$PG_BIN/initdb" -D "$PG_TMP/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >/dev/null
    run_pg "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/server.log" -w -o \
        "-c listen_addresses='' -k $PG_TMP -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
        start >/dev/null
    export DATABASE_URL="postgresql:///postgres?host=$PG_TMP&user=postgres"
    echo "Throwaway PostgreSQL cluster in $PG_TMP" >&2
fi

cargo test --no-fail-fast "$@"
