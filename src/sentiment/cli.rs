//! `coinpulse score`, `coinpulse train` and `coinpulse eval-sentiment`.
//!
//! `score` is a filter: one post per input line (plain text, or JSON `{"id": ..., "text": ...}`), one
//! JSON object per output line, in order. A bad line (empty, invalid JSON, no `text`, invalid UTF-8,
//! longer than [`MAX_LINE`]) produces `{"id": <line number>, "line": n, "error": "..."}` in its place
//! and the stream goes on. With `--explain`, a post labelled neutral also gets `neutral`: the cue
//! that decided it (`<prior>` when no feature outweighed the neutral prior: no opinion found).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

use super::data::{file_fingerprint, read_labelled};
use super::eval::report;
use super::model::{Scratch, SentimentModel};
use super::train::{TrainConfig, train as train_model};
use crate::config::Config;

/// Longest accepted input line in bytes; longer lines are reported and skipped.
pub const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    /// Model file (default: `sentiment.model_file` from the config, else the built-in model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Add the features that weighed most in the decision for the predicted class (value × weight;
    /// a positive contribution pushed toward that class, a negative one away from it). The output
    /// names the class as `features_toward`.
    #[arg(long)]
    pub explain: bool,
    /// How many features `--explain` lists.
    #[arg(long, default_value_t = 8)]
    pub top: usize,
}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Labelled CSV with columns text,label[,source]; repeat to train on several files.
    #[arg(long, required = true)]
    pub data: Vec<PathBuf>,
    /// Labelled CSV to report metrics on (stored in the model file too); repeatable.
    #[arg(long)]
    pub dev: Vec<PathBuf>,
    /// `SOURCE=W[,W...]`: multiply C for that source's rows by W; with several candidates, the
    /// weight is chosen by cross-validation on the training data. Repeatable.
    #[arg(long, value_parser = parse_source_weight)]
    pub source_weight: Vec<(String, Vec<f64>)>,
    /// Where to write the model file.
    #[arg(long)]
    pub out: PathBuf,
    /// SVM regularisation C.
    #[arg(long)]
    pub c: Option<f64>,
    /// Seed for the coordinate order and the calibration folds.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Train plain SVMs without the NB lexicon scaling.
    #[arg(long)]
    pub no_nb: bool,
    /// Smoothing of the NB lexicon ratios.
    #[arg(long)]
    pub nb_alpha: Option<f64>,
    /// Minimum number of training posts a feature must occur in.
    #[arg(long)]
    pub min_df: Option<u32>,
    /// Character n-gram range, e.g. `2-5`.
    #[arg(long, value_parser = parse_range)]
    pub char_ngrams: Option<(usize, usize)>,
    /// Weight of the character block relative to the word block.
    #[arg(long)]
    pub char_weight: Option<f32>,
    /// Hinge instead of squared hinge loss.
    #[arg(long)]
    pub hinge: bool,
    /// Leave out the VADER lexicon features.
    #[arg(long)]
    pub no_lexicon: bool,
}

fn parse_range(s: &str) -> Result<(usize, usize), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("expected MIN-MAX, got `{s}`"))?;
    let a: usize = a.parse().map_err(|e| format!("`{a}`: {e}"))?;
    let b: usize = b.parse().map_err(|e| format!("`{b}`: {e}"))?;
    if a == 0 || b < a {
        return Err(format!("bad range `{s}`"));
    }
    Ok((a, b))
}

