//! The tagger: finds which assets a post mentions.
//!
//! Precision matters more than anything else here, because every number coinpulse shows is a count of
//! tagged posts. Half the tickers on CoinGecko are English words (`ONE`, `LINK`, `GAS`, `T`, `IT`) and a
//! naive dictionary tags "the" more often than Bitcoin. The tagger therefore separates *finding*
//! candidates, which is one fast automaton pass, from *deciding* which candidates are coins, which is a
//! small set of rules driven by how ordinary each surface form is in English.
//!
//! # Finding
//!
//! [`Registry`](registry::Registry) turns the asset list into surface forms (symbols, names, names
//! without a `Token`/`Network`/`Protocol`/`Finance` suffix, curated aliases) plus a few crypto context
//! words. All of them go into one Aho-Corasick automaton (`anchored.rs`), looked up ASCII
//! case-insensitively on the original bytes (so offsets need no mapping) at every position where a
//! word can start, longest form first, so `Bitcoin Cash` beats `Bitcoin` and `Ethereum Classic` beats
//! `Ethereum`. This is an anchored leftmost-longest search run only where a mention can begin: the
//! same mentions as the unanchored search over the whole post the tagger used to run, at ~1.3× its
//! speed (numbers and reasons in `tagger.rs`). Symbols that may only appear as cashtags are not in the
//! automaton at all: a `$` scan looks them up in a hash map, so `the` and `a` never even produce a
//! match and an 18k-coin list keeps a small automaton. Each form found is then checked (see
//! [`boundary`]):
//!
//! - **Word boundaries**, Unicode-aware: a letter (accented or not), digit or `_` next to the match
//!   rejects it; CJK ideographs, kana and hangul, emoji, punctuation and `'s` are boundaries. A hyphen
//!   joins words, so `neo-bank` is not NEO, but it is a boundary for distinctive forms (`Bitcoin-based`).
//!   Digits before an upper-case symbol are an amount (`0.5BTC`). A lower-to-upper case change ends a
//!   distinctive name inside a compound (`#BitcoinAndBlackAmerica`). A plural `s` (and `er`, `ers`
//!   after names) is allowed after distinctive forms (`BTCs`, `bitcoins`, `Bitcoiners`), unless the
//!   longer word is an ordinary one (`etho` + `s` is `ethos`, `bitt` + `er` is `bitter`).
//! - **Cashtags and hashtags**: a `$` or `#` right before the form makes it a cashtag or hashtag.
//! - **Never in URLs, @handles, e-mail addresses, domain names or `r/` subreddit names.**
//! - When the longest form fails its right boundary (`Bitcoin Cashback`), the longest shorter form that
//!   is a prefix of it is tried instead.
//!
//! # Deciding
//!
//! Every surface form gets a [`Policy`](registry::Policy) derived from data: the English Zipf frequency
//! of the form (wordfreq, restricted to SCOWL dictionary words below Zipf 4, shipped in
//! `data/assets-common-words.tsv`; see `data/assets.README.md`).
//!
//! | policy | which forms | accepted when |
//! |---|---|---|
//! | `Always` | not an English word (Zipf < 3, or not in the dictionary): `btc`, `cardano`, `xrp` | anywhere |
//! | `Weak` | uncommon word, Zipf 3–4: `ada`, `sol`, `atom`, `polygon`, `ripple` | in a crypto post, or a symbol in upper case |
//! | `Word` | common word, Zipf 4–5.5: `link`, `gas`, `near`, `harmony`, `compound`, `graph` | proper case (symbol in upper case; name capitalised mid-sentence or upper case) in a crypto post |
//! | `CashtagOnly` | very common words (Zipf ≥ 5.5) and one- or two-letter forms: `one`, `keep`, `the`, `t`, `co`, `it`; tickers crypto posts write bare for something else and almost never as cashtags (`ama`, `gmt`, `cet`; the `acronym` class of the word list) | only as a cashtag |
//!
//! A few coin words that crypto posts also use in another sense are curated as slang and count as
//! uncommon words (`Weak`) whatever their frequency: `arb` (arbitrage: "arb bot"), `pepe` (the frog).
//!
//! Multi-word forms made only of English words (`the graph`, `internet computer`) are `Word`. A cashtag
//! is accepted for every policy; a hashtag counts like an upper-case form. A post is a **crypto post**
//! when it has at least one candidate accepted without context (an `Always` form, a cashtag, an
//! upper-case `Weak` symbol) or a crypto context word (`crypto`, `blockchain`, `altcoin`, `hodl`,
//! `token`, `bullish`, …). A capitalised word at the start of a sentence is not "proper case": it says
//! nothing about being a name (`Compound interest is…`).
//!
//! Assets ranked 1–1000 (and unranked assets with curated aliases) are matched by symbol, name and
//! aliases; lower-ranked ones only by cashtag and by distinctive (`Always`) names, and unranked ones in
//! a ranked list only by cashtag, because a tail of thousands of tiny coins would otherwise claim every
//! short word. A lower-ranked coin's name that people also use as a word (English Zipf 2 or more:
//! `fractal`, `hydro`, `savanna`) is `Weak` rather than `Always`. A list without any rank is matched in
//! full.
//!
//! A surface form is claimed by one asset: a curated alias first, then the better market-cap rank
//! (`weth` goes to the highest-ranked of its 74 ids), then the symbol before the name.
//!
//! A number is never a coin: a cashtag or form of digits (`$777`, `$100`, `$69k`, `2.5m`) is a price or
//! an amount, so no asset claims it (`$1INCH` has letters and is a coin).
//!
//! # Dates
//!
//! The registry knows market-cap rankings taken on given days: CoinGecko's of 2022-07-24, the
//! 2025-11-19 one (Coinpaprika's order mapped to CoinGecko ids), and one more per `coinpulse assets
//! update`. A form several coins share goes to the coin that held it **when the post was written**:
//!
//! 1. A post belongs to the ranking taken nearest its time (a 2021 tweet to 2022's, a 2024-12 Reddit
//!    post to 2025's; the switch is halfway between two rankings). Undated text is today's.
//! 2. In that ranking the usual order applies: curated alias, better rank, symbol before name. A coin
//!    that ranking does not list keeps its rank of the latest earlier ranking that does (rankings are
//!    incomplete: the 2025 one could not map Polkadot, so absence is not read as the coin being
//!    gone); a coin first ranked later is no coin yet (Toncoin in 2021, a 2025 memecoin with the
//!    ticker `TSLA`), unless it is curated (has aliases), then it counts as unranked.
//! 3. A curated alias may be valid for a period only (`luna@..2022-05-28`: LUNA meant Terra Classic
//!    until Terra's relaunch); outside it the form goes by rank.
//!
//! So `$TON` in 2021 is Tokamak Network (ranked 297 in 2022, when Toncoin was unranked) and Toncoin
//! in 2025 (ranked 37); `$STRK` is Strike, then Starknet; `$LUNA` is Terra Classic until 2022-05-28.
//! Renames where CoinGecko keeps the id (RNDR → RENDER, `render-token`) map both tickers to that id in
//! every era; renames that got a new id (MATIC → POL, FTM → S) keep each ticker on its own id, so
//! reports show the two histories apart. What a form *is* (its policy, and whether it is matched bare
//! at all) does not depend on the date, only which asset it names: a coin is matched by symbol and name
//! when its best rank in any ranking is within the top 1000. The periods where every form keeps one
//! meaning are computed once at build time ([`eras`]); tagging a post looks its era up once and then
//! one array per dated form.

mod anchored;
pub mod boundary;
pub mod cli;
pub mod eras;
pub mod eval;
pub mod list;
pub mod registry;
pub mod renames;
mod tagger;
pub mod update;

pub use list::{AssetList, Ranking};
pub use registry::{Policy, Registry};
pub use tagger::{MAX_MENTIONS, Tagger};

use std::path::PathBuf;

/// Why an asset list could not be loaded or the automaton not built.
#[derive(Debug, thiserror::Error)]
pub enum TagError {
    #[error("cannot read asset list {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("asset list {source_name}, line {line}: {message}")]
    Invalid {
        source_name: String,
        line: usize,
        message: String,
    },
    #[error("asset list {source_name} has no assets")]
    Empty { source_name: String },
    #[error("cannot build the tagger: {0}")]
    Build(#[from] aho_corasick::BuildError),
}
