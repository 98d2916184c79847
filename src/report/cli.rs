//! `coinpulse report KIND`: argument parsing, asset resolution and printing.
//!
//! `--repeat N` (hidden) runs the report N times and prints p50/p95 latency to stderr; it is how the
//! latencies in the README were measured, on the same code path users run.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Parser;
use sqlx::PgPool;

use super::range::{RangeError, parse_range};
use super::reports::{Kind, Params, Report, ReportError, run_report};
use super::significance::SpikesConfig;
use super::table::{Format, Table};
use crate::config::Config;
use crate::model::Platform;
use crate::store::Store;
use crate::store::queries::{self, Bucket, Population, QueryError};

#[derive(Debug, Clone, clap::Args)]
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
    /// Asset: symbol (BTC), name (Bitcoin) or id (bitcoin); repeat for several. Required by `asset`
    /// and `leadlag`; a filter for `spikes` and `sentiment`.
    #[arg(long)]
    pub asset: Vec<String>,
    /// Only posts from this platform.
    #[arg(long)]
    pub platform: Option<Platform>,
    /// Bucket width. 5m is counted from the mentions table, 1h and 1d from the hourly rollup.
    #[arg(long, value_enum, default_value_t = Bucket::Hour)]
    pub bucket: Bucket,
    /// Rows shown by top, spikes and sentiment (at least 1).
    #[arg(long, default_value_t = 20, value_parser = parse_limit)]
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

/// `--limit` is a row count: 0 would print nothing at all, so it is refused.
fn parse_limit(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1 (it is the number of rows shown)".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// The report arguments alone, parsed from words the way the command line parses them: how the
/// HTTP API reads its query parameters, so both accept and refuse exactly the same input.
#[derive(Debug, Parser)]
#[command(no_binary_name = true, name = "report")]
struct ArgsOnly {
    #[command(flatten)]
    args: ReportArgs,
}

impl ReportArgs {
    /// Parses `words` (e.g. `["top", "--since=30d"]`) as `coinpulse report` would; the error is the
    /// command line's own message, first line only.
    pub fn parse_words<I, S>(words: I) -> Result<ReportArgs, String>
    where
        I: IntoIterator<Item = S>,
        S: Into<std::ffi::OsString> + Clone,
    {
        ArgsOnly::try_parse_from(words)
            .map(|a| a.args)
            .map_err(|e| {
                let text = e.render().to_string();
                let first = text.lines().next().unwrap_or_default();
                first.strip_prefix("error: ").unwrap_or(first).to_string()
            })
    }
}

/// Why a report could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Range(#[from] RangeError),
    #[error(transparent)]
    Report(#[from] ReportError),
}

impl From<QueryError> for RunError {
    fn from(e: QueryError) -> RunError {
        RunError::Report(ReportError::Query(e))
    }
}

impl RunError {
    /// True when the request itself was wrong (bad range, unknown asset, missing `--asset`), false
    /// when the database failed.
    pub fn is_bad_request(&self) -> bool {
        !matches!(
            self,
            RunError::Report(ReportError::Query(QueryError::Database(_)))
        )
    }
}

/// A report computed and rendered: what `coinpulse report` prints and `/api/v1/report/{kind}`
/// answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// Its rows (none when nothing matched).
    pub table: Table,
    /// Why there are no rows.
    pub empty: Option<String>,
    /// Sentences shown after the table: the best lag, or why one of several assets has no rows.
    pub notes: Vec<String>,
}

impl Output {
    /// The table in `format`; a JSON array (`[]` when empty) or CSV with its header for machines.
    pub fn body(&self, format: Format) -> String {
        match (&self.empty, format) {
            (Some(why), Format::Table) => format!("{why}\n"),
            _ => self.table.render(format),
        }
    }
}

