//! Archive formats `coinpulse import` understands, each turned into posts or price points.
//!
//! Every parser works record by record and reports a bad record as a [`Rejected`] with its line
//! number and reason, so one malformed row never costs the good rows around it.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

use crate::model::{Engagement, Platform, Post, PricePoint};

/// The layouts `--format` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// CrypTop12 tweet CSV: `post_id,created_at_utc,platform,query_coins,author,text,replies,retweets,likes,author_followers`.
    Cryptop12,
    /// r/CryptoCurrency CSV: `post_id,parent_id,kind,created_at_utc,subreddit,title,text,score,...`.
    RedditCsv,
    /// JSON Lines, one post per line (see README, "Import formats").
    Jsonl,
    /// Hourly OHLCV CSV: `symbol,pair,open_time_utc,open,high,low,close,volume_base,volume_quote`.
    PricesCsv,
}

/// A record that could not be imported, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub line: u64,
    pub reason: String,
}

/// One parsed record.
#[derive(Debug)]
pub enum Record {
    Post(Box<Post>),
    Price(PricePoint),
}

pub type Parsed = Result<Record, Rejected>;

fn reject(line: u64, reason: impl Into<String>) -> Rejected {
    Rejected {
        line,
        reason: reason.into(),
    }
}

/// A time from an archive: RFC 3339, `2020-11-01 10:00:00` (UTC assumed) or epoch seconds, within
/// the range PostgreSQL stores (4714-11-24 BC onwards; chrono's own range ends before PostgreSQL's).
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    let parsed = if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        t.with_timezone(&Utc)
    } else if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S") {
        t.and_utc()
    } else if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        // A daily file's date is that day's 00:00 UTC.
        d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
    } else if let Some(t) = s
        .parse::<i64>()
        .ok()
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
    {
        t
    } else {
        return Err(format!("`{s}` is not an RFC 3339 timestamp"));
    };
    if parsed < earliest_storable() {
        return Err(format!(
            "`{s}` is before 4714-11-24 BC, the earliest time PostgreSQL stores"
        ));
    }
    Ok(parsed)
}

/// PostgreSQL's earliest `timestamptz`: 4714-11-24 BC, year -4713 in chrono's proleptic calendar.
fn earliest_storable() -> DateTime<Utc> {
    chrono::NaiveDate::from_ymd_opt(-4713, 11, 24)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("a valid date")
        .and_utc()
}

