//! The HTTP layer every collector shares.
//!
//! One `reqwest::Client` per source with a whole-request timeout, gzip and a descriptive User-Agent.
//! [`Http::send`] retries 5xx answers, timeouts and connection errors with exponential backoff and
//! jitter ([`crate::backoff`]), reads each API's rate-limit headers after every response, and refuses to send (with
//! [`CollectError::RateLimited`]) while the API said the window is empty or the configured budget is
//! used up. It never sleeps on a rate limit: the wait goes back to the caller, who schedules the next
//! round, so a collector is never stuck inside a poll for minutes.
//!
//! Every other status comes back as a [`Reply`]: collectors look at the ones that mean something
//! special for their API (Reddit's 401 = refresh the token, YouTube's `commentsDisabled`, Twitter's
//! `UsageCapExceeded`) and hand the rest to [`Http::check`], which maps them the same way everywhere.
//! Error messages carry the endpoint path, never the query string (YouTube puts its key there).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::CollectError;
use super::ratelimit::{self, Budget, RateLimit, RequestBudget};

/// Wall-clock time, replaceable in tests so recorded epoch headers and candle times make sense.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    pub fn system() -> Self {
        Clock(Arc::new(Utc::now))
    }

    /// A clock stopped at `at`.
    pub fn fixed(at: DateTime<Utc>) -> Self {
        Clock(Arc::new(move || at))
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// The User-Agent sent by every source unless one needs its own format (Reddit).
pub fn user_agent() -> String {
    let url = [env!("CARGO_PKG_REPOSITORY"), env!("CARGO_PKG_HOMEPAGE")]
        .into_iter()
        .find(|u| !u.is_empty())
        .unwrap_or("https://github.com/coinpulse/coinpulse");
    format!("coinpulse/{} (+{url})", env!("CARGO_PKG_VERSION"))
}

/// Transport settings, from `[sources]`.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_retries: u32,
    pub retry_base_delay: Duration,
    pub retry_max_delay: Duration,
    /// Replaces [`user_agent`] when set.
    pub user_agent: Option<String>,
    pub clock: Clock,
}

impl Default for HttpSettings {
    fn default() -> Self {
        super::SourcesConfig::default().http_settings()
    }
}

/// A response with its body read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The path that was asked, for messages (`/2/tweets/search/recent`).
    pub endpoint: String,
}

impl Reply {
    /// Parses the body as `T`; a mismatch names the source, the endpoint and the field path.
    pub fn json<T: DeserializeOwned>(&self, source: &str) -> Result<T, CollectError> {
        parse_json(source, &self.endpoint, &self.body)
    }

    /// A short, printable account of an error body: the API's own message for JSON, the title or the
    /// first words for HTML.
    pub fn snippet(&self) -> String {
        body_snippet(&self.body)
    }
}

/// Parses `body` as `T`, naming the field that did not fit.
pub fn parse_json<T: DeserializeOwned>(
    source: &str,
    endpoint: &str,
    body: &[u8],
) -> Result<T, CollectError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        CollectError::transient(
            source,
            format!(
                "malformed response from {endpoint}: field `{path}`: {}",
                e.inner()
            ),
            Duration::from_secs(60),
        )
    })
}

/// Deserializes one item that was kept as raw JSON, naming `prefix.field` on failure.
pub fn parse_item<T: DeserializeOwned>(
    source: &str,
    endpoint: &str,
    prefix: &str,
    item: &serde_json::Value,
) -> Result<T, CollectError> {
    serde_path_to_error::deserialize(item).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            prefix.to_owned()
        } else {
            format!("{prefix}.{path}")
        };
        CollectError::transient(
            source,
            format!(
                "malformed response from {endpoint}: field `{field}`: {}",
                e.inner()
            ),
            Duration::from_secs(60),
        )
    })
}

fn body_snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(trimmed) {
            let pick = |v: &serde_json::Value| -> Option<String> {
                for key in [
                    "detail",
                    "message",
                    "msg",
                    "error_description",
                    "title",
                    "reason",
                ] {
                    if let Some(s) = v.get(key).and_then(|s| s.as_str()) {
                        return Some(s.to_owned());
                    }
                }
                None
            };
            if let Some(s) = pick(&v)
                .or_else(|| v.get("error").and_then(pick))
                .or_else(|| {
                    v.get("status")
                        .and_then(|s| s.get("error_message"))
                        .and_then(|s| s.as_str())
                        .map(str::to_owned)
                })
            {
                return truncate(&s, 200);
            }
        }
        return truncate(trimmed, 200);
    }
    if trimmed.starts_with('<') {
        let lower = trimmed.to_ascii_lowercase();
        if let (Some(a), Some(b)) = (lower.find("<title>"), lower.find("</title>"))
            && a + 7 <= b
        {
            return format!(
                "HTML page \"{}\"",
                truncate(super::text::html_to_text(&trimmed[a + 7..b]).trim(), 120)
            );
        }
        return format!(
            "HTML page \"{}\"",
            truncate(super::text::html_to_text(trimmed).trim(), 120)
        );
    }
    truncate(trimmed, 200)
}

