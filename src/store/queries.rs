//! Named read queries used by reports, charts and the dashboard.
//!
//! Every read of the stored data goes through a function here, so each metric is defined in one place
//! and the SQL can be tested against recounts from the base tables.
//!
//! Two sources answer the same questions:
//!
//! - `rollup_hourly`, kept current by the writer, answers hourly and daily buckets and any range made
//!   of whole hours. It is small and indexed by bucket.
//! - `mentions` joined to `sentiment` answers 5-minute buckets and ranges that do not fall on hour
//!   boundaries, since the rollup cannot split an hour. `mentions (asset_id, created_at)` is indexed;
//!   the all-asset totals go through `posts (created_at)` and the mentions primary key.
//!
//! Both count the same thing: a post counts once per asset it names, whatever the number of spans,
//! and sentiment counts each such post once. Buckets are aligned to the Unix epoch in UTC
//! (`date_bin`), so a day runs from 00:00 to 24:00 UTC. Ranges are half-open, `[since, until)`, and
//! callers pass them already widened to whole buckets ([`Bucket::align`]).
//!
//! Series come back dense: every bucket in the range is present, zero when nothing was posted, so
//! consumers can window over them without gap handling. Prices are the exception (a missing price is
//! not a zero price) and come back only for buckets that have one.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::Serialize;
use sqlx::{PgPool, Row};

use crate::model::{Platform, Score, SentimentLabel};

/// A bucket width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
pub enum Bucket {
    /// Five minutes, counted from `mentions` (the rollup is hourly).
    #[value(name = "5m")]
    #[serde(rename = "5m")]
    FiveMinutes,
    /// One hour, from `rollup_hourly`.
    #[value(name = "1h")]
    #[serde(rename = "1h")]
    Hour,
    /// One UTC day, from `rollup_hourly`.
    #[value(name = "1d")]
    #[serde(rename = "1d")]
    Day,
}

impl Bucket {
    pub fn width(self) -> TimeDelta {
        match self {
            Bucket::FiveMinutes => TimeDelta::minutes(5),
            Bucket::Hour => TimeDelta::hours(1),
            Bucket::Day => TimeDelta::days(1),
        }
    }

    fn seconds(self) -> i64 {
        self.width().num_seconds()
    }

    /// The start of the bucket holding `t`.
    pub fn floor(self, t: DateTime<Utc>) -> DateTime<Utc> {
        t.duration_trunc(self.width()).unwrap_or(t)
    }

    /// The start of the first bucket at or after `t`.
    pub fn ceil(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let f = self.floor(t);
        if f == t { t } else { f + self.width() }
    }

    /// `[since, until)` widened to whole buckets.
    pub fn align(
        self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> (DateTime<Utc>, DateTime<Utc>) {
        (self.floor(since), self.ceil(until))
    }

    /// How many buckets make up `d` (at least one).
    pub fn count_in(self, d: TimeDelta) -> usize {
        (d.num_seconds() / self.seconds()).max(1) as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::FiveMinutes => "5m",
            Bucket::Hour => "1h",
            Bucket::Day => "1d",
        }
    }
}

impl std::fmt::Display for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An asset as reports name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssetRef {
    pub id: String,
    /// From the `assets` table; `None` when the registry does not list the id.
    pub symbol: Option<String>,
}

impl AssetRef {
    /// The symbol if known, else the id.
    pub fn label(&self) -> &str {
        self.symbol.as_deref().unwrap_or(&self.id)
    }
}

/// Counts for one asset in one bucket (or over one range).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counts {
    /// Posts mentioning the asset (social volume).
    pub posts: i64,
    /// Mention spans (a post naming the asset twice counts twice).
    pub mentions: i64,
    pub positive: i64,
    pub neutral: i64,
    pub negative: i64,
    /// Sum of sentiment scores of the scored posts.
    pub score_sum: f64,
}

impl Counts {
    /// Posts with a sentiment score.
    pub fn scored(&self) -> i64 {
        self.positive + self.neutral + self.negative
    }

    /// Positive minus negative posts.
    pub fn balance(&self) -> i64 {
        self.positive - self.negative
    }

    /// Mean score of the scored posts; `None` when none was scored.
    pub fn mean_score(&self) -> Option<f64> {
        let n = self.scored();
        (n > 0).then(|| self.score_sum / n as f64)
    }

    /// Counts one post's score `times` times (−1 takes a counted score back out), as the writer and
    /// re-scoring add them to `rollup_hourly`.
    pub fn count_score(&mut self, score: Score, times: i64) {
        match score.label {
            SentimentLabel::Positive => self.positive += times,
            SentimentLabel::Neutral => self.neutral += times,
            SentimentLabel::Negative => self.negative += times,
        }
        self.score_sum += times as f64 * f64::from(score.score.clamp(-1.0, 1.0));
    }
}

/// The engagement-weighted sentiment of human posts: each scored human post weighs
/// `1 + ln(1 + likes + reposts)` ([`super::writer::engagement_weight`]), so a post a thousand people
/// liked counts about eight times as much as one nobody saw, not a thousand times.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Engagement {
    /// Σ weight of the scored human posts.
    pub weight_sum: f64,
    /// Σ weight × score of the scored human posts.
    pub weighted_score_sum: f64,
}

impl Engagement {
    /// Σ w·score ÷ Σ w; `None` when no human post was scored.
    pub fn weighted_score(&self) -> Option<f64> {
        (self.weight_sum > 0.0).then(|| self.weighted_score_sum / self.weight_sum)
    }
}

/// One bucket of one asset's series, with the all-asset total needed for dominance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BucketCounts {
    pub bucket: DateTime<Utc>,
    #[serde(flatten)]
    pub counts: Counts,
    /// Posts mentioning any asset, counted once per asset (the dominance denominator).
    pub all_assets_posts: i64,
    /// Distinct authors of the asset's human posts in the bucket (a post without an author counts as
    /// one). Exact for buckets of an hour or less; a longer bucket adds up its hours, as the rollup
    /// keeps authors per hour.
    pub authors: i64,
    #[serde(flatten)]
    pub engagement: Engagement,
}

impl BucketCounts {
    /// The asset's share of all asset-mentioning post counts; `None` for an empty bucket.
    pub fn dominance(&self) -> Option<f64> {
        (self.all_assets_posts > 0).then(|| self.counts.posts as f64 / self.all_assets_posts as f64)
    }
}

