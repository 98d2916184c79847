//! `coinpulse run`: every source polled, every post tagged, scored and stored, until stopped.
//!
//! ```text
//!  source task ─┐  Batch<Post>             Batch<EnrichedPost>
//!  source task ─┼──────────────▶ enrich ───────────────▶ writer ──▶ PostgreSQL
//!  source task ─┘  (bounded)     (blocking pool)          (batch: size or time)
//!        ▲                                                    │
//!        └──────────── ack after commit (oneshot) ────────────┘
//! ```
//!
//! Delivery guarantee: every post a source returns is stored exactly once. A source task sends one
//! batch with the cursor that covers it and waits for the writer's acknowledgement before polling
//! again, and the writer commits posts, mentions, scores, rollup increments and that cursor in one
//! transaction. A crash before the commit loses only uncommitted work, which the source gives again
//! from the old cursor; the store's idempotent keys turn the refetch into a no-op for posts that made
//! it. Backpressure is structural: bounded channels plus one batch in flight per source mean a slow
//! or absent database makes collectors wait, never buffer without limit.
//!
//! Several processes may run against one database: a source task polls only while its process holds
//! the source's lease (see `store::leases`), renewing it as it goes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::Enricher;
use super::metrics::{self, Metrics};
use super::summary::Summary;
use crate::collect::{self, CollectError, Collector};
use crate::config::PipelineConfig;
use crate::model::{EnrichedPost, Post, PostRef, PricePoint, storable_json};
use crate::store::Store;
use crate::store::dead_letter::{Delivery, RejectedPost};
use crate::store::writer::Checkpoint;

/// What a source is doing, for `/readyz` and the dashboard.
#[derive(Debug, Clone, Serialize)]
pub struct SourceState {
    pub state: &'static str,
    pub detail: Option<String>,
    pub last_success: Option<DateTime<Utc>>,
    pub posts_stored: u64,
}

/// Shared view of every source's state.
#[derive(Debug, Default)]
pub struct Status {
    sources: Mutex<BTreeMap<String, SourceState>>,
    pipeline: Mutex<PipelineState>,
}

/// What the stages between the sources and the database went through, for `/readyz`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PipelineState {
    /// Posts whose tagging or scoring panicked (each kept in `rejected_posts`).
    pub enrichment_panics: u64,
    pub last_panic: Option<String>,
    /// Posts kept in `rejected_posts` since start, panics included.
    pub posts_rejected: u64,
}

impl Status {
    /// An enabled source that could not start (or stopped on an error polling cannot fix):
    /// `disabled` with the reason, and `/readyz` answers 503.
    pub fn disable(&self, source: &str, reason: String) {
        self.set(source, "disabled", Some(reason));
    }

    /// `Err` naming the sources that are enabled but not running. Every source in the status is an
    /// enabled one, so any `disabled` entry is a failure to start or a fatal error.
    pub fn ready(&self) -> Result<(), String> {
        let sources = self.sources.lock().expect("status lock");
        let down: Vec<&str> = sources
            .iter()
            .filter(|(_, s)| s.state == "disabled")
            .map(|(name, _)| name.as_str())
            .collect();
        if down.is_empty() {
            Ok(())
        } else {
            Err(format!("enabled but not running: {}", down.join(", ")))
        }
    }

    pub fn pipeline(&self) -> PipelineState {
        self.pipeline.lock().expect("status lock").clone()
    }

    fn rejected(&self, posts: u64, panic: Option<&str>) {
        let mut pipeline = self.pipeline.lock().expect("status lock");
        pipeline.posts_rejected += posts;
        if let Some(panic) = panic {
            pipeline.enrichment_panics += 1;
            pipeline.last_panic = Some(panic.to_string());
        }
    }

    pub fn set(&self, source: &str, state: &'static str, detail: Option<String>) {
        let mut sources = self.sources.lock().expect("status lock");
        let entry = sources.entry(source.to_string()).or_insert(SourceState {
            state,
            detail: None,
            last_success: None,
            posts_stored: 0,
        });
        entry.state = state;
        entry.detail = detail;
    }

