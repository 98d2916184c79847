//! The batch writer: posts, mentions, scores, rollup increments and a cursor in one transaction.
//!
//! Idempotence is what makes at-least-once fetching safe. Posts are inserted with
//! `ON CONFLICT (platform, external_id) DO NOTHING RETURNING id`, and only the posts that came back
//! (the new ones) get mentions and rollup increments. A post's score travels in its own row, so it is
//! stored exactly when the post is. Re-writing a post therefore changes
//! nothing, and the rollup never counts a post twice, whether the duplicate arrives in the same batch,
//! a later batch, or from another process at the same moment (the unique index makes one of two
//! concurrent inserts wait for the other and then skip).
//!
//! With a retention period set, posts older than it are not written at all (see
//! [`super::retention`]): what has been pruned cannot come back and be counted again.
//!
//! Each post carries its class (see [`crate::classify`]); the rollup rows keep human-only counts and
//! the number of distinct human authors beside the totals, in the same transaction.
//!
//! Rows travel as one array per column through `INSERT ... SELECT FROM UNNEST(...)`: one round trip
//! and one statement per table, whatever the batch size.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

use super::dead_letter::{Delivery, RejectedPost, write_isolating};
use super::queries::Counts;
use super::{Store, StoreError};
use crate::classify::PostClass;
use crate::model::{EnrichedPost, Mention, Post, PricePoint, Score, hour_bucket};

/// What a batch write did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Posts that were new and are now stored.
    pub stored: u64,
    /// Posts that were already stored (or repeated within the batch) and were skipped.
    pub duplicates: u64,
    /// Posts older than the retention period, not stored (see [`super::retention`]).
    pub expired: u64,
    /// Posts created before this instant counted as expired (`None`: posts are kept forever).
    pub horizon: Option<DateTime<Utc>>,
    pub mentions: u64,
    /// Price rows inserted or changed.
    pub prices: u64,
    /// Stored posts removed because their authors deleted them upstream.
    pub deleted: u64,
    /// `(platform, external_id)` of the posts that were new, so callers can attribute them.
    pub fresh: HashSet<(String, String)>,
    /// Posts kept in `rejected_posts` instead (see [`super::dead_letter`]).
    pub rejected: Vec<RejectedPost>,
}

/// What became of one source's share of a delivery (see [`WriteOutcome::for_source`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SourceOutcome {
    /// New posts now stored.
    pub stored: u64,
    /// Posts already stored (or repeated), skipped.
    pub duplicates: u64,
    /// Posts older than the retention period, not stored.
    pub expired: u64,
    /// Rows of the source kept in `rejected_posts`, posts and prices.
    pub rejected: u64,
    /// Of those, posts refused by the database or by enrichment.
    pub rejected_posts: u64,
}

impl WriteOutcome {
    /// The share of this write that came from `source`, whose posts in the delivery were `posts`
    /// (and `enrichment_rejected` more that never reached the writer, kept in `rejected_posts`
    /// with it).
    pub fn for_source(
        &self,
        source: &str,
        posts: &[EnrichedPost],
        enrichment_rejected: u64,
    ) -> SourceOutcome {
        let rejected = self.rejected.iter().filter(|r| r.source == source);
        let rejected_posts = rejected.clone().filter(|r| r.platform != "price").count() as u64;
        let expired = self.horizon.map_or(0, |h| {
            posts.iter().filter(|p| p.post.created_at < h).count() as u64
        });
        let stored = posts.iter().filter(|p| self.is_fresh(p)).count() as u64;
        let fetched = posts.len() as u64 + enrichment_rejected;
        SourceOutcome {
            stored,
            duplicates: fetched.saturating_sub(expired + stored + rejected_posts),
            expired,
            rejected: rejected.count() as u64,
            rejected_posts,
        }
    }

    /// Whether `post` was new and is now stored by this write.
    pub fn is_fresh(&self, post: &EnrichedPost) -> bool {
        self.fresh.contains(&(
            post.post.platform.as_str().to_string(),
            post.post.external_id.clone(),
        ))
    }
}

