//! Training: labelled posts → hashed TF-IDF rows → NB-scaled one-vs-rest linear SVMs → calibrated
//! model file.
//!
//! Steps, all deterministic for a given data file and seed:
//!
//! 1. Tokenize and hash every post (see [`super::features`]); count document frequencies per bucket.
//!    Buckets seen in fewer than `min_df` posts are dropped everywhere (they cannot generalise and
//!    would only bloat the model file).
//! 2. Rows are TF-IDF, each block normalised: sublinear TF and L2 for words, occurrences for
//!    character n-grams ([`super::features::CharTf`]). The `<lex±>` cues take a fixed IDF
//!    (`FeatureConfig::lexicon_idf`) instead of their corpus one.
//! 3. Lexicon cues from the training data: for each class `c`, the log-count ratio
//!    `r_c = ln((p/‖p‖₁) / (q/‖q‖₁))`, with `p`, `q` the (α-smoothed) number of posts in / not in `c`
//!    that contain the feature (Wang & Manning 2012, "NBSVM"). Each one-vs-rest SVM trains on rows
//!    scaled by its `r_c`, so features that are lexically polar for the class start out louder. At
//!    scoring time the scaling folds into the weights (`w'_c = r_c ∘ w_c`): no extra cost.
//! 4. One-vs-rest linear SVMs (squared hinge, L2) by dual coordinate descent ([`super::dcd`]), each
//!    row's C multiplied by its source's weight. Sources that never label a post neutral (authors'
//!    bullish/bearish tags) are *polarity-only*: their rows enter the negative and positive problems
//!    only, never as "not neutral" examples ([`ovr_problems`]).
//! 5. Calibration (see [`super::model`]) is fitted on out-of-fold decision values from a k-fold run of
//!    steps 3–4, so it sees decision values as they look on unseen posts; polarity-only rows count
//!    only between the two poles. Then the neutral prior: neutral's offset is shifted by the amount
//!    (−2 … 2) that maximises the cross-validated objective ([`CvScore`]: the mean of the three-class
//!    macro-F1 and the polarity-only rows' accuracy, neutral counting as wrong there).
//! 6. With several candidate source weights ([`TrainConfig::source_weights`]), steps 3–5 run for
//!    each and the best objective wins; only the training data is ever used to choose.
//!
//! The fits (each candidate's folds, then the final model's three problems) are independent and run
//! on every core; each result keeps its place, so the file does not depend on the thread count.
//!
//! Our own one-vs-rest wrapper and IDF are used instead of linfa's `MultiClassModel` (not `Send`, not
//! serialisable) and `TfIdfVectorizer` (takes IDF from the batch being transformed).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use linfa::DatasetBase;
use linfa::traits::Fit;
use ndarray::Array1;
use serde::{Deserialize, Serialize};

use super::data::LabelledPost;
use super::dcd::{DcdParams, LinearSvm, Loss, SolverError};
use super::features::{Buckets, CharTf, FeatureConfig, count_sorted, extract, lexicon_buckets};
use super::model::{
    CLASSES, Calibration, Entry, FORMAT, ModelMeta, SentimentModel, argmax, idf, softmax,
    write_bytes,
};
use super::sparse::SparseRows;
use super::tokenize::{Tokens, tokenize};
use crate::model::SentimentLabel;

