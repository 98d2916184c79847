//! Seeded synthetic series: the same fake market every time, for tests, benchmarks and screenshots.
//!
//! Mention volume follows a daily cycle with random bursts, and returns are built to follow volume
//! three buckets later (plus noise), so the correlogram has a known peak at lag +3. Nothing here is
//! real data; charts drawn from it should set `simulated`.

use chrono::{DateTime, Duration, Utc};

use super::series::{AssetVolume, ShareOfVoiceSeries, VolumePriceSeries};

/// The lag, in buckets, by which synthetic volume leads synthetic returns.
pub const LEAD: usize = 3;

/// `buckets` hourly buckets from `start` of a BTC-like asset around $58,000.
pub fn volume_price(seed: u64, start: DateTime<Utc>, buckets: usize) -> VolumePriceSeries {
    let mut rng = fastrand::Rng::with_seed(seed);
    let bucket = Duration::hours(1);
    let mut volume = Vec::with_capacity(buckets);
    let mut all_volume = Vec::with_capacity(buckets);
    let mut price = Vec::with_capacity(buckets);
    let mut sentiment = Vec::with_capacity(buckets);
    let mut v = Vec::with_capacity(buckets);
    for i in 0..buckets {
        let hour = (i % 24) as f64;
        let cycle = 1.0 + 0.35 * (std::f64::consts::TAU * (hour - 15.0) / 24.0).cos();
        let burst = if rng.f64() < 0.03 {
            2.0 + 3.0 * rng.f64()
        } else {
            1.0
        };
        v.push(1200.0 * cycle * burst * (0.85 + 0.3 * rng.f64()));
    }
    let mean = v.iter().sum::<f64>() / buckets.max(1) as f64;
    let mut p = 58_000.0;
    for i in 0..buckets {
        let t = start + bucket * i as i32;
        let lead = i
            .checked_sub(LEAD)
            .map(|j| (v[j] - mean) / mean)
            .unwrap_or(0.0);
        let r = 0.004 * lead + 0.012 * (rng.f64() - 0.5);
        p *= r.exp();
        volume.push((t, v[i].round() as i64));
        // 6–10% more posts from bots and promotions (no draw from `rng`: the other series keep
        // their values).
        let filtered = v[i] * (0.06 + 0.01 * ((i * 7) % 5) as f64);
        all_volume.push((t, (v[i] + filtered).round() as i64));
        price.push((t, p));
        sentiment.push((t, (0.12 * v[i] * (0.5 * lead + rng.f64() - 0.5)).round()));
    }
    VolumePriceSeries {
        asset_symbol: "BTC".into(),
        asset_name: "Bitcoin".into(),
        start,
        end: start + bucket * buckets as i32,
        bucket,
        volume,
        all_volume,
        price,
        price_source: Some("CoinGecko".into()),
        sentiment_balance: sentiment,
        simulated: true,
    }
}

/// Hourly mention counts of the `symbols` given, the first the busiest, over `buckets` buckets.
pub fn share_of_voice(
    seed: u64,
    start: DateTime<Utc>,
    buckets: usize,
    symbols: &[&str],
) -> ShareOfVoiceSeries {
    let mut rng = fastrand::Rng::with_seed(seed);
    let bucket = Duration::hours(1);
    let assets = symbols
        .iter()
        .enumerate()
        .map(|(k, sym)| {
            let base = 1000.0 / (k as f64 + 1.0).powf(1.2);
            let phase = rng.f64() * std::f64::consts::TAU;
            let volume = (0..buckets)
                .map(|i| {
                    let slow = 1.0 + 0.4 * (i as f64 / 60.0 + phase).sin();
                    let n = base * slow * (0.8 + 0.4 * rng.f64());
                    (start + bucket * i as i32, n.round() as i64)
                })
                .collect();
            AssetVolume {
                symbol: sym.to_string(),
                volume,
            }
        })
        .collect();
    ShareOfVoiceSeries {
        start,
        end: start + bucket * buckets as i32,
        bucket,
        assets,
        simulated: true,
    }
}
