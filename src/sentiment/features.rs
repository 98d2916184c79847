//! Tokens → hashed sparse features in two blocks: words (1–2-grams, plus the `<lex±>` cues of
//! [`super::lexicon`]) and characters (n-grams of words).
//!
//! Features are hashed into `2^hash_bits` buckets (FNV-1a, then a multiplicative mix) so there is no
//! vocabulary to store or look up: the model is a table indexed by bucket. Word and character features
//! share the table but carry different hash seeds. Each block is weighted and L2-normalised on its own
//! (as a union of two TF-IDF vectorizers would be), with IDF from the training corpus. Word features
//! take sublinear TF `1 + ln(count)`; character n-grams count every occurrence alike (see
//! [`CharTf`]), which lets the scorer sum a word's n-grams once and reuse the sum ([`WordCache`]).
//!
//! The hot path hands bucket ids to a [`Sink`]; only the explaining sink asks for feature strings, so
//! scoring never formats anything.

use serde::{Deserialize, Serialize};

use std::hash::Hasher;

use super::lexicon::{self, Lexicon};
use super::tokenize::{META, NEGATED, NEGATOR, Tokens, WORD};

/// How posts become feature vectors. Stored in the model file: scoring must use what training used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureConfig {
    /// The hash space has `2^hash_bits` buckets.
    pub hash_bits: u32,
    /// Character n-gram lengths, inclusive, over each word padded with a space on both sides.
    pub char_min: usize,
    pub char_max: usize,
    /// Word bigrams on top of unigrams.
    pub word_bigrams: bool,
    /// Multiplies the L2-normalised character block (the word block has weight 1).
    pub char_weight: f32,
    /// How a character n-gram's count in a post becomes its value. Absent in model files written
    /// before it existed, which therefore read as [`CharTf::Sublinear`].
    #[serde(default = "CharTf::sublinear")]
    pub char_tf: CharTf,
    /// Add a `<lex±>` word feature per token found in the VADER lexicon (see [`super::lexicon`]).
    /// Absent in model files written before it existed, which therefore read as `false`.
    #[serde(default)]
    pub lexicon: bool,
    /// A negation mark applies to at most this many words after the negator (`None`: up to the
    /// punctuation that ends the tokenizer's scope). In "don't sell this dip it will recover", the
    /// words that are really negated come right after "don't"; marking the whole clause turns
    /// "recover" into "recover_NEG" and flips its lexicon cue. Three words: 3-fold cross-validated
    /// macro-F1 +0.0008 (mean of four seeds; 2 to 5 words are within 0.0003 of each other).
    /// Absent in model files written before it existed, which therefore read as `None`.
    #[serde(default)]
    pub negation_words: Option<u32>,
    /// IDF given to the four `<lex±>` cue features instead of their corpus IDF (`None`: corpus IDF).
    /// The cues occur in a large share of posts, so corpus IDF makes them some of the smallest values
    /// in a row, and the L2-regularised SVM then needs large, penalised weights to use them. Unlike a
    /// frequent word, a cue is not uninformative for being frequent: it is prior knowledge about
    /// polarity. Absent in model files written before it existed, which therefore read as `None`.
    #[serde(default)]
    pub lexicon_idf: Option<f32>,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            hash_bits: 20,
            char_min: 2,
            char_max: 5,
            word_bigrams: true,
            char_weight: 1.0,
            char_tf: CharTf::Occurrences,
            lexicon: true,
            negation_words: Some(3),
            lexicon_idf: Some(LEXICON_IDF),
        }
    }
}

