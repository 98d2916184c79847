//! `coinpulse eval-classify`: per-class precision, recall and F1 on a hand-labelled file, beside a plain
//! keyword-list baseline.
//!
//! The classifier looks at each post's neighbours (near-duplicates, an author's repeats), and labelled
//! posts are samples of a larger stream. So the context corpora are streamed first, each in time
//! order, exactly as production would see them; when a context post is a gold post, the gold text is
//! classified at that point of the stream. Gold posts the context does not contain are classified
//! after it, in file order.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::Deserialize;

use super::{Classifier, ClassifyConfig, PostClass};
use crate::import::formats::parse_time;

/// One labelled post (the format of shared/data/spam/dev.jsonl).
#[derive(Debug, Clone, Deserialize)]
pub struct GoldPost {
    pub id: String,
    #[serde(default)]
    pub platform: String,
    pub created_at: String,
    #[serde(default)]
    pub author: String,
    pub text: String,
    pub class: PostClass,
    #[serde(default)]
    pub ambiguous: bool,
}

/// A post of a context corpus.
#[derive(Debug, Clone)]
pub struct StreamPost {
    pub id: String,
    pub author: Option<String>,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Bad {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

fn bad(path: &Path, line: usize, message: impl std::fmt::Display) -> EvalError {
    EvalError::Bad {
        path: path.to_owned(),
        line,
        message: message.to_string(),
    }
}

pub fn read_gold(path: &Path) -> Result<Vec<GoldPost>, EvalError> {
    let file = std::fs::File::open(path).map_err(|source| EvalError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut gold = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| EvalError::Read {
            path: path.to_owned(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        gold.push(serde_json::from_str(&line).map_err(|e| bad(path, i + 1, e))?);
    }
    Ok(gold)
}

/// A context corpus in time order: a CSV with `post_id`, `created_at_utc`, `text` (and optional
/// `author`, `title`: a Reddit title is joined to the body with a blank line, as in the gold file), or
/// JSON lines with `id`, `created_at`, `text` and optional `author`.
pub fn read_context(path: &Path) -> Result<Vec<StreamPost>, EvalError> {
    let read_err = |source| EvalError::Read {
        path: path.to_owned(),
        source,
    };
    let mut posts = Vec::new();
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        let mut csv = csv::Reader::from_path(path).map_err(|e| bad(path, 1, e))?;
        let header = csv.headers().map_err(|e| bad(path, 1, e))?.clone();
        let col = |name: &str| {
            header
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(name))
        };
        let (Some(id), Some(time), Some(text)) =
            (col("post_id"), col("created_at_utc"), col("text"))
        else {
            return Err(bad(path, 1, "header lacks post_id, created_at_utc or text"));
        };
        let (author, title) = (col("author"), col("title"));
        for (i, record) in csv.records().enumerate() {
            let record = record.map_err(|e| bad(path, i + 2, e))?;
            let field = |c: Option<usize>| c.and_then(|c| record.get(c)).unwrap_or("").trim();
            let body = field(Some(text));
            let text = match field(title) {
                "" => body.to_string(),
                t if body.is_empty() => t.to_string(),
                t => format!("{t}\n\n{body}"),
            };
            posts.push(StreamPost {
                id: field(Some(id)).to_string(),
                author: Some(field(author).to_string()).filter(|a| !a.is_empty()),
                text,
                created_at: parse_time(field(Some(time))).map_err(|e| bad(path, i + 2, e))?,
            });
        }
    } else {
        #[derive(Deserialize)]
        struct Line {
            id: serde_json::Value,
            text: String,
            created_at: String,
            #[serde(default)]
            author: Option<String>,
        }
        let file = std::fs::File::open(path).map_err(read_err)?;
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(read_err)?;
            if line.trim().is_empty() {
                continue;
            }
            let l: Line = serde_json::from_str(&line).map_err(|e| bad(path, i + 1, e))?;
            posts.push(StreamPost {
                id: match l.id {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                },
                author: l.author.filter(|a| !a.trim().is_empty()),
                text: l.text,
                created_at: parse_time(&l.created_at).map_err(|e| bad(path, i + 1, e))?,
            });
        }
    }
    posts.sort_by_key(|p| p.created_at);
    Ok(posts)
}

/// Predicted classes of the gold posts, in gold order, after streaming `context`.
pub fn classify_gold(
    config: &ClassifyConfig,
    gold: &[GoldPost],
    context: &[Vec<StreamPost>],
) -> Result<Vec<(PostClass, Vec<String>)>, String> {
    let mut classifier = Classifier::new(config);
    let index: HashMap<&str, usize> = gold
        .iter()
        .enumerate()
        .map(|(i, g)| (g.id.as_str(), i))
        .collect();
    let mut predicted: Vec<Option<(PostClass, Vec<String>)>> = vec![None; gold.len()];
    let classify = |classifier: &mut Classifier, g: &GoldPost| -> Result<_, String> {
        let at = parse_time(&g.created_at).map_err(|e| format!("gold post {}: {e}", g.id))?;
        let author = Some(g.author.as_str()).filter(|a| !a.is_empty());
        let (c, _) = classifier.classify_text(&g.text, author, at);
        Ok((c.class, c.reason_names()))
    };
    for corpus in context {
        for post in corpus {
            match index.get(post.id.as_str()) {
                Some(&i) if predicted[i].is_none() => {
                    predicted[i] = Some(classify(&mut classifier, &gold[i])?);
                }
                _ => {
                    classifier.classify_text(&post.text, post.author.as_deref(), post.created_at);
                }
            }
        }
    }
    let mut out = Vec::with_capacity(gold.len());
    for (i, p) in predicted.into_iter().enumerate() {
        out.push(match p {
            Some(p) => p,
            None => classify(&mut classifier, &gold[i])?,
        });
    }
    Ok(out)
}

/// The baseline: a post is promotional when it contains one of the words a crude spam heuristic looks
/// for (the keyword list the labelled set's sampling used).
pub fn keyword_baseline(text: &str) -> PostClass {
    static LIST: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(
            r"(?i)giveaway|giving away|give away|airdrop|retweet|\brt\b|follow|tag (?:\d+ |your |a |three |two )?friends?|\btag \d|join|presale|pre-sale|referral|bonus|use code|use my code|promo code",
        )
        .expect("the baseline pattern compiles")
    });
    if LIST.is_match(text) {
        PostClass::Promotional
    } else {
        PostClass::Human
    }
}

