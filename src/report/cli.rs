//! `coinpulse report KIND`: argument parsing, asset resolution and printing.
//!
//! `--repeat N` (hidden) runs the report N times and prints p50/p95 latency to stderr; it is how the
//! latencies in the README were measured, on the same code path users run.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;

use super::range::parse_range;
use super::reports::{Kind, Params, run_report};
use super::table::Format;
use crate::config::Config;
use crate::model::Platform;
use crate::store::Store;
use crate::store::queries::{self, Bucket, Population};

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Which report.
    #[arg(value_enum)]
    pub kind: Kind,
    /// Start: a duration back from --until (30d, 12h, 90m, 2w), an RFC 3339 time or a UTC date.
    #[arg(long, default_value = "7d")]
    pub since: String,
    /// End (exclusive): a duration back from now, an RFC 3339 time or a UTC date. Default: now.
    #[arg(long)]
    pub until: Option<String>,
    /// Asset: symbol (BTC), name (Bitcoin) or id (bitcoin). Required by `asset` and `leadlag`.
    #[arg(long)]
    pub asset: Option<String>,
    /// Only posts from this platform.
    #[arg(long)]
    pub platform: Option<Platform>,
    /// Bucket width. 5m is counted from the mentions table, 1h and 1d from the hourly rollup.
    #[arg(long, value_enum, default_value_t = Bucket::Hour)]
    pub bucket: Bucket,
    /// Rows shown by top, spikes and sentiment.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// spikes: minimum surprise, −log10 of the bucket's tail probability under its trailing
    /// baseline (6: a one-in-a-million bucket).
    #[arg(long, default_value_t = 6.0)]
    pub threshold: f64,
    /// spikes: a bucket needs at least this many posts (default: `spikes.min_posts`) ...
    #[arg(long)]
    pub min_posts: Option<i64>,
    /// ... and this many distinct human authors (default: `spikes.min_authors`).
    #[arg(long)]
    pub min_authors: Option<i64>,
    /// Count every post, not only human ones (automated and promotional posts included).
    #[arg(long)]
    pub all: bool,
    /// Trailing window of the z-scores and of the spikes' baseline, in buckets.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u16).range(2..))]
    pub window: u16,
    /// leadlag: largest lag in buckets (default: as many as make 24 h, at least 1).
    #[arg(long)]
    pub max_lag: Option<usize>,
    /// Price source (default: the one with most points in the range).
    #[arg(long)]
    pub price_source: Option<String>,
    /// Run the report this many times and print p50/p95 latency to stderr.
    #[arg(long, hide = true, default_value_t = 1)]
    pub repeat: usize,
}

pub async fn run(args: ReportArgs, config: &Config) -> anyhow::Result<()> {
    let (since, until) = parse_range(&args.since, args.until.as_deref(), Utc::now())?;
    let store = Store::connect(&config.database)
        .await
        .context("connecting to the database")?;
    let pool = store.pool();
    let asset = match &args.asset {
        Some(a) => Some(queries::resolve_asset(pool, a).await?),
        None => None,
    };
    let params = Params {
        since,
        until,
        asset,
        platform: args.platform,
        bucket: args.bucket,
        limit: args.limit,
        window: usize::from(args.window),
        threshold: args.threshold,
        population: if args.all {
            Population::All
        } else {
            Population::Humans
        },
        min_posts: args.min_posts.unwrap_or(config.spikes.min_posts),
        min_authors: args.min_authors.unwrap_or(config.spikes.min_authors),
        max_lag: args.max_lag,
        price_source: args.price_source.clone(),
    };
    let mut timings = Vec::with_capacity(args.repeat.max(1));
    let mut report = None;
    for _ in 0..args.repeat.max(1) {
        let started = Instant::now();
        report = Some(run_report(pool, args.kind, &params).await?);
        timings.push(started.elapsed());
    }
    let rendered = report.expect("ran at least once").render(&params);
    let mut out = std::io::stdout().lock();
    match (&rendered.table, &rendered.empty) {
        (Some(t), _) => out.write_all(t.render(args.format).as_bytes())?,
        (None, Some(msg)) => eprintln!("{msg}"),
        (None, None) => {}
    }
    if let Some(note) = &rendered.note {
        if args.format == Format::Table {
            writeln!(out, "\n{note}")?;
        } else {
            eprintln!("{note}");
        }
    }
    if args.repeat > 1 {
        let (p50, p95) = percentiles(&mut timings);
        eprintln!(
            "{:?} report: {} runs, p50 {:.1} ms, p95 {:.1} ms",
            args.kind,
            timings.len(),
            p50.as_secs_f64() * 1e3,
            p95.as_secs_f64() * 1e3
        );
    }
    Ok(())
}

/// p50 and p95 by the nearest-rank method.
pub fn percentiles(timings: &mut [Duration]) -> (Duration, Duration) {
    timings.sort();
    let rank = |q: f64| {
        let i = ((q * timings.len() as f64).ceil() as usize).clamp(1, timings.len()) - 1;
        timings[i]
    };
    (rank(0.50), rank(0.95))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut t: Vec<Duration> = (1..=20).rev().map(Duration::from_millis).collect();
        assert_eq!(
            percentiles(&mut t),
            (Duration::from_millis(10), Duration::from_millis(19))
        );
        let mut one = vec![Duration::from_millis(7)];
        assert_eq!(
            percentiles(&mut one),
            (Duration::from_millis(7), Duration::from_millis(7))
        );
    }
}
