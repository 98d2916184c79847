//! The trained model at run time: loading the versioned file, scoring posts, explaining a score.
//!
//! The model file is small and self-describing:
//!
//! ```text
//! b"CPSENT\0\x01" | u32 LE header length | header (JSON: ModelMeta) | u32 LE entry count | entries
//! entry = varint(bucket − previous bucket) varint(document frequency) f32 LE × 3 (negative, neutral, positive)
//! ```
//!
//! Only buckets seen in at least `min_df` training posts are stored (everything else has weight zero).
//! IDF is recomputed from the document frequency at load time (the `<lex±>` cues take
//! `FeatureConfig::lexicon_idf` instead when it is set). Loading expands the entries into one
//! dense table of `[idf, w_neg, w_neu, w_pos]` per bucket (16 MB at 2^20 buckets) so that scoring is a
//! sparse dot product with one cache line per feature and no hashing of strings into maps.
//!
//! Score: the three one-vs-rest decision values `dₖ` go through a softmax with per-class scale and
//! offset fitted on cross-validated decision values of the training set (multinomial Platt scaling),
//! `pₖ = softmax(aₖ·dₖ + bₖ)`. The label is the most probable class and the score is
//! `p(positive) − p(negative)`, in [-1, 1]: the expected polarity of the post.

use std::path::Path;

use serde::{Deserialize, Serialize};

use std::sync::atomic::{AtomicU64, Ordering};

use super::features::{
    Block, CharTf, Counter, FeatureConfig, Sink, WordCache, extract, lexicon_buckets,
    prefetch_line, sublinear_tf,
};
use super::table::WeightTable;
use super::tokenize::{Tokens, tokenize};
use crate::model::{Score, SentimentLabel};

pub const MAGIC: &[u8; 8] = b"CPSENT\0\x01";
pub const FORMAT: u32 = 1;

/// Classes in table order.
pub const CLASSES: [SentimentLabel; 3] = SentimentLabel::ALL;

/// Per-class softmax scale and offset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub scale: [f32; 3],
    pub offset: [f32; 3],
}

/// Everything in the model file except the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    pub format: u32,
    /// Stored with every score; changes whenever weights or settings change.
    pub version: String,
    pub features: FeatureConfig,
    /// Documents the IDF was computed over.
    pub idf_docs: u64,
    pub bias: [f32; 3],
    pub calibration: Calibration,
    /// How the model was trained (settings, data summary, measured metrics).
    pub training: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read model file {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("not a coinpulse sentiment model (bad magic bytes)")]
    BadMagic,
    #[error("model file is truncated ({0})")]
    Truncated(&'static str),
    #[error("model header is invalid: {0}")]
    Header(#[from] serde_json::Error),
    #[error("model format {found} is not supported (expected {expected})")]
    Format { found: u32, expected: u32 },
    #[error("model is inconsistent: {0}")]
    Invalid(String),
}

/// One stored weight row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry {
    pub bucket: u32,
    pub df: u32,
    pub w: [f32; 3],
}

/// A loaded sentiment model. `Send + Sync`: share one behind an `Arc` and give each worker a
/// [`Scratch`].
#[derive(Debug, Clone)]
pub struct SentimentModel {
    /// Tells this model's word-cache entries from another model's in a shared [`Scratch`].
    id: u64,
    meta: ModelMeta,
    /// `[idf, w_neg, w_neu, w_pos]` per bucket; idf 0 marks an unused bucket.
    table: WeightTable,
}

/// Reusable buffers for scoring; one per thread.
#[derive(Debug, Default, Clone)]
pub struct Scratch {
    tokens: Tokens,
    /// Word-block features of the post being scored (every feature, for a `CharTf::Sublinear`
    /// model).
    words: Counter,
    cache: WordCache,
}

impl Scratch {
    pub fn new() -> Self {
        Self::default()
    }
}

/// The model shipped in the binary.
static BUILTIN: &[u8] = include_bytes!("../../data/sentiment-model.bin");

/// IDF as scikit-learn's smoothed formula: `ln((1 + n) / (1 + df)) + 1`.
pub fn idf(n: u64, df: u32) -> f32 {
    (((1 + n) as f64 / (1 + u64::from(df)) as f64).ln() + 1.0) as f32
}