/// One asset's totals over a range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssetTotals {
    pub asset: AssetRef,
    #[serde(flatten)]
    pub counts: Counts,
    #[serde(flatten)]
    pub engagement: Engagement,
}

impl AssetTotals {
    /// The order of every ranking by volume: most posts first, ties by asset id.
    pub fn loudest_first(a: &AssetTotals, b: &AssetTotals) -> std::cmp::Ordering {
        b.counts
            .posts
            .cmp(&a.counts.posts)
            .then_with(|| a.asset.id.cmp(&b.asset.id))
    }
}

/// The `top_n` assets' share of voice over a range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShareOfVoice {
    /// `(asset id, posts, share of total)`, largest first.
    pub top: Vec<(String, i64, f64)>,
    /// Posts of all other assets together.
    pub other: i64,
    pub total: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error(
        "unknown asset `{0}`: not a symbol, name or id in the assets table, and nothing is stored under that id"
    )]
    UnknownAsset(String),
}

/// Which table answers a range: the rollup for whole hours, the base tables otherwise.
fn from_rollup(since: DateTime<Utc>, until: DateTime<Utc>, bucket: Bucket) -> bool {
    bucket != Bucket::FiveMinutes
        && Bucket::Hour.floor(since) == since
        && Bucket::Hour.floor(until) == until
}

fn platform_str(platform: Option<Platform>) -> Option<&'static str> {
    platform.map(Platform::as_str)
}

/// Where the stored data is, for a command that found nothing in the range it was asked: the first
/// and last hour with posts mentioning `ids` (labelled `names`), or with any post when none mention
/// them, and the flags that ask for it. Read from the hourly rollup, which outlives pruned posts.
pub async fn where_the_data_is(
    pool: &PgPool,
    ids: &[String],
    names: &str,
) -> Result<String, QueryError> {
    type Span = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let theirs: Span = if ids.is_empty() {
        (None, None)
    } else {
        sqlx::query_as(
            "SELECT min(bucket), max(bucket) FROM rollup_hourly WHERE asset_id = ANY($1)",
        )
        .bind(ids)
        .fetch_one(pool)
        .await?
    };
    let (whose, (first, last)) = match theirs {
        (Some(first), Some(last)) => (format!("posts mentioning {names}"), (first, last)),
        _ => match sqlx::query_as::<_, Span>("SELECT min(bucket), max(bucket) FROM rollup_hourly")
            .fetch_one(pool)
            .await?
        {
            (Some(first), Some(last)) => ("posts".to_string(), (first, last)),
            _ => {
                return Ok(
                    "nothing is stored yet (load an archive with `coinpulse import` or \
                           collect with `coinpulse run`)"
                        .into(),
                );
            }
        },
    };
    let end = last + TimeDelta::hours(1);
    Ok(format!(
        "stored {whose} run from {} to {} UTC (try --since {} --until {})",
        first.format("%Y-%m-%d %H:%M"),
        end.format("%Y-%m-%d %H:%M"),
        first.format("%Y-%m-%d"),
        (end + TimeDelta::days(1)).format("%Y-%m-%d"),
    ))
}

/// Resolves what a user typed (`BTC`, `btc`, `bitcoin`, `Bitcoin`) to an asset.
///
/// Order: an exact id, then a symbol (the best market-cap rank wins when several coins share it),
/// then a name. When the assets table has none of these, the input is taken as an id if any mention,
/// rollup row or price is stored under it; otherwise it is an unknown asset.
pub async fn resolve_asset(pool: &PgPool, input: &str) -> Result<AssetRef, QueryError> {
    let needle = input.trim();
    let found: Option<(String, String)> = sqlx::query_as(
        "SELECT id, symbol FROM assets
         WHERE id = lower($1) OR upper(symbol) = upper($1) OR lower(name) = lower($1)
         ORDER BY (id = lower($1)) DESC, (upper(symbol) = upper($1)) DESC, rank ASC NULLS LAST, id
         LIMIT 1",
    )
    .bind(needle)
    .fetch_optional(pool)
    .await?;
    if let Some((id, symbol)) = found {
        return Ok(AssetRef {
            id,
            symbol: Some(symbol),
        });
    }
    let id = needle.to_lowercase();
    let stored: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM rollup_hourly WHERE asset_id = $1)
             OR EXISTS (SELECT 1 FROM mentions WHERE asset_id = $1)
             OR EXISTS (SELECT 1 FROM prices WHERE asset_id = $1)",
    )
    .bind(&id)
    .fetch_one(pool)
    .await?;
    if stored && !id.is_empty() {
        Ok(AssetRef { id, symbol: None })
    } else {
        Err(QueryError::UnknownAsset(input.to_string()))
    }
}

/// The registry's symbol of each of `ids` that it lists under exactly that id: what
/// [`resolve_asset`] finds for an id, for many ids in one query.
pub async fn registry_symbols(
    pool: &PgPool,
    ids: &[&str],
) -> Result<HashMap<String, String>, QueryError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, symbol FROM assets WHERE id = ANY($1) AND id = lower(btrim(id))",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
}

/// `(id, symbol, posts, mentions, positive, neutral, negative, score_sum, weight_sum,
/// weighted_score_sum)`.
type TotalsRow = (
    String,
    Option<String>,
    i64,
    i64,
    i64,
    i64,
    i64,
    f64,
    f64,
    f64,
);
/// `(bucket, posts, mentions, positive, neutral, negative, score_sum, all_assets_posts, authors,
/// weight_sum, weighted_score_sum)`.
type CountsRow = (
    DateTime<Utc>,
    i64,
    i64,
    i64,
    i64,
    i64,
    f64,
    i64,
    i64,
    f64,
    f64,
);
/// A [`CountsRow`] followed by the count of every post.
type ChartRow = (
    DateTime<Utc>,
    i64,
    i64,
    i64,
    i64,
    i64,
    f64,
    i64,
    i64,
    f64,
    f64,
    i64,
);

impl From<CountsRow> for BucketCounts {
    fn from(r: CountsRow) -> BucketCounts {
        let (bucket, posts, mentions, positive, neutral, negative, score_sum, all, authors, w, ws) =
            r;
        BucketCounts {
            bucket,
            counts: Counts {
                posts,
                mentions,
                positive,
                neutral,
                negative,
                score_sum,
            },
            all_assets_posts: all,
            authors,
            engagement: Engagement {
                weight_sum: w,
                weighted_score_sum: ws,
            },
        }
    }
}

