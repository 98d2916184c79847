//! `coinpulse poll SOURCE --once [--base-url URL] [--stdout]`: one source, by hand.
//!
//! With `--stdout` the normalized posts and price points are printed as JSON lines (posts carry
//! `platform`, price points `asset`) and the new cursor is logged; nothing is stored. Without it the
//! batch goes to [`store_batch`]. Without `--once` the command keeps polling, passing each round's
//! cursor to the next and waiting as long as the source asks.

use std::io::Write;

use anyhow::Context;

use super::{Batch, CollectError};
use crate::config::Config;
use crate::model::Asset;

#[derive(Debug, clap::Args)]
pub struct PollArgs {
    /// The source: twitter, reddit, youtube, mastodon, bluesky, coingecko or binance.
    pub source: String,
    /// Run one polling round and exit.
    #[arg(long)]
    pub once: bool,
    /// Send every request of this source to another host (a proxy, a test server).
    #[arg(long)]
    pub base_url: Option<String>,
    /// Print posts and price points as JSON lines instead of storing them.
    #[arg(long)]
    pub stdout: bool,
    /// Start from this cursor (JSON) instead of the stored one.
    #[arg(long)]
    pub cursor: Option<String>,
}

/// Stores one round's posts, prices and cursor in one transaction. This build has no storage wired
/// to the collectors; the pipeline replaces this function's body.
pub async fn store_batch(_config: &Config, source: &str, _batch: &Batch) -> anyhow::Result<()> {
    anyhow::bail!(
        "storage is not available in this build; run `coinpulse poll {source} --stdout` to print the posts instead"
    )
}

/// The assets the collectors ask about when no registry is supplied: the largest coins by market
/// cap (facts, not content). The tagger's asset registry supersedes this list.
pub fn default_assets() -> Vec<Asset> {
    [
        ("bitcoin", "BTC", "Bitcoin", 1),
        ("ethereum", "ETH", "Ethereum", 2),
        ("tether", "USDT", "Tether", 3),
        ("binancecoin", "BNB", "BNB", 4),
        ("solana", "SOL", "Solana", 5),
        ("ripple", "XRP", "XRP", 6),
        ("cardano", "ADA", "Cardano", 7),
        ("dogecoin", "DOGE", "Dogecoin", 8),
    ]
    .into_iter()
    .map(|(id, symbol, name, rank)| Asset {
        id: id.into(),
        symbol: symbol.into(),
        name: name.into(),
        aliases: vec![],
        rank: Some(rank),
    })
    .collect()
}

fn print_batch(batch: &Batch) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for post in &batch.posts {
        serde_json::to_writer(&mut out, post)?;
        out.write_all(b"\n")?;
    }
    for price in &batch.prices {
        serde_json::to_writer(&mut out, price)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

pub async fn poll(args: PollArgs, config: &Config) -> anyhow::Result<()> {
    poll_with_assets(args, config, &default_assets()).await
}

/// `poll` with the tracked assets given (the pipeline passes its registry).
pub async fn poll_with_assets(
    args: PollArgs,
    config: &Config,
    tracked: &[Asset],
) -> anyhow::Result<()> {
    let mut collector =
        super::build_collector(&args.source, config, tracked, args.base_url.as_deref())?;
    let mut cursor: Option<serde_json::Value> = match &args.cursor {
        Some(text) => Some(serde_json::from_str(text).context("--cursor is not JSON")?),
        None => None,
    };
    loop {
        let wait = match collector.poll(cursor.as_ref()).await {
            Ok(batch) => {
                tracing::info!(
                    source = %args.source, posts = batch.posts.len(), prices = batch.prices.len(),
                    cursor = %batch.cursor.as_ref().map(|c| c.to_string()).unwrap_or_default(),
                    next_poll_s = batch.next_poll_in.as_secs(),
                    "Polling round done."
                );
                if args.stdout {
                    print_batch(&batch)?;
                } else {
                    store_batch(config, &args.source, &batch).await?;
                }
                if batch.cursor.is_some() {
                    cursor = batch.cursor.clone();
                }
                batch.next_poll_in
            }
            Err(e @ CollectError::Fatal { .. }) => return Err(e.into()),
            Err(e) if args.once => return Err(e.into()),
            Err(e) => {
                let wait = e.retry_in().unwrap_or_default();
                tracing::warn!(source = %args.source, error = %e, wait_s = wait.as_secs(), "Polling round failed, waiting.");
                wait
            }
        };
        if args.once {
            return Ok(());
        }
        tokio::time::sleep(wait.max(std::time::Duration::from_secs(1))).await;
    }
}
