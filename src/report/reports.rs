//! The five reports, each a function from [`Params`] to typed rows, plus their rendering.
//!
//! Rows are computed here and rendered in [`super::table`], so tests check numbers and formatting
//! separately. Trailing statistics need history before `since`; each report fetches `window` extra
//! buckets first, so the first bucket shown has a full baseline.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::significance;
use super::stats::{self, LagCorrelation};
use super::table::{Cell, Table};
use crate::model::Platform;
use crate::store::queries::{self, AssetRef, AssetTotals, Bucket, Counts, Population, QueryError};

/// Which report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Assets ranked by social volume, with dominance, sentiment and change vs the previous period.
    Top,
    /// One asset per bucket: volume, dominance, sentiment, price, volume z-score.
    Asset,
    /// Buckets whose volume is significantly above its trailing baseline, above the volume floors.
    Spikes,
    /// Sentiment summary per asset.
    Sentiment,
    /// Correlation of mention volume with price returns per lag, for one asset.
    Leadlag,
}

/// What every report is asked.
#[derive(Debug, Clone)]
pub struct Params {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Resolved asset; required by `asset` and `leadlag`, a filter for `spikes` and `sentiment`.
    pub asset: Option<AssetRef>,
    pub platform: Option<Platform>,
    pub bucket: Bucket,
    /// Rows shown (`top`, `spikes`, `sentiment`).
    pub limit: usize,
    /// Trailing window of the z-scores, in buckets.
    pub window: usize,
    /// `spikes`: minimum surprise, `−log10` of the bucket's tail probability under its baseline
    /// (see [`super::significance`]).
    pub threshold: f64,
    /// Human posts only (the default) or every post.
    pub population: Population,
    /// `spikes`: a bucket needs at least this many posts ...
    pub min_posts: i64,
    /// ... and this many distinct human authors to count as a spike.
    pub min_authors: i64,
    /// `leadlag`: largest lag in buckets; `None` covers ±24 h.
    pub max_lag: Option<usize>,
    /// Price source; `None` picks the one with most points in range.
    pub price_source: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("the {0} report needs --asset")]
    AssetRequired(&'static str),
}

/// `top` row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopRow {
    pub asset: AssetRef,
    pub counts: Counts,
    /// Engagement-weighted mean score of the human posts.
    pub weighted_score: Option<f64>,
    pub dominance: f64,
    pub previous_posts: i64,
    /// Relative change of posts vs the previous period; `None` when that had none.
    pub change: Option<f64>,
}

/// `asset` row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssetRow {
    pub bucket: DateTime<Utc>,
    pub counts: Counts,
    /// Distinct human authors in the bucket (a longer bucket than an hour adds up its hours).
    pub authors: i64,
    /// Engagement-weighted mean score of the bucket's human posts.
    pub weighted_score: Option<f64>,
    pub dominance: Option<f64>,
    pub price: Option<f64>,
    pub volume_z: Option<f64>,
    pub sentiment_z: Option<f64>,
}

/// `spikes` row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpikeRow {
    pub asset: AssetRef,
    pub bucket: DateTime<Utc>,
    pub posts: i64,
    /// Distinct human authors in the bucket.
    pub authors: i64,
    /// Mean volume of the trailing window.
    pub baseline: f64,
    /// `−log10 P(X ≥ posts)` under the baseline's count model.
    pub surprise: f64,
}

/// `leadlag` result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadLag {
    pub asset: AssetRef,
    pub price_source: Option<String>,
    pub correlations: Vec<LagCorrelation>,
    pub best: Option<LagCorrelation>,
}

/// A computed report.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    Top(Vec<TopRow>),
    Asset(AssetRef, Vec<AssetRow>),
    Spikes(Vec<SpikeRow>),
    Sentiment(Vec<AssetTotals>),
    Leadlag(LeadLag),
}

