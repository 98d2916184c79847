//! Bluesky's Jetstream: every public Bluesky post, live, over one WebSocket, with no account.
//!
//! Jetstream turns the AT Protocol firehose into JSON frames (`{"did", "time_us", "kind", "commit"}`).
//! A background task holds the socket, parses every frame, and keeps only post creations that the
//! tagger says mention a tracked asset; everything else (likes, follows, other collections, identity
//! and account events, posts about something else) costs one parse and is dropped there, so the
//! pipeline sees a few percent of the firehose. [`Collector::poll`] hands over what the task has
//! queued, at once when something is waiting, so the daemon's writer batches the stream by size or
//! time like any other source.
//!
//! **Cursor** `{"time_us": N}`: the `time_us` of the last event read before the batch was cut. Every
//! event before it is either in the batch or was dropped, so committing it with the batch loses
//! nothing. After a restart the stream resumes at the committed cursor minus `resume_margin` (each
//! Jetstream instance stamps its own `time_us`, a few seconds apart); the replayed posts are already
//! stored, keyed by their `at://` URI, and the writer skips them. Within a process a reconnect resumes
//! from the last event read minus the margin, and a set of recently queued URIs drops the replay
//! before it is queued.
//!
//! **Connection**: the `url` list is tried in turn; each failure moves to the next instance after a
//! jittered exponential backoff (`sources.retry_base_delay` … `retry_max_delay`). A socket that
//! sends nothing for `read_timeout` (pings are sent at a third of it, and Jetstream answers them) is
//! taken as stalled and replaced.
//!
//! **Deletions** of posts (`operation: "delete"`) travel with the batch in stream order and remove the
//! stored post, its mentions and its counts in the rollups, in the transaction that moves the cursor
//! past them (see [`crate::store::deletions`]). Every post deletion goes on, since the reader cannot
//! know which of them are stored; one that names nothing stored costs an index lookup. Posts whose text is empty
//! (a link card) are read by the card's title and description. Frames that do not parse are logged
//! and skipped; the stream goes on.
//!
//! Kept per post: the author's DID (`author`), the first language tag, the `at://` URI as external
//! id, a `bsky.app` link, and the record itself (reply parent/root, quote and link embeds) as `raw`.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::{Batch, BuildContext, CollectError, Collector, PostFilter, Source, SourceConfig};
use crate::backoff::Backoff;
use crate::model::{Engagement, Platform, Post, PostRef};

const SOURCE: &str = "jetstream";
const POST_COLLECTION: &str = "app.bsky.feed.post";

/// `[sources.jetstream]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JetstreamConfig {
    pub enabled: bool,
    /// Jetstream `/subscribe` endpoints, tried in order; a failure moves to the next.
    pub url: Vec<String>,
    /// Collections to ask for; only `app.bsky.feed.post` records become posts.
    pub wanted_collections: Vec<String>,
    /// zstd-compressed frames. Not supported: decoding needs Jetstream's own zstd dictionary.
    pub compress: bool,
    /// How far before the cursor a reconnect resumes.
    #[serde(with = "humantime_serde")]
    pub resume_margin: Duration,
    /// A socket silent this long is replaced.
    #[serde(with = "humantime_serde")]
    pub read_timeout: Duration,
    /// Posts handed over per round at most.
    pub max_batch: usize,
    /// Posts queued between the socket and the pipeline; when full, reading waits.
    pub queue: usize,
}

impl Default for JetstreamConfig {
    fn default() -> Self {
        JetstreamConfig {
            enabled: false,
            url: [
                "wss://jetstream1.us-east.bsky.network/subscribe",
                "wss://jetstream2.us-east.bsky.network/subscribe",
                "wss://jetstream1.us-west.bsky.network/subscribe",
                "wss://jetstream2.us-west.bsky.network/subscribe",
            ]
            .map(String::from)
            .to_vec(),
            wanted_collections: vec![POST_COLLECTION.into()],
            compress: false,
            resume_margin: Duration::from_secs(5),
            read_timeout: Duration::from_secs(30),
            max_batch: 2000,
            queue: 20_000,
        }
    }
}

impl SourceConfig for JetstreamConfig {
    const NAME: &'static str = SOURCE;

    fn enabled(&self) -> bool {
        self.enabled
    }