    fn succeeded(&self, source: &str, stored: u64) {
        let mut sources = self.sources.lock().expect("status lock");
        if let Some(entry) = sources.get_mut(source) {
            entry.last_success = Some(Utc::now());
            entry.posts_stored += stored;
        }
    }

    pub fn snapshot(&self) -> BTreeMap<String, SourceState> {
        self.sources.lock().expect("status lock").clone()
    }
}

/// One source's polling round on its way through the stages: its posts as the source gave them
/// (`Batch<Post>`), then tagged, classified and scored (`Batch<EnrichedPost>`). Everything else
/// rides along unchanged until the commit.
struct Batch<P> {
    source: String,
    posts: Vec<P>,
    /// Posts whose enrichment panicked, to keep in `rejected_posts` with this batch.
    rejected: Vec<RejectedPost>,
    prices: Vec<PricePoint>,
    deleted: Vec<PostRef>,
    cursor: Option<serde_json::Value>,
    /// When the source handed the round over.
    received: Instant,
    /// Told the number of new posts stored once the batch is committed, or why it was not.
    done: oneshot::Sender<Result<u64, String>>,
}

impl<P> Batch<P> {
    /// The same batch with `f` applied to its posts; what `f` could not make goes to `rejected`.
    fn map_posts<Q>(self, f: impl FnOnce(Vec<P>) -> (Vec<Q>, Vec<RejectedPost>)) -> Batch<Q> {
        let (posts, mut rejected) = f(self.posts);
        rejected.extend(self.rejected);
        Batch {
            source: self.source,
            posts,
            rejected,
            prices: self.prices,
            deleted: self.deleted,
            cursor: self.cursor,
            received: self.received,
            done: self.done,
        }
    }
}

/// Everything the daemon's tasks share.
#[derive(Clone)]
pub struct Context {
    pub store: Store,
    pub enricher: Arc<Enricher>,
    pub metrics: Arc<Metrics>,
    pub status: Arc<Status>,
    pub summary: Arc<Summary>,
    pub pipeline: PipelineConfig,
    /// This process's name in `source_leases` (host, pid and a random suffix).
    pub holder: String,
}

/// A unique lease holder name for this process.
pub fn holder_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    format!("{host}:{}:{:08x}", std::process::id(), fastrand::u32(..))
}

/// Runs the pipeline until `shutdown` is cancelled and everything in flight is written (or the grace
/// period runs out). Returns when all tasks have stopped.
pub async fn run_pipeline(
    ctx: Context,
    collectors: Vec<Box<dyn Collector>>,
    shutdown: CancellationToken,
) {
    let capacity = ctx.pipeline.channel_capacity.max(1);
    let (source_tx, source_rx) = mpsc::channel::<Batch<Post>>(capacity.min(64));
    let (enriched_tx, enriched_rx) = mpsc::channel::<Batch<EnrichedPost>>(capacity.min(64));

    let mut sources = tokio::task::JoinSet::new();
    if collectors.is_empty() {
        tracing::warn!("No source is enabled; nothing will be polled.");
    }
    for collector in collectors {
        let ctx = ctx.clone();
        let tx = source_tx.clone();
        let shutdown = shutdown.clone();
        sources.spawn(async move { source_task(ctx, collector, tx, shutdown).await });
    }
    drop(source_tx);

    let enrich = tokio::spawn(enrich_task(ctx.clone(), source_rx, enriched_tx));
    let writer = tokio::spawn(writer_task(ctx.clone(), enriched_rx, shutdown.clone()));

    shutdown.cancelled().await;
    tracing::info!(grace = ?ctx.pipeline.shutdown_grace, "Shutting down: draining in-flight batches.");
    let drain = async {
        while sources.join_next().await.is_some() {}
        let _ = enrich.await;
        let _ = writer.await;
    };
    if tokio::time::timeout(ctx.pipeline.shutdown_grace, drain)
        .await
        .is_err()
    {
        tracing::warn!(
            "Grace period over with batches still unwritten; their sources will fetch them again."
        );
    }
    if let Err(e) = ctx.store.release_leases(&ctx.holder).await {
        tracing::warn!(error = %e, "Could not release source leases; they expire on their own.");
    }
}