/// A `rollup_hourly` row's key: asset, platform, hour.
pub(super) type RollupKey<'a> = (&'a str, &'a str, DateTime<Utc>);

/// A source position to save with a commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub source: String,
    pub position: serde_json::Value,
    /// When set, the cursor moves only while this holder has the source's lease: a process that
    /// lost its lease may still store what it fetched (idempotent) but cannot move the cursor back
    /// under the process that took over.
    pub lease_holder: Option<String>,
}

impl Store {
    /// Writes posts (with their mentions and scores), price points and source positions in one
    /// transaction. Retries at once when the server picks the transaction as a deadlock victim.
    pub async fn commit(
        &self,
        posts: &[EnrichedPost],
        prices: &[PricePoint],
        checkpoints: &[Checkpoint],
        model_version: &str,
    ) -> Result<WriteOutcome, StoreError> {
        self.deliver(&Delivery {
            posts,
            prices,
            checkpoints,
            model_version,
            ..Delivery::default()
        })
        .await
    }

    /// [`Store::commit`] with the source of each post and the posts rejected before the writer: posts
    /// the database refuses as invalid are isolated and kept in `rejected_posts` with those, and the
    /// rest is committed with the cursors (see [`super::dead_letter`]).
    pub async fn deliver(&self, delivery: &Delivery<'_>) -> Result<WriteOutcome, StoreError> {
        let checkpoints = delivery.checkpoints;
        let mut attempt = 0;
        loop {
            let result = async {
                let mut tx = self.pool.begin().await?;
                if !self.durable_commits {
                    sqlx::query("SET LOCAL synchronous_commit = off")
                        .execute(&mut *tx)
                        .await?;
                }
                let horizon = self.expiry_horizon(Utc::now());
                let mut outcome = write_isolating(&mut tx, delivery, horizon).await?;
                outcome.deleted = super::deletions::delete_posts(&mut tx, delivery.deleted).await?;
                for checkpoint in checkpoints {
                    save_cursor(&mut tx, checkpoint).await?;
                }
                tx.commit().await?;
                Ok::<_, StoreError>(outcome)
            }
            .await;
            match result {
                // The server chose this transaction as a deadlock or serialization victim and rolled
                // it back whole; running it again is the documented remedy.
                Err(e) if e.is_conflict() && attempt < 5 => {
                    attempt += 1;
                    tracing::debug!(attempt, error = %e, "Retrying a batch that lost a lock conflict.");
                }
                other => return other,
            }
        }
    }

    /// Writes `posts` and, if given, moves `cursor.0` to `cursor.1`, in one transaction.
    pub async fn write_batch(
        &self,
        posts: &[EnrichedPost],
        model_version: &str,
        cursor: Option<(&str, &serde_json::Value)>,
    ) -> Result<WriteOutcome, StoreError> {
        let checkpoints = unfenced(cursor);
        self.commit(posts, &[], &checkpoints, model_version).await
    }

    /// Writes price points (idempotent per asset, source and time; a repeated point with a new value
    /// updates it) and, if given, the cursor. Returns the rows inserted or changed.
    pub async fn write_prices(
        &self,
        prices: &[PricePoint],
        cursor: Option<(&str, &serde_json::Value)>,
    ) -> Result<u64, StoreError> {
        let checkpoints = unfenced(cursor);
        Ok(self.commit(&[], prices, &checkpoints, "").await?.prices)
    }
}

/// A cursor saved without a lease check (single-process callers: import, `poll`).
fn unfenced(cursor: Option<(&str, &serde_json::Value)>) -> Vec<Checkpoint> {
    cursor
        .map(|(source, position)| Checkpoint {
            source: source.to_string(),
            position: position.clone(),
            lease_holder: None,
        })
        .into_iter()
        .collect()
}