/// Everything that decides the trained weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub features: FeatureConfig,
    /// Buckets must occur in at least this many training posts.
    pub min_df: u32,
    /// SVM regularisation (larger = fits the training data harder).
    pub c: f64,
    pub loss: Loss,
    /// Dual coordinate descent tolerance and epoch cap.
    pub eps: f64,
    pub max_epochs: usize,
    /// Smoothing of the NB log-count ratios; `None` trains plain (unscaled) SVMs.
    pub nb_alpha: Option<f64>,
    /// Folds for the out-of-fold calibration data.
    pub calibration_folds: usize,
    pub seed: u64,
    /// Per source, the candidate multipliers of `c` for its rows (a source not named weighs 1). One
    /// candidate fixes the weight; with several, every combination is cross-validated on the
    /// training data and the one with the best [`CvScore::objective`] is trained (the table is kept
    /// in the model header).
    #[serde(default)]
    pub source_weights: BTreeMap<String, Vec<f64>>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            features: FeatureConfig::default(),
            min_df: 2,
            c: 0.2,
            loss: Loss::SquaredHinge,
            eps: 0.1,
            max_epochs: 200,
            nb_alpha: Some(2.0),
            calibration_folds: 3,
            seed: 42,
            source_weights: BTreeMap::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("no training rows")]
    Empty,
    #[error("class {0} has no training rows")]
    MissingClass(&'static str),
    #[error("source weight {weight} for {name} is not a positive finite number")]
    BadWeight { name: String, weight: f64 },
    #[error("source weights name {0}, which has no training rows")]
    UnknownSource(String),
    #[error(transparent)]
    Solver(#[from] SolverError),
    #[error(transparent)]
    Model(#[from] super::model::ModelError),
    #[error("cannot encode the model header: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Term counts of every post, per block: the corpus after hashing, before weighting.
pub struct Counts {
    /// Per post: `(bucket, count)` for words, then for characters; `split[i]` marks the boundary.
    indptr: Vec<usize>,
    split: Vec<usize>,
    entries: Vec<(u32, u32)>,
    ncols: usize,
}

impl Counts {
    pub fn build(cfg: &FeatureConfig, texts: &[&str]) -> Counts {
        let mut tokens = Tokens::new();
        let mut buckets = Buckets::default();
        let mut counted = Vec::new();
        let mut c = Counts {
            indptr: vec![0],
            split: Vec::with_capacity(texts.len()),
            entries: Vec::new(),
            ncols: 1 << cfg.hash_bits,
        };
        for t in texts {
            tokenize(t, &mut tokens);
            buckets.clear();
            extract(cfg, &tokens, &mut buckets);
            count_sorted(&mut buckets.word, &mut counted);
            c.entries.extend_from_slice(&counted);
            c.split.push(c.entries.len());
            count_sorted(&mut buckets.chars, &mut counted);
            c.entries.extend_from_slice(&counted);
            c.indptr.push(c.entries.len());
        }
        c
    }

    fn len(&self) -> usize {
        self.split.len()
    }

    /// Number of the given posts that contain each bucket (in either block).
    fn document_frequency(&self, rows: &[usize]) -> Vec<u32> {
        let mut df = vec![0u32; self.ncols];
        let mut last = vec![u32::MAX; self.ncols];
        for &r in rows {
            for &(b, _) in &self.entries[self.indptr[r]..self.indptr[r + 1]] {
                if last[b as usize] != r as u32 {
                    last[b as usize] = r as u32;
                    df[b as usize] += 1;
                }
            }
        }
        df
    }

    /// TF-IDF rows (TF and norm per block as `cfg` says, block weights) for the given posts.
    fn tfidf(&self, rows: &[usize], idf: &[f32], cfg: &FeatureConfig) -> SparseRows {
        let mut out = SparseRows::new(self.ncols);
        let mut row: Vec<(u32, f32)> = Vec::new();
        for &r in rows {
            row.clear();
            let blocks = [
                (
                    &self.entries[self.indptr[r]..self.split[r]],
                    1.0f32,
                    CharTf::Sublinear,
                ),
                (
                    &self.entries[self.split[r]..self.indptr[r + 1]],
                    cfg.char_weight,
                    cfg.char_tf,
                ),
            ];
            for (block, weight, tf) in blocks {
                let start = row.len();
                let mut norm2 = 0.0f32;
                for &(b, c) in block {
                    let i = idf[b as usize];
                    if i > 0.0 {
                        let (t, share) = tf.value_and_norm_share(c);
                        norm2 += share * i * i;
                        row.push((b, t * i));
                    }
                }
                if norm2 > 0.0 {
                    let k = weight / norm2.sqrt();
                    for e in &mut row[start..] {
                        e.1 *= k;
                    }
                }
            }
            // A bucket may occur in both blocks: merge so each column appears once per row.
            row.sort_by_key(|e| e.0);
            let mut merged: Vec<(u32, f32)> = Vec::with_capacity(row.len());
            for &(b, v) in &row {
                match merged.last_mut() {
                    Some(last) if last.0 == b => last.1 += v,
                    _ => merged.push((b, v)),
                }
            }
            out.push_row(merged);
        }
        out
    }
}

/// IDF per bucket over the given posts; 0 for buckets below `min_df`.
fn idf_table(counts: &Counts, rows: &[usize], min_df: u32) -> (Vec<u32>, Vec<f32>) {
    let df = counts.document_frequency(rows);
    let n = rows.len() as u64;
    let idf = df
        .iter()
        .map(|&d| if d >= min_df.max(1) { idf(n, d) } else { 0.0 })
        .collect();
    (df, idf)
}

/// Three one-vs-rest models with NB scaling folded into the weights.
struct Ovr {
    w: [Vec<f32>; 3],
    b: [f32; 3],
    epochs: [usize; 3],
}

impl Ovr {
    fn decisions(&self, x: &SparseRows, i: usize) -> [f32; 3] {
        let (idx, val) = x.row(i);
        std::array::from_fn(|k| {
            idx.iter()
                .zip(val)
                .map(|(&j, &v)| self.w[k][j as usize] * v)
                .sum::<f32>()
                + self.b[k]
        })
    }
}

/// Index of the neutral class in [`CLASSES`].
const NEUTRAL: usize = 1;

/// The rows of each one-vs-rest problem (indexes into `y`) and their targets, in class order.
///
/// A row of a polarity-only source (one whose rows are never labelled neutral, such as posts tagged
/// bullish or bearish by their authors) enters the negative and the positive problems only. Its
/// label says which way the post leans, not that it states an opinion rather than none, so it is
/// never a "not neutral" example: the neutral problem learns only from sources that label neutral.
fn ovr_problems(y: &[usize], polarity_only: &[bool]) -> [(Vec<usize>, Vec<bool>); 3] {
    std::array::from_fn(|k| {
        y.iter()
            .zip(polarity_only)
            .enumerate()
            .filter(|&(_, (_, &polar))| !(k == NEUTRAL && polar))
            .map(|(i, (&c, _))| (i, c == k))
            .unzip()
    })
}

/// One-vs-rest SVMs on the rows of `x` (labels `y`), each row's C scaled by its `weights` entry;
/// the three problems run on up to `threads` threads (each copies the rows it trains on).
fn fit_ovr(
    x: &SparseRows,
    y: &[usize],
    polarity_only: &[bool],
    weights: &[f32],
    cfg: &TrainConfig,
    threads: usize,
) -> Result<Ovr, TrainError> {
    let problems = ovr_problems(y, polarity_only);
    for (k, (_, targets)) in problems.iter().enumerate() {
        if !targets.iter().any(|&t| t) {
            return Err(TrainError::MissingClass(CLASSES[k].as_str()));
        }
    }
    let fitted = map_parallel(&[0, 1, 2], threads, |&k| {
        let (rows, targets) = &problems[k];
        let targets: Array1<bool> = targets.clone().into();
        let mut xs = if rows.len() == x.nrows() {
            x.clone()
        } else {
            x.select(rows)
        };
        let ratio = cfg.nb_alpha.map(|alpha| nb_ratio(&xs, &targets, alpha));
        if let Some(r) = &ratio {
            for (v, &j) in xs.values.iter_mut().zip(&xs.indices) {
                *v *= r[j as usize];
            }
        }
        let row_weights: Array1<f32> = rows.iter().map(|&r| weights[r]).collect();
        let dataset = DatasetBase::new(xs, targets).with_weights(row_weights);
        let svm: LinearSvm = DcdParams::new()
            .c(cfg.c)
            .loss(cfg.loss)
            .eps(cfg.eps)
            .max_epochs(cfg.max_epochs)
            .seed(cfg.seed.wrapping_add(k as u64))
            .fit(&dataset)?;
        let w: Vec<f32> = match &ratio {
            Some(r) => svm
                .w
                .iter()
                .zip(r)
                .map(|(&w, &r)| (w * f64::from(r)) as f32)
                .collect(),
            None => svm.w.iter().map(|&w| w as f32).collect(),
        };
        Ok::<_, TrainError>((w, svm.b as f32, svm.epochs))
    });
    let mut ovr = Ovr {
        w: Default::default(),
        b: [0.0; 3],
        epochs: [0; 3],
    };
    for (k, fit) in fitted.into_iter().enumerate() {
        (ovr.w[k], ovr.b[k], ovr.epochs[k]) = fit?;
    }
    Ok(ovr)
}

/// NB log-count ratio of each column for `targets` (binarised presence counts, α-smoothed).
fn nb_ratio(x: &SparseRows, targets: &Array1<bool>, alpha: f64) -> Vec<f32> {
    let mut p = vec![0.0f64; x.ncols];
    let mut q = vec![0.0f64; x.ncols];
    let mut used = vec![false; x.ncols];
    for (i, &t) in targets.iter().enumerate() {
        let (idx, _) = x.row(i);
        let acc = if t { &mut p } else { &mut q };
        for &j in idx {
            acc[j as usize] += 1.0;
            used[j as usize] = true;
        }
    }
    let (mut sp, mut sq) = (0.0, 0.0);
    for j in 0..x.ncols {
        if used[j] {
            sp += p[j] + alpha;
            sq += q[j] + alpha;
        }
    }
    (0..x.ncols)
        .map(|j| {
            if used[j] {
                (((p[j] + alpha) / sp) / ((q[j] + alpha) / sq)).ln() as f32
            } else {
                0.0
            }
        })
        .collect()
}

/// Multinomial logistic calibration `softmax(a ∘ d + b)` by full-batch gradient descent on the mean
/// log loss (deterministic; six parameters). A polarity-only row contributes the log loss of its
/// label among the two polar classes only (`p(label) / (p(negative) + p(positive))`), so it never
/// argues for or against neutral.
fn fit_calibration(d: &[[f32; 3]], y: &[usize], polarity_only: &[bool]) -> Calibration {
    let (mut a, mut b) = ([1.0f64; 3], [0.0f64; 3]);
    let n = d.len().max(1) as f64;
    let lr = 1.0;
    for _ in 0..300 {
        let (mut ga, mut gb) = ([0.0f64; 3], [0.0f64; 3]);
        for ((di, &yi), &polar) in d.iter().zip(y).zip(polarity_only) {
            let z: [f64; 3] = std::array::from_fn(|k| a[k] * f64::from(di[k]) + b[k]);
            let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mut e: [f64; 3] = std::array::from_fn(|k| (z[k] - m).exp());
            if polar {
                e[NEUTRAL] = 0.0;
            }
            let s: f64 = e.iter().sum();
            for k in 0..3 {
                let g = e[k] / s - if k == yi { 1.0 } else { 0.0 };
                ga[k] += g * f64::from(di[k]);
                gb[k] += g;
            }
        }
        for k in 0..3 {
            a[k] -= lr * ga[k] / n;
            b[k] -= lr * gb[k] / n;
        }
    }
    Calibration {
        scale: a.map(|v| v as f32),
        offset: b.map(|v| v as f32),
    }
}

/// What cross-validation measures of a model on the training data, from out-of-fold decision values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CvScore {
    /// Macro-F1 over the rows of sources that label all three classes.
    pub three_class_macro_f1: f32,
    /// Accuracy over the rows of polarity-only sources; a neutral prediction counts as wrong.
    pub polarity_accuracy: Option<f32>,
    /// What settings are chosen by: the mean of the two (the macro-F1 alone without polarity-only
    /// rows), so that neither kind of data is traded away for the other.
    pub objective: f32,
}

fn cv_score(
    d: &[[f32; 3]],
    y: &[usize],
    polarity_only: &[bool],
    calibration: &Calibration,
) -> CvScore {
    let (mut predicted, mut truth) = (Vec::new(), Vec::new());
    let (mut polar_rows, mut polar_right) = (0usize, 0usize);
    for ((&di, &yi), &polar) in d.iter().zip(y).zip(polarity_only) {
        let p = argmax(softmax(di, calibration));
        if polar {
            polar_rows += 1;
            polar_right += usize::from(p == yi);
        } else {
            predicted.push(CLASSES[p]);
            truth.push(CLASSES[yi]);
        }
    }
    let three_class_macro_f1 = if truth.is_empty() {
        0.0
    } else {
        super::eval::metrics(&predicted, &truth).macro_f1
    };
    let polarity_accuracy = (polar_rows > 0).then(|| polar_right as f32 / polar_rows as f32);
    let objective = match polarity_accuracy {
        Some(acc) => (three_class_macro_f1 + acc) / 2.0,
        None => three_class_macro_f1,
    };
    CvScore {
        three_class_macro_f1,
        polarity_accuracy,
        objective,
    }
}

/// Shifts of the neutral class's calibrated log-odds tried by [`neutral_prior`]: −2 … 2 by 0.05.
fn neutral_shifts() -> impl Iterator<Item = f32> {
    (-40..=40).map(|i| i as f32 * 0.05)
}

/// The neutral prior: the shift of neutral's calibration offset that maximises the cross-validated
/// [`CvScore::objective`] (the smallest shift among equals). The softmax fitted on the data with
/// neutral labels puts neutral's prior where those sources have it (half of their posts); a post of
/// a polarity-only source states a stance, so that prior calls too many of them neutral. The shift
/// is chosen on out-of-fold decision values of the training data, never on a dev set.
fn neutral_prior(
    d: &[[f32; 3]],
    y: &[usize],
    polarity_only: &[bool],
    fitted: &Calibration,
) -> (f32, Calibration, CvScore) {
    let mut best: Option<(f32, Calibration, CvScore)> = None;
    let mut shifts: Vec<f32> = neutral_shifts().collect();
    shifts.sort_by(|a, b| a.abs().total_cmp(&b.abs()).then(a.total_cmp(b)));
    for shift in shifts {
        let mut cal = fitted.clone();
        cal.offset[NEUTRAL] += shift;
        let score = cv_score(d, y, polarity_only, &cal);
        if best
            .as_ref()
            .is_none_or(|b| score.objective > b.2.objective)
        {
            best = Some((shift, cal, score));
        }
    }
    best.expect("at least one shift")
}

/// The folds of cross-validation: for each, the held-out rows and the rows it trains on. Rows are
/// dealt round-robin from one shuffle by the seed, so every candidate sees the same folds.
fn fold_rows(n: usize, cfg: &TrainConfig) -> Vec<(Vec<usize>, Vec<usize>)> {
    let folds = cfg.calibration_folds.max(2);
    let mut order: Vec<usize> = (0..n).collect();
    fastrand::Rng::with_seed(cfg.seed).shuffle(&mut order);
    (0..folds)
        .map(|f| {
            let (mut held, mut fit_rows) = (Vec::new(), Vec::new());
            for (pos, &r) in order.iter().enumerate() {
                if pos % folds == f {
                    held.push(r)
                } else {
                    fit_rows.push(r)
                }
            }
            (held, fit_rows)
        })
        .collect()
}

/// Decision values of the `held` rows from SVMs trained on the `fit_rows`. IDF is label-free and
/// comes from all rows; the NB ratios and SVMs see only the rows they train on.
fn fit_fold(
    prep: &Prepared,
    weights: &[f32],
    (held, fit_rows): &(Vec<usize>, Vec<usize>),
    cfg: &TrainConfig,
) -> Result<Vec<[f32; 3]>, TrainError> {
    let x = prep.counts.tfidf(fit_rows, &prep.idf, &cfg.features);
    let yf: Vec<usize> = fit_rows.iter().map(|&r| prep.y[r]).collect();
    let polar: Vec<bool> = fit_rows.iter().map(|&r| prep.polarity_only[r]).collect();
    let wf: Vec<f32> = fit_rows.iter().map(|&r| weights[r]).collect();
    let ovr = fit_ovr(&x, &yf, &polar, &wf, cfg, 1)?;
    drop(x);
    let xh = prep.counts.tfidf(held, &prep.idf, &cfg.features);
    tracing::debug!(epochs = ?ovr.epochs, "Trained a cross-validation fold.");
    Ok((0..held.len()).map(|i| ovr.decisions(&xh, i)).collect())
}

/// `f` over `items` on up to `threads` scoped threads, results in item order: the output does not
/// depend on the thread count or on which thread ran which item. Training's fits are independent
/// and each takes about a second, so a shared next-item counter balances them well enough. Workers
/// log to the caller's subscriber, which may be a thread-local one.
fn map_parallel<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let dispatch = tracing::dispatcher::get_default(|d| d.clone());
    let mut out: Vec<Option<R>> = items.iter().map(|_| None).collect();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    tracing::dispatcher::with_default(&dispatch, || {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(item) = items.get(i) else { break };
                            done.push((i, f(item)));
                        }
                        done
                    })
                })
            })
            .collect();
        for worker in workers {
            let done = worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            for (i, r) in done {
                out[i] = Some(r);
            }
        }
    });
    out.into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