/// Sleeps `duration` unless shutdown comes first. Returns false on shutdown.
async fn sleep_or_stop(duration: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(duration) => true,
        _ = shutdown.cancelled() => false,
    }
}

async fn source_task(
    ctx: Context,
    mut collector: Box<dyn Collector>,
    tx: mpsc::Sender<Batch<Post>>,
    shutdown: CancellationToken,
) {
    let name = collector.name().to_string();
    let ttl = ctx.pipeline.lease_ttl;
    let renew_every = ttl / 3;
    let mut failures: u32 = 0;
    ctx.status.set(&name, "starting", None);
    'poll: while !shutdown.is_cancelled() {
        match ctx.store.acquire_lease(&name, &ctx.holder, ttl).await {
            Ok(true) => {}
            Ok(false) => {
                ctx.status
                    .set(&name, "standby", Some("leased by another process".into()));
                if !sleep_or_stop(renew_every, &shutdown).await {
                    break;
                }
                continue;
            }
            Err(e) => {
                if failures == 0 {
                    tracing::warn!(source = %name, error = %e, "Database unavailable; the source waits for it.");
                }
                ctx.status
                    .set(&name, "waiting", Some(format!("database: {e}")));
                if !sleep_or_stop(backoff(failures), &shutdown).await {
                    break;
                }
                failures = failures.saturating_add(1);
                continue;
            }
        }
        let cursor = match ctx.store.cursor(&name).await {
            Ok(cursor) => cursor,
            Err(e) => {
                ctx.status
                    .set(&name, "waiting", Some(format!("database: {e}")));
                failures = failures.saturating_add(1);
                if !sleep_or_stop(backoff(failures), &shutdown).await {
                    break;
                }
                continue;
            }
        };
        ctx.status.set(&name, "polling", None);
        let started = Instant::now();
        // A round already under way is finished and delivered even when shutdown arrives: what the
        // source has handed out is stored now rather than fetched again later. The HTTP timeouts bound
        // the round, and the grace period bounds the whole drain.
        let result = collector.poll(cursor.as_ref()).await;
        let wait = match result {
            Ok(batch) => {
                ctx.metrics.observe(
                    &metrics::POLL_DURATION,
                    &[("source", &name)],
                    started.elapsed().as_secs_f64(),
                    1,
                );
                match deliver(&ctx, &name, batch, &tx).await {
                    Some(wait) => {
                        failures = 0;
                        wait
                    }
                    None => {
                        failures = failures.saturating_add(1);
                        backoff(failures)
                    }
                }
            }
            Err(CollectError::Fatal { message, .. }) => {
                tracing::error!(source = %name, error = %message, "Source disabled; fix its configuration and restart.");
                ctx.metrics.inc(
                    &metrics::API_ERRORS,
                    &[("source", &name), ("kind", "fatal")],
                    1.0,
                );
                ctx.status.disable(&name, message);
                break 'poll;
            }
            Err(e) => {
                let kind = match e {
                    CollectError::RateLimited { .. } => "rate_limited",
                    _ => "transient",
                };
                let retry_in = e.retry_in().unwrap_or(Duration::from_secs(60));
                let message = e.to_string();
                ctx.metrics.inc(
                    &metrics::API_ERRORS,
                    &[("source", &name), ("kind", kind)],
                    1.0,
                );
                let wait = if kind == "rate_limited" {
                    ctx.metrics.inc(
                        &metrics::RATE_LIMIT_WAIT,
                        &[("source", &name)],
                        retry_in.as_secs_f64(),
                    );
                    tracing::info!(source = %name, error = %message, retry_in = ?retry_in, "Rate limited; waiting.");
                    retry_in
                } else {
                    failures = failures.saturating_add(1);
                    tracing::warn!(source = %name, error = %message, retry_in = ?retry_in, "Polling failed; will retry.");
                    retry_in.max(backoff(failures))
                };
                ctx.status.set(&name, "backoff", Some(message));
                wait
            }
        };
        // Wait for the next round, renewing the lease so a long poll interval does not lose it.
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            let step = renew_every.min(deadline - Instant::now());
            if !sleep_or_stop(step, &shutdown).await {
                break 'poll;
            }
            if Instant::now() < deadline {
                let _ = ctx.store.acquire_lease(&name, &ctx.holder, ttl).await;
            }
        }
    }
    if ctx
        .status
        .snapshot()
        .get(&name)
        .is_none_or(|s| s.state != "disabled")
    {
        ctx.status.set(&name, "stopped", None);
    }
}

