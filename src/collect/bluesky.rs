//! Bluesky: `app.bsky.feed.searchPosts` sorted by latest, on the public AppView.
//!
//! The search cursor is an offset into one result set, not a position in time, so polling uses
//! `since=<newest indexedAt seen>` (inclusive) and drops the posts already seen at that exact instant;
//! a full page is followed by its `cursor` within the round. The post id is the `at://` URI.
//!
//! Cursor: `{"queries": {"<q>": {"since": "2025-05-19T17:40:00.000Z", "seen": ["at://..."]}}}`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::http::{Http, HttpSettings, parse_item};
use super::{Batch, BuildContext, SourceConfig, Budget, CollectError, Collector, Source, Track};
use crate::model::{Asset, Engagement, Platform, Post};

const SOURCE: &str = "bluesky";
const ENDPOINT: &str = "/xrpc/app.bsky.feed.searchPosts";

/// `[sources.bluesky]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlueskyConfig {
    pub enabled: bool,
    pub base_url: String,
    /// Search queries; empty means one per tracked asset (`$BTC OR bitcoin` style terms).
    pub queries: Vec<String>,
    pub track: Track,
    pub lang: Option<String>,
    /// Posts per page, 1–100.
    pub limit: u32,
    pub max_pages_per_round: u32,
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    pub budget: Budget,
}

impl Default for BlueskyConfig {
    fn default() -> Self {
        BlueskyConfig {
            enabled: false,
            base_url: "https://public.api.bsky.app".into(),
            queries: vec![],
            track: Track {
                top: Some(10),
                assets: vec![],
            },
            lang: Some("en".into()),
            limit: 100,
            max_pages_per_round: 3,
            poll_interval: Duration::from_secs(120),
            budget: Budget::new(300, Duration::from_secs(300)),
        }
    }
}

impl SourceConfig for BlueskyConfig {
    const NAME: &'static str = SOURCE;

    fn enabled(&self) -> bool {
        self.enabled
    }

