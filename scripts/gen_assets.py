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
- Every coin of the 2025-11-19 ranking (4,040 coins, Coinpaprika's order mapped to CoinGecko ids) with
  its rank in a second dated column: a coin already listed gets the rank beside its 2022 one, a coin
  launched since (PEPE, SUI, HYPE, TRUMP) is appended. A coin whose 2025 ticker differs (RNDR is now
  RENDER) keeps the 2022 ticker and gets the new one as an alias valid from halfway between the two
  rankings (TICKER_CHANGE), so `#bounty` in a 2021 post is not Sentinel Protocol. Mappings of that list checked
  wrong are left out (WRONG_2025: `manta-meth` is Mantle's mETH, `polkadot` at 577 is a "Polkadot
  Token", `magic-carpet-ride` is Treasure's MAGIC); the coins keep their other rank. So are a few
  coins whose ticker or name means something else in posts (NOT_COINS: tokens named after the stock
  tickers TSLA, GME and AMC, and "not bitcoin").
- Below rank 500 the id of the 2025 list is used for coins renamed since (found by a unique symbol).
- A few coins that matter but have no rank in the snapshot (launched or renamed after mid-2022, or the
  2020/21 meaning of a symbol) are added from coins.csv with curated aliases.
- CURATED aliases: nicknames, multi-word network names and the 2020/21 meaning of re-used symbols. A
  curated alias wins its surface form over any ranked symbol or name. An alias may carry the dates it
  is valid for, `luna@..2022-05-28` (until) or `form@2024-09-04..` (from): LUNA meant Terra Classic
  until Terra's relaunch.
- The word list: every English word with a wordfreq Zipf frequency >= 3.0, marked `dict` when SCOWL
  lists it or its Zipf is >= 4.0 (slang such as "omg" is not in SCOWL) and `name` otherwise (names and
  jargon such as "elon", "eth"): `name` when it is written in title case in at least 20 posts of the
  sentiment training set (ordinary social posts: "Elon", "Musk"), `jargon` otherwise ("eth", "btc");
  plus every word with Zipf >= 4.0 in German, Spanish, French, Portuguese, Italian, Dutch or Turkish
  that is not an English word (marked `foreign`). A fourth column, `titled`, marks every word written in
  title case in at least 20 of those posts ("Trump", "Reserve" as in Federal Reserve): for such words a
  capital letter does not signal a coin name. Words whose only sense is
  a coin are removed (CRYPTO_ONLY), since the dictionary and the frequency both count the coin itself.
- Acronyms that crypto posts use for something else: a ranked symbol of three or more letters that
  the replay tweets and Reddit posts in ../shared/data/replay/ write bare in upper case at least
  BARE_MIN times but as a cashtag in under CASHTAG_SHARE of its uses (AMA, GMT, CET, ATM, OCC, NFT) is
  marked `acronym`: people who mean the coin write `$AMA`. Real tickers sit far above the cut (LTC
  0.45, ONE 0.29, ARK 0.26, ADA 0.89). Only the counts are used, no text is kept. Only symbols of the
  2022 ranking are checked: the replay posts predate the later coins.
- Names of coins ranked below 1,000 with an English Zipf frequency of at least TAIL_NAME_MAX_ZIPF but
  under 3.0 (fractal, savanna, pangolin) are listed as `rare`: the tagger matches such a coin's name
  bare only when the name is not in use as a word at all.
- SLANG: coin words that crypto posts also use in another sense ("arb" = arbitrage, "pepe" the frog
  meme, "perp" = perpetual future, "orbs" = Worldcoin's scanners) are listed with the class `slang` and their Zipf frequency: an uncommon word for the policies
  (a mention in a crypto post, or as an upper-case symbol), whatever wordfreq says.
"""
import csv
import re
from collections import Counter
import sys
from pathlib import Path

from wordfreq import iter_wordlist, zipf_frequency

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared"
DICT = Path("/usr/share/dict/american-english")

# id -> aliases. Lower case; matched ASCII-case-insensitively.
CURATED = {
    "bitcoin": ["xbt", "₿"],
    "ethereum": ["ether", "eth2", "Ξ"],
    "binancecoin": ["binance coin", "bnb chain", "binance smart chain", "bsc"],
    "dogecoin": ["doge coin"],
    "shiba-inu": ["shiba"],
    "matic-network": ["polygon"],
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
    "polygon-ecosystem-token": ["pol"],
    "threshold-network-token": ["threshold network"],
    "optimism": ["optimism"],
    "hyperliquid": ["hyperliquid"],
    "hedera-hashgraph": ["hashgraph"],
    "official-trump": ["trump coin", "trump memecoin"],
    "the-open-network": ["toncoin"],
    "dogwifcoin": ["dogwifhat", "dogwif"],
    "celestia": ["celestia"],
    "ethena": ["ethena"],
    "ondo-finance": ["ondo"],
    "worldcoin-wld": ["worldcoin"],
    "bittensor": ["bittensor"],
    "pyth-network": ["pyth"],
    "starknet": ["starknet"],
    "aptos": ["aptos"],
    "kaspa": ["kaspa"],
    "injective-protocol": ["injective"],
    "jito-governance-token": ["jito"],
    "render-token": ["rndr"],
    "floki": ["floki inu"],
    "bonk": ["bonk"],
}
# Curated aliases valid for a period only: id -> [(alias, from, until)] (ISO dates, empty = open).
DATED = {
    # Terra's relaunch (2022-05-28): LUNA became Terra Classic (LUNC), the new chain took LUNA.
    "terra-luna": [("luna", "", "2022-05-28"), ("terra", "", "2022-05-28")],
}
# Halfway between the two rankings: where 2025 tickers that replaced 2022 ones start to count.
TICKER_CHANGE = "2024-03-22"
# Coins of the 2025 list left out: their ticker or name means something else in posts. Tokens named
# after stock tickers (a cashtag of TSLA, GME or AMC is the stock) and a name that is a phrase.
NOT_COINS = {"tsla6900", "game-stop", "gme", "amc", "not-bitcoin"}
# Mappings of the 2025 list that are wrong (see the doc string).
WRONG_2025 = {"manta-meth", "polkadot", "magic-carpet-ride"}
# Coin words crypto posts also use in another sense (see the doc string).
SLANG = ["arb", "pepe", "perp", "orbs"]
# Coins not in the 2022 ranking that the curated list needs (taken from coins.csv).
EXTRA = ["terra-luna", "arbitrum", "sui", "pepe", "polygon-ecosystem-token", "threshold-network-token",
         "optimism", "hyperliquid", "official-trump", "streamr"]
CRYPTO_ONLY = {"bitcoin", "bitcoins"}
TAIL_NAME_MAX_ZIPF = 2.0
SUFFIXES = [" token", " network", " protocol", " finance"]
BARE_MIN = 10
CASHTAG_SHARE = 0.10
REPLAY = ["data/replay/tweets_cryptop12_2020-11-01_2021-02-28.csv",
          "data/replay/reddit_cryptocurrency_2024-12-04_sample.csv"]
WORD_RE = re.compile(r"(?<![\w@/.])([$#]?)([A-Za-z][A-Za-z0-9]{2,9})(?!\w)")
TITLE_RE = re.compile(r"(?<![$#@\w/.])[A-Z][a-z]+(?!\w)")
OTHER_LANGS = ["de", "es", "fr", "pt", "it", "nl", "tr"]


def main():
    ranked = list(csv.DictReader(open(SHARED / "data/assets/coingecko_ranked_2022-07-24.csv")))
    coins = {r["id"]: r for r in csv.DictReader(open(SHARED / "data/assets/coins.csv"))}
    ranked_ids = {r["id"] for r in ranked}
    ranked25 = [r for r in csv.DictReader(open(SHARED / "data/assets/coingecko_ranked_2025-11-19.csv"))
                if r["id"] not in WRONG_2025 and r["id"] not in NOT_COINS]
    rank25 = {r["id"]: r for r in ranked25}
    rows = []
    seen = set()
    by_symbol = {}
    for c in coins.values():
        by_symbol.setdefault(c["symbol"], []).append(c["id"])
    renamed = 0
    for r in ranked:
        # Below the top 500, ids follow the 2025 list: a coin renamed since 2022 (v-id-blockchain ->
        # vidt-dao) is found by its symbol when exactly one 2025 coin has that symbol.
        if int(r["mcap_rank"]) > 500 and r["id"] not in coins:
            same = [cid for cid in by_symbol.get(r["symbol"], []) if cid not in ranked_ids]
            if len(same) == 1:
                r = dict(r, id=same[0])
                renamed += 1
        aliases = list(CURATED.get(r["id"], []))
        c = coins.get(r["id"])
        if c and c["name"].lower() != r["name"].lower():
            aliases.append(c["name"].lower())
        symbol, later = r["symbol"], rank25.get(r["id"])
        if later and later["symbol"] != symbol:
            # The ticker changed between the rankings (RNDR -> RENDER): the new one counts from
            # halfway between them, like the 2025 ranks; the old one keeps counting.
            aliases.append(f"{later['symbol']}@{TICKER_CHANGE}..")
        rows.append([r["id"], symbol, r["name"], r["mcap_rank"], later["mcap_rank"] if later else "",
                     aliases])
        seen.add(r["id"])
    added = 0
    for r in ranked25:
        if r["id"] in seen:
            continue
        rows.append([r["id"], r["symbol"], r["name"], "", r["mcap_rank"], list(CURATED.get(r["id"], []))])
        seen.add(r["id"])
        added += 1
    print(f"{added} coins of the 2025 ranking added")
    for cid in EXTRA:
        if cid in seen:
            continue
        c = coins[cid]
        rows.append([cid, c["symbol"], c["name"], "", "", list(CURATED.get(cid, []))])
        seen.add(cid)
    for row in rows:
        for alias, since, until in DATED.get(row[0], []):
            row[5] = [a for a in row[5] if a != alias] + [f"{alias}@{since}..{until}"]
    missing = [k for k in list(CURATED) + list(DATED) if k not in seen]
    assert not missing, f"curated ids not found: {missing}"
    out = ROOT / "data/assets.csv"
    with open(out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "symbol", "name", "rank_2022-07-24", "rank_2025-11-19", "aliases"])
        for cid, sym, name, rank, rank25_, aliases in rows:
            w.writerow([cid, sym, name, rank, rank25_, "|".join(dict.fromkeys(aliases))])
    print(f"wrote {len(rows)} assets to {out} ({renamed} renamed ids)")

    # Title-case counts in ordinary (sentiment training) posts tell personal names ("Elon") from jargon.
    titled = Counter()
    for row in csv.DictReader(open(SHARED / "data/sentiment/train.csv", encoding="utf-8")):
        titled.update({w.lower() for w in TITLE_RE.findall(row["text"])})
    scowl = {line.strip().lower() for line in open(DICT, encoding="utf-8") if "'" not in line}
    words = {}
    for word in iter_wordlist("en"):
        z = zipf_frequency(word, "en")
        if z < 3.0:
            break
        if word.isascii() and word.replace("-", "").isalnum() and word not in CRYPTO_ONLY:
            if word in scowl or z >= 4.0:
                kind = "dict"
            elif titled[word] >= 20:
                kind = "name"
            else:
                kind = "jargon"
            words[word] = (z, kind)
    # Common words of the other languages seen in crypto posts ("ich", "sol", "para").
    for lang in OTHER_LANGS:
        for word in iter_wordlist(lang):
            z = zipf_frequency(word, lang)
            if z < 4.0:
                break
            if word.isascii() and word.isalnum() and word not in CRYPTO_ONLY:
                if word not in words or words[word][1] == "jargon":
                    words[word] = (z, "foreign")
    # Symbols crypto posts write bare for something else (see the doc string).
    bare, cashtag = Counter(), Counter()
    for path in REPLAY:
        for row in csv.DictReader(open(SHARED / path, encoding="utf-8")):
            text = " ".join(row.get(k) or "" for k in ("title", "text"))
            for prefix, word in WORD_RE.findall(text):
                if prefix == "$":
                    cashtag[word.lower()] += 1
                elif not prefix and word.isupper():
                    bare[word.lower()] += 1
    acronyms = 0
    # Only coins ranked in 2022: the replay posts (2020/21) predate the later coins, so "HYPE" or "NOT"
    # written bare there says nothing about Hyperliquid or Notcoin.
    for _, sym, _, rank, _, _ in rows:
        sym = sym.lower()
        if not rank or len(sym) < 3 or bare[sym] < BARE_MIN:
            continue
        if cashtag[sym] / (bare[sym] + cashtag[sym]) < CASHTAG_SHARE:
            words[sym] = (zipf_frequency(sym, "en"), "acronym")
            acronyms += 1
    print(f"{acronyms} symbols marked as acronyms")
    # Names of coins below the top 1,000 are matched bare only when nobody uses them as words: their
    # frequencies between TAIL_NAME_MAX_ZIPF and the list's 3.0 are listed too (class `rare`).
    rare = 0
    for _, _, name, rank, rank25_, _ in rows:
        ranks = [int(r) for r in (rank, rank25_) if r]
        if not ranks or min(ranks) <= 1000:
            continue
        name = name.lower()
        for form in [name] + [name[: -len(s)] for s in SUFFIXES if name.endswith(s)]:
            z = zipf_frequency(form, "en")
            # wordfreq gives a phrase the frequency of its rarest word; only single words are listed.
            if " " not in form and form not in words and TAIL_NAME_MAX_ZIPF <= z < 3.0:
                words[form] = (z, "rare")
                rare += 1
    print(f"{rare} rare words listed for lower-ranked coin names")
    for word in SLANG:
        words[word] = (zipf_frequency(word, "en"), "slang")
    out = ROOT / "data/assets-common-words.tsv"
    with open(out, "w") as f:
        for word, (z, kind) in sorted(words.items()):
            flag = "titled" if titled[word] >= 20 else ""
            f.write(f"{word}\t{z:.2f}\t{kind}\t{flag}\n")
    print(f"wrote {len(words)} words to {out}")


if __name__ == "__main__":
    main()
