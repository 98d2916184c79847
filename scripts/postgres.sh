# Sourced by the other scripts: find PostgreSQL's server binaries, installing them when missing.
#
# Sets PG_BIN to the directory holding initdb and pg_ctl.

find_pg_bin() {
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
        return 0
    fi
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
        echo "$dir"
        return 0
    fi
    return 1
}

if ! PG_BIN=$(find_pg_bin); then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "PostgreSQL server binaries not found; installing Debian's postgresql package." >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq postgresql >&2
        PG_BIN=$(find_pg_bin) || { echo "postgresql installed but initdb not found" >&2; exit 1; }
    else
        echo "PostgreSQL server binaries not found. Install them (Debian/Ubuntu: sudo apt-get install postgresql) or set DATABASE_URL." >&2
        exit 1
    fi
fi
export PG_BIN
