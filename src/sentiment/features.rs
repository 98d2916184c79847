//! Tokens → hashed sparse features in two blocks: words (1–2-grams) and characters (n-grams of words).
//!
//! Features are hashed into `2^hash_bits` buckets (FNV-1a, then a multiplicative mix) so there is no
//! vocabulary to store or look up: the model is a table indexed by bucket. Word and character features
//! share the table but carry different hash seeds. Each block is weighted and L2-normalised on its own
//! (as a union of two TF-IDF vectorizers would be), with sublinear TF `1 + ln(count)` and IDF from the
//! training corpus.
//!
//! The hot path hands bucket ids to a [`Sink`]; only the explaining sink asks for feature strings, so
//! scoring never formats anything.

use serde::{Deserialize, Serialize};

use super::tokenize::{META, NEGATED, Tokens, WORD};

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
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            hash_bits: 20,
            char_min: 2,
            char_max: 5,
            word_bigrams: true,
            char_weight: 1.0,
        }
    }
}

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
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const SEED_WORD: u64 = 0x5741;
const SEED_BIGRAM: u64 = 0x4247;
const SEED_CHAR: u64 = 0x4348;

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

/// Emit every feature of `tokens` into `sink`.
pub fn extract(cfg: &FeatureConfig, tokens: &Tokens, sink: &mut impl Sink) {
    let bits = cfg.hash_bits;
    let mut prev: Option<(u64, usize)> = None;
    for (ti, t) in tokens.tokens.iter().enumerate() {
        let text = tokens.str(t);
        let h = fnv(FNV_OFFSET ^ SEED_WORD, text.as_bytes());
        let h = if t.flags & NEGATED != 0 {
            fnv(h, b"_NEG")
        } else {
            h
        };
        sink.feature(Block::Word, bucket(h, bits), |s| {
            render_token(tokens, ti, s)
        });
        if t.flags & META != 0 {
            continue;
        }
        if cfg.word_bigrams {
            if let Some((ph, pi)) = prev {
                let bh = fnv(
                    FNV_OFFSET ^ SEED_BIGRAM,
                    &(ph.rotate_left(23) ^ h).to_le_bytes(),
                );
                sink.feature(Block::Word, bucket(bh, bits), |s| {
                    render_token(tokens, pi, s);
                    s.push(' ');
                    render_token(tokens, ti, s);
                });
            }
            prev = Some((h, ti));
        }
        if t.flags & WORD != 0 {
            char_ngrams(cfg, text, sink);
        }
    }
}

fn render_token(tokens: &Tokens, i: usize, s: &mut String) {
    let t = &tokens.tokens[i];
    s.push_str(tokens.str(t));
    if t.flags & NEGATED != 0 {
        s.push_str("_NEG");
    }
}

/// N-grams of ` word ` by characters, hashed incrementally from each start position. Words longer
/// than 120 bytes are cut (at a char boundary); nothing is allocated.
fn char_ngrams(cfg: &FeatureConfig, word: &str, sink: &mut impl Sink) {
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

/// Sort `buckets` and turn them into `(bucket, count)` runs.
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
