#!/usr/bin/env python3
"""Compare coinpulse's tagger with flashtext on the same dictionary: quality on a gold file, speed on
the replay tweets.

    pip install flashtext==2.7
    cargo build --release
    python3 scripts/bench_tagger.py [--bin target/release/coinpulse] [--shared ../shared]

flashtext gets the dictionary coinpulse ships (data/assets.csv): every bare surface form the registry
matches (symbols, names, aliases of the top-1000 coins) plus `$symbol` for every listed coin, each
mapped to the same asset coinpulse gives it. Only flashtext's extraction loop is timed. coinpulse is
timed as a whole process (`coinpulse tag`: start-up, stdin, JSON lines out).
"""
import argparse
import csv
import json
import os
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("COINPULSE_BIN", str(ROOT / "target/release/coinpulse")))
    ap.add_argument("--shared", default=os.environ.get("COINPULSE_SHARED_DIR", str(ROOT.parent / "shared")))
    ap.add_argument("--gold", default=None)
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
    start = time.perf_counter()
    n = 0
    for t in texts:
        n += len(kp.extract_keywords(t))
    ft_s = time.perf_counter() - start
    lines = [json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)]
    cp_s, out = run_coinpulse(args.bin, lines)
    cp_n = sum(len(json.loads(o)["mentions"]) for o in out)
    print(f"\nspeed on {len(texts)} replay tweets ({mb:.1f} MB), one run:")
    print("| run | seconds | posts/s | vs flashtext | mentions |\n|---|---|---|---|---|")
    print(f"| flashtext extract_keywords loop | {ft_s:.2f} | {len(texts)/ft_s:,.0f} | 1.0x | {n} |")
    print(f"| `coinpulse tag` whole process | {cp_s:.2f} | {len(texts)/cp_s:,.0f} | {ft_s/cp_s:.1f}x | {cp_n} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
