#!/usr/bin/env bash
# The one-command demo: installs PostgreSQL's server binaries if they are missing, builds coinpulse,
# and runs `coinpulse demo` (private database, simulated sources, the real daemon, charts, a report).
# Extra arguments go to `coinpulse demo` (e.g. --duration 2m --keep-running).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/postgres.sh
. scripts/postgres.sh
cargo build --release --quiet
exec target/release/coinpulse demo "$@"
