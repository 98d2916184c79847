//! The daemon's retention pass: once at start and then every [`PRUNE_EVERY`], posts past
//! `database.retention` are deleted (see [`crate::store::retention`] for what is kept and why
//! nothing is counted twice).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::metrics::{self, Metrics};
use crate::store::Store;

/// How often the daemon prunes.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3_600);

/// Prunes until `shutdown`; returns at once when posts are kept forever. A failed pass (database
/// away) is logged and tried again at the next interval: nothing depends on it being on time.
pub async fn retention_task(store: Store, metrics: Arc<Metrics>, shutdown: CancellationToken) {
    let Some(retention) = store.retention() else {
        return;
    };
    tracing::info!(
        retention = %humantime_serde::re::humantime::format_duration(retention),
        "Posts older than the retention period will be pruned hourly."
    );
    loop {
        let pass = tokio::select! {
            pass = store.prune_expired(chrono::Utc::now()) => pass,
            _ = shutdown.cancelled() => return,
        };
        match pass {
            Ok(outcome) => {
                metrics.inc(&metrics::POSTS_PRUNED, &[], outcome.posts as f64);
                if outcome.posts > 0 {
                    tracing::info!(
                        posts = outcome.posts,
                        mentions = outcome.mentions,
                        "Pruned posts past the retention period."
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "Retention pass failed; trying again later."),
        }
        tokio::select! {
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