/// `sql` with `{weight}` replaced by the engagement weight of the post `p` (a constant expression).
fn weighted(sql: &str) -> String {
    sql.replace("{weight}", super::writer::ENGAGEMENT_WEIGHT_SQL)
}

/// Which posts a count includes. Reports count people by default (see [`crate::classify`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Population {
    /// Posts classed human (and posts stored before classification, which count as human).
    #[default]
    Humans,
    /// Every post: human, automated and promotional.
    All,
}

impl Population {
    /// `sql` with `{h}` replaced by the rollup column prefix and `{human}` by the condition on the
    /// posts `p` of the base-table path. Both are constants, so the result is safe SQL.
    fn sql(self, sql: &str) -> sqlx::AssertSqlSafe<String> {
        let (prefix, condition) = match self {
            Population::Humans => ("human_", "coalesce(p.class, 'human') = 'human'"),
            Population::All => ("", "true"),
        };
        sqlx::AssertSqlSafe(sql.replace("{h}", prefix).replace("{human}", condition))
    }
}

/// One asset's counts per bucket over `[since, until)` (aligned), dense, with the all-asset total of
/// each bucket for dominance. The series behind volume, dominance and sentiment.
pub async fn asset_buckets(
    pool: &PgPool,
    asset_id: &str,
    platform: Option<Platform>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    bucket: Bucket,
) -> Result<Vec<BucketCounts>, QueryError> {
    asset_buckets_of(
        pool,
        Population::Humans,
        asset_id,
        platform,
        since,
        until,
        bucket,
    )
    .await
}

/// [`asset_buckets`] counting `population` (the dominance denominator counts the same population).
pub async fn asset_buckets_of(
    pool: &PgPool,
    population: Population,
    asset_id: &str,
    platform: Option<Platform>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    bucket: Bucket,
) -> Result<Vec<BucketCounts>, QueryError> {
    let (since, until) = bucket.align(since, until);
    if since >= until {
        return Ok(Vec::new());
    }
    let sql = if from_rollup(since, until, bucket) {
        "WITH grid AS (
             SELECT generate_series($2::timestamptz, $3::timestamptz - $4 * interval '1 second',
                                    $4 * interval '1 second') AS bucket),
         a AS (
             SELECT date_bin($4 * interval '1 second', bucket, 'epoch'::timestamptz) AS b,
                    sum({h}posts) AS posts, sum({h}mentions) AS mentions,
                    sum({h}positive) AS positive, sum({h}neutral) AS neutral,
                    sum({h}negative) AS negative, sum({h}score_sum) AS score_sum,
                    sum(human_authors) AS authors, sum(human_weight_sum) AS weight_sum,
                    sum(human_weighted_score_sum) AS weighted_score_sum
             FROM rollup_hourly
             WHERE asset_id = $1 AND bucket >= $2 AND bucket < $3
               AND ($5::text IS NULL OR platform = $5)
             GROUP BY 1),
         t AS (
             SELECT date_bin($4 * interval '1 second', bucket, 'epoch'::timestamptz) AS b,
                    sum({h}posts) AS posts
             FROM rollup_hourly
             WHERE bucket >= $2 AND bucket < $3 AND ($5::text IS NULL OR platform = $5)
             GROUP BY 1)
         SELECT g.bucket, coalesce(a.posts, 0)::int8, coalesce(a.mentions, 0)::int8,
                coalesce(a.positive, 0)::int8, coalesce(a.neutral, 0)::int8,
                coalesce(a.negative, 0)::int8, coalesce(a.score_sum, 0)::float8,
                coalesce(t.posts, 0)::int8, coalesce(a.authors, 0)::int8,
                coalesce(a.weight_sum, 0)::float8, coalesce(a.weighted_score_sum, 0)::float8
         FROM grid g LEFT JOIN a ON a.b = g.bucket LEFT JOIN t ON t.b = g.bucket
         ORDER BY g.bucket"
    } else {
        // Authors, weights and scores are the human posts' whatever the population, as in the rollup.
        "WITH grid AS (
             SELECT generate_series($2::timestamptz, $3::timestamptz - $4 * interval '1 second',
                                    $4 * interval '1 second') AS bucket),
         pa AS (
             SELECT m.post_id, date_bin($4 * interval '1 second', m.created_at, 'epoch'::timestamptz) AS b,
                    count(*) AS spans, coalesce(p.class, 'human') = 'human' AS human,
                    p.platform, p.author, {weight} AS w
             FROM mentions m JOIN posts p ON p.id = m.post_id
             WHERE m.asset_id = $1 AND m.created_at >= $2 AND m.created_at < $3
               AND ($5::text IS NULL OR m.platform = $5) AND {human}
             GROUP BY 1, 2, p.class, p.platform, p.author, p.likes, p.reposts),
         a AS (
             SELECT pa.b, count(*) AS posts, sum(pa.spans) AS mentions,
                    count(*) FILTER (WHERE s.label = 'positive') AS positive,
                    count(*) FILTER (WHERE s.label = 'neutral') AS neutral,
                    count(*) FILTER (WHERE s.label = 'negative') AS negative,
                    sum(s.score::float8) AS score_sum,
                    count(DISTINCT (pa.platform, pa.author)) FILTER (WHERE human AND pa.author IS NOT NULL)
                      + count(*) FILTER (WHERE human AND pa.author IS NULL) AS authors,
                    sum(pa.w) FILTER (WHERE human AND s.score IS NOT NULL) AS weight_sum,
                    sum(pa.w * s.score::float8) FILTER (WHERE human) AS weighted_score_sum
             FROM pa LEFT JOIN sentiment s ON s.post_id = pa.post_id
             GROUP BY 1),
         t AS (
             SELECT date_bin($4 * interval '1 second', p.created_at, 'epoch'::timestamptz) AS b,
                    count(DISTINCT (m.post_id, m.asset_id)) AS posts
             FROM posts p JOIN mentions m ON m.post_id = p.id
             WHERE p.created_at >= $2 AND p.created_at < $3 AND ($5::text IS NULL OR p.platform = $5)
               AND {human}
             GROUP BY 1)
         SELECT g.bucket, coalesce(a.posts, 0)::int8, coalesce(a.mentions, 0)::int8,
                coalesce(a.positive, 0)::int8, coalesce(a.neutral, 0)::int8,
                coalesce(a.negative, 0)::int8, coalesce(a.score_sum, 0)::float8,
                coalesce(t.posts, 0)::int8, coalesce(a.authors, 0)::int8,
                coalesce(a.weight_sum, 0)::float8, coalesce(a.weighted_score_sum, 0)::float8
         FROM grid g LEFT JOIN a ON a.b = g.bucket LEFT JOIN t ON t.b = g.bucket
         ORDER BY g.bucket"
    };
    let rows: Vec<CountsRow> = sqlx::query_as(population.sql(&weighted(sql)))
        .bind(asset_id)
        .bind(since)
        .bind(until)
        .bind(bucket.seconds())
        .bind(platform_str(platform))
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(BucketCounts::from).collect())
}

