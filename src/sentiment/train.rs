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
//! 4. One-vs-rest linear SVMs (squared hinge, L2) by dual coordinate descent ([`super::dcd`]).
//! 5. Calibration (see [`super::model`]) is fitted on out-of-fold decision values from a k-fold run of
//!    steps 3–4, so it sees decision values as they look on unseen posts.
//!
//! Our own one-vs-rest wrapper and IDF are used instead of linfa's `MultiClassModel` (not `Send`, not
//! serialisable) and `TfIdfVectorizer` (takes IDF from the batch being transformed).

use std::collections::BTreeMap;

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
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("no training rows")]
    Empty,
    #[error("class {0} has no training rows")]
    MissingClass(&'static str),
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

fn fit_ovr(x: &SparseRows, y: &[usize], cfg: &TrainConfig) -> Result<Ovr, TrainError> {
    let mut w: [Vec<f32>; 3] = Default::default();
    let mut b = [0.0f32; 3];
    let mut epochs = [0usize; 3];
    for k in 0..3 {
        let targets: Array1<bool> = y.iter().map(|&c| c == k).collect();
        if !targets.iter().any(|&t| t) {
            return Err(TrainError::MissingClass(CLASSES[k].as_str()));
        }
        let ratio = cfg.nb_alpha.map(|alpha| nb_ratio(x, &targets, alpha));
        let mut xs = x.clone();
        if let Some(r) = &ratio {
            for (v, &j) in xs.values.iter_mut().zip(&x.indices) {
                *v *= r[j as usize];
            }
        }
        let dataset = DatasetBase::new(xs, targets);
        let svm: LinearSvm = DcdParams::new()
            .c(cfg.c)
            .loss(cfg.loss)
            .eps(cfg.eps)
            .max_epochs(cfg.max_epochs)
            .seed(cfg.seed.wrapping_add(k as u64))
            .fit(&dataset)?;
        w[k] = match &ratio {
            Some(r) => svm
                .w
                .iter()
                .zip(r)
                .map(|(&w, &r)| (w * f64::from(r)) as f32)
                .collect(),
            None => svm.w.iter().map(|&w| w as f32).collect(),
        };
        b[k] = svm.b as f32;
        epochs[k] = svm.epochs;
    }
    Ok(Ovr { w, b, epochs })
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
/// log loss (deterministic; six parameters).
fn fit_calibration(d: &[[f32; 3]], y: &[usize]) -> Calibration {
    let (mut a, mut b) = ([1.0f64; 3], [0.0f64; 3]);
    let n = d.len().max(1) as f64;
    let lr = 1.0;
    for _ in 0..300 {
        let (mut ga, mut gb) = ([0.0f64; 3], [0.0f64; 3]);
        for (di, &yi) in d.iter().zip(y) {
            let z: [f64; 3] = std::array::from_fn(|k| a[k] * f64::from(di[k]) + b[k]);
            let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: [f64; 3] = std::array::from_fn(|k| (z[k] - m).exp());
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

/// What `train` produces: the model file bytes and what was measured on the way.
pub struct Trained {
    pub meta: ModelMeta,
    pub entries: Vec<Entry>,
    pub model: SentimentModel,
    /// Cross-validated (out-of-fold) predictions on the training data, in input order.
    pub oof_predictions: Vec<SentimentLabel>,
}

/// Train a model. `summary` is stored verbatim in the model header (data fingerprint, dev metrics...).
pub fn train(
    posts: &[LabelledPost],
    cfg: &TrainConfig,
    summary: serde_json::Value,
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

    // Out-of-fold decision values for calibration. IDF is label-free and comes from all rows; the NB
    // ratios and SVMs see only the training folds.
    let folds = cfg.calibration_folds.max(2);
    // One progress line per fit: training takes seconds to minutes and is otherwise silent.
    let progress = |step: usize, what: &str| {
        tracing::info!(
            step = %format_args!("{step}/{}", folds + 1),
            elapsed = %format_args!("{:.1}s", started.elapsed().as_secs_f64()),
            "Training: {what}."
        );
    };
    progress(0, &format!("features of {} posts counted", posts.len()));
    let mut order = all.clone();
    fastrand::Rng::with_seed(cfg.seed).shuffle(&mut order);
    let mut oof = vec![[0.0f32; 3]; all.len()];
    for f in 0..folds {
        let (held, fit_rows): (Vec<usize>, Vec<usize>) = {
            let mut h = Vec::new();
            let mut t = Vec::new();
            for (pos, &r) in order.iter().enumerate() {
                if pos % folds == f {
                    h.push(r)
                } else {
                    t.push(r)
                }
            }
            (h, t)
        };
        let x = counts.tfidf(&fit_rows, &idf, &cfg.features);
        let yf: Vec<usize> = fit_rows.iter().map(|&r| y[r]).collect();
        let ovr = fit_ovr(&x, &yf, cfg)?;
        let xh = counts.tfidf(&held, &idf, &cfg.features);
        for (i, &r) in held.iter().enumerate() {
            oof[r] = ovr.decisions(&xh, i);
        }
        tracing::debug!(fold = f, epochs = ?ovr.epochs, "Trained calibration fold.");
        progress(
            f + 1,
            &format!("calibration fold {} of {folds} fitted", f + 1),
        );
    }
    let calibration = fit_calibration(&oof, &y);
    let oof_predictions: Vec<SentimentLabel> = oof
        .iter()
        .map(|&d| CLASSES[argmax(softmax(d, &calibration))])
        .collect();

    let x = counts.tfidf(&all, &idf, &cfg.features);
    let ovr = fit_ovr(&x, &y, cfg)?;
    tracing::debug!(epochs = ?ovr.epochs, "Trained the final model.");
    progress(folds + 1, "final model fitted");

    let entries: Vec<Entry> = (0..counts.ncols)
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
        "features_kept": entries.len(),
        "epochs": ovr.epochs,
        "cross_validated": {
            "folds": folds,
            "accuracy": oof_metrics.accuracy,
            "macro_f1": oof_metrics.macro_f1,
        },
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
        let folds = cfg.calibration_folds.max(2);
        assert!(text.contains("features of 30 posts counted"), "{text}");
        assert!(
            text.contains(&format!("calibration fold {folds} of {folds} fitted")),
            "{text}"
        );
        assert!(
            text.contains(&format!("step={}/{}", folds + 1, folds + 1)),
            "{text}"
        );
        assert!(text.contains("final model fitted"), "{text}");
    }
}
