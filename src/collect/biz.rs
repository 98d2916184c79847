//! 4chan /biz/: the board's threads through 4chan's read-only JSON API, free and without an account.
//!
//! A round asks `/biz/threads.json` (every live thread with its `last_modified`) and then
//! `/biz/thread/<no>.json` for the threads whose `last_modified` moved past what the cursor holds,
//! most recently active first, at most `max_threads_per_round` of them; when more are waiting the
//! next round starts at once. Only posts numbered above the thread's highest post seen are emitted.
//!
//! The API's rules are kept: **at most one request per second** (a gap enforced here between any
//! two requests of this collector, across rounds and retries: retries back off for at least a
//! second), `If-Modified-Since` on every request (the listing's own `Last-Modified` while it is in
//! memory, a thread's last `last_modified` for the thread), and threads updated no more often than
//! every 10 seconds (`poll_interval` is at least 10 s).
//!
//! What becomes a post: the post number is its id (unique on the board); the text is the subject,
//! a blank line, then the comment, both HTML reduced to text (`<br>` a line break, `<wbr>` nothing,
//! quote links `>>123` and greentext `>...` kept as the reader sees them, spoilers as plain text);
//! posts with neither (image-only replies) are skipped. The author is the name as shown
//! (`Anonymous` unless the poster set one), then the tripcode and the poster ID where the board
//! shows them (`Anonymous !Ep8pui8Vw2`, `Anonymous ID:Ab12Cd34`); /biz/ shows no poster IDs, so
//! most /biz/ posts share the author `Anonymous` and count as one author in the rollups. The URL
//! is the post's anchor in its thread.
//!
//! Cursor: `{"threads": {"<thread no>": {"last_modified": <unix time>, "max_no": <post no>}}}`;
//! threads that left the board are dropped from it.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::http::{Http, HttpSettings, Reply, parse_item};
use super::{Batch, BuildContext, CollectError, Collector, Source, SourceConfig};
use crate::model::{Engagement, Platform, Post};

const SOURCE: &str = "biz";
const BOARD: &str = "biz";
const THREADS_ENDPOINT: &str = "/biz/threads.json";
const THREAD_ENDPOINT: &str = "/biz/thread/{no}.json";

/// The API's first rule: no more than one request per second.
pub const MIN_REQUEST_GAP: Duration = Duration::from_secs(1);

/// The API's second rule: a thread is not asked again sooner than this.
const MIN_POLL_INTERVAL: Duration = Duration::from_secs(10);

/// `[sources.biz]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BizConfig {
    pub enabled: bool,
    pub base_url: String,
    /// Threads fetched per round at most (one request each, a second apart).
    pub max_threads_per_round: u32,
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
}

impl Default for BizConfig {
    fn default() -> Self {
        BizConfig {
            enabled: false,
            base_url: "https://a.4cdn.org".into(),
            max_threads_per_round: 20,
            poll_interval: Duration::from_secs(60),
        }
    }
}

impl SourceConfig for BizConfig {
    const NAME: &'static str = SOURCE;

    fn enabled(&self) -> bool {
        self.enabled
    }

    fn check(&self) -> Result<(), String> {
        super::check_url("sources.biz.base_url", &self.base_url)?;
        super::check_positive(
            "sources.biz.max_threads_per_round",
            self.max_threads_per_round.into(),
        )?;
        if self.poll_interval < MIN_POLL_INTERVAL {
            return Err(format!(
                "invalid value for key `sources.biz.poll_interval`: at least {}s (4chan's API rules)",
                MIN_POLL_INTERVAL.as_secs()
            ));
        }
        Ok(())
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Collector>, CollectError> {
        let mut config = self.clone();
        config.base_url = ctx.url(&self.base_url);
        Ok(Box::new(BizCollector::new(&config, ctx.http.clone())?))
    }
}

/// What is remembered of one thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadState {
    /// The thread's `last_modified` (unix seconds) when it was last read.
    pub last_modified: i64,
    /// The highest post number emitted from it.
    pub max_no: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BizCursor {
    #[serde(default)]
    pub threads: BTreeMap<u64, ThreadState>,
}

#[derive(Debug, Clone, Deserialize)]
struct ListingPage {
    threads: Vec<ThreadRef>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
struct ThreadRef {
    no: u64,
    last_modified: i64,
}

#[derive(Debug, Deserialize)]
struct ThreadPosts {
    posts: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct ChanPost {
    no: u64,
    /// The thread's number; 0 for the opening post.
    resto: u64,
    time: i64,
    name: Option<String>,
    trip: Option<String>,
    id: Option<String>,
    sub: Option<String>,
    com: Option<String>,
    /// Opening post only.
    replies: Option<i64>,
}

/// The last `threads.json` read, kept so that a `304` can be answered from it.
struct Listing {
    last_modified: String,
    threads: Vec<ThreadRef>,
}

pub struct BizCollector {
    http: Http,
    config: BizConfig,
    listing: Option<Listing>,
    last_request: Option<Instant>,
}

impl BizCollector {
    pub fn new(config: &BizConfig, mut http: HttpSettings) -> Result<Self, CollectError> {
        // A retry is a request too: its backoff (at least half the base delay) stays over the gap.
        http.retry_base_delay = http.retry_base_delay.max(2 * MIN_REQUEST_GAP);
        http.retry_max_delay = http.retry_max_delay.max(http.retry_base_delay);
        Ok(BizCollector {
            http: Http::new(SOURCE, http, None, "")?,
            config: config.clone(),
            listing: None,
            last_request: None,
        })
    }