fn parse_count(field: &str, name: &str) -> Result<Option<i64>, String> {
    let field = field.trim();
    if field.is_empty() {
        return Ok(None);
    }
    field
        .parse::<i64>()
        .map(Some)
        .or_else(|_| field.parse::<f64>().map(|f| Some(f as i64)))
        .map_err(|_| format!("column `{name}`: `{field}` is not a number"))
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// Columns of a CSV header, by name, so files with reordered or extra columns still import.
pub struct Columns(HashMap<String, usize>);

impl Columns {
    pub fn new(header: &csv::StringRecord, required: &[&str]) -> Result<Columns, String> {
        let map: HashMap<String, usize> = header
            .iter()
            .enumerate()
            .map(|(i, h)| (h.trim().to_ascii_lowercase(), i))
            .collect();
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|c| !map.contains_key(*c))
            .collect();
        if missing.is_empty() {
            Ok(Columns(map))
        } else {
            Err(format!("header lacks column(s): {}", missing.join(", ")))
        }
    }

    fn get<'r>(&self, record: &'r csv::StringRecord, name: &str) -> &'r str {
        self.0.get(name).and_then(|&i| record.get(i)).unwrap_or("")
    }

    /// The first of `names` the header has, or an error listing them all.
    pub fn first_of(&self, names: &[&'static str]) -> Result<&'static str, String> {
        names
            .iter()
            .copied()
            .find(|n| self.0.contains_key(*n))
            .ok_or_else(|| format!("header lacks a column named {}", names.join(" or ")))
    }
}

/// Which columns of a price file hold what: hourly candles (`symbol,open_time_utc,...,close,
/// volume_quote`) and daily files (`symbol,date,...,close,volume_usd` or `date,symbol,close_usd`).
pub struct PriceColumns {
    pub time: &'static str,
    pub close: &'static str,
    pub volume: Option<&'static str>,
}

impl PriceColumns {
    pub fn new(cols: &Columns) -> Result<PriceColumns, String> {
        Ok(PriceColumns {
            time: cols.first_of(PRICE_TIME_COLUMNS)?,
            close: cols.first_of(PRICE_CLOSE_COLUMNS)?,
            volume: cols.first_of(PRICE_VOLUME_COLUMNS).ok(),
        })
    }
}

pub const CRYPTOP12_COLUMNS: &[&str] = &["post_id", "created_at_utc", "text"];
pub const REDDIT_COLUMNS: &[&str] = &["post_id", "created_at_utc", "text"];
pub const PRICES_COLUMNS: &[&str] = &["symbol"];
/// The price's time: an hourly candle's open (`open_time_utc`) or a daily file's `date`.
pub const PRICE_TIME_COLUMNS: &[&str] = &["open_time_utc", "date"];
/// The price itself: `close`, or a daily file's `close_usd`.
pub const PRICE_CLOSE_COLUMNS: &[&str] = &["close", "close_usd"];
/// Traded volume in the quote currency, when the file has it.
pub const PRICE_VOLUME_COLUMNS: &[&str] = &["volume_quote", "volume_usd"];

pub fn cryptop12(cols: &Columns, record: &csv::StringRecord, line: u64) -> Parsed {
    let id = cols.get(record, "post_id").trim();
    if id.is_empty() {
        return Err(reject(line, "column `post_id` is empty"));
    }
    let created_at = parse_time(cols.get(record, "created_at_utc"))
        .map_err(|e| reject(line, format!("column `created_at_utc`: {e}")))?;
    let text = cols.get(record, "text");
    if text.trim().is_empty() {
        return Err(reject(line, "column `text` is empty"));
    }
    let platform = match non_empty(cols.get(record, "platform")) {
        Some(p) => p
            .parse::<Platform>()
            .map_err(|e| reject(line, format!("column `platform`: {e}")))?,
        None => Platform::Twitter,
    };
    let count = |name: &str| parse_count(cols.get(record, name), name).map_err(|e| reject(line, e));
    let engagement = Engagement {
        replies: count("replies")?,
        reposts: count("retweets")?,
        likes: count("likes")?,
        views: None,
        author_followers: count("author_followers")?,
    };
    let url = (platform == Platform::Twitter).then(|| format!("https://x.com/i/status/{id}"));
    Ok(Record::Post(Box::new(Post {
        platform,
        external_id: id.to_string(),
        author: non_empty(cols.get(record, "author")),
        text: text.to_string(),
        url,
        created_at,
        language: None,
        engagement,
        raw: None,
    })))
}

pub fn reddit_csv(cols: &Columns, record: &csv::StringRecord, line: u64) -> Parsed {
    let id = cols.get(record, "post_id").trim();
    if id.is_empty() {
        return Err(reject(line, "column `post_id` is empty"));
    }
    let created_at = parse_time(cols.get(record, "created_at_utc"))
        .map_err(|e| reject(line, format!("column `created_at_utc`: {e}")))?;
    let title = cols.get(record, "title").trim();
    let body = cols.get(record, "text").trim();
    // Removed or deleted content is a placeholder, not the author's words: never store it as text.
    let body = if matches!(body, "[removed]" | "[deleted]") {
        ""
    } else {
        body
    };
    let text = match (title.is_empty(), body.is_empty()) {
        (false, false) => format!("{title} {body}"),
        (false, true) => title.to_string(),
        (true, false) => body.to_string(),
        (true, true) => return Err(reject(line, "no text: title and body are empty or removed")),
    };
    let subreddit = cols.get(record, "subreddit").trim();
    let url = id
        .strip_prefix("t3_")
        .map(|short| format!("https://www.reddit.com/r/{subreddit}/comments/{short}/"));
    Ok(Record::Post(Box::new(Post {
        platform: Platform::Reddit,
        external_id: id.to_string(),
        author: None,
        text,
        url,
        created_at,
        language: None,
        engagement: Engagement {
            likes: parse_count(cols.get(record, "score"), "score").map_err(|e| reject(line, e))?,
            ..Engagement::default()
        },
        raw: None,
    })))
}

/// One line of the generic JSON Lines format.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonPost {
    platform: Platform,
    id: serde_json::Value,
    created_at: String,
    text: String,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    replies: Option<i64>,
    #[serde(default)]
    reposts: Option<i64>,
    #[serde(default)]
    likes: Option<i64>,
    #[serde(default)]
    views: Option<i64>,
    #[serde(default)]
    author_followers: Option<i64>,
    #[serde(default)]
    raw: Option<serde_json::Value>,
}

pub fn jsonl(text: &str, line: u64) -> Parsed {
    let p: JsonPost = serde_json::from_str(text).map_err(|e| reject(line, e.to_string()))?;
    let external_id = match p.id {
        serde_json::Value::String(s) if !s.trim().is_empty() => s,
        serde_json::Value::Number(n) => n.to_string(),
        _ => {
            return Err(reject(
                line,
                "field `id` must be a non-empty string or a number",
            ));
        }
    };
    if p.text.trim().is_empty() {
        return Err(reject(line, "field `text` is empty"));
    }
    let created_at =
        parse_time(&p.created_at).map_err(|e| reject(line, format!("field `created_at`: {e}")))?;
    Ok(Record::Post(Box::new(Post {
        platform: p.platform,
        external_id,
        author: p.author,
        text: p.text,
        url: p.url,
        created_at,
        language: p.language,
        engagement: Engagement {
            replies: p.replies,
            reposts: p.reposts,
            likes: p.likes,
            views: p.views,
            author_followers: p.author_followers,
        },
        raw: p.raw,
    })))
}

