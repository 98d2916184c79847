//! Measuring slang cues on labelled posts: how often a cue ("rekt", "rug", "buy the dip", 🚀) comes
//! with each label, which way those labels lean against the data's own mix, and how far the cue moves
//! the model's score.
//!
//! The slang list (`data/crypto-lexicon.tsv`) rates words by what they usually say about an asset.
//! A rating is only worth keeping if the labelled data agrees with it, and a cue only matters if the
//! model listens to it; this report shows both for every entry, and for any phrase asked about
//! (multi-word cues cannot be lexicon features, which are single tokens, but can be measured).
//!
//! - **Lean:** `ln((pos + 2·b) / (neg + 2·(1 − b))) − ln(b / (1 − b))`, with `pos`, `neg` the
//!   posts with the cue labelled positive / negative and `b` the positive share of all positive and
//!   negative posts: how much more positive than usual the labels of posts with the cue are, each
//!   cue starting from the data's own mix with the weight of two posts (so a cue seen once leans
//!   little). Crypto posts are three-quarters bullish, so a raw ratio would call almost every cue
//!   positive. Whether a rating agrees with the data is only said from [`MIN_POSTS`] posts on.
//! - **Effect:** the mean of `score(post) − score(post without the cue)` over the posts with it,
//!   the cue removed from the text wherever it stands as a word of its own. It is what the model as
//!   trained makes of the cue, through its word and character features and its lexicon class.
//!
//! A cue matches where it stands as a word of its own: case-insensitive for ASCII letters, and not
//! inside a longer word ("rug" is not in "drug"; "#rekt" has it). Elongated spellings ("rekkkt")
//! are not matched.

use std::fmt;

use serde::Serialize;

use super::data::LabelledPost;
use super::model::{Scratch, SentimentModel};
use crate::model::SentimentLabel;

/// Posts with a cue from which the report says whether its rating agrees with the labels.
pub const MIN_POSTS: usize = 5;

/// A lean closer to 0 than this is flat: the cue's posts are labelled like the rest.
pub const FLAT: f64 = 0.1;

/// One cue measured on a set of labelled posts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CueReport {
    pub cue: String,
    /// The slang list's rating (VADER's scale, −4 … 4), if the cue is on it.
    pub rating: Option<f32>,
    /// Posts containing the cue, by true label: negative, neutral, positive.
    pub negative: usize,
    pub neutral: usize,
    pub positive: usize,
    /// Lean of the labels against the data's mix (see the module docs); `None` without a post.
    pub lean: Option<f64>,
    /// Mean score change the cue causes in the model; `None` without a post.
    pub effect: Option<f64>,
}

impl CueReport {
    pub fn posts(&self) -> usize {
        self.negative + self.neutral + self.positive
    }

    /// Whether the rating's sign and the measured lean agree (`None` without a rating, with a lean
    /// within [`FLAT`] of 0, or under [`MIN_POSTS`] posts).
    pub fn rating_agrees(&self) -> Option<bool> {
        match (self.rating, self.lean) {
            (Some(r), Some(l)) if l.abs() >= FLAT && self.posts() >= MIN_POSTS => {
                Some((r > 0.0) == (l > 0.0))
            }
            _ => None,
        }
    }
}

/// Byte ranges where `cue` stands as a word of its own in `text` (ASCII case-insensitive).
pub fn find(text: &str, cue: &str) -> Vec<std::ops::Range<usize>> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let (Some(first), Some(last)) = (cue.chars().next(), cue.chars().next_back()) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let mut from = 0;
    for (at, _) in text.char_indices() {
        if at < from {
            continue;
        }
        let end = at + cue.len();
        let Some(candidate) = text.as_bytes().get(at..end) else {
            break;
        };
        // Equal up to ASCII case, so `end` is a character boundary like `at`.
        if !candidate.eq_ignore_ascii_case(cue.as_bytes()) {
            continue;
        }
        let glued_before = is_word(first) && text[..at].chars().next_back().is_some_and(is_word);
        let glued_after = is_word(last) && text[end..].chars().next().is_some_and(is_word);
        if !(glued_before || glued_after) {
            found.push(at..end);
            from = end;
        }
    }
    found
}

/// `text` with every match of `cue` removed (see [`find`]).
pub fn remove(text: &str, cue: &str) -> String {
    cut(text, &find(text, cue))
}

