//! The nouns every stage speaks: posts, assets, mentions, scores and price points.
//!
//! Collectors produce [`Post`]s and [`PricePoint`]s, the tagger adds [`Mention`]s, the scorer adds a
//! [`Score`], and the store writes an [`EnrichedPost`] (a post with both) in one transaction. Keeping the
//! types here, outside any stage, lets each stage depend on the data and not on its neighbours.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// Where a post was published. Stored as its lower-case name (`twitter`, `reddit`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Twitter,
    Reddit,
    Youtube,
    Mastodon,
    Bluesky,
    /// Articles from news sites' RSS/Atom feeds.
    News,
    /// 4chan boards (/biz/).
    #[serde(rename = "4chan")]
    Fourchan,
}

impl Platform {
    pub const ALL: [Platform; 7] = [
        Platform::Twitter,
        Platform::Reddit,
        Platform::Youtube,
        Platform::Mastodon,
        Platform::Bluesky,
        Platform::News,
        Platform::Fourchan,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Twitter => "twitter",
            Platform::Reddit => "reddit",
            Platform::Youtube => "youtube",
            Platform::Mastodon => "mastodon",
            Platform::Bluesky => "bluesky",
            Platform::News => "news",
            Platform::Fourchan => "4chan",
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Platform {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<&str> = Platform::ALL.iter().map(|p| p.as_str()).collect();
                format!(
                    "unknown platform `{s}` (expected one of: {})",
                    names.join(", ")
                )
            })
    }
}

/// Engagement counters as the platform reported them at collection time. `None` means the platform did
/// not say, which is different from zero.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Engagement {
    pub replies: Option<i64>,
    /// Retweets, reblogs, reposts.
    pub reposts: Option<i64>,
    /// Likes, favourites, upvote score.
    pub likes: Option<i64>,
    pub views: Option<i64>,
    /// Followers of the author, where the platform tells.
    pub author_followers: Option<i64>,
}

/// A post by its key, as a deletion upstream names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PostRef {
    pub platform: Platform,
    pub external_id: String,
}

/// One tweet, Reddit submission or comment, YouTube video or comment, toot or skeet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Post {
    pub platform: Platform,
    /// The platform's own id (`1349485973952933889`, `t1_k3uzsxu`, ...). Unique per platform.
    pub external_id: String,
    pub author: Option<String>,
    pub text: String,
    pub url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub language: Option<String>,
    #[serde(default)]
    pub engagement: Engagement,
    /// The item as the API returned it, kept for re-processing. `None` for archive imports.
    #[serde(default)]
    pub raw: Option<serde_json::Value>,
}

impl Post {
    /// The post with every string and JSON value made storable in PostgreSQL: `text` and `jsonb`
    /// cannot hold NUL (`\u0000`), so it is removed from every field, JSON keys and strings included
    /// (it carries no meaning in a post). Every post passes here on its way into the pipeline (see
    /// [`crate::pipeline::Enricher::enrich`]), whichever collector or importer built it, so mention
    /// spans are found in the text as it is stored. What the database can still refuse (a value
    /// beyond a limit, a constraint) is isolated by the writer and kept in `rejected_posts`.
    pub fn into_storable(mut self) -> Post {
        storable_string(&mut self.external_id);
        storable_string(&mut self.text);
        for value in [&mut self.author, &mut self.url, &mut self.language]
            .into_iter()
            .flatten()
        {
            storable_string(value);
        }
        if let Some(raw) = &mut self.raw {
            storable_json(raw);
        }
        self
    }
}

/// Removes NUL, which PostgreSQL `text` cannot hold.
pub fn storable_string(s: &mut String) {
    if s.contains('\0') {
        s.retain(|c| c != '\0');
    }
}

/// Removes NUL from every string and key of a JSON value, which PostgreSQL `jsonb` cannot hold.
pub fn storable_json(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => storable_string(s),
        Value::Array(items) => items.iter_mut().for_each(storable_json),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('\0')) {
                let entries = std::mem::take(map);
                for (mut key, value) in entries {
                    storable_string(&mut key);
                    map.insert(key, value);
                }
            }
            map.values_mut().for_each(storable_json);
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// A coin: CoinGecko id, ticker symbol, display name and the other names people use for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    /// CoinGecko id, e.g. `bitcoin`. The primary key everywhere.
    pub id: String,
    /// Upper-case ticker, e.g. `BTC`.
    pub symbol: String,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Market-cap rank where known; lower wins when two assets share a surface form.
    #[serde(default)]
    pub rank: Option<u32>,
}

/// How a mention was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MentionKind {
    /// `$BTC`
    Cashtag,
    /// `#Bitcoin`
    Hashtag,
    /// `BTC`
    Symbol,
    /// `Bitcoin`
    Name,
    /// `sats`, `ether`, `binance coin`
    Alias,
}

impl MentionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MentionKind::Cashtag => "cashtag",
            MentionKind::Hashtag => "hashtag",
            MentionKind::Symbol => "symbol",
            MentionKind::Name => "name",
            MentionKind::Alias => "alias",
        }
    }
}

