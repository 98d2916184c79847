//! Scoring the tagger against a hand-labelled gold file (`shared/data/tagging/*.jsonl`).
//!
//! The score is post-level: per post, the set of predicted asset ids against the gold set, summed over
//! posts (micro precision, recall and F1). Posts flagged `ambiguous` are left out, as the gold file's
//! README suggests; gold offsets are Python code-point indices and are not needed at this level.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use super::Tagger;

#[derive(Debug, Deserialize)]
pub struct GoldPost {
    pub id: String,
    pub text: String,
    pub mentions: Vec<GoldMention>,
    #[serde(default)]
    pub ambiguous: bool,
}

#[derive(Debug, Deserialize)]
pub struct GoldMention {
    pub asset: String,
}

/// Reads a gold JSONL file, naming the line of any bad record.
pub fn read_gold(path: &Path) -> anyhow::Result<Vec<GoldPost>> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read gold file {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| {
                format!("gold file {}, line {}: bad record", path.display(), i + 1)
            })
        })
        .collect()
}

/// Post-level micro scores and the errors behind them.
#[derive(Debug, Default)]
pub struct EvalReport {
    pub posts: usize,
    pub skipped_ambiguous: usize,
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    /// Gold no-coin posts, and how many of them got no prediction.
    pub no_coin_posts: usize,
    pub no_coin_clean: usize,
    /// asset -> (count, example post ids)
    pub fp_by_asset: BTreeMap<String, (usize, Vec<String>)>,
    pub fn_by_asset: BTreeMap<String, (usize, Vec<String>)>,
}

impl EvalReport {
    pub fn precision(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }
    pub fn recall(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    /// The `n` assets with most errors in `map`, most first.
    pub fn worst(
        map: &BTreeMap<String, (usize, Vec<String>)>,
        n: usize,
    ) -> Vec<(&str, usize, &[String])> {
        let mut v: Vec<_> = map
            .iter()
            .map(|(a, (c, ids))| (a.as_str(), *c, ids.as_slice()))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v.truncate(n);
        v
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// Tags every non-ambiguous gold post and compares asset sets.
pub fn evaluate(tagger: &Tagger, gold: &[GoldPost]) -> EvalReport {
    let mut report = EvalReport::default();
    let mut buf = Vec::new();
    for post in gold {
        if post.ambiguous {
            report.skipped_ambiguous += 1;
            continue;
        }
        report.posts += 1;
        tagger.tag_into(&post.text, &mut buf);
        let predicted: BTreeSet<&str> = buf.iter().map(|m| m.asset.as_str()).collect();
        let expected: BTreeSet<&str> = post.mentions.iter().map(|m| m.asset.as_str()).collect();
        if expected.is_empty() {
            report.no_coin_posts += 1;
            if predicted.is_empty() {
                report.no_coin_clean += 1;
            }
        }
        for a in &predicted {
            if expected.contains(a) {
                report.true_positives += 1;
            } else {
                report.false_positives += 1;
                note(&mut report.fp_by_asset, a, &post.id);
            }
        }
        for a in expected.difference(&predicted) {
            report.false_negatives += 1;
            note(&mut report.fn_by_asset, a, &post.id);
        }
    }
    report
}

fn note(map: &mut BTreeMap<String, (usize, Vec<String>)>, asset: &str, id: &str) {
    let e = map.entry(asset.to_string()).or_default();
    e.0 += 1;
    if e.1.len() < 3 {
        e.1.push(id.to_string());
    }
}
