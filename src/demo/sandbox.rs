//! A local stand-in for the Twitter v2, Reddit and CoinGecko APIs (and Bluesky's Jetstream, on a
//! WebSocket port of its own, see [`super::stream`]), serving simulated posts and the shipped Binance
//! price history on loopback.
//!
//! The sandbox answers exactly what the collectors ask (see `collect::twitter`, `collect::reddit`,
//! `collect::coingecko`) in each API's wire format, including auth, paging and rate-limit headers,
//! so the daemon runs unchanged against it. It only ever serves what exists at the current
//! simulated time ([`SimClock`]): posts created at or before it, candles closed by it.
//!
//! Paging follows the real APIs' rules, because the collectors' "no repeat, no gap" logic depends on
//! them: Twitter pages newest first with `since_id` as a lower bound and `next_token` continuing
//! below the previous page; Reddit's `before=<fullname>` returns the `limit` items *right after* the
//! anchor (the oldest of the newer ones), newest first, and an unknown anchor gives an empty listing.
//!
//! Everything the sandbox sends carries `x-coinpulse-demo: simulated`, and every tweet and Reddit item
//! a `coinpulse_demo` field, so stored raw JSON says where it came from. Optional faults (5xx,
//! malformed JSON, 429, stalls) for the first N requests of an endpoint let tests exercise the
//! daemon's error paths.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::clock::{ClockMode, NotManual, SimClock};
use super::generator::{self, Generator, GeneratorError, SimPost, Stream};
use super::prices::{self, PRICED};

/// The marker header on every response.
pub const DEMO_HEADER: &str = "x-coinpulse-demo";
/// What CoinGecko-shaped answers call their price source.
pub const PRICE_SOURCE: &str = "Binance (demo replay)";
/// The default speed: two simulated hours per real second (a week in 84 seconds).
pub const DEFAULT_SPEED: f64 = 7200.0;

/// An endpoint a fault can be put on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    TwitterSearch,
    RedditToken,
    RedditListing,
    Coingecko,
}

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// HTTP 500 with a JSON error body.
    ServerError,
    /// HTTP 200 with a body that is not valid JSON.
    MalformedJson,
    /// HTTP 429 with the API's rate-limit headers saying the window is empty for a second.
    RateLimited,
    /// Wait this long, then answer normally (trips the client's timeout when longer than it).
    Stall(Duration),
}

/// A fault on the first `first` requests of `endpoint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub endpoint: Endpoint,
    pub kind: FaultKind,
    pub first: u32,
}

/// How to run the sandbox.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Port 0 picks a free one.
    pub listen: SocketAddr,
    pub seed: u64,
    /// Simulated time when the clock starts; posts begin here.
    pub sim_start: DateTime<Utc>,
    pub clock: ClockMode,
    /// Multiplies every post rate (1.0 ≈ 60 tweets, 4 submissions, 20 comments per simulated hour).
    pub volume_scale: f64,
    /// Requests per 15 minutes on the Twitter search endpoint.
    pub twitter_limit: u32,
    /// Requests per 10 minutes on the Reddit listings.
    pub reddit_limit: u32,
    pub faults: Vec<Fault>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: 42,
            sim_start: Utc.with_ymd_and_hms(2021, 1, 1, 0, 0, 0).unwrap(),
            clock: ClockMode::Running {
                speed: DEFAULT_SPEED,
                wait_for_first_request: true,
            },
            volume_scale: 1.0,
            twitter_limit: 1800,
            reddit_limit: 6000,
            faults: Vec::new(),
        }
    }
}

/// Why the sandbox could not start or do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("sandbox: {0}")]
    Generator(#[from] GeneratorError),
    #[error("sandbox: invalid speed {0}: must be a finite number above 0")]
    Speed(f64),
    #[error("sandbox: cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("sandbox: {0}")]
    Clock(#[from] NotManual),
}

/// How many distinct items the sandbox has handed out, per platform.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServedCounts {
    pub twitter: u64,
    pub reddit: u64,
    /// Price points (one per asset and candle).
    pub coingecko: u64,
}

