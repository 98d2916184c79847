//! `coinpulse import`: archives through the same tag/score/write path as the daemon.
//!
//! Three stages overlap so the slowest one sets the pace: a blocking thread parses the file into
//! batches, each batch is tagged and scored on the blocking pool, and up to [`WRITERS`] batches are
//! written concurrently (each in its own transaction). Bounded channels between them keep memory flat
//! however large the file. A bad record is counted and reported with its line number; it never stops
//! the import. That includes a record the parser accepts but the database refuses, or whose tagging or
//! scoring panics: the writer isolates it (see [`crate::store::dead_letter`]), keeps it in
//! `rejected_posts` and stores the rest of its batch, and the summary names its input line.
//! Re-importing a file stores nothing new: the writer is idempotent.

pub mod formats;
pub mod progress;

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::model::{Asset, Post, PricePoint};
use crate::pipeline::Enricher;
use crate::store::dead_letter::{Delivery, RejectedPost};
use crate::store::{Store, StoreError, WriteOutcome};
use formats::{Columns, Format, Parsed, Record, Rejected};

/// What one writer task returns: the post outcome, the price rows written, the price rows skipped
/// because the same price was already stored, and the posts kept in `rejected_posts`, by input line.
type WriteResult = Result<(WriteOutcome, u64, u64, Vec<Rejected>), StoreError>;

/// Batches written at the same time.
const WRITERS: usize = 2;

/// The largest `--batch-size`: one transaction's arrays stay a few hundred megabytes at most.
pub const MAX_BATCH_SIZE: usize = 100_000;

