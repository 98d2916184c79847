//! `coinpulse sandbox`: the demo sandbox on its own, for trying the collectors by hand.

use std::net::SocketAddr;

use anyhow::Context;

use super::clock::ClockMode;
use super::sandbox::{DEFAULT_SPEED, Sandbox, SandboxConfig};

#[derive(Debug, clap::Args)]
pub struct SandboxArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Simulated seconds per real second (7200: two simulated hours a second).
    #[arg(long, default_value_t = DEFAULT_SPEED)]
    pub speed: f64,
    /// Simulated start: a date (2021-01-01) or an RFC 3339 time, within 2017-09-22 … 2021-06-09.
    #[arg(long, default_value = "2021-01-01", value_parser = super::prices::parse_start)]
    pub start: chrono::DateTime<chrono::Utc>,
    /// Seed of the post generator: the same seed gives the same posts.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Start the clock at once instead of at the first request.
    #[arg(long)]
    pub no_wait: bool,
}

/// Runs the sandbox until Ctrl-C.
pub async fn sandbox(args: SandboxArgs) -> anyhow::Result<()> {
    let handle = Sandbox::start(SandboxConfig {
        listen: args.listen,
        seed: args.seed,
        sim_start: args.start,
        clock: ClockMode::Running {
            speed: args.speed,
            wait_for_first_request: !args.no_wait,
        },
        ..SandboxConfig::default()
    })
    .await?;
    let url = handle.base_url();
    println!("{url}");
    eprintln!(
        "coinpulse sandbox: simulated posts (Twitter v2, Reddit) and Binance hourly closes \
         (CoinGecko format) from {} at {}x; the clock starts {}.\n\
         Simulated Bluesky posts stream in Jetstream's format at {}.\n\
         Try: TWITTER_BEARER_TOKEN=anything coinpulse poll twitter --once --base-url {url} --stdout\n\
         Price data: Binance, via CryptoDataDownload. Posts are simulated. Ctrl-C stops.",
        args.start.to_rfc3339(),
        args.speed,
        if args.no_wait {
            "now"
        } else {
            "at the first request"
        },
        handle.jetstream_url(),
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    let counts = handle.served_counts();
    handle.stop().await;
    eprintln!(
        "coinpulse sandbox: served {} tweets, {} Reddit items, {} price points.",
        counts.twitter, counts.reddit, counts.coingecko
    );
    Ok(())
}
