//! News feeds: the RSS and Atom feeds of crypto news sites, free and without an account.
//!
//! Each configured feed is fetched with a conditional GET: the `ETag` and `Last-Modified` of its last
//! answer go back as `If-None-Match` / `If-Modified-Since`, and a `304 Not Modified` costs the site
//! nothing and us nothing. Documents are parsed with `feed-rs` (RSS 0.9x, 1.0 and 2.0, Atom, JSON
//! Feed; CDATA, entities and the XML prolog's encoding handled there).
//!
//! What becomes a post:
//! - **Id**: the entry's `guid` / Atom `id`; without one, its link; an entry with neither has no
//!   stable identity and is skipped (logged). A guid that is not a URL, URN or tag URI (`1234`, a
//!   bare UUID) is only unique within its feed, so it is stored as `<feed URL>#<guid>`.
//! - **Text**: the title, a blank line, then the summary (RSS `description`, Atom `summary`), both
//!   reduced from HTML to text. The full article body (`content:encoded`, Atom `content`) is used only
//!   when there is no summary: it is long, repeats the summary and carries site boilerplate that would
//!   swamp the headline's tone.
//! - **Time**: `published`, else `updated`, else the time of the fetch (a feed that dates nothing
//!   still gets its items counted in the hour they appeared).
//! - **Author**: the entry's authors (`author`, `dc:creator`), comma-separated; the link is the URL.
//!
//! A feed that fails (unreachable, an HTTP error, a document that does not parse) is logged with its
//! URL and keeps its cursor; the other feeds go on. The round fails only when every feed failed.
//! Each feed has its own HTTP client, so a 429 from one site pauses only that site.
//!
//! Cursor: `{"feeds": {"<feed URL>": {"etag": "...", "last_modified": "...", "seen": ["<id>", ...]}}}`
//! where `seen` holds the ids of the feed's last document: a feed is a window over its newest items,
//! so an id is new when the previous window did not have it (the store's unique key catches the rare
//! item that drops out and comes back).

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use super::http::{Http, HttpSettings};
use super::{Batch, BuildContext, CollectError, Collector, Source, SourceConfig};
use crate::model::{Platform, Post};

const SOURCE: &str = "news";

/// The most ids remembered per feed (a feed longer than this re-offers its oldest items, which the
/// store then counts as duplicates).
const SEEN_CAP: usize = 1000;

/// `[sources.news]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NewsConfig {
    pub enabled: bool,
    /// RSS or Atom URLs.
    pub feeds: Vec<String>,
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Replaces coinpulse's own User-Agent for these requests (some sites refuse unknown clients).
    pub user_agent: Option<String>,
}

/// Public feeds of the large crypto news sites.
pub const DEFAULT_FEEDS: [&str; 5] = [
    "https://www.coindesk.com/arc/outboundfeeds/rss/",
    "https://cointelegraph.com/rss",
    "https://decrypt.co/feed",
    "https://www.theblock.co/rss.xml",
    "https://bitcoinmagazine.com/.rss/full/",
];

impl Default for NewsConfig {
    fn default() -> Self {
        NewsConfig {
            enabled: false,
            feeds: DEFAULT_FEEDS.iter().map(|f| (*f).to_owned()).collect(),
            poll_interval: Duration::from_secs(300),
            user_agent: None,
        }
    }
}

impl SourceConfig for NewsConfig {
    const NAME: &'static str = SOURCE;

    fn enabled(&self) -> bool {
        self.enabled
    }

    fn check(&self) -> Result<(), String> {
        if self.enabled && self.feeds.is_empty() {
            return Err(
                "missing value for key `sources.news.feeds`: list at least one feed URL".into(),
            );
        }
        let mut unique = HashSet::new();
        for feed in &self.feeds {
            super::check_url("sources.news.feeds", feed)?;
            if !unique.insert(feed.as_str()) {
                return Err(format!(
                    "invalid value for key `sources.news.feeds`: `{feed}` is listed twice"
                ));
            }
        }
        if self.poll_interval.is_zero() {
            return Err("invalid value for key `sources.news.poll_interval`: must be more than 0s".into());
        }
        if self
            .user_agent
            .as_deref()
            .is_some_and(|ua| ua.trim().is_empty())
        {
            return Err(
                "invalid value for key `sources.news.user_agent`: empty (leave it out for the default)"
                    .into(),
            );
        }
        Ok(())
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Collector>, CollectError> {
        let feeds = self
            .feeds
            .iter()
            .map(|url| {
                let fetch = match ctx.base_url {
                    Some(base) => rebase(url, base),
                    None => url.clone(),
                };
                (url.clone(), fetch)
            })
            .collect();
        Ok(Box::new(NewsCollector::new(self, ctx.http.clone(), feeds)?))
    }
}

/// `url`'s path and query on `base`'s scheme and host (`--base-url`, the demo sandbox).
fn rebase(url: &str, base: &str) -> String {
    let tail = reqwest::Url::parse(url)
        .map(|u| match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        })
        .unwrap_or_default();
    format!("{}{tail}", base.trim_end_matches('/'))
}

