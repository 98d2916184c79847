//! Collectors: the long-running tasks that fetch posts and prices from each configured source.
//!
//! Each source is one module with its config struct beside it, behind the [`Collector`] trait. A
//! collector does one polling round per [`Collector::poll`] call and returns what it found together
//! with the cursor that covers it; the caller commits the posts and the cursor in one transaction and
//! only then hands the new cursor back on the next call. A collector therefore never advances its own
//! position: a crash between fetch and commit means the same items are fetched again, and the store's
//! idempotent keys make that harmless.
//!
//! All sources share one HTTP layer ([`http`]) that owns timeouts, retries with backoff, the
//! User-Agent and rate limiting (each API's own headers plus a configured budget, see [`ratelimit`]).
//! A round that runs into a rate limit after it already fetched something returns what it has, with a
//! cursor that says exactly where it stopped, instead of throwing the work away.

pub mod cli;
pub mod http;
pub mod ratelimit;
pub mod redact;
pub mod registry;
pub mod text;

use std::time::Duration;

use serde::Deserialize;

use crate::model::{Asset, Post, PostRef, PricePoint};

pub use http::{Clock, HttpSettings};
pub use ratelimit::Budget;
pub use registry::{BuildContext, PostFilter, Secrets, SourceConfig};

// The one list of sources: a new source is its module file plus one line here.
registry::sources! {
    twitter::TwitterConfig,
    reddit::RedditConfig,
    youtube::YoutubeConfig,
    mastodon::MastodonConfig,
    bluesky::BlueskyConfig,
    coingecko::CoingeckoConfig,
    binance::BinanceConfig,
    jetstream::JetstreamConfig,
    news::NewsConfig,
    biz::BizConfig,
}

impl SourcesConfig {
    /// Checks what serde cannot: ranges, and that every enabled source names its credentials.
    /// Messages name the key (`sources.twitter.bearer_token_env`).
    pub fn check(&self) -> Result<(), String> {
        if self.timeout.is_zero() {
            return Err("invalid value for key `sources.timeout`: must be more than 0s".into());
        }
        self.check_sources()
    }

    /// The HTTP settings every collector built from this config uses.
    pub fn http_settings(&self) -> HttpSettings {
        HttpSettings {
            timeout: self.timeout,
            connect_timeout: self.connect_timeout,
            max_retries: self.max_retries,
            retry_base_delay: self.retry_base_delay,
            retry_max_delay: self.retry_max_delay,
            user_agent: None,
            clock: Clock::system(),
        }
    }

    /// The context collectors from this config are built with.
    pub fn build_context<'a>(
        &self,
        tracked: &'a [Asset],
        base_url: Option<&'a str>,
        secrets: &'a Secrets,
    ) -> BuildContext<'a> {
        BuildContext {
            http: self.http_settings(),
            tracked,
            base_url,
            secrets,
            filter: None,
        }
    }
}

/// Checks shared by the per-source `check`s.
pub(crate) fn check_env_name(key: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!(
            "missing value for key `{key}`: name the environment variable that holds the credential"
        ));
    }
    Ok(())
}

pub(crate) fn check_positive(key: &str, value: u64) -> Result<(), String> {
    if value == 0 {
        return Err(format!("invalid value for key `{key}`: must be at least 1"));
    }
    Ok(())
}

/// Refuses a plain `http://` base URL for a source that sends credentials, unless it points at this
/// machine (a local proxy, a test server): the token would cross the network in clear text.
pub(crate) fn require_tls(source: &str, key: &str, url: &str) -> Result<(), CollectError> {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Err(CollectError::fatal(
            source,
            format!("invalid value for key `{key}`: `{url}` is not a URL"),
        ));
    };
    let loopback = parsed.host_str().is_some_and(|host| {
        host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    if parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback) {
        return Ok(());
    }
    Err(CollectError::fatal(
        source,
        format!(
            "invalid value for key `{key}`: `{url}` would send the credential without TLS; \
             use https:// (plain http:// is accepted for localhost only)"
        ),
    ))
}

pub(crate) fn check_url(key: &str, value: &str) -> Result<(), String> {
    if !(value.starts_with("http://") || value.starts_with("https://")) {
        return Err(format!(
            "invalid value for key `{key}`: `{value}` is not an http(s) URL"
        ));
    }
    Ok(())
}

/// Which of the tracked assets a source asks about. Empty means all of them.
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Track {
    /// Only the `top` assets by market-cap rank (assets without a rank come last).
    pub top: Option<usize>,
    /// Only these assets, by symbol (`BTC`) or CoinGecko id (`bitcoin`), case-insensitive.
    pub assets: Vec<String>,
}

