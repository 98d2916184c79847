//! The read the JSON API's asset list makes: every asset with stored mentions, its numbers over the
//! last 24 hours against the 24 before, its last price, and where its data starts and ends (so a
//! client showing history knows where to look).

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::queries::{Counts, QueryError};

/// One tracked asset in the API's asset list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssetOverview {
    pub id: String,
    /// `None` when the registry does not list the id.
    pub symbol: Option<String>,
    pub name: Option<String>,
    /// The 24 hours before `until`.
    pub last_24h: Counts,
    /// Posts in the 24 hours before those.
    pub previous_24h_posts: i64,
    /// The newest price at or before `until`, from any source.
    pub last_price: Option<f64>,
    /// First and last hour with a stored mention.
    pub first_bucket: DateTime<Utc>,
    pub last_bucket: DateTime<Utc>,
}

type Row = (
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
    i64,
    i64,
    i64,
    f64,
    i64,
    Option<f64>,
    DateTime<Utc>,
    DateTime<Utc>,
);

/// Every asset with a rollup row, loudest over the 24 hours before `until` first.
pub async fn asset_overview(
    pool: &PgPool,
    until: DateTime<Utc>,
) -> Result<Vec<AssetOverview>, QueryError> {
    let day = until - TimeDelta::hours(24);
    let rows: Vec<Row> = sqlx::query_as(
        "WITH tracked AS (
             SELECT asset_id, min(bucket) AS first_bucket, max(bucket) AS last_bucket
             FROM rollup_hourly GROUP BY asset_id),
         recent AS (
             SELECT asset_id,
                    sum(posts) FILTER (WHERE bucket >= $1) AS posts,
                    sum(mentions) FILTER (WHERE bucket >= $1) AS mentions,
                    sum(positive) FILTER (WHERE bucket >= $1) AS positive,
                    sum(neutral) FILTER (WHERE bucket >= $1) AS neutral,
                    sum(negative) FILTER (WHERE bucket >= $1) AS negative,
                    sum(score_sum) FILTER (WHERE bucket >= $1) AS score_sum,
                    sum(posts) FILTER (WHERE bucket < $1) AS previous
             FROM rollup_hourly
             WHERE bucket >= $1 - interval '24 hours' AND bucket < $2
             GROUP BY asset_id)
         SELECT t.asset_id, a.symbol, a.name,
                coalesce(r.posts, 0)::int8, coalesce(r.mentions, 0)::int8,
                coalesce(r.positive, 0)::int8, coalesce(r.neutral, 0)::int8,
                coalesce(r.negative, 0)::int8, coalesce(r.score_sum, 0)::float8,
                coalesce(r.previous, 0)::int8,
                (SELECT p.price FROM prices p WHERE p.asset_id = t.asset_id AND p.time < $2
                 ORDER BY p.time DESC LIMIT 1),
                t.first_bucket, t.last_bucket
         FROM tracked t
         LEFT JOIN assets a ON a.id = t.asset_id
         LEFT JOIN recent r ON r.asset_id = t.asset_id
         ORDER BY 4 DESC, 1",
    )
    .bind(day)
    .bind(until)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AssetOverview {
            id: r.0,
            symbol: r.1,
            name: r.2,
            last_24h: Counts {
                posts: r.3,
                mentions: r.4,
                positive: r.5,
                neutral: r.6,
                negative: r.7,
                score_sum: r.8,
            },
            previous_24h_posts: r.9,
            last_price: r.10,
            first_bucket: r.11,
            last_bucket: r.12,
        })
        .collect())
}