/// What is remembered of one feed between rounds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    #[serde(default)]
    pub seen: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewsCursor {
    #[serde(default)]
    pub feeds: BTreeMap<String, FeedState>,
}

/// Why one feed gave nothing this round. The message names the feed.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("feed {url}: {}", reason(source))]
    Fetch {
        url: String,
        #[source]
        source: CollectError,
    },
    #[error("feed {url}: not a feed document: {reason}")]
    Parse { url: String, reason: String },
}

/// A collect error's message without the source name in front (the round's error adds it once).
fn reason(e: &CollectError) -> &str {
    match e {
        CollectError::Fatal { message, .. }
        | CollectError::Transient { message, .. }
        | CollectError::RateLimited { message, .. } => message,
    }
}

/// One feed's answer.
enum Fetched {
    NotModified,
    Document {
        etag: Option<String>,
        last_modified: Option<String>,
        body: Vec<u8>,
    },
}

struct Feed {
    /// As configured: the key of its cursor entry.
    url: String,
    /// Where it is fetched (the configured URL unless a base URL replaces the host).
    fetch_url: String,
    http: Http,
}

impl Feed {
    async fn fetch(&mut self, state: &FeedState) -> Result<Fetched, CollectError> {
        let url = self.fetch_url.clone();
        let (etag, since) = (state.etag.clone(), state.last_modified.clone());
        let reply = self
            .http
            .send(&self.url, |c| {
                let mut req = c.get(&url).header(
                    "accept",
                    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5",
                );
                if let Some(tag) = &etag {
                    req = req.header("if-none-match", tag);
                }
                if let Some(at) = &since {
                    req = req.header("if-modified-since", at);
                }
                req
            })
            .await?;
        if reply.status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if matches!(reply.status.as_u16(), 429 | 418) {
            let wait = self
                .http
                .rate_limit_wait(&reply, Duration::from_secs(600));
            self.http.block_for(wait);
            return Err(CollectError::rate_limited(
                SOURCE,
                format!(
                    "answered HTTP {}; next request in {}s",
                    reply.status.as_u16(),
                    wait.as_secs()
                ),
                wait,
            ));
        }
        if !reply.status.is_success() {
            return Err(CollectError::transient(
                SOURCE,
                format!("answered HTTP {}: {}", reply.status.as_u16(), reply.snippet()),
                Duration::from_secs(300),
            ));
        }
        let header = |name: &str| {
            reply
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(Fetched::Document {
            etag: header("etag"),
            last_modified: header("last-modified"),
            body: reply.body,
        })
    }
}

pub struct NewsCollector {
    feeds: Vec<Feed>,
    poll_interval: Duration,
}

impl NewsCollector {
    /// `feeds`: each configured URL with the URL it is fetched from.
    pub fn new(
        config: &NewsConfig,
        mut http: HttpSettings,
        feeds: Vec<(String, String)>,
    ) -> Result<Self, CollectError> {
        if feeds.is_empty() {
            return Err(CollectError::fatal(
                SOURCE,
                "no feeds to read (set `sources.news.feeds`)",
            ));
        }
        if let Some(ua) = &config.user_agent {
            http.user_agent = Some(ua.clone());
        }
        let feeds = feeds
            .into_iter()
            .map(|(url, fetch_url)| {
                Ok(Feed {
                    http: Http::new(SOURCE, http.clone(), None, "the site refuses this client")?,
                    url,
                    fetch_url,
                })
            })
            .collect::<Result<_, CollectError>>()?;
        Ok(NewsCollector {
            feeds,
            poll_interval: config.poll_interval,
        })
    }
}

#[async_trait::async_trait]
impl Source for NewsCollector {
    const NAME: &'static str = SOURCE;
    type Cursor = NewsCursor;