pub(super) async fn write_prices(
    tx: &mut Transaction<'_, Postgres>,
    prices: &[PricePoint],
) -> Result<u64, StoreError> {
    let mut written = 0;
    for chunk in prices.chunks(10_000) {
        let assets: Vec<&str> = chunk.iter().map(|p| p.asset.as_str()).collect();
        let times: Vec<DateTime<Utc>> = chunk.iter().map(|p| p.time).collect();
        let values: Vec<f64> = chunk.iter().map(|p| p.price).collect();
        let volumes: Vec<Option<f64>> = chunk.iter().map(|p| p.volume).collect();
        let sources: Vec<&str> = chunk.iter().map(|p| p.source.as_str()).collect();
        written += sqlx::query(
            "INSERT INTO prices (asset_id, time, price, volume, source)
             SELECT * FROM UNNEST($1::text[], $2::timestamptz[], $3::float8[], $4::float8[], $5::text[])
                  AS t(asset_id, time, price, volume, source)
             ORDER BY asset_id, source, time
             ON CONFLICT (asset_id, source, time) DO UPDATE
             SET price = EXCLUDED.price, volume = EXCLUDED.volume
             WHERE (prices.price, prices.volume) IS DISTINCT FROM (EXCLUDED.price, EXCLUDED.volume)",
        )
        .bind(&assets)
        .bind(&times)
        .bind(&values)
        .bind(&volumes)
        .bind(&sources)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    }
    Ok(written)
}

async fn save_cursor(
    tx: &mut Transaction<'_, Postgres>,
    checkpoint: &Checkpoint,
) -> Result<(), StoreError> {
    let moved = sqlx::query(
        "INSERT INTO cursors (source, position, updated_at)
         SELECT $1, $2, now()
         WHERE $3::text IS NULL OR EXISTS (
             SELECT 1 FROM source_leases
             WHERE source = $1 AND holder = $3 AND expires_at > clock_timestamp())
         ON CONFLICT (source) DO UPDATE SET position = EXCLUDED.position, updated_at = now()",
    )
    .bind(&checkpoint.source)
    .bind(&checkpoint.position)
    .bind(checkpoint.lease_holder.as_deref())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if moved == 0 {
        tracing::warn!(source = %checkpoint.source, "Lease lost before commit; the cursor stays where the new holder keeps it.");
    }
    Ok(())
}