fn parse_batch_size(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_BATCH_SIZE).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{s}` is not a batch size from 1 to {MAX_BATCH_SIZE}"
        )),
    }
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The archive file.
    pub path: PathBuf,
    /// Its layout.
    #[arg(long, value_enum)]
    pub format: Format,
    /// Posts per transaction (1 to 100000).
    #[arg(long, default_value_t = 2000, value_parser = parse_batch_size)]
    pub batch_size: usize,
    /// Price source name stored with imported prices (`--format prices-csv`).
    #[arg(long, default_value = "binance")]
    pub price_source: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Header { path: PathBuf, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportSummary {
    /// Records read (posts or price rows), good or bad.
    pub read: u64,
    pub stored: u64,
    pub duplicates: u64,
    /// Posts older than `database.retention`, not stored.
    pub expired: u64,
    pub mentions: u64,
    pub prices: u64,
    /// Price rows already stored with the same value, skipped.
    pub duplicate_prices: u64,
    pub rejected: Vec<Rejected>,
    pub elapsed: Duration,
}

impl ImportSummary {
    /// Posts (or price rows) per second over the whole import.
    pub fn rate(&self) -> f64 {
        self.read as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// A human summary: counts, then rejected records grouped by reason with their first lines.
    pub fn render(&self) -> String {
        let mut out = format!(
            "read {}, stored {}, duplicates {}, mentions {}, prices {}, duplicate prices {}, rejected {} in {:.2} s ({:.0} records/s)\n",
            self.read,
            self.stored,
            self.duplicates,
            self.mentions,
            self.prices,
            self.duplicate_prices,
            self.rejected.len(),
            self.elapsed.as_secs_f64(),
            self.rate()
        );
        if self.expired > 0 {
            out.push_str(&format!(
                "expired {}: older than database.retention, not stored\n",
                self.expired
            ));
        }
        let mut by_reason: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        for r in &self.rejected {
            by_reason.entry(&r.reason).or_default().push(r.line);
        }
        for (reason, lines) in by_reason.iter().take(20) {
            let shown: Vec<String> = lines.iter().take(5).map(|l| l.to_string()).collect();
            let more = if lines.len() > 5 {
                format!(" and {} more", lines.len() - 5)
            } else {
                String::new()
            };
            out.push_str(&format!(
                "  rejected line {}{more}: {reason}\n",
                shown.join(", ")
            ));
        }
        out
    }
}

/// A batch on its way from the parser to the writer.
struct Chunk {
    posts: Vec<Post>,
    /// The input line of each post.
    lines: Vec<u64>,
    prices: Vec<PricePoint>,
    read: u64,
    rejected: Vec<Rejected>,
    /// Bytes of the file consumed so far, for the progress bar.
    position: u64,
}

/// Imports `path`. `assets` maps price-file tickers to asset ids.
pub async fn import_file(
    store: &Store,
    enricher: Arc<Enricher>,
    assets: &[Asset],
    args: &ImportArgs,
    show_progress: bool,
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    let file = std::fs::File::open(&args.path).map_err(|source| ImportError::Read {
        path: args.path.clone(),
        source,
    })?;
    let total_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut progress = progress::Progress::new(show_progress, total_bytes);

    let symbols = symbol_map(assets);
    let (tx, mut rx) = mpsc::channel::<Chunk>(4);
    let batch_size = args.batch_size.max(1);
    let format = args.format;
    let path = args.path.clone();
    let price_source = args.price_source.clone();
    let parser = tokio::task::spawn_blocking(move || {
        parse_file(file, &path, format, batch_size, &symbols, &price_source, tx)
    });

    let mut summary = ImportSummary::default();
    let mut writes: JoinSet<WriteResult> = JoinSet::new();
    while let Some(chunk) = rx.recv().await {
        summary.read += chunk.read;
        summary.rejected.extend(chunk.rejected);
        while writes.len() >= WRITERS {
            absorb(&mut summary, writes.join_next().await)?;
        }
        let store = store.clone();
        let enricher = enricher.clone();
        let (posts, lines, prices) = (chunk.posts, chunk.lines, chunk.prices);
        writes.spawn(async move {
            let mut outcome = WriteOutcome::default();
            let (mut price_rows, mut duplicate_prices) = (0, 0);
            let mut rejected = Vec::new();
            if !posts.is_empty() {
                let version = enricher.model_version().to_string();
                // Posts are storable since parsing, so the keys here are the ones the writer reports.
                let line_of: HashMap<(String, String), u64> = posts
                    .iter()
                    .zip(&lines)
                    .rev()
                    .map(|(p, line)| ((p.platform.to_string(), p.external_id.clone()), *line))
                    .collect();
                let (enriched, failed) =
                    tokio::task::spawn_blocking(move || enricher.enrich_isolated(posts))
                        .await
                        .expect("enrich_isolated catches panics");
                let panicked: Vec<RejectedPost> = failed
                    .iter()
                    .map(|f| RejectedPost::new("import", &f.post, f.panic.clone()))
                    .collect();
                let sources = vec!["import"; enriched.len()];
                outcome = store
                    .deliver(&Delivery {
                        posts: &enriched,
                        sources: &sources,
                        rejected: &panicked,
                        model_version: &version,
                        ..Delivery::default()
                    })
                    .await?;
                rejected = outcome
                    .rejected
                    .iter()
                    .map(|r| Rejected {
                        line: line_of
                            .get(&(r.platform.clone(), r.external_id.clone()))
                            .copied()
                            .unwrap_or(0),
                        reason: format!("refused by the database: {}", r.reason),
                    })
                    .collect();
            }
            if !prices.is_empty() {
                price_rows = store.write_prices(&prices, None).await?;
                duplicate_prices = prices.len() as u64 - price_rows;
            }
            Ok((outcome, price_rows, duplicate_prices, rejected))
        });
        progress.update(chunk.position, &summary);
    }
    while let Some(done) = writes.join_next().await {
        absorb(&mut summary, Some(done))?;
    }
    parser.await.expect("parser does not panic")?;
    summary.rejected.sort_by_key(|r| r.line);
    progress.finish();
    summary.elapsed = started.elapsed();
    Ok(summary)
}

fn absorb(
    summary: &mut ImportSummary,
    done: Option<Result<WriteResult, tokio::task::JoinError>>,
) -> Result<(), ImportError> {
    if let Some(result) = done {
        let (outcome, prices, duplicate_prices, rejected) =
            result.expect("writer task does not panic")?;
        summary.rejected.extend(rejected);
        summary.stored += outcome.stored;
        summary.duplicates += outcome.duplicates;
        summary.expired += outcome.expired;
        summary.mentions += outcome.mentions;
        summary.prices += prices;
        summary.duplicate_prices += duplicate_prices;
    }
    Ok(())
}

/// Upper-case ticker → asset id, the highest-ranked asset winning a shared ticker.
fn symbol_map(assets: &[Asset]) -> HashMap<String, String> {
    let mut ranked: Vec<&Asset> = assets.iter().collect();
    ranked.sort_by_key(|a| a.rank.unwrap_or(u32::MAX));
    let mut map = HashMap::new();
    for a in ranked {
        map.entry(a.symbol.to_ascii_uppercase())
            .or_insert_with(|| a.id.clone());
    }
    map
}

fn parse_file(
    file: std::fs::File,
    path: &Path,
    format: Format,
    batch_size: usize,
    symbols: &HashMap<String, String>,
    price_source: &str,
    tx: mpsc::Sender<Chunk>,
) -> Result<(), ImportError> {
    let reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut chunk = new_chunk(batch_size);
    let send = |chunk: &mut Chunk, position: u64| -> bool {
        chunk.position = position;
        let full = std::mem::replace(chunk, new_chunk(batch_size));
        tx.blocking_send(full).is_ok()
    };
    let push = |chunk: &mut Chunk, parsed: Parsed, line: u64| {
        chunk.read += 1;
        match parsed {
            Ok(Record::Post(post)) => {
                chunk.posts.push(post.into_storable());
                chunk.lines.push(line);
            }
            Ok(Record::Price(price)) => chunk.prices.push(price),
            Err(rejected) => chunk.rejected.push(rejected),
        }
    };
    let header_error = |message: String| ImportError::Header {
        path: path.to_owned(),
        message,
    };

    if format == Format::Jsonl {
        let mut reader = reader;
        let mut position = 0u64;
        let mut number = 0u64;
        let mut bytes = Vec::new();
        loop {
            bytes.clear();
            let read =
                reader
                    .read_until(b'\n', &mut bytes)
                    .map_err(|source| ImportError::Read {
                        path: path.to_owned(),
                        source,
                    })?;
            if read == 0 {
                break;
            }
            position += read as u64;
            number += 1;
            // A line that is not UTF-8 is one rejected record, not the end of the import.
            let parsed = match std::str::from_utf8(&bytes) {
                Ok(line) if line.trim().is_empty() => continue,
                Ok(line) => formats::jsonl(line, number),
                Err(e) => Err(Rejected {
                    line: number,
                    reason: format!("not UTF-8: {e}"),
                }),
            };
            push(&mut chunk, parsed, number);
            if chunk.read as usize >= batch_size && !send(&mut chunk, position) {
                return Ok(());
            }
        }
        send(&mut chunk, position);
        return Ok(());
    }

    let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
    let header = csv
        .headers()
        .map_err(|e| header_error(e.to_string()))?
        .clone();
    let required = match format {
        Format::Cryptop12 => formats::CRYPTOP12_COLUMNS,
        Format::RedditCsv => formats::REDDIT_COLUMNS,
        Format::PricesCsv => formats::PRICES_COLUMNS,
        Format::Jsonl => unreachable!("handled above"),
    };
    let cols = Columns::new(&header, required).map_err(header_error)?;
    let price_cols = match format {
        Format::PricesCsv => Some(formats::PriceColumns::new(&cols).map_err(header_error)?),
        _ => None,
    };
    let mut record = csv::StringRecord::new();
    loop {
        let line = csv.position().line();
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(line, |p| p.line());
                let parsed = if record.len() != header.len() {
                    Err(Rejected {
                        line,
                        reason: format!("expected {} fields, found {}", header.len(), record.len()),
                    })
                } else {
                    match format {
                        Format::Cryptop12 => formats::cryptop12(&cols, &record, line),
                        Format::RedditCsv => formats::reddit_csv(&cols, &record, line),
                        Format::PricesCsv => formats::prices_csv(
                            &cols,
                            price_cols.as_ref().expect("price columns resolved above"),
                            &record,
                            line,
                            symbols,
                            price_source,
                        ),
                        Format::Jsonl => unreachable!("handled above"),
                    }
                };
                push(&mut chunk, parsed, line);
            }
            Err(e) => {
                // A broken record (bad UTF-8, unterminated quote) is one rejection, not the end.
                let line = e.position().map_or(line, |p| p.line());
                push(
                    &mut chunk,
                    Err(Rejected {
                        line,
                        reason: e.to_string(),
                    }),
                    line,
                );
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
            }
        }
        if chunk.read as usize >= batch_size && !send(&mut chunk, csv.position().byte()) {
            return Ok(());
        }
    }
    send(&mut chunk, csv.position().byte());
    Ok(())
}

fn new_chunk(batch_size: usize) -> Chunk {
    Chunk {
        posts: Vec::with_capacity(batch_size),
        lines: Vec::with_capacity(batch_size),
        prices: Vec::new(),
        read: 0,
        rejected: Vec::new(),
        position: 0,
    }
}

/// The `coinpulse import` command: connect, import, print the summary.
pub async fn run(args: ImportArgs, config: &crate::config::Config) -> anyhow::Result<()> {
    let store = Store::connect(&config.database).await?.for_bulk_load();
    let enricher = Arc::new(Enricher::from_config(config).map_err(anyhow::Error::msg)?);
    store.upsert_assets(enricher.tagger().assets()).await?;
    let assets = enricher.tagger().assets().to_vec();
    let summary = import_file(&store, enricher, &assets, &args, true).await?;
    print!("{}", summary.render());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        import: ImportArgs,
    }

    fn batch_size(value: &str) -> Result<usize, String> {
        Cli::try_parse_from([
            "import",
            "x.csv",
            "--format",
            "jsonl",
            "--batch-size",
            value,
        ])
        .map(|cli| cli.import.batch_size)
        .map_err(|e| e.to_string())
    }

    #[test]
    fn batch_size_is_bounded_with_a_clear_error() {
        assert_eq!(batch_size("500"), Ok(500));
        assert_eq!(batch_size("100000"), Ok(MAX_BATCH_SIZE));
        for bad in ["0", "100001", "18446744073709551615", "many"] {
            let err = batch_size(bad).unwrap_err();
            assert!(err.contains("batch size from 1 to 100000"), "{bad}: {err}");
        }
    }
}