/// Social volume: posts mentioning the asset per bucket, dense.
pub async fn volume_series(
    pool: &PgPool,
    asset_id: &str,
    platform: Option<Platform>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    bucket: Bucket,
) -> Result<Vec<(DateTime<Utc>, i64)>, QueryError> {
    volume_series_of(
        pool,
        Population::Humans,
        asset_id,
        platform,
        since,
        until,
        bucket,
    )
    .await
}

/// [`volume_series`] counting `population`: the posts of [`asset_buckets_of`] without the
/// all-asset totals, which cost a pass over every asset's rows of the range.
pub async fn volume_series_of(
    pool: &PgPool,
    population: Population,
    asset_id: &str,
    platform: Option<Platform>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    bucket: Bucket,
) -> Result<Vec<(DateTime<Utc>, i64)>, QueryError> {
    let (since, until) = bucket.align(since, until);
    if since >= until {
        return Ok(Vec::new());
    }
    let sql = if from_rollup(since, until, bucket) {
        "WITH grid AS (
             SELECT generate_series($2::timestamptz, $3::timestamptz - $4 * interval '1 second',
                                    $4 * interval '1 second') AS bucket),
         a AS (
             SELECT date_bin($4 * interval '1 second', bucket, 'epoch'::timestamptz) AS b,
                    sum({h}posts) AS posts
             FROM rollup_hourly
             WHERE asset_id = $1 AND bucket >= $2 AND bucket < $3
               AND ($5::text IS NULL OR platform = $5)
             GROUP BY 1)
         SELECT g.bucket, coalesce(a.posts, 0)::int8
         FROM grid g LEFT JOIN a ON a.b = g.bucket
         ORDER BY g.bucket"
    } else {
        "WITH grid AS (
             SELECT generate_series($2::timestamptz, $3::timestamptz - $4 * interval '1 second',
                                    $4 * interval '1 second') AS bucket),
         a AS (
             SELECT date_bin($4 * interval '1 second', m.created_at, 'epoch'::timestamptz) AS b,
                    count(DISTINCT m.post_id) AS posts
             FROM mentions m JOIN posts p ON p.id = m.post_id
             WHERE m.asset_id = $1 AND m.created_at >= $2 AND m.created_at < $3
               AND ($5::text IS NULL OR m.platform = $5) AND {human}
             GROUP BY 1)
         SELECT g.bucket, coalesce(a.posts, 0)::int8
         FROM grid g LEFT JOIN a ON a.b = g.bucket
         ORDER BY g.bucket"
    };
    Ok(sqlx::query_as(population.sql(sql))
        .bind(asset_id)
        .bind(since)
        .bind(until)
        .bind(bucket.seconds())
        .bind(platform_str(platform))
        .fetch_all(pool)
        .await?)
}