fn parse_source_weight(s: &str) -> Result<(String, Vec<f64>), String> {
    let (source, weights) = s
        .split_once('=')
        .ok_or_else(|| format!("expected SOURCE=W[,W...], got `{s}`"))?;
    let weights = weights
        .split(',')
        .map(|w| match w.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
            _ => Err(format!("`{w}` is not a positive weight")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((source.trim().to_string(), weights))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupBy {
    Source,
    File,
}

#[derive(Debug, clap::Args)]
pub struct EvalSentimentArgs {
    /// Labelled CSV with columns text,label[,source]; repeat to evaluate several files together.
    #[arg(long, required = true)]
    pub data: Vec<PathBuf>,
    /// Model file (default: configured or built-in).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Only rows of this source (repeatable): e.g. the crypto rows alone.
    #[arg(long)]
    pub source: Vec<String>,
    /// Group the detailed numbers by source or by input file.
    #[arg(long, value_enum, default_value = "source")]
    pub by: GroupBy,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Instead of the class report, measure every crypto slang cue on the data: posts with it by
    /// label, how the labels lean, and the model's score change when it is removed.
    #[arg(long)]
    pub cues: bool,
    /// A further cue to measure, e.g. a phrase (repeatable; implies --cues).
    #[arg(long)]
    pub cue: Vec<String>,
}

fn load_model(path: Option<&Path>, config: &Config) -> anyhow::Result<SentimentModel> {
    Ok(match path {
        Some(p) => SentimentModel::load(p)
            .with_context(|| format!("loading sentiment model {}", p.display()))?,
        None => SentimentModel::from_config(&config.sentiment)
            .context("loading the configured sentiment model")?,
    })
}

pub fn score(args: ScoreArgs, config: &Config) -> anyhow::Result<()> {
    let model = load_model(args.model.as_deref(), config)?;
    let stdin = std::io::stdin().lock();
    let stdout = std::io::stdout().lock();
    let mut out = std::io::BufWriter::new(stdout);
    let errors = score_stream(&model, stdin, &mut out, args.explain.then_some(args.top))?;
    out.flush()?;
    crate::lines::warn_skipped(errors);
    Ok(())
}

/// One output line of `score`. The common line is written straight from its fields, without a JSON
/// map built and sorted per post.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Output<'a> {
    Scored {
        id: &'a serde_json::Value,
        label: crate::model::SentimentLabel,
        score: f64,
    },
    Other(serde_json::Value),
}

/// Score every line of `input` into `out`; returns how many lines were errors. I/O errors stop the
/// stream; bad lines do not (they are read and reported as `tag` does, see [`crate::lines`]).
pub fn score_stream(
    model: &SentimentModel,
    mut input: impl BufRead,
    out: &mut impl Write,
    explain: Option<usize>,
) -> std::io::Result<u64> {
    let mut scratch = Scratch::new();
    let mut line = Vec::new();
    let mut number = 0u64;
    let mut errors = 0u64;
    let version = model.version();
    loop {
        number += 1;
        let (eof, too_long) = read_capped_line(&mut input, &mut line)?;
        if eof && line.is_empty() {
            return Ok(errors);
        }
        let parsed = if too_long {
            Err(format!("line is longer than {MAX_LINE} bytes"))
        } else {
            crate::lines::parse(&line, number)
        };
        let value = match &parsed {
            Ok(inp) => match explain {
                None => {
                    let s = model.score_with(&inp.text, &mut scratch);
                    Output::Scored {
                        id: &inp.id,
                        label: s.label,
                        score: round3(s.score),
                    }
                }
                Some(top) => {
                    let (s, features) = model.explain(&inp.text, top);
                    let mut v = serde_json::json!({
                        "id": inp.id, "label": s.label, "score": round3(s.score),
                        "model": version, "features_toward": s.label, "features": features,
                    });
                    if let Some(n) = model.neutrality(&inp.text, top) {
                        v["neutral"] = serde_json::json!(n);
                    }
                    Output::Other(v)
                }
            },
            Err(error) => {
                errors += 1;
                Output::Other(crate::lines::error(number, error))
            }
        };
        serde_json::to_writer(&mut *out, &value)?;
        out.write_all(b"\n")?;
        if eof {
            return Ok(errors);
        }
    }
}

fn round3(x: f32) -> f64 {
    (f64::from(x) * 1000.0).round() / 1000.0
}

/// Read one line into `buf` (without keeping more than [`MAX_LINE`] bytes). Returns (eof, too_long).
pub(crate) fn read_capped_line(
    input: &mut impl BufRead,
    buf: &mut Vec<u8>,
) -> std::io::Result<(bool, bool)> {
    buf.clear();
    let mut too_long = false;
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            return Ok((true, too_long));
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            if buf.len() + take > MAX_LINE + 1 {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        input.consume(take);
        if done {
            return Ok((false, too_long));
        }
    }
}

pub fn train(args: TrainArgs, _config: &Config) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut posts = Vec::new();
    let mut data = Vec::new();
    for path in &args.data {
        posts.extend(read_labelled(path)?);
        data.push(serde_json::json!({
            "data": file_name(path),
            "data_fingerprint": file_fingerprint(path)?,
        }));
    }
    let mut cfg = TrainConfig::default();
    if let Some(c) = args.c {
        cfg.c = c;
    }
    if let Some(seed) = args.seed {
        cfg.seed = seed;
    }
    if let Some(a) = args.nb_alpha {
        cfg.nb_alpha = Some(a);
    }
    if args.no_nb {
        cfg.nb_alpha = None;
    }
    if let Some(m) = args.min_df {
        cfg.min_df = m;
    }
    if let Some((a, b)) = args.char_ngrams {
        cfg.features.char_min = a;
        cfg.features.char_max = b;
    }
    if let Some(w) = args.char_weight {
        cfg.features.char_weight = w;
    }
    if args.hinge {
        cfg.loss = super::dcd::Loss::Hinge;
    }
    if args.no_lexicon {
        cfg.features.lexicon = false;
    }
    cfg.source_weights = args.source_weight.into_iter().collect();
    let summary = serde_json::Value::from(data);
    let mut trained = train_model(&posts, &cfg, summary).context("training the sentiment model")?;
    let train_secs = started.elapsed().as_secs_f64();
    let t = &trained.meta.training;
    if let Some(table) = t["source_weight_search"].as_array() {
        println!("source weights, cross-validated on the training data:");
        for row in table {
            println!(
                "  {}  neutral shift {:+.2}  three-class macro-F1 {:.4}  polarity-only accuracy {:.4}  objective {:.4}",
                row["source_weights"],
                row["neutral_shift"].as_f64().unwrap_or(f64::NAN),
                row["score"]["three_class_macro_f1"]
                    .as_f64()
                    .unwrap_or(f64::NAN),
                row["score"]["polarity_accuracy"]
                    .as_f64()
                    .unwrap_or(f64::NAN),
                row["score"]["objective"].as_f64().unwrap_or(f64::NAN),
            );
        }
    }
    let cv = &t["cross_validated"];
    println!(
        "trained {} on {} rows in {:.1} s ({} features kept; source weights {}, polarity-only sources {}, neutral shift {:+.2}; {}-fold cross-validated accuracy {:.4}, macro-F1 {:.4}, three-class macro-F1 {:.4}, polarity-only accuracy {:.4})",
        trained.meta.version,
        posts.len(),
        train_secs,
        trained.entries.len(),
        t["source_weights"],
        t["polarity_only_sources"],
        t["neutral_shift"].as_f64().unwrap_or(f64::NAN),
        cv["folds"],
        cv["accuracy"].as_f64().unwrap_or(f64::NAN),
        cv["macro_f1"].as_f64().unwrap_or(f64::NAN),
        cv["three_class_macro_f1"].as_f64().unwrap_or(f64::NAN),
        cv["polarity_accuracy"].as_f64().unwrap_or(f64::NAN),
    );
    let mut dev_records = Vec::new();
    for dev in &args.dev {
        let rows = read_labelled(dev)?;
        let name = file_name(dev).unwrap_or_default();
        let rows: Vec<_> = rows.iter().map(|r| (name.as_str(), r)).collect();
        let rep = evaluate(&trained.model, &rows, GroupBy::Source);
        println!("\ndev ({}):\n{rep}", dev.display());
        dev_records.push(serde_json::json!({
            "data": file_name(dev),
            "data_fingerprint": file_fingerprint(dev)?,
            "accuracy": rep.overall.accuracy,
            "macro_f1": rep.overall.macro_f1,
            "sources": rep.groups.iter().map(|(s, m)| (s.clone(), serde_json::json!({
                "accuracy": m.accuracy, "macro_f1": m.macro_f1, "rows": m.n,
            }))).collect::<serde_json::Map<_, _>>(),
        }));
    }
    if !dev_records.is_empty() {
        trained.record("dev", dev_records.into());
    }
    let bytes = trained.to_bytes()?;
    std::fs::write(&args.out, &bytes)
        .with_context(|| format!("writing the model to {}", args.out.display()))?;
    println!("wrote {} ({} bytes)", args.out.display(), bytes.len());
    Ok(())
}

fn file_name(path: &Path) -> Option<String> {
    path.file_name().map(|f| f.to_string_lossy().into_owned())
}

/// Scores `rows` (each with the name of its file) and reports them, grouped `by` source or file.
fn evaluate(
    model: &SentimentModel,
    rows: &[(&str, &super::data::LabelledPost)],
    by: GroupBy,
) -> super::eval::Report {
    let mut scratch = Scratch::new();
    let predicted: Vec<_> = rows
        .iter()
        .map(|(_, r)| model.score_with(&r.text, &mut scratch).label)
        .collect();
    let truth: Vec<_> = rows.iter().map(|(_, r)| r.label).collect();
    let groups: Vec<&str> = rows
        .iter()
        .map(|(file, r)| match by {
            GroupBy::Source => r.source.as_str(),
            GroupBy::File => file,
        })
        .collect();
    let by = match by {
        GroupBy::Source => "source",
        GroupBy::File => "file",
    };
    report(&predicted, &truth, &groups, by)
}

pub fn eval_sentiment(args: EvalSentimentArgs, config: &Config) -> anyhow::Result<()> {
    let model = load_model(args.model.as_deref(), config)?;
    let mut all = Vec::new();
    for path in &args.data {
        let rows = read_labelled(path)?;
        let name = file_name(path).unwrap_or_default();
        all.extend(rows.into_iter().map(|r| (name.clone(), r)));
    }
    let rows: Vec<(&str, &super::data::LabelledPost)> = all
        .iter()
        .filter(|(_, r)| args.source.is_empty() || args.source.contains(&r.source))
        .map(|(file, r)| (file.as_str(), r))
        .collect();
    if rows.is_empty() {
        anyhow::bail!("no rows of the sources {:?} in the data", args.source);
    }
    // What every JSON answer starts with; the cue or class report goes under its own key.
    let json_header = || {
        serde_json::json!({
            "model": model.version(),
            "data": args.data.iter().map(|p| file_name(p)).collect::<Vec<_>>(),
            "sources": args.source,
        })
    };
    if args.cues || !args.cue.is_empty() {
        let posts: Vec<_> = rows.iter().map(|&(_, r)| r).collect();
        let mut cues: Vec<(String, Option<f32>)> = super::lexicon::slang()
            .into_iter()
            .map(|(cue, rating)| (cue, Some(rating)))
            .collect();
        cues.extend(args.cue.iter().map(|c| (c.clone(), None)));
        let measured = super::cues::measure(&model, &posts, &cues);
        if args.json {
            let mut value = json_header();
            value["rows"] = posts.len().into();
            value["cues"] = serde_json::to_value(&measured)?;
            println!("{}", serde_json::to_string_pretty(&value)?);
        } else {
            println!("model {}  rows {}\n", model.version(), posts.len());
            print!("{}", super::cues::CueTable(&measured));
        }
        return Ok(());
    }
    let rep = evaluate(&model, &rows, args.by);
    if args.json {
        let mut value = json_header();
        value["report"] = serde_json::to_value(&rep)?;
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        let files: Vec<String> = args.data.iter().map(|p| p.display().to_string()).collect();
        println!("model {}  data {}\n", model.version(), files.join(", "));
        print!("{rep}");
    }
    Ok(())
}
