//! Scoring the tagger against a hand-labelled gold file (`shared/data/tagging/*.jsonl`).
//!
//! The score is post-level: per post, the set of predicted asset ids against the gold set, summed over
//! posts (micro precision, recall and F1). Posts flagged `ambiguous` are left out, as the gold file's
//! README suggests; gold offsets are Python code-point indices and are not needed at this level.
//!
//! Each post is tagged at its time, because which coin a shared ticker means depends on it (`TON`
//! in 2021 is Tokamak Network): a `created_at` field when the record has one, otherwise the time a
//! tweet's id carries (Twitter ids are snowflakes: milliseconds since 2010-11-04 in the high bits),
//! otherwise today.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::Tagger;

#[derive(Debug, Deserialize)]
pub struct GoldPost {
    pub id: String,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    pub text: String,
    pub mentions: Vec<GoldMention>,
    #[serde(default)]
    pub ambiguous: bool,
}

#[derive(Debug, Deserialize)]
pub struct GoldMention {
    pub asset: String,
}

impl GoldPost {
    /// When the post was written, if the record says so or its id is a tweet's.
    pub fn time(&self) -> Option<DateTime<Utc>> {
        self.created_at.or_else(|| {
            (self.source.as_deref() == Some("tweet"))
                .then(|| snowflake_time(self.id.parse().ok()?))
                .flatten()
        })
    }
}

/// The time in a Twitter snowflake id (ids from late 2010 on).
pub fn snowflake_time(id: u64) -> Option<DateTime<Utc>> {
    const TWITTER_EPOCH_MS: i64 = 1_288_834_974_657;
    if id < 1 << 32 {
        return None; // an id from before snowflakes
    }
    DateTime::from_timestamp_millis((id >> 22) as i64 + TWITTER_EPOCH_MS)
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
        match post.time() {
            Some(at) => tagger.tag_at_into(&post.text, at, &mut buf),
            None => tagger.tag_into(&post.text, &mut buf),
        }
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
