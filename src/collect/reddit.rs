//! Reddit: new submissions and new comments of the configured subreddits, app-only OAuth2.
//!
//! The token comes from the client-credentials grant and is fetched again when it is about to expire
//! or when the API answers 401. All subreddits share one request per stream (`r/a+b+c/new`,
//! `r/a+b+c/comments`). Each stream polls with `before=<newest fullname seen>`, paging towards newer
//! items while pages come back full. When the anchor item is removed, Reddit answers an empty listing
//! forever; so an empty answer for an anchor older than `anchor_max_age` triggers one unanchored read
//! that keeps only items newer than the anchor's time (and not among the last ids seen), and re-anchors
//! on the newest item. `[deleted]`/`[removed]` bodies are never stored as text.
//!
//! Cursor: `{"submissions": {"before": "t3_..", "created_utc": 1.7e9, "recent": [..]}, "comments": {..}}`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::http::{Http, HttpSettings, parse_item};
use super::{Batch, BuildContext, SourceConfig, Budget, CollectError, Collector, Source};
use crate::model::{Engagement, Platform, Post};

const SOURCE: &str = "reddit";
const TOKEN_PATH: &str = "/api/v1/access_token";
/// Fullnames of the newest items kept in the cursor to drop repeats at the anchor's edge.
const RECENT_KEPT: usize = 20;

/// `[sources.reddit]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedditConfig {
    pub enabled: bool,
    pub client_id_env: String,
    pub client_secret_env: String,
    /// Your Reddit username, put in the User-Agent as Reddit's rules ask (`... (by /u/name)`).
    pub username: Option<String>,
    /// Where tokens come from.
    pub auth_url: String,
    /// Where listings come from.
    pub base_url: String,
    pub subreddits: Vec<String>,
    pub submissions: bool,
    pub comments: bool,
    pub max_pages_per_round: u32,
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// An empty `before` answer for an anchor older than this triggers the unanchored fallback read.
    #[serde(with = "humantime_serde")]
    pub anchor_max_age: Duration,
    pub budget: Budget,
}

impl Default for RedditConfig {
    fn default() -> Self {
        RedditConfig {
            enabled: false,
            client_id_env: "REDDIT_CLIENT_ID".into(),
            client_secret_env: "REDDIT_CLIENT_SECRET".into(),
            username: None,
            auth_url: "https://www.reddit.com".into(),
            base_url: "https://oauth.reddit.com".into(),
            subreddits: vec![
                "CryptoCurrency".into(),
                "Bitcoin".into(),
                "ethereum".into(),
                "CryptoMarkets".into(),
            ],
            submissions: true,
            comments: true,
            max_pages_per_round: 5,
            poll_interval: Duration::from_secs(60),
            anchor_max_age: Duration::from_secs(600),
            // The free tier allows 100 queries per minute per client id; keep headroom.
            budget: Budget::new(90, Duration::from_secs(60)),
        }
    }
}

impl SourceConfig for RedditConfig {
    const NAME: &'static str = SOURCE;

    fn enabled(&self) -> bool {
        self.enabled
    }

    fn check(&self) -> Result<(), String> {
        if self.enabled {
            super::check_env_name("sources.reddit.client_id_env", &self.client_id_env)?;
            super::check_env_name("sources.reddit.client_secret_env", &self.client_secret_env)?;
            if self.subreddits.is_empty() {
                return Err("invalid value for key `sources.reddit.subreddits`: name at least one subreddit".into());
            }
        }
        for s in &self.subreddits {
            if s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "invalid value for key `sources.reddit.subreddits`: `{s}` is not a subreddit name (no r/ prefix)"
                ));
            }
        }
        super::check_url("sources.reddit.auth_url", &self.auth_url)?;
        super::check_url("sources.reddit.base_url", &self.base_url)?;
        super::check_positive(
            "sources.reddit.max_pages_per_round",
            self.max_pages_per_round.into(),
        )?;
        self.budget.check("sources.reddit.budget")
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Collector>, CollectError> {
        let mut config = self.clone();
        config.base_url = ctx.url(&self.base_url);
        config.auth_url = ctx.url(&self.auth_url);
        let id = ctx.secrets.require(
            SOURCE,
            "sources.reddit.client_id_env",
            &self.client_id_env,
        )?;
        let secret = ctx.secrets.require(
            SOURCE,
            "sources.reddit.client_secret_env",
            &self.client_secret_env,
        )?;
        Ok(Box::new(RedditCollector::new(
            &config,
            ctx.http.clone(),
            id,
            secret,
        )?))
    }
}