/// Confusion counts, `[gold][predicted]` in [`PostClass::ALL`] order.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Confusion(pub [[usize; 3]; 3]);

fn idx(c: PostClass) -> usize {
    PostClass::ALL
        .iter()
        .position(|x| *x == c)
        .expect("every class is listed")
}

/// Precision, recall and F1.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Prf {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

fn prf(tp: usize, fp: usize, fn_: usize) -> Prf {
    let div = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = div(tp, tp + fp);
    let recall = div(tp, tp + fn_);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    Prf {
        precision,
        recall,
        f1,
        support: tp + fn_,
    }
}

impl Confusion {
    pub fn add(&mut self, gold: PostClass, predicted: PostClass) {
        self.0[idx(gold)][idx(predicted)] += 1;
    }

    pub fn class(&self, c: PostClass) -> Prf {
        let i = idx(c);
        let tp = self.0[i][i];
        let fp = (0..3).filter(|&g| g != i).map(|g| self.0[g][i]).sum();
        let fn_ = (0..3).filter(|&p| p != i).map(|p| self.0[i][p]).sum();
        prf(tp, fp, fn_)
    }

    /// Automated and promotional together against human.
    pub fn not_human(&self) -> Prf {
        let h = idx(PostClass::Human);
        let (mut tp, mut fp, mut fn_) = (0, 0, 0);
        for g in 0..3 {
            for p in 0..3 {
                let n = self.0[g][p];
                match (g == h, p == h) {
                    (false, false) => tp += n,
                    (true, false) => fp += n,
                    (false, true) => fn_ += n,
                    (true, true) => {}
                }
            }
        }
        prf(tp, fp, fn_)
    }

    pub fn total(&self) -> usize {
        self.0.iter().flatten().sum()
    }
}