impl SentimentModel {
    /// The model embedded at build time (`data/sentiment-model.bin`).
    pub fn builtin() -> Result<Self, ModelError> {
        Self::from_bytes(BUILTIN)
    }

    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes)
    }

    /// The configured model file, or the built-in model when none is configured.
    pub fn from_config(config: &crate::config::SentimentConfig) -> Result<Self, ModelError> {
        match &config.model_file {
            Some(path) => Self::load(path),
            None => Self::builtin(),
        }
    }

    pub fn version(&self) -> &str {
        &self.meta.version
    }

    pub fn meta(&self) -> &ModelMeta {
        &self.meta
    }

    pub fn from_parts(meta: ModelMeta, entries: &[Entry]) -> Result<Self, ModelError> {
        Self::build(meta, entries.iter().copied().map(Ok))
    }

    /// The model from its settings and weight rows, each row written straight into the table (a
    /// model file is decoded as it is read: loading is most of `coinpulse score`'s start-up).
    fn build(
        meta: ModelMeta,
        entries: impl Iterator<Item = Result<Entry, ModelError>>,
    ) -> Result<Self, ModelError> {
        if !(8..=26).contains(&meta.features.hash_bits) {
            return Err(ModelError::Invalid(format!(
                "hash_bits {} out of range 8..=26",
                meta.features.hash_bits
            )));
        }
        if meta.features.char_min < 1 || meta.features.char_max < meta.features.char_min {
            return Err(ModelError::Invalid("bad character n-gram range".into()));
        }
        let size = 1usize << meta.features.hash_bits;
        let mut table = WeightTable::zeroed(size);
        // Document frequencies repeat (most features are rare), so each one's IDF is computed once.
        let mut idf_of_df = vec![f32::NAN; 4096];
        for e in entries {
            let e = e?;
            let slot = table.get_mut(e.bucket as usize).ok_or_else(|| {
                ModelError::Invalid(format!("bucket {} beyond hash space", e.bucket))
            })?;
            let v = match idf_of_df.get_mut(e.df as usize) {
                Some(v) if !v.is_nan() => *v,
                Some(v) => {
                    *v = idf(meta.idf_docs, e.df);
                    *v
                }
                None => idf(meta.idf_docs, e.df),
            };
            *slot = [v, e.w[0], e.w[1], e.w[2]];
        }
        if let Some(v) = meta.features.lexicon_idf {
            for b in lexicon_buckets(meta.features.hash_bits) {
                if let Some(row) = table.get_mut(b as usize).filter(|r| r[0] > 0.0) {
                    row[0] = v;
                }
            }
        }
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Ok(SentimentModel {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            meta,
            table,
        })
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        let mut r = Reader { b: bytes, at: 0 };
        if r.take(8, "magic")? != MAGIC {
            return Err(ModelError::BadMagic);
        }
        let hlen = r.u32("header length")? as usize;
        let meta: ModelMeta = serde_json::from_slice(r.take(hlen, "header")?)?;
        if meta.format != FORMAT {
            return Err(ModelError::Format {
                found: meta.format,
                expected: FORMAT,
            });
        }
        let n = r.u32("entry count")? as usize;
        let mut bucket = 0u64;
        let entries = (0..n).map(|k| {
            let delta = r.varint("entry")?;
            bucket = if k == 0 { delta } else { bucket + delta };
            let df = r.varint("entry")?;
            let bytes = r.take(12, "weights")?;
            let w: [f32; 3] = std::array::from_fn(|i| {
                f32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4 bytes"))
            });
            Ok(Entry {
                bucket: u32::try_from(bucket)
                    .map_err(|_| ModelError::Invalid("bucket overflow".into()))?,
                df: u32::try_from(df).map_err(|_| ModelError::Invalid("df overflow".into()))?,
                w,
            })
        });
        let model = Self::build(meta, entries)?;
        if r.at != bytes.len() {
            return Err(ModelError::Invalid(
                "trailing bytes after the weights".into(),
            ));
        }
        Ok(model)
    }

    /// Score one post (allocates a scratch, whose word cache takes 2 MB on first use; use
    /// [`SentimentModel::score_with`] in loops).
    pub fn score(&self, text: &str) -> Score {
        self.score_with(text, &mut Scratch::new())
    }

    /// Score one post reusing `scratch`; no allocation once the buffers have grown.
    pub fn score_with(&self, text: &str, scratch: &mut Scratch) -> Score {
        let d = self.decisions_with(text, scratch);
        self.calibrate(d)
    }

    /// Score many posts with one scratch.
    pub fn score_batch<'a>(&self, texts: impl IntoIterator<Item = &'a str>) -> Vec<Score> {
        let mut scratch = Scratch::new();
        texts
            .into_iter()
            .map(|t| self.score_with(t, &mut scratch))
            .collect()
    }

    /// The raw one-vs-rest decision values (negative, neutral, positive), bias included.
    ///
    /// Each block's decision share is `k · Σ vᵢ·wᵢ` with `k = block weight / block norm`, so it is
    /// enough to accumulate, per block, `[squared norm, Σ v·w_neg, Σ v·w_neu, Σ v·w_pos]` (`v` the
    /// unnormalised TF-IDF value) and scale once at the end.
    ///
    /// Word features (a few dozen per post) are counted first and their rows read in one pass at the
    /// end, each prefetched when first seen. Character n-grams (hundreds per post, from words that
    /// recur across posts) are never counted: under [`CharTf::Occurrences`] each occurrence adds
    /// `idf·[idf, w]`, so a word adds the sum of that over its n-grams, which is computed once and
    /// kept with the word ([`WordCache`]). The result equals the term-by-term sum up to float
    /// rounding, and does not depend on what the cache holds.
    pub fn decisions_with(&self, text: &str, scratch: &mut Scratch) -> [f32; 3] {
        tokenize(text, &mut scratch.tokens);
        if self.meta.features.char_tf == CharTf::Sublinear {
            // An n-gram's value depends on its count in the whole post: count everything.
            self.count_all(&scratch.tokens, &mut scratch.words);
            return self.decisions_from_counts(&scratch.words);
        }
        scratch.words.clear();
        let mut sink = Scoring {
            model: self,
            words: &mut scratch.words,
            cache: &mut scratch.cache,
            char_sums: [0.0; 4],
        };
        extract(&self.meta.features, &scratch.tokens, &mut sink);
        let char_sums = sink.char_sums;
        let mut word_sums = [0.0f32; 4];
        for (_, bucket, count) in scratch.words.iter() {
            let row = &self.table[bucket as usize];
            let v = sublinear_tf(count) * row[0];
            add_scaled(&mut word_sums, v, &[v, row[1], row[2], row[3]]);
        }
        let k = self.scales([word_sums[0], char_sums[0]]);
        std::array::from_fn(|c| {
            self.meta.bias[c] + k[0] * word_sums[c + 1] + k[1] * char_sums[c + 1]
        })
    }

    /// A feature's value before IDF and its share of its block's squared norm before IDF², for a
    /// feature seen `count` times in a post.
    #[inline]
    fn tf(&self, block: Block, count: u32) -> (f32, f32) {
        let rule = match block {
            Block::Word => CharTf::Sublinear,
            Block::Char => self.meta.features.char_tf,
        };
        rule.value_and_norm_share(count)
    }

    /// Every feature of `tokens` counted into `counter`, emptied first: the slow, obvious path of
    /// explanations, and of scoring under `CharTf::Sublinear`.
    fn count_all(&self, tokens: &Tokens, counter: &mut Counter) {
        counter.clear();
        extract(&self.meta.features, tokens, &mut Counting(counter));
    }

    /// The decision values from full feature counts, term by term as the model docs define them: the
    /// slow path of explanations, and the reference the scorer is tested against.
    fn decisions_from_counts(&self, counter: &Counter) -> [f32; 3] {
        let k = self.block_scales(counter);
        let mut d = self.meta.bias;
        for (block, bucket, count) in counter.iter() {
            let row = &self.table[bucket as usize];
            let v = self.tf(block, count).0 * row[0] * k[block as usize];
            for (c, d) in d.iter_mut().enumerate() {
                *d += v * row[1 + c];
            }
        }
        d
    }

    /// Per block: block weight / norm of its TF-IDF values (0 for an empty block).
    fn block_scales(&self, counter: &Counter) -> [f32; 2] {
        let mut norm2 = [0.0f32; 2];
        for (block, bucket, count) in counter.iter() {
            let idf = self.table[bucket as usize][0];
            norm2[block as usize] += self.tf(block, count).1 * idf * idf;
        }
        self.scales(norm2)
    }

    /// Block weight / norm from each block's squared norm (0 for an empty block).
    fn scales(&self, norm2: [f32; 2]) -> [f32; 2] {
        let weights = [1.0, self.meta.features.char_weight];
        std::array::from_fn(|b| {
            if norm2[b] > 0.0 {
                weights[b] / norm2[b].sqrt()
            } else {
                0.0
            }
        })
    }

    /// Calibrated probabilities from decision values.
    pub fn probabilities(&self, d: [f32; 3]) -> [f32; 3] {
        softmax(d, &self.meta.calibration)
    }

    fn calibrate(&self, d: [f32; 3]) -> Score {
        let p = self.probabilities(d);
        let best = argmax(p);
        Score {
            label: CLASSES[best],
            score: (p[2] - p[0]).clamp(-1.0, 1.0),
        }
    }

    /// Score one post and list the `top` features that moved the winning class's decision most, with
    /// their exact contribution (value × weight). Slow path: renders every feature string.
    ///
    /// The score comes from the same full counts as the contributions, so they add up to the
    /// decision explained (the fast path can differ from it in the last float bits).
    pub fn explain(&self, text: &str, top: usize) -> (Score, Vec<Contribution>) {
        let mut tokens = Tokens::new();
        tokenize(text, &mut tokens);
        let mut counter = Counter::default();
        self.count_all(&tokens, &mut counter);
        let score = self.calibrate(self.decisions_from_counts(&counter));
        let class = CLASSES
            .iter()
            .position(|c| *c == score.label)
            .expect("label is one of CLASSES");
        let mut names = Named::default();
        extract(&self.meta.features, &tokens, &mut names);
        let k = self.block_scales(&counter);
        let mut out = Vec::new();
        for (block, bucket, count) in counter.iter() {
            let row = &self.table[bucket as usize];
            let value = self.tf(block, count).0 * row[0] * k[block as usize];
            if value == 0.0 {
                continue;
            }
            let weight = row[1 + class];
            out.push(Contribution {
                feature: names.name(block as usize, bucket),
                value,
                weight,
                contribution: value * weight,
            });
        }
        out.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
        out.truncate(top);
        (score, out)
    }

    /// For a post labelled neutral: which cue decided it, with the `top` features that pushed most
    /// towards neutral against the more probable pole. `None` when the label is not neutral.
    pub fn neutrality(&self, text: &str, top: usize) -> Option<Neutrality> {
        let mut tokens = Tokens::new();
        tokenize(text, &mut tokens);
        let mut counter = Counter::default();
        self.count_all(&tokens, &mut counter);
        let d = self.decisions_from_counts(&counter);
        if self.calibrate(d).label != SentimentLabel::Neutral {
            return None;
        }
        let p = self.probabilities(d);
        let pole = if p[2] >= p[0] { 2 } else { 0 };
        let cal = &self.meta.calibration;
        let prior = cal.scale[1] * self.meta.bias[1] + cal.offset[1]
            - cal.scale[pole] * self.meta.bias[pole]
            - cal.offset[pole];
        let mut names = Named::default();
        extract(&self.meta.features, &tokens, &mut names);
        let k = self.block_scales(&counter);
        let mut cues = Vec::new();
        for (block, bucket, count) in counter.iter() {
            let row = &self.table[bucket as usize];
            let value = self.tf(block, count).0 * row[0] * k[block as usize];
            let weight = cal.scale[1] * row[2] - cal.scale[pole] * row[1 + pole];
            if value * weight > 0.0 {
                cues.push(Contribution {
                    feature: names.name(block as usize, bucket),
                    value,
                    weight,
                    contribution: value * weight,
                });
            }
        }
        cues.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
        cues.truncate(top);
        let decided_by = match cues.first() {
            Some(c) if c.contribution > prior => c.feature.clone(),
            _ => "<prior>".to_string(),
        };
        Some(Neutrality {
            against: CLASSES[pole],
            margin: (p[1] / p[pole]).ln(),
            prior,
            cues,
            decided_by,
        })
    }
}

