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
//! Rows travel as one array per column through `INSERT ... SELECT FROM UNNEST(...)`: one round trip
//! and one statement per table, whatever the batch size.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use sqlx::{Postgres, Transaction};

use super::queries::Counts;
use super::{Store, StoreError};
use crate::model::{EnrichedPost, PricePoint};

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
    /// `(platform, external_id)` of the posts that were new, so callers can attribute them.
    pub fresh: HashSet<(String, String)>,
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
                let mut outcome = write_posts(&mut tx, posts, model_version, horizon).await?;
                outcome.prices = write_prices(&mut tx, prices).await?;
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

async fn write_prices(
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

async fn write_posts(
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
        truncated.push(p.text_truncated);
    }
    let inserted: Vec<(i64, String, String)> = sqlx::query_as(
        "INSERT INTO posts (platform, external_id, author, text, url, created_at, language,
                            replies, reposts, likes, views, author_followers, raw,
                            sentiment_label, sentiment_score, text_truncated, sentiment_model)
         SELECT t.*, CASE WHEN t.label IS NOT NULL THEN $16 END
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                     $6::timestamptz[], $7::text[], $8::int8[], $9::int8[], $10::int8[],
                     $11::int8[], $12::int8[], $13::jsonb[], $14::text[], $15::float4[],
                     $17::bool[])
              AS t(platform, external_id, author, text, url, created_at, language, replies, reposts,
                   likes, views, author_followers, raw, label, score, truncated)
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
        fresh: inserted
            .into_iter()
            .map(|(_, platform, external_id)| (platform, external_id))
            .collect(),
    })
}

async fn write_mentions(
    tx: &mut Transaction<'_, Postgres>,
    fresh: &[(i64, &EnrichedPost)],
) -> Result<u64, StoreError> {
    let mut post_ids = Vec::new();
    let mut assets = Vec::new();
    let mut surfaces = Vec::new();
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    let mut kinds = Vec::new();
    let mut platforms = Vec::new();
    let mut created = Vec::new();
    for (id, p) in fresh {
        let mut starts_seen = HashSet::new();
        for m in &p.mentions {
            if !starts_seen.insert(m.start) {
                continue;
            }
            post_ids.push(*id);
            assets.push(m.asset.as_str());
            surfaces.push(strip_nul(&m.surface));
            starts.push(m.start as i32);
            ends.push(m.end as i32);
            kinds.push(m.kind.as_str());
            platforms.push(p.post.platform.as_str());
            created.push(p.post.created_at);
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

/// The hour a timestamp falls in.
pub fn hour_bucket(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::hours(1)).unwrap_or(t)
}

async fn write_rollup(
    tx: &mut Transaction<'_, Postgres>,
    fresh: &[(i64, &EnrichedPost)],
) -> Result<(), StoreError> {
    let mut deltas: HashMap<RollupKey, Counts> = HashMap::new();
    for (_, p) in fresh {
        let bucket = hour_bucket(p.post.created_at);
        let platform = p.post.platform.as_str();
        // A post counts once per asset however often it names it; every span counts as a mention.
        let mut per_asset: HashMap<&str, i64> = HashMap::new();
        let mut starts_seen = HashSet::new();
        for m in &p.mentions {
            if starts_seen.insert(m.start) {
                *per_asset.entry(m.asset.as_str()).or_default() += 1;
            }
        }
        for (asset, spans) in per_asset {
            let d = deltas.entry((asset, platform, bucket)).or_default();
            d.posts += 1;
            d.mentions += spans;
            if let Some(score) = p.score {
                d.count_score(score, 1);
            }
        }
    }
    let mut rows: Vec<_> = deltas.into_iter().collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    add_to_rollup(tx, &rows).await
}

/// Adds each row's counts (increments, negative to take some back) to its `rollup_hourly` row
/// (created at zero when missing). `rows` must be sorted
/// by key: concurrent transactions then lock rollup rows in the same order, so none deadlock.
pub(super) async fn add_to_rollup(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[(RollupKey<'_>, Counts)],
) -> Result<(), StoreError> {
    debug_assert!(rows.is_sorted_by(|a, b| a.0 <= b.0));
    if rows.is_empty() {
        return Ok(());
    }
    let mut assets = Vec::with_capacity(rows.len());
    let mut platforms = Vec::with_capacity(rows.len());
    let mut buckets = Vec::with_capacity(rows.len());
    let mut posts = Vec::with_capacity(rows.len());
    let mut mentions = Vec::with_capacity(rows.len());
    let mut positive = Vec::with_capacity(rows.len());
    let mut neutral = Vec::with_capacity(rows.len());
    let mut negative = Vec::with_capacity(rows.len());
    let mut score_sum = Vec::with_capacity(rows.len());
    for ((asset, platform, bucket), d) in rows {
        assets.push(*asset);
        platforms.push(*platform);
        buckets.push(*bucket);
        posts.push(d.posts);
        mentions.push(d.mentions);
        positive.push(d.positive);
        neutral.push(d.neutral);
        negative.push(d.negative);
        score_sum.push(d.score_sum);
    }
    sqlx::query(
        "INSERT INTO rollup_hourly AS r
                (asset_id, platform, bucket, posts, mentions, positive, neutral, negative, score_sum)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::int8[], $5::int8[],
                              $6::int8[], $7::int8[], $8::int8[], $9::float8[])
         ON CONFLICT (asset_id, platform, bucket) DO UPDATE SET
             posts = r.posts + EXCLUDED.posts,
             mentions = r.mentions + EXCLUDED.mentions,
             positive = r.positive + EXCLUDED.positive,
             neutral = r.neutral + EXCLUDED.neutral,
             negative = r.negative + EXCLUDED.negative,
             score_sum = r.score_sum + EXCLUDED.score_sum",
    )
    .bind(&assets)
    .bind(&platforms)
    .bind(&buckets)
    .bind(&posts)
    .bind(&mentions)
    .bind(&positive)
    .bind(&neutral)
    .bind(&negative)
    .bind(&score_sum)
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
