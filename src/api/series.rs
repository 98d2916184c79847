//! `/api/v1/series`: what the charts draw for one asset, per bucket and dense (every bucket of the
//! range is present): human posts and all posts, sentiment counts and mean score, and the last price in the bucket.
//!
//! Columns are arrays of equal length beside one `time` array, the shape chart libraries take
//! without reshaping. Without `bucket`, it is chosen from the range so a chart has between roughly
//! 24 and 2,200 points: 5 minutes up to a day, hours up to 92 days, days beyond.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use super::ApiError;
use crate::model::Platform;
use crate::report::range::parse_range;
use crate::store::Store;
use crate::store::queries::{self, AssetRef, Bucket, BucketCounts};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesQuery {
    /// Symbol, name or id, as `--asset`.
    asset: Option<String>,
    /// As `--since` (default 7d).
    since: Option<String>,
    /// As `--until` (default now).
    until: Option<String>,
    /// `5m`, `1h` or `1d`; default chosen from the range.
    bucket: Option<String>,
    platform: Option<String>,
}

/// One asset's series.
#[derive(Debug, Serialize)]
pub struct Series {
    pub asset: AssetRef,
    pub bucket: Bucket,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub time: Vec<DateTime<Utc>>,
    /// Posts classed human (and posts stored before classification), as reports count them.
    pub posts: Vec<i64>,
    /// Every post: human, automated and promotional.
    pub all_posts: Vec<i64>,
    pub positive: Vec<i64>,
    pub neutral: Vec<i64>,
    pub negative: Vec<i64>,
    pub mean_score: Vec<Option<f64>>,
    /// Distinct authors of the human posts (a bucket longer than an hour adds up its hours).
    pub authors: Vec<i64>,
    /// Engagement-weighted mean score of the human posts.
    pub weighted_score: Vec<Option<f64>>,
    /// The asset's share of all asset-mentioning posts in the bucket.
    pub dominance: Vec<Option<f64>>,
    pub price: Vec<Option<f64>>,
}

/// The bucket a chart of `range` reads by default.
pub fn bucket_for(range: TimeDelta) -> Bucket {
    if range <= TimeDelta::days(1) {
        Bucket::FiveMinutes
    } else if range <= TimeDelta::days(92) {
        Bucket::Hour
    } else {
        Bucket::Day
    }
}

pub async fn series(
    State(store): State<Store>,
    query: Result<Query<SeriesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let input = q
        .asset
        .ok_or_else(|| ApiError::bad_request("the series needs asset (a symbol, name or id)"))?;
    let (since, until) = parse_range(
        q.since.as_deref().unwrap_or("7d"),
        q.until.as_deref(),
        Utc::now(),
    )
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let bucket = match &q.bucket {
        Some(b) => Bucket::from_str(b, false).map_err(|_| {
            ApiError::bad_request(format!("bucket: `{b}` is not one of 5m, 1h, 1d"))
        })?,
        None => bucket_for(until - since),
    };
    let platform = match &q.platform {
        Some(p) => Some(
            p.parse::<Platform>()
                .map_err(|e| ApiError::bad_request(format!("platform: {e}")))?,
        ),
        None => None,
    };
    let pool = store.pool();
    let asset = queries::resolve_asset(pool, &input).await?;
    let (since, until) = bucket.align(since, until);
    let rows = queries::chart_buckets(pool, &asset.id, platform, since, until, bucket).await?;
    let (buckets, everyone): (Vec<BucketCounts>, Vec<i64>) = rows.into_iter().unzip();
    let prices = queries::price_series(pool, &asset.id, None, since, until, bucket).await?;
    let price_at = |t: DateTime<Utc>| {
        prices
            .binary_search_by_key(&t, |x| x.0)
            .ok()
            .map(|i| prices[i].1)
    };
    let s = Series {
        asset,
        bucket,
        since,
        until,
        time: buckets.iter().map(|b| b.bucket).collect(),
        posts: buckets.iter().map(|b| b.counts.posts).collect(),
        all_posts: everyone,
        positive: buckets.iter().map(|b| b.counts.positive).collect(),
        neutral: buckets.iter().map(|b| b.counts.neutral).collect(),
        negative: buckets.iter().map(|b| b.counts.negative).collect(),
        mean_score: buckets.iter().map(|b| b.counts.mean_score()).collect(),
        authors: buckets.iter().map(|b| b.authors).collect(),
        weighted_score: buckets
            .iter()
            .map(|b| b.engagement.weighted_score())
            .collect(),
        dominance: buckets.iter().map(|b| b.dominance()).collect(),
        price: buckets.iter().map(|b| price_at(b.bucket)).collect(),
    };
    Ok(axum::Json(s).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_follows_the_range() {
        assert_eq!(bucket_for(TimeDelta::hours(24)), Bucket::FiveMinutes);
        assert_eq!(bucket_for(TimeDelta::days(7)), Bucket::Hour);
        assert_eq!(bucket_for(TimeDelta::days(90)), Bucket::Hour);
        assert_eq!(bucket_for(TimeDelta::days(120)), Bucket::Day);
    }
}
