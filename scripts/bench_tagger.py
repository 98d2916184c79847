#!/usr/bin/env python3
"""Compare coinpulse's tagger with flashtext on the same dictionary: quality on a gold file, speed on
the replay tweets.

    pip install flashtext==2.7
    cargo build --release
    python3 scripts/bench_tagger.py [--bin target/release/coinpulse] [--shared ../shared] [--runs 3]
                                    [--no-library]

flashtext gets the dictionary coinpulse ships (data/assets.csv): every bare surface form the registry
matches (symbols, names, aliases of the top-1000 coins) plus `$symbol` for every listed coin, each
mapped to the same asset coinpulse gives it. Only flashtext's extraction loop is timed.

coinpulse is timed twice. The library: `Tagger::tag_into` over the same texts in memory, one core,
taken from `TAGGER_ONE_PASS=1 cargo bench --bench tagger` (median of five passes), which is the fair
match for flashtext's loop. The process: `coinpulse tag` as a whole (start-up, JSON lines on stdin,
JSON lines out). Every timing here is the median of --runs runs.
"""
import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from flashtext import KeywordProcessor

ROOT = Path(__file__).resolve().parent.parent


def load_registry():
    """surface form -> asset id, the winner by rank as coinpulse decides it (curated alias first)."""
    rows = list(csv.DictReader(open(ROOT / "data/assets.csv", encoding="utf-8")))
    claims = {}

    def claim(form, key, asset):
        form = form.strip().lower()
        if form and (form not in claims or key < claims[form][0]):
            claims[form] = (key, asset)

    for i, r in enumerate(rows):
        rank = int(r["rank"]) if r["rank"] else 10**9
        aliases = [a for a in r["aliases"].split("|") if a]
        full = rank <= 1000 or (not r["rank"] and aliases)
        claim("$" + r["symbol"], (1, rank, i), r["id"])
        if full:
            claim(r["symbol"], (1, rank, i), r["id"])
            claim(r["name"], (1, rank, i), r["id"])
            for a in aliases:
                claim(a, (0, rank, i), r["id"])
    return {form: asset for form, (_, asset) in claims.items()}


def flashtext_processor(forms):
    kp = KeywordProcessor(case_sensitive=False)
    kp.add_non_word_boundary("$")  # so "$btc" is one keyword
    for form, asset in forms.items():
        kp.add_keyword(form, asset)
    return kp


def score(pred_sets, gold):
    tp = fp = fn = 0
    for pred, g in zip(pred_sets, gold):
        want = {m["asset"] for m in g["mentions"]}
        tp += len(pred & want)
        fp += len(pred - want)
        fn += len(want - pred)
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


def run_coinpulse(binary, lines):
    data = "".join(lines).encode()
    start = time.perf_counter()
    out = subprocess.run([binary, "tag"], input=data, capture_output=True, check=True).stdout
    return time.perf_counter() - start, out.decode().splitlines()


def library_rate():
    """tag_into posts/s and the two ceilings, from the bench's one-pass mode."""
    env = dict(os.environ, TAGGER_ONE_PASS="1")
    run = subprocess.run(["cargo", "bench", "--bench", "tagger"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True)
    rates = dict(re.findall(r"^(tag_into|ceiling [\w-]+) (?:find_iter )?posts/s: (\d+)", run.stderr, re.M))
    return {k: float(v) for k, v in rates.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("COINPULSE_BIN", str(ROOT / "target/release/coinpulse")))
    ap.add_argument("--shared", default=os.environ.get("COINPULSE_SHARED_DIR", str(ROOT.parent / "shared")))
    ap.add_argument("--gold", default=None)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-library", action="store_true", help="skip the cargo bench run")
    args = ap.parse_args()
    shared = Path(args.shared)
    gold_path = Path(args.gold) if args.gold else shared / "data/tagging/dev.jsonl"

    forms = load_registry()
    kp = flashtext_processor(forms)
    print(f"dictionary: {len(forms)} surface forms from data/assets.csv")

    gold = [json.loads(l) for l in open(gold_path, encoding="utf-8") if l.strip()]
    gold = [g for g in gold if not g.get("ambiguous")]
    ft_sets = [set(kp.extract_keywords(g["text"])) for g in gold]
    lines = [json.dumps({"id": i, "text": g["text"]}) + "\n" for i, g in enumerate(gold)]
    _, out = run_coinpulse(args.bin, lines)
    cp_sets = [{m["asset"] for m in json.loads(o)["mentions"]} for o in out]
    print(f"\nquality on {gold_path.name} ({len(gold)} posts, ambiguous left out), post-level micro:")
    print("| tagger | precision | recall | F1 |\n|---|---|---|---|")
    for name, sets in [("flashtext, same dictionary", ft_sets), ("coinpulse tag", cp_sets)]:
        p, r, f = score(sets, gold)
        print(f"| {name} | {p:.3f} | {r:.3f} | {f:.3f} |")

    tweets_path = shared / "data/replay/tweets_cryptop12_2020-11-01_2021-02-28.csv"
    texts = [row["text"] for row in csv.DictReader(open(tweets_path, encoding="utf-8"))]
    mb = sum(len(t.encode()) for t in texts) / 1e6
    def flashtext_loop():
        start = time.perf_counter()
        n = 0
        for t in texts:
            n += len(kp.extract_keywords(t))
        return time.perf_counter() - start, n

    ft = [flashtext_loop() for _ in range(args.runs)]
    ft_s, n = statistics.median(t for t, _ in ft), ft[0][1]
    lines = [json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)]
    cp = [run_coinpulse(args.bin, lines) for _ in range(args.runs)]
    cp_s, out = statistics.median(t for t, _ in cp), cp[0][1]
    cp_n = sum(len(json.loads(o)["mentions"]) for o in out)
    ft_rate, cp_rate = len(texts) / ft_s, len(texts) / cp_s
    print(f"\nspeed on {len(texts)} replay tweets ({mb:.1f} MB), median of {args.runs} runs:")
    print("| run | seconds | posts/s | vs flashtext | mentions |\n|---|---|---|---|---|")
    print(f"| flashtext extract_keywords loop | {ft_s:.3f} | {ft_rate:,.0f} | 1.0x | {n} |")
    if not args.no_library:
        lib = library_rate()
        tag = lib["tag_into"]
        print(f"| coinpulse `Tagger::tag_into` loop (cargo bench) | {len(texts)/tag:.3f} | {tag:,.0f} | "
              f"{tag/ft_rate:.1f}x | |")
        for name in ("ceiling contiguous-nfa", "ceiling dfa"):
            if name in lib:
                r = lib[name]
                print(f"| bare aho-corasick find_iter, {name.split()[1]} (no checks) | {len(texts)/r:.3f} | "
                      f"{r:,.0f} | {r/ft_rate:.1f}x | |")
    print(f"| `coinpulse tag` whole process | {cp_s:.3f} | {cp_rate:,.0f} | {cp_rate/ft_rate:.1f}x | {cp_n} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