fn truncate(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let mut out: String = flat.chars().take(max).collect();
    out.push('…');
    out
}

/// The largest answer body read. The biggest legitimate ones (a page of 100 tweets with expansions,
/// a /biz/ catalog, a news feed with full articles) are a few MB; a larger one is a broken or hostile
/// server, and reading it whole would hold that much memory for as long as the round lasts.
pub const MAX_BODY: usize = 32 << 20;

enum BodyError {
    Transport(reqwest::Error),
    TooLarge,
}

/// The body, chunk by chunk, refused as soon as it passes [`MAX_BODY`] (or at once when its
/// `Content-Length` says it will).
async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, BodyError> {
    if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::with_capacity(resp.content_length().unwrap_or(0) as usize);
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// One source's HTTP client and rate-limit state.
#[derive(Debug)]
pub struct Http {
    source: String,
    client: reqwest::Client,
    settings: HttpSettings,
    budget: Option<RequestBudget>,
    blocked_until: Option<Instant>,
    /// What the last response said about the window, if anything.
    pub last_rate_limit: Option<RateLimit>,
    /// Appended to 401/403 messages: what the operator has to fix.
    auth_hint: String,
}

impl Http {
    pub fn new(
        source: &str,
        settings: HttpSettings,
        budget: Option<Budget>,
        auth_hint: impl Into<String>,
    ) -> Result<Self, CollectError> {
        let client = reqwest::Client::builder()
            .user_agent(settings.user_agent.clone().unwrap_or_else(user_agent))
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .gzip(true)
            .build()
            .map_err(|e| CollectError::fatal(source, format!("cannot build HTTP client: {e}")))?;
        Ok(Http {
            source: source.to_owned(),
            client,
            settings,
            budget: budget.map(RequestBudget::new),
            blocked_until: None,
            last_rate_limit: None,
            auth_hint: auth_hint.into(),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.settings.clock.now()
    }

    /// Remaining pause the API or our budget imposes; zero when a request may go now.
    pub fn pause_remaining(&mut self) -> Duration {
        let blocked = self
            .blocked_until
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or_default();
        let budget = self.budget.as_mut().map(|b| b.wait()).unwrap_or_default();
        blocked.max(budget)
    }

    /// Sends no request for `wait` (quota exhausted, weight near the limit, ...).
    pub fn block_for(&mut self, wait: Duration) {
        let until = Instant::now() + wait;
        if self.blocked_until.is_none_or(|t| t < until) {
            self.blocked_until = Some(until);
        }
    }

    /// `Err(RateLimited)` when no request may go now.
    pub fn ready(&mut self) -> Result<(), CollectError> {
        let blocked = self
            .blocked_until
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or_default();
        if !blocked.is_zero() {
            return Err(CollectError::rate_limited(
                &self.source,
                format!(
                    "rate limit window is empty; next request in {}s",
                    blocked.as_secs()
                ),
                blocked,
            ));
        }
        if let Some(budget) = &mut self.budget {
            let wait = budget.wait();
            if !wait.is_zero() {
                let b = budget.budget();
                return Err(CollectError::rate_limited(
                    &self.source,
                    format!(
                        "configured budget of {} requests per {}s is used up; next request in {}s",
                        b.requests,
                        b.per.as_secs(),
                        wait.as_secs()
                    ),
                    wait,
                ));
            }
        }
        Ok(())
    }

    /// Sends the request `build` makes, retrying transport errors and 5xx answers. `endpoint` is the
    /// path used in messages.
    pub async fn send(
        &mut self,
        endpoint: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Reply, CollectError> {
        self.ready()?;
        let mut attempt = 0u32;
        loop {
            if let Some(budget) = &mut self.budget {
                budget.record();
            }
            let result = match build(&self.client).send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    match read_capped(resp).await {
                        Ok(body) => Ok((status, headers, body)),
                        Err(BodyError::Transport(e)) => Err(e),
                        Err(BodyError::TooLarge) => {
                            return Err(CollectError::transient(
                                &self.source,
                                format!(
                                    "{endpoint} answered HTTP {} with a body over {} MiB; not read",
                                    status.as_u16(),
                                    MAX_BODY >> 20
                                ),
                                Duration::from_secs(600),
                            ));
                        }
                    }
                }
                Err(e) => Err(e),
            };
            match result {
                Ok((status, headers, body)) => {
                    self.observe(&headers);
                    if status.is_server_error() && attempt < self.settings.max_retries {
                        let wait = self.backoff(attempt);
                        tracing::warn!(
                            source = %self.source, endpoint, status = status.as_u16(), attempt,
                            wait_ms = wait.as_millis() as u64,
                            "Server error, retrying after backoff."
                        );
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                        continue;
                    }
                    return Ok(Reply {
                        status,
                        headers,
                        body,
                        endpoint: endpoint.to_owned(),
                    });
                }
                Err(e) => {
                    // The URL may carry an API key in its query string: never print it, only its
                    // host, and the innermost cause instead of reqwest's "error sending request".
                    let host = e
                        .url()
                        .map(|u| u.host_str().unwrap_or_default().to_string())
                        .unwrap_or_default();
                    let e = TransportError {
                        host,
                        cause: root_cause(&e),
                        inner: e.without_url(),
                    };
                    let kind = if e.inner.is_timeout() {
                        "timed out"
                    } else if e.inner.is_connect() {
                        "could not connect"
                    } else {
                        "failed"
                    };
                    if attempt < self.settings.max_retries {
                        let wait = self.backoff(attempt);
                        tracing::warn!(
                            source = %self.source, endpoint, host = %e.host, error = %e.cause,
                            attempt, wait_ms = wait.as_millis() as u64,
                            "Request {kind}, retrying after backoff."
                        );
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(CollectError::transient(
                        &self.source,
                        format!(
                            "request to {endpoint} on {} {kind} after {} attempts: {}",
                            e.host,
                            attempt + 1,
                            e.cause
                        ),
                        Duration::from_secs(60),
                    ));
                }
            }
        }
    }

    /// The wait before retry `attempt` (see [`crate::backoff`]).
    fn backoff(&self, attempt: u32) -> Duration {
        crate::backoff::Backoff::new(
            self.settings.retry_base_delay,
            self.settings.retry_max_delay,
        )
        .delay(attempt)
    }

    fn observe(&mut self, headers: &HeaderMap) {
        let now = self.now();
        let Some(rl) = ratelimit::parse_headers(headers, now) else {
            return;
        };
        self.last_rate_limit = Some(rl);
        if rl.exhausted() {
            let wait = rl
                .reset_in
                .unwrap_or(Duration::from_secs(60))
                .max(Duration::from_secs(1));
            tracing::info!(
                source = %self.source, wait_s = wait.as_secs(),
                "Rate-limit window used up, pausing until it resets."
            );
            self.block_for(wait);
        }
    }

    /// How long a 429/418 asks us to wait: `Retry-After`, else the window reset, else `default`.
    pub fn rate_limit_wait(&self, reply: &Reply, default: Duration) -> Duration {
        let now = self.now();
        ratelimit::retry_after(&reply.headers, now)
            .or_else(|| ratelimit::parse_headers(&reply.headers, now).and_then(|r| r.reset_in))
            .unwrap_or(default)
            .max(Duration::from_secs(1))
    }

    /// The shared mapping of statuses to outcomes: 2xx passes; 401/403 stop the source with what to
    /// fix; 429/418 pause it; other answers are transient errors with the API's own message.
    pub fn check(&mut self, reply: Reply) -> Result<Reply, CollectError> {
        let status = reply.status;
        if status.is_success() {
            return Ok(reply);
        }
        let what = format!(
            "{} answered HTTP {}: {}",
            reply.endpoint,
            status.as_u16(),
            reply.snippet()
        );
        match status.as_u16() {
            401 | 403 => {
                tracing::error!(
                    source = %self.source, endpoint = %reply.endpoint, status = status.as_u16(),
                    "Credentials rejected, stopping this source: {}.", self.auth_hint
                );
                Err(CollectError::fatal(
                    &self.source,
                    format!("{what}; {}", self.auth_hint),
                ))
            }
            429 | 418 => {
                let default = if status.as_u16() == 418 {
                    Duration::from_secs(600)
                } else {
                    Duration::from_secs(60)
                };
                let wait = self.rate_limit_wait(&reply, default);
                self.block_for(wait);
                Err(CollectError::rate_limited(
                    &self.source,
                    format!("{what}; retrying in {}s", wait.as_secs()),
                    wait,
                ))
            }
            s if s >= 500 => Err(CollectError::transient(
                &self.source,
                format!("{what} (after retries)"),
                Duration::from_secs(60),
            )),
            _ => Err(CollectError::transient(
                &self.source,
                what,
                Duration::from_secs(300),
            )),
        }
    }
}

/// A request that got no answer: the host it went to and why, as an operator reads it.
struct TransportError {
    host: String,
    cause: String,
    inner: reqwest::Error,
}

/// The innermost cause of a transport error, in plain words: `connection refused`,
/// `dns: failed to lookup address information: ...`, `timed out`, rather than reqwest's
/// "error sending request" (which names no cause). Never includes the URL.
pub(crate) fn root_cause(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut dns = false;
    let mut innermost: Option<String> = None;
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return "connection refused".into(),
                std::io::ErrorKind::ConnectionReset => return "connection reset".into(),
                std::io::ErrorKind::TimedOut => return "timed out".into(),
                _ => {}
            }
        }
        let text = err.to_string();
        dns |= text.contains("dns error");
        innermost = Some(text);
        source = err.source();
    }
    let cause = innermost.unwrap_or_else(|| "no response".into());
    if dns && !cause.contains("dns") {
        format!("dns: {cause}")
    } else {
        cause
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_names_the_host_and_the_cause() {
        // A port nobody listens on: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let settings = HttpSettings {
            max_retries: 0,
            ..HttpSettings::default()
        };
        let mut http = Http::new("twitter", settings, None, "").unwrap();
        let url = format!("http://127.0.0.1:{port}/2/tweets/search/recent?key=secret-in-query");
        let err = http
            .send("/2/tweets/search/recent", |c| c.get(&url))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("on 127.0.0.1"), "{err}");
        assert!(err.contains("connection refused"), "{err}");
        assert!(!err.contains("error sending request"), "{err}");
        assert!(!err.contains("secret-in-query"), "{err}");
    }

    /// A server that answers 200 and then streams chunks without end (no `Content-Length`), and
    /// one that announces a body over the cap: both are refused, the endless one after at most
    /// the cap plus a chunk was read.
    #[tokio::test]
    async fn an_oversized_body_is_refused_without_being_read_whole() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let written = Arc::new(AtomicUsize::new(0));
        let counter = written.clone();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let n = tcp.read(&mut request).await.unwrap_or(0);
                    let request = String::from_utf8_lossy(&request[..n]).to_string();
                    if request.starts_with("GET /announced") {
                        let head = "HTTP/1.1 200 OK\r\ncontent-length: 999999999\r\n\r\n";
                        let _ = tcp.write_all(head.as_bytes()).await;
                        return;
                    }
                    let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
                    if tcp.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let chunk = format!("100000\r\n{}\r\n", "x".repeat(1 << 20));
                    while tcp.write_all(chunk.as_bytes()).await.is_ok() {
                        counter.fetch_add(1 << 20, Ordering::SeqCst);
                    }
                });
            }
        });
        let mut http = Http::new("news", HttpSettings::default(), None, "").unwrap();
        for endpoint in ["/endless", "/announced"] {
            let url = format!("http://{addr}{endpoint}");
            let err = http.send(endpoint, |c| c.get(&url)).await.unwrap_err();
            assert!(matches!(err, CollectError::Transient { .. }), "{err:?}");
            let message = err.to_string();
            assert!(
                message.contains(&format!(
                    "{endpoint} answered HTTP 200 with a body over 32 MiB"
                )),
                "{message}"
            );
        }
        // What the server managed to write before the client hung up: the cap, plus what sat in
        // the socket buffers.
        let sent = written.load(Ordering::SeqCst);
        assert!((MAX_BODY..MAX_BODY + (16 << 20)).contains(&sent), "{sent}");
    }

    #[test]
    fn snippet_of_html_uses_title() {
        let s = body_snippet(b"<!doctype html><html><head><title>Too Many Requests</title></head><body><h1>whoa there, pardner!</h1></body></html>");
        assert_eq!(s, "HTML page \"Too Many Requests\"");
    }

    #[test]
    fn snippet_of_json_uses_the_message() {
        assert_eq!(
            body_snippet(br#"{"error":{"code":403,"message":"The request cannot be completed because you have exceeded your quota."}}"#),
            "The request cannot be completed because you have exceeded your quota."
        );
        assert_eq!(
            body_snippet(br#"{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}"#),
            "Unauthorized"
        );
    }

    #[test]
    fn malformed_json_names_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct T {
            data: Vec<Inner>,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Inner {
            id: String,
        }
        let err = parse_json::<T>("twitter", "/x", br#"{"data":[{"id":"1"},{"id":2}]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("twitter: "), "{err}");
        assert!(err.contains("data[1].id"), "{err}");
    }

    #[test]
    fn user_agent_names_the_version_and_a_url() {
        let ua = user_agent();
        assert!(
            ua.starts_with(&format!("coinpulse/{} (+http", env!("CARGO_PKG_VERSION"))),
            "{ua}"
        );
    }
}