pub(super) async fn write_posts(
    tx: &mut Transaction<'_, Postgres>,
    batch: &[EnrichedPost],
    model_version: &str,
    horizon: Option<DateTime<Utc>>,
) -> Result<WriteOutcome, StoreError> {
    let expired = |p: &EnrichedPost| horizon.is_some_and(|h| p.post.created_at < h);
    let expired_count = batch.iter().filter(|p| expired(p)).count();
    if batch.len() == expired_count {
        return Ok(WriteOutcome {
            expired: expired_count as u64,
            horizon,
            ..WriteOutcome::default()
        });
    }
    // Repeats inside the batch are duplicates too; keep the first occurrence.
    let mut seen = HashSet::with_capacity(batch.len());
    let mut unique: Vec<&EnrichedPost> = batch
        .iter()
        .filter(|p| !expired(p))
        .filter(|p| seen.insert((p.post.platform, p.post.external_id.as_str())))
        .collect();
    // Two writers inserting overlapping posts in different orders would each hold a key the other
    // waits for: a deadlock. Inserting in key order (here and in the ORDER BY below) prevents it.
    unique.sort_by(|a, b| {
        (a.post.platform.as_str(), a.post.external_id.as_str())
            .cmp(&(b.post.platform.as_str(), b.post.external_id.as_str()))
    });

    let n = unique.len();
    let mut platforms = Vec::with_capacity(n);
    let mut external_ids = Vec::with_capacity(n);
    let mut authors = Vec::with_capacity(n);
    let mut texts = Vec::with_capacity(n);
    let mut urls = Vec::with_capacity(n);
    let mut created = Vec::with_capacity(n);
    let mut languages = Vec::with_capacity(n);
    let mut replies = Vec::with_capacity(n);
    let mut reposts = Vec::with_capacity(n);
    let mut likes = Vec::with_capacity(n);
    let mut views = Vec::with_capacity(n);
    let mut followers = Vec::with_capacity(n);
    let mut raws = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    let mut scores = Vec::with_capacity(n);
    let mut classes = Vec::with_capacity(n);
    let mut reasons = Vec::with_capacity(n);
    let mut truncated = Vec::with_capacity(n);
    for p in &unique {
        let post = &p.post;
        platforms.push(post.platform.as_str());
        external_ids.push(post.external_id.as_str());
        authors.push(post.author.as_deref());
        // PostgreSQL text cannot hold NUL; it carries no meaning in a post.
        texts.push(strip_nul(&post.text));
        urls.push(post.url.as_deref());
        created.push(post.created_at);
        languages.push(post.language.as_deref());
        replies.push(post.engagement.replies);
        reposts.push(post.engagement.reposts);
        likes.push(post.engagement.likes);
        views.push(post.engagement.views);
        followers.push(post.engagement.author_followers);
        raws.push(post.raw.as_ref());
        labels.push(p.score.map(|s| s.label.as_str()));
        scores.push(p.score.map(|s| s.score.clamp(-1.0, 1.0)));
        classes.push(p.class.as_ref().map(|c| c.class.as_str()));
        reasons.push(p.class.as_ref().map(|c| c.reason_names().join(",")));
        truncated.push(p.text_truncated);
    }
    let inserted: Vec<(i64, String, String)> = sqlx::query_as(
        "INSERT INTO posts (platform, external_id, author, text, url, created_at, language,
                            replies, reposts, likes, views, author_followers, raw,
                            sentiment_label, sentiment_score, sentiment_model, class, class_reasons,
                            text_truncated)
         SELECT t.platform, t.external_id, t.author, t.text, t.url, t.created_at, t.language,
                t.replies, t.reposts, t.likes, t.views, t.author_followers, t.raw, t.label, t.score,
                CASE WHEN t.label IS NOT NULL THEN $16 END, t.class, string_to_array(t.reasons, ','),
                t.truncated
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                     $6::timestamptz[], $7::text[], $8::int8[], $9::int8[], $10::int8[],
                     $11::int8[], $12::int8[], $13::jsonb[], $14::text[], $15::float4[],
                     $17::text[], $18::text[], $19::bool[])
              AS t(platform, external_id, author, text, url, created_at, language, replies, reposts,
                   likes, views, author_followers, raw, label, score, class, reasons, truncated)
         ORDER BY t.platform, t.external_id
         ON CONFLICT (platform, external_id) DO NOTHING
         RETURNING id, platform, external_id",
    )
    .bind(&platforms)
    .bind(&external_ids)
    .bind(&authors)
    .bind(&texts)
    .bind(&urls)
    .bind(&created)
    .bind(&languages)
    .bind(&replies)
    .bind(&reposts)
    .bind(&likes)
    .bind(&views)
    .bind(&followers)
    .bind(&raws)
    .bind(&labels)
    .bind(&scores)
    .bind(model_version)
    .bind(&classes)
    .bind(&reasons)
    .bind(&truncated)
    .fetch_all(&mut **tx)
    .await?;

    let ids: HashMap<(&str, &str), i64> = inserted
        .iter()
        .map(|(id, platform, ext)| ((platform.as_str(), ext.as_str()), *id))
        .collect();
    let fresh: Vec<(i64, &EnrichedPost)> = unique
        .iter()
        .filter_map(|p| {
            ids.get(&(p.post.platform.as_str(), p.post.external_id.as_str()))
                .map(|id| (*id, *p))
        })
        .collect();

    let mentions = write_mentions(tx, &fresh).await?;
    write_rollup(tx, &fresh).await?;

    Ok(WriteOutcome {
        stored: fresh.len() as u64,
        duplicates: (batch.len() - expired_count - fresh.len()) as u64,
        expired: expired_count as u64,
        horizon,
        mentions,
        prices: 0,
        deleted: 0,
        fresh: inserted
            .into_iter()
            .map(|(_, platform, external_id)| (platform, external_id))
            .collect(),
        rejected: Vec::new(),
    })
}

