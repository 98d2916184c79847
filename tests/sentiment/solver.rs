//! The production solver (dual coordinate descent over sparse rows) against linfa-svm's SMO on the same
//! small dense problem, and training determinism.

use coinpulse::model::SentimentLabel;
use coinpulse::sentiment::data::LabelledPost;
use coinpulse::sentiment::dcd::{DcdParams, Loss};
use coinpulse::sentiment::sparse::SparseRows;
use coinpulse::sentiment::train::{TrainConfig, train, train_with_threads};
use linfa::prelude::*;
use linfa_svm::Svm;
use ndarray::{Array1, Array2};

/// Two overlapping Gaussian-ish clouds in 8 dimensions, separable only up to noise. The hyperplane goes
/// through the origin.
fn problem(n: usize, seed: u64) -> (Array2<f64>, Array1<bool>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let d = 8;
    let truth: Vec<f64> = (0..d).map(|k| 1.0 - 0.2 * k as f64).collect();
    let mut x = Array2::zeros((n, d));
    let mut y = Array1::from_elem(n, false);
    for i in 0..n {
        let mut s = 0.0;
        for k in 0..d {
            let v = rng.f64() * 2.0 - 1.0;
            x[(i, k)] = v;
            s += v * truth[k];
        }
        y[i] = s + (rng.f64() - 0.5) * 0.6 > 0.0;
    }
    (x, y)
}

#[test]
fn dual_coordinate_descent_agrees_with_linfa_svm() {
    let (x, y) = problem(400, 7);
    let (xt, yt) = (
        x.slice(ndarray::s![..300, ..]).to_owned(),
        y.slice(ndarray::s![..300]).to_owned(),
    );
    let xh = x.slice(ndarray::s![300.., ..]).to_owned();
    let c = 1.0;

    let reference = Svm::<f64, bool>::params()
        .pos_neg_weights(c, c)
        .linear_kernel()
        .fit(&DatasetBase::new(xt.clone(), yt.clone()))
        .expect("linfa-svm fits");
    let ours = DcdParams::new()
        .c(c)
        .loss(Loss::Hinge)
        .eps(1e-6)
        .max_epochs(20_000)
        // A large constant feature makes the regularisation of the bias negligible, as in libsvm.
        .bias(10.0)
        .fit(&DatasetBase::new(
            SparseRows::from_dense(xt.view()),
            yt.clone(),
        ))
        .expect("dual coordinate descent fits");

    let sparse_h = SparseRows::from_dense(xh.view());
    let mut same = 0;
    let mut max_diff = 0.0f64;
    let mut max_abs = 0.0f64;
    for (i, row) in xh.rows().into_iter().enumerate() {
        let theirs = reference.weighted_sum(&row) - reference.rho;
        let (idx, val) = sparse_h.row(i);
        let mine = ours.decision(idx, val);
        if (theirs > 0.0) == (mine > 0.0) {
            same += 1;
        }
        max_diff = max_diff.max((theirs - mine).abs());
        max_abs = max_abs.max(theirs.abs());
    }
    let agreement = same as f64 / xh.nrows() as f64;
    eprintln!(
        "agreement {agreement}, max decision difference {max_diff}, rho {}, ours b {}",
        reference.rho, ours.b
    );
    assert!(
        agreement >= 0.99,
        "labels agree on {agreement:.3} of held-out rows"
    );
    assert!(
        max_diff <= 0.01 * max_abs.max(1.0),
        "decision values differ by up to {max_diff:.4} (largest |decision| {max_abs:.3}); bias {}",
        reference.rho
    );
}