/// Hands one polling round to the pipeline and waits until it is committed. Returns the wait before
/// the next round, or `None` when the batch was not committed.
async fn deliver(
    ctx: &Context,
    name: &str,
    batch: collect::Batch,
    tx: &mpsc::Sender<Batch<Post>>,
) -> Option<Duration> {
    let collect::Batch {
        posts,
        prices,
        deleted,
        cursor,
        next_poll_in,
        partial,
    } = batch;
    if let Some(why) = partial {
        tracing::warn!(source = %name, error = %why, "Part of the round failed; the rest is delivered.");
        ctx.status.set(name, "degraded", Some(why));
    }
    let fetched = posts.len();
    let newest = posts.iter().map(|p| p.created_at).max();
    ctx.summary.fetched(name, fetched as u64, newest);
    ctx.metrics
        .inc(&metrics::POSTS_FETCHED, &[("source", name)], fetched as f64);
    ctx.metrics.set(
        &metrics::LAST_POLL,
        &[("source", name)],
        Utc::now().timestamp() as f64,
    );
    if posts.is_empty() && prices.is_empty() && deleted.is_empty() && cursor.is_none() {
        ctx.status.succeeded(name, 0);
        return Some(next_poll_in);
    }
    let (done, acked) = oneshot::channel();
    ctx.metrics.set(
        &metrics::QUEUE_DEPTH,
        &[("stage", "enrich")],
        (tx.max_capacity() - tx.capacity()) as f64,
    );
    let sent = tx
        .send(Batch {
            source: name.to_string(),
            posts,
            rejected: Vec::new(),
            prices,
            deleted,
            cursor,
            received: Instant::now(),
            done,
        })
        .await;
    if sent.is_err() {
        return None;
    }
    match acked.await {
        Ok(Ok(stored)) => {
            ctx.status.succeeded(name, stored);
            Some(next_poll_in)
        }
        Ok(Err(e)) => {
            tracing::warn!(source = %name, error = %e, "Batch not committed; polling again from the stored cursor.");
            None
        }
        Err(_) => None,
    }
}

async fn enrich_task(
    ctx: Context,
    mut rx: mpsc::Receiver<Batch<Post>>,
    tx: mpsc::Sender<Batch<EnrichedPost>>,
) {
    while let Some(batch) = rx.recv().await {
        let enricher = ctx.enricher.clone();
        let source = batch.source.clone();
        // A panic in tagging or scoring costs only the post it happened on (see
        // `Enricher::enrich_isolated`); should one escape anyway, it costs this batch, which its
        // source fetches again, and never this task.
        let (batch, panicked) = match tokio::task::spawn_blocking(move || {
            let name = batch.source.clone();
            let mut panics = Vec::new();
            let batch = batch.map_posts(|posts| {
                let (posts, failed) = enricher.enrich_isolated(posts);
                let rejected = failed
                    .into_iter()
                    .map(|f| {
                        let rejected = RejectedPost::new(&name, &f.post, f.panic.clone());
                        panics.push(f.panic);
                        rejected
                    })
                    .collect();
                (posts, rejected)
            });
            (batch, panics)
        })
        .await
        {
            Ok(enriched) => enriched,
            Err(e) => {
                let panic = match e.try_into_panic() {
                    Ok(panic) => super::enrich::panic_message(panic.as_ref()),
                    Err(e) => e.to_string(),
                };
                // The batch, and its sender to answer, went down with the task: the source's wait
                // ends with a closed channel and it polls again from its stored cursor.
                tracing::error!(source = %source, %panic, "Enriching a batch failed; its source polls it again.");
                enrichment_panicked(&ctx, &source, &panic);
                continue;
            }
        };
        for panic in &panicked {
            enrichment_panicked(&ctx, &batch.source, panic);
        }
        for p in &batch.posts {
            for m in &p.mentions {
                ctx.metrics
                    .inc(&metrics::MENTIONS, &[("asset", &m.asset)], 1.0);
            }
        }
        if tx.send(batch).await.is_err() {
            break;
        }
    }
}