/// `symbols` maps an upper-case ticker to the asset id (`BTC` → `bitcoin`).
pub fn prices_csv(
    cols: &Columns,
    price_cols: &PriceColumns,
    record: &csv::StringRecord,
    line: u64,
    symbols: &HashMap<String, String>,
    source: &str,
) -> Parsed {
    let symbol = cols.get(record, "symbol").trim().to_ascii_uppercase();
    let asset = symbols
        .get(&symbol)
        .ok_or_else(|| reject(line, format!("column `symbol`: unknown asset `{symbol}`")))?;
    let time = parse_time(cols.get(record, price_cols.time))
        .map_err(|e| reject(line, format!("column `{}`: {e}", price_cols.time)))?;
    let close = cols.get(record, price_cols.close).trim();
    let price: f64 = close
        .parse()
        .ok()
        .filter(|p: &f64| p.is_finite() && *p >= 0.0)
        .ok_or_else(|| {
            reject(
                line,
                format!("column `{}`: `{close}` is not a price", price_cols.close),
            )
        })?;
    let volume = price_cols.volume.and_then(|name| {
        cols.get(record, name)
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
    });
    Ok(Record::Price(PricePoint {
        asset: asset.clone(),
        time,
        price,
        volume,
        source: source.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fields: &[&str]) -> csv::StringRecord {
        csv::StringRecord::from(fields.to_vec())
    }

    #[test]
    fn cryptop12_row_parses() {
        let header = record(&[
            "post_id",
            "created_at_utc",
            "platform",
            "query_coins",
            "author",
            "text",
            "replies",
            "retweets",
            "likes",
            "author_followers",
        ]);
        let cols = Columns::new(&header, CRYPTOP12_COLUMNS).unwrap();
        let row = record(&[
            "42",
            "2020-11-01T10:00:00Z",
            "twitter",
            "BTC",
            "u_x",
            "hello $BTC",
            "1",
            "2",
            "3",
            "",
        ]);
        let Record::Post(post) = cryptop12(&cols, &row, 2).unwrap() else {
            panic!("expected a post")
        };
        assert_eq!(post.external_id, "42");
        assert_eq!(post.engagement.reposts, Some(2));
        assert_eq!(post.engagement.author_followers, None);
        assert_eq!(post.created_at.to_rfc3339(), "2020-11-01T10:00:00+00:00");
    }

    #[test]
    fn bad_timestamp_is_rejected_with_line_and_column() {
        let header = record(&["post_id", "created_at_utc", "text"]);
        let cols = Columns::new(&header, CRYPTOP12_COLUMNS).unwrap();
        let err = cryptop12(&cols, &record(&["1", "yesterday", "x"]), 7).unwrap_err();
        assert_eq!(err.line, 7);
        assert!(err.reason.contains("created_at_utc"), "{}", err.reason);
    }

    #[test]
    fn times_before_postgresql_range_are_rejected() {
        // -300,000,000,000 s is about 7536 BC: chrono holds it, PostgreSQL does not.
        let err = parse_time("-300000000000").unwrap_err();
        assert!(err.contains("earliest time PostgreSQL stores"), "{err}");
        let first = earliest_storable().timestamp();
        assert!(parse_time(&(first - 1).to_string()).is_err());
        assert!(parse_time(&first.to_string()).is_ok());
        assert!(parse_time("-200000000000").is_ok());
    }

    #[test]
    fn missing_column_is_named() {
        let header = record(&["post_id", "text"]);
        let err = Columns::new(&header, CRYPTOP12_COLUMNS).err().unwrap();
        assert!(err.contains("created_at_utc"), "{err}");
    }

    #[test]
    fn jsonl_accepts_numeric_ids_and_rejects_unknown_fields() {
        let ok = jsonl(
            r#"{"platform":"reddit","id":17,"created_at":"2024-12-04T18:25:00Z","text":"gm"}"#,
            1,
        )
        .unwrap();
        let Record::Post(post) = ok else { panic!() };
        assert_eq!(post.external_id, "17");
        let err = jsonl(
            r#"{"platform":"reddit","id":"a","created_at":"2024-12-04T18:25:00Z","text":"gm","colour":1}"#,
            9,
        )
        .unwrap_err();
        assert_eq!(err.line, 9);
        assert!(err.reason.contains("colour"), "{}", err.reason);
    }

    #[test]
    fn removed_reddit_body_is_not_text() {
        let header = record(&["post_id", "created_at_utc", "subreddit", "title", "text"]);
        let cols = Columns::new(&header, REDDIT_COLUMNS).unwrap();
        let err = reddit_csv(
            &cols,
            &record(&[
                "t1_a",
                "2024-12-04T18:25:00Z",
                "CryptoCurrency",
                "",
                "[removed]",
            ]),
            3,
        )
        .unwrap_err();
        assert!(err.reason.contains("removed"));
    }
}