fn small_corpus() -> Vec<LabelledPost> {
    let mut rng = fastrand::Rng::with_seed(3);
    let pos = ["moon", "bullish", "pump", "love", "great", "🚀", "buy"];
    let neg = ["dump", "bearish", "scam", "hate", "awful", "rekt", "sell"];
    let neu = [
        "price", "today", "report", "chart", "volume", "update", "market",
    ];
    (0..240)
        .map(|i| {
            let (words, label) = match i % 3 {
                0 => (&pos, SentimentLabel::Positive),
                1 => (&neg, SentimentLabel::Negative),
                _ => (&neu, SentimentLabel::Neutral),
            };
            let mut text = String::from("$BTC");
            for _ in 0..4 {
                text.push(' ');
                let pool = if rng.u8(0..4) == 0 { &neu } else { words };
                text.push_str(pool[rng.usize(0..pool.len())]);
            }
            LabelledPost {
                text,
                label,
                source: "synthetic".into(),
            }
        })
        .collect()
}

fn small_config() -> TrainConfig {
    let mut cfg = TrainConfig::default();
    cfg.features.hash_bits = 14;
    cfg
}

#[test]
fn training_is_deterministic_and_learns() {
    let posts = small_corpus();
    let a = train(&posts, &small_config(), serde_json::json!({})).expect("trains");
    let b = train(&posts, &small_config(), serde_json::json!({})).expect("trains");
    let (ba, bb) = (a.to_bytes().unwrap(), b.to_bytes().unwrap());
    assert_eq!(ba, bb, "same data and seed give the same model file");
    assert_eq!(a.model.version(), b.model.version());

    let mut other = small_config();
    other.seed = 43;
    let c = train(&posts, &other, serde_json::json!({})).expect("trains");
    assert_ne!(
        c.model.version(),
        a.model.version(),
        "the seed changes the model"
    );

    let s = a.model.score("$ETH moon bullish love 🚀");
    assert_eq!(s.label, SentimentLabel::Positive);
    assert!(s.score > 0.0 && s.score <= 1.0, "{s:?}");
    let s = a.model.score("what a scam, dump it, rekt");
    assert_eq!(s.label, SentimentLabel::Negative);
    assert!(s.score < 0.0 && s.score >= -1.0, "{s:?}");

    // The bytes load back into the same model.
    let loaded = coinpulse::sentiment::SentimentModel::from_bytes(&ba).expect("loads");
    for p in &posts[..20] {
        assert_eq!(loaded.score(&p.text), a.model.score(&p.text));
    }
}

/// Training on real rows of both kinds (three-class train.csv and the polarity-only crypto posts) with a
/// source-weight search writes the same bytes twice, on one thread and on three: the weight search,
/// the neutral shift and the calibration are deterministic too, and so is sharing the fits between
/// threads. A slice of each file keeps it quick; the shipped model's full command is checked the same
/// way by hand (README, Sentiment).
#[test]
fn training_with_crypto_rows_and_a_weight_search_is_deterministic() {
    let read = |f: &str| {
        coinpulse::sentiment::data::read_labelled(&coinpulse::shared::file(f))
            .expect("labelled CSV reads")
    };
    let mut posts: Vec<LabelledPost> = read("data/sentiment/train.csv")
        .into_iter()
        .step_by(20)
        .collect();
    posts.extend(
        read("data/sentiment/crypto/crypto_train.csv")
            .into_iter()
            .step_by(5),
    );
    let mut cfg = small_config();
    cfg.source_weights
        .insert("stocktwits_eth_tianyhe".into(), vec![1.0, 2.0]);
    let a = train_with_threads(&posts, &cfg, serde_json::json!({}), 1).expect("trains");
    let b = train_with_threads(&posts, &cfg, serde_json::json!({}), 3).expect("trains");
    assert_eq!(a.to_bytes().unwrap(), b.to_bytes().unwrap());
    let t = &a.meta.training;
    assert_eq!(
        t["source_weight_search"].as_array().map(Vec::len),
        Some(2),
        "{t}"
    );
    assert!(
        t["polarity_only_sources"]
            .as_array()
            .unwrap()
            .contains(&"stocktwits_eth_tianyhe".into()),
        "{t}"
    );
}