/// Why a post came out neutral: neutral's calibrated log-odds over the more probable pole, split
/// into the prior (bias and calibration offsets: what a post without features gets) and each
/// feature's share.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Neutrality {
    /// The pole neutral won against.
    pub against: SentimentLabel,
    /// `ln p(neutral) − ln p(against)`: prior plus every feature's share.
    pub margin: f32,
    /// The part of `margin` that does not depend on the post.
    pub prior: f32,
    /// The features that pushed most towards neutral; `weight` is the feature's weight in the
    /// calibrated neutral-minus-pole log-odds.
    pub cues: Vec<Contribution>,
    /// What decided: the largest push towards neutral, `<prior>` (no cue of the post outweighed the
    /// neutral prior: no opinion found) or a feature.
    pub decided_by: String,
}

/// One feature's share of a decision value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contribution {
    pub feature: String,
    pub value: f32,
    pub weight: f32,
    pub contribution: f32,
}

pub fn argmax(p: [f32; 3]) -> usize {
    let mut best = 0;
    for k in 1..3 {
        if p[k] > p[best] {
            best = k;
        }
    }
    best
}

pub fn softmax(d: [f32; 3], cal: &Calibration) -> [f32; 3] {
    let z: [f32; 3] = std::array::from_fn(|k| cal.scale[k] * d[k] + cal.offset[k]);
    let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: [f32; 3] = std::array::from_fn(|k| (z[k] - m).exp());
    let s: f32 = e.iter().sum();
    std::array::from_fn(|k| e[k] / s)
}