/// What a chart of one asset draws per bucket, dense: [`asset_buckets`] (human posts, with the
/// all-asset total for dominance) beside the count of every post, human or not, in one pass.
pub async fn chart_buckets(
    pool: &PgPool,
    asset_id: &str,
    platform: Option<Platform>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    bucket: Bucket,
) -> Result<Vec<(BucketCounts, i64)>, QueryError> {
    let (since, until) = bucket.align(since, until);
    if since >= until {
        return Ok(Vec::new());
    }
    let sql = if from_rollup(since, until, bucket) {
        // The asset's rows through the index on it, and every asset's total from a scan of the
        // range that adds up one column: asking the asset's seven columns of every row of the scan
        // (FILTER (WHERE asset_id = $1) on each) cost more than reading the asset's rows again.
        "WITH grid AS (
             SELECT generate_series($2::timestamptz, $3::timestamptz - $4 * interval '1 second',
                                    $4 * interval '1 second') AS bucket),
         a AS (
             SELECT date_bin($4 * interval '1 second', bucket, 'epoch'::timestamptz) AS b,
                    sum(human_posts) AS posts, sum(human_mentions) AS mentions,
                    sum(human_positive) AS positive, sum(human_neutral) AS neutral,
                    sum(human_negative) AS negative, sum(human_score_sum) AS score_sum,
                    sum(human_authors) AS authors, sum(human_weight_sum) AS weight_sum,
                    sum(human_weighted_score_sum) AS weighted_score_sum, sum(posts) AS all_posts
             FROM rollup_hourly
             WHERE asset_id = $1 AND bucket >= $2 AND bucket < $3
               AND ($5::text IS NULL OR platform = $5)
             GROUP BY 1),
         t AS (
             SELECT date_bin($4 * interval '1 second', bucket, 'epoch'::timestamptz) AS b,
                    sum(human_posts) AS total
             FROM rollup_hourly
             WHERE bucket >= $2 AND bucket < $3 AND ($5::text IS NULL OR platform = $5)
             GROUP BY 1)
         SELECT g.bucket, coalesce(a.posts, 0)::int8, coalesce(a.mentions, 0)::int8,
                coalesce(a.positive, 0)::int8, coalesce(a.neutral, 0)::int8,
                coalesce(a.negative, 0)::int8, coalesce(a.score_sum, 0)::float8,
                coalesce(t.total, 0)::int8, coalesce(a.authors, 0)::int8,
                coalesce(a.weight_sum, 0)::float8, coalesce(a.weighted_score_sum, 0)::float8,
                coalesce(a.all_posts, 0)::int8
         FROM grid g LEFT JOIN a ON a.b = g.bucket LEFT JOIN t ON t.b = g.bucket
         ORDER BY g.bucket"
    } else {
        "WITH grid AS (
             SELECT generate_series($2::timestamptz, $3::timestamptz - $4 * interval '1 second',
                                    $4 * interval '1 second') AS bucket),
         pa AS (
             SELECT m.post_id, date_bin($4 * interval '1 second', m.created_at, 'epoch'::timestamptz) AS b,
                    coalesce(p.class, 'human') = 'human' AS human, count(*) AS spans,
                    p.platform, p.author, {weight} AS w
             FROM mentions m JOIN posts p ON p.id = m.post_id
             WHERE m.asset_id = $1 AND m.created_at >= $2 AND m.created_at < $3
               AND ($5::text IS NULL OR m.platform = $5)
             GROUP BY 1, 2, 3, p.platform, p.author, p.likes, p.reposts),
         a AS (
             SELECT pa.b, count(*) FILTER (WHERE human) AS posts,
                    sum(pa.spans) FILTER (WHERE human) AS mentions,
                    count(*) FILTER (WHERE human AND s.label = 'positive') AS positive,
                    count(*) FILTER (WHERE human AND s.label = 'neutral') AS neutral,
                    count(*) FILTER (WHERE human AND s.label = 'negative') AS negative,
                    sum(s.score::float8) FILTER (WHERE human) AS score_sum,
                    count(DISTINCT (pa.platform, pa.author)) FILTER (WHERE human AND pa.author IS NOT NULL)
                      + count(*) FILTER (WHERE human AND pa.author IS NULL) AS authors,
                    sum(pa.w) FILTER (WHERE human AND s.score IS NOT NULL) AS weight_sum,
                    sum(pa.w * s.score::float8) FILTER (WHERE human) AS weighted_score_sum,
                    count(*) AS all_posts
             FROM pa LEFT JOIN sentiment s ON s.post_id = pa.post_id
             GROUP BY 1),
         t AS (
             SELECT date_bin($4 * interval '1 second', p.created_at, 'epoch'::timestamptz) AS b,
                    count(DISTINCT (m.post_id, m.asset_id)) AS posts
             FROM posts p JOIN mentions m ON m.post_id = p.id
             WHERE p.created_at >= $2 AND p.created_at < $3 AND ($5::text IS NULL OR p.platform = $5)
               AND coalesce(p.class, 'human') = 'human'
             GROUP BY 1)
         SELECT g.bucket, coalesce(a.posts, 0)::int8, coalesce(a.mentions, 0)::int8,
                coalesce(a.positive, 0)::int8, coalesce(a.neutral, 0)::int8,
                coalesce(a.negative, 0)::int8, coalesce(a.score_sum, 0)::float8,
                coalesce(t.posts, 0)::int8, coalesce(a.authors, 0)::int8,
                coalesce(a.weight_sum, 0)::float8, coalesce(a.weighted_score_sum, 0)::float8,
                coalesce(a.all_posts, 0)::int8
         FROM grid g LEFT JOIN a ON a.b = g.bucket LEFT JOIN t ON t.b = g.bucket
         ORDER BY g.bucket"
    };
    let rows: Vec<ChartRow> = sqlx::query_as(sqlx::AssertSqlSafe(weighted(sql)))
        .bind(asset_id)
        .bind(since)
        .bind(until)
        .bind(bucket.seconds())
        .bind(platform_str(platform))
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(b, posts, mentions, pos, neu, neg, sum, all, authors, w, ws, everyone)| {
                let counts = (b, posts, mentions, pos, neu, neg, sum, all, authors, w, ws);
                (BucketCounts::from(counts), everyone)
            },
        )
        .collect())
}

/// Social dominance: the asset's share (0..=1) of all asset-mentioning posts per bucket, dense;
/// `None` where no asset was mentioned at all.
pub async fn dominance_series(
    pool: &PgPool,
    asset_id: &str,
    platform: Option<Platform>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    bucket: Bucket,
) -> Result<Vec<(DateTime<Utc>, Option<f64>)>, QueryError> {
    Ok(
        asset_buckets(pool, asset_id, platform, since, until, bucket)
            .await?
            .into_iter()
            .map(|b| (b.bucket, b.dominance()))
            .collect(),
    )
}

/// Sentiment balance (positive − negative posts) per bucket, dense.
pub async fn sentiment_balance_series(
    pool: &PgPool,
    asset_id: &str,
    platform: Option<Platform>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    bucket: Bucket,
) -> Result<Vec<(DateTime<Utc>, i64)>, QueryError> {
    Ok(
        asset_buckets(pool, asset_id, platform, since, until, bucket)
            .await?
            .into_iter()
            .map(|b| (b.bucket, b.counts.balance()))
            .collect(),
    )
}

/// Mean sentiment score per bucket, dense; `None` where no post was scored.
pub async fn mean_score_series(
    pool: &PgPool,
    asset_id: &str,
    platform: Option<Platform>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    bucket: Bucket,
) -> Result<Vec<(DateTime<Utc>, Option<f64>)>, QueryError> {
    Ok(
        asset_buckets(pool, asset_id, platform, since, until, bucket)
            .await?
            .into_iter()
            .map(|b| (b.bucket, b.counts.mean_score()))
            .collect(),
    )
}