impl Track {
    /// The tracked assets this source asks about, best-ranked first.
    pub fn select(&self, tracked: &[Asset]) -> Vec<Asset> {
        let mut chosen: Vec<Asset> = if self.assets.is_empty() {
            tracked.to_vec()
        } else {
            tracked
                .iter()
                .filter(|a| {
                    self.assets.iter().any(|want| {
                        want.eq_ignore_ascii_case(&a.symbol) || want.eq_ignore_ascii_case(&a.id)
                    })
                })
                .cloned()
                .collect()
        };
        chosen.sort_by_key(|a| (a.rank.unwrap_or(u32::MAX), a.id.clone()));
        if let Some(top) = self.top {
            chosen.truncate(top);
        }
        chosen
    }
}

/// What one polling round produced. A [`Source`] returns its own cursor type `C`; the daemon sees
/// the stored JSON form (the default `C`), which [`Collector`] converts to.
#[derive(Debug)]
pub struct Batch<C = serde_json::Value> {
    pub posts: Vec<Post>,
    pub prices: Vec<PricePoint>,
    /// Posts their authors deleted upstream: removed from the store, if stored, with this batch.
    pub deleted: Vec<PostRef>,
    /// The position to store once `posts`, `prices` and `deleted` are committed. `None` keeps the
    /// old one.
    pub cursor: Option<C>,
    /// How long the source asks us to wait before the next round (rate limits, poll interval).
    /// Zero when the round stopped early and more is waiting.
    pub next_poll_in: Duration,
    /// Why part of the round failed while the rest was read (one feed of several, a page after
    /// others). What was read is delivered; `/readyz` shows the source as `degraded` with this.
    pub partial: Option<String>,
}

// Written out: a derived `Default` would ask `C: Default` for an empty `Option<C>`.
impl<C> Default for Batch<C> {
    fn default() -> Self {
        Batch {
            posts: Vec::new(),
            prices: Vec::new(),
            deleted: Vec::new(),
            cursor: None,
            next_poll_in: Duration::ZERO,
            partial: None,
        }
    }
}

impl<C> Batch<C> {
    /// The same round with its cursor converted.
    pub fn map_cursor<D>(self, f: impl FnOnce(C) -> D) -> Batch<D> {
        Batch {
            posts: self.posts,
            prices: self.prices,
            deleted: self.deleted,
            cursor: self.cursor.map(f),
            next_poll_in: self.next_poll_in,
            partial: self.partial,
        }
    }
}

/// An error from one polling round.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// Credentials are missing, wrong or lack permission: polling again cannot help.
    #[error("{source_name}: {message}")]
    Fatal {
        source_name: String,
        message: String,
    },
    /// Anything that may pass: the caller waits `retry_in` and polls again.
    #[error("{source_name}: {message}")]
    Transient {
        source_name: String,
        message: String,
        retry_in: Duration,
    },
    /// The API (or our own budget) says "not now": wait `retry_in`. Expected, not a fault.
    #[error("{source_name}: {message}")]
    RateLimited {
        source_name: String,
        message: String,
        retry_in: Duration,
    },
}

/// Messages may quote what an upstream server said; the constructors pass them through
/// [`redact::scrub`] (known secrets out, length capped) before they can reach a log or `/readyz`.
impl CollectError {
    pub fn fatal(source: &str, message: impl Into<String>) -> Self {
        CollectError::Fatal {
            source_name: source.to_owned(),
            message: redact::scrub(&message.into()),
        }
    }

    pub fn transient(source: &str, message: impl Into<String>, retry_in: Duration) -> Self {
        CollectError::Transient {
            source_name: source.to_owned(),
            message: redact::scrub(&message.into()),
            retry_in,
        }
    }

    pub fn rate_limited(source: &str, message: impl Into<String>, retry_in: Duration) -> Self {
        CollectError::RateLimited {
            source_name: source.to_owned(),
            message: redact::scrub(&message.into()),
            retry_in,
        }
    }

    /// When to poll again; `None` for a fatal error.
    pub fn retry_in(&self) -> Option<Duration> {
        match self {
            CollectError::Fatal { .. } => None,
            CollectError::Transient { retry_in, .. }
            | CollectError::RateLimited { retry_in, .. } => Some(*retry_in),
        }
    }

    pub fn is_fatal(&self) -> bool {
        matches!(self, CollectError::Fatal { .. })
    }
}

/// One configured source, as the daemon drives it: cursors in their stored JSON form.
///
/// Every source implements [`Source`] with its own cursor type instead; this trait comes with it, so
/// the JSON conversion (and the error for a stored cursor that does not parse) is written once.
#[async_trait::async_trait]
pub trait Collector: Send {
    /// The configured source name (`twitter`, `reddit`, `coingecko`, ...). Keys cursors and leases.
    fn name(&self) -> &str;

    /// One polling round starting from `cursor` (the last committed position, `None` on first run).
    async fn poll(&mut self, cursor: Option<&serde_json::Value>) -> Result<Batch, CollectError>;
}

