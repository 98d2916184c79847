//! Classing stored posts again (`coinpulse db reclassify`), and reading the recent posts that rebuild
//! the classifier's near-duplicate window after a restart.
//!
//! Posts are read in time order (created_at, then id) in batches, because the classifier's
//! near-duplicate window must see them as they happened. Each batch is one transaction: the posts'
//! class columns change, and for every post whose human-ness changed, its rollup rows move the
//! human-only columns by the difference (posts, mentions, sentiment, engagement-weighted sentiment).
//! The distinct human authors of the touched rollup rows are then recounted from the stored posts,
//! because an author counted once may or may not have another human post in the same hour. An
//! interrupted run leaves every batch done or untouched; running it again starts over and changes
//! only what differs. Posts already pruned by retention are not reclassified, and their authors no
//! longer count in a recounted hour.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::writer::{RollupDelta, RollupKey, add_to_rollup, counts_as_human, with_weight};
use super::{Store, StoreError};
use crate::classify::{Classification, PostClass};
use crate::model::hour_bucket;
use crate::model::{Score, SentimentLabel};

/// What a reclassifying run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReclassifyOutcome {
    pub posts: u64,
    /// Posts whose class changed (or that had none).
    pub changed: u64,
    /// Posts counted as human before and not now, or the other way round.
    pub moved: u64,
}

/// A stored post as reclassifying reads it.
#[derive(sqlx::FromRow)]
pub struct StoredPost {
    pub id: i64,
    pub text: String,
    pub author: Option<String>,
    pub platform: String,
    pub created_at: DateTime<Utc>,
    class: Option<String>,
    class_reasons: Option<Vec<String>>,
    sentiment_label: Option<String>,
    sentiment_score: Option<f32>,
    weight: f64,
}

impl Store {
    /// Classes every stored post again with `classify`, oldest first, `batch` posts per transaction.
    pub async fn reclassify(
        &self,
        batch: usize,
        mut classify: impl FnMut(&StoredPost) -> Classification,
        mut progress: impl FnMut(ReclassifyOutcome),
    ) -> Result<ReclassifyOutcome, StoreError> {
        let mut total = ReclassifyOutcome::default();
        let mut after: Option<(DateTime<Utc>, i64)> = None;
        loop {
            let mut tx = self.pool.begin().await?;
            let posts: Vec<StoredPost> = sqlx::query_as(with_weight(
                "SELECT id, text, author, platform, created_at, class, class_reasons,
                        sentiment_label, sentiment_score, {weight} AS weight
                 FROM posts p
                 WHERE $1::timestamptz IS NULL OR (created_at, id) > ($1, $2)
                 ORDER BY created_at, id
                 LIMIT $3
                 FOR UPDATE",
            ))
            .bind(after.map(|a| a.0))
            .bind(after.map_or(i64::MIN, |a| a.1))
            .bind(batch.max(1) as i64)
            .fetch_all(&mut *tx)
            .await?;
            let Some(last) = posts.last() else {
                return Ok(total);
            };
            after = Some((last.created_at, last.id));
            let outcome = reclassify_batch(&mut tx, &posts, &mut classify).await?;
            tx.commit().await?;
            total.posts += outcome.posts;
            total.changed += outcome.changed;
            total.moved += outcome.moved;
            progress(total);
        }
    }

