//! The shipped model: quality on the dev set, the library API, explanations, and the `score` stream
//! with malformed input.

use coinpulse::model::SentimentLabel;
use coinpulse::sentiment::cli::{MAX_LINE, score_stream};
use coinpulse::sentiment::data::read_labelled;
use coinpulse::sentiment::eval::metrics;
use coinpulse::sentiment::{ModelError, Scratch, SentimentModel};

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn shipped_model_keeps_its_dev_quality() {
    assert_send_sync::<SentimentModel>();
    let model = SentimentModel::builtin().expect("the built-in model loads");
    assert!(
        model.version().starts_with("svm-nb-"),
        "{}",
        model.version()
    );
    let rows =
        read_labelled(&coinpulse::shared::file("data/sentiment/dev.csv")).expect("dev.csv reads");
    let mut scratch = Scratch::new();
    let mut predicted = Vec::with_capacity(rows.len());
    for r in &rows {
        let s = model.score_with(&r.text, &mut scratch);
        assert!((-1.0..=1.0).contains(&s.score), "{s:?}");
        // The label is the most probable class, so its sign agrees with the score.
        match s.label {
            SentimentLabel::Positive => assert!(s.score >= 0.0, "{s:?}"),
            SentimentLabel::Negative => assert!(s.score <= 0.0, "{s:?}"),
            SentimentLabel::Neutral => {}
        }
        predicted.push(s.label);
    }
    // A scratch that has seen every post (token buffers, counter and word cache warm) scores like a
    // fresh one, bit for bit.
    for r in rows.iter().step_by(50) {
        assert_eq!(
            model.decisions_with(&r.text, &mut scratch),
            model.decisions_with(&r.text, &mut Scratch::new()),
            "{:?}",
            r.text
        );
    }
    let truth: Vec<_> = rows.iter().map(|r| r.label).collect();
    let m = metrics(&predicted, &truth);
    // Measured: macro-F1 0.7212, accuracy 0.7235 (the model trained on train.csv alone: 0.7280,
    // 0.7337; the crypto rows cost general posts a little).
    assert!(m.macro_f1 >= 0.72, "dev macro-F1 {:.4}", m.macro_f1);
    assert!(m.accuracy >= 0.72, "dev accuracy {:.4}", m.accuracy);
}

/// Crypto posts whose authors tagged them bullish or bearish: two classes, so a neutral label counts
/// as wrong. Measured 0.8078 (the model trained without crypto data: 0.5845). The target is 0.83;
/// this floor sits under what the shipped model reaches, not at the target.
#[test]
fn shipped_model_reads_the_stance_of_crypto_posts() {
    let model = SentimentModel::builtin().unwrap();
    let rows = read_labelled(&coinpulse::shared::file(
        "data/sentiment/crypto/crypto_dev.csv",
    ))
    .expect("crypto_dev.csv reads");
    assert_eq!(rows.len(), 1_254);
    assert!(rows.iter().all(|r| r.label != SentimentLabel::Neutral));
    let mut scratch = Scratch::new();
    let predicted: Vec<_> = rows
        .iter()
        .map(|r| model.score_with(&r.text, &mut scratch).label)
        .collect();
    let right = predicted
        .iter()
        .zip(&rows)
        .filter(|(p, r)| **p == r.label)
        .count();
    let accuracy = right as f32 / rows.len() as f32;
    assert!(accuracy >= 0.80, "crypto_dev accuracy {accuracy:.4}");
    // A neutral label on a post that takes a side is the error the neutral prior is there to avoid
    // (35 of 1,254 measured; 268 before).
    let neutral = predicted
        .iter()
        .filter(|&&p| p == SentimentLabel::Neutral)
        .count();
    assert!(neutral <= 50, "{neutral} neutral labels");
}