    async fn poll(
        &mut self,
        cursor: Option<Self::Cursor>,
    ) -> Result<Batch<Self::Cursor>, CollectError> {
        let state = cursor.unwrap_or_default();
        let mut next = NewsCursor::default();
        let mut posts = Vec::new();
        let mut failed: Vec<FeedError> = Vec::new();
        for feed in &mut self.feeds {
            let before = state.feeds.get(&feed.url).cloned().unwrap_or_default();
            let fetched = feed.fetch(&before).await.map_err(|source| FeedError::Fetch {
                url: feed.url.clone(),
                source,
            });
            let now = feed.http.now();
            let outcome = fetched.and_then(|f| match f {
                Fetched::NotModified => Ok(None),
                Fetched::Document {
                    etag,
                    last_modified,
                    body,
                } => parse_feed(&feed.url, &body, now).map(|items| Some((etag, last_modified, items))),
            });
            match outcome {
                Ok(None) => {
                    tracing::debug!(source = SOURCE, feed = %feed.url, "Feed not modified.");
                    next.feeds.insert(feed.url.clone(), before);
                }
                Ok(Some((etag, last_modified, items))) => {
                    let seen: HashSet<&str> = before.seen.iter().map(String::as_str).collect();
                    let ids: Vec<String> = items
                        .iter()
                        .take(SEEN_CAP)
                        .map(|p| p.external_id.clone())
                        .collect();
                    let fresh: Vec<Post> = items
                        .into_iter()
                        .filter(|p| !seen.contains(p.external_id.as_str()))
                        .collect();
                    tracing::debug!(source = SOURCE, feed = %feed.url, new = fresh.len(), "Feed read.");
                    posts.extend(fresh);
                    next.feeds.insert(
                        feed.url.clone(),
                        FeedState {
                            etag,
                            last_modified,
                            seen: ids,
                        },
                    );
                }
                Err(e) => {
                    // Logged once for the round by the daemon, with every failing feed.
                    next.feeds.insert(feed.url.clone(), before);
                    failed.push(e);
                }
            }
        }
        if failed.len() == self.feeds.len() {
            return Err(all_failed(failed, self.poll_interval));
        }
        let partial = (!failed.is_empty()).then(|| {
            let reasons: Vec<String> = failed.iter().map(ToString::to_string).collect();
            format!(
                "{} of {} feeds failed: {}",
                failed.len(),
                self.feeds.len(),
                reasons.join("; ")
            )
        });
        Ok(Batch {
            posts,
            prices: vec![],
            cursor: Some(next),
            next_poll_in: self.poll_interval,
            partial,
            ..Default::default()
        })
    }
}

/// The round's error when no feed answered: each feed's reason, waiting as the soonest asks.
fn all_failed(failed: Vec<FeedError>, poll_interval: Duration) -> CollectError {
    let rate_limited = failed.iter().all(|e| {
        matches!(
            e,
            FeedError::Fetch {
                source: CollectError::RateLimited { .. },
                ..
            }
        )
    });
    let retry_in = failed
        .iter()
        .filter_map(|e| match e {
            FeedError::Fetch { source, .. } => source.retry_in(),
            FeedError::Parse { .. } => Some(poll_interval),
        })
        .min()
        .unwrap_or(poll_interval);
    let message = failed
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if rate_limited {
        CollectError::rate_limited(SOURCE, message, retry_in)
    } else {
        CollectError::transient(SOURCE, message, retry_in)
    }
}

/// The posts of one feed document, in document order. `fetched_at` dates the entries that carry
/// no date of their own.
pub fn parse_feed(
    feed_url: &str,
    body: &[u8],
    fetched_at: DateTime<Utc>,
) -> Result<Vec<Post>, FeedError> {
    // No generated ids: an entry without a guid falls back to its link here, not to a hash.
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(feed_url))
        .id_generator(|_, _, _| String::new())
        .build();
    let feed = parser.parse(body).map_err(|e| FeedError::Parse {
        url: feed_url.to_owned(),
        reason: e.to_string(),
    })?;
    let feed_language = feed.language.as_deref().and_then(primary_language);
    let mut posts = Vec::with_capacity(feed.entries.len());
    for entry in feed.entries {
        let link = entry
            .links
            .iter()
            .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
            .map(|l| l.href.trim().to_owned())
            .filter(|l| !l.is_empty());
        let guid = entry.id.trim();
        let external_id = if !guid.is_empty() {
            scoped_guid(feed_url, guid)
        } else if let Some(link) = &link {
            link.clone()
        } else {
            tracing::info!(source = SOURCE, feed = %feed_url, "Feed entry without guid or link skipped.");
            continue;
        };
        let title = entry.title.as_ref().map(|t| to_text(&t.content));
        let summary = entry
            .summary
            .as_ref()
            .map(|t| to_text(&t.content))
            .filter(|s| !s.is_empty())
            .or_else(|| {
                entry
                    .content
                    .as_ref()
                    .and_then(|c| c.body.as_deref())
                    .map(to_text)
            });
        let text = [title.as_deref(), summary.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n\n");
        if text.is_empty() {
            tracing::info!(source = SOURCE, feed = %feed_url, id = %external_id, "Feed entry without title or text skipped.");
            continue;
        }
        let authors: Vec<&str> = entry
            .authors
            .iter()
            .map(|a| a.name.trim())
            .filter(|n| !n.is_empty())
            .collect();
        let raw = serde_json::json!({
            "feed": feed_url,
            "id": entry.id,
            "link": link,
            "title": entry.title.as_ref().map(|t| &t.content),
            "summary": entry.summary.as_ref().map(|t| &t.content),
            "published": entry.published,
            "updated": entry.updated,
            "authors": authors,
            "categories": entry.categories.iter().map(|c| &c.term).collect::<Vec<_>>(),
        });
        posts.push(Post {
            platform: Platform::News,
            external_id,
            author: (!authors.is_empty()).then(|| authors.join(", ")),
            text,
            url: link,
            created_at: entry.published.or(entry.updated).unwrap_or(fetched_at),
            language: entry
                .language
                .as_deref()
                .and_then(primary_language)
                .or_else(|| feed_language.clone()),
            engagement: Default::default(),
            raw: Some(raw),
        });
    }
    Ok(posts)
}

/// A guid as a post id: URLs, URNs and tag URIs are globally unique; anything else is scoped to
/// its feed.
fn scoped_guid(feed_url: &str, guid: &str) -> String {
    let global = guid.contains("://")
        || ["urn:", "tag:"]
            .iter()
            .any(|p| guid.len() > p.len() && guid[..p.len()].eq_ignore_ascii_case(p));
    if global {
        guid.to_owned()
    } else {
        format!("{feed_url}#{guid}")
    }
}

/// `en-US` → `en`.
fn primary_language(tag: &str) -> Option<String> {
    let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
    (!primary.is_empty()).then_some(primary)
}

/// HTML (or plain text that may hold entities) to text: whitespace in the source collapses as a
/// browser collapses it, block ends and `<br>` become line breaks.
fn to_text(html: &str) -> String {
    let collapsed = html.split_ascii_whitespace().collect::<Vec<_>>().join(" ");
    super::text::html_to_text(&collapsed)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_that_are_not_urls_are_scoped_to_their_feed() {
        let feed = "https://example.com/rss";
        assert_eq!(scoped_guid(feed, "https://a.example/x"), "https://a.example/x");
        assert_eq!(scoped_guid(feed, "urn:uuid:1225c695"), "urn:uuid:1225c695");
        assert_eq!(scoped_guid(feed, "tag:github.com,2008:x"), "tag:github.com,2008:x");
        assert_eq!(scoped_guid(feed, "1234"), "https://example.com/rss#1234");
    }

    #[test]
    fn base_url_replaces_scheme_and_host_only() {
        assert_eq!(
            rebase("https://cointelegraph.com/rss?x=1", "http://127.0.0.1:9/"),
            "http://127.0.0.1:9/rss?x=1"
        );
    }

    #[test]
    fn html_whitespace_collapses_and_blocks_break_lines() {
        assert_eq!(
            to_text("<p>Bitcoin\n   rallies</p>\n<p>ETH &amp; SOL</p>"),
            "Bitcoin rallies\nETH & SOL"
        );
        assert_eq!(primary_language("en-US").as_deref(), Some("en"));
    }

    #[test]
    fn an_empty_feed_list_is_refused_when_enabled() {
        let config = NewsConfig {
            enabled: true,
            feeds: vec![],
            ..NewsConfig::default()
        };
        assert!(config.check().unwrap_err().contains("sources.news.feeds"));
        let twice = NewsConfig {
            feeds: vec!["https://a.example/rss".into(), "https://a.example/rss".into()],
            ..NewsConfig::default()
        };
        assert!(twice.check().unwrap_err().contains("listed twice"));
    }
}
