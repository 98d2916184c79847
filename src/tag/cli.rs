//! `coinpulse tag` and `coinpulse eval-tagger`.
//!
//! `tag` is a filter: one post per input line (plain text, or JSON `{"id": ..., "text": ...}`), one JSON
//! line per post out. Stdin and stdout are locked once and buffered, and each post reuses one mention
//! buffer, so the process costs little more than the tagging itself. A bad line produces an error
//! object on its own output line (`{"id": <line>, "error": "..."}`) and the stream goes on.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;

use super::Tagger;
use super::eval::{EvalReport, evaluate, read_gold};
use crate::config::Config;
use crate::model::Mention;

#[derive(Debug, clap::Args)]
pub struct TagArgs {
    /// A CSV or JSON asset list replacing the configured or built-in registry.
    #[arg(long)]
    pub assets: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct EvalTaggerArgs {
    /// Gold file in the format of shared/data/tagging/dev.jsonl.
    #[arg(long)]
    pub gold: PathBuf,
    /// A CSV or JSON asset list replacing the configured or built-in registry.
    #[arg(long)]
    pub assets: Option<PathBuf>,
    /// How many of the worst false positives and negatives to list.
    #[arg(long, default_value_t = 15)]
    pub worst: usize,
}

fn load(assets: Option<&PathBuf>, config: &Config) -> anyhow::Result<Tagger> {
    let tagger = match assets {
        Some(path) => Tagger::from_file(path),
        None => Tagger::from_config(&config.tagger),
    };
    tagger.context("cannot load the tagger")
}

#[derive(Serialize)]
struct Output<'a> {
    id: &'a serde_json::Value,
    mentions: &'a [Mention],
}

#[derive(serde::Deserialize)]
struct Input {
    id: serde_json::Value,
    text: String,
}

pub fn tag(args: TagArgs, config: &Config) -> anyhow::Result<()> {
    let tagger = load(args.assets.as_ref(), config)?;
    let stdin = std::io::stdin().lock();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut mentions = Vec::new();
    let mut errors = 0usize;
    for (i, line) in stdin.lines().enumerate() {
        let number = i + 1;
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                errors += 1;
                let msg = format!("line {number}: cannot read: {e}");
                serde_json::to_writer(&mut out, &serde_json::json!({"id": number, "error": msg}))?;
                out.write_all(b"\n")?;
                continue;
            }
        };
        let (id, text) = if line.trim_start().starts_with('{') {
            match serde_json::from_str::<Input>(&line) {
                Ok(input) => (input.id, input.text),
                Err(e) => {
                    errors += 1;
                    let msg = format!("line {number}: not a {{\"id\", \"text\"}} JSON object: {e}");
                    serde_json::to_writer(
                        &mut out,
                        &serde_json::json!({"id": number, "error": msg}),
                    )?;
                    out.write_all(b"\n")?;
                    continue;
                }
            }
        } else {
            (serde_json::Value::from(number), line)
        };
        tagger.tag_into(&text, &mut mentions);
        serde_json::to_writer(
            &mut out,
            &Output {
                id: &id,
                mentions: &mentions,
            },
        )?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    if errors > 0 {
        tracing::warn!(errors, "Some input lines could not be tagged.");
    }
    Ok(())
}

pub fn eval_tagger(args: EvalTaggerArgs, config: &Config) -> anyhow::Result<()> {
    let tagger = load(args.assets.as_ref(), config)?;
    let gold = read_gold(&args.gold)?;
    let report = evaluate(&tagger, &gold);
    print!("{}", render(&report, args.worst));
    Ok(())
}

/// The human-readable evaluation report.
pub fn render(r: &EvalReport, worst: usize) -> String {
    let mut s = format!(
        "posts {} (ambiguous left out: {})\nprecision {:.3}  recall {:.3}  F1 {:.3}  (tp {}, fp {}, fn {})\n\
         no-coin posts with no prediction: {}/{}\n",
        r.posts,
        r.skipped_ambiguous,
        r.precision(),
        r.recall(),
        r.f1(),
        r.true_positives,
        r.false_positives,
        r.false_negatives,
        r.no_coin_clean,
        r.no_coin_posts
    );
    for (title, map) in [
        ("false positives", &r.fp_by_asset),
        ("false negatives", &r.fn_by_asset),
    ] {
        s.push_str(&format!("worst {title}:\n"));
        for (asset, n, ids) in EvalReport::worst(map, worst) {
            s.push_str(&format!("  {n:>3}  {asset:<28} e.g. {}\n", ids.join(", ")));
        }
    }
    s
}