    fn check(&self) -> Result<(), String> {
        if self.url.is_empty() {
            return Err("missing value for key `sources.jetstream.url`: give at least one Jetstream `wss://…/subscribe` URL".into());
        }
        for url in &self.url {
            if !(url.starts_with("ws://") || url.starts_with("wss://")) {
                return Err(format!(
                    "invalid value for key `sources.jetstream.url`: `{url}` is not a ws(s) URL"
                ));
            }
        }
        if self.compress {
            return Err("invalid value for key `sources.jetstream.compress`: compressed frames need Jetstream's zstd dictionary, which coinpulse does not ship; set it to false".into());
        }
        if self.read_timeout < Duration::from_millis(100) {
            return Err(
                "invalid value for key `sources.jetstream.read_timeout`: must be at least 100ms"
                    .into(),
            );
        }
        super::check_positive("sources.jetstream.max_batch", self.max_batch as u64)?;
        super::check_positive("sources.jetstream.queue", self.queue as u64)
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Collector>, CollectError> {
        let filter = ctx.filter.clone().ok_or_else(|| {
            CollectError::fatal(SOURCE, "the stream needs the tagger to pick posts")
        })?;
        let mut config = self.clone();
        if let Some(base) = ctx.base_url {
            config.url = vec![ws_url(base)];
        }
        Ok(Box::new(JetstreamCollector::new(
            config,
            filter,
            Backoff::new(ctx.http.retry_base_delay, ctx.http.retry_max_delay),
            ctx.http.connect_timeout,
        )))
    }
}

/// `http://host:port` → `ws://host:port/subscribe` (a base-URL override names a host, not a path).
fn ws_url(base: &str) -> String {
    let url = if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        base.to_owned()
    };
    let after_scheme = url.split_once("://").map_or("", |(_, r)| r);
    if after_scheme.trim_end_matches('/').contains('/') {
        url
    } else {
        format!("{}/subscribe", url.trim_end_matches('/'))
    }
}

/// The stored position.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JetstreamCursor {
    pub time_us: i64,
}

/// One frame, as far as coinpulse reads it.
#[derive(Debug, Deserialize)]
struct Frame {
    did: String,
    time_us: i64,
    kind: String,
    commit: Option<Commit>,
}