/// The price source with the most points for the asset in `[since, until)` (ties: by name).
pub async fn best_price_source(
    pool: &PgPool,
    asset_id: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Option<String>, QueryError> {
    Ok(sqlx::query_scalar(
        "SELECT source FROM prices WHERE asset_id = $1 AND time >= $2 AND time < $3
         GROUP BY source ORDER BY count(*) DESC, source LIMIT 1",
    )
    .bind(asset_id)
    .bind(since)
    .bind(until)
    .fetch_optional(pool)
    .await?)
}

/// The last price in each bucket (by price time) from `source`, or from [`best_price_source`] when
/// `None`. Sparse: buckets without a price are absent.
pub async fn price_series(
    pool: &PgPool,
    asset_id: &str,
    source: Option<&str>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    bucket: Bucket,
) -> Result<Vec<(DateTime<Utc>, f64)>, QueryError> {
    let (since, until) = bucket.align(since, until);
    let source = match source {
        Some(s) => s.to_string(),
        None => match best_price_source(pool, asset_id, since, until).await? {
            Some(s) => s,
            None => return Ok(Vec::new()),
        },
    };
    Ok(sqlx::query_as(
        "SELECT DISTINCT ON (b) date_bin($5 * interval '1 second', time, 'epoch'::timestamptz) AS b, price
         FROM prices
         WHERE asset_id = $1 AND source = $2 AND time >= $3 AND time < $4
         ORDER BY b, time DESC",
    )
    .bind(asset_id)
    .bind(source)
    .bind(since)
    .bind(until)
    .bind(bucket.seconds())
    .fetch_all(pool)
    .await?)
}

/// Every asset's totals over `[since, until)` (aligned to `bucket`), including assets the registry
/// does not list. Unordered.
pub async fn asset_totals(
    pool: &PgPool,
    platform: Option<Platform>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    bucket: Bucket,
) -> Result<Vec<AssetTotals>, QueryError> {
    asset_totals_of(pool, Population::Humans, platform, since, until, bucket).await
}

/// [`asset_totals`] counting `population`.
pub async fn asset_totals_of(
    pool: &PgPool,
    population: Population,
    platform: Option<Platform>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    bucket: Bucket,
) -> Result<Vec<AssetTotals>, QueryError> {
    let (since, until) = bucket.align(since, until);
    let sql = if from_rollup(since, until, bucket) {
        "WITH r AS (
             SELECT asset_id, sum({h}posts) AS posts, sum({h}mentions) AS mentions,
                    sum({h}positive) AS positive, sum({h}neutral) AS neutral,
                    sum({h}negative) AS negative, sum({h}score_sum) AS score_sum,
                    sum(human_weight_sum) AS weight_sum,
                    sum(human_weighted_score_sum) AS weighted_score_sum
             FROM rollup_hourly
             WHERE bucket >= $1 AND bucket < $2 AND ($3::text IS NULL OR platform = $3)
             GROUP BY asset_id)
         SELECT r.asset_id, a.symbol, r.posts::int8, r.mentions::int8, r.positive::int8,
                r.neutral::int8, r.negative::int8, r.score_sum::float8, r.weight_sum::float8,
                r.weighted_score_sum::float8
         FROM r LEFT JOIN assets a ON a.id = r.asset_id
         WHERE r.posts > 0"
    } else {
        "WITH pa AS (
             SELECT m.post_id, m.asset_id, count(*) AS spans,
                    coalesce(p.class, 'human') = 'human' AS human, {weight} AS w
             FROM posts p JOIN mentions m ON m.post_id = p.id
             WHERE p.created_at >= $1 AND p.created_at < $2 AND ($3::text IS NULL OR p.platform = $3)
               AND {human}
             GROUP BY 1, 2, p.class, p.likes, p.reposts),
         r AS (
             SELECT pa.asset_id, count(*) AS posts, sum(pa.spans) AS mentions,
                    count(*) FILTER (WHERE s.label = 'positive') AS positive,
                    count(*) FILTER (WHERE s.label = 'neutral') AS neutral,
                    count(*) FILTER (WHERE s.label = 'negative') AS negative,
                    coalesce(sum(s.score::float8), 0) AS score_sum,
                    coalesce(sum(pa.w) FILTER (WHERE human AND s.score IS NOT NULL), 0) AS weight_sum,
                    coalesce(sum(pa.w * s.score::float8) FILTER (WHERE human), 0) AS weighted_score_sum
             FROM pa LEFT JOIN sentiment s ON s.post_id = pa.post_id
             GROUP BY 1)
         SELECT r.asset_id, a.symbol, r.posts::int8, r.mentions::int8, r.positive::int8,
                r.neutral::int8, r.negative::int8, r.score_sum::float8, r.weight_sum::float8,
                r.weighted_score_sum::float8
         FROM r LEFT JOIN assets a ON a.id = r.asset_id"
    };
    let rows: Vec<TotalsRow> = sqlx::query_as(population.sql(&weighted(sql)))
        .bind(since)
        .bind(until)
        .bind(platform_str(platform))
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, symbol, posts, mentions, positive, neutral, negative, score_sum, w, ws)| {
                AssetTotals {
                    asset: AssetRef { id, symbol },
                    counts: Counts {
                        posts,
                        mentions,
                        positive,
                        neutral,
                        negative,
                        score_sum,
                    },
                    engagement: Engagement {
                        weight_sum: w,
                        weighted_score_sum: ws,
                    },
                }
            },
        )
        .collect())
}

/// Social volume of every asset per bucket: `asset id → dense series`. Used to find spikes across
/// all assets with one query.
pub async fn volume_by_asset(
    pool: &PgPool,
    platform: Option<Platform>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    bucket: Bucket,
) -> Result<BTreeMap<String, Vec<(DateTime<Utc>, i64)>>, QueryError> {
    Ok(
        volume_by_asset_of(pool, Population::Humans, platform, since, until, bucket)
            .await?
            .into_iter()
            .map(|(asset, series)| {
                let posts: Vec<(DateTime<Utc>, i64)> =
                    series.into_iter().map(|v| (v.bucket, v.posts)).collect();
                (asset, posts)
            })
            .collect(),
    )
}

/// One bucket of an asset's volume: posts and distinct human authors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Volume {
    pub bucket: DateTime<Utc>,
    pub posts: i64,
    /// Distinct authors of the human posts (a post without an author counts as one). From the
    /// rollup, a day bucket adds up its hours, so an author active in several hours counts in each.
    pub authors: i64,
}

/// Posts of `population` and distinct human authors of every asset per bucket, dense.
pub async fn volume_by_asset_of(
    pool: &PgPool,
    population: Population,
    platform: Option<Platform>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    bucket: Bucket,
) -> Result<BTreeMap<String, Vec<Volume>>, QueryError> {
    let rows = volume_rows_of(pool, population, platform, since, until, bucket).await?;
    Ok(dense_volumes(rows, since, until, bucket))
}

/// One asset's posts and distinct human authors per bucket: `(bucket, posts, authors)` in bucket
/// order, only the buckets with a rollup row or a post.
pub type AssetVolumes = (String, Buckets);

/// `(bucket, posts, authors)` rows.
type Buckets = Vec<(DateTime<Utc>, i64, i64)>;

