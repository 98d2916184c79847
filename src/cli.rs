//! The command line: one subcommand per thing a user does. Each subcommand's arguments and handler live
//! with the stage it drives; this file only lists them.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::telemetry::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "coinpulse",
    version,
    about = "Self-hosted crypto social-sentiment monitor",
    long_about = "coinpulse polls Twitter/X, Reddit, YouTube, Mastodon, Bluesky and price feeds, tags every \
                  coin mention, scores sentiment with a linear SVM, stores everything in PostgreSQL and \
                  draws mention-volume-vs-price and sentiment charts."
)]
pub struct Cli {
    /// Configuration file (or set COINPULSE_CONFIG). Missing is fine for the default path; every key
    /// has a default.
    #[arg(
        long,
        global = true,
        env = "COINPULSE_CONFIG",
        default_value = "config.toml"
    )]
    pub config: PathBuf,

    /// Log output format (logs go to stderr).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage the private PostgreSQL cluster (used when no database URL is configured).
    Db {
        #[command(subcommand)]
        action: DbAction,
    },
    /// Apply database migrations (also done automatically by every command that needs the database).
    Migrate,
    /// Load an archive of posts or prices through the tag/score/write path.
    Import(crate::import::ImportArgs),
    /// Tag coin mentions in posts read from stdin (one per line, text or {"id","text"} JSON).
    Tag(crate::tag::cli::TagArgs),
    /// Measure the tagger against a hand-labelled gold file.
    EvalTagger(crate::tag::cli::EvalTaggerArgs),
    /// Score sentiment of posts read from stdin (one per line, text or {"id","text"} JSON).
    Score(crate::sentiment::cli::ScoreArgs),
    /// Class posts read from stdin (JSON lines, in order) as human, automated or promotional.
    Classify(crate::classify::cli::ClassifyArgs),
    /// Measure the post classes against a hand-labelled gold file, beside a keyword-list baseline.
    EvalClassify(crate::classify::cli::EvalClassifyArgs),
    /// Train the sentiment model from a labelled CSV.
    Train(crate::sentiment::cli::TrainArgs),
    /// Measure a sentiment model against a labelled CSV.
    EvalSentiment(crate::sentiment::cli::EvalSentimentArgs),
    /// Run the daemon: poll every enabled source, tag, score and store, until SIGINT/SIGTERM.
    Run(crate::pipeline::run::RunArgs),
    /// The whole product on this machine: private database, simulated sources, the daemon, charts
    /// and a report, with no credentials and no network.
    Demo(crate::demo::run::DemoArgs),
    /// Draw mention-volume-vs-price, lead-lag and share-of-voice charts.
    Chart(crate::chart::cli::ChartArgs),
    /// Run one polling round of one configured source.
    Poll(crate::collect::cli::PollArgs),
    /// Print a report: top assets, one asset's series, spikes, sentiment or lead-lag.
    Report(crate::report::cli::ReportArgs),
    /// Serve simulated posts and replayed prices in the Twitter, Reddit and CoinGecko formats on loopback.
    Sandbox(crate::demo::cli::SandboxArgs),
    /// The asset registry: `update` adds today's CoinGecko market-cap ranking.
    Assets {
        #[command(subcommand)]
        action: AssetsAction,
    },
    /// Alert channels: `test` sends one message to each configured channel and says how it went.
    Alerts {
        #[command(subcommand)]
        action: AlertsAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum AlertsAction {
    /// Send a test message to every configured channel (Discord, Slack, Telegram, webhook); exits
    /// non-zero, with what to fix, when one does not take it.
    Test,
}

#[derive(Debug, Subcommand)]
pub enum AssetsAction {
    /// Fetch CoinGecko's market-cap ranking and coin list, store them with today's date and print
    /// what changed (added, re-ranked, renamed, delisted).
    Update(crate::tag::update::UpdateArgs),
}

#[derive(Debug, Subcommand)]
pub enum DbAction {
    /// Create (first time) and start the private cluster.
    Start,
    /// Stop the private cluster.
    Stop,
    /// Tell whether the private cluster is running.
    Status,
    /// Print the database URL coinpulse connects to (starting the private cluster if needed).
    Url,
    /// Delete posts (with their mentions) older than `--older-than`, or than `database.retention`
    /// plus an hour; hourly rollups are kept.
    Prune {
        /// e.g. `90d`, `12w`; defaults to `database.retention`.
        #[arg(long, value_parser = parse_age)]
        older_than: Option<chrono::TimeDelta>,
    },
    /// Score again, with the configured (or `--model`) sentiment model, every stored post that another
    /// model scored, and correct the hourly rollups to match. Safe to interrupt and to run beside
    /// the daemon.
    Rescore {
        /// Model file (default: `sentiment.model_file` from the config, else the built-in model).
        #[arg(long)]
        model: Option<std::path::PathBuf>,
        /// Posts per transaction.
        #[arg(long, default_value_t = 2000)]
        batch: usize,
    },
    /// Class every stored post again (human, automated, promotional) with the current rules, oldest
    /// first, and correct the human-only rollup columns to match. Safe to interrupt and run again.
    Reclassify {
        /// Posts per transaction.
        #[arg(long, default_value_t = 2000)]
        batch: usize,
    },
    /// Tag the stored posts created in a range again with the current asset registry (built-in,
    /// configured file and every `assets update`), replace their mentions and correct the hourly
    /// rollups to match. Safe to interrupt, to run again and to run beside the daemon.
    Retag {
        /// Start: a duration back from --until (30d, 12h), an RFC 3339 time or a UTC date.
        #[arg(long)]
        since: String,
        /// End (exclusive): a duration back from now, an RFC 3339 time or a UTC date. Default: now.
        #[arg(long)]
        until: Option<String>,
        /// Posts per transaction.
        #[arg(long, default_value_t = 2000)]
        batch: usize,
    },
}

/// An age such as `90d` or `12w` (the grammar of `--since`, see [`crate::time`]).
fn parse_age(s: &str) -> Result<chrono::TimeDelta, String> {
    crate::time::parse_delta(s).map_err(|e| e.to_string())
}