/// Computes report `args.kind` over the range read relative to `now`. With several assets, `asset`
/// and `leadlag` give each asset's rows in turn; `spikes` and `sentiment` rank the rows of all of
/// them together.
pub async fn produce(
    pool: &PgPool,
    args: &ReportArgs,
    spikes: &SpikesConfig,
    now: DateTime<Utc>,
) -> Result<Output, RunError> {
    let (since, until) = parse_range(&args.since, args.until.as_deref(), now)?;
    let mut assets = Vec::with_capacity(args.asset.len());
    for a in &args.asset {
        let found = queries::resolve_asset(pool, a).await?;
        if !assets.contains(&found) {
            assets.push(found);
        }
    }
    let base = Params {
        since,
        until,
        asset: None,
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
        min_posts: args.min_posts.unwrap_or(spikes.min_posts),
        min_authors: args.min_authors.unwrap_or(spikes.min_authors),
        max_lag: args.max_lag,
        price_source: args.price_source.clone(),
    };
    // An asset renamed under a new id has its history in two places: say where the other is.
    let renamed: Vec<String> = assets
        .iter()
        .filter_map(|a| crate::tag::renames::history_note(&a.id))
        .collect();
    if assets.len() <= 1 {
        let p = Params {
            asset: assets.pop(),
            ..base
        };
        let r = run_report(pool, args.kind, &p).await?.render(&p);
        return Ok(Output {
            table: r.table,
            empty: r.empty,
            notes: r.note.into_iter().chain(renamed).collect(),
        });
    }
    let mut reports = Vec::with_capacity(assets.len());
    for a in assets {
        let p = Params {
            asset: Some(a),
            ..base.clone()
        };
        reports.push((run_report(pool, args.kind, &p).await?, p));
    }
    let merged = match args.kind {
        Kind::Spikes => {
            let mut rows: Vec<_> = reports
                .into_iter()
                .flat_map(|(r, _)| match r {
                    Report::Spikes(rows) => rows,
                    _ => Vec::new(),
                })
                .collect();
            rows.sort_by(|a, b| {
                b.surprise
                    .total_cmp(&a.surprise)
                    .then(b.posts.cmp(&a.posts))
                    .then(a.bucket.cmp(&b.bucket))
            });
            rows.truncate(base.limit);
            Report::Spikes(rows)
        }
        Kind::Sentiment => {
            let mut rows: Vec<_> = reports
                .into_iter()
                .flat_map(|(r, _)| match r {
                    Report::Sentiment(rows) => rows,
                    _ => Vec::new(),
                })
                .collect();
            rows.sort_by(queries::AssetTotals::loudest_first);
            Report::Sentiment(rows)
        }
        // Top ranks every asset; the others are one asset's rows after another.
        Kind::Top | Kind::Asset | Kind::Leadlag => {
            let mut output = concatenate(reports);
            output.notes.extend(renamed);
            return Ok(output);
        }
    };
    let r = merged.render(&base);
    Ok(Output {
        table: r.table,
        empty: r.empty,
        notes: r.note.into_iter().chain(renamed).collect(),
    })
}

/// Per-asset reports one after another; an asset without rows gets a note instead.
fn concatenate(reports: Vec<(Report, Params)>) -> Output {
    let mut table: Option<Table> = None;
    let mut reasons = Vec::new();
    let mut notes = Vec::new();
    for (report, p) in &reports {
        let r = report.render(p);
        reasons.extend(r.empty);
        notes.extend(r.note);
        match &mut table {
            Some(t) => t.rows.extend(r.table.rows),
            None => table = Some(r.table),
        }
    }
    let table = table.expect("at least two assets");
    if table.rows.is_empty() {
        Output {
            table,
            empty: Some(reasons.join(" ")),
            notes,
        }
    } else {
        reasons.extend(notes);
        Output {
            table,
            empty: None,
            notes: reasons,
        }
    }
}

pub async fn run(args: ReportArgs, config: &Config) -> anyhow::Result<()> {
    // The range is checked before connecting, so a typo does not wait for the database.
    parse_range(&args.since, args.until.as_deref(), Utc::now())?;
    let store = Store::connect(&config.database)
        .await
        .context("connecting to the database")?;
    let mut timings = Vec::with_capacity(args.repeat.max(1));
    let mut output = None;
    for _ in 0..args.repeat.max(1) {
        let started = Instant::now();
        output = Some(produce(store.pool(), &args, &config.spikes, Utc::now()).await?);
        timings.push(started.elapsed());
    }
    let output = output.expect("ran at least once");
    // Nothing found: say where the stored data is, so the next command asks for a range that has it.
    let hint = match output.empty {
        Some(_) => Some(where_the_data_is(store.pool(), &args.asset).await?),
        None => None,
    };
    let mut out = std::io::stdout().lock();
    out.write_all(output.body(args.format).as_bytes())?;
    if args.format == Format::Table {
        if let Some(hint) = &hint {
            writeln!(out, "{}", capitalized(hint))?;
        }
    } else if let Some(why) = &output.empty {
        eprintln!("{why}");
        if let Some(hint) = &hint {
            eprintln!("{}", capitalized(hint));
        }
    }
    for note in &output.notes {
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

/// [`queries::where_the_data_is`] for the assets the report was asked about (any asset when none).
async fn where_the_data_is(pool: &PgPool, assets: &[String]) -> Result<String, RunError> {
    let mut ids = Vec::new();
    let mut labels = Vec::new();
    for a in assets {
        let found = queries::resolve_asset(pool, a).await?;
        labels.push(found.label().to_string());
        ids.push(found.id);
    }
    Ok(queries::where_the_data_is(pool, &ids, &labels.join(", ")).await?)
}

fn capitalized(sentence: &str) -> String {
    let mut chars = sentence.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>() + ".",
        None => String::new(),
    }
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
    fn words_parse_like_the_command_line() {
        let a =
            ReportArgs::parse_words(["spikes", "--asset=BTC", "--asset=ETH", "--limit=5"]).unwrap();
        assert_eq!(a.kind, Kind::Spikes);
        assert_eq!(a.asset, ["BTC", "ETH"]);
        assert_eq!(a.limit, 5);
        assert_eq!(a.format, Format::Table);
    }

    #[test]
    fn a_zero_limit_is_refused_with_the_reason() {
        let e = ReportArgs::parse_words(["top", "--limit=0"]).unwrap_err();
        assert!(e.contains("--limit") && e.contains("at least 1"), "{e}");
        assert!(!e.starts_with("error:"), "{e}");
    }

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
