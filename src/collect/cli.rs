//! `coinpulse poll SOURCE --once [--base-url URL] [--stdout]`: one source, by hand.
//!
//! With `--stdout` the normalized posts and price points are printed as JSON lines (posts carry
//! `platform`, price points `asset`) and the new cursor is logged; nothing is stored. Without it the
//! batch is tagged, scored and committed with its cursor. Without `--once` the command keeps polling, passing each round's
//! cursor to the next and waiting as long as the source asks.

use std::io::Write;

use anyhow::Context;

use super::{Batch, CollectError};
use crate::config::Config;
use crate::model::Asset;

#[derive(Debug, clap::Args)]
pub struct PollArgs {
    /// The source: twitter, reddit, youtube, mastodon, bluesky, coingecko, binance, jetstream, news
    /// or biz.
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

/// Where `poll` puts what it fetched when not printing: the store, through the enricher.
struct Sink {
    store: crate::store::Store,
    enricher: std::sync::Arc<crate::pipeline::Enricher>,
}

impl Sink {
    /// Tags and scores the posts, then commits posts, prices and the cursor in one transaction.
    async fn store(&self, source: &str, batch: &Batch) -> anyhow::Result<()> {
        let posts = self.enricher.enrich_all(batch.posts.clone());
        let checkpoints: Vec<crate::store::writer::Checkpoint> = batch
            .cursor
            .iter()
            .map(|position| crate::store::writer::Checkpoint {
                source: source.to_string(),
                position: position.clone(),
                lease_holder: None,
            })
            .collect();
        let outcome = self
            .store
            .commit(
                &posts,
                &batch.prices,
                &checkpoints,
                self.enricher.model_version(),
            )
            .await?;
        tracing::info!(
            source,
            stored = outcome.stored,
            duplicates = outcome.duplicates,
            mentions = outcome.mentions,
            prices = outcome.prices,
            "Batch stored."
        );
        Ok(())
    }
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
    let enricher = std::sync::Arc::new(
        crate::pipeline::Enricher::from_config(config).map_err(anyhow::Error::msg)?,
    );
    let assets = enricher.tagger().assets().to_vec();
    let tagger = enricher.clone();
    let filter: super::PostFilter =
        std::sync::Arc::new(move |text: &str| tagger.mentions_any(text));
    let sink = if args.stdout {
        None
    } else {
        Some(Sink {
            store: crate::store::Store::connect(&config.database).await?,
            enricher,
        })
    };
    poll_with_assets(args, config, &assets, filter, sink.as_ref()).await
}

/// `poll` with the tracked assets given; `sink` stores, `None` prints.
async fn poll_with_assets(
    args: PollArgs,
    config: &Config,
    tracked: &[Asset],
    filter: super::PostFilter,
    sink: Option<&Sink>,
) -> anyhow::Result<()> {
    let secrets = super::Secrets::from_env();
    let mut ctx = config
        .sources
        .build_context(tracked, args.base_url.as_deref(), &secrets);
    ctx.filter = Some(filter);
    let mut collector = super::build_collector(&args.source, config, &ctx)?;
    let mut cursor: Option<serde_json::Value> = match &args.cursor {
        Some(text) => Some(serde_json::from_str(text).context("--cursor is not JSON")?),
        // Storing continues from where the stored cursor says; printing starts fresh.
        None => match sink {
            Some(sink) => sink.store.cursor(&args.source).await?,
            None => None,
        },
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
                match sink {
                    Some(sink) => sink.store(&args.source, &batch).await?,
                    None => print_batch(&batch)?,
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
