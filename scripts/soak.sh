#!/usr/bin/env bash
# Daemon soak: `coinpulse run` polling Twitter, Reddit and CoinGecko as served by `coinpulse sandbox`
# on loopback, with a private PostgreSQL cluster, for MINUTES (default 10). Every 20 s it records the
# daemon's resident memory and the posts stored so far; at the end it sends SIGTERM and reports how
# long the daemon took to exit, and whether the token appeared in its log.
# Usage: scripts/soak.sh [MINUTES] [WORKDIR]   (writes WORKDIR/rss.tsv: seconds, RSS kB, posts stored)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/postgres.sh
. scripts/postgres.sh
cargo build --release --quiet

minutes=${1:-10}
work=${2:-$(mktemp -d)}
mkdir -p "$work"
bin=$PWD/target/release/coinpulse
sandbox=127.0.0.1:18080
metrics=127.0.0.1:19187
token=soak-token-$RANDOM$RANDOM
cat > "$work/config.toml" <<TOML
[database]
data_dir = "$work/pg"

[http]
listen = "$metrics"

[charts]
out_dir = "$work/charts"

[sources]
timeout = "10s"
connect_timeout = "2s"
retry_base_delay = "200ms"
retry_max_delay = "5s"

[sources.twitter]
enabled = true
bearer_token_env = "SOAK_TOKEN"
base_url = "http://$sandbox"
max_pages_per_round = 10
poll_interval = "1.5s"
budget = { requests = 1500, per = "15m" }

[sources.reddit]
enabled = true
client_id_env = "SOAK_TOKEN"
client_secret_env = "SOAK_TOKEN"
auth_url = "http://$sandbox"
base_url = "http://$sandbox"
max_pages_per_round = 10
poll_interval = "1.5s"
budget = { requests = 900, per = "1m" }

[sources.coingecko]
enabled = true
base_url = "http://$sandbox"
track = { assets = ["bitcoin", "ethereum"] }
backfill_days = 2
poll_interval = "200ms"
budget = { requests = 1200, per = "1m" }
price_source = "binance-replay"
TOML

"$bin" sandbox --config "$work/config.toml" --listen "$sandbox" > "$work/sandbox.log" 2>&1 &
sandbox_pid=$!
trap 'kill "$sandbox_pid" 2>/dev/null || true; "$bin" --config "$work/config.toml" db stop >/dev/null 2>&1 || true' EXIT
sleep 1
SOAK_TOKEN=$token "$bin" run --config "$work/config.toml" > "$work/daemon.log" 2>&1 &
daemon_pid=$!
sleep 3

start=$(date +%s)
: > "$work/rss.tsv"
for _ in $(seq 0 $((minutes * 3))); do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$daemon_pid/status")
    stored=$(curl -s "$metrics/metrics" | awk '/^coinpulse_posts_stored_total/ {s += $2} END {print s + 0}')
    printf "%s\t%s\t%s\n" "$(($(date +%s) - start))" "$rss" "$stored" | tee -a "$work/rss.tsv"
    sleep 20
done

stop=$(date +%s%N)
kill -TERM "$daemon_pid"
status=0
wait "$daemon_pid" || status=$?
echo "SIGTERM: exit status $status after $(( ($(date +%s%N) - stop) / 1000000 )) ms"
if grep -q "$token" "$work/daemon.log"; then
    echo "the token appears in the daemon's log" >&2
    exit 1
fi
echo "token not in the log; results in $work/rss.tsv"