/// `a += v · u`, four lanes at once.
#[inline]
fn add_scaled(a: &mut [f32; 4], v: f32, u: &[f32; 4]) {
    for (a, u) in a.iter_mut().zip(u) {
        *a += v * u;
    }
}

/// What the n-grams in `buckets` add to the character block: `Σ idf·[idf, w_neg, w_neu, w_pos]`. (The
/// rows were prefetched as the word was hashed.)
fn occurrence_sums(table: &[[f32; 4]], buckets: &[u32]) -> [f32; 4] {
    let mut sums = [0.0f32; 4];
    for &b in buckets {
        let row = &table[b as usize];
        add_scaled(&mut sums, row[0], &[row[0], row[1], row[2], row[3]]);
    }
    sums
}

/// The scoring sink: counts word features (prefetching each new one's row) and adds character
/// n-grams word by word from the word cache (see [`SentimentModel::decisions_with`]).
struct Scoring<'a> {
    model: &'a SentimentModel,
    words: &'a mut Counter,
    cache: &'a mut WordCache,
    /// `[Σ idf², Σ idf·w_neg, Σ idf·w_neu, Σ idf·w_pos]` over the character n-gram occurrences so
    /// far.
    char_sums: [f32; 4],
}

impl Sink for Scoring<'_> {
    #[inline]
    fn feature(&mut self, block: Block, bucket: u32, _render: impl FnOnce(&mut String)) {
        let row = &self.model.table[bucket as usize];
        match block {
            Block::Word => {
                if self.words.add(block, bucket) == 1 {
                    prefetch_line(row);
                }
            }
            // Character n-grams arrive through `word_chars`; were one to come alone, it adds its
            // share like a cached word would.
            Block::Char => add_scaled(
                &mut self.char_sums,
                row[0],
                &[row[0], row[1], row[2], row[3]],
            ),
        }
    }

    #[inline]
    fn upcoming_word(&mut self, hash: u64) {
        self.cache.prefetch(hash);
    }

    fn word_chars(&mut self, cfg: &FeatureConfig, word: &str, hash: u64) {
        let table = self.model.table.rows();
        let sums = self.cache.sums(
            self.model.id,
            cfg,
            word,
            hash,
            |bucket| prefetch_line(&table[bucket as usize]),
            |b| occurrence_sums(table, b),
        );
        for (s, x) in self.char_sums.iter_mut().zip(sums) {
            *s += x;
        }
    }
}