/// Where one stream stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamCursor {
    pub before: Option<String>,
    pub created_utc: Option<f64>,
    #[serde(default)]
    pub recent: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Listing {
    data: ListingData,
}

#[derive(Debug, Deserialize)]
struct ListingData {
    #[serde(default)]
    children: Vec<Thing>,
}

#[derive(Debug, Deserialize)]
struct Thing {
    kind: String,
    data: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct Item {
    name: String,
    created_utc: f64,
    author: Option<String>,
    permalink: Option<String>,
    score: Option<i64>,
    // t3
    title: Option<String>,
    selftext: Option<String>,
    num_comments: Option<i64>,
    // t1
    body: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    expires_in: Option<u64>,
    error: Option<serde_json::Value>,
}

fn is_gone(text: &str) -> bool {
    matches!(text.trim(), "[deleted]" | "[removed]")
}

fn to_time(utc: f64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt((utc * 1000.0).round() as i64)
        .single()
}

pub struct RedditCollector {
    http: Http,
    client_id: SecretString,
    client_secret: SecretString,
    config: RedditConfig,
    token: Option<(SecretString, Instant)>,
}

impl RedditCollector {
    pub fn new(
        config: &RedditConfig,
        mut http: HttpSettings,
        client_id: SecretString,
        client_secret: SecretString,
    ) -> Result<Self, CollectError> {
        super::require_tls(SOURCE, "sources.reddit.base_url", &config.base_url)?;
        super::require_tls(SOURCE, "sources.reddit.auth_url", &config.auth_url)?;
        super::redact::register_basic("reddit.client", &client_id, &client_secret);
        if http.user_agent.is_none() {
            // Reddit's rules: <platform>:<app id>:<version> (by /u/<username>).
            let by = config
                .username
                .as_deref()
                .map(|u| format!(" (by /u/{u})"))
                .unwrap_or_else(|| format!(" (+{})", super::http::user_agent()));
            http.user_agent = Some(format!(
                "{}:coinpulse:v{}{by}",
                std::env::consts::OS,
                env!("CARGO_PKG_VERSION")
            ));
        }
        let hint = format!(
            "check the app's client id and secret in {} and {} (`sources.reddit.client_id_env`, `sources.reddit.client_secret_env`) and that the subreddits are public",
            config.client_id_env, config.client_secret_env
        );
        Ok(RedditCollector {
            http: Http::new(SOURCE, http, Some(config.budget), hint)?,
            client_id,
            client_secret,
            config: config.clone(),
            token: None,
        })
    }

    async fn token(&mut self) -> Result<SecretString, CollectError> {
        if let Some((token, expires)) = &self.token
            && Instant::now() < *expires
        {
            return Ok(token.clone());
        }
        let url = format!("{}{TOKEN_PATH}", self.config.auth_url.trim_end_matches('/'));
        let (id, secret) = (self.client_id.clone(), self.client_secret.clone());
        let reply = self
            .http
            .send(TOKEN_PATH, |c| {
                c.post(&url)
                    .basic_auth(id.expose_secret(), Some(secret.expose_secret()))
                    .form(&[("grant_type", "client_credentials")])
            })
            .await?;
        let reply = self.http.check(reply)?;
        let resp: TokenResponse = reply.json(SOURCE)?;
        let Some(access) = resp.access_token.filter(|t| !t.is_empty()) else {
            return Err(CollectError::fatal(
                SOURCE,
                format!(
                    "token endpoint gave no access_token (error: {}); check the client id and secret",
                    resp.error
                        .map(|e| e.to_string())
                        .unwrap_or_else(|| "none".into())
                ),
            ));
        };
        let lifetime = Duration::from_secs(resp.expires_in.unwrap_or(3600));
        // Renew a minute early so a token never expires between check and use.
        let expires = Instant::now() + lifetime.saturating_sub(Duration::from_secs(60));
        tracing::debug!(
            source = SOURCE,
            lifetime_s = lifetime.as_secs(),
            "Fetched an app-only token."
        );
        let token = SecretString::from(access);
        super::redact::register_secret("reddit.access_token", &token);
        self.token = Some((token.clone(), expires));
        Ok(token)
    }