/// An asset found in a post. `start..end` is a UTF-8 byte span of the post text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mention {
    pub asset: String,
    pub symbol: String,
    pub surface: String,
    pub start: usize,
    pub end: usize,
    pub kind: MentionKind,
}

/// Sentiment class of a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SentimentLabel {
    Negative,
    Neutral,
    Positive,
}

impl SentimentLabel {
    pub const ALL: [SentimentLabel; 3] = [
        SentimentLabel::Negative,
        SentimentLabel::Neutral,
        SentimentLabel::Positive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SentimentLabel::Negative => "negative",
            SentimentLabel::Neutral => "neutral",
            SentimentLabel::Positive => "positive",
        }
    }
}

impl std::str::FromStr for SentimentLabel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SentimentLabel::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown sentiment label `{s}`"))
    }
}

/// A post's sentiment: a label and a score in [-1, 1] (negative is bearish).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub label: SentimentLabel,
    pub score: f32,
}

/// A post with what the tagger, the scorer and the classifier found in it; the unit the store writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichedPost {
    pub post: Post,
    pub mentions: Vec<Mention>,
    pub score: Option<Score>,
    /// Human, automated or promotional, with the reasons; `None` when not classified (counted as
    /// human, like posts stored before classification existed).
    #[serde(default)]
    pub class: Option<crate::classify::Classification>,
    /// The text was longer than its platform allows and was cut (see [`cap_text`]).
    #[serde(default)]
    pub text_truncated: bool,
}

/// One price observation of an asset, from one price source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PricePoint {
    /// CoinGecko id of the asset.
    pub asset: String,
    pub time: DateTime<Utc>,
    /// Price in USD (or USDT for exchange feeds).
    pub price: f64,
    pub volume: Option<f64>,
    /// `coingecko`, `binance`, `import`, ...
    pub source: String,
}

impl Platform {
    /// The longest post text coinpulse keeps for this platform, in UTF-8 bytes: the platform's own
    /// limit in characters at four bytes each, so no real post is ever cut. Longer texts (a broken
    /// or hostile source, a doctored archive) are cut by [`cap_text`] and flagged, never rejected.
    ///
    /// | platform | limit | why |
    /// |---|---|---|
    /// | twitter | 100,000 | X's longest posts: 25,000 characters |
    /// | reddit | 161,200 | a 300-character title and a 40,000-character body |
    /// | youtube | 40,000 | comments: 10,000 characters (title + description: 5,100) |
    /// | mastodon | 100,000 | the instance decides (500 by default); 25,000 characters covers large ones |
    /// | bluesky | 3,000 | the record's own maximum: 3,000 bytes |
    /// | news | 100,000 | a feed sets no limit; title and summary of a long article fit |
    /// | 4chan | 8,400 | a 100-character subject and a 2,000-character comment |
    pub fn max_text_bytes(self) -> usize {
        match self {
            Platform::Twitter => 100_000,
            Platform::Reddit => 161_200,
            Platform::Youtube => 40_000,
            Platform::Mastodon => 100_000,
            Platform::Bluesky => 3_000,
            Platform::News => 100_000,
            Platform::Fourchan => 8_400,
        }
    }
}

/// Cuts `post.text` to its platform's [`Platform::max_text_bytes`], at a character boundary.
/// Returns whether it cut: the store keeps that flag with the post (`posts.text_truncated`). The
/// tagger and the scorer then see at most that much text, so one post cannot stall enrichment.
pub fn cap_text(post: &mut Post) -> bool {
    let max = post.platform.max_text_bytes();
    if post.text.len() <= max {
        return false;
    }
    let cut = post.text.floor_char_boundary(max);
    post.text.truncate(cut);
    true
}

/// The hour a timestamp falls in: the key of the hourly rollup, and where reports and alerts cut time.
pub fn hour_bucket(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::hours(1)).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_removed_from_every_string_and_json_value() {
        let post = Post {
            platform: Platform::Twitter,
            external_id: "1\u{0}2".into(),
            author: Some("\u{0}al\u{0}ice".into()),
            text: "gm \u{0}$BTC".into(),
            url: Some("https://x.com/\u{0}".into()),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            language: Some("e\u{0}n".into()),
            engagement: Engagement::default(),
            raw: Some(serde_json::json!({"k\u{0}ey": ["a\u{0}b", {"n": "\u{0}"}], "x": 1})),
        }
        .into_storable();
        assert_eq!(post.external_id, "12");
        assert_eq!(post.author.as_deref(), Some("alice"));
        assert_eq!(post.text, "gm $BTC");
        assert_eq!(post.url.as_deref(), Some("https://x.com/"));
        assert_eq!(post.language.as_deref(), Some("en"));
        assert_eq!(
            post.raw,
            Some(serde_json::json!({"key": ["ab", {"n": ""}], "x": 1}))
        );
        assert!(!serde_json::to_string(&post).unwrap().contains("\\u0000"));
    }
}