impl std::fmt::Display for ServedCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::chart::format::thousands;
        write!(
            f,
            "{} simulated tweets, {} simulated Reddit posts and comments, {} price points",
            thousands(self.twitter as i64),
            thousands(self.reddit as i64),
            thousands(self.coingecko as i64)
        )
    }
}

/// Entry point: `Sandbox::start(config)`.
pub struct Sandbox;

impl Sandbox {
    /// Binds the listener and serves until the handle is stopped or dropped.
    pub async fn start(config: SandboxConfig) -> Result<SandboxHandle, SandboxError> {
        if let ClockMode::Running { speed, .. } = config.clock
            && !(speed.is_finite() && speed > 0.0)
        {
            return Err(SandboxError::Speed(speed));
        }
        let generator = Generator::new(config.seed, config.sim_start, config.volume_scale)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| SandboxError::Listen {
                addr: config.listen,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| SandboxError::Listen {
                addr: config.listen,
                source,
            })?;
        let stream_listener = tokio::net::TcpListener::bind(SocketAddr::new(addr.ip(), 0))
            .await
            .map_err(|source| SandboxError::Listen {
                addr: config.listen,
                source,
            })?;
        let stream_addr = stream_listener
            .local_addr()
            .map_err(|source| SandboxError::Listen {
                addr: config.listen,
                source,
            })?;
        let skeets = Arc::new(super::stream::Skeets::new(
            Generator::new(
                config.seed ^ 0x5EE7_5EE7,
                config.sim_start,
                config.volume_scale * 0.5,
            )?,
            config.sim_start,
        ));
        let state = Arc::new(Shared {
            clock: SimClock::new(config.sim_start, config.clock),
            cache: Mutex::new(Cache {
                next_hour: generator.hour_of(config.sim_start),
                streams: [Vec::new(), Vec::new(), Vec::new()],
            }),
            generator,
            tokens: Mutex::new(HashSet::new()),
            served: Mutex::new(Served::default()),
            windows: Mutex::new([
                Window::new(config.twitter_limit, Duration::from_secs(900)),
                Window::new(config.reddit_limit, Duration::from_secs(600)),
            ]),
            faults: Mutex::new(config.faults.iter().map(|f| (*f, 0)).collect()),
            requests: Mutex::new(HashMap::new()),
        });
        let shutdown = CancellationToken::new();
        tokio::spawn(super::stream::serve(
            stream_listener,
            state.clock.clone(),
            skeets.clone(),
            shutdown.clone(),
        ));
        let app = router(state.clone());
        let stop = shutdown.clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "Sandbox server stopped with an error.");
            }
        });
        tracing::info!(address = %addr, sim_start = %config.sim_start, "Sandbox listening.");
        Ok(SandboxHandle {
            addr,
            stream_addr,
            skeets,
            state,
            shutdown,
            task: Some(task),
        })
    }
}