/// The corpus after hashing, with what every step needs of the labels.
struct Prepared {
    counts: Counts,
    df: Vec<u32>,
    idf: Vec<f32>,
    y: Vec<usize>,
    polarity_only: Vec<bool>,
}

/// Sources none of whose rows is labelled neutral, in name order.
pub fn polarity_only_sources(posts: &[LabelledPost]) -> Vec<String> {
    let mut neutral: BTreeMap<&str, bool> = BTreeMap::new();
    for p in posts {
        *neutral.entry(p.source.as_str()).or_default() |= p.label == SentimentLabel::Neutral;
    }
    neutral
        .into_iter()
        .filter(|&(_, has_neutral)| !has_neutral)
        .map(|(s, _)| s.to_string())
        .collect()
}

/// Every combination of the candidate source weights, as per-source maps.
fn weight_grid(
    candidates: &BTreeMap<String, Vec<f64>>,
    posts: &[LabelledPost],
) -> Result<Vec<BTreeMap<String, f64>>, TrainError> {
    let mut grid = vec![BTreeMap::new()];
    for (source, weights) in candidates {
        if !posts.iter().any(|p| &p.source == source) {
            return Err(TrainError::UnknownSource(source.clone()));
        }
        if let Some(&weight) = weights.iter().find(|w| !(w.is_finite() && **w > 0.0)) {
            return Err(TrainError::BadWeight {
                name: source.clone(),
                weight,
            });
        }
        grid = grid
            .into_iter()
            .flat_map(|g| {
                weights.iter().map(move |&w| {
                    let mut g = g.clone();
                    g.insert(source.clone(), w);
                    g
                })
            })
            .collect();
    }
    Ok(grid)
}

