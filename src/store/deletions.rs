//! Posts their authors deleted upstream (a Bluesky delete event): removed from the store, with their
//! mentions and sentiment, and taken out of the rollups in the same transaction as the batch and
//! cursor that carried the deletion.
//!
//! Removed rather than marked: a deleted post should not stay in a database its author never chose,
//! and every read (reports over the rollup or the base tables, the API, exports) then agrees without
//! a filter to forget. The rollup rows of the post's assets and hour go down by exactly what the
//! writer added for it (all posts and, when it counted as human, the human-only columns with its
//! engagement weight), and the hour's distinct human authors are recounted from the posts that
//! remain, since the author may have another post in that hour.
//!
//! A deletion of a post that is not stored (most of the firehose's deletions are of posts about
//! nothing tracked) costs one index lookup. A deletion that arrives before its post (a replay after a
//! restart resumes a little before the cursor) is harmless: the replay brings the creation and then
//! the deletion again, in order.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

use super::StoreError;
use super::reclassify::{mention_spans, recount_authors, stored_score};
use super::writer::{RollupDelta, RollupKey, add_to_rollup, counts_as_human, with_weight};
use crate::classify::PostClass;
use crate::model::PostRef;
use crate::model::hour_bucket;

/// One stored post being deleted, with what the writer counted for it.
#[derive(sqlx::FromRow)]
struct Doomed {
    id: i64,
    platform: String,
    created_at: DateTime<Utc>,
    class: Option<String>,
    sentiment_label: Option<String>,
    sentiment_score: Option<f32>,
    weight: f64,
}

/// Deletes the stored posts among `refs` and takes them out of the rollups; returns how many were
/// stored.
pub(super) async fn delete_posts(
    tx: &mut Transaction<'_, Postgres>,
    refs: &[PostRef],
) -> Result<u64, StoreError> {
    if refs.is_empty() {
        return Ok(0);
    }
    let platforms: Vec<&str> = refs.iter().map(|r| r.platform.as_str()).collect();
    let ids: Vec<&str> = refs.iter().map(|r| r.external_id.as_str()).collect();
    // Locked in id order, as the writer locks, so concurrent batches cannot deadlock.
    let doomed: Vec<Doomed> = sqlx::query_as(with_weight(
        "SELECT p.id, p.platform, p.created_at, p.class, p.sentiment_label, p.sentiment_score,
                {weight} AS weight
         FROM posts p
         JOIN UNNEST($1::text[], $2::text[]) AS d(platform, external_id)
           ON p.platform = d.platform AND p.external_id = d.external_id
         ORDER BY p.id
         FOR UPDATE OF p",
    ))
    .bind(&platforms)
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    if doomed.is_empty() {
        return Ok(0);
    }
    let post_ids: Vec<i64> = doomed.iter().map(|d| d.id).collect();
    let spans = mention_spans(tx, &post_ids).await?;
    let by_id: BTreeMap<i64, &Doomed> = doomed.iter().map(|d| (d.id, d)).collect();
    let mut deltas: BTreeMap<RollupKey, RollupDelta> = BTreeMap::new();
    for (post_id, asset, count) in &spans {
        let p = by_id[post_id];
        let key = (
            asset.as_str(),
            p.platform.as_str(),
            hour_bucket(p.created_at),
        );
        let score = stored_score(p.sentiment_label.as_deref(), p.sentiment_score);
        let human = counts_as_human(p.class.as_deref().and_then(|c| c.parse::<PostClass>().ok()));
        deltas
            .entry(key)
            .or_default()
            .count_post(*count, score, human, p.weight, -1);
    }
    // `mentions` has no foreign key to cascade (dropped for write speed, see migration 0004).
    sqlx::query("DELETE FROM mentions WHERE post_id = ANY($1)")
        .bind(&post_ids)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM posts WHERE id = ANY($1)")
        .bind(&post_ids)
        .execute(&mut **tx)
        .await?;
    let keys: BTreeSet<RollupKey> = deltas.keys().copied().collect();
    let rows: Vec<_> = deltas.into_iter().collect();
    add_to_rollup(tx, &rows).await?;
    recount_authors(tx, &keys).await?;
    drop_empty_rollups(tx, &keys).await?;
    Ok(doomed.len() as u64)
}

/// Drops the given rollup rows that no post counts in any more, as if they had never been written.
pub(super) async fn drop_empty_rollups(
    tx: &mut Transaction<'_, Postgres>,
    keys: &BTreeSet<RollupKey<'_>>,
) -> Result<(), StoreError> {
    let assets: Vec<&str> = keys.iter().map(|k| k.0).collect();
    let platforms: Vec<&str> = keys.iter().map(|k| k.1).collect();
    let buckets: Vec<DateTime<Utc>> = keys.iter().map(|k| k.2).collect();
    sqlx::query(
        "DELETE FROM rollup_hourly r
         USING UNNEST($1::text[], $2::text[], $3::timestamptz[]) AS k(asset_id, platform, bucket)
         WHERE r.asset_id = k.asset_id AND r.platform = k.platform AND r.bucket = k.bucket
           AND r.posts = 0",
    )
    .bind(&assets)
    .bind(&platforms)
    .bind(&buckets)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
