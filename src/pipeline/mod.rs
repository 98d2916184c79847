//! Wiring the stages together: enrichment now, the `coinpulse run` daemon on top of it.

pub mod access;
pub mod daemon;
pub mod enrich;
pub mod metrics;
pub mod registry;
pub mod retention;
pub mod run;
pub mod server;
pub mod summary;
pub mod views;

pub use enrich::Enricher;
