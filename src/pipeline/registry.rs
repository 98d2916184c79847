//! The daemon follows the stored asset registry: a new version (written by `coinpulse assets update`,
//! see [`crate::store::assets`]) is picked up without a restart.
//!
//! The task listens on [`REGISTRY_CHANNEL`] (`LISTEN`, one pooled connection held for it), and also
//! reads the version every [`CHECK_EVERY`]: notifications sent while the listening connection was
//! down are lost, and the periodic check (plus one check each time the connection comes back) finds
//! what they would have said. On a version it has not built, it reads the stored list, builds the new
//! tagger on a blocking thread, off the async executor and the enrichment path, and swaps it into the
//! [`Enricher`] whole (see [`Enricher::swap_tagger`]): a batch is tagged by the registry it started
//! with or by the new one, never a mix, and no batch waits for the build or is dropped by the swap.
//!
//! Posts already stored keep the mentions they were stored with; `coinpulse db retag` brings a range
//! up to date (see [`crate::store::retag`]). A build that fails keeps the old tagger, says why, and is
//! not tried again for that version (a newer one, or a restart, tries again); a database that cannot
//! be read is tried again at the next check.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::postgres::PgListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Enricher;
use super::metrics::{self, Metrics};
use crate::config::TaggerConfig;
use crate::store::assets::REGISTRY_CHANNEL;
use crate::store::{Store, StoreError};
use crate::tag::{TagError, Tagger};

/// How often the version is read even without a notification.
pub const CHECK_EVERY: Duration = Duration::from_secs(60);

/// Why a registry version could not be taken up.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("cannot read the stored registry: {0}")]
    Store(#[from] StoreError),
    #[error("cannot build the tagger: {0}")]
    Build(#[from] TagError),
    #[error("building the tagger panicked: {0}")]
    Panicked(String),
}

/// Rebuilds the enricher's tagger when the stored registry's version changes.
pub struct Reloader {
    store: Store,
    enricher: Arc<Enricher>,
    config: TaggerConfig,
    metrics: Arc<Metrics>,
    /// The version the current tagger was built from.
    version: i64,
    /// A version whose build failed, not tried again.
    failed: Option<i64>,
}

impl Reloader {
    /// `version` is the one the enricher's tagger was built from (read before the stored list).
    pub fn new(
        store: Store,
        enricher: Arc<Enricher>,
        config: TaggerConfig,
        metrics: Arc<Metrics>,
        version: i64,
    ) -> Reloader {
        set_version_gauge(&metrics, version);
        Reloader {
            store,
            enricher,
            config,
            metrics,
            version,
            failed: None,
        }
    }

    /// Reads the version and, when it is new, builds and swaps in its tagger.
    pub async fn check(&mut self) {
        let version = match self.store.registry_version().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "Cannot read the registry version; checking again later.");
                return;
            }
        };
        if version == self.version || Some(version) == self.failed {
            return;
        }
        let started = Instant::now();
        match self.reload().await {
            Ok(assets) => {
                self.version = version;
                self.failed = None;
                set_version_gauge(&self.metrics, version);
                self.count("ok");
                tracing::info!(
                    version,
                    assets,
                    build_ms = started.elapsed().as_millis() as u64,
                    "Asset registry reloaded; posts tagged from now on use it."
                );
            }
            Err(ReloadError::Store(e)) => {
                tracing::warn!(version, error = %e, "Cannot read the new asset registry; trying again at the next check.");
            }
            Err(e) => {
                self.failed = Some(version);
                self.count("failed");
                tracing::error!(
                    version,
                    current = self.version,
                    error = %e,
                    "New asset registry not taken up; tagging goes on with the current one."
                );
            }
        }
    }

    /// Builds the tagger from the stored list and swaps it in; returns how many assets it knows.
    async fn reload(&self) -> Result<usize, ReloadError> {
        let stored = self.store.asset_list().await?;
        let config = self.config.clone();
        let tagger = tokio::task::spawn_blocking(move || Tagger::from_config_and(&config, stored))
            .await
            .map_err(|e| match e.try_into_panic() {
                Ok(panic) => ReloadError::Panicked(super::enrich::panic_message(panic.as_ref())),
                Err(e) => ReloadError::Panicked(e.to_string()),
            })??;
        let assets = tagger.assets().len();
        drop(self.enricher.swap_tagger(tagger));
        // The old automaton's pages go back to the system once the last batch using it is done.
        crate::memory::release_free_memory();
        Ok(assets)
    }

    fn count(&self, outcome: &str) {
        self.metrics
            .inc(&metrics::REGISTRY_RELOADS, &[("outcome", outcome)], 1.0);
    }
}

fn set_version_gauge(metrics: &Metrics, version: i64) {
    metrics.set(&metrics::REGISTRY_VERSION, &[], version as f64);
}

/// Follows the registry until `shutdown`: a check at start, on each notification, each time the
/// listening connection comes (back) up, and every `every`.
pub async fn registry_task(mut reloader: Reloader, every: Duration, shutdown: CancellationToken) {
    // Wake-ups from the listening task; one pending is enough, since a check reads the latest version.
    let (wake, mut woken) = mpsc::channel::<()>(1);
    let listening = tokio::spawn(listen_task(
        reloader.store.clone(),
        wake,
        every,
        shutdown.clone(),
    ));
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            Some(()) = woken.recv() => {}
            _ = ticks.tick() => {}
            _ = shutdown.cancelled() => break,
        }
        reloader.check().await;
    }
    let _ = listening.await;
}

/// Holds a connection listening on [`REGISTRY_CHANNEL`] and sends a wake-up for every notification
/// and every time it is (re)connected, since notifications sent while it was down are lost. A
/// connection that cannot be opened is tried again after `retry`.
async fn listen_task(
    store: Store,
    wake: mpsc::Sender<()>,
    retry: Duration,
    shutdown: CancellationToken,
) {
    loop {
        if let Some(mut listener) = listen(&store).await {
            let _ = wake.try_send(());
            loop {
                let received = tokio::select! {
                    received = listener.try_recv() => received,
                    _ = shutdown.cancelled() => return,
                };
                match received {
                    Ok(Some(n)) => {
                        tracing::debug!(version = n.payload(), "Registry update notified.")
                    }
                    Ok(None) => {
                        tracing::info!("Registry notifications reconnected; checking the version.")
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "Registry notifications lost; the version is still read every {retry:?}.");
                        break;
                    }
                }
                let _ = wake.try_send(());
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(retry) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// A connection listening on [`REGISTRY_CHANNEL`], or `None` (logged) when there is none now.
async fn listen(store: &Store) -> Option<PgListener> {
    let listening = async {
        let mut listener = PgListener::connect_with(store.pool()).await?;
        listener.listen(REGISTRY_CHANNEL).await?;
        Ok::<_, sqlx::Error>(listener)
    }
    .await;
    match listening {
        Ok(listener) => Some(listener),
        Err(e) => {
            tracing::warn!(error = %e, "Cannot listen for registry updates; reading the version periodically instead.");
            None
        }
    }
}