fn enrichment_panicked(ctx: &Context, source: &str, panic: &str) {
    ctx.metrics
        .inc(&metrics::ENRICHMENT_PANICS, &[("source", source)], 1.0);
    ctx.status.rejected(0, Some(panic));
}

async fn writer_task(
    ctx: Context,
    mut rx: mpsc::Receiver<Batch<EnrichedPost>>,
    shutdown: CancellationToken,
) {
    let batch_size = ctx.pipeline.batch_size;
    let flush_interval = ctx.pipeline.flush_interval;
    let mut pending: Vec<Batch<EnrichedPost>> = Vec::new();
    let mut pending_posts = 0usize;
    let mut first_at = Instant::now();
    loop {
        let timeout = if pending.is_empty() {
            Duration::from_secs(3600)
        } else {
            flush_interval.saturating_sub(first_at.elapsed())
        };
        let received = tokio::select! {
            r = rx.recv() => r.map(Some),
            _ = tokio::time::sleep(timeout) => Some(None),
        };
        match received {
            Some(Some(batch)) => {
                if pending.is_empty() {
                    first_at = Instant::now();
                }
                pending_posts += batch.posts.len();
                pending.push(batch);
                // A batch from a source waiting on its ack should not wait for strangers at shutdown.
                if pending_posts < batch_size && !shutdown.is_cancelled() {
                    continue;
                }
            }
            Some(None) => {}
            None => {
                if !pending.is_empty() {
                    commit(&ctx, std::mem::take(&mut pending), &shutdown).await;
                }
                return;
            }
        }
        if !pending.is_empty() {
            commit(&ctx, std::mem::take(&mut pending), &shutdown).await;
            pending_posts = 0;
        }
    }
}

