//! Twitter/X: API v2 recent search with an app-only bearer token.
//!
//! The tracked assets become `($BTC OR bitcoin OR ...) -is:retweet lang:en` queries, split so that none
//! exceeds the 512-character limit. Each query polls with `since_id`; when a poll answers with a
//! `next_token`, the pages are drained before `since_id` moves, and the cursor records the drain in
//! progress (`next_token` plus the newest id seen) so that a round cut short by a rate limit or a
//! restart resumes exactly there. A first run takes only the newest page: the 7-day backlog is not
//! worth a month's cap.
//!
//! Cursor: `{"queries": {"<query>": {"since_id": "...", "next_token": "...", "newest_id": "..."}}}`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::http::{Http, HttpSettings, parse_item};
use super::{Batch, BuildContext, SourceConfig, Budget, CollectError, Collector, Source, Track};
use crate::model::{Asset, Engagement, Platform, Post};

const SOURCE: &str = "twitter";
const ENDPOINT: &str = "/2/tweets/search/recent";
/// Query length limit of recent search on self-serve plans.
pub const MAX_QUERY_LEN: usize = 512;

/// `[sources.twitter]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TwitterConfig {
    pub enabled: bool,
    /// Environment variable holding the app bearer token.
    pub bearer_token_env: String,
    pub base_url: String,
    pub track: Track,
    /// `lang:` operators; empty means any language.
    pub languages: Vec<String>,
    /// 10–100.
    pub max_results: u32,
    /// Pages fetched per query per round before the rest waits for the next round.
    pub max_pages_per_round: u32,
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Pause after a `UsageCapExceeded` 429 (the monthly cap, not the 15-minute window).
    #[serde(with = "humantime_serde")]
    pub usage_cap_pause: Duration,
    pub budget: Budget,
}

impl Default for TwitterConfig {
    fn default() -> Self {
        TwitterConfig {
            enabled: false,
            bearer_token_env: "TWITTER_BEARER_TOKEN".into(),
            base_url: "https://api.x.com".into(),
            track: Track {
                top: Some(20),
                assets: vec![],
            },
            languages: vec!["en".into()],
            max_results: 100,
            max_pages_per_round: 5,
            poll_interval: Duration::from_secs(300),
            usage_cap_pause: Duration::from_secs(6 * 3600),
            // The Basic plan's app limit; Pro allows 450.
            budget: Budget::new(60, Duration::from_secs(900)),
        }
    }
}

impl SourceConfig for TwitterConfig {
    const NAME: &'static str = SOURCE;

    fn enabled(&self) -> bool {
        self.enabled
    }

    fn check(&self) -> Result<(), String> {
        if self.enabled {
            super::check_env_name("sources.twitter.bearer_token_env", &self.bearer_token_env)?;
        }
        super::check_url("sources.twitter.base_url", &self.base_url)?;
        if !(10..=100).contains(&self.max_results) {
            return Err(
                "invalid value for key `sources.twitter.max_results`: must be 10 to 100".into(),
            );
        }
        super::check_positive(
            "sources.twitter.max_pages_per_round",
            self.max_pages_per_round.into(),
        )?;
        self.budget.check("sources.twitter.budget")
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Collector>, CollectError> {
        let mut config = self.clone();
        config.base_url = ctx.url(&self.base_url);
        let token = ctx.secrets.require(
            SOURCE,
            "sources.twitter.bearer_token_env",
            &self.bearer_token_env,
        )?;
        Ok(Box::new(TwitterCollector::new(
            &config,
            ctx.http.clone(),
            ctx.tracked,
            token,
        )?))
    }
}

/// The search terms of one asset: its cashtag and its name.
fn terms(asset: &Asset) -> Vec<String> {
    let mut out = Vec::new();
    let sym = asset.symbol.trim();
    // Cashtags start with a letter and hold letters (and digits after the first).
    if !sym.is_empty()
        && sym.len() <= 10
        && sym.starts_with(|c: char| c.is_ascii_alphabetic())
        && sym.chars().all(|c| c.is_ascii_alphanumeric())
    {
        out.push(format!("${}", sym.to_ascii_uppercase()));
    }
    let name = asset.name.trim().replace('"', "");
    let repeats_cashtag = name.eq_ignore_ascii_case(sym) && !out.is_empty();
    if !name.is_empty() && !repeats_cashtag {
        if name.chars().all(|c| c.is_alphanumeric()) {
            out.push(name.to_lowercase());
        } else {
            out.push(format!("\"{}\"", name.to_lowercase()));
        }
    }
    out
}

/// Builds the fewest queries of at most `max_len` characters that cover every asset's terms.
pub fn build_queries(assets: &[Asset], languages: &[String], max_len: usize) -> Vec<String> {
    let mut suffix = String::from(" -is:retweet");
    match languages {
        [] => {}
        [one] => suffix.push_str(&format!(" lang:{one}")),
        many => {
            let langs: Vec<String> = many.iter().map(|l| format!("lang:{l}")).collect();
            suffix.push_str(&format!(" ({})", langs.join(" OR ")));
        }
    }
    let mut all: Vec<String> = Vec::new();
    for a in assets {
        for t in terms(a) {
            if !all.contains(&t) {
                all.push(t);
            }
        }
    }
    let render = |terms: &[String]| format!("({}){suffix}", terms.join(" OR "));
    let mut queries = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for term in all {
        current.push(term);
        if render(&current).len() > max_len {
            let term = current.pop().expect("just pushed");
            if !current.is_empty() {
                queries.push(render(&current));
            }
            current = vec![term];
            if render(&current).len() > max_len {
                tracing::warn!(source = SOURCE, term = %current[0], "Search term too long for one query, skipped.");
                current.clear();
            }
        }
    }
    if !current.is_empty() {
        queries.push(render(&current));
    }
    queries
}

/// Where one query stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryCursor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_id: Option<String>,
    /// A drain in progress: the page to fetch next ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// ... and the newest id of its first page, which becomes `since_id` when the drain ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwitterCursor {
    #[serde(default)]
    pub queries: BTreeMap<String, QueryCursor>,
}

