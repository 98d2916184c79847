#!/usr/bin/env bash
# Runs every fuzz target for a bounded time: the property tests that feed arbitrary input to the
# parsers of outside input (`tag`/`score` stdin, the import formats, the config loader: `src/fuzz.rs`;
# each collector's API payloads through a local server: `tests/collect/fuzz.rs`).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      # default 60
#
# Each target runs batches of PROPTEST_CASES cases (default 1000 here) until SECONDS_PER_TARGET have
# passed, then the next target starts. A failure prints proptest's smallest failing input and the
# script exits non-zero. Needs no database; reads the recorded API responses from ../shared
# (COINPULSE_SHARED_DIR moves it). Nothing leaves loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
export FUZZ_SECONDS=$seconds
export PROPTEST_CASES=${PROPTEST_CASES:-1000}

lib_targets=(fuzz_tag_stdin fuzz_score_stdin fuzz_import_cryptop12 fuzz_import_reddit_csv
    fuzz_import_prices_csv fuzz_import_jsonl fuzz_config_loader)
collect_targets=(fuzz_twitter_payloads fuzz_reddit_payloads fuzz_youtube_payloads
    fuzz_mastodon_payloads fuzz_bluesky_payloads fuzz_coingecko_payloads fuzz_binance_payloads
    fuzz_news_payloads fuzz_biz_payloads fuzz_jetstream_frames)

cargo test --lib --no-run --quiet
cargo test --test collect --no-run --quiet

failed=()
# run NAME CARGO_TEST_ARGS...
run() {
    local name=$1 started
    shift
    started=$(date +%s)
    echo "== $name (${seconds}s)" >&2
    if cargo test --quiet "$@" -- --exact "fuzz::$name" --nocapture >&2; then
        echo "   ok after $(( $(date +%s) - started ))s" >&2
    else
        failed+=("$name")
    fi
}
for t in "${lib_targets[@]}"; do run "$t" --lib; done
for t in "${collect_targets[@]}"; do run "$t" --test collect; done

if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]}" >&2
    exit 1
fi
echo "all ${#lib_targets[@]} + ${#collect_targets[@]} targets passed, ${seconds}s each" >&2