    fn check(&self) -> Result<(), String> {
        super::check_url("sources.bluesky.base_url", &self.base_url)?;
        if !(1..=100).contains(&self.limit) {
            return Err("invalid value for key `sources.bluesky.limit`: must be 1 to 100".into());
        }
        super::check_positive(
            "sources.bluesky.max_pages_per_round",
            self.max_pages_per_round.into(),
        )?;
        self.budget.check("sources.bluesky.budget")
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Collector>, CollectError> {
        let mut config = self.clone();
        config.base_url = ctx.url(&self.base_url);
        Ok(Box::new(BlueskyCollector::new(
            &config,
            ctx.http.clone(),
            ctx.tracked,
        )?))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryCursor {
    pub since: Option<String>,
    #[serde(default)]
    pub seen: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlueskyCursor {
    #[serde(default)]
    pub queries: BTreeMap<String, QueryCursor>,
}

#[derive(Debug, Deserialize)]
struct SearchResponse {
    #[serde(default)]
    posts: Vec<serde_json::Value>,
    cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostView {
    uri: String,
    author: Author,
    record: Record,
    indexed_at: DateTime<Utc>,
    reply_count: Option<i64>,
    repost_count: Option<i64>,
    like_count: Option<i64>,
    quote_count: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Author {
    handle: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    #[serde(default)]
    text: String,
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    langs: Vec<String>,
}

pub struct BlueskyCollector {
    http: Http,
    config: BlueskyConfig,
    queries: Vec<String>,
}

impl BlueskyCollector {
    pub fn new(
        config: &BlueskyConfig,
        http: HttpSettings,
        tracked: &[Asset],
    ) -> Result<Self, CollectError> {
        let queries = if config.queries.is_empty() {
            config
                .track
                .select(tracked)
                .iter()
                .map(|a| {
                    format!(
                        "${} OR {}",
                        a.symbol.to_ascii_uppercase(),
                        a.name.to_lowercase()
                    )
                })
                .collect()
        } else {
            config.queries.clone()
        };
        if queries.is_empty() {
            return Err(CollectError::fatal(
                SOURCE,
                "no queries (set `sources.bluesky.queries` or track assets)",
            ));
        }
        Ok(BlueskyCollector {
            http: Http::new(
                SOURCE,
                http,
                Some(config.budget),
                "the public AppView needs no token; check `sources.bluesky.base_url`",
            )?,
            config: config.clone(),
            queries,
        })
    }

    async fn page(
        &mut self,
        q: &str,
        since: Option<&str>,
        page_cursor: Option<&str>,
    ) -> Result<(Vec<(Post, DateTime<Utc>)>, Option<String>, usize), CollectError> {
        let url = format!("{}{ENDPOINT}", self.config.base_url.trim_end_matches('/'));
        let mut params = vec![
            ("q", q.to_owned()),
            ("sort", "latest".to_owned()),
            ("limit", self.config.limit.to_string()),
        ];
        if let Some(l) = &self.config.lang {
            params.push(("lang", l.clone()));
        }
        if let Some(s) = since {
            params.push(("since", s.to_owned()));
        }
        if let Some(c) = page_cursor {
            params.push(("cursor", c.to_owned()));
        }
        let reply = self
            .http
            .send(ENDPOINT, |c| c.get(&url).query(&params))
            .await?;
        let reply = self.http.check(reply)?;
        let resp: SearchResponse = reply.json(SOURCE)?;
        let mut out = Vec::new();
        for (i, raw) in resp.posts.iter().enumerate() {
            let p: PostView = parse_item(SOURCE, ENDPOINT, &format!("posts[{i}]"), raw)?;
            let rkey = p.uri.rsplit('/').next().unwrap_or_default().to_owned();
            out.push((
                Post {
                    platform: Platform::Bluesky,
                    url: Some(format!(
                        "https://bsky.app/profile/{}/post/{rkey}",
                        p.author.handle
                    )),
                    external_id: p.uri,
                    author: Some(p.author.handle),
                    text: p.record.text,
                    created_at: p.record.created_at.unwrap_or(p.indexed_at),
                    language: p.record.langs.into_iter().next(),
                    engagement: Engagement {
                        replies: p.reply_count,
                        reposts: match (p.repost_count, p.quote_count) {
                            (None, None) => None,
                            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
                        },
                        likes: p.like_count,
                        ..Default::default()
                    },
                    raw: Some(raw.clone()),
                },
                p.indexed_at,
            ));
        }
        Ok((out, resp.cursor, resp.posts.len()))
    }
}

#[async_trait::async_trait]
impl Source for BlueskyCollector {
    const NAME: &'static str = SOURCE;
    type Cursor = BlueskyCursor;

    async fn poll(
        &mut self,
        cursor: Option<Self::Cursor>,
    ) -> Result<Batch<Self::Cursor>, CollectError> {
        let old = cursor.unwrap_or_default();
        let mut next = BlueskyCursor::default();
        let mut posts = Vec::new();
        let more = false;
        let mut stopped = None;
        for q in self.queries.clone() {
            let prev = old.queries.get(&q).cloned().unwrap_or_default();
            let mut state = prev.clone();
            if stopped.is_none() {
                let mut page_cursor: Option<String> = None;
                let mut found: Vec<(Post, DateTime<Utc>)> = Vec::new();
                let mut complete = true;
                for page_no in 0..self.config.max_pages_per_round {
                    match self
                        .page(&q, prev.since.as_deref(), page_cursor.as_deref())
                        .await
                    {
                        Ok((page, next_cursor, count)) => {
                            // `since` is applied here too: a restart never re-emits older posts,
                            // whatever the server's notion of "since" is.
                            let since: Option<DateTime<Utc>> =
                                prev.since.as_deref().and_then(|s| s.parse().ok());
                            found.extend(page.into_iter().filter(|(p, t)| {
                                since.is_none_or(|s| *t >= s) && !prev.seen.contains(&p.external_id)
                            }));
                            let full = count as u32 >= self.config.limit;
                            if prev.since.is_none() || !full || next_cursor.is_none() {
                                break;
                            }
                            if page_no + 1 == self.config.max_pages_per_round {
                                // Search pages run newest first and cannot resume from the old end,
                                // so what lies beyond the last page is given up, loudly.
                                tracing::warn!(
                                    source = SOURCE, query = %q, pages = self.config.max_pages_per_round,
                                    "More new posts than the pages allowed per round; older ones skipped (raise `sources.bluesky.max_pages_per_round` or poll more often)."
                                );
                            }
                            page_cursor = next_cursor;
                        }
                        Err(e) if e.is_fatal() => return Err(e),
                        Err(e) => {
                            complete = false;
                            stopped = Some(e);
                            break;
                        }
                    }
                }
                if complete {
                    if let Some(newest) = found.iter().map(|(_, t)| *t).max() {
                        let stamp = newest.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                        let mut seen: Vec<String> = found
                            .iter()
                            .filter(|(_, t)| *t == newest)
                            .map(|(p, _)| p.external_id.clone())
                            .collect();
                        if prev.since.as_deref() == Some(stamp.as_str()) {
                            seen.extend(prev.seen.iter().cloned());
                        }
                        state = QueryCursor {
                            since: Some(stamp),
                            seen,
                        };
                    }
                    posts.extend(found.into_iter().rev().map(|(p, _)| p));
                }
            }
            next.queries.insert(q, state);
        }
        super::finish_post_round(
            posts,
            more,
            stopped,
            self.config.poll_interval,
            self.http.pause_remaining(),
            next,
        )
    }
}