async fn write_mentions(
    tx: &mut Transaction<'_, Postgres>,
    fresh: &[(i64, &EnrichedPost)],
) -> Result<u64, StoreError> {
    insert_mentions(
        tx,
        fresh.iter().map(|(id, p)| {
            (
                *id,
                p.post.platform.as_str(),
                p.post.created_at,
                p.mentions.as_slice(),
            )
        }),
    )
    .await
}

/// Inserts the mentions of stored posts, given as (post id, platform, created_at, mentions): one row
/// per distinct start in a post, the first mention at a start kept. Returns the rows inserted.
pub(super) async fn insert_mentions<'a>(
    tx: &mut Transaction<'_, Postgres>,
    posts: impl IntoIterator<Item = (i64, &'a str, DateTime<Utc>, &'a [Mention])>,
) -> Result<u64, StoreError> {
    let mut post_ids = Vec::new();
    let mut assets = Vec::new();
    let mut surfaces = Vec::new();
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    let mut kinds = Vec::new();
    let mut platforms = Vec::new();
    let mut created = Vec::new();
    for (id, platform, created_at, mentions) in posts {
        let mut starts_seen = HashSet::new();
        for m in mentions {
            if !starts_seen.insert(m.start) {
                continue;
            }
            post_ids.push(id);
            assets.push(m.asset.as_str());
            surfaces.push(strip_nul(&m.surface));
            starts.push(m.start as i32);
            ends.push(m.end as i32);
            kinds.push(m.kind.as_str());
            platforms.push(platform);
            created.push(created_at);
        }
    }
    if post_ids.is_empty() {
        return Ok(0);
    }
    let result = sqlx::query(
        "INSERT INTO mentions (post_id, asset_id, surface, start_byte, end_byte, kind, platform, created_at)
         SELECT * FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::int4[], $5::int4[],
                              $6::text[], $7::text[], $8::timestamptz[])",
    )
    .bind(&post_ids)
    .bind(&assets)
    .bind(&surfaces)
    .bind(&starts)
    .bind(&ends)
    .bind(&kinds)
    .bind(&platforms)
    .bind(&created)
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected())
}

/// The weight of a post in the engagement-weighted sentiment: 1 + ln(1 + likes + reposts), so a post
/// nobody reacted to counts 1 and a thousand reactions count about 8, not a thousand.
pub fn engagement_weight(post: &Post) -> f64 {
    let likes = post.engagement.likes.unwrap_or(0).max(0);
    let reposts = post.engagement.reposts.unwrap_or(0).max(0);
    1.0 + ((1 + likes + reposts) as f64).ln()
}

/// [`engagement_weight`] of a stored post in SQL, over `posts` aliased `p`.
pub(super) const ENGAGEMENT_WEIGHT_SQL: &str =
    "1 + ln((1 + greatest(coalesce(p.likes, 0), 0) + greatest(coalesce(p.reposts, 0), 0))::float8)";

/// `sql` with `{weight}` replaced by a stored post's engagement weight (over `posts` aliased `p`), for
/// the rewriters that take back exactly what the writer counted for a post.
pub(super) fn with_weight(sql: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql.replace("{weight}", ENGAGEMENT_WEIGHT_SQL))
}

/// Whether a post counts in the human-only columns: classed human, or not classed at all.
pub(super) fn counts_as_human(class: Option<PostClass>) -> bool {
    class.is_none_or(|c| c == PostClass::Human)
}

/// One `rollup_hourly` row's increments: the totals and their human-only part.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct RollupDelta {
    pub total: Counts,
    pub human: Counts,
    pub human_authors: i64,
    pub human_weight_sum: f64,
    pub human_weighted_score_sum: f64,
}