/// A neutral label says which cue decided it, and the parts add up to the calibrated margin.
#[test]
fn explanations_name_the_cue_that_decided_neutral() {
    let model = SentimentModel::builtin().unwrap();
    let text = "Bitcoin price update at 10:00 UTC";
    assert_eq!(model.score(text).label, SentimentLabel::Neutral);
    let n = model.neutrality(text, 50).expect("neutral post");
    assert!(n.margin > 0.0, "{n:?}");
    assert!(!n.decided_by.is_empty());
    let top = n.cues.first().map_or(f32::NEG_INFINITY, |c| c.contribution);
    if n.decided_by == "<prior>" {
        assert!(n.prior >= top, "{n:?}");
    } else {
        assert_eq!(n.decided_by, n.cues[0].feature);
        assert!(top > n.prior, "{n:?}");
    }
    for c in &n.cues {
        assert!(c.contribution > 0.0 && (c.contribution - c.value * c.weight).abs() < 1e-6);
    }
    // A polar post has no neutrality to explain.
    assert!(
        model
            .neutrality("$BTC to the moon, so bullish 🚀", 5)
            .is_none()
    );
}

/// Crypto slang that none of the labelled training sources teaches, read through the slang lexicon's
/// cues. (VADER rates none of these words; a model without the slang list calls most of them neutral.)
#[test]
fn shipped_model_reads_crypto_slang() {
    let model = SentimentModel::builtin().unwrap();
    let cases = [
        ("ngmi", SentimentLabel::Negative),
        ("got rekt again", SentimentLabel::Negative),
        ("rugged", SentimentLabel::Negative),
        (
            "another rugpull, devs drained the pool",
            SentimentLabel::Negative,
        ),
        ("liquidated", SentimentLabel::Negative),
        ("capitulation", SentimentLabel::Negative),
        ("mooning now", SentimentLabel::Positive),
        ("LFG $SOL", SentimentLabel::Positive),
        ("$BTC to the moon 🚀", SentimentLabel::Positive),
    ];
    let wrong: Vec<_> = cases
        .iter()
        .map(|&(text, want)| (text, want, model.score(text)))
        .filter(|(_, want, got)| got.label != *want)
        .collect();
    assert!(wrong.is_empty(), "{wrong:?}");
}