    /// Text, author and time of the newest `limit` posts created after `since`, oldest first: what
    /// the classifier's near-duplicate window held before a restart.
    pub async fn recent_posts(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(String, Option<String>, DateTime<Utc>)>, StoreError> {
        let mut rows: Vec<(String, Option<String>, DateTime<Utc>)> = sqlx::query_as(
            "SELECT text, author, created_at FROM posts
             WHERE created_at > $1
             ORDER BY created_at DESC, id DESC
             LIMIT $2",
        )
        .bind(since)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.reverse();
        Ok(rows)
    }
}

async fn reclassify_batch(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    posts: &[StoredPost],
    classify: &mut impl FnMut(&StoredPost) -> Classification,
) -> Result<ReclassifyOutcome, StoreError> {
    let mut outcome = ReclassifyOutcome::default();
    let mut ids = Vec::new();
    let mut classes = Vec::new();
    let mut reasons = Vec::new();
    let mut moved: Vec<(i64, bool)> = Vec::new();
    for p in posts {
        let new = classify(p);
        outcome.posts += 1;
        let names = new.reason_names();
        if p.class.as_deref() == Some(new.class.as_str())
            && p.class_reasons.as_ref() == Some(&names)
        {
            continue;
        }
        outcome.changed += 1;
        let was = counts_as_human(p.class.as_deref().and_then(|c| c.parse::<PostClass>().ok()));
        let now = new.class == PostClass::Human;
        if was != now {
            outcome.moved += 1;
            moved.push((p.id, now));
        }
        ids.push(p.id);
        classes.push(new.class.as_str());
        reasons.push(names.join(","));
    }
    if ids.is_empty() {
        return Ok(outcome);
    }
    sqlx::query(
        "UPDATE posts p SET class = c.class, class_reasons = string_to_array(c.reasons, ',')
         FROM UNNEST($1::int8[], $2::text[], $3::text[]) AS c(id, class, reasons)
         WHERE p.id = c.id",
    )
    .bind(&ids)
    .bind(&classes)
    .bind(&reasons)
    .execute(&mut **tx)
    .await?;
    if moved.is_empty() {
        return Ok(outcome);
    }

    let moved_ids: Vec<i64> = moved.iter().map(|(id, _)| *id).collect();
    let spans = mention_spans(tx, &moved_ids).await?;
    let by_id: BTreeMap<i64, &StoredPost> = posts.iter().map(|p| (p.id, p)).collect();
    let direction: BTreeMap<i64, i64> = moved
        .iter()
        .map(|(id, now)| (*id, if *now { 1 } else { -1 }))
        .collect();
    let mut deltas: BTreeMap<RollupKey, RollupDelta> = BTreeMap::new();
    for (post_id, asset, count) in &spans {
        let p = by_id[post_id];
        let sign = direction[post_id];
        let key = (
            asset.as_str(),
            p.platform.as_str(),
            hour_bucket(p.created_at),
        );
        let d = deltas.entry(key).or_default();
        d.human.posts += sign;
        d.human.mentions += sign * count;
        if let Some(score) = stored_score(p.sentiment_label.as_deref(), p.sentiment_score) {
            d.count_human_score(score, p.weight, sign);
        }
    }
    let keys: BTreeSet<RollupKey> = deltas.keys().copied().collect();
    let rows: Vec<_> = deltas.into_iter().collect();
    add_to_rollup(tx, &rows).await?;
    recount_authors(tx, &keys).await?;
    Ok(outcome)
}

/// Per stored post and asset, how many distinct spans the writer counted as mentions.
pub(super) async fn mention_spans(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    post_ids: &[i64],
) -> Result<Vec<(i64, String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT post_id, asset_id, count(DISTINCT start_byte) FROM mentions
         WHERE post_id = ANY($1) GROUP BY 1, 2",
    )
    .bind(post_ids)
    .fetch_all(&mut **tx)
    .await?)
}

/// A stored post's sentiment columns as the score the writer counted (`None` when unscored).
pub(super) fn stored_score(label: Option<&str>, score: Option<f32>) -> Option<Score> {
    label
        .and_then(|l| l.parse::<SentimentLabel>().ok())
        .zip(score)
        .map(|(label, score)| Score { label, score })
}

/// Recounts `rollup_authors` and `human_authors` of the given rollup rows from the stored posts.
pub(super) async fn recount_authors(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    keys: &BTreeSet<RollupKey<'_>>,
) -> Result<(), StoreError> {
    let assets: Vec<&str> = keys.iter().map(|k| k.0).collect();
    let platforms: Vec<&str> = keys.iter().map(|k| k.1).collect();
    let buckets: Vec<DateTime<Utc>> = keys.iter().map(|k| k.2).collect();
    sqlx::query(
        "DELETE FROM rollup_authors r
         USING UNNEST($1::text[], $2::text[], $3::timestamptz[]) AS k(asset_id, platform, bucket)
         WHERE r.asset_id = k.asset_id AND r.platform = k.platform AND r.bucket = k.bucket",
    )
    .bind(&assets)
    .bind(&platforms)
    .bind(&buckets)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO rollup_authors (asset_id, platform, bucket, author)
         SELECT DISTINCT k.asset_id, k.platform, k.bucket, p.author
         FROM UNNEST($1::text[], $2::text[], $3::timestamptz[]) AS k(asset_id, platform, bucket)
         JOIN mentions m ON m.asset_id = k.asset_id AND m.platform = k.platform
              AND m.created_at >= k.bucket AND m.created_at < k.bucket + interval '1 hour'
         JOIN posts p ON p.id = m.post_id
         WHERE p.author IS NOT NULL AND coalesce(p.class, 'human') = 'human'
         ORDER BY 1, 2, 3, 4",
    )
    .bind(&assets)
    .bind(&platforms)
    .bind(&buckets)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE rollup_hourly r SET human_authors = (
             SELECT count(DISTINCT p.author) + count(DISTINCT p.id) FILTER (WHERE p.author IS NULL)
             FROM mentions m JOIN posts p ON p.id = m.post_id
             WHERE m.asset_id = k.asset_id AND m.platform = k.platform
               AND m.created_at >= k.bucket AND m.created_at < k.bucket + interval '1 hour'
               AND coalesce(p.class, 'human') = 'human')
         FROM UNNEST($1::text[], $2::text[], $3::timestamptz[]) AS k(asset_id, platform, bucket)
         WHERE r.asset_id = k.asset_id AND r.platform = k.platform AND r.bucket = k.bucket",
    )
    .bind(&assets)
    .bind(&platforms)
    .bind(&buckets)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