/// Commits the pending batches in one transaction, retrying with backoff while the database is
/// away. Gives up only on shutdown (the grace period bounds it) or on an error retrying cannot fix.
async fn commit(
    ctx: &Context,
    mut batches: Vec<Batch<EnrichedPost>>,
    shutdown: &CancellationToken,
) {
    let started = Instant::now();
    let checkpoints: Vec<Checkpoint> = batches
        .iter()
        .filter_map(|b| {
            b.cursor.as_ref().map(|c| {
                let mut position = c.clone();
                storable_json(&mut position);
                Checkpoint {
                    source: b.source.clone(),
                    position,
                    lease_holder: Some(ctx.holder.clone()),
                }
            })
        })
        .collect();
    // The batches' contents move into one delivery (posts carry their raw JSON: no copies); each
    // batch keeps the span of its posts and the count of its rejected ones for the accounting after.
    let mut posts: Vec<EnrichedPost> = Vec::new();
    let mut spans = Vec::with_capacity(batches.len());
    let (mut rejected, mut prices, mut deleted) = (Vec::new(), Vec::new(), Vec::new());
    let mut rejected_counts = Vec::with_capacity(batches.len());
    for b in &mut batches {
        let start = posts.len();
        posts.append(&mut b.posts);
        spans.push(start..posts.len());
        rejected_counts.push(b.rejected.len() as u64);
        rejected.append(&mut b.rejected);
        prices.append(&mut b.prices);
        deleted.append(&mut b.deleted);
    }
    let sources: Vec<&str> = batches
        .iter()
        .zip(&spans)
        .flat_map(|(b, span)| span.clone().map(|_| b.source.as_str()))
        .collect();
    let version = ctx.enricher.model_version().to_string();
    let mut failures = 0;
    let result = loop {
        let delivery = Delivery {
            posts: &posts,
            sources: &sources,
            prices: &prices,
            checkpoints: &checkpoints,
            rejected: &rejected,
            deleted: &deleted,
            model_version: &version,
        };
        match ctx.store.deliver(&delivery).await {
            Ok(outcome) => break Ok(outcome),
            Err(e) if e.is_transient() => {
                failures += 1;
                ctx.metrics.inc(&metrics::WRITE_RETRIES, &[], 1.0);
                tracing::warn!(error = %e, attempt = failures, "Database unavailable; retrying the batch.");
                // During shutdown keep trying until the grace period cuts us off.
                tokio::time::sleep(backoff(failures)).await;
                let _ = shutdown;
            }
            Err(e) => break Err(e),
        }
    };
    match result {
        Ok(outcome) => {
            let elapsed = started.elapsed().as_secs_f64();
            ctx.metrics
                .observe(&metrics::BATCH_LATENCY, &[], elapsed, 1);
            if outcome.prices > 0 {
                ctx.metrics
                    .inc(&metrics::PRICES_STORED, &[], outcome.prices as f64);
            }
            ctx.metrics.inc(&metrics::BATCHES_COMMITTED, &[], 1.0);
            if outcome.deleted > 0 {
                ctx.metrics
                    .inc(&metrics::POSTS_DELETED, &[], outcome.deleted as f64);
            }
            tracing::debug!(
                stored = outcome.stored,
                deleted = outcome.deleted,
                duplicates = outcome.duplicates,
                expired = outcome.expired,
                elapsed,
                "Batch committed."
            );
            ctx.status.rejected(outcome.rejected.len() as u64, None);
            for ((b, span), enrichment_rejected) in
                batches.into_iter().zip(spans).zip(rejected_counts)
            {
                let mine = &posts[span];
                let counts = outcome.for_source(&b.source, mine, enrichment_rejected);
                let labels = [("source", b.source.as_str())];
                if counts.rejected > 0 {
                    ctx.metrics
                        .inc(&metrics::POSTS_REJECTED, &labels, counts.rejected as f64);
                }
                ctx.metrics
                    .inc(&metrics::POSTS_STORED, &labels, counts.stored as f64);
                ctx.metrics
                    .inc(&metrics::POSTS_DUPLICATE, &labels, counts.duplicates as f64);
                if counts.expired > 0 {
                    ctx.metrics
                        .inc(&metrics::POSTS_EXPIRED, &labels, counts.expired as f64);
                }
                let stored = counts.stored;
                record_freshness(ctx, &b, mine, stored, &outcome);
                // Filtered: what was neither stored nor expired (duplicates and rejected posts).
                ctx.summary.committed(
                    &b.source,
                    stored,
                    mine.len() as u64 + enrichment_rejected - counts.expired - stored,
                    counts.expired,
                );
                let _ = b.done.send(Ok(stored));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "Batch rejected by the database; its sources will fetch it again.");
            for b in batches {
                let _ = b.done.send(Err(e.to_string()));
            }
        }
    }
}

/// How fresh the batch's newly stored posts are: seconds from the source handing them over to their
/// commit, and from their `created_at` to their commit.
fn record_freshness(
    ctx: &Context,
    b: &Batch<EnrichedPost>,
    posts: &[EnrichedPost],
    stored: u64,
    outcome: &crate::store::WriteOutcome,
) {
    if stored == 0 {
        return;
    }
    let labels = [("source", b.source.as_str())];
    ctx.metrics.observe(
        &metrics::RECEIVE_TO_COMMIT,
        &labels,
        b.received.elapsed().as_secs_f64(),
        stored,
    );
    let now = Utc::now();
    for p in posts {
        if outcome.is_fresh(p) {
            let age = (now - p.post.created_at).num_milliseconds().max(0) as f64 / 1000.0;
            ctx.metrics
                .observe(&metrics::POST_AGE_AT_COMMIT, &labels, age, 1);
        }
    }
}

/// The wait after `failures` failures in a row: 0.5 s, 1 s, 2 s ... capped at 30 s (see
/// [`crate::backoff`]).
pub fn backoff(failures: u32) -> Duration {
    crate::backoff::Backoff::new(Duration::from_millis(500), Duration::from_secs(30))
        .delay(failures)
}