/// Computes a report.
pub async fn run_report(pool: &PgPool, kind: Kind, p: &Params) -> Result<Report, ReportError> {
    Ok(match kind {
        Kind::Top => Report::Top(top(pool, p).await?),
        Kind::Asset => {
            let asset = p.asset.clone().ok_or(ReportError::AssetRequired("asset"))?;
            let rows = asset_series(pool, &asset, p).await?;
            Report::Asset(asset, rows)
        }
        Kind::Spikes => Report::Spikes(spikes(pool, p).await?),
        Kind::Sentiment => Report::Sentiment(sentiment(pool, p).await?),
        Kind::Leadlag => {
            let asset = p
                .asset
                .clone()
                .ok_or(ReportError::AssetRequired("leadlag"))?;
            Report::Leadlag(leadlag(pool, &asset, p).await?)
        }
    })
}

/// Assets by social volume over the range, against the previous period of equal length.
pub async fn top(pool: &PgPool, p: &Params) -> Result<Vec<TopRow>, ReportError> {
    let (since, until) = p.bucket.align(p.since, p.until);
    let earlier = since - (until - since);
    // The previous period is read beside this one, on another connection.
    let (now, before) = tokio::try_join!(
        queries::asset_totals_of(pool, p.population, p.platform, since, until, p.bucket),
        queries::asset_totals_of(pool, p.population, p.platform, earlier, since, p.bucket),
    )?;
    let total: i64 = now.iter().map(|t| t.counts.posts).sum();
    let before: std::collections::HashMap<&str, i64> = before
        .iter()
        .map(|b| (b.asset.id.as_str(), b.counts.posts))
        .collect();
    let mut now: Vec<AssetTotals> = now.into_iter().filter(|t| t.counts.posts > 0).collect();
    now.sort_by(AssetTotals::loudest_first);
    now.truncate(p.limit);
    Ok(now
        .into_iter()
        .map(|t| {
            let previous_posts = before.get(t.asset.id.as_str()).copied().unwrap_or(0);
            TopRow {
                dominance: t.counts.posts as f64 / total as f64,
                change: (previous_posts > 0)
                    .then(|| (t.counts.posts - previous_posts) as f64 / previous_posts as f64),
                previous_posts,
                weighted_score: t.engagement.weighted_score(),
                asset: t.asset,
                counts: t.counts,
            }
        })
        .collect())
}

/// One asset per bucket, with trailing z-scores of volume and weighted sentiment.
pub async fn asset_series(
    pool: &PgPool,
    asset: &AssetRef,
    p: &Params,
) -> Result<Vec<AssetRow>, ReportError> {
    let (since, until) = p.bucket.align(p.since, p.until);
    let warm = since - p.bucket.width() * p.window as i32;
    let buckets = queries::asset_buckets_of(
        pool,
        p.population,
        &asset.id,
        p.platform,
        warm,
        until,
        p.bucket,
    )
    .await?;
    let volume: Vec<f64> = buckets.iter().map(|b| b.counts.posts as f64).collect();
    let weighted: Vec<f64> = buckets.iter().map(|b| b.counts.score_sum).collect();
    let volume_z = stats::trailing_zscores(&volume, p.window);
    let sentiment_z = stats::trailing_zscores(&weighted, p.window);
    let prices = queries::price_series(
        pool,
        &asset.id,
        p.price_source.as_deref(),
        since,
        until,
        p.bucket,
    )
    .await?;
    let price_at = |t: DateTime<Utc>| {
        prices
            .binary_search_by_key(&t, |x| x.0)
            .ok()
            .map(|i| prices[i].1)
    };
    Ok(buckets
        .iter()
        .enumerate()
        .filter(|(_, b)| b.bucket >= since)
        .map(|(i, b)| AssetRow {
            bucket: b.bucket,
            counts: b.counts,
            authors: b.authors,
            weighted_score: b.engagement.weighted_score(),
            dominance: b.dominance(),
            price: price_at(b.bucket),
            volume_z: volume_z[i],
            sentiment_z: sentiment_z[i],
        })
        .collect())
}