/// `text` without the byte ranges `spans` (in order, not overlapping).
fn cut(text: &str, spans: &[std::ops::Range<usize>]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for r in spans {
        out.push_str(&text[last..r.start]);
        last = r.end;
    }
    out.push_str(&text[last..]);
    out
}

/// Measures each cue (with its slang rating, if any) on `posts` with `model`.
pub fn measure(
    model: &SentimentModel,
    posts: &[&LabelledPost],
    cues: &[(String, Option<f32>)],
) -> Vec<CueReport> {
    let count = |label| posts.iter().filter(|p| p.label == label).count() as f64;
    let (all_pos, all_neg) = (
        count(SentimentLabel::Positive),
        count(SentimentLabel::Negative),
    );
    // The positive share, kept off 0 and 1 so that data with one pole only still has a lean.
    let b = ((all_pos + 1.0) / (all_pos + all_neg + 2.0)).clamp(0.01, 0.99);
    let mut scratch = Scratch::new();
    cues.iter()
        .map(|(cue, rating)| {
            let mut report = CueReport {
                cue: cue.clone(),
                rating: *rating,
                negative: 0,
                neutral: 0,
                positive: 0,
                lean: None,
                effect: None,
            };
            let mut effect = 0.0f64;
            for post in posts {
                let spans = find(&post.text, cue);
                if spans.is_empty() {
                    continue;
                }
                match post.label {
                    SentimentLabel::Negative => report.negative += 1,
                    SentimentLabel::Neutral => report.neutral += 1,
                    SentimentLabel::Positive => report.positive += 1,
                }
                let with = model.score_with(&post.text, &mut scratch).score;
                let without = model
                    .score_with(&remove(&post.text, cue), &mut scratch)
                    .score;
                effect += f64::from(with - without);
            }
            if report.posts() > 0 {
                let ratio =
                    (report.positive as f64 + 2.0 * b) / (report.negative as f64 + 2.0 * (1.0 - b));
                report.lean = Some(ratio.ln() - (b / (1.0 - b)).ln());
                report.effect = Some(effect / report.posts() as f64);
            }
            report
        })
        .collect()
}

/// The cue table, one line per cue.
pub struct CueTable<'a>(pub &'a [CueReport]);

impl fmt::Display for CueTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<16} {:>6} {:>6} {:>5} {:>5} {:>5} {:>7} {:>7}  agrees",
            "cue", "rating", "posts", "neg", "neu", "pos", "lean", "effect"
        )?;
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:+.3}"));
        for r in self.0 {
            writeln!(
                f,
                "{:<16} {:>6} {:>6} {:>5} {:>5} {:>5} {:>7} {:>7}  {}",
                r.cue,
                r.rating.map_or("-".to_string(), |v| format!("{v:+.1}")),
                r.posts(),
                r.negative,
                r.neutral,
                r.positive,
                opt(r.lean),
                opt(r.effect),
                match r.rating_agrees() {
                    Some(true) => "yes",
                    Some(false) => "NO",
                    None if r.lean.is_some_and(|l| l.abs() < FLAT) => "flat",
                    None => "-",
                }
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(text: &str, cue: &str) -> Vec<(usize, usize)> {
        find(text, cue)
            .into_iter()
            .map(|r| (r.start, r.end))
            .collect()
    }

    #[test]
    fn a_cue_matches_as_a_word_of_its_own() {
        assert_eq!(spans("got REKT again, #rekt", "rekt"), [(4, 8), (17, 21)]);
        assert!(find("a drug dealer", "rug").is_empty());
        assert!(find("rugged", "rug").is_empty());
        assert_eq!(spans("rug.", "rug"), [(0, 3)]);
        assert_eq!(spans("Buy the dip now", "buy the dip"), [(0, 11)]);
        assert_eq!(spans("rugrug rug", "rug"), [(7, 10)]);
        // Emoji cues need no word boundary; non-ASCII text around them keeps its offsets.
        assert_eq!(spans("é🚀🚀", "🚀"), [(2, 6), (6, 10)]);
        assert_eq!(remove("to the moon 🚀🚀!", "🚀"), "to the moon !");
        assert_eq!(remove("rekt rekt", "rekt"), " ");
        assert!(find("anything", "").is_empty());
    }
}
