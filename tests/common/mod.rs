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
        class: None,
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

/// The human-only rollup columns as stored: key, posts, mentions, positive, neutral, negative,
/// authors, then score sum, weight sum and weighted score sum.
pub type HumanRow = (
    String,
    String,
    DateTime<Utc>,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    f64,
    f64,
    f64,
);

pub async fn human_rollup(pool: &PgPool) -> Vec<HumanRow> {
    sqlx::query_as(
        "SELECT asset_id, platform, bucket, human_posts, human_mentions, human_positive,
                human_neutral, human_negative, human_authors, human_score_sum, human_weight_sum,
                human_weighted_score_sum
         FROM rollup_hourly ORDER BY 1, 2, 3",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// The human-only columns recomputed from the posts (unclassified posts count as human; a post
/// without an author is an author of its own; weight 1 + ln(1 + likes + reposts)). Rows with no
/// human post are zeros.
pub async fn human_recount(pool: &PgPool) -> Vec<HumanRow> {
    sqlx::query_as(
        "WITH pa AS (
             SELECT m.post_id, m.asset_id, p.platform,
                    date_trunc('hour', p.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS bucket,
                    count(*) AS spans
             FROM mentions m JOIN posts p ON p.id = m.post_id
             GROUP BY 1, 2, 3, 4),
         h AS (
             SELECT pa.*, p.author, p.sentiment_label AS label, p.sentiment_score::float8 AS score,
                    1 + ln((1 + coalesce(p.likes, 0) + coalesce(p.reposts, 0))::float8) AS weight
             FROM pa JOIN posts p ON p.id = pa.post_id
             WHERE coalesce(p.class, 'human') = 'human')
         SELECT r.asset_id, r.platform, r.bucket,
                count(h.post_id), coalesce(sum(h.spans), 0)::int8,
                count(*) FILTER (WHERE h.label = 'positive'),
                count(*) FILTER (WHERE h.label = 'neutral'),
                count(*) FILTER (WHERE h.label = 'negative'),
                count(DISTINCT h.author) + count(DISTINCT h.post_id) FILTER (WHERE h.author IS NULL),
                coalesce(sum(h.score), 0),
                coalesce(sum(h.weight) FILTER (WHERE h.score IS NOT NULL), 0),
                coalesce(sum(h.weight * h.score), 0)
         FROM rollup_hourly r
         LEFT JOIN h ON h.asset_id = r.asset_id AND h.platform = r.platform AND h.bucket = r.bucket
         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Asserts the human-only rollup columns equal a recount from the posts (sums to float rounding).
pub async fn assert_human_rollup_matches_recount(pool: &PgPool) {
    let stored = human_rollup(pool).await;
    let recounted = human_recount(pool).await;
    assert_eq!(stored.len(), recounted.len());
    for (a, b) in stored.iter().zip(&recounted) {
        assert_eq!(
            (&a.0, &a.1, a.2, a.3, a.4, a.5, a.6, a.7, a.8),
            (&b.0, &b.1, b.2, b.3, b.4, b.5, b.6, b.7, b.8),
            "human rollup row differs from the recount"
        );
        for (x, y) in [(a.9, b.9), (a.10, b.10), (a.11, b.11)] {
            assert!((x - y).abs() < 1e-6, "human sums differ: {a:?} vs {b:?}");
        }
    }
}
