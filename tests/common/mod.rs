//! Helpers shared by the integration tests: synthetic posts and recounts straight from the base tables.
#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use coinpulse::model::{EnrichedPost, Mention, MentionKind, Platform, Post, Score, SentimentLabel};
use sqlx::PgPool;

pub fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2021, 1, 5, hour, minute, 0).unwrap()
}

pub fn post(id: &str, created_at: DateTime<Utc>, text: &str) -> Post {
    Post {
        platform: Platform::Twitter,
        external_id: id.to_string(),
        author: Some("u_test".into()),
        text: text.to_string(),
        url: None,
        created_at,
        language: Some("en".into()),
        engagement: Default::default(),
        raw: None,
    }
}

pub fn mention(asset: &str, start: usize, end: usize) -> Mention {
    Mention {
        asset: asset.to_string(),
        symbol: asset[..3].to_uppercase(),
        surface: "x".repeat(end - start),
        start,
        end,
        kind: MentionKind::Symbol,
    }
}

pub fn enriched(
    id: &str,
    created_at: DateTime<Utc>,
    mentions: Vec<Mention>,
    score: Option<(SentimentLabel, f32)>,
) -> EnrichedPost {
    EnrichedPost {
        post: post(id, created_at, "some text long enough for spans"),
        mentions,
        score: score.map(|(label, score)| Score { label, score }),
        text_truncated: false,
    }
}

/// `rollup_hourly` as stored, sorted.
pub async fn rollup(
    pool: &PgPool,
) -> Vec<(String, String, DateTime<Utc>, i64, i64, i64, i64, i64, f64)> {
    sqlx::query_as(
        "SELECT asset_id, platform, bucket, posts, mentions, positive, neutral, negative,
                score_sum
         FROM rollup_hourly ORDER BY 1, 2, 3",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// The rollup recomputed from posts, mentions and sentiment.
pub async fn recount(
    pool: &PgPool,
) -> Vec<(String, String, DateTime<Utc>, i64, i64, i64, i64, i64, f64)> {
    sqlx::query_as(
        "WITH pa AS (
             SELECT m.post_id, m.asset_id, p.platform, date_trunc('hour', p.created_at) AS bucket,
                    count(*) AS spans
             FROM mentions m JOIN posts p ON p.id = m.post_id
             GROUP BY 1, 2, 3, 4)
         SELECT pa.asset_id, pa.platform, pa.bucket, count(*), sum(pa.spans)::int8,
                count(*) FILTER (WHERE s.label = 'positive'),
                count(*) FILTER (WHERE s.label = 'neutral'),
                count(*) FILTER (WHERE s.label = 'negative'),
                coalesce(sum(s.score::float8), 0)
         FROM pa LEFT JOIN sentiment s ON s.post_id = pa.post_id
         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

pub async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A database of its own on the server named by DATABASE_URL (for tests that run the binary, which
/// cannot use `#[sqlx::test]`'s pool). Returns its URL and a pool on it.
pub async fn fresh_database() -> (String, PgPool) {
    use sqlx::postgres::PgPoolOptions;
    let base = std::env::var("DATABASE_URL")
        .expect("DATABASE_URL must point at a PostgreSQL server (scripts/test.sh sets one up)");
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&base)
        .await
        .unwrap();
    let name = format!("coinpulse_bin_{:016x}", fastrand::u64(..));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path(&format!("/{name}"));
    let url = url.to_string();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .unwrap();
    (url, pool)
}

/// Asserts the stored rollup equals a recount from posts, mentions and sentiment: counts exactly,
/// score sums to within float rounding (they are summed in different orders).
pub async fn assert_rollup_matches_recount(pool: &PgPool) {
    let stored = rollup(pool).await;
    let recounted = recount(pool).await;
    assert_eq!(
        stored.len(),
        recounted.len(),
        "rollup rows differ from the recount"
    );
    for (a, b) in stored.iter().zip(&recounted) {
        assert_eq!(
            (&a.0, &a.1, a.2, a.3, a.4, a.5, a.6, a.7),
            (&b.0, &b.1, b.2, b.3, b.4, b.5, b.6, b.7),
            "rollup row differs from the recount"
        );
        assert!(
            (a.8 - b.8).abs() < 1e-6,
            "score sums differ: {a:?} vs {b:?}"
        );
    }
}