#[test]
fn config_and_file_loading() {
    let builtin = SentimentModel::builtin().unwrap();
    let cfg = coinpulse::config::SentimentConfig::default();
    assert_eq!(
        SentimentModel::from_config(&cfg).unwrap().version(),
        builtin.version()
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.bin");
    std::fs::write(&path, b"not a model").unwrap();
    assert!(matches!(
        SentimentModel::load(&path),
        Err(ModelError::BadMagic)
    ));
    let missing = dir.path().join("missing.bin");
    let err = SentimentModel::load(&missing).unwrap_err();
    assert!(err.to_string().contains("missing.bin"), "{err}");
    // Truncations anywhere are errors, never panics.
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/sentiment-model.bin"
    ))
    .unwrap();
    for cut in [9, 12, 40, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            SentimentModel::from_bytes(&bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
}

#[test]
fn explanations_are_exact_contributions() {
    let model = SentimentModel::builtin().unwrap();
    let (score, features) = model.explain("not good at all, $BTC is dumping hard 📉", 5);
    assert_eq!(
        score,
        model.score("not good at all, $BTC is dumping hard 📉")
    );
    assert!(!features.is_empty() && features.len() <= 5);
    for f in &features {
        assert!((f.contribution - f.value * f.weight).abs() < 1e-6, "{f:?}");
        assert!(
            !f.feature.starts_with('#'),
            "feature string recorded: {f:?}"
        );
    }
    for w in features.windows(2) {
        assert!(w[0].contribution.abs() >= w[1].contribution.abs());
    }
    // A lexicon cue names the words that fired it.
    let (_, features) = model.explain("got rekt again, ngmi", 1);
    assert_eq!(features[0].feature, "<lex-->:rekt | <lex-->:ngmi");
}

fn run(input: &[u8]) -> Vec<serde_json::Value> {
    let model = SentimentModel::builtin().unwrap();
    let mut out = Vec::new();
    score_stream(&model, input, &mut out, None).expect("in-memory I/O does not fail");
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every output line is JSON"))
        .collect()
}

#[test]
fn score_stream_reports_bad_lines_and_keeps_going() {
    let mut input = Vec::new();
    input.extend_from_slice(b"$BTC to the moon, so bullish\n");
    input.extend_from_slice(b"\n");
    input.extend_from_slice(b"{\"id\": \"a1\", \"text\": \"terrible scam, sold everything\"}\n");
    input.extend_from_slice(b"{\"id\": 5, \"text\": \n");
    input.extend_from_slice(&vec![b'x'; 1 << 20]);
    input.extend_from_slice(b"\n");
    input.extend_from_slice(b"{\"id\": 9}\n");
    input.extend_from_slice(b"\xff\xfe bad utf8\n");
    input.extend_from_slice(b"last line without newline");
    let out = run(&input);
    assert_eq!(out.len(), 8, "{out:?}");
    assert_eq!(out[0]["id"], 1);
    assert_eq!(out[0]["label"], "positive");
    assert_eq!(out[1]["error"], "empty line");
    assert_eq!(out[1]["line"], 2);
    assert_eq!(out[2]["id"], "a1");
    assert_eq!(out[2]["label"], "negative");
    assert!(
        out[3]["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON"),
        "{}",
        out[3]
    );
    assert_eq!(
        out[4]["error"],
        format!("line is longer than {MAX_LINE} bytes")
    );
    assert_eq!(out[4]["line"], 5);
    assert!(
        out[5]["error"].as_str().unwrap().contains("`text`"),
        "{}",
        out[5]
    );
    assert!(
        out[6]["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid UTF-8"),
        "{}",
        out[6]
    );
    assert_eq!(out[7]["id"], 8);
    let s = out[7]["score"].as_f64().unwrap();
    assert!((-1.0..=1.0).contains(&s));
}

#[test]
fn explain_names_the_class_its_contributions_push_toward() {
    let model = SentimentModel::builtin().unwrap();
    let mut out = Vec::new();
    score_stream(
        &model,
        &b"terrible scam, sold everything\n"[..],
        &mut out,
        Some(3),
    )
    .unwrap();
    let line: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(line["label"], "negative");
    assert_eq!(line["features_toward"], line["label"]);
    assert!(!line["features"].as_array().unwrap().is_empty(), "{line}");
}

/// The cue report over the crypto training posts: its counts equal a recount by splitting each post
/// into words, its effect is the mean score change from removing the cue, and the shipped model
/// listens to the slang the data shows most clearly (each cue below is in at least 9 posts, nearly
/// all bearish against a three-quarters bullish set).
#[test]
fn cue_report_counts_and_effects_match_a_recount() {
    use coinpulse::sentiment::cues::{measure, remove};
    let model = SentimentModel::builtin().expect("the built-in model loads");
    let posts = read_labelled(&coinpulse::shared::file(
        "data/sentiment/crypto/crypto_train.csv",
    ))
    .expect("crypto_train.csv reads");
    let cues: Vec<(String, Option<f32>)> = ["ponzi", "rug", "selloff", "dump", "bullish", "lfg"]
        .iter()
        .map(|c| (c.to_string(), None))
        .collect();
    let measured = measure(&model, &posts.iter().collect::<Vec<_>>(), &cues);
    for (report, (cue, _)) in measured.iter().zip(&cues) {
        let with: Vec<_> = posts
            .iter()
            .filter(|p| {
                p.text
                    .to_lowercase()
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .any(|w| w == cue)
            })
            .collect();
        let by = |l| with.iter().filter(|p| p.label == l).count();
        assert_eq!(
            (report.negative, report.neutral, report.positive),
            (
                by(SentimentLabel::Negative),
                0,
                by(SentimentLabel::Positive)
            ),
            "{cue}"
        );
        assert!(with.len() >= 4, "{cue}: {}", with.len());
        let effect = with
            .iter()
            .map(|p| {
                f64::from(model.score(&p.text).score - model.score(&remove(&p.text, cue)).score)
            })
            .sum::<f64>()
            / with.len() as f64;
        let got = report.effect.expect("posts with the cue");
        assert!((got - effect).abs() < 1e-6, "{cue}: {got} against {effect}");
        let lean = report.lean.expect("posts with the cue");
        let bearish = ["ponzi", "rug", "selloff", "dump"].contains(&cue.as_str());
        assert_eq!(lean < 0.0, bearish, "{cue}: lean {lean}");
        assert_eq!(got < 0.0, bearish, "{cue}: effect {got}");
    }
}