#[derive(Debug, Deserialize)]
struct SearchResponse {
    #[serde(default)]
    data: Vec<serde_json::Value>,
    #[serde(default)]
    includes: Includes,
    #[serde(default)]
    errors: Vec<Problem>,
    #[serde(default)]
    meta: Meta,
}

#[derive(Debug, Default, Deserialize)]
struct Includes {
    #[serde(default)]
    users: Vec<User>,
}

#[derive(Debug, Deserialize)]
struct User {
    id: String,
    username: String,
    #[serde(default)]
    public_metrics: Option<UserMetrics>,
}

#[derive(Debug, Deserialize)]
struct UserMetrics {
    followers_count: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
struct Meta {
    newest_id: Option<String>,
    next_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Problem {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Tweet {
    id: String,
    text: String,
    author_id: Option<String>,
    created_at: Option<DateTime<Utc>>,
    lang: Option<String>,
    public_metrics: Option<TweetMetrics>,
}

#[derive(Debug, Deserialize)]
struct TweetMetrics {
    retweet_count: Option<i64>,
    reply_count: Option<i64>,
    like_count: Option<i64>,
    quote_count: Option<i64>,
    impression_count: Option<i64>,
}

/// Tweet ids are snowflakes: the top bits are milliseconds since 2010-11-04T01:42:54.657Z. Used when
/// `created_at` was not requested.
pub fn snowflake_time(id: &str) -> Option<DateTime<Utc>> {
    let n: u64 = id.parse().ok()?;
    let ms = (n >> 22) as i64 + 1_288_834_974_657;
    Utc.timestamp_millis_opt(ms).single()
}

pub struct TwitterCollector {
    http: Http,
    token: SecretString,
    config: TwitterConfig,
    queries: Vec<String>,
}

impl TwitterCollector {
    pub fn new(
        config: &TwitterConfig,
        http: HttpSettings,
        tracked: &[Asset],
        token: SecretString,
    ) -> Result<Self, CollectError> {
        super::require_tls(SOURCE, "sources.twitter.base_url", &config.base_url)?;
        super::redact::register_secret("twitter.bearer", &token);
        let assets = config.track.select(tracked);
        let queries = build_queries(&assets, &config.languages, MAX_QUERY_LEN);
        if queries.is_empty() {
            return Err(CollectError::fatal(
                SOURCE,
                "no tracked assets to search for (check `sources.twitter.track`)",
            ));
        }
        let hint = format!(
            "check the app bearer token in the environment variable {} (`sources.twitter.bearer_token_env`) and that the app's plan includes recent search",
            config.bearer_token_env
        );
        Ok(TwitterCollector {
            http: Http::new(SOURCE, http, Some(config.budget), hint)?,
            token,
            config: config.clone(),
            queries,
        })
    }

    pub fn queries(&self) -> &[String] {
        &self.queries
    }

    /// One page of one query. `Ok(None)` means the `since_id` was refused as too old: start over.
    async fn page(
        &mut self,
        query: &str,
        state: &QueryCursor,
    ) -> Result<Option<SearchResponse>, CollectError> {
        let url = format!("{}{ENDPOINT}", self.config.base_url.trim_end_matches('/'));
        let mut params: Vec<(&str, String)> = vec![
            ("query", query.to_owned()),
            ("max_results", self.config.max_results.to_string()),
            (
                "tweet.fields",
                "created_at,author_id,lang,public_metrics,entities,referenced_tweets".into(),
            ),
            ("expansions", "author_id".into()),
            ("user.fields", "username,name,public_metrics".into()),
        ];
        if let Some(s) = &state.since_id {
            params.push(("since_id", s.clone()));
        }
        if let Some(t) = &state.next_token {
            params.push(("next_token", t.clone()));
        }
        let token = self.token.clone();
        let reply = self
            .http
            .send(ENDPOINT, |c| {
                c.get(&url)
                    .query(&params)
                    .bearer_auth(token.expose_secret())
            })
            .await?;
        if reply.status.as_u16() == 429 {
            let problem: Problem = serde_json::from_slice(&reply.body).unwrap_or_default();
            if problem.title.as_deref() == Some("UsageCapExceeded") {
                let wait = self.config.usage_cap_pause;
                self.http.block_for(wait);
                tracing::warn!(
                    source = SOURCE,
                    wait_s = wait.as_secs(),
                    "Monthly usage cap of the X API plan exceeded, pausing the source."
                );
                return Err(CollectError::rate_limited(
                    SOURCE,
                    format!(
                        "monthly usage cap exceeded (UsageCapExceeded: {}); not the 15-minute window, retrying in {}s",
                        problem.detail.unwrap_or_default(),
                        wait.as_secs()
                    ),
                    wait,
                ));
            }
        }
        if reply.status.as_u16() == 400 && state.since_id.is_some() {
            let body = String::from_utf8_lossy(&reply.body);
            if body.contains("since_id") {
                tracing::warn!(
                    source = SOURCE,
                    endpoint = ENDPOINT,
                    "The stored since_id is outside the search window, starting the query afresh."
                );
                return Ok(None);
            }
        }
        let reply = self.http.check(reply)?;
        Ok(Some(reply.json(SOURCE)?))
    }

    fn to_posts(&self, resp: &SearchResponse) -> Result<Vec<Post>, CollectError> {
        let users: HashMap<&str, &User> = resp
            .includes
            .users
            .iter()
            .map(|u| (u.id.as_str(), u))
            .collect();
        let mut posts = Vec::with_capacity(resp.data.len());
        for (i, raw) in resp.data.iter().enumerate() {
            let t: Tweet = parse_item(SOURCE, ENDPOINT, &format!("data[{i}]"), raw)?;
            let created_at = match t.created_at.or_else(|| snowflake_time(&t.id)) {
                Some(c) => c,
                None => {
                    return Err(CollectError::transient(
                        SOURCE,
                        format!(
                            "malformed response from {ENDPOINT}: field `data[{i}].id`: `{}` is not a tweet id",
                            t.id
                        ),
                        Duration::from_secs(60),
                    ));
                }
            };
            let user = t.author_id.as_deref().and_then(|a| users.get(a));
            let m = t.public_metrics.as_ref();
            posts.push(Post {
                platform: Platform::Twitter,
                url: Some(match user {
                    Some(u) => format!("https://x.com/{}/status/{}", u.username, t.id),
                    None => format!("https://x.com/i/web/status/{}", t.id),
                }),
                external_id: t.id,
                author: user.map(|u| u.username.clone()),
                text: t.text,
                created_at,
                language: t.lang,
                engagement: Engagement {
                    replies: m.and_then(|m| m.reply_count),
                    reposts: m.and_then(|m| match (m.retweet_count, m.quote_count) {
                        (None, None) => None,
                        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
                    }),
                    likes: m.and_then(|m| m.like_count),
                    views: m.and_then(|m| m.impression_count),
                    author_followers: user
                        .and_then(|u| u.public_metrics.as_ref())
                        .and_then(|p| p.followers_count),
                },
                raw: Some(raw.clone()),
            });
        }
        Ok(posts)
    }
}

#[async_trait::async_trait]
impl Source for TwitterCollector {
    const NAME: &'static str = SOURCE;
    type Cursor = TwitterCursor;

    async fn poll(
        &mut self,
        cursor: Option<Self::Cursor>,
    ) -> Result<Batch<Self::Cursor>, CollectError> {
        let old = cursor.unwrap_or_default();
        let mut next = TwitterCursor::default();
        let mut posts = Vec::new();
        let mut more_waiting = false;
        let mut stopped: Option<CollectError> = None;
        for query in self.queries.clone() {
            let mut state = old.queries.get(&query).cloned().unwrap_or_default();
            if stopped.is_none() {
                let mut pages = 0;
                let mut restarted = false;
                loop {
                    if pages >= self.config.max_pages_per_round {
                        more_waiting = true;
                        break;
                    }
                    let resp = match self.page(&query, &state).await {
                        Ok(Some(r)) => r,
                        Ok(None) if !restarted => {
                            restarted = true;
                            state = QueryCursor::default();
                            continue;
                        }
                        Ok(None) => {
                            return Err(CollectError::transient(
                                SOURCE,
                                "recent search keeps refusing since_id",
                                Duration::from_secs(300),
                            ));
                        }
                        Err(e) if e.is_fatal() || posts.is_empty() => return Err(e),
                        Err(e) => {
                            stopped = Some(e);
                            break;
                        }
                    };
                    pages += 1;
                    if !resp.errors.is_empty() {
                        let first = &resp.errors[0];
                        tracing::warn!(
                            source = SOURCE, endpoint = ENDPOINT, count = resp.errors.len(),
                            first = %super::redact::scrub(first.detail.as_deref().or(first.message.as_deref()).or(first.title.as_deref()).unwrap_or("?")),
                            "Response carried partial errors next to its data."
                        );
                    }
                    posts.extend(self.to_posts(&resp)?);
                    if state.since_id.is_none() && state.next_token.is_none() {
                        // First run: start from the newest post, no backlog.
                        state.since_id = resp.meta.newest_id;
                        break;
                    }
                    let newest = state.newest_id.take().or(resp.meta.newest_id);
                    match resp.meta.next_token {
                        Some(token) => {
                            state.next_token = Some(token);
                            state.newest_id = newest;
                        }
                        None => {
                            if newest.is_some() {
                                state.since_id = newest;
                            }
                            state.next_token = None;
                            break;
                        }
                    }
                }
            }
            next.queries.insert(query, state);
        }
        let mut next_poll_in = if more_waiting {
            Duration::ZERO
        } else {
            self.config.poll_interval
        };
        if let Some(e) = stopped {
            tracing::info!(source = SOURCE, error = %e, "Round cut short; keeping what was fetched.");
            next_poll_in = e.retry_in().unwrap_or(self.config.poll_interval);
        }
        next_poll_in = next_poll_in.max(self.http.pause_remaining());
        Ok(Batch {
            posts,
            prices: vec![],
            cursor: Some(next),
            next_poll_in,
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(id: &str, symbol: &str, name: &str, rank: u32) -> Asset {
        Asset {
            id: id.into(),
            symbol: symbol.into(),
            name: name.into(),
            aliases: vec![],
            rank: Some(rank),
        }
    }

    #[test]
    fn query_has_cashtags_names_and_operators() {
        let q = build_queries(
            &[
                asset("bitcoin", "BTC", "Bitcoin", 1),
                asset("shiba-inu", "SHIB", "Shiba Inu", 12),
                asset("1inch", "1INCH", "1inch", 90),
            ],
            &["en".into()],
            MAX_QUERY_LEN,
        );
        assert_eq!(
            q,
            vec!["($BTC OR bitcoin OR $SHIB OR \"shiba inu\" OR 1inch) -is:retweet lang:en"]
        );
    }

    #[test]
    fn long_lists_split_under_the_limit_without_losing_terms() {
        let assets: Vec<Asset> = (0..120)
            .map(|i| {
                asset(
                    &format!("coin{i}"),
                    &format!("CN{i}"),
                    &format!("Coinname{i}"),
                    i,
                )
            })
            .collect();
        let qs = build_queries(&assets, &["en".into(), "es".into()], MAX_QUERY_LEN);
        assert!(qs.len() > 1);
        for q in &qs {
            assert!(q.len() <= MAX_QUERY_LEN, "{} chars", q.len());
            assert!(q.ends_with("-is:retweet (lang:en OR lang:es)"));
        }
        let joined = qs.join(" ");
        for i in 0..120 {
            assert!(joined.contains(&format!("$CN{i} ")) || joined.contains(&format!("$CN{i})")));
        }
    }

    #[test]
    fn snowflake_time_decodes() {
        // The fixture's text says the client wrote it at 22:42:12.637; the id is stamped on arrival.
        let t = snowflake_time("1578516068309794817").unwrap();
        assert_eq!(t.to_rfc3339(), "2022-10-07T22:42:12.752+00:00");
        assert_eq!(snowflake_time("not a number"), None);
    }
}