/// Counts every feature (no prefetching, no cache): the slow path of explanations and tests.
struct Counting<'a>(&'a mut Counter);

impl Sink for Counting<'_> {
    fn feature(&mut self, block: Block, bucket: u32, _render: impl FnOnce(&mut String)) {
        self.0.add(block, bucket);
    }
}

/// Records the readable form of each (block, bucket) the first time it is seen; colliding features
/// are joined with ` | `.
#[derive(Default)]
struct Named {
    names: std::collections::HashMap<(usize, u32), String>,
}

impl Named {
    fn name(&self, block: usize, bucket: u32) -> String {
        self.names
            .get(&(block, bucket))
            .cloned()
            .unwrap_or_else(|| format!("#{bucket}"))
    }
}

impl Sink for Named {
    fn feature(&mut self, block: Block, bucket: u32, render: impl FnOnce(&mut String)) {
        let mut s = String::new();
        render(&mut s);
        let e = self.names.entry((block as usize, bucket)).or_default();
        if e.is_empty() {
            *e = s;
        } else if !e.split(" | ").any(|x| x == s) {
            e.push_str(" | ");
            e.push_str(&s);
        }
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ModelError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or(ModelError::Truncated(what))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, ModelError> {
        Ok(u32::from_le_bytes(
            self.take(4, what)?.try_into().expect("4 bytes"),
        ))
    }

    fn varint(&mut self, what: &'static str) -> Result<u64, ModelError> {
        // LEB128, at most 10 bytes for a u64. One slice walk: loading a model decodes two varints
        // per weight row, hundreds of thousands of them.
        let rest = &self.b[self.at..];
        let mut v = 0u64;
        for (i, &b) in rest.iter().take(10).enumerate() {
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.at += i + 1;
                return Ok(v);
            }
        }
        Err(if rest.len() < 10 {
            ModelError::Truncated(what)
        } else {
            ModelError::Invalid(format!("varint too long in {what}"))
        })
    }
}

