//! coinpulse: a self-hosted crypto social-sentiment monitor.
//!
//! Posts flow through the stages in this order, one folder each:
//!
//! ```text
//! collect (one tokio task per source) ─▶ tag (aho-corasick) ─▶ sentiment (linear SVM) ─▶ store (PostgreSQL)
//!                                                              report · chart ◀─ rollups ┘
//! ```
//!
//! - [`collect`]: fetch posts and prices from Twitter/X, Reddit, YouTube, Mastodon, Bluesky, CoinGecko
//!   and Binance within each API's rate limits, and say where they got to (a cursor).
//! - [`tag`]: find the assets a post mentions, with their byte spans.
//! - [`sentiment`]: score each post in [-1, 1] with a label.
//! - [`classify`]: tell human posts from automated and promotional ones, with the reasons.
//! - [`store`]: write posts, mentions, scores, rollups and cursors in one transaction, idempotently;
//!   manage the private PostgreSQL cluster when no database URL is given.
//! - [`report`] and [`chart`]: what users look at, computed from the rollups; [`api`] serves the
//!   reports and series as JSON.
//! - [`pipeline`]: wires the stages into the `coinpulse run` daemon; [`import`] feeds archives through
//!   the same tag/score/write path.
//!
//! [`model`] holds the nouns all stages share; [`config`] the typed configuration; [`time`] the one
//! grammar for durations and points in time.

pub mod api;
pub mod backoff;
pub mod chart;
pub mod classify;
pub mod cli;
pub mod collect;
pub mod config;
pub mod dashboard;
pub mod demo;
#[cfg(test)]
mod fuzz;
pub mod import;
pub mod lines;
pub mod memory;
pub mod model;
pub mod pipeline;
pub mod report;
pub mod sentiment;
pub mod shared;
pub mod store;
pub mod tag;
pub mod telemetry;
pub mod time;