#[derive(Debug, Deserialize)]
struct Commit {
    operation: String,
    collection: String,
    rkey: String,
    record: Option<serde_json::Value>,
    cid: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostRecord {
    #[serde(default)]
    text: String,
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    langs: Vec<String>,
    embed: Option<Embed>,
}

#[derive(Debug, Deserialize)]
struct Embed {
    external: Option<External>,
}

#[derive(Debug, Deserialize)]
struct External {
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
}

/// What one frame means to coinpulse.
#[derive(Debug, PartialEq)]
pub enum Event {
    /// A new post.
    Post(Box<Post>),
    /// A post was deleted; its `at://` URI.
    Delete(String),
    /// Anything else: another collection, an update, identity and account events.
    Other,
}

/// What the reader hands to [`Collector::poll`], in stream order.
#[derive(Debug)]
enum Queued {
    Post(Box<Post>),
    /// The `at://` URI of a deleted post.
    Delete(String),
}

/// A parsed frame: its `time_us` and what it means.
#[derive(Debug, PartialEq)]
pub struct Parsed {
    pub time_us: i64,
    pub event: Event,
}

/// Reads one Jetstream JSON frame. An error says why the frame is unreadable.
pub fn parse_frame(text: &str) -> Result<Parsed, String> {
    let frame: Frame = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let event = match (frame.kind.as_str(), frame.commit) {
        ("commit", Some(commit)) if commit.collection == POST_COLLECTION => {
            let uri = format!("at://{}/{POST_COLLECTION}/{}", frame.did, commit.rkey);
            match commit.operation.as_str() {
                "create" => {
                    let record = commit
                        .record
                        .ok_or_else(|| format!("{uri}: post create without a record"))?;
                    let post = post_from(
                        &frame.did,
                        frame.time_us,
                        uri,
                        commit.rkey,
                        commit.cid,
                        record,
                    )?;
                    Event::Post(Box::new(post))
                }
                "delete" => Event::Delete(uri),
                _ => Event::Other,
            }
        }
        ("commit", None) => return Err("commit event without `commit`".into()),
        _ => Event::Other,
    };
    Ok(Parsed {
        time_us: frame.time_us,
        event,
    })
}

fn post_from(
    did: &str,
    time_us: i64,
    uri: String,
    rkey: String,
    cid: Option<String>,
    record: serde_json::Value,
) -> Result<Post, String> {
    let parsed = PostRecord::deserialize(&record).map_err(|e| format!("{uri}: record: {e}"))?;
    let mut text = parsed.text;
    if text.trim().is_empty()
        && let Some(card) = parsed.embed.and_then(|e| e.external)
    {
        // A link-card post: the card is what the post says.
        text = [card.title, card.description]
            .into_iter()
            .filter(|s| !s.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n");
    }
    let created_at = parsed
        .created_at
        .or_else(|| Utc.timestamp_micros(time_us).single())
        .ok_or_else(|| format!("{uri}: no usable time"))?;
    Ok(Post {
        platform: Platform::Bluesky,
        url: Some(format!("https://bsky.app/profile/{did}/post/{rkey}")),
        external_id: uri,
        author: Some(did.to_owned()),
        text,
        created_at,
        language: parsed.langs.into_iter().next(),
        engagement: Engagement::default(),
        raw: Some(serde_json::json!({ "did": did, "cid": cid, "time_us": time_us, "record": record })),
    })
}

/// What the reader task and the collector share.
struct Shared {
    /// `time_us` of the last event read (after its post, if any, was queued).
    read_us: AtomicI64,
    /// Why the socket is down, while it is.
    down: Mutex<Option<String>>,
    /// Counters for logs and tests.
    frames: AtomicU64,
    malformed: AtomicU64,
    connections: AtomicU64,
}

pub struct JetstreamCollector {
    config: JetstreamConfig,
    filter: PostFilter,
    /// Waits between reconnection attempts.
    retry: Backoff,
    connect_timeout: Duration,
    shared: Arc<Shared>,
    queue: Option<mpsc::Receiver<(i64, Queued)>>,
    stop: CancellationToken,
    /// The next round waits at most this long for the first post.
    max_wait: Duration,
}

impl JetstreamCollector {
    pub fn new(
        config: JetstreamConfig,
        filter: PostFilter,
        retry: Backoff,
        connect_timeout: Duration,
    ) -> JetstreamCollector {
        JetstreamCollector {
            config,
            filter,
            retry,
            connect_timeout,
            shared: Arc::new(Shared {
                read_us: AtomicI64::new(0),
                down: Mutex::new(None),
                frames: AtomicU64::new(0),
                malformed: AtomicU64::new(0),
                connections: AtomicU64::new(0),
            }),
            queue: None,
            stop: CancellationToken::new(),
            max_wait: Duration::from_millis(500),
        }
    }

    /// Frames read, frames skipped as malformed, connections made (tests, logs).
    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.shared.frames.load(Ordering::Relaxed),
            self.shared.malformed.load(Ordering::Relaxed),
            self.shared.connections.load(Ordering::Relaxed),
        )
    }

    fn start(&mut self, cursor: Option<JetstreamCursor>) {
        let start = cursor.map(|c| c.time_us).filter(|&t| t > 0);
        if let Some(t) = start {
            self.shared.read_us.fetch_max(t, Ordering::SeqCst);
        }
        let (tx, rx) = mpsc::channel(self.config.queue);
        self.queue = Some(rx);
        let reader = Reader {
            config: self.config.clone(),
            filter: self.filter.clone(),
            shared: self.shared.clone(),
            retry: self.retry,
            connect_timeout: self.connect_timeout,
            tx,
            stop: self.stop.clone(),
            recent: Recent::new(100_000),
        };
        tokio::spawn(reader.run(start));
    }
}

impl Drop for JetstreamCollector {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[async_trait::async_trait]
impl Source for JetstreamCollector {
    const NAME: &'static str = SOURCE;
    type Cursor = JetstreamCursor;