/// Buckets in range above the volume floors whose surprise reaches the threshold, most significant
/// first (then the larger).
pub async fn spikes(pool: &PgPool, p: &Params) -> Result<Vec<SpikeRow>, ReportError> {
    let (since, until) = p.bucket.align(p.since, p.until);
    let warm = since - p.bucket.width() * p.window as i32;
    let mut rows = queries::spike_volume_rows(
        pool,
        p.population,
        p.platform,
        p.asset.as_ref().map(|a| a.id.as_str()),
        warm,
        since,
        until,
        p.bucket,
        p.min_posts,
    )
    .await?;
    // Only a bucket at or after `since` above both floors can be a spike: the series of assets
    // without one are never laid out (thousands of assets × thousands of buckets otherwise).
    rows.retain(|(_, buckets)| {
        buckets.iter().any(|(b, posts, authors)| {
            *b >= since && *posts >= p.min_posts && *authors >= p.min_authors
        })
    });
    let by_asset = queries::dense_volumes(rows, warm, until, p.bucket);
    let mut rows = Vec::new();
    for (id, series) in by_asset {
        rows.extend(spikes_in(&id, &series, since, p));
    }
    rows.sort_by(|a, b| {
        b.surprise
            .total_cmp(&a.surprise)
            .then(b.posts.cmp(&a.posts))
            .then(a.bucket.cmp(&b.bucket))
    });
    rows.truncate(p.limit);
    label_assets(pool, rows.iter_mut().map(|r| &mut r.asset)).await?;
    Ok(rows)
}

/// The buckets of one asset's series, from `since` on, that clear the floors and the threshold.
pub fn spikes_in(
    id: &str,
    series: &[queries::Volume],
    since: DateTime<Utc>,
    p: &Params,
) -> Vec<SpikeRow> {
    let values: Vec<f64> = series.iter().map(|v| v.posts as f64).collect();
    let mut rows = Vec::new();
    for (i, v) in series.iter().enumerate() {
        if i < p.window || v.bucket < since || v.posts < p.min_posts || v.authors < p.min_authors {
            continue;
        }
        let baseline = &values[i - p.window..i];
        let surprise = significance::surprise(v.posts.max(0) as u64, baseline);
        if surprise >= p.threshold {
            rows.push(SpikeRow {
                asset: AssetRef {
                    id: id.to_string(),
                    symbol: None,
                },
                bucket: v.bucket,
                posts: v.posts,
                authors: v.authors,
                baseline: baseline.iter().sum::<f64>() / baseline.len() as f64,
                surprise,
            });
        }
    }
    rows
}

/// Fills in symbols from the registry, in one query.
async fn label_assets<'a>(
    pool: &PgPool,
    assets: impl Iterator<Item = &'a mut AssetRef>,
) -> Result<(), QueryError> {
    let mut unlabelled: Vec<&mut AssetRef> = assets.filter(|a| a.symbol.is_none()).collect();
    let ids: Vec<&str> = unlabelled.iter().map(|a| a.id.as_str()).collect();
    let symbols = queries::registry_symbols(pool, &ids).await?;
    for a in &mut unlabelled {
        a.symbol = symbols.get(&a.id).cloned();
    }
    Ok(())
}

/// Sentiment totals per asset over the range, by volume.
pub async fn sentiment(pool: &PgPool, p: &Params) -> Result<Vec<AssetTotals>, ReportError> {
    let mut rows =
        queries::asset_totals_of(pool, p.population, p.platform, p.since, p.until, p.bucket)
            .await?;
    rows.retain(|t| t.counts.posts > 0 && p.asset.as_ref().is_none_or(|a| a.id == t.asset.id));
    rows.sort_by(AssetTotals::loudest_first);
    rows.truncate(p.limit);
    Ok(rows)
}