/// How the character block turns n-gram counts into values (the word block always takes
/// `Sublinear`).
///
/// Measured on the shipped settings: `Occurrences` scores 1.7× the posts per second of `Sublinear`
/// (one core, dev.csv, fresh scratch: 451k–464k vs 264k–269k; warm: 562k–571k vs 342k–351k, three
/// runs each) for a 3-fold cross-validated macro-F1 0.0004 lower (0.71630 vs 0.71667, mean of four
/// seeds, each lower by 0.0001–0.0006; dev.csv 0.7280 vs 0.7284), well inside the noise of any
/// evaluation set we have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CharTf {
    /// `1 + ln(count)`, and the block L2-normalised, as scikit-learn's `sublinear_tf`. An n-gram's
    /// value then depends on every word of the post it occurs in ("in" in "bitcoin ... mining"), so a
    /// scorer has to count the post's n-grams (hundreds per tweet) before it knows any value. The
    /// setting of model files written before `Occurrences`; such models are scored exactly, by
    /// counting every feature, at about half the speed they had (dev.csv, one core, warm scratch:
    /// 170k posts/s against 346k).
    Sublinear,
    /// Every occurrence counts alike: an n-gram's value is `count · idf`, and the block is divided
    /// by `√(Σ count · idf²)`, the norm it would have if each occurrence were a dimension of its own.
    /// A word then adds the same amounts to every post it appears in (to the dot products and to the
    /// squared norm), so the scorer keeps one sum per word and never counts n-grams.
    Occurrences,
}

impl CharTf {
    fn sublinear() -> CharTf {
        CharTf::Sublinear
    }

    /// A character n-gram seen `count` times in a post: its value before IDF, and its share of the
    /// block's squared norm before IDF².
    #[inline]
    pub fn value_and_norm_share(self, count: u32) -> (f32, f32) {
        match self {
            CharTf::Sublinear => {
                let t = sublinear_tf(count);
                (t, t * t)
            }
            CharTf::Occurrences => (count as f32, count as f32),
        }
    }
}

/// Sublinear TF, `1 + ln(count)`.
#[inline]
pub fn sublinear_tf(count: u32) -> f32 {
    if count == 1 {
        1.0
    } else {
        1.0 + (count as f32).ln()
    }
}

/// The default [`FeatureConfig::lexicon_idf`], chosen by 3-fold cross-validated macro-F1 on the
/// training data over 3, 5, 8, 10, 12, 16 (mean of four seeds: 0.7154, 0.7160, 0.7166, 0.7165,
/// 0.7164, 0.7158, against 0.7152 with corpus IDF). An IDF of 8 is that of a word seen in about one
/// post in 1,100.
pub const LEXICON_IDF: f32 = 8.0;

/// Which block a feature belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    Word = 0,
    Char = 1,
}

/// Receives features. `render` writes the feature's readable form and is only called by sinks that
/// want it.
pub trait Sink {
    fn feature(&mut self, block: Block, bucket: u32, render: impl FnOnce(&mut String));

    /// The word whose [`token_hash`] is `hash` comes next: a sink that looks words up can start
    /// fetching now.
    #[inline]
    fn upcoming_word(&mut self, _hash: u64) {}