/// What `train` produces: the model file bytes and what was measured on the way.
pub struct Trained {
    pub meta: ModelMeta,
    pub entries: Vec<Entry>,
    pub model: SentimentModel,
    /// Cross-validated (out-of-fold) predictions on the training data, in input order.
    pub oof_predictions: Vec<SentimentLabel>,
}

/// One source-weight candidate after cross-validation: its weights, out-of-fold decision values,
/// neutral shift, calibration and score.
type Candidate = (
    BTreeMap<String, f64>,
    Vec<[f32; 3]>,
    f32,
    Calibration,
    CvScore,
);

/// Train a model on every core. `summary` is stored verbatim in the model header (data fingerprint,
/// dev metrics...).
pub fn train(
    posts: &[LabelledPost],
    cfg: &TrainConfig,
    summary: serde_json::Value,
) -> Result<Trained, TrainError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    train_with_threads(posts, cfg, summary, threads)
}

/// [`train`] on up to `threads` threads; the model file is the same for any count (each fit is
/// independent and its results keep their place).
pub fn train_with_threads(
    posts: &[LabelledPost],
    cfg: &TrainConfig,
    summary: serde_json::Value,
    threads: usize,
) -> Result<Trained, TrainError> {
    if posts.is_empty() {
        return Err(TrainError::Empty);
    }
    let texts: Vec<&str> = posts.iter().map(|p| p.text.as_str()).collect();
    let y: Vec<usize> = posts
        .iter()
        .map(|p| {
            CLASSES
                .iter()
                .position(|c| *c == p.label)
                .expect("known label")
        })
        .collect();
    let started = std::time::Instant::now();
    let polar_sources = polarity_only_sources(posts);
    let polarity_only: Vec<bool> = posts
        .iter()
        .map(|p| polar_sources.contains(&p.source))
        .collect();
    let counts = Counts::build(&cfg.features, &texts);
    let all: Vec<usize> = (0..counts.len()).collect();
    let (df, mut idf) = idf_table(&counts, &all, cfg.min_df);
    if let Some(v) = cfg.features.lexicon_idf {
        for b in lexicon_buckets(cfg.features.hash_bits) {
            if idf[b as usize] > 0.0 {
                idf[b as usize] = v;
            }
        }
    }
    let prep = Prepared {
        counts,
        df,
        idf,
        y,
        polarity_only,
    };

    let folds = fold_rows(prep.y.len(), cfg);
    let grid = weight_grid(&cfg.source_weights, posts)?;
    let fits = grid.len() * folds.len();
    // One progress line per fit: training takes seconds to minutes and is otherwise silent.
    let progress = |step: usize, what: &str| {
        tracing::info!(
            step = %format_args!("{step}/{}", fits + 1),
            elapsed = %format_args!("{:.1}s", started.elapsed().as_secs_f64()),
            "Training: {what}."
        );
    };
    progress(0, &format!("features of {} posts counted", posts.len()));
    // Source weights by cross-validation: out-of-fold decision values for each candidate, the
    // calibration and neutral prior fitted on them, scored. The best candidate's are kept. Every
    // (candidate, fold) fit is independent, so they share the cores; results keep their order.
    let candidate_weights: Vec<Vec<f32>> = grid
        .iter()
        .map(|weights| {
            posts
                .iter()
                .map(|p| weights.get(&p.source).copied().unwrap_or(1.0) as f32)
                .collect()
        })
        .collect();
    let tasks: Vec<(usize, usize)> = (0..grid.len())
        .flat_map(|c| (0..folds.len()).map(move |f| (c, f)))
        .collect();
    let done = AtomicUsize::new(0);
    let fitted = map_parallel(&tasks, threads, |&(c, f)| {
        let d = fit_fold(&prep, &candidate_weights[c], &folds[f], cfg)?;
        let step = done.fetch_add(1, Ordering::Relaxed) + 1;
        progress(
            step,
            &format!(
                "cross-validation fit {step} of {fits} done (fold {} of {}, source weights {:?})",
                f + 1,
                folds.len(),
                grid[c]
            ),
        );
        Ok::<_, TrainError>(d)
    });
    let mut oofs = vec![vec![[0.0f32; 3]; prep.y.len()]; grid.len()];
    for (&(c, f), d) in tasks.iter().zip(fitted) {
        for (&r, d) in folds[f].0.iter().zip(d?) {
            oofs[c][r] = d;
        }
    }
    let scored = map_parallel(&oofs, threads, |oof| {
        let fitted = fit_calibration(oof, &prep.y, &prep.polarity_only);
        neutral_prior(oof, &prep.y, &prep.polarity_only, &fitted)
    });
    let mut table = Vec::new();
    let mut best: Option<Candidate> = None;
    for ((weights, oof), (shift, calibration, score)) in grid.into_iter().zip(oofs).zip(scored) {
        tracing::info!(?weights, shift, ?score, "Cross-validated source weights.");
        table.push(serde_json::json!({
            "source_weights": weights, "neutral_shift": shift, "score": score,
        }));
        if best
            .as_ref()
            .is_none_or(|b| score.objective > b.4.objective)
        {
            best = Some((weights, oof, shift, calibration, score));
        }
    }
    let (weights, oof, neutral_shift, calibration, cv) = best.expect("the grid is never empty");
    let oof_predictions: Vec<SentimentLabel> = oof
        .iter()
        .map(|&d| CLASSES[argmax(softmax(d, &calibration))])
        .collect();

    let row_weights: Vec<f32> = posts
        .iter()
        .map(|p| weights.get(&p.source).copied().unwrap_or(1.0) as f32)
        .collect();
    let x = prep.counts.tfidf(&all, &prep.idf, &cfg.features);
    let ovr = fit_ovr(&x, &prep.y, &prep.polarity_only, &row_weights, cfg, threads)?;
    tracing::debug!(epochs = ?ovr.epochs, "Trained the final model.");
    progress(fits + 1, "final model fitted");

    let (df, idf) = (&prep.df, &prep.idf);
    let entries: Vec<Entry> = (0..prep.counts.ncols)
        .filter(|&j| idf[j] > 0.0)
        .map(|j| Entry {
            bucket: j as u32,
            df: df[j],
            w: std::array::from_fn(|k| ovr.w[k][j]),
        })
        .filter(|e| e.w.iter().any(|&w| w != 0.0))
        .collect();

    let mut by_label: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_source: BTreeMap<&str, usize> = BTreeMap::new();
    for p in posts {
        *by_label.entry(p.label.as_str()).or_default() += 1;
        *by_source.entry(p.source.as_str()).or_default() += 1;
    }
    let oof_metrics = super::eval::metrics(
        &oof_predictions,
        &posts.iter().map(|p| p.label).collect::<Vec<_>>(),
    );
    let training = serde_json::json!({
        "config": cfg,
        "rows": posts.len(),
        "rows_by_label": by_label,
        "rows_by_source": by_source,
        "polarity_only_sources": polar_sources,
        "source_weights": weights,
        "neutral_shift": neutral_shift,
        "features_kept": entries.len(),
        "epochs": ovr.epochs,
        "cross_validated": {
            "folds": cfg.calibration_folds.max(2),
            "accuracy": oof_metrics.accuracy,
            "macro_f1": oof_metrics.macro_f1,
            "three_class_macro_f1": cv.three_class_macro_f1,
            "polarity_accuracy": cv.polarity_accuracy,
            "objective": cv.objective,
        },
        "source_weight_search": if table.len() > 1 { serde_json::Value::from(table) } else { serde_json::Value::Null },
        "summary": summary,
    });
    let mut meta = ModelMeta {
        format: FORMAT,
        version: String::new(),
        features: cfg.features.clone(),
        idf_docs: posts.len() as u64,
        bias: ovr.b,
        calibration,
        training,
    };
    // The version names the content: a hash of the file written with an empty version.
    let draft = write_bytes(&meta, &entries)?;
    meta.version = format!("svm-nb-{:012x}", fnv64(&draft) >> 16);
    let model = SentimentModel::from_parts(meta.clone(), &entries)?;
    Ok(Trained {
        meta,
        entries,
        model,
        oof_predictions,
    })
}