    /// One listing page; refreshes the token once on a 401.
    async fn listing(
        &mut self,
        path: &str,
        before: Option<&str>,
    ) -> Result<Vec<Thing>, CollectError> {
        let url = format!("{}{path}", self.config.base_url.trim_end_matches('/'));
        let mut params = vec![("limit", "100".to_owned()), ("raw_json", "1".to_owned())];
        if let Some(b) = before {
            params.push(("before", b.to_owned()));
        }
        for attempt in 0..2 {
            let token = self.token().await?;
            let reply = self
                .http
                .send(path, |c| {
                    c.get(&url)
                        .query(&params)
                        .bearer_auth(token.expose_secret())
                })
                .await?;
            if reply.status.as_u16() == 401 && attempt == 0 {
                tracing::info!(
                    source = SOURCE,
                    endpoint = path,
                    "Token refused, fetching a new one."
                );
                self.token = None;
                continue;
            }
            let reply = self.http.check(reply)?;
            let listing: Listing = reply.json(SOURCE)?;
            return Ok(listing.data.children);
        }
        unreachable!("the second attempt always returns")
    }

    fn to_post(
        &self,
        path: &str,
        i: usize,
        thing: &Thing,
    ) -> Result<Option<(Post, f64)>, CollectError> {
        let item: Item = parse_item(
            SOURCE,
            path,
            &format!("data.children[{i}].data"),
            &thing.data,
        )?;
        let created_at = to_time(item.created_utc).ok_or_else(|| {
            CollectError::transient(
                SOURCE,
                format!("malformed response from {path}: field `data.children[{i}].data.created_utc` is out of range"),
                Duration::from_secs(60),
            )
        })?;
        let text = match thing.kind.as_str() {
            "t3" => {
                let title = item.title.clone().unwrap_or_default();
                match item.selftext.as_deref() {
                    Some(s) if !s.trim().is_empty() && !is_gone(s) => format!("{title}\n\n{s}"),
                    _ => title,
                }
            }
            "t1" => match item.body.as_deref() {
                Some(b) if !is_gone(b) => b.to_owned(),
                _ => return Ok(None),
            },
            _ => return Ok(None),
        };
        if text.trim().is_empty() || is_gone(&text) {
            return Ok(None);
        }
        let author = item.author.filter(|a| !is_gone(a));
        Ok(Some((
            Post {
                platform: Platform::Reddit,
                external_id: item.name,
                author,
                text,
                url: item.permalink.map(|p| format!("https://www.reddit.com{p}")),
                created_at,
                language: None,
                engagement: Engagement {
                    replies: item.num_comments,
                    likes: item.score,
                    ..Default::default()
                },
                raw: Some(thing.data.clone()),
            },
            item.created_utc,
        )))
    }

    /// Polls one stream; returns whether pages are left for the next round.
    async fn poll_stream(
        &mut self,
        path: &str,
        state: &mut StreamCursor,
        posts: &mut Vec<Post>,
    ) -> Result<bool, CollectError> {
        let Some(anchor) = state.before.clone() else {
            let page = self.listing(path, None).await?;
            self.take(path, &page, state, posts, |_| true)?;
            return Ok(false);
        };
        let mut anchor = anchor;
        for pages in 0..self.config.max_pages_per_round {
            let page = self.listing(path, Some(&anchor)).await?;
            if page.is_empty() {
                if pages == 0 && self.anchor_is_stale(state) {
                    self.fallback(path, state, posts).await?;
                }
                return Ok(false);
            }
            let full = page.len() >= 100;
            let recent = state.recent.clone();
            self.take(path, &page, state, posts, |name| {
                !recent.iter().any(|r| r == name)
            })?;
            if !full {
                return Ok(false);
            }
            anchor = state.before.clone().unwrap_or(anchor);
        }
        Ok(true)
    }

    fn anchor_is_stale(&self, state: &StreamCursor) -> bool {
        let now = self.http.now().timestamp() as f64;
        state
            .created_utc
            .is_none_or(|t| now - t > self.config.anchor_max_age.as_secs_f64())
    }