    /// One GET, no sooner than [`MIN_REQUEST_GAP`] after the previous one.
    async fn get(
        &mut self,
        endpoint: &str,
        path: &str,
        if_modified_since: Option<String>,
    ) -> Result<Reply, CollectError> {
        if let Some(last) = self.last_request {
            tokio::time::sleep_until(last + MIN_REQUEST_GAP).await;
        }
        let url = format!("{}{path}", self.config.base_url.trim_end_matches('/'));
        self.last_request = Some(Instant::now());
        let reply = self
            .http
            .send(endpoint, |c| {
                let req = c.get(&url);
                match &if_modified_since {
                    Some(at) => req.header("if-modified-since", at),
                    None => req,
                }
            })
            .await;
        // Retries inside `send` wait at least the gap; the last attempt counts from its end.
        self.last_request = Some(Instant::now());
        let reply = reply?;
        if matches!(reply.status.as_u16(), 401 | 403) {
            return Err(CollectError::transient(
                SOURCE,
                format!(
                    "{endpoint} answered HTTP {}: {} (4chan may be refusing this address or User-Agent)",
                    reply.status.as_u16(),
                    reply.snippet()
                ),
                Duration::from_secs(1800),
            ));
        }
        Ok(reply)
    }

    /// The live threads: from `threads.json`, or the copy in memory when it says `304`.
    async fn threads(&mut self) -> Result<Vec<ThreadRef>, CollectError> {
        let since = self.listing.as_ref().map(|l| l.last_modified.clone());
        let reply = self
            .get(THREADS_ENDPOINT, THREADS_ENDPOINT, since)
            .await?;
        if reply.status == StatusCode::NOT_MODIFIED
            && let Some(listing) = &self.listing
        {
            return Ok(listing.threads.clone());
        }
        let reply = self.http.check(reply)?;
        let pages: Vec<ListingPage> = reply.json(SOURCE)?;
        let threads: Vec<ThreadRef> = pages.into_iter().flat_map(|p| p.threads).collect();
        self.listing = reply
            .headers
            .get("last-modified")
            .and_then(|v| v.to_str().ok())
            .map(|lm| Listing {
                last_modified: lm.to_owned(),
                threads: threads.clone(),
            });
        Ok(threads)
    }

    /// Posts of thread `no` newer than `known.max_no`, and the thread's new state; `None` when the
    /// thread is gone (404).
    async fn thread(
        &mut self,
        thread: ThreadRef,
        known: Option<ThreadState>,
    ) -> Result<Option<(Vec<Post>, ThreadState)>, CollectError> {
        let since = known.map(|k| http_date(k.last_modified));
        let path = format!("/{BOARD}/thread/{}.json", thread.no);
        let reply = self.get(THREAD_ENDPOINT, &path, since).await?;
        let max_seen = known.map(|k| k.max_no).unwrap_or(0);
        match reply.status {
            StatusCode::NOT_MODIFIED => {
                return Ok(Some((
                    vec![],
                    ThreadState {
                        last_modified: thread.last_modified,
                        max_no: max_seen,
                    },
                )));
            }
            StatusCode::NOT_FOUND => return Ok(None),
            _ => {}
        }
        let reply = self.http.check(reply)?;
        let body: ThreadPosts = reply.json(SOURCE)?;
        let mut posts = Vec::new();
        let mut max_no = max_seen;
        for (i, raw) in body.posts.iter().enumerate() {
            let p: ChanPost = parse_item(SOURCE, THREAD_ENDPOINT, &format!("posts[{i}]"), raw)?;
            if p.no <= max_seen {
                continue;
            }
            max_no = max_no.max(p.no);
            if let Some(post) = to_post(&p, thread.no, raw) {
                posts.push(post);
            }
        }
        Ok(Some((
            posts,
            ThreadState {
                last_modified: thread.last_modified,
                max_no,
            },
        )))
    }
}

#[async_trait::async_trait]
impl Source for BizCollector {
    const NAME: &'static str = SOURCE;
    type Cursor = BizCursor;

