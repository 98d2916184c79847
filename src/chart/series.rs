//! What the charts draw: plain data series, filled by whoever reads the rollups.
//!
//! The chart module never touches the database. The caller runs its SQL, fills one of these structs
//! and hands it to [`render_file`](super::render_file) or [`render_svg`](super::render_svg). Points
//! may come in any order, buckets may be missing (a gap, drawn as one) and the price may be absent
//! altogether; non-finite values are treated as missing.

use chrono::{DateTime, Duration, Utc};

use super::lead_lag::{align, lead_lag, log_returns};

/// The signature chart of one asset: mention volume bars, price line, and sentiment balance below.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumePriceSeries {
    /// Ticker, e.g. `BTC`.
    pub asset_symbol: String,
    /// Display name, e.g. `Bitcoin`.
    pub asset_name: String,
    /// Start of the time range (inclusive).
    pub start: DateTime<Utc>,
    /// End of the time range (exclusive).
    pub end: DateTime<Utc>,
    /// Width of one bucket, e.g. one hour.
    pub bucket: Duration,
    /// Human posts mentioning the asset per bucket, keyed by bucket start (what the reports count).
    pub volume: Vec<(DateTime<Utc>, i64)>,
    /// Every post mentioning the asset per bucket, automated and promotional ones included. Drawn
    /// behind `volume`, so the part the post classes left out shows; empty when not known.
    pub all_volume: Vec<(DateTime<Utc>, i64)>,
    /// Price in USD. Empty when no price feed covers the asset.
    pub price: Vec<(DateTime<Utc>, f64)>,
    /// Where the prices come from, e.g. `CoinGecko` or `Binance`; printed in the attribution line.
    pub price_source: Option<String>,
    /// Positive minus negative posts per bucket, keyed by bucket start.
    pub sentiment_balance: Vec<(DateTime<Utc>, f64)>,
    /// The posts are simulated demo data; the chart says so.
    pub simulated: bool,
}

/// One asset's line in the share-of-voice chart.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetVolume {
    /// Ticker shown in the legend, e.g. `ETH`. A series named `Other` works as a catch-all.
    pub symbol: String,
    /// Posts mentioning the asset per bucket, keyed by bucket start.
    pub volume: Vec<(DateTime<Utc>, i64)>,
}

/// Share of voice: each asset's part of the mentions of all assets given, per bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct ShareOfVoiceSeries {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub bucket: Duration,
    /// Any number of assets; the chart keeps the [`MAX_SHARE_SERIES`](super::MAX_SHARE_SERIES) - 1
    /// busiest and folds the rest into `Other`.
    pub assets: Vec<AssetVolume>,
    pub simulated: bool,
}

/// The lead–lag correlogram of one asset.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadLagSeries {
    pub asset_symbol: String,
    pub asset_name: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Width of one bucket; lag `k` is `k * bucket` of time.
    pub bucket: Duration,
    /// `(lag in buckets, r)` as [`lead_lag`] returns them; positive lag = volume leads price.
    pub correlations: Vec<(i32, Option<f64>)>,
    /// Buckets with both a volume and a return, for the significance band `±1.96/√n`.
    pub observations: usize,
    pub price_source: Option<String>,
    pub simulated: bool,
}

impl LeadLagSeries {
    /// Computes the correlogram of `series`: volume and log returns on the bucket grid, lags
    /// `-max_lag..=max_lag` buckets.
    pub fn from_volume_price(series: &VolumePriceSeries, max_lag: i32) -> LeadLagSeries {
        let aligned = align(
            series.start,
            series.end,
            series.bucket,
            &series.volume,
            &series.price,
        );
        let returns = log_returns(&aligned.price);
        let observations = returns.iter().filter(|r| r.is_finite()).count();
        LeadLagSeries {
            asset_symbol: series.asset_symbol.clone(),
            asset_name: series.asset_name.clone(),
            start: series.start,
            end: series.end,
            bucket: series.bucket,
            correlations: lead_lag(&aligned.volume, &returns, max_lag),
            observations,
            price_source: series.price_source.clone(),
            simulated: series.simulated,
        }
    }
}
