#!/usr/bin/env bash
# How fast can PostgreSQL take what an import stores, at best? Imports the 98,967 replay tweets into a
# throwaway private cluster, exports the rows the import wrote (posts, mentions, hourly rollups), and
# then times, three times each on emptied tables, in one asynchronous-commit transaction:
#   1. a raw COPY of the archive CSV into a bare text table (the import benchmark's reference);
#   2. COPY of the stored rows into the real tables, with their keys and indexes;
#   3. COPY of the same rows into copies of those tables without any index or check.
# (2) is the floor for storing those rows with the keys that make writes idempotent: no parsing,
# tagging, scoring, conflict checks or round trips. Usage: scripts/bench_storage_floor.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/postgres.sh
. scripts/postgres.sh
cargo build --release --quiet

archive="$(cd .. && pwd)/shared/data/replay/tweets_cryptop12_2020-11-01_2021-02-28.csv"
[ -f "$archive" ] || { echo "missing $archive (../shared)" >&2; exit 1; }
work=${1:-$(mktemp -d)}
mkdir -p "$work"
bin=$PWD/target/release/coinpulse
printf '[database]\ndata_dir = "%s/pg"\n' "$work" > "$work/config.toml"
cpulse() { "$bin" --config "$work/config.toml" "$@"; }
trap 'cpulse db stop >/dev/null 2>&1 || true' EXIT

cpulse db start >/dev/null
url=$(cpulse db url)
cpulse import "$archive" --format cryptop12

# One line each: psql's \copy reads its whole command from one line.
post_cols="platform, external_id, author, text, url, created_at, language, replies, reposts, likes, views"
post_cols+=", author_followers, raw, sentiment_label, sentiment_score, sentiment_model"
mention_cols="post_id, asset_id, surface, start_byte, end_byte, kind, platform, created_at"
header=$(head -n 1 "$archive" | tr -d '\r')
psql "$url" -q -v ON_ERROR_STOP=1 <<SQL
SET client_min_messages = warning;
\copy (SELECT $post_cols FROM posts) TO '$work/posts.copy'
\copy (SELECT $mention_cols FROM mentions) TO '$work/mentions.copy'
\copy rollup_hourly TO '$work/rollup.copy'
DROP TABLE IF EXISTS raw_tweets, posts_bare, mentions_bare, rollup_hourly_bare;
CREATE TABLE raw_tweets ($(echo "$header" | sed 's/,/ text, /g; s/$/ text/'));
CREATE TABLE posts_bare (LIKE posts INCLUDING DEFAULTS INCLUDING IDENTITY);
CREATE TABLE mentions_bare (LIKE mentions);
CREATE TABLE rollup_hourly_bare (LIKE rollup_hourly);
SQL

# Runs SQL on emptied tables and prints the milliseconds of each statement, in order.
timed() {
    psql "$url" -q -v ON_ERROR_STOP=1 -f - 2>&1 <<SQL | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
TRUNCATE posts, mentions, rollup_hourly, raw_tweets, posts_bare, mentions_bare, rollup_hourly_bare;
CHECKPOINT;
\timing on
$1
\timing off
SQL
}

# Copies the exported rows into the tables named with suffix $1 ("" for the real ones) in one
# transaction; prints the milliseconds of the three copies.
copy_rows() {
    timed "BEGIN;
SET LOCAL synchronous_commit = off;
\copy posts$1 ($post_cols) FROM '$work/posts.copy'
\copy mentions$1 ($mention_cols) FROM '$work/mentions.copy'
\copy rollup_hourly$1 FROM '$work/rollup.copy'
COMMIT;" | sed -n '3,5p' | paste -sd' '
}

for run in 1 2 3; do
    raw=$(timed "\copy raw_tweets FROM '$archive' WITH (FORMAT csv, HEADER true)")
    keyed=$(copy_rows "")
    bare=$(copy_rows _bare)
    echo "run $run: raw CSV ${raw} ms | posts, mentions, rollups with keys: ${keyed} ms | without indexes: ${bare} ms"
done