/// A running sandbox. Dropping it stops the server.
pub struct SandboxHandle {
    addr: SocketAddr,
    /// The Jetstream-format WebSocket (see [`super::stream`]).
    stream_addr: SocketAddr,
    skeets: Arc<super::stream::Skeets>,
    state: Arc<Shared>,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SandboxHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: the base URL for all three APIs (CoinGecko's paths included).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://127.0.0.1:PORT/subscribe`: simulated Bluesky posts in Jetstream's format.
    pub fn jetstream_url(&self) -> String {
        format!("ws://{}/subscribe", self.stream_addr)
    }

    /// The `at://` URIs of the simulated Bluesky posts created in `(after, until]`, oldest first.
    pub fn skeet_uris(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> Vec<String> {
        self.skeets.uris(after, until)
    }

    /// Current simulated time.
    pub fn now(&self) -> DateTime<Utc> {
        self.state.clock.now()
    }

    /// Sets a manual clock (tests).
    pub fn set_time(&self, t: DateTime<Utc>) -> Result<(), SandboxError> {
        Ok(self.state.clock.set(t)?)
    }

    /// Moves a manual clock forward (tests); returns the new time.
    pub fn advance(&self, by: chrono::Duration) -> Result<DateTime<Utc>, SandboxError> {
        Ok(self.state.clock.advance(by)?)
    }

    pub fn generator(&self) -> &Generator {
        &self.state.generator
    }

    /// Every post of `stream` the sandbox serves up to simulated time `until` (inclusive).
    pub fn posts_until(&self, stream: Stream, until: DateTime<Utc>) -> Vec<SimPost> {
        self.state.generator.posts(stream, until)
    }

    /// Distinct posts (and price points) served so far.
    pub fn served_counts(&self) -> ServedCounts {
        let s = self.state.served.lock().expect("served lock");
        ServedCounts {
            twitter: s.twitter.len() as u64,
            reddit: s.reddit.len() as u64,
            coingecko: s.prices.len() as u64,
        }
    }

    /// Requests received per endpoint, faulty ones included.
    pub fn request_count(&self, endpoint: Endpoint) -> u64 {
        *self
            .state
            .requests
            .lock()
            .expect("requests lock")
            .get(&endpoint)
            .unwrap_or(&0)
    }

    /// Stops accepting requests and waits for the ones in flight.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

struct Shared {
    clock: SimClock,
    generator: Generator,
    cache: Mutex<Cache>,
    tokens: Mutex<HashSet<String>>,
    served: Mutex<Served>,
    /// Twitter search, Reddit listings.
    windows: Mutex<[Window; 2]>,
    faults: Mutex<Vec<(Fault, u32)>>,
    requests: Mutex<HashMap<Endpoint, u64>>,
}

#[derive(Default)]
struct Served {
    twitter: HashSet<(i64, u16)>,
    reddit: HashSet<(Stream, i64, u16)>,
    prices: HashSet<(usize, i64)>,
}

/// Generated posts per stream, extended hour by hour as the clock passes.
struct Cache {
    next_hour: i64,
    streams: [Vec<SimPost>; 3],
}

/// A fixed rate-limit window in real time.
struct Window {
    limit: u32,
    per: Duration,
    started: Instant,
    used: u32,
}

impl Window {
    fn new(limit: u32, per: Duration) -> Self {
        Window {
            limit,
            per,
            started: Instant::now(),
            used: 0,
        }
    }

    /// Counts one request; returns (allowed, used, remaining, reset_in).
    fn hit(&mut self) -> (bool, u32, u32, Duration) {
        if self.started.elapsed() >= self.per {
            self.started = Instant::now();
            self.used = 0;
        }
        let allowed = self.used < self.limit;
        if allowed {
            self.used += 1;
        }
        let reset_in = self.per.saturating_sub(self.started.elapsed());
        (allowed, self.used, self.limit - self.used, reset_in)
    }
}

impl Shared {
    /// Counts the request, starts a waiting clock, and applies a pending fault.
    async fn arrive(&self, endpoint: Endpoint) -> Option<Response> {
        self.clock.touch();
        *self
            .requests
            .lock()
            .expect("requests lock")
            .entry(endpoint)
            .or_insert(0) += 1;
        let kind = {
            let mut faults = self.faults.lock().expect("faults lock");
            faults
                .iter_mut()
                .find(|(f, used)| f.endpoint == endpoint && *used < f.first)
                .map(|(f, used)| {
                    *used += 1;
                    f.kind
                })
        }?;
        match kind {
            FaultKind::ServerError => Some(reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": "simulated server error"}),
            )),
            FaultKind::MalformedJson => {
                let mut r = (StatusCode::OK, "{\"data\": [ this is not json").into_response();
                mark(&mut r, "application/json");
                Some(r)
            }
            FaultKind::RateLimited => {
                let mut r = reply(
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({"title": "Too Many Requests", "detail": "Too Many Requests", "status": 429}),
                );
                let h = r.headers_mut();
                h.insert("retry-after", HeaderValue::from_static("1"));
                Some(r)
            }
            FaultKind::Stall(d) => {
                tokio::time::sleep(d).await;
                None
            }
        }
    }

    /// The posts of `stream` visible now, generating hours as the clock passes them.
    fn with_visible<T>(&self, stream: Stream, f: impl FnOnce(&[SimPost]) -> T) -> T {
        let now = self.clock.now();
        let now_ms = now.timestamp_millis();
        let mut cache = self.cache.lock().expect("cache lock");
        let last = self.generator.hour_of(now.min(self.generator.sim_end()));
        while cache.next_hour <= last {
            let h = cache.next_hour;
            for s in Stream::ALL {
                let hour = self.generator.hour(s, h);
                cache.streams[s as usize].extend(hour);
            }
            cache.next_hour += 1;
        }
        let all = &cache.streams[stream as usize];
        let visible = all.partition_point(|p| p.created_ms <= now_ms);
        f(&all[..visible])
    }
}

fn router(state: Arc<Shared>) -> Router {
    Router::new()
        .route("/2/tweets/search/recent", get(twitter_search))
        .route("/api/v1/access_token", post(reddit_token))
        .route("/r/{subs}/new", get(reddit_new))
        .route("/r/{subs}/comments", get(reddit_comments))
        .route("/coins/markets", get(coins_markets))
        .route("/simple/price", get(simple_price))
        .route("/coins/{id}/market_chart", get(market_chart))
        .fallback(not_found)
        .with_state(state)
}

/// Adds the content type and the demo marker.
fn mark(r: &mut Response, content_type: &'static str) {
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(DEMO_HEADER, HeaderValue::from_static("simulated"));
}

fn reply(status: StatusCode, body: Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    mark(&mut r, "application/json; charset=utf-8");
    r
}

async fn not_found() -> Response {
    reply(
        StatusCode::NOT_FOUND,
        json!({"error": "not found: the coinpulse sandbox serves Twitter recent search, Reddit listings and CoinGecko prices only"}),
    )
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))?;
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

// ---------------------------------------------------------------------------------------------
// Twitter v2 recent search.

fn twitter_problem(status: StatusCode, title: &str, detail: &str) -> Response {
    reply(
        status,
        json!({"title": title, "type": "about:blank", "status": status.as_u16(), "detail": detail}),
    )
}

fn twitter_invalid(parameter: &str, message: String) -> Response {
    reply(
        StatusCode::BAD_REQUEST,
        json!({
            "errors": [{"parameters": {parameter: []}, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request"
        }),
    )
}

/// The search terms of a recent-search query: cashtags, words and quoted phrases, lowercased, with
/// operators (`-is:retweet`, `lang:en`) and `OR` left out.
pub fn query_terms(query: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut rest = query;
    while let Some(c) = rest.chars().next() {
        if c == '"' {
            let end = rest[1..].find('"').map(|i| i + 1).unwrap_or(rest.len());
            let phrase = rest[1..end].trim().to_lowercase();
            if !phrase.is_empty() {
                terms.push(phrase);
            }
            rest = &rest[(end + 1).min(rest.len())..];
            continue;
        }
        if c.is_whitespace() || c == '(' || c == ')' {
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let end = rest
            .find(|ch: char| ch.is_whitespace() || ch == '(' || ch == ')' || ch == '"')
            .unwrap_or(rest.len());
        let word = &rest[..end];
        rest = &rest[end..];
        if word == "OR" || word.starts_with('-') || word.contains(':') {
            continue;
        }
        terms.push(word.to_lowercase());
    }
    terms
}

/// Whether a post answers a query with these terms (no terms: every post).
pub fn matches(post: &SimPost, terms: &[String]) -> bool {
    if terms.is_empty() {
        return true;
    }
    let text = post.stored_text().to_lowercase();
    let coins = generator::coin_terms();
    terms.iter().any(|t| {
        if text.contains(t.as_str()) {
            return true;
        }
        post.assets.iter().any(|sym| {
            t.strip_prefix('$')
                .is_some_and(|s| s.eq_ignore_ascii_case(sym))
                || coins
                    .iter()
                    .find(|(s, _)| s == sym)
                    .is_some_and(|(_, names)| names.iter().any(|n| n.eq_ignore_ascii_case(t)))
        })
    })
}

fn tweet_json(p: &SimPost) -> Value {
    json!({
        "id": p.id(),
        "text": p.text,
        "created_at": rfc3339(p.created_at()),
        "author_id": p.author_id(),
        "lang": "en",
        "edit_history_tweet_ids": [p.id()],
        "public_metrics": {
            "retweet_count": p.reposts,
            "reply_count": p.replies,
            "like_count": p.likes,
            "quote_count": p.reposts / 4,
            "impression_count": p.likes * 37 + 120,
        },
        "coinpulse_demo": {"simulated": true, "url": p.demo_url()},
    })
}

fn user_json(p: &SimPost) -> Value {
    json!({
        "id": p.author_id(),
        "username": p.author_name(),
        "name": p.author_name().replace('_', " "),
        "description": "Simulated account of the coinpulse demo.",
        "url": format!("https://{}/twitter/{}", generator::DEMO_HOST, p.author_name()),
        "public_metrics": {
            "followers_count": generator::followers(p.author),
            "following_count": 150,
            "tweet_count": 1000,
            "listed_count": 0,
        },
    })
}

const NEXT_TOKEN_PREFIX: &str = "demo1";

async fn twitter_search(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = s.arrive(Endpoint::TwitterSearch).await {
        return r;
    }
    if bearer(&headers).is_none() {
        return twitter_problem(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    }
    let (allowed, used, remaining, reset_in) = s.windows.lock().expect("window lock")[0].hit();
    let limit = used + remaining;
    let reset_epoch = (Utc::now() + chrono::Duration::from_std(reset_in).unwrap_or_default())
        .timestamp()
        .to_string();
    let mut r = twitter_answer(&s, &q, allowed);
    let h = r.headers_mut();
    for (k, v) in [
        ("x-rate-limit-limit", limit.to_string()),
        ("x-rate-limit-remaining", remaining.to_string()),
        ("x-rate-limit-reset", reset_epoch),
    ] {
        h.insert(k, HeaderValue::from_str(&v).expect("digits"));
    }
    r
}

fn twitter_answer(s: &Shared, q: &HashMap<String, String>, allowed: bool) -> Response {
    if !allowed {
        return twitter_problem(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests",
            "Too Many Requests",
        );
    }
    let Some(query) = q.get("query").filter(|q| !q.trim().is_empty()) else {
        return twitter_invalid(
            "query",
            "The `query` query parameter can not be empty".into(),
        );
    };
    let max = match q.get("max_results").map(|m| m.parse::<usize>()) {
        None => 10,
        Some(Ok(m)) if (10..=100).contains(&m) => m,
        Some(_) => {
            return twitter_invalid(
                "max_results",
                format!(
                    "The `max_results` query parameter value [{}] is not between 10 and 100",
                    q["max_results"]
                ),
            );
        }
    };
    let since = match q.get("since_id") {
        None => (i64::MIN, 0),
        Some(id) => match generator::decode_twitter_id(id) {
            Some(k) => k,
            None => {
                return twitter_invalid(
                    "since_id",
                    format!("The `since_id` query parameter value [{id}] is not a valid tweet id"),
                );
            }
        },
    };
    let upper = match q.get("next_token") {
        None => (i64::MAX, u16::MAX),
        Some(t) => match t
            .strip_prefix(NEXT_TOKEN_PREFIX)
            .and_then(generator::decode_twitter_id)
        {
            Some(k) => k,
            None => {
                return twitter_invalid(
                    "next_token",
                    format!("The `next_token` query parameter value [{t}] is not valid"),
                );
            }
        },
    };
    let terms = query_terms(query);
    let page: Vec<SimPost> = s.with_visible(Stream::Tweet, |visible| {
        let lo = visible.partition_point(|p| p.key() <= since);
        let hi = visible.partition_point(|p| p.key() < upper);
        visible[lo..hi.max(lo)]
            .iter()
            .rev()
            .filter(|p| matches(p, &terms))
            .take(max + 1)
            .cloned()
            .collect()
    });
    let more = page.len() > max;
    let page = &page[..page.len().min(max)];
    {
        let mut served = s.served.lock().expect("served lock");
        served.twitter.extend(page.iter().map(|p| p.key()));
    }
    let mut meta = json!({"result_count": page.len()});
    if let (Some(newest), Some(oldest)) = (page.first(), page.last()) {
        meta["newest_id"] = json!(newest.id());
        meta["oldest_id"] = json!(oldest.id());
        if more {
            meta["next_token"] = json!(format!("{NEXT_TOKEN_PREFIX}{}", oldest.id()));
        }
    }
    if page.is_empty() {
        return reply(StatusCode::OK, json!({"meta": meta}));
    }
    let mut seen = HashSet::new();
    let users: Vec<Value> = page
        .iter()
        .filter(|p| seen.insert(p.author))
        .map(user_json)
        .collect();
    reply(
        StatusCode::OK,
        json!({
            "data": page.iter().map(tweet_json).collect::<Vec<_>>(),
            "includes": {"users": users},
            "meta": meta,
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// Reddit: app-only token and the /new and /comments listings.

fn reddit_unauthorized() -> Response {
    reply(
        StatusCode::UNAUTHORIZED,
        json!({"message": "Unauthorized", "error": 401}),
    )
}

async fn reddit_token(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = s.arrive(Endpoint::RedditToken).await {
        return r;
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .is_some_and(|v| !v.trim().is_empty());
    if !basic {
        return reddit_unauthorized();
    }
    let form = String::from_utf8_lossy(&body);
    if !form
        .split('&')
        .any(|kv| kv == "grant_type=client_credentials")
    {
        return reply(StatusCode::OK, json!({"error": "unsupported_grant_type"}));
    }
    let token = {
        let mut tokens = s.tokens.lock().expect("tokens lock");
        let t = format!("demo-{:016x}", fastrand::u64(..));
        tokens.insert(t.clone());
        t
    };
    reply(
        StatusCode::OK,
        json!({"access_token": token, "token_type": "bearer", "expires_in": 3600, "scope": "*"}),
    )
}

async fn reddit_new(
    State(s): State<Arc<Shared>>,
    Path(subs): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    reddit_listing(s, Stream::Submission, subs, headers, q).await
}

async fn reddit_comments(
    State(s): State<Arc<Shared>>,
    Path(subs): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    reddit_listing(s, Stream::Comment, subs, headers, q).await
}

fn reddit_item(p: &SimPost) -> Value {
    let mut data = json!({
        "id": p.id(),
        "name": p.external_id(),
        "author": p.author_name(),
        "author_fullname": format!("t2_{}", p.author_id()),
        "created_utc": p.created_utc(),
        "created": p.created_utc(),
        "subreddit": p.subreddit,
        "subreddit_name_prefixed": format!("r/{}", p.subreddit),
        "permalink": p.permalink(),
        "score": p.likes,
        "ups": p.likes,
        "coinpulse_demo": {"simulated": true, "url": p.demo_url()},
    });
    match p.stream {
        Stream::Submission => {
            data["title"] = json!(p.title.clone().unwrap_or_default());
            data["selftext"] = json!(p.text);
            data["num_comments"] = json!(p.replies);
            data["is_self"] = json!(true);
            data["url"] = json!(p.demo_url());
            data["over_18"] = json!(false);
        }
        _ => {
            data["body"] = json!(p.text);
            data["link_id"] = json!(p.link.clone().unwrap_or_default());
            data["parent_id"] = json!(p.link.clone().unwrap_or_default());
        }
    }
    json!({"kind": if p.stream == Stream::Submission { "t3" } else { "t1" }, "data": data})
}

async fn reddit_listing(
    s: Arc<Shared>,
    stream: Stream,
    subs: String,
    headers: HeaderMap,
    q: HashMap<String, String>,
) -> Response {
    if let Some(r) = s.arrive(Endpoint::RedditListing).await {
        return r;
    }
    let known = bearer(&headers).is_some_and(|t| s.tokens.lock().expect("tokens lock").contains(t));
    if !known {
        return reddit_unauthorized();
    }
    let (allowed, used, remaining, reset_in) = s.windows.lock().expect("window lock")[1].hit();
    let mut r = if allowed {
        reddit_page(&s, stream, &subs, &q)
    } else {
        let mut r = (
            StatusCode::TOO_MANY_REQUESTS,
            "<html><head><title>Too Many Requests</title></head></html>",
        )
            .into_response();
        mark(&mut r, "text/html; charset=UTF-8");
        r
    };
    let h = r.headers_mut();
    for (k, v) in [
        ("x-ratelimit-used", used.to_string()),
        ("x-ratelimit-remaining", format!("{remaining}.0")),
        ("x-ratelimit-reset", reset_in.as_secs().to_string()),
    ] {
        h.insert(k, HeaderValue::from_str(&v).expect("digits"));
    }
    r
}

fn reddit_page(s: &Shared, stream: Stream, subs: &str, q: &HashMap<String, String>) -> Response {
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(25)
        .clamp(1, 100);
    let wanted: Vec<String> = subs.split('+').map(|s| s.to_ascii_lowercase()).collect();
    let all_subs = wanted.iter().any(|w| w == "all");
    let in_subs =
        |p: &SimPost| all_subs || wanted.iter().any(|w| w.eq_ignore_ascii_case(p.subreddit));
    // An anchor that is not one of ours gives an empty listing, as Reddit does for a removed item.
    let before = q.get("before").map(|b| generator::decode_reddit_id(b));
    let after = q.get("after").map(|a| generator::decode_reddit_id(a));
    let (page, newer_left, older_left) = s.with_visible(stream, |visible| {
        let items: Vec<&SimPost> = visible.iter().filter(|p| in_subs(p)).collect();
        match (before, after) {
            (Some(None), _) | (_, Some(None)) => (Vec::new(), false, false),
            (Some(Some(anchor)), _) => {
                let lo = items.partition_point(|p| p.key() <= anchor);
                let hi = (lo + limit).min(items.len());
                let page: Vec<SimPost> = items[lo..hi].iter().rev().map(|p| (*p).clone()).collect();
                (page, hi < items.len(), lo > 0)
            }
            (None, Some(Some(anchor))) => {
                let hi = items.partition_point(|p| p.key() < anchor);
                let lo = hi.saturating_sub(limit);
                let page: Vec<SimPost> = items[lo..hi].iter().rev().map(|p| (*p).clone()).collect();
                (page, hi < items.len(), lo > 0)
            }
            (None, None) => {
                let lo = items.len().saturating_sub(limit);
                let page: Vec<SimPost> = items[lo..].iter().rev().map(|p| (*p).clone()).collect();
                (page, false, lo > 0)
            }
        }
    });
    {
        let mut served = s.served.lock().expect("served lock");
        served
            .reddit
            .extend(page.iter().map(|p| (p.stream, p.created_ms, p.seq)));
    }
    let first = page.first().map(|p| p.external_id());
    let last = page.last().map(|p| p.external_id());
    reply(
        StatusCode::OK,
        json!({
            "kind": "Listing",
            "data": {
                "after": if older_left { last } else { None },
                "before": if newer_left { first } else { None },
                "dist": page.len(),
                "modhash": "",
                "geo_filter": "",
                "children": page.iter().map(reddit_item).collect::<Vec<_>>(),
            }
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// CoinGecko: markets, simple price and market chart from the shipped Binance closes.

fn gecko_error(status: StatusCode, message: String) -> Response {
    reply(status, json!({"error": message}))
}

/// The priced assets among `ids` (comma-separated CoinGecko ids; `None` = all).
fn priced_ids(ids: Option<&String>) -> Vec<usize> {
    match ids {
        None => (0..PRICED.len()).collect(),
        Some(ids) => ids
            .split(',')
            .filter_map(|id| {
                PRICED
                    .iter()
                    .position(|(_, gid, _)| gid.eq_ignore_ascii_case(id.trim()))
            })
            .collect(),
    }
}

/// An error answer unless the currency parameter `key` asks for usd.
fn check_usd(q: &HashMap<String, String>, key: &str) -> Option<Response> {
    match q.get(key).map(|v| v.to_ascii_lowercase()) {
        None => Some(gecko_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("Missing parameter {key}"),
        )),
        Some(v) if v.split(',').any(|c| c == "usd") => None,
        Some(v) => Some(gecko_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the demo replay has usd prices only, not `{v}`"),
        )),
    }
}

fn count_prices(s: &Shared, points: impl IntoIterator<Item = (usize, i64)>) {
    s.served.lock().expect("served lock").prices.extend(points);
}

async fn coins_markets(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = s.arrive(Endpoint::Coingecko).await {
        return r;
    }
    if let Some(r) = check_usd(&q, "vs_currency") {
        return r;
    }
    let now = s.clock.now();
    let hist = prices::history();
    let mut rows = Vec::new();
    let mut points = Vec::new();
    for a in priced_ids(q.get("ids")) {
        let Some(c) = hist.latest(a, now) else {
            continue;
        };
        let (sym, id, name) = PRICED[a];
        let at = c.close_time();
        points.push((a, at.timestamp_millis()));
        rows.push(json!({
            "id": id,
            "symbol": sym.to_ascii_lowercase(),
            "name": name,
            "current_price": c.close,
            "total_volume": hist.volume_24h(a, at),
            "market_cap": null,
            "last_updated": rfc3339(at),
            "price_source": PRICE_SOURCE,
        }));
    }
    count_prices(&s, points);
    reply(StatusCode::OK, Value::Array(rows))
}

async fn simple_price(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = s.arrive(Endpoint::Coingecko).await {
        return r;
    }
    if let Some(r) = check_usd(&q, "vs_currencies") {
        return r;
    }
    let Some(ids) = q.get("ids") else {
        return gecko_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Missing parameter ids".into(),
        );
    };
    let flag = |k: &str| q.get(k).is_some_and(|v| v == "true");
    let now = s.clock.now();
    let hist = prices::history();
    let mut out = serde_json::Map::new();
    let mut points = Vec::new();
    for a in priced_ids(Some(ids)) {
        let Some(c) = hist.latest(a, now) else {
            continue;
        };
        let at = c.close_time();
        points.push((a, at.timestamp_millis()));
        let mut fields = json!({"usd": c.close});
        if flag("include_24hr_vol") {
            fields["usd_24h_vol"] = json!(hist.volume_24h(a, at));
        }
        if flag("include_last_updated_at") {
            fields["last_updated_at"] = json!(at.timestamp());
        }
        out.insert(PRICED[a].1.to_owned(), fields);
    }
    count_prices(&s, points);
    reply(StatusCode::OK, Value::Object(out))
}

async fn market_chart(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = s.arrive(Endpoint::Coingecko).await {
        return r;
    }
    if let Some(r) = check_usd(&q, "vs_currency") {
        return r;
    }
    let Some(a) = prices::asset_index(&id).filter(|&a| PRICED[a].1 == id) else {
        return gecko_error(
            StatusCode::NOT_FOUND,
            format!("coin not found: the demo replay has bitcoin and ethereum, not `{id}`"),
        );
    };
    let hist = prices::history();
    let now = s.clock.now();
    let since = match q.get("days").map(|d| d.as_str()) {
        Some("max") => hist.span().0,
        Some(d) => match d.parse::<f64>() {
            Ok(days) if days.is_finite() && days > 0.0 => {
                now - chrono::Duration::seconds((days * 86_400.0) as i64)
            }
            _ => {
                return gecko_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("invalid parameter days: `{d}`"),
                );
            }
        },
        None => {
            return gecko_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Missing parameter days".into(),
            );
        }
    };
    let candles = hist.closed_between(a, since, now);
    let prices: Vec<Value> = candles
        .iter()
        .map(|c| json!([c.close_time().timestamp_millis(), c.close]))
        .collect();
    let volumes: Vec<Value> = candles
        .iter()
        .map(|c| {
            json!([
                c.close_time().timestamp_millis(),
                hist.volume_24h(a, c.close_time())
            ])
        })
        .collect();
    count_prices(
        &s,
        candles
            .iter()
            .map(|c| (a, c.close_time().timestamp_millis())),
    );
    reply(
        StatusCode::OK,
        json!({
            "prices": prices,
            "market_caps": [],
            "total_volumes": volumes,
            "price_source": PRICE_SOURCE,
        }),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn served_counts_read_as_a_sentence() {
        let counts = super::ServedCounts {
            twitter: 12_345,
            reddit: 678,
            coingecko: 96,
        };
        assert_eq!(
            counts.to_string(),
            "12,345 simulated tweets, 678 simulated Reddit posts and comments, 96 price points"
        );
    }

    use super::*;

    #[test]
    fn query_terms_skip_operators() {
        assert_eq!(
            query_terms("($BTC OR bitcoin OR \"shiba inu\" OR 1inch) -is:retweet lang:en"),
            vec!["$btc", "bitcoin", "shiba inu", "1inch"]
        );
        assert!(query_terms("-is:retweet lang:en").is_empty());
    }
}