impl RollupDelta {
    /// Counts a post that names the row's asset in `spans` distinct spans `times` times (−1 takes it
    /// back): the all-post columns, and the human-only ones when `human`. Authors are counted apart.
    pub fn count_post(
        &mut self,
        spans: i64,
        score: Option<Score>,
        human: bool,
        weight: f64,
        times: i64,
    ) {
        self.total.posts += times;
        self.total.mentions += times * spans;
        if let Some(score) = score {
            self.total.count_score(score, times);
        }
        if human {
            self.human.posts += times;
            self.human.mentions += times * spans;
            if let Some(score) = score {
                self.count_human_score(score, weight, times);
            }
        }
    }

    /// Counts a human post's score `times` times in the human and engagement-weighted columns.
    pub fn count_human_score(&mut self, score: Score, weight: f64, times: i64) {
        self.human.count_score(score, times);
        self.human_weight_sum += times as f64 * weight;
        self.human_weighted_score_sum +=
            times as f64 * weight * f64::from(score.score.clamp(-1.0, 1.0));
    }
}

async fn write_rollup(
    tx: &mut Transaction<'_, Postgres>,
    fresh: &[(i64, &EnrichedPost)],
) -> Result<(), StoreError> {
    let mut deltas: HashMap<RollupKey, RollupDelta> = HashMap::new();
    let mut authors: Vec<(RollupKey, &str)> = Vec::new();
    for (_, p) in fresh {
        let bucket = hour_bucket(p.post.created_at);
        let platform = p.post.platform.as_str();
        let human = counts_as_human(p.class.as_ref().map(|c| c.class));
        let weight = engagement_weight(&p.post);
        // A post counts once per asset however often it names it; every span counts as a mention.
        let mut per_asset: HashMap<&str, i64> = HashMap::new();
        let mut starts_seen = HashSet::new();
        for m in &p.mentions {
            if starts_seen.insert(m.start) {
                *per_asset.entry(m.asset.as_str()).or_default() += 1;
            }
        }
        for (asset, spans) in per_asset {
            let key = (asset, platform, bucket);
            let d = deltas.entry(key).or_default();
            d.count_post(spans, p.score, human, weight, 1);
            if human {
                match p.post.author.as_deref() {
                    Some(author) => authors.push((key, author)),
                    // Nobody to tell apart: the post is its own author.
                    None => d.human_authors += 1,
                }
            }
        }
    }
    for key in new_authors(tx, authors).await? {
        deltas.entry(key).or_default().human_authors += 1;
    }
    let mut rows: Vec<_> = deltas.into_iter().collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    add_to_rollup(tx, &rows).await
}

/// Records the authors of human posts per rollup row and returns one key per author not seen there
/// before (by this or any earlier batch).
async fn new_authors<'a>(
    tx: &mut Transaction<'_, Postgres>,
    mut authors: Vec<(RollupKey<'a>, &'a str)>,
) -> Result<Vec<RollupKey<'a>>, StoreError> {
    if authors.is_empty() {
        return Ok(Vec::new());
    }
    // Key order (as everywhere in the writer) so concurrent batches cannot deadlock.
    authors.sort_unstable();
    authors.dedup();
    let assets: Vec<&str> = authors.iter().map(|((a, _, _), _)| *a).collect();
    let platforms: Vec<&str> = authors.iter().map(|((_, p, _), _)| *p).collect();
    let buckets: Vec<DateTime<Utc>> = authors.iter().map(|((_, _, b), _)| *b).collect();
    let names: Vec<std::borrow::Cow<'_, str>> = authors.iter().map(|(_, a)| strip_nul(a)).collect();
    let inserted: Vec<(String, String, DateTime<Utc>)> = sqlx::query_as(
        "INSERT INTO rollup_authors (asset_id, platform, bucket, author)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::text[])
         ON CONFLICT DO NOTHING
         RETURNING asset_id, platform, bucket",
    )
    .bind(&assets)
    .bind(&platforms)
    .bind(&buckets)
    .bind(&names)
    .fetch_all(&mut **tx)
    .await?;
    // Map the returned rows back onto the borrowed keys.
    let keys: HashMap<(&str, &str, DateTime<Utc>), RollupKey<'a>> =
        authors.iter().map(|(k, _)| (*k, *k)).collect();
    Ok(inserted
        .iter()
        .filter_map(|(a, p, b)| keys.get(&(a.as_str(), p.as_str(), *b)).copied())
        .collect())
}