/// [`volume_by_asset_of`] before it is made dense: only the buckets with posts, so a caller that
/// needs a few assets' series (spikes: those with a bucket above the floors) does not lay out
/// thousands of empty ones.
///
/// From the rollup, its rows come as they are and are added up per asset and bucket here: grouping
/// the tens of thousands of (asset, hour) pairs of a long range in PostgreSQL spilled its hash
/// table (or its sort) to disk at the default `work_mem` and took several times as long as the scan.
pub async fn volume_rows_of(
    pool: &PgPool,
    population: Population,
    platform: Option<Platform>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    bucket: Bucket,
) -> Result<Vec<AssetVolumes>, QueryError> {
    let (since, until) = bucket.align(since, until);
    if since >= until {
        return Ok(Vec::new());
    }
    let sql = if from_rollup(since, until, bucket) {
        "SELECT asset_id, date_bin($3 * interval '1 second', bucket, 'epoch'::timestamptz) AS b,
                {h}posts, human_authors
         FROM rollup_hourly
         WHERE bucket >= $1 AND bucket < $2 AND ($4::text IS NULL OR platform = $4)"
    } else {
        "SELECT m.asset_id, date_bin($3 * interval '1 second', p.created_at, 'epoch'::timestamptz) AS b,
                count(DISTINCT m.post_id) FILTER (WHERE {human})::int8,
                (count(DISTINCT p.author) FILTER (WHERE coalesce(p.class, 'human') = 'human')
                 + count(DISTINCT p.id) FILTER (WHERE coalesce(p.class, 'human') = 'human'
                                                  AND p.author IS NULL))::int8
         FROM posts p JOIN mentions m ON m.post_id = p.id
         WHERE p.created_at >= $1 AND p.created_at < $2 AND ($4::text IS NULL OR p.platform = $4)
         GROUP BY 1, 2"
    };
    let rows = sqlx::query(population.sql(sql))
        .bind(since)
        .bind(until)
        .bind(bucket.seconds())
        .bind(platform_str(platform))
        .fetch_all(pool)
        .await?;
    // Rows of one asset gathered by the asset's position, looked up without allocating its id.
    let mut position: HashMap<&str, usize> = HashMap::new();
    let mut by_asset: Vec<(&str, Buckets)> = Vec::new();
    for row in &rows {
        let asset: &str = row.try_get(0)?;
        let i = *position.entry(asset).or_insert_with(|| {
            by_asset.push((asset, Vec::new()));
            by_asset.len() - 1
        });
        by_asset[i]
            .1
            .push((row.try_get(1)?, row.try_get(2)?, row.try_get(3)?));
    }
    Ok(by_asset
        .into_iter()
        .map(|(asset, buckets)| (asset.to_string(), sum_buckets(buckets)))
        .collect())
}

/// [`volume_rows_of`] over `[warm, until)` for the assets (or the one `asset`) that can have a bucket
/// in `[since, until)` with at least `min_posts` posts: a superset of those that do, which the
/// caller narrows down exactly. Spikes read this: a handful of assets clear the floors, and
/// reading every asset's hours took most of the report's time (turning tens of thousands of rows
/// into Rust values, on both sides of the connection).
///
/// A bucket is made of at most `k` rows per hour, `k` the platforms with rollup rows in the range
/// (one with `platform`), so a bucket of `min_posts` posts has a row with at least
/// `min_posts / (k × hours per bucket)` of them: the assets with such a row in range are the
/// candidates, found in one pass over the range that keeps only those rows. Their hours are then
/// read asset by asset through the (asset, bucket) index, as one row of arrays each. When that
/// bound is a single post (day buckets, or floors as low as the platforms' count) every asset
/// with a post qualifies, and this reads them all as [`volume_rows_of`] does.
#[allow(clippy::too_many_arguments)]
pub async fn spike_volume_rows(
    pool: &PgPool,
    population: Population,
    platform: Option<Platform>,
    asset: Option<&str>,
    warm: DateTime<Utc>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    bucket: Bucket,
    min_posts: i64,
) -> Result<Vec<AssetVolumes>, QueryError> {
    let (warm, _) = bucket.align(warm, until);
    let (since, until) = bucket.align(since, until);
    if !from_rollup(warm, until, bucket) {
        let mut rows = volume_rows_of(pool, population, platform, warm, until, bucket).await?;
        rows.retain(|(id, _)| asset.is_none_or(|a| a == id));
        return Ok(rows);
    }
    let platforms = match platform {
        Some(_) => 1,
        None => platforms_in(pool, since, until).await?,
    };
    if platforms == 0 {
        return Ok(Vec::new());
    }
    let rows_per_bucket = platforms * (bucket.seconds() / 3600);
    let ids: Vec<String> = match asset {
        Some(a) => vec![a.to_string()],
        None if min_posts <= rows_per_bucket => {
            return volume_rows_of(pool, population, platform, warm, until, bucket).await;
        }
        None => {
            let bound = (min_posts + rows_per_bucket - 1) / rows_per_bucket;
            sqlx::query_scalar(population.sql(
                "SELECT DISTINCT asset_id FROM rollup_hourly
                 WHERE bucket >= $1 AND bucket < $2 AND ($3::text IS NULL OR platform = $3)
                   AND {h}posts >= $4",
            ))
            .persistent(false)
            .bind(since)
            .bind(until)
            .bind(platform_str(platform))
            .bind(bound)
            .fetch_all(pool)
            .await?
        }
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<AssetArrays> =
        sqlx::query_as(population.sql(
            "SELECT c.id, r.b, r.posts, r.authors
             FROM unnest($1::text[]) AS c(id)
             CROSS JOIN LATERAL (
                 SELECT array_agg(date_bin($4 * interval '1 second', bucket, 'epoch'::timestamptz)) AS b,
                        array_agg({h}posts) AS posts, array_agg(human_authors) AS authors
                 FROM rollup_hourly
                 WHERE asset_id = c.id AND bucket >= $2 AND bucket < $3
                   AND ($5::text IS NULL OR platform = $5)) r
             WHERE r.b IS NOT NULL",
        ))
        .bind(&ids)
        .bind(warm)
        .bind(until)
        .bind(bucket.seconds())
        .bind(platform_str(platform))
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, buckets, posts, authors)| {
            let rows = buckets
                .into_iter()
                .zip(posts)
                .zip(authors)
                .map(|((b, p), a)| (b, p, a))
                .collect();
            (id, sum_buckets(rows))
        })
        .collect())
}

/// One asset's rollup rows as arrays: id, buckets, posts, authors.
type AssetArrays = (String, Vec<DateTime<Utc>>, Vec<i64>, Vec<i64>);