    /// The character n-grams of one word, whose [`token_hash`] is `hash`. Sinks that can reuse the
    /// n-grams of a word they saw before override this; the features must be the same.
    fn word_chars(&mut self, cfg: &FeatureConfig, word: &str, _hash: u64)
    where
        Self: Sized,
    {
        char_ngrams(cfg, word, self);
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const SEED_WORD: u64 = 0x5741;
const SEED_BIGRAM: u64 = 0x4247;
const SEED_CHAR: u64 = 0x4348;
const SEED_LEXICON: u64 = 0x4c58;

#[inline]
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

#[inline]
fn bucket(h: u64, bits: u32) -> u32 {
    (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as u32
}

/// The buckets of the four `<lex±>` cue features (see [`super::lexicon::NAMES`]).
pub fn lexicon_buckets(bits: u32) -> [u32; 4] {
    std::array::from_fn(|c| bucket(fnv(FNV_OFFSET ^ SEED_LEXICON, &[c as u8]), bits))
}

/// The hash of a token's text, before any negation mark: what word features, lexicon entries and
/// cached words are keyed by.
pub fn token_hash(text: &str) -> u64 {
    fnv(FNV_OFFSET ^ SEED_WORD, text.as_bytes())
}

/// Hasher for maps keyed by [`token_hash`] values, which are hashes already: the key passes through,
/// multiplied so that both the table's low bits (slot) and high bits (tag) vary.
#[derive(Default)]
pub struct PrehashedKey(u64);

impl Hasher for PrehashedKey {
    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Emit every feature of `tokens` into `sink`.
pub fn extract(cfg: &FeatureConfig, tokens: &Tokens, sink: &mut impl Sink) {
    let bits = cfg.hash_bits;
    let lexicon = cfg.lexicon.then(Lexicon::shipped);
    let mut prev: Option<(u64, usize, bool)> = None;
    // Negated words the current scope may still mark (see `FeatureConfig::negation_words`).
    let mut scope_left = u32::MAX;
    // Each token's hash is taken one token early, so the sink hears of the next word in time.
    let mut next_hash = tokens.tokens.first().map(|t| token_hash(tokens.str(t)));
    for (ti, t) in tokens.tokens.iter().enumerate() {
        let text = tokens.str(t);
        let word_hash = next_hash.expect("one hash per token");
        next_hash = tokens.tokens.get(ti + 1).map(|n| {
            let h = token_hash(tokens.str(n));
            if n.flags & WORD != 0 {
                sink.upcoming_word(h);
            }
            h
        });
        let negated = t.flags & NEGATED != 0 && scope_left > 0;
        if negated {
            scope_left -= 1;
        }
        if t.flags & NEGATOR != 0 {
            scope_left = cfg.negation_words.unwrap_or(u32::MAX);
        }
        if let Some(class) = lexicon.and_then(|l| l.class(word_hash, negated)) {
            let lh = fnv(FNV_OFFSET ^ SEED_LEXICON, &[class]);
            // Rendered with the word that fired it, so an explanation says which word it was.
            sink.feature(Block::Word, bucket(lh, bits), |s| {
                s.push_str(lexicon::NAMES[class as usize]);
                s.push(':');
                render_token(tokens, ti, negated, s);
            });
        }
        let h = if negated {
            fnv(word_hash, b"_NEG")
        } else {
            word_hash
        };
        sink.feature(Block::Word, bucket(h, bits), |s| {
            render_token(tokens, ti, negated, s)
        });
        if t.flags & META != 0 {
            continue;
        }
        if cfg.word_bigrams {
            if let Some((ph, pi, pneg)) = prev {
                let bh = fnv(
                    FNV_OFFSET ^ SEED_BIGRAM,
                    &(ph.rotate_left(23) ^ h).to_le_bytes(),
                );
                sink.feature(Block::Word, bucket(bh, bits), |s| {
                    render_token(tokens, pi, pneg, s);
                    s.push(' ');
                    render_token(tokens, ti, negated, s);
                });
            }
            prev = Some((h, ti, negated));
        }
        if t.flags & WORD != 0 {
            sink.word_chars(cfg, text, word_hash);
        }
    }
}

fn render_token(tokens: &Tokens, i: usize, negated: bool, s: &mut String) {
    s.push_str(tokens.str(&tokens.tokens[i]));
    if negated {
        s.push_str("_NEG");
    }
}

/// N-grams of ` word ` by characters, hashed incrementally from each start position. Words longer
/// than 120 bytes are cut (at a char boundary); nothing is allocated.
pub fn char_ngrams(cfg: &FeatureConfig, word: &str, sink: &mut impl Sink) {
    let mut buf = [0u8; 122];
    let mut cut = word.len().min(buf.len() - 2);
    while !word.is_char_boundary(cut) {
        cut -= 1;
    }
    buf[0] = b' ';
    buf[1..1 + cut].copy_from_slice(&word.as_bytes()[..cut]);
    buf[1 + cut] = b' ';
    let padded = &buf[..cut + 2];
    let mut starts = [0u8; 123];
    let mut n = 0;
    for (k, &b) in padded.iter().enumerate() {
        if b & 0xC0 != 0x80 {
            starts[n] = k as u8;
            n += 1;
        }
    }
    starts[n] = padded.len() as u8;
    for s in 0..n {
        let mut h = FNV_OFFSET ^ SEED_CHAR;
        for len in 1..=cfg.char_max {
            let e = s + len;
            if e > n {
                break;
            }
            h = fnv(h, &padded[starts[e - 1] as usize..starts[e] as usize]);
            if len >= cfg.char_min {
                let gram = &padded[starts[s] as usize..starts[e] as usize];
                sink.feature(Block::Char, bucket(h, cfg.hash_bits), |out| {
                    out.push('\'');
                    out.push_str(std::str::from_utf8(gram).unwrap_or("?"));
                    out.push('\'');
                });
            }
        }
    }
}

/// The character n-gram sums of words seen recently, so that a word's n-grams are hashed and its
/// weight rows read once rather than at every occurrence (a handful of words make up most of the
/// text of posts). Under [`CharTf::Occurrences`] a word adds the same amounts to every post it is in,
/// so that sum (computed by the caller from the word's buckets) is all scoring needs of its n-grams.
///
/// An open-addressing index (linear probing, at most half full) of 32-byte slots keyed by the word's
/// hash; the word itself is compared on a hit, so a hash collision can only cost a miss. The index
/// is our own rather than a `HashMap` so that [`WordCache::prefetch`] can fetch the slot of the next
/// word while the current one is counted: the lookup was the largest single cache miss of scoring.
/// Bounded: when the index or the text arena is full, everything is dropped and caching starts over.
/// Sums depend on the feature settings and the model's weights, so the cache empties itself when it
/// is used by another model than before (one scratch shared by two models).
#[derive(Debug, Default, Clone)]
pub struct WordCache {
    /// `2^INDEX_BITS` slots once the cache is first used (none before, so an unused scratch costs
    /// nothing).
    slots: Vec<Slot>,
    used: usize,
    text: String,
    /// The buckets of the word being summed on a miss.
    buckets: Vec<u32>,
    /// The model whose settings and weights the cached entries were computed with.
    owner: Option<u64>,
}

#[derive(Debug, Default, Clone, Copy)]
#[repr(C, align(32))]
struct Slot {
    /// The high half of the word's hash, never 0; 0 marks an empty slot.
    tag: u32,
    text_start: u32,
    text_len: u32,
    sums: [f32; 4],
}

/// Index and arena limits: 2.5 MB per cache once full (a 2 MB index of at most 32,768 words and
/// their text), one cache per scoring thread. Sized by the replay tweets, a stream with a far larger
/// vocabulary than any benchmark set: 2.8% of their word lookups miss (the cache fills and starts
/// over twice in a pass over the 98,967 tweets). All of dev.csv's words fit: 12.9% miss in a first
/// pass, none in a second.
const INDEX_BITS: u32 = 16;
const CACHE_TEXT: usize = 512 * 1024;
/// Longer words (rare, and mostly junk) are hashed every time rather than cached.
const MAX_CACHED_WORD: usize = 64;

impl WordCache {
    fn clear(&mut self) {
        self.slots.clear();
        self.slots.resize(1 << INDEX_BITS, Slot::default());
        self.used = 0;
        self.text.clear();
    }

    #[inline]
    fn home(hash: u64) -> usize {
        (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - INDEX_BITS)) as usize
    }

    #[inline]
    fn tag(hash: u64) -> u32 {
        ((hash >> 32) as u32).max(1)
    }

    /// Starts fetching the index slot of `hash` (a word about to be looked up) into the cache.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        if let Some(slot) = self.slots.get(Self::home(hash)) {
            prefetch_line(slot);
        }
    }

    /// `sum(buckets)` for the character n-gram buckets of `word` (whose [`token_hash`] is `hash`)
    /// under the settings of `cfg`; hashed, summed and cached on a miss. `owner` names the model that
    /// `cfg` and `sum` belong to: the same owner must always pass the same settings and sum function.
    /// On a miss, `fetch` hears of each bucket as soon as it is hashed, so the caller can start
    /// loading what `sum` will read while the rest of the word is hashed.
    #[inline]
    pub fn sums(
        &mut self,
        owner: u64,
        cfg: &FeatureConfig,
        word: &str,
        hash: u64,
        fetch: impl FnMut(u32),
        sum: impl FnOnce(&[u32]) -> [f32; 4],
    ) -> [f32; 4] {
        if self.owner != Some(owner) || self.slots.is_empty() {
            self.clear();
            self.owner = Some(owner);
        }
        let tag = Self::tag(hash);
        let mask = self.slots.len() - 1;
        let mut i = Self::home(hash);
        loop {
            let s = &self.slots[i];
            if s.tag == 0 {
                break;
            }
            if s.tag == tag {
                let start = s.text_start as usize;
                if self.text.as_bytes().get(start..start + s.text_len as usize)
                    == Some(word.as_bytes())
                {
                    return s.sums;
                }
            }
            i = (i + 1) & mask;
        }
        // A miss: `i` is the empty slot that ends the probe.
        let cacheable = word.len() <= MAX_CACHED_WORD;
        if self.used * 2 >= self.slots.len() || self.text.len() + word.len() > CACHE_TEXT {
            self.clear();
            i = Self::home(hash);
        }
        self.buckets.clear();
        char_ngrams(
            cfg,
            word,
            &mut CharBuckets {
                out: &mut self.buckets,
                fetch,
            },
        );
        let sums = sum(&self.buckets);
        if cacheable {
            self.slots[i] = Slot {
                tag,
                text_start: self.text.len() as u32,
                text_len: word.len() as u32,
                sums,
            };
            self.used += 1;
            self.text.push_str(word);
        }
        sums
    }
}

/// Starts fetching the cache line that holds `*p` (the scorer's weight rows, the cache's index
/// slots); a no-op off x86_64.
#[inline]
pub fn prefetch_line<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: SSE is part of the x86_64 baseline, and a prefetch never faults, whatever the
        // address (this one is a valid reference anyway).
        unsafe { _mm_prefetch::<_MM_HINT_T0>((p as *const T).cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Pushes character-block bucket ids into a vector (a [`WordCache`] miss).
struct CharBuckets<'a, F> {
    out: &'a mut Vec<u32>,
    fetch: F,
}

impl<F: FnMut(u32)> Sink for CharBuckets<'_, F> {
    #[inline]
    fn feature(&mut self, block: Block, bucket: u32, _render: impl FnOnce(&mut String)) {
        debug_assert_eq!(block, Block::Char);
        (self.fetch)(bucket);
        self.out.push(bucket);
    }
}

/// Collects bucket ids per block (the hashing-only sink used for training and scoring).
#[derive(Debug, Default, Clone)]
pub struct Buckets {
    pub word: Vec<u32>,
    pub chars: Vec<u32>,
}

impl Buckets {
    pub fn clear(&mut self) {
        self.word.clear();
        self.chars.clear();
    }
}

impl Sink for Buckets {
    #[inline]
    fn feature(&mut self, block: Block, bucket: u32, _render: impl FnOnce(&mut String)) {
        match block {
            Block::Word => self.word.push(bucket),
            Block::Char => self.chars.push(bucket),
        }
    }
}

/// Sort `buckets` and turn them into `(bucket, count)` runs (training: rows come out in column order).
pub fn count_sorted(buckets: &mut [u32], out: &mut Vec<(u32, u32)>) {
    out.clear();
    buckets.sort_unstable();
    for &b in buckets.iter() {
        match out.last_mut() {
            Some((last, c)) if *last == b => *c += 1,
            _ => out.push((b, 1)),
        }
    }
}

/// Counts features per block as they arrive, for scoring: a small open-addressing table instead of
/// collecting and sorting (sorting ~500 bucket ids per tweet was a fifth of the scoring time).
///
/// Keys are `bucket | block << 31` (buckets are below 2^26). Only the slots in use are reset, so a
/// post costs the same whether the table still has its first 1,024 slots or grew to 1M for one giant
/// line earlier.
/// [`Counter::add`] returns the feature's count so far: the scorer prefetches the weight row of a new
/// word feature while the rest of the post is still being hashed.
#[derive(Debug, Clone)]
pub struct Counter {
    slots: Vec<(u32, u32)>,
    /// Indexes of used slots, in first-seen order.
    used: Vec<u32>,
}

const EMPTY: u32 = u32::MAX;

/// Where probing for `key` starts: its low bits. Bucket ids are the top bits of a multiplicative
/// hash, so every bit of them is already well spread; a word and a character feature with the same
/// bucket share a home slot and the second probes on.
#[inline]
fn home_slot(key: u32, mask: usize) -> usize {
    key as usize & mask
}

impl Default for Counter {
    fn default() -> Self {
        Counter {
            slots: vec![(EMPTY, 0); 1024],
            used: Vec::new(),
        }
    }
}

impl Counter {
    pub fn clear(&mut self) {
        for &i in &self.used {
            self.slots[i as usize] = (EMPTY, 0);
        }
        self.used.clear();
    }