/// Adds each row's counts (increments, negative to take some back) to its `rollup_hourly` row
/// (created at zero when missing). `rows` must be sorted
/// by key: concurrent transactions then lock rollup rows in the same order, so none deadlock.
pub(super) async fn add_to_rollup(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[(RollupKey<'_>, RollupDelta)],
) -> Result<(), StoreError> {
    debug_assert!(rows.is_sorted_by(|a, b| a.0 <= b.0));
    if rows.is_empty() {
        return Ok(());
    }
    let column =
        |f: &dyn Fn(&RollupDelta) -> i64| rows.iter().map(|(_, d)| f(d)).collect::<Vec<i64>>();
    let real =
        |f: &dyn Fn(&RollupDelta) -> f64| rows.iter().map(|(_, d)| f(d)).collect::<Vec<f64>>();
    let assets: Vec<&str> = rows.iter().map(|((a, _, _), _)| *a).collect();
    let platforms: Vec<&str> = rows.iter().map(|((_, p, _), _)| *p).collect();
    let buckets: Vec<DateTime<Utc>> = rows.iter().map(|((_, _, b), _)| *b).collect();
    sqlx::query(
        "INSERT INTO rollup_hourly AS r
                (asset_id, platform, bucket, posts, mentions, positive, neutral, negative, score_sum,
                 human_posts, human_mentions, human_positive, human_neutral, human_negative,
                 human_score_sum, human_authors, human_weight_sum, human_weighted_score_sum)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::int8[], $5::int8[],
                              $6::int8[], $7::int8[], $8::int8[], $9::float8[], $10::int8[],
                              $11::int8[], $12::int8[], $13::int8[], $14::int8[], $15::float8[],
                              $16::int8[], $17::float8[], $18::float8[])
         ON CONFLICT (asset_id, platform, bucket) DO UPDATE SET
             posts = r.posts + EXCLUDED.posts,
             mentions = r.mentions + EXCLUDED.mentions,
             positive = r.positive + EXCLUDED.positive,
             neutral = r.neutral + EXCLUDED.neutral,
             negative = r.negative + EXCLUDED.negative,
             score_sum = r.score_sum + EXCLUDED.score_sum,
             human_posts = r.human_posts + EXCLUDED.human_posts,
             human_mentions = r.human_mentions + EXCLUDED.human_mentions,
             human_positive = r.human_positive + EXCLUDED.human_positive,
             human_neutral = r.human_neutral + EXCLUDED.human_neutral,
             human_negative = r.human_negative + EXCLUDED.human_negative,
             human_score_sum = r.human_score_sum + EXCLUDED.human_score_sum,
             human_authors = r.human_authors + EXCLUDED.human_authors,
             human_weight_sum = r.human_weight_sum + EXCLUDED.human_weight_sum,
             human_weighted_score_sum = r.human_weighted_score_sum + EXCLUDED.human_weighted_score_sum",
    )
    .bind(&assets)
    .bind(&platforms)
    .bind(&buckets)
    .bind(column(&|d| d.total.posts))
    .bind(column(&|d| d.total.mentions))
    .bind(column(&|d| d.total.positive))
    .bind(column(&|d| d.total.neutral))
    .bind(column(&|d| d.total.negative))
    .bind(real(&|d| d.total.score_sum))
    .bind(column(&|d| d.human.posts))
    .bind(column(&|d| d.human.mentions))
    .bind(column(&|d| d.human.positive))
    .bind(column(&|d| d.human.neutral))
    .bind(column(&|d| d.human.negative))
    .bind(real(&|d| d.human.score_sum))
    .bind(column(&|d| d.human_authors))
    .bind(real(&|d| d.human_weight_sum))
    .bind(real(&|d| d.human_weighted_score_sum))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn strip_nul(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') {
        std::borrow::Cow::Owned(s.replace('\0', ""))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}
