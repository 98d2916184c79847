#!/usr/bin/env python3
"""Generate the tagger's shipped registry (data/assets.csv) and word list (data/assets-common-words.tsv).

Reproducible: reads only the CoinGecko snapshots in ../shared/data/assets/, the SCOWL word list of the
Debian package `wamerican` (2020.12.07) and the `wordfreq==3.1.1` English frequencies.

    apt-get install wamerican && pip install wordfreq==3.1.1
    python3 scripts/gen_assets.py [SHARED_DIR]

Rules (the README in data/assets.README.md explains them):
- Every coin of the 2022-07-24 CoinGecko market-cap ranking (3,905 coins) with its rank, id, symbol and
  name; the id of that list is kept (it is the id the gold sets and older archives use). A coin whose
  2025 name differs adds the 2025 name as an alias.
- A few coins that matter but have no rank in the snapshot (launched or renamed after mid-2022, or the
  2020/21 meaning of a symbol) are added from coins.csv with curated aliases.
- CURATED aliases: nicknames, multi-word network names and the 2020/21 meaning of re-used symbols. A
  curated alias wins its surface form over any ranked symbol or name.
- The word list: every English word with a wordfreq Zipf frequency >= 3.0, marked `dict` when SCOWL
  lists it or its Zipf is >= 4.0 (slang such as "omg" is not in SCOWL) and `name` otherwise (names and
  jargon such as "elon", "eth"); plus every word with Zipf >= 4.0 in German, Spanish, French,
  Portuguese, Italian, Dutch or Turkish (marked `dict`, at its highest Zipf). Words whose only sense is
  a coin are removed (CRYPTO_ONLY), since the dictionary and the frequency both count the coin itself.
"""
import csv
import sys
from pathlib import Path

from wordfreq import iter_wordlist, zipf_frequency

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared"
DICT = Path("/usr/share/dict/american-english")

# id -> aliases. Lower case; matched ASCII-case-insensitively.
CURATED = {
    "bitcoin": ["xbt", "₿", "btc"],
    "ethereum": ["ether", "eth2", "Ξ"],
    "binancecoin": ["binance coin", "bnb chain", "binance smart chain", "bsc"],
    "dogecoin": ["doge coin", "doge"],
    "shiba-inu": ["shiba", "shib"],
    "matic-network": ["polygon", "matic"],
    "stellar": ["lumens", "stellar lumens"],
    "ripple": ["ripple"],
    "usd-coin": ["usd coin"],
    "cosmos": ["cosmos"],
    "terra-luna": ["luna", "terra"],
    "elrond-erd-2": ["multiversx"],
    "compound-governance-token": ["compound"],
    "havven": ["synthetix"],
    "yearn-finance": ["yearn"],
    "the-graph": ["the graph"],
    "keep-network": ["keep network"],
    "internet-computer": ["dfinity"],
    "blockstack": ["stacks"],
    "pancakeswap-token": ["pancakeswap"],
    "sushi": ["sushiswap"],
    "maker": ["makerdao"],
    "wrapped-bitcoin": ["wrapped bitcoin"],
    "bitcoin-cash-sv": ["bitcoin sv"],
    "ethereum-classic": ["ethereum classic"],
    "avalanche-2": ["avalanche"],
    "crypto-com-chain": ["cronos"],
    "holotoken": ["holo", "hot"],
    "harmony": ["harmony", "one"],
    "kyber-network-crystal": ["kyber", "knc"],
    "tomochain": ["tomo"],
    "neutrino": ["usdn"],
    "pundi-x": ["npxs"],
    "streamr": ["datacoin"],
    "mantra-dao": ["om"],
    "superfarm": ["super"],
    "arbitrum": ["arbitrum", "arb"],
    "sui": ["sui"],
    "pepe": ["pepe"],
    "polygon-ecosystem-token": ["pol"],
    "threshold-network-token": ["threshold network"],
    "optimism": ["optimism"],
    "hyperliquid": ["hyperliquid"],
    "official-trump": ["trump coin"],
}
# Coins not in the 2022 ranking that the curated list needs (taken from coins.csv).
EXTRA = ["terra-luna", "arbitrum", "sui", "pepe", "polygon-ecosystem-token", "threshold-network-token",
         "optimism", "hyperliquid", "official-trump", "streamr"]
CRYPTO_ONLY = {"bitcoin", "bitcoins"}
OTHER_LANGS = ["de", "es", "fr", "pt", "it", "nl", "tr"]


def main():
    ranked = list(csv.DictReader(open(SHARED / "data/assets/coingecko_ranked_2022-07-24.csv")))
    coins = {r["id"]: r for r in csv.DictReader(open(SHARED / "data/assets/coins.csv"))}
    rows = []
    seen = set()
    for r in ranked:
        aliases = list(CURATED.get(r["id"], []))
        c = coins.get(r["id"])
        if c and c["name"].lower() != r["name"].lower():
            aliases.append(c["name"].lower())
        rows.append((r["id"], r["symbol"], r["name"], r["mcap_rank"], aliases))
        seen.add(r["id"])
    for cid in EXTRA:
        if cid in seen:
            continue
        c = coins[cid]
        rows.append((cid, c["symbol"], c["name"], "", list(CURATED.get(cid, []))))
    missing = [k for k in CURATED if k not in seen and k not in EXTRA]
    assert not missing, f"curated ids not found: {missing}"
    out = ROOT / "data/assets.csv"
    with open(out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "symbol", "name", "rank", "aliases"])
        for cid, sym, name, rank, aliases in rows:
            w.writerow([cid, sym, name, rank, "|".join(dict.fromkeys(aliases))])
    print(f"wrote {len(rows)} assets to {out}")

    scowl = {line.strip().lower() for line in open(DICT, encoding="utf-8") if "'" not in line}
    words = {}
    for word in iter_wordlist("en"):
        z = zipf_frequency(word, "en")
        if z < 3.0:
            break
        if word.isascii() and word.replace("-", "").isalnum() and word not in CRYPTO_ONLY:
            words[word] = (z, "dict" if word in scowl or z >= 4.0 else "name")
    # Common words of the other languages seen in crypto posts ("ich", "sol", "para").
    for lang in OTHER_LANGS:
        for word in iter_wordlist(lang):
            z = zipf_frequency(word, lang)
            if z < 4.0:
                break
            if word.isascii() and word.isalnum() and word not in CRYPTO_ONLY:
                old = words.get(word)
                if old is None or (old[1] == "name" or old[0] < z):
                    words[word] = (max(z, old[0] if old else 0.0), "dict")
    out = ROOT / "data/assets-common-words.tsv"
    with open(out, "w") as f:
        for word, (z, kind) in sorted(words.items()):
            f.write(f"{word}\t{z:.2f}\t{kind}\n")
    print(f"wrote {len(words)} words to {out}")


if __name__ == "__main__":
    main()
