#!/usr/bin/env python3
"""How a new sentiment model moves stored history: imports the replay tweets into a private cluster
with one binary (scored by its built-in model), then runs `coinpulse db rescore --model NEW` and
prints the label mix before and after, the time and peak memory of the rescore, and whether every
rollup row equals a recount from the posts afterwards.

    cargo build --release          # before the model file changes: the binary that imports
    cp target/release/coinpulse /tmp/coinpulse-old
    python3 scripts/bench_rescore.py --bin /tmp/coinpulse-old --model data/sentiment-model.bin

The cluster and its directory are removed afterwards (`--keep` leaves them).
"""
import argparse
import glob
import re
import shutil
import subprocess
import sys
import time

from bench_api import TWEETS, replay_config, runner

MIX = """SELECT label, count(*) FROM sentiment GROUP BY label ORDER BY label"""

# The rollup's counted columns as stored, minus a recount from posts, mentions and sentiment, both
# ways; score sums compared to within float rounding (they are summed in different orders).
DIFF = """
WITH pa AS (
    SELECT m.post_id, m.asset_id, p.platform, date_trunc('hour', p.created_at) AS bucket,
           count(*) AS spans
    FROM mentions m JOIN posts p ON p.id = m.post_id
    GROUP BY 1, 2, 3, 4),
recount AS (
    SELECT pa.asset_id, pa.platform, pa.bucket, count(*) AS posts, sum(pa.spans)::int8 AS mentions,
           count(*) FILTER (WHERE s.label = 'positive') AS positive,
           count(*) FILTER (WHERE s.label = 'neutral') AS neutral,
           count(*) FILTER (WHERE s.label = 'negative') AS negative,
           coalesce(sum(s.score::float8), 0) AS score_sum
    FROM pa LEFT JOIN sentiment s ON s.post_id = pa.post_id
    GROUP BY 1, 2, 3),
stored AS (
    SELECT asset_id, platform, bucket, posts, mentions, positive, neutral, negative, score_sum
    FROM rollup_hourly)
SELECT (SELECT count(*) FROM stored),
       (SELECT count(*) FROM stored FULL JOIN recount USING (asset_id, platform, bucket)
        WHERE stored.posts IS DISTINCT FROM recount.posts
           OR stored.mentions IS DISTINCT FROM recount.mentions
           OR stored.positive IS DISTINCT FROM recount.positive
           OR stored.neutral IS DISTINCT FROM recount.neutral
           OR stored.negative IS DISTINCT FROM recount.negative
           OR abs(stored.score_sum - recount.score_sum) > 1e-6
           OR stored.score_sum IS NULL OR recount.score_sum IS NULL)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="the binary that imports (its built-in model scores)")
    ap.add_argument("--model", required=True, help="the model file to rescore with")
    ap.add_argument("--keep", action="store_true", help="leave the cluster and its directory")
    args = ap.parse_args()
    psql = shutil.which("psql") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))), None)
    if psql is None:
        sys.exit("psql is missing")
    work, config, _ = replay_config("coinpulse-rescore-")
    run = runner(args.bin, config)
    try:
        t = time.time()
        run("import", str(TWEETS), "--format", "cryptop12")
        print(f"imported {TWEETS.name} in {time.time() - t:.1f} s")
        url = run("db", "url").stdout.strip()

        def query(sql: str) -> list[list[str]]:
            out = subprocess.run([psql, url, "-AtF", "\t", "-c", sql], check=True,
                                 capture_output=True, text=True).stdout
            return [line.split("\t") for line in out.splitlines()]

        print("before:", ", ".join(f"{label} {n}" for label, n in query(MIX)))
        t = time.time()
        done = subprocess.run(["/usr/bin/time", "-v", args.bin, "--config", str(config), "db", "rescore",
                               "--model", args.model], check=True, capture_output=True, text=True)
        took = time.time() - t
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
        print(done.stdout.strip())
        print(f"rescore took {took:.1f} s, peak RSS {int(rss.group(1)) / 1024:.0f} MB")
        print("after: ", ", ".join(f"{label} {n}" for label, n in query(MIX)))
        rows, differ = query(DIFF)[0]
        print(f"rollup rows {rows}, differing from a recount {differ}")
        if differ != "0":
            sys.exit("the rollups do not equal a recount")
    finally:
        if not args.keep:
            subprocess.run([args.bin, "--config", str(config), "db", "stop"], capture_output=True)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