/// How many platforms have rollup rows in `[since, until)`: the distinct platforms of the whole
/// rollup are walked through the (platform, bucket) index one at a time, each probed for a row in
/// the range.
///
/// This and the candidates' query are planned for their parameters each time (unnamed
/// statements): for a prepared statement PostgreSQL soon keeps a plan that guesses the range
/// small and reads all of it through the bucket index (25 ms here instead of half of one).
async fn platforms_in(
    pool: &PgPool,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<i64, QueryError> {
    Ok(sqlx::query_scalar(
        "WITH RECURSIVE p(platform) AS (
             SELECT min(platform) FROM rollup_hourly
             UNION ALL
             SELECT (SELECT min(r.platform) FROM rollup_hourly r WHERE r.platform > p.platform)
             FROM p WHERE p.platform IS NOT NULL)
         SELECT count(*) FROM p
         WHERE EXISTS (SELECT 1 FROM rollup_hourly r
                       WHERE r.platform = p.platform AND r.bucket >= $1 AND r.bucket < $2)",
    )
    .persistent(false)
    .bind(since)
    .bind(until)
    .fetch_one(pool)
    .await?)
}

/// `(bucket, posts, authors)` in bucket order, the rows of the same bucket (several platforms, the
/// hours of a day) added up.
fn sum_buckets(mut rows: Buckets) -> Buckets {
    rows.sort_unstable_by_key(|r| r.0);
    rows.dedup_by(|next, kept| {
        let same = next.0 == kept.0;
        if same {
            kept.1 += next.1;
            kept.2 += next.2;
        }
        same
    });
    rows
}

/// `rows` laid out on every bucket of `[since, until)`, per asset (assets without a post or an
/// author in any bucket are left out).
pub fn dense_volumes(
    rows: Vec<AssetVolumes>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    bucket: Bucket,
) -> BTreeMap<String, Vec<Volume>> {
    let (since, until) = bucket.align(since, until);
    if since >= until {
        return BTreeMap::new();
    }
    let n = ((until - since).num_seconds() / bucket.seconds()) as usize;
    let mut out: BTreeMap<String, Vec<Volume>> = BTreeMap::new();
    for (asset, buckets) in rows {
        if buckets
            .iter()
            .all(|(_, posts, authors)| *posts == 0 && *authors == 0)
        {
            continue;
        }
        let mut series: Vec<Volume> = (0..n)
            .map(|i| Volume {
                bucket: since + bucket.width() * i as i32,
                posts: 0,
                authors: 0,
            })
            .collect();
        for (b, posts, authors) in buckets {
            let i = ((b - since).num_seconds() / bucket.seconds()) as usize;
            if let Some(slot) = series.get_mut(i) {
                slot.posts = posts;
                slot.authors = authors;
            }
        }
        out.insert(asset, series);
    }
    out
}

/// Share of voice over `[since, until)`: the `top_n` assets by posts, the rest lumped together.
pub async fn share_of_voice(
    pool: &PgPool,
    platform: Option<Platform>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    top_n: usize,
) -> Result<ShareOfVoice, QueryError> {
    let mut totals = asset_totals(pool, platform, since, until, Bucket::Hour).await?;
    totals.sort_by(AssetTotals::loudest_first);
    let total: i64 = totals.iter().map(|t| t.counts.posts).sum();
    let share = |n: i64| {
        if total > 0 {
            n as f64 / total as f64
        } else {
            0.0
        }
    };
    let top: Vec<(String, i64, f64)> = totals
        .iter()
        .take(top_n)
        .map(|t| (t.asset.id.clone(), t.counts.posts, share(t.counts.posts)))
        .collect();
    let other = total - top.iter().map(|t| t.1).sum::<i64>();
    Ok(ShareOfVoice { top, other, total })
}

/// The first and last `created_at` of the stored posts; `None`s when nothing is stored.
pub async fn stored_post_span(
    pool: &PgPool,
) -> Result<(Option<DateTime<Utc>>, Option<DateTime<Utc>>), QueryError> {
    Ok(
        sqlx::query_as("SELECT min(created_at), max(created_at) FROM posts")
            .fetch_one(pool)
            .await?,
    )
}

/// The newest stored post's `created_at`; `None` when nothing is stored.
pub async fn newest_post(pool: &PgPool) -> Result<Option<DateTime<Utc>>, QueryError> {
    Ok(sqlx::query_scalar("SELECT max(created_at) FROM posts")
        .fetch_one(pool)
        .await?)
}

/// Stored posts, mentions and scored posts, for progress lines.
pub async fn stored_counts(pool: &PgPool) -> Result<(i64, i64, i64), QueryError> {
    Ok(sqlx::query_as(
        "SELECT (SELECT count(*) FROM posts), (SELECT count(*) FROM mentions),
                (SELECT count(*) FROM posts WHERE sentiment_label IS NOT NULL)",
    )
    .fetch_one(pool)
    .await?)
}

/// An asset's display name from the registry; `None` when the registry does not list the id.
pub async fn asset_name(pool: &PgPool, asset_id: &str) -> Result<Option<String>, QueryError> {
    Ok(sqlx::query_scalar("SELECT name FROM assets WHERE id = $1")
        .bind(asset_id)
        .fetch_optional(pool)
        .await?)
}

/// Whether any post in `[since, until)` is simulated demo data: its link starts with `url_prefix`
/// or its raw JSON carries a `coinpulse_demo` field.
pub async fn simulated_posts_in_range(
    pool: &PgPool,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    url_prefix: &str,
) -> Result<bool, QueryError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM posts
                        WHERE created_at >= $1 AND created_at < $2
                          AND (url LIKE $3 || '%' OR raw ? 'coinpulse_demo'))",
    )
    .bind(since)
    .bind(until)
    .bind(url_prefix)
    .fetch_one(pool)
    .await?)
}

/// Whether anything a chart of these assets could draw is stored in `[since, until)`: a rollup row
/// (which outlives pruned posts), a mention, or a price.
pub async fn anything_stored_for(
    pool: &PgPool,
    asset_ids: &[String],
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, QueryError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM rollup_hourly
                        WHERE asset_id = ANY($1) AND bucket >= date_trunc('hour', $2) AND bucket < $3)
             OR EXISTS (SELECT 1 FROM mentions
                        WHERE asset_id = ANY($1) AND created_at >= $2 AND created_at < $3)
             OR EXISTS (SELECT 1 FROM prices WHERE asset_id = ANY($1) AND time >= $2 AND time < $3)",
    )
    .bind(asset_ids)
    .bind(since)
    .bind(until)
    .fetch_one(pool)
    .await?)
}