    /// Count one feature; returns how many times it has been seen, this time included.
    #[inline]
    pub fn add(&mut self, block: Block, bucket: u32) -> u32 {
        let key = bucket | (block as u32) << 31;
        let mask = self.slots.len() - 1;
        let mut i = home_slot(key, mask);
        loop {
            let slot = &mut self.slots[i];
            if slot.0 == key {
                slot.1 += 1;
                return slot.1;
            }
            if slot.0 == EMPTY {
                *slot = (key, 1);
                self.used.push(i as u32);
                if self.used.len() * 2 > self.slots.len() {
                    self.grow();
                }
                return 1;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let old: Vec<(u32, u32)> = self.used.iter().map(|&i| self.slots[i as usize]).collect();
        self.slots = vec![(EMPTY, 0); self.slots.len() * 2];
        self.used.clear();
        let mask = self.slots.len() - 1;
        for (key, count) in old {
            let mut i = home_slot(key, mask);
            while self.slots[i].0 != EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = (key, count);
            self.used.push(i as u32);
        }
    }

    /// Every distinct `(block, bucket, count)`, in first-seen order.
    pub fn iter(&self) -> impl Iterator<Item = (Block, u32, u32)> + '_ {
        self.used.iter().map(|&i| {
            let (key, count) = self.slots[i as usize];
            let block = if key >> 31 == 0 {
                Block::Word
            } else {
                Block::Char
            };
            (block, key & !(1 << 31), count)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sentiment::tokenize::tokenize;

    /// Renders every word feature.
    #[derive(Default)]
    struct Rendered(Vec<String>);

    impl Sink for Rendered {
        fn feature(&mut self, block: Block, _bucket: u32, render: impl FnOnce(&mut String)) {
            if block == Block::Word {
                let mut s = String::new();
                render(&mut s);
                self.0.push(s);
            }
        }
    }

    fn lexicon_features(cfg: &FeatureConfig, text: &str) -> Vec<String> {
        let mut tokens = Tokens::new();
        tokenize(text, &mut tokens);
        let mut sink = Rendered::default();
        extract(cfg, &tokens, &mut sink);
        sink.0.retain(|f| f.starts_with("<lex"));
        sink.0
    }

    #[test]
    fn lexicon_hits_become_word_features_flipped_by_negation() {
        let cfg = FeatureConfig::default();
        // "good" is rated +1.9 and "horrible" -2.5; the negation scope ends at the comma.
        assert_eq!(
            lexicon_features(&cfg, "not good, horrible. good"),
            ["<lex->:good_NEG", "<lex-->:horrible", "<lex+>:good"]
        );
        let without = FeatureConfig {
            lexicon: false,
            ..cfg
        };
        assert!(lexicon_features(&without, "not good, horrible").is_empty());
    }

    #[test]
    fn negation_marks_only_the_first_words_of_the_scope() {
        let words = |cfg: &FeatureConfig, text: &str| {
            let mut tokens = Tokens::new();
            tokenize(text, &mut tokens);
            let mut sink = Rendered::default();
            extract(cfg, &tokens, &mut sink);
            sink.0.retain(|f| !f.contains(' '));
            sink.0
        };
        let cfg = FeatureConfig {
            negation_words: Some(3),
            ..FeatureConfig::default()
        };
        // "good" (+1.9) is the fourth word after "not": neither marked nor flipped. A new negator
        // opens a new scope; punctuation still ends one.
        assert_eq!(
            words(&cfg, "not saying it is good, never good"),
            [
                "not",
                "saying_NEG",
                "it_NEG",
                "is_NEG",
                "<lex+>:good",
                "good",
                "never",
                "<lex->:good_NEG",
                "good_NEG"
            ]
        );
        let whole = FeatureConfig {
            negation_words: None,
            ..cfg
        };
        assert_eq!(
            words(&whole, "not saying it is good"),
            [
                "not",
                "saying_NEG",
                "it_NEG",
                "is_NEG",
                "<lex->:good_NEG",
                "good_NEG"
            ]
        );
    }

    fn hashed_char_ngrams(cfg: &FeatureConfig, word: &str) -> Vec<u32> {
        let mut sink = Buckets::default();
        char_ngrams(cfg, word, &mut sink);
        sink.chars
    }

    /// A summary that depends on every bucket and on the owner, so a stale entry would show.
    fn summary(owner: u64, buckets: &[u32]) -> [f32; 4] {
        let sum: u64 = buckets.iter().map(|&b| u64::from(b)).sum();
        [
            owner as f32,
            buckets.len() as f32,
            (sum % 65_521) as f32,
            0.0,
        ]
    }

    #[test]
    fn word_cache_returns_what_hashing_gives_across_resets_and_collisions() {
        let cfg = FeatureConfig::default();
        let mut cache = WordCache::default();
        let lookup = |cache: &mut WordCache, owner: u64, cfg: &FeatureConfig, w: &str, h: u64| {
            cache.sums(owner, cfg, w, h, |_| {}, |b| summary(owner, b))
        };
        let want =
            |owner: u64, cfg: &FeatureConfig, w: &str| summary(owner, &hashed_char_ngrams(cfg, w));
        // Enough distinct words to fill the index (and so empty the cache) more than once, and
        // words too long to be cached.
        let mut words: Vec<String> = (0..500_000).map(|i| format!("w{i}ord")).collect();
        words.extend((0..50).map(|i| format!("{i}{}", "long".repeat(20))));
        for round in 0..2 {
            for w in words.iter().step_by(7).chain(words.iter().rev().take(50)) {
                let got = lookup(&mut cache, 1, &cfg, w, token_hash(w));
                assert_eq!(got, want(1, &cfg, w), "round {round}: {w}");
            }
        }
        // Another model (other settings, other weights) with the same scratch never sees this
        // model's entries.
        let other = FeatureConfig {
            char_min: 1,
            char_max: 3,
            ..cfg.clone()
        };
        let got = lookup(&mut cache, 2, &other, &words[0], token_hash(&words[0]));
        assert_eq!(got, want(2, &other, &words[0]));
        let got = lookup(&mut cache, 1, &cfg, &words[0], token_hash(&words[0]));
        assert_eq!(got, want(1, &cfg, &words[0]));
        // A different word under the same hash is a miss, never the other word's entry.
        lookup(&mut cache, 1, &cfg, "bullish", 42);
        let got = lookup(&mut cache, 1, &cfg, "bearish", 42);
        assert_eq!(got, want(1, &cfg, "bearish"));
    }

    #[test]
    fn model_files_from_before_the_lexicon_read_without_it() {
        let old =
            r#"{"hash_bits":20,"char_min":2,"char_max":5,"word_bigrams":true,"char_weight":1.0}"#;
        let cfg: FeatureConfig = serde_json::from_str(old).unwrap();
        assert!(!cfg.lexicon);
        assert_eq!(cfg.char_tf, CharTf::Sublinear);
        assert_eq!(FeatureConfig::default().char_tf, CharTf::Occurrences);
    }

    #[test]
    fn counter_agrees_with_sorting_through_growth() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut counter = Counter::default();
        for round in 0..4 {
            // 3,000 features over 1,200 distinct ids: forces growth past the initial 1,024 slots.
            let ids: Vec<(Block, u32)> = (0..3000)
                .map(|_| {
                    let block = if rng.bool() { Block::Word } else { Block::Char };
                    (block, rng.u32(0..600) * (round + 1))
                })
                .collect();
            counter.clear();
            for &(block, b) in &ids {
                counter.add(block, b);
            }
            for block in [Block::Word, Block::Char] {
                let mut sorted: Vec<u32> =
                    ids.iter().filter(|e| e.0 == block).map(|e| e.1).collect();
                let mut want = Vec::new();
                count_sorted(&mut sorted, &mut want);
                let mut got: Vec<(u32, u32)> = counter
                    .iter()
                    .filter(|e| e.0 == block)
                    .map(|e| (e.1, e.2))
                    .collect();
                got.sort_unstable();
                assert_eq!(got, want, "round {round}");
            }
        }
    }
}