    async fn poll(
        &mut self,
        cursor: Option<Self::Cursor>,
    ) -> Result<Batch<Self::Cursor>, CollectError> {
        let state = cursor.unwrap_or_default();
        let live = self.threads().await?;
        // Threads that left the board are forgotten; the rest keep their state until read again.
        let mut next = BizCursor {
            threads: live
                .iter()
                .filter_map(|t| state.threads.get(&t.no).map(|s| (t.no, *s)))
                .collect(),
        };
        let mut changed: Vec<ThreadRef> = live
            .into_iter()
            .filter(|t| {
                state
                    .threads
                    .get(&t.no)
                    .is_none_or(|s| t.last_modified > s.last_modified)
            })
            .collect();
        changed.sort_by_key(|t| std::cmp::Reverse(t.last_modified));
        let limit = self.config.max_threads_per_round as usize;
        let more = changed.len() > limit;
        changed.truncate(limit);

        let mut posts = Vec::new();
        let mut stopped = None;
        for thread in changed {
            match self.thread(thread, state.threads.get(&thread.no).copied()).await {
                Ok(Some((found, updated))) => {
                    posts.extend(found);
                    next.threads.insert(thread.no, updated);
                }
                Ok(None) => {
                    tracing::debug!(source = SOURCE, thread = thread.no, "Thread gone (404).");
                    next.threads.remove(&thread.no);
                }
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => {
                    stopped = Some(e);
                    break;
                }
            }
        }
        let pause = self
            .last_request
            .map(|t| (t + MIN_REQUEST_GAP).saturating_duration_since(Instant::now()))
            .unwrap_or_default()
            .max(self.http.pause_remaining());
        super::finish_post_round(
            posts,
            more,
            stopped,
            self.config.poll_interval,
            pause,
            next,
        )
    }
}

/// A 4chan post as a coinpulse post; `None` when it has no text.
fn to_post(p: &ChanPost, thread: u64, raw: &serde_json::Value) -> Option<Post> {
    let text = [p.sub.as_deref(), p.com.as_deref()]
        .into_iter()
        .flatten()
        .map(super::text::html_to_text)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    if text.is_empty() {
        return None;
    }
    let created_at = DateTime::<Utc>::from_timestamp(p.time, 0)?;
    let mut author = p
        .name
        .as_deref()
        .map(super::text::decode_entities)
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "Anonymous".to_owned());
    if let Some(trip) = p.trip.as_deref().filter(|t| !t.is_empty()) {
        author = format!("{author} {trip}");
    }
    if let Some(id) = p.id.as_deref().filter(|t| !t.is_empty()) {
        author = format!("{author} ID:{id}");
    }
    let thread = if p.resto == 0 { p.no } else { thread };
    Some(Post {
        platform: Platform::Fourchan,
        external_id: p.no.to_string(),
        author: Some(author),
        text,
        url: Some(format!(
            "https://boards.4chan.org/{BOARD}/thread/{thread}#p{}",
            p.no
        )),
        created_at,
        language: None,
        engagement: Engagement {
            replies: p.replies,
            ..Default::default()
        },
        raw: Some(raw.clone()),
    })
}

/// Unix seconds as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date(unix: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix, 0)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_are_rfc_7231() {
        assert_eq!(http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn comment_html_becomes_text_and_the_author_carries_trip_and_id() {
        let raw = serde_json::json!({
            "no": 20, "resto": 10, "time": 1700000000, "name": "Anonymous", "trip": "!Ep8pui8Vw2",
            "id": "Ab12Cd34",
            "com": "<a href=\"#p19\" class=\"quotelink\">&gt;&gt;19</a><br><span class=\"quote\">&gt;buying the dip</span><br>see https://example.com/very<wbr>long <s>ngmi</s> it&#039;s over"
        });
        let p: ChanPost = serde_json::from_value(raw.clone()).unwrap();
        let post = to_post(&p, 10, &raw).unwrap();
        assert_eq!(
            post.text,
            ">>19\n>buying the dip\nsee https://example.com/verylong ngmi it's over"
        );
        assert_eq!(post.author.as_deref(), Some("Anonymous !Ep8pui8Vw2 ID:Ab12Cd34"));
        assert_eq!(
            post.url.as_deref(),
            Some("https://boards.4chan.org/biz/thread/10#p20")
        );
        assert_eq!(post.external_id, "20");
    }

    #[test]
    fn the_poll_interval_keeps_the_api_rule() {
        let config = BizConfig {
            poll_interval: Duration::from_secs(5),
            ..BizConfig::default()
        };
        assert!(
            config
                .check()
                .unwrap_err()
                .contains("sources.biz.poll_interval")
        );
        assert!(BizConfig::default().check().is_ok());
    }
}