/// Pearson r of volume against log returns per lag.
pub async fn leadlag(pool: &PgPool, asset: &AssetRef, p: &Params) -> Result<LeadLag, ReportError> {
    let (since, until) = p.bucket.align(p.since, p.until);
    let volume = queries::volume_series_of(
        pool,
        p.population,
        &asset.id,
        p.platform,
        since,
        until,
        p.bucket,
    )
    .await?;
    let source = match &p.price_source {
        Some(s) => Some(s.clone()),
        None => queries::best_price_source(pool, &asset.id, since, until).await?,
    };
    let prices = match &source {
        Some(s) => queries::price_series(pool, &asset.id, Some(s), since, until, p.bucket).await?,
        None => Vec::new(),
    };
    let price_at: Vec<Option<f64>> = volume
        .iter()
        .map(|(t, _)| {
            prices
                .binary_search_by_key(t, |x| x.0)
                .ok()
                .map(|i| prices[i].1)
        })
        .collect();
    let returns = stats::log_returns(&price_at);
    let x: Vec<Option<f64>> = volume.iter().map(|v| Some(v.1 as f64)).collect();
    let max_lag = p
        .max_lag
        .unwrap_or_else(|| p.bucket.count_in(TimeDelta::hours(24)));
    let correlations = if prices.is_empty() {
        Vec::new()
    } else {
        stats::lead_lag(&x, &returns, max_lag)
    };
    let best = stats::best_lag(&correlations);
    Ok(LeadLag {
        asset: asset.clone(),
        price_source: source,
        correlations,
        best,
    })
}

fn opt_float(x: Option<f64>, decimals: usize) -> Cell {
    x.map_or(Cell::Missing, |v| Cell::Float(v, decimals))
}

fn asset_cell(a: &AssetRef) -> Cell {
    Cell::Text(a.label().to_string())
}

/// Human form of a lag: `+3h`, `-15m`, `+1d`.
pub fn lag_label(lag: i64, bucket: Bucket) -> String {
    let minutes = lag * bucket.width().num_minutes();
    let sign = if minutes < 0 { "-" } else { "+" };
    let m = minutes.abs();
    if m % 1440 == 0 && m > 0 {
        format!("{sign}{}d", m / 1440)
    } else if m % 60 == 0 {
        format!("{sign}{}h", m / 60)
    } else {
        format!("{sign}{m}m")
    }
}

/// What printing a report produces: its table (no rows when nothing matched), a sentence saying why
/// it is empty, and a note. Machine formats print the table even when it is empty (`[]`, the CSV
/// header); the aligned table prints the sentence instead.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub table: Table,
    /// Why the table has no rows (or no meaningful ones).
    pub empty: Option<String>,
    /// Shown after the table (the best lag).
    pub note: Option<String>,
}

impl Report {
    /// Why the report has nothing to show, in a sentence.
    fn empty_reason(&self, p: &Params) -> Option<String> {
        let range = format!(
            "between {} and {}",
            p.since.format("%Y-%m-%d %H:%M UTC"),
            p.until.format("%Y-%m-%d %H:%M UTC")
        );
        match self {
            Report::Top(rows) if rows.is_empty() => {
                Some(format!("No post mentions any asset {range}."))
            }
            Report::Asset(a, rows) if rows.iter().all(|r| r.counts.posts == 0) => {
                Some(format!("No post mentions {} {range}.", a.label()))
            }
            Report::Spikes(rows) if rows.is_empty() => Some(format!(
                "No {} bucket {range} with at least {} posts and {} authors has a surprise of {} or more (window {} buckets).",
                p.bucket, p.min_posts, p.min_authors, p.threshold, p.window
            )),
            Report::Sentiment(rows) if rows.is_empty() => {
                let what = p.asset.as_ref().map_or("any asset", |a| a.label());
                Some(format!("No post mentions {what} {range}."))
            }
            Report::Leadlag(l) if l.price_source.is_none() => Some(format!(
                "No price of {} is stored {range}; lead-lag needs prices.",
                l.asset.label()
            )),
            Report::Leadlag(l) if l.best.is_none() => Some(format!(
                "Too few buckets with both mentions and price returns for {} {range} to correlate.",
                l.asset.label()
            )),
            _ => None,
        }
    }