    async fn poll(
        &mut self,
        cursor: Option<JetstreamCursor>,
    ) -> Result<Batch<JetstreamCursor>, CollectError> {
        if self.queue.is_none() {
            self.start(cursor);
        }
        let queue = self.queue.as_mut().expect("started above");
        // Read the position first: every post read before it is in the queue by now.
        let read_us = self.shared.read_us.load(Ordering::SeqCst);
        let mut items: Vec<(i64, Queued)> = Vec::new();
        let first = tokio::time::timeout(self.max_wait, queue.recv()).await;
        match first {
            Ok(Some(item)) => items.push(item),
            Ok(None) => {
                self.queue = None;
                return Err(CollectError::transient(
                    SOURCE,
                    "the stream reader stopped; restarting it",
                    Duration::from_secs(1),
                ));
            }
            Err(_) => {}
        }
        while items.len() < self.config.max_batch {
            match queue.try_recv() {
                Ok(item) => items.push(item),
                Err(_) => break,
            }
        }
        let taken = items.len();
        let last_us = items.last().map_or(0, |(t, _)| *t);
        let mut posts = Vec::new();
        let mut deleted = Vec::new();
        for (_, item) in items {
            match item {
                Queued::Post(post) => posts.push(*post),
                Queued::Delete(uri) => deleted.push(PostRef {
                    platform: Platform::Bluesky,
                    external_id: uri,
                }),
            }
        }
        let drained = taken < self.config.max_batch;
        // A full batch may leave earlier posts queued, so its cursor is its own last post.
        let position = if drained {
            read_us.max(last_us)
        } else {
            last_us
        };
        if taken == 0
            && let Some(why) = self.shared.down.lock().expect("jetstream lock").clone()
        {
            return Err(CollectError::transient(SOURCE, why, Duration::ZERO));
        }
        let cursor = (position > 0).then_some(JetstreamCursor { time_us: position });
        Ok(Batch {
            posts,
            deleted,
            cursor,
            ..Default::default()
        })
    }
}

/// URIs queued recently, so a reconnect's replay is not queued twice.
struct Recent {
    set: HashSet<String>,
    order: VecDeque<String>,
    cap: usize,
}

impl Recent {
    fn new(cap: usize) -> Recent {
        Recent {
            set: HashSet::new(),
            order: VecDeque::new(),
            cap,
        }
    }

    /// False when `uri` was inserted before.
    fn insert(&mut self, uri: &str) -> bool {
        if self.set.contains(uri) {
            return false;
        }
        if self.order.len() == self.cap
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        self.set.insert(uri.to_owned());
        self.order.push_back(uri.to_owned());
        true
    }
}

/// The task that owns the socket.
struct Reader {
    config: JetstreamConfig,
    filter: PostFilter,
    shared: Arc<Shared>,
    retry: Backoff,
    connect_timeout: Duration,
    tx: mpsc::Sender<(i64, Queued)>,
    stop: CancellationToken,
    recent: Recent,
}

/// Why a connection ended.
enum End {
    Stopped,
    /// The connection worked for a while and then ended; reconnect at once to the same instance.
    Dropped(String),
    /// It never got going; back off and try the next instance.
    Failed(String),
}

impl Reader {
    async fn run(mut self, start: Option<i64>) {
        let mut instance = 0usize;
        let mut failures = 0u32;
        let mut resume = start;
        let stop = self.stop.clone();
        loop {
            let url = self.subscribe_url(&self.config.url[instance], resume);
            let end = tokio::select! {
                end = self.connection(&url) => end,
                _ = stop.cancelled() => End::Stopped,
            };
            let read = self.shared.read_us.load(Ordering::SeqCst);
            if read > 0 {
                resume = Some(read);
            }
            let wait = match end {
                End::Stopped => return,
                End::Dropped(why) => {
                    tracing::info!(source = SOURCE, url = %self.config.url[instance], %why, "Stream ended; reconnecting from the cursor.");
                    failures = 0;
                    Duration::ZERO
                }
                End::Failed(why) => {
                    failures = failures.saturating_add(1);
                    let wait = self.retry.delay(failures);
                    tracing::warn!(source = SOURCE, url = %self.config.url[instance], %why, retry_in = ?wait, "Stream failed; trying the next instance.");
                    *self.shared.down.lock().expect("jetstream lock") = Some(why);
                    instance = (instance + 1) % self.config.url.len();
                    wait
                }
            };
            if self.tx.is_closed() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.stop.cancelled() => return,
            }
        }
    }

    fn subscribe_url(&self, base: &str, resume: Option<i64>) -> String {
        let mut url = base.to_owned();
        let mut sep = if url.contains('?') { '&' } else { '?' };
        for c in &self.config.wanted_collections {
            url.push_str(&format!("{sep}wantedCollections={c}"));
            sep = '&';
        }
        if let Some(t) = resume {
            let margin = self.config.resume_margin.as_micros() as i64;
            url.push_str(&format!("{sep}cursor={}", (t - margin).max(0)));
        }
        url
    }

