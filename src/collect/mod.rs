//! Collectors: the long-running tasks that fetch posts and prices from each configured source.
//!
//! Each source is one module with its config struct beside it, behind the [`Collector`] trait. A
//! collector does one polling round per [`Collector::poll`] call and returns what it found together
//! with the cursor that covers it; the caller commits the posts and the cursor in one transaction and
//! only then hands the new cursor back on the next call. A collector therefore never advances its own
//! position: a crash between fetch and commit means the same items are fetched again, and the store's
//! idempotent keys make that harmless.

pub mod cli;

use std::time::Duration;

use serde::Deserialize;

use crate::model::{Post, PricePoint};

/// `[sources]` in config.toml.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SourcesConfig {}

impl SourcesConfig {
    pub fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// What one polling round produced.
#[derive(Debug, Default)]
pub struct Batch {
    pub posts: Vec<Post>,
    pub prices: Vec<PricePoint>,
    /// The position to store once `posts` and `prices` are committed. `None` keeps the old one.
    pub cursor: Option<serde_json::Value>,
    /// How long the source asks us to wait before the next round (rate limits, poll interval).
    pub next_poll_in: Duration,
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
}

/// One configured source.
#[async_trait::async_trait]
pub trait Collector: Send {
    /// The configured source name (`twitter`, `reddit`, `coingecko`, ...). Keys cursors and leases.
    fn name(&self) -> &str;

    /// One polling round starting from `cursor` (the last committed position, `None` on first run).
    async fn poll(&mut self, cursor: Option<&serde_json::Value>) -> Result<Batch, CollectError>;
}
