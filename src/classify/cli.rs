//! `coinpulse classify` and `coinpulse eval-classify`.
//!
//! `classify` is a filter like `tag` and `score`: one post per input line, JSON
//! `{"id", "text", "author", "platform", "created_at"}` (only `id` and `text` are required; a missing
//! `created_at` is the time the line is read) or plain text, processed in order so near-duplicate and
//! author signals see the stream. One `{"id", "class", "reasons"}` line out per post (`--explain` adds
//! the `features`). A bad line gives `{"id": <line number>, "error": "..."}` in its place and the stream
//! goes on.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use chrono::Utc;
use serde::Deserialize;

use super::eval::{Confusion, classify_gold, keyword_baseline, read_context, read_gold};
use super::{Classifier, PostClass};
use crate::config::Config;
use crate::import::formats::parse_time;
use crate::model::Platform;

/// Longest accepted input line in bytes; longer lines are reported and skipped.
pub const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, clap::Args)]
pub struct ClassifyArgs {
    /// Add the measurements behind the decision (tag counts, words, near-duplicates seen).
    #[arg(long)]
    pub explain: bool,
}

#[derive(Debug, clap::Args)]
pub struct EvalClassifyArgs {
    /// Labelled JSON lines in the format of shared/data/spam/dev.jsonl.
    #[arg(long)]
    pub gold: PathBuf,
    /// Corpora streamed first, each in time order, so near-duplicate signals see what production
    /// sees (CSV with post_id, created_at_utc, text[, author, title], or JSON lines). Repeatable.
    #[arg(long)]
    pub context: Vec<PathBuf>,
    /// List the gold posts whose human/not-human decision is wrong.
    #[arg(long)]
    pub errors: bool,
}

#[derive(Deserialize)]
struct Input {
    id: serde_json::Value,
    text: String,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    platform: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
}

pub fn classify(args: ClassifyArgs, config: &Config) -> anyhow::Result<()> {
    let mut classifier = Classifier::new(&config.classify);
    let stdin = std::io::BufReader::with_capacity(1 << 20, std::io::stdin().lock());
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let errors = classify_stream(&mut classifier, stdin, &mut out, args.explain)?;
    out.flush()?;
    if errors > 0 {
        tracing::warn!(errors, "Some input lines could not be classified.");
    }
    Ok(())
}

/// Classifies every line of `input` into `out`; returns how many lines were errors. Only writing fails.
pub fn classify_stream(
    classifier: &mut Classifier,
    mut input: impl BufRead,
    out: &mut impl Write,
    explain: bool,
) -> std::io::Result<usize> {
    let mut errors = 0;
    let mut line = Vec::new();
    for number in 1usize.. {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                write_error(out, number, &format!("cannot read: {e}"))?;
                errors += 1;
                break;
            }
        }
        match classify_line(classifier, &line, number, explain) {
            Ok(value) => serde_json::to_writer(&mut *out, &value)?,
            Err(msg) => {
                errors += 1;
                write_error(out, number, &msg)?;
                continue;
            }
        }
        out.write_all(b"\n")?;
    }
    Ok(errors)
}

fn classify_line(
    classifier: &mut Classifier,
    line: &[u8],
    number: usize,
    explain: bool,
) -> Result<serde_json::Value, String> {
    if line.len() > MAX_LINE {
        return Err(format!("line {number}: longer than {MAX_LINE} bytes"));
    }
    let text = std::str::from_utf8(line)
        .map_err(|_| format!("line {number}: not valid UTF-8"))?
        .trim_end_matches(['\n', '\r']);
    if text.trim().is_empty() {
        return Err(format!("line {number}: empty"));
    }
    let input = if text.trim_start().starts_with('{') {
        serde_json::from_str::<Input>(text).map_err(|e| {
            format!("line {number}: not a {{\"id\", \"text\", ...}} JSON object: {e}")
        })?
    } else {
        Input {
            id: number.into(),
            text: text.to_string(),
            author: None,
            platform: None,
            created_at: None,
        }
    };
    if let Some(p) = &input.platform {
        p.parse::<Platform>()
            .map_err(|e| format!("line {number}: field `platform`: {e}"))?;
    }
    let at = match &input.created_at {
        Some(t) => parse_time(t).map_err(|e| format!("line {number}: field `created_at`: {e}"))?,
        None => Utc::now(),
    };
    let author = input.author.as_deref().filter(|a| !a.trim().is_empty());
    let (c, features) = classifier.classify_text(&input.text, author, at);
    let mut value = serde_json::json!({
        "id": input.id,
        "class": c.class,
        "reasons": c.reasons,
    });
    if explain {
        value["features"] = serde_json::to_value(&features).expect("features serialise");
    }
    Ok(value)
}

fn write_error(out: &mut impl Write, number: usize, msg: &str) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, &serde_json::json!({"id": number, "error": msg}))?;
    out.write_all(b"\n")
}

pub fn eval_classify(args: EvalClassifyArgs, config: &Config) -> anyhow::Result<()> {
    let gold = read_gold(&args.gold)?;
    let mut context = Vec::new();
    for path in &args.context {
        context.push(read_context(path)?);
    }
    let predicted = classify_gold(&config.classify, &gold, &context).map_err(anyhow::Error::msg)?;
    let mut ours = Confusion::default();
    let mut baseline = Confusion::default();
    let mut by_platform: std::collections::BTreeMap<&str, Confusion> = Default::default();
    for (g, (p, reasons)) in gold.iter().zip(&predicted) {
        ours.add(g.class, *p);
        baseline.add(g.class, keyword_baseline(&g.text));
        by_platform
            .entry(g.platform.as_str())
            .or_default()
            .add(g.class, *p);
        if args.errors && (g.class == PostClass::Human) != (*p == PostClass::Human) {
            let text: String = g.text.chars().take(140).collect();
            println!(
                "{} {} -> {} {:?}{}: {text:?}",
                g.id,
                g.class.as_str(),
                p.as_str(),
                reasons,
                if g.ambiguous { " (ambiguous)" } else { "" }
            );
        }
    }
    println!(
        "{} gold posts, {} context posts streamed first\n",
        gold.len(),
        context.iter().map(Vec::len).sum::<usize>()
    );
    println!(
        "| | not-human P | R | F1 | human recall | human P | automated P / R / F1 | promotional P / R / F1 |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut rows = vec![("keyword list", &baseline), ("coinpulse", &ours)];
    let named: Vec<(String, &Confusion)> = by_platform
        .iter()
        .map(|(p, c)| (format!("coinpulse, {p}"), c))
        .collect();
    for (name, c) in &named {
        rows.push((name.as_str(), *c));
    }
    for (name, c) in rows {
        let nh = c.not_human();
        let h = c.class(PostClass::Human);
        let a = c.class(PostClass::Automated);
        let pr = c.class(PostClass::Promotional);
        println!(
            "| {name} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} / {:.3} / {:.3} | {:.3} / {:.3} / {:.3} |",
            nh.precision,
            nh.recall,
            nh.f1,
            h.recall,
            h.precision,
            a.precision,
            a.recall,
            a.f1,
            pr.precision,
            pr.recall,
            pr.f1
        );
    }
    println!("\nconfusion (rows gold, columns predicted): human, automated, promotional");
    for (i, class) in PostClass::ALL.iter().enumerate() {
        println!(
            "{:>12} {:>5} {:>5} {:>5}",
            class.as_str(),
            ours.0[i][0],
            ours.0[i][1],
            ours.0[i][2]
        );
    }
    anyhow::ensure!(ours.total() == gold.len(), "every gold post is classified");
    Ok(())
}