    async fn connection(&mut self, url: &str) -> End {
        let connect = tokio_tungstenite::connect_async(url);
        let mut ws = match tokio::time::timeout(self.connect_timeout, connect).await {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(e)) => return End::Failed(format!("connect: {e}")),
            Err(_) => return End::Failed("connect: timed out".into()),
        };
        self.shared.connections.fetch_add(1, Ordering::Relaxed);
        let mut frames = 0u64;
        let read_timeout = self.config.read_timeout;
        let mut ping = tokio::time::interval(read_timeout / 3);
        ping.tick().await;
        let mut last_heard = tokio::time::Instant::now();
        loop {
            let message = tokio::select! {
                m = ws.next() => m,
                _ = ping.tick() => {
                    if last_heard.elapsed() >= read_timeout {
                        return self.ended(frames, format!("no frame for {read_timeout:?}: stalled"));
                    }
                    if let Err(e) = ws.send(Message::Ping(Vec::new().into())).await {
                        return self.ended(frames, format!("ping: {e}"));
                    }
                    continue;
                }
            };
            last_heard = tokio::time::Instant::now();
            let text = match message {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Binary(_))) => {
                    self.malformed("binary frame (compression is off)");
                    continue;
                }
                Some(Ok(Message::Close(_))) | None => {
                    return self.ended(frames, "closed by the server".into());
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return self.ended(frames, format!("read: {e}")),
            };
            frames += 1;
            if frames == 1 {
                *self.shared.down.lock().expect("jetstream lock") = None;
            }
            self.shared.frames.fetch_add(1, Ordering::Relaxed);
            match parse_frame(text.as_str()) {
                Ok(Parsed { time_us, event }) => {
                    let queued = match event {
                        Event::Post(post)
                            if (self.filter)(&post.text) && self.recent.insert(&post.external_id) =>
                        {
                            Some(Queued::Post(post))
                        }
                        Event::Delete(uri) => Some(Queued::Delete(uri)),
                        _ => None,
                    };
                    if let Some(item) = queued
                        && self.tx.send((time_us, item)).await.is_err()
                    {
                        return End::Stopped;
                    }
                    self.shared.read_us.fetch_max(time_us, Ordering::SeqCst);
                }
                Err(why) => self.malformed(&why),
            }
        }
    }

    fn ended(&self, frames: u64, why: String) -> End {
        if frames > 0 {
            End::Dropped(why)
        } else {
            End::Failed(why)
        }
    }

    fn malformed(&self, why: &str) {
        let n = self.shared.malformed.fetch_add(1, Ordering::Relaxed);
        // The first few in full, then every thousandth, so a broken instance cannot flood the log.
        if n < 10 || n.is_multiple_of(1000) {
            tracing::warn!(source = SOURCE, error = %why, skipped = n + 1, "Malformed frame skipped.");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_override_becomes_a_subscribe_url() {
        assert_eq!(ws_url("http://127.0.0.1:9"), "ws://127.0.0.1:9/subscribe");
        assert_eq!(ws_url("https://h/"), "wss://h/subscribe");
        assert_eq!(ws_url("ws://h/x/subscribe"), "ws://h/x/subscribe");
    }

    #[test]
    fn config_errors_name_the_key() {
        let check = |c: JetstreamConfig| c.check().unwrap_err();
        let c = JetstreamConfig {
            url: vec![],
            ..Default::default()
        };
        assert!(check(c).contains("sources.jetstream.url"));
        let c = JetstreamConfig {
            url: vec!["https://jetstream.example/subscribe".into()],
            ..Default::default()
        };
        assert!(check(c).contains("sources.jetstream.url"));
        let c = JetstreamConfig {
            compress: true,
            ..Default::default()
        };
        assert!(check(c).contains("sources.jetstream.compress"));
        let c = JetstreamConfig {
            max_batch: 0,
            ..Default::default()
        };
        assert!(check(c).contains("sources.jetstream.max_batch"));
        JetstreamConfig::default().check().unwrap();
    }

    #[test]
    fn recent_forgets_the_oldest() {
        let mut r = Recent::new(2);
        assert!(r.insert("a"));
        assert!(!r.insert("a"));
        assert!(r.insert("b"));
        assert!(r.insert("c"));
        assert!(r.insert("a"));
        assert!(!r.insert("c"));
    }
}