    /// The report as a table, with the reason when it is empty.
    pub fn render(&self, p: &Params) -> Rendered {
        let empty = self.empty_reason(p);
        let mut note = None;
        let table = match self {
            Report::Top(rows) => {
                let mut t = Table::new(vec![
                    "rank",
                    "asset",
                    "posts",
                    "mentions",
                    "dominance",
                    "balance",
                    "mean_score",
                    "weighted_score",
                    "prev_posts",
                    "change",
                ]);
                for (i, r) in rows.iter().enumerate() {
                    t.push(vec![
                        Cell::Int(i as i64 + 1),
                        asset_cell(&r.asset),
                        Cell::Int(r.counts.posts),
                        Cell::Int(r.counts.mentions),
                        Cell::Share(r.dominance),
                        Cell::Int(r.counts.balance()),
                        opt_float(r.counts.mean_score(), 3),
                        opt_float(r.weighted_score, 3),
                        Cell::Int(r.previous_posts),
                        r.change.map_or(Cell::Missing, Cell::Change),
                    ]);
                }
                t
            }
            Report::Asset(a, rows) => {
                let mut t = Table::new(vec![
                    "asset",
                    "bucket",
                    "posts",
                    "authors",
                    "dominance",
                    "positive",
                    "neutral",
                    "negative",
                    "mean_score",
                    "weighted_score",
                    "price",
                    "volume_z",
                    "sentiment_z",
                ]);
                // No rows when no bucket has a post, as the other reports print nothing found.
                if empty.is_none() {
                    for r in rows {
                        t.push(vec![
                            asset_cell(a),
                            Cell::Time(r.bucket),
                            Cell::Int(r.counts.posts),
                            Cell::Int(r.authors),
                            r.dominance.map_or(Cell::Missing, Cell::Share),
                            Cell::Int(r.counts.positive),
                            Cell::Int(r.counts.neutral),
                            Cell::Int(r.counts.negative),
                            opt_float(r.counts.mean_score(), 3),
                            opt_float(r.weighted_score, 3),
                            opt_float(r.price, 2),
                            opt_float(r.volume_z, 2),
                            opt_float(r.sentiment_z, 2),
                        ]);
                    }
                }
                t
            }
            Report::Spikes(rows) => {
                let mut t = Table::new(vec![
                    "asset", "bucket", "posts", "authors", "baseline", "surprise",
                ]);
                for r in rows {
                    t.push(vec![
                        asset_cell(&r.asset),
                        Cell::Time(r.bucket),
                        Cell::Int(r.posts),
                        Cell::Int(r.authors),
                        Cell::Float(r.baseline, 1),
                        Cell::Float(r.surprise, 1),
                    ]);
                }
                t
            }
            Report::Sentiment(rows) => {
                let mut t = Table::new(vec![
                    "asset",
                    "posts",
                    "scored",
                    "positive",
                    "neutral",
                    "negative",
                    "balance",
                    "net",
                    "mean_score",
                    "weighted_score",
                ]);
                for r in rows {
                    let c = &r.counts;
                    t.push(vec![
                        asset_cell(&r.asset),
                        Cell::Int(c.posts),
                        Cell::Int(c.scored()),
                        Cell::Int(c.positive),
                        Cell::Int(c.neutral),
                        Cell::Int(c.negative),
                        Cell::Int(c.balance()),
                        if c.scored() > 0 {
                            Cell::Share(c.balance() as f64 / c.scored() as f64)
                        } else {
                            Cell::Missing
                        },
                        opt_float(c.mean_score(), 3),
                        opt_float(r.engagement.weighted_score(), 3),
                    ]);
                }
                t
            }
            Report::Leadlag(l) => {
                // `best` marks the row of the best lag, so machine formats carry it too.
                let mut t = Table::new(vec!["asset", "lag", "lag_buckets", "r", "pairs", "best"]);
                if empty.is_none() {
                    for c in &l.correlations {
                        t.push(vec![
                            asset_cell(&l.asset),
                            Cell::Text(lag_label(c.lag, p.bucket)),
                            Cell::Int(c.lag),
                            opt_float(c.r, 3),
                            Cell::Int(c.n as i64),
                            Cell::Bool(l.best.is_some_and(|b| b.lag == c.lag)),
                        ]);
                    }
                }
                note = l.best.map(|b| {
                    let who = match b.lag {
                        0 => "volume and price move together".to_string(),
                        lag if lag > 0 => format!("volume leads price by {}", lag_label(lag, p.bucket)),
                        lag => format!("price leads volume by {}", &lag_label(lag, p.bucket)[1..]),
                    };
                    format!(
                        "Best lag for {}: {} (r = {:.3}, {} pairs, prices from {}): {who}. Positive lag = volume leads price.",
                        l.asset.label(),
                        lag_label(b.lag, p.bucket),
                        b.r.unwrap_or(0.0),
                        b.n,
                        l.price_source.as_deref().unwrap_or("-"),
                    )
                });
                t
            }
        };
        Rendered { table, empty, note }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::queries::Volume;

    fn spike_params(min_posts: i64, min_authors: i64) -> Params {
        Params {
            since: DateTime::<Utc>::MIN_UTC,
            until: DateTime::<Utc>::MAX_UTC,
            asset: None,
            platform: None,
            bucket: Bucket::Hour,
            limit: 10,
            window: 24,
            threshold: 6.0,
            population: Population::Humans,
            min_posts,
            min_authors,
            max_lag: None,
            price_source: None,
        }
    }

    /// 24 hours at `base` posts (from as many authors), then `(posts, authors)`.
    fn series(base: i64, last: (i64, i64)) -> Vec<Volume> {
        let t0 = DateTime::from_timestamp(1_600_000_000 / 3600 * 3600, 0).unwrap();
        (0..25)
            .map(|i| {
                let wobble = if base > 0 { i % 3 } else { 0 };
                let (posts, authors) = if i == 24 { last } else { (base + wobble, base) };
                Volume {
                    bucket: t0 + TimeDelta::hours(i),
                    posts,
                    authors,
                }
            })
            .collect()
    }

    #[test]
    fn a_five_post_bucket_never_ranks_under_the_floors() {
        let quiet_then_five = series(0, (5, 5));
        let floors = spike_params(20, 10);
        assert!(spikes_in("matic", &quiet_then_five, floors.since, &floors).is_empty());
        // Without floors the same bucket is wildly "significant": that is what the floors are for.
        let none = spike_params(1, 0);
        let rows = spikes_in("matic", &quiet_then_five, none.since, &none);
        assert_eq!(rows.len(), 1);
        assert!(rows[0].surprise > 6.0, "{rows:?}");
        // Enough posts from too few people is not a spike either.
        let one_account = series(0, (200, 3));
        assert!(spikes_in("x", &one_account, floors.since, &floors).is_empty());
    }

    #[test]
    fn a_large_spike_over_a_busy_baseline_ranks_above_the_floors() {
        let p = spike_params(20, 10);
        let rows = spikes_in("bitcoin", &series(40, (211, 150)), p.since, &p);
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].posts, rows[0].authors), (211, 150));
        assert!(rows[0].surprise > 50.0, "{rows:?}");
        // An ordinary hour does not.
        assert!(spikes_in("bitcoin", &series(40, (45, 40)), p.since, &p).is_empty());
    }

    #[test]
    fn lag_labels() {
        assert_eq!(lag_label(3, Bucket::Hour), "+3h");
        assert_eq!(lag_label(-3, Bucket::FiveMinutes), "-15m");
        assert_eq!(lag_label(-24, Bucket::FiveMinutes), "-2h");
        assert_eq!(lag_label(0, Bucket::Hour), "+0h");
        assert_eq!(lag_label(1, Bucket::Day), "+1d");
        assert_eq!(lag_label(24, Bucket::Hour), "+1d");
    }
}