    async fn fallback(
        &mut self,
        path: &str,
        state: &mut StreamCursor,
        posts: &mut Vec<Post>,
    ) -> Result<(), CollectError> {
        tracing::info!(
            source = SOURCE,
            endpoint = path,
            anchor = state.before.as_deref().unwrap_or(""),
            "Anchor gave an empty listing; reading the newest items to re-anchor."
        );
        let page = self.listing(path, None).await?;
        let since = state.created_utc.unwrap_or(f64::MIN);
        let recent = state.recent.clone();
        let times: Vec<Option<f64>> = page
            .iter()
            .map(|t| t.data.get("created_utc").and_then(|v| v.as_f64()))
            .collect();
        let names: Vec<Option<String>> = page
            .iter()
            .map(|t| {
                t.data
                    .get("name")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            })
            .collect();
        self.take(path, &page, state, posts, |name| {
            let i = names.iter().position(|n| n.as_deref() == Some(name));
            let t = i.and_then(|i| times[i]).unwrap_or(f64::MIN);
            // Same second as the anchor: new unless it is one of the ids already seen.
            t > since || (t == since && !recent.iter().any(|r| r == name))
        })
    }

    /// Converts a page (newest first), keeps the items `keep` accepts, and moves the anchor to the
    /// page's newest item.
    fn take(
        &self,
        path: &str,
        page: &[Thing],
        state: &mut StreamCursor,
        posts: &mut Vec<Post>,
        keep: impl Fn(&str) -> bool,
    ) -> Result<(), CollectError> {
        let mut converted = Vec::new();
        let mut names = Vec::new();
        let mut newest: Option<(String, f64)> = None;
        let mut skipped = 0usize;
        for (i, thing) in page.iter().enumerate() {
            let item: Item = parse_item(
                SOURCE,
                path,
                &format!("data.children[{i}].data"),
                &thing.data,
            )?;
            if newest.is_none() {
                newest = Some((item.name.clone(), item.created_utc));
            }
            names.push(item.name.clone());
            if !keep(&item.name) {
                continue;
            }
            match self.to_post(path, i, thing)? {
                Some((post, _)) => converted.push(post),
                None => skipped += 1,
            }
        }
        if skipped > 0 {
            tracing::debug!(
                source = SOURCE,
                endpoint = path,
                skipped,
                "Skipped deleted or removed items."
            );
        }
        if let Some((name, utc)) = newest {
            state.before = Some(name);
            state.created_utc = Some(utc);
            names.append(&mut state.recent);
            names.dedup();
            names.truncate(RECENT_KEPT);
            state.recent = names;
        }
        // Oldest first, the order they were written.
        converted.reverse();
        posts.extend(converted);
        Ok(())
    }
}

#[async_trait::async_trait]
impl Source for RedditCollector {
    const NAME: &'static str = SOURCE;
    type Cursor = BTreeMap<String, StreamCursor>;

    async fn poll(
        &mut self,
        cursor: Option<Self::Cursor>,
    ) -> Result<Batch<Self::Cursor>, CollectError> {
        let mut streams = cursor.unwrap_or_default();
        let subs = self.config.subreddits.join("+");
        let mut wanted = Vec::new();
        if self.config.submissions {
            wanted.push(("submissions", format!("/r/{subs}/new")));
        }
        if self.config.comments {
            wanted.push(("comments", format!("/r/{subs}/comments")));
        }
        let mut posts = Vec::new();
        let mut more = false;
        let mut stopped = None;
        for (stream, path) in wanted {
            let mut state = streams.get(stream).cloned().unwrap_or_default();
            match self.poll_stream(&path, &mut state, &mut posts).await {
                Ok(m) => more |= m,
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => {
                    // Whatever this stream took before the error is covered by `state`.
                    streams.insert(stream.to_owned(), state);
                    if posts.is_empty() {
                        return Err(e);
                    }
                    stopped = Some(e);
                    break;
                }
            }
            streams.insert(stream.to_owned(), state);
        }
        let mut next_poll_in = if more {
            Duration::ZERO
        } else {
            self.config.poll_interval
        };
        if let Some(e) = stopped {
            tracing::info!(source = SOURCE, error = %e, "Round cut short; keeping what was fetched.");
            next_poll_in = e.retry_in().unwrap_or(self.config.poll_interval);
        }
        Ok(Batch {
            posts,
            prices: vec![],
            cursor: Some(streams),
            next_poll_in: next_poll_in.max(self.http.pause_remaining()),
            ..Default::default()
        })
    }
}