/// Serialise a model file.
pub fn write_bytes(meta: &ModelMeta, entries: &[Entry]) -> Result<Vec<u8>, serde_json::Error> {
    let header = serde_json::to_vec_pretty(meta)?;
    let mut out = Vec::with_capacity(header.len() + entries.len() * 14 + 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    let mut prev = 0u32;
    for (k, e) in entries.iter().enumerate() {
        let delta = if k == 0 { e.bucket } else { e.bucket - prev };
        prev = e.bucket;
        put_varint(&mut out, u64::from(delta));
        put_varint(&mut out, u64::from(e.df));
        for w in e.w {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
    Ok(out)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(model: &SentimentModel, scratch: &mut Scratch, text: &str) {
        let fast = model.decisions_with(text, scratch);
        let mut tokens = Tokens::new();
        tokenize(text, &mut tokens);
        let mut counter = Counter::default();
        model.count_all(&tokens, &mut counter);
        let want = model.decisions_from_counts(&counter);
        for c in 0..3 {
            assert!(
                (fast[c] - want[c]).abs() <= 1e-5 * (1.0 + want[c].abs()),
                "{text:?}: {fast:?} vs {want:?}"
            );
        }
    }

    #[test]
    fn scoring_matches_the_decision_values_written_out_from_counts() {
        let model = SentimentModel::builtin().unwrap();
        let mut scratch = Scratch::new();
        // Repeats within a word, across words and past the step table (64), and a word longer than
        // the n-gram cut.
        let long = "moon ".repeat(100);
        let cases = [
            "",
            "hahahahaha",
            "to the moon moon moon 🚀🚀🚀 $BTC $btc",
            "not good, not good at all. NOT GOOD",
            long.as_str(),
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ];
        // The second round runs with the word cache warm.
        for _round in 0..2 {
            for text in cases {
                assert_close(&model, &mut scratch, text);
            }
        }
        let rows =
            super::super::data::read_labelled(&crate::shared::file("data/sentiment/dev.csv"))
                .unwrap();
        for r in &rows {
            assert_close(&model, &mut scratch, &r.text);
        }
    }

    #[test]
    fn a_scratch_moving_between_models_uses_each_models_weights() {
        let a = SentimentModel::builtin().unwrap();
        // Same settings, other weights (every stored row halved, every IDF from df = 2): a word
        // cached by one model and read by the other would score with the wrong rows.
        let entries: Vec<Entry> = (0..a.table.rows().len())
            .filter(|&b| a.table[b][0] != 0.0)
            .map(|b| {
                let r = a.table[b];
                Entry {
                    bucket: b as u32,
                    df: 2,
                    w: [r[1] / 2.0, r[2] / 2.0, r[3] / 2.0],
                }
            })
            .collect();
        let b = SentimentModel::from_parts(a.meta.clone(), &entries).unwrap();
        let mut scratch = Scratch::new();
        for text in ["bitcoin is mooning, bullish", "bitcoin is dumping, bearish"] {
            for model in [&a, &b, &a, &b] {
                assert_close(model, &mut scratch, text);
            }
        }
    }
}