/// One source with its own cursor type: what a source implements.
#[async_trait::async_trait]
pub trait Source: Send {
    /// The configured source name (`twitter`, `reddit`, ...). Keys cursors and leases.
    const NAME: &'static str;
    /// The position the source resumes from, stored as JSON in `cursors` with the data it covers.
    type Cursor: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static;

    /// One polling round starting from `cursor` (the last committed position, `None` on first run).
    async fn poll(
        &mut self,
        cursor: Option<Self::Cursor>,
    ) -> Result<Batch<Self::Cursor>, CollectError>;
}

#[async_trait::async_trait]
impl<S: Source> Collector for S {
    fn name(&self) -> &str {
        S::NAME
    }

    async fn poll(&mut self, cursor: Option<&serde_json::Value>) -> Result<Batch, CollectError> {
        let cursor = cursor
            .map(S::Cursor::deserialize)
            .transpose()
            .map_err(|e| {
                CollectError::fatal(
                    S::NAME,
                    format!("the stored cursor is not a {} cursor: {e}", S::NAME),
                )
            })?;
        let batch = Source::poll(self, cursor).await?;
        Ok(batch.map_cursor(|c| serde_json::to_value(c).expect("a cursor serializes")))
    }
}

/// Builds the named source from the config, enabled or not. Missing credentials are a
/// [`CollectError::Fatal`] naming the variable.
pub fn build_collector(
    name: &str,
    config: &crate::config::Config,
    ctx: &BuildContext<'_>,
) -> Result<Box<dyn Collector>, CollectError> {
    config.sources.build_named(name, ctx).unwrap_or_else(|| {
        Err(CollectError::fatal(
            name,
            format!(
                "unknown source (expected one of: {})",
                SOURCE_NAMES.join(", ")
            ),
        ))
    })
}

/// A source built from the config, or why it could not be.
pub type Built = Result<Box<dyn Collector>, CollectError>;

/// Every enabled source, built. A source whose credentials are missing comes back as its error so the
/// daemon can report it and start the others.
pub fn build_collectors(
    config: &crate::config::Config,
    ctx: &BuildContext<'_>,
) -> Vec<(String, Built)> {
    SOURCE_NAMES
        .iter()
        .filter(|name| config.sources.enabled(name) == Some(true))
        .map(|name| ((*name).to_owned(), build_collector(name, config, ctx)))
        .collect()
}

/// The end of a paged round of posts, shared by the sources that page the same way: poll again at
/// once when pages are left (`more`), else after `poll_interval`; a round stopped by an error keeps
/// what it fetched and waits as the error asks, or fails when it fetched nothing; never sooner
/// than the HTTP layer's own pause.
pub(crate) fn finish_post_round<C>(
    posts: Vec<Post>,
    more: bool,
    stopped: Option<CollectError>,
    poll_interval: Duration,
    pause_remaining: Duration,
    cursor: C,
) -> Result<Batch<C>, CollectError> {
    let mut next_poll_in = if more { Duration::ZERO } else { poll_interval };
    let mut partial = None;
    if let Some(e) = stopped {
        if posts.is_empty() {
            return Err(e);
        }
        next_poll_in = e.retry_in().unwrap_or(next_poll_in);
        partial = Some(e.to_string());
    }
    Ok(Batch {
        posts,
        prices: vec![],
        cursor: Some(cursor),
        next_poll_in: next_poll_in.max(pause_remaining),
        partial,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts rounds in its cursor.
    struct Counting;

    #[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Rounds {
        done: u32,
    }

    #[async_trait::async_trait]
    impl Source for Counting {
        const NAME: &'static str = "counting";
        type Cursor = Rounds;

        async fn poll(&mut self, cursor: Option<Rounds>) -> Result<Batch<Rounds>, CollectError> {
            let done = cursor.map_or(0, |c| c.done + 1);
            Ok(Batch {
                cursor: Some(Rounds { done }),
                ..Default::default()
            })
        }
    }

    #[tokio::test]
    async fn a_source_sees_its_own_cursor_type_and_the_daemon_its_json() {
        let mut source: Box<dyn Collector> = Box::new(Counting);
        assert_eq!(source.name(), "counting");
        let first = source.poll(None).await.unwrap().cursor.unwrap();
        assert_eq!(first, serde_json::json!({ "done": 0 }));
        let second = source.poll(Some(&first)).await.unwrap().cursor.unwrap();
        assert_eq!(second, serde_json::json!({ "done": 1 }));
        let err = source
            .poll(Some(&serde_json::json!({ "done": "many" })))
            .await
            .unwrap_err();
        assert!(err.is_fatal(), "{err}");
        assert!(
            err.to_string()
                .starts_with("counting: the stored cursor is not a counting cursor"),
            "{err}"
        );
    }
}