impl Trained {
    /// Record a measurement (e.g. dev metrics) in the model header. The version is unchanged: it names
    /// the weights and settings.
    pub fn record(&mut self, key: &str, value: serde_json::Value) {
        if let Some(obj) = self.meta.training.as_object_mut() {
            obj.insert(key.to_string(), value);
        }
    }

    /// The model file.
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        write_bytes(&self.meta, &self.entries)
    }
}

fn fnv64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two-class labels only ever teach negative against positive. Over the real training rows
    /// (train.csv and crypto_train.csv), no row of a source without neutral labels is a training row
    /// of the neutral problem, and in the two polar problems each such row is a target of its own pole
    /// only.
    #[test]
    fn two_class_rows_never_become_neutral_training_targets() {
        let read = |f: &str| {
            super::super::data::read_labelled(&crate::shared::file(f)).expect("labelled CSV reads")
        };
        let mut posts = read("data/sentiment/train.csv");
        posts.extend(read("data/sentiment/crypto/crypto_train.csv"));
        let polar = polarity_only_sources(&posts);
        assert_eq!(
            polar,
            ["stockemotions_stocktwits", "stocktwits_eth_tianyhe"]
        );
        let polarity_only: Vec<bool> = posts.iter().map(|p| polar.contains(&p.source)).collect();
        let y: Vec<usize> = posts
            .iter()
            .map(|p| CLASSES.iter().position(|c| *c == p.label).unwrap())
            .collect();
        let problems = ovr_problems(&y, &polarity_only);

        let (rows, targets) = &problems[NEUTRAL];
        assert!(rows.iter().all(|&r| !polarity_only[r]));
        let three_class = polarity_only.iter().filter(|&&p| !p).count();
        assert_eq!(
            rows.len(),
            three_class,
            "every three-class row teaches neutral"
        );
        for (&r, &t) in rows.iter().zip(targets) {
            assert_eq!(t, y[r] == NEUTRAL);
        }
        let crypto = posts
            .iter()
            .filter(|p| p.source == "stocktwits_eth_tianyhe")
            .count();
        assert_eq!(crypto, 5_013);
        for k in [0, 2] {
            let (rows, targets) = &problems[k];
            assert_eq!(rows.len(), posts.len(), "{}", CLASSES[k].as_str());
            for (&r, &t) in rows.iter().zip(targets) {
                assert_eq!(t, y[r] == k);
                if polarity_only[r] {
                    assert_ne!(y[r], NEUTRAL, "{:?}", posts[r]);
                }
            }
        }
    }

    /// The scorer must rebuild the rows the SVMs were trained on. Under either character TF, the
    /// loaded model's decision values on the training posts equal the trained weights' dot products
    /// with the training rows. Posts repeat words and share n-grams across words, where the two
    /// settings differ.
    #[test]
    fn scoring_rebuilds_the_training_rows_under_either_character_tf() {
        let words = [
            "moon", "mooning", "bullish", "dump", "dumping", "bearish", "rekt", "in", "bitcoin",
            "mining", "margin", "not", "good", "ok", "🚀", "$BTC",
        ];
        let mut rng = fastrand::Rng::with_seed(5);
        let posts: Vec<LabelledPost> = (0..90)
            .map(|i| {
                let text = (0..rng.usize(1..12))
                    .map(|_| words[rng.usize(0..words.len())])
                    .collect::<Vec<_>>()
                    .join(" ");
                LabelledPost {
                    text,
                    label: CLASSES[i % 3],
                    source: "synthetic".into(),
                }
            })
            .collect();
        for char_tf in [CharTf::Sublinear, CharTf::Occurrences] {
            let mut cfg = TrainConfig {
                min_df: 1,
                ..TrainConfig::default()
            };
            cfg.features.hash_bits = 14;
            cfg.features.char_tf = char_tf;
            let trained = train(&posts, &cfg, serde_json::json!({})).expect("trains");

            let texts: Vec<&str> = posts.iter().map(|p| p.text.as_str()).collect();
            let counts = Counts::build(&cfg.features, &texts);
            let all: Vec<usize> = (0..texts.len()).collect();
            let (_, mut idf) = idf_table(&counts, &all, cfg.min_df);
            let cue_idf = cfg
                .features
                .lexicon_idf
                .expect("default settings fix the cue IDF");
            for b in lexicon_buckets(cfg.features.hash_bits) {
                if idf[b as usize] > 0.0 {
                    idf[b as usize] = cue_idf;
                }
            }
            let x = counts.tfidf(&all, &idf, &cfg.features);
            let mut w = vec![[0.0f32; 3]; counts.ncols];
            for e in &trained.entries {
                w[e.bucket as usize] = e.w;
            }
            let mut scratch = crate::sentiment::Scratch::new();
            for (i, text) in texts.iter().enumerate() {
                let (idx, val) = x.row(i);
                let want: [f32; 3] = std::array::from_fn(|k| {
                    trained.meta.bias[k]
                        + idx
                            .iter()
                            .zip(val)
                            .map(|(&j, &v)| v * w[j as usize][k])
                            .sum::<f32>()
                });
                let got = trained.model.decisions_with(text, &mut scratch);
                for k in 0..3 {
                    assert!(
                        (got[k] - want[k]).abs() <= 1e-4 * (1.0 + want[k].abs()),
                        "{char_tf:?}, {text:?}: scored {got:?}, trained {want:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn training_logs_a_progress_line_per_fit() {
        #[derive(Clone, Default)]
        struct Log(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Log {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let posts: Vec<LabelledPost> = ["to the moon", "rekt again", "just a post"]
            .iter()
            .cycle()
            .take(30)
            .enumerate()
            .map(|(i, text)| LabelledPost {
                text: text.to_string(),
                label: CLASSES[i % 3],
                source: "synthetic".into(),
            })
            .collect();
        let mut cfg = TrainConfig {
            min_df: 1,
            ..TrainConfig::default()
        };
        cfg.features.hash_bits = 12;
        tracing::subscriber::with_default(subscriber, || {
            train(&posts, &cfg, serde_json::json!({})).expect("trains")
        });
        let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        let fits = cfg.calibration_folds.max(2);
        assert!(text.contains("features of 30 posts counted"), "{text}");
        assert!(
            text.contains(&format!("cross-validation fit {fits} of {fits} done")),
            "{text}"
        );
        assert!(
            text.contains(&format!("step={}/{}", fits + 1, fits + 1)),
            "{text}"
        );
        assert!(text.contains("final model fitted"), "{text}");
    }
}
