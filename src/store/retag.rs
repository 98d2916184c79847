//! Tagging stored posts again (`coinpulse db retag`), so that a range stored before a registry update
//! (a new coin, a re-ranked shared ticker) counts as the current registry would have counted it.
//!
//! A running daemon tags new posts with a new registry version as soon as it has built it, and leaves
//! stored posts alone; this is how a range is brought up to date. Posts created in the range are read
//! in time order (created_at, then id) in batches, each batch one transaction: a post whose mentions
//! differ from what the tagger finds now gets its mention rows replaced, and the rollup rows of every
//! asset it named before or names now move by the difference, all columns as the writer counts them
//! (posts, mentions, sentiment, and for human posts the human-only and engagement-weighted columns).
//! The distinct human authors of the touched rows are recounted from the stored posts, and a row no
//! post counts in any more is dropped, as if never written. A running daemon may keep writing: each
//! batch holds back the writers' insert of newly counted authors until it commits (one batch, a few
//! milliseconds of tagging), so the recount and their increments never miss each other, and both
//! lock rollup rows in key order. An interrupted run leaves every batch
//! done or untouched; running it again starts over and changes only what still differs, so a second
//! run changes nothing. Posts already pruned by retention are not re-tagged, and their counts stay.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

use super::deletions::drop_empty_rollups;
use super::reclassify::{recount_authors, stored_score};
use super::writer::{
    RollupDelta, RollupKey, add_to_rollup, counts_as_human, insert_mentions, with_weight,
};
use super::{Store, StoreError};
use crate::classify::PostClass;
use crate::model::{Mention, hour_bucket};

/// What a retagging run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RetagOutcome {
    /// Posts read.
    pub posts: u64,
    /// Posts whose mentions changed.
    pub changed: u64,
    pub mentions_added: u64,
    pub mentions_removed: u64,
    /// Per asset, posts that name it now and did not before.
    pub gained: BTreeMap<String, u64>,
    /// Per asset, posts that named it before and do not now.
    pub lost: BTreeMap<String, u64>,
}

/// A stored post as retagging reads it.
#[derive(sqlx::FromRow)]
struct StoredPost {
    id: i64,
    text: String,
    platform: String,
    created_at: DateTime<Utc>,
    class: Option<String>,
    sentiment_label: Option<String>,
    sentiment_score: Option<f32>,
    weight: f64,
}

/// A mention as stored: start, end, asset, kind, surface (in this order, so sorting is by position).
type Row = (i32, i32, String, String, String);

impl Store {
    /// Tags every post created in `[since, until)` again with `tag` (text and time in, mentions out),
    /// oldest first, `batch` posts per transaction. `progress` hears the running total after each
    /// batch.
    pub async fn retag(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        batch: usize,
        mut tag: impl FnMut(&str, DateTime<Utc>) -> Vec<Mention>,
        mut progress: impl FnMut(&RetagOutcome),
    ) -> Result<RetagOutcome, StoreError> {
        let mut total = RetagOutcome::default();
        let mut after = (since, i64::MIN);
        loop {
            let mut attempt = 0;
            let done = loop {
                match self
                    .retag_batch(after, until, batch, &mut tag, &mut total)
                    .await
                {
                    // A deadlock victim was rolled back whole: run the batch again.
                    Err(e) if e.is_conflict() && attempt < 5 => attempt += 1,
                    other => break other?,
                }
            };
            let Some(last) = done else {
                return Ok(total);
            };
            after = last;
            progress(&total);
        }
    }

    /// One batch: the posts after `after` (created_at, id) and before `until`; their outcome is added
    /// to `total` once committed. Returns the last post's key, or `None` when none are left.
    async fn retag_batch(
        &self,
        after: (DateTime<Utc>, i64),
        until: DateTime<Utc>,
        batch: usize,
        tag: &mut impl FnMut(&str, DateTime<Utc>) -> Vec<Mention>,
        total: &mut RetagOutcome,
    ) -> Result<Option<(DateTime<Utc>, i64)>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Writers wait at their authors insert while this batch recounts the distinct authors of the
        // hours it touches: a post committed meanwhile would otherwise be counted by neither.
        sqlx::query("LOCK TABLE rollup_authors IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        let posts: Vec<StoredPost> = sqlx::query_as(with_weight(
            "SELECT id, text, platform, created_at, class, sentiment_label, sentiment_score,
                    {weight} AS weight
             FROM posts p
             WHERE created_at >= $1 AND (created_at, id) > ($1, $2) AND created_at < $3
             ORDER BY created_at, id
             LIMIT $4
             FOR UPDATE",
        ))
        .bind(after.0)
        .bind(after.1)
        .bind(until)
        .bind(batch.max(1) as i64)
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = posts.last().map(|p| (p.created_at, p.id)) else {
            return Ok(None);
        };
        let outcome = retag_posts(&mut tx, &posts, tag).await?;
        tx.commit().await?;
        total.posts += outcome.posts;
        total.changed += outcome.changed;
        total.mentions_added += outcome.mentions_added;
        total.mentions_removed += outcome.mentions_removed;
        for (asset, n) in outcome.gained {
            *total.gained.entry(asset).or_default() += n;
        }
        for (asset, n) in outcome.lost {
            *total.lost.entry(asset).or_default() += n;
        }
        Ok(Some(last))
    }
}

async fn retag_posts(
    tx: &mut Transaction<'_, Postgres>,
    posts: &[StoredPost],
    tag: &mut impl FnMut(&str, DateTime<Utc>) -> Vec<Mention>,
) -> Result<RetagOutcome, StoreError> {
    let ids: Vec<i64> = posts.iter().map(|p| p.id).collect();
    let stored: Vec<(i64, i32, i32, String, String, String)> = sqlx::query_as(
        "SELECT post_id, start_byte, end_byte, asset_id, kind, surface FROM mentions
         WHERE post_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    let mut before: BTreeMap<i64, BTreeSet<Row>> = BTreeMap::new();
    for (post, start, end, asset, kind, surface) in stored {
        before
            .entry(post)
            .or_default()
            .insert((start, end, asset, kind, surface));
    }

    let mut outcome = RetagOutcome {
        posts: posts.len() as u64,
        ..RetagOutcome::default()
    };
    let none = BTreeSet::new();
    // The posts whose mentions change, with their new mentions.
    let mut changed: Vec<(&StoredPost, Vec<Mention>)> = Vec::new();
    // Keyed by owned asset ids: the new mentions of a post live only for its turn of the loop.
    let mut deltas: BTreeMap<(String, &str, DateTime<Utc>), RollupDelta> = BTreeMap::new();
    for p in posts {
        let mut mentions = tag(&p.text, p.created_at);
        // As the writer stores them: the first mention at each start.
        let mut starts = BTreeSet::new();
        mentions.retain(|m| starts.insert(m.start));
        let now: BTreeSet<Row> = mentions.iter().map(row).collect();
        let was = before.get(&p.id).unwrap_or(&none);
        if *was == now {
            continue;
        }
        outcome.changed += 1;
        outcome.mentions_added += now.difference(was).count() as u64;
        outcome.mentions_removed += was.difference(&now).count() as u64;
        let (spans_was, spans_now) = (spans_per_asset(was), spans_per_asset(&now));
        for asset in spans_now.keys().filter(|a| !spans_was.contains_key(*a)) {
            *outcome.gained.entry(asset.to_string()).or_default() += 1;
        }
        for asset in spans_was.keys().filter(|a| !spans_now.contains_key(*a)) {
            *outcome.lost.entry(asset.to_string()).or_default() += 1;
        }
        let score = stored_score(p.sentiment_label.as_deref(), p.sentiment_score);
        let human = counts_as_human(p.class.as_deref().and_then(|c| c.parse::<PostClass>().ok()));
        let bucket = hour_bucket(p.created_at);
        for (spans, times) in [(&spans_was, -1), (&spans_now, 1)] {
            for (asset, n) in spans {
                deltas
                    .entry((asset.to_string(), p.platform.as_str(), bucket))
                    .or_default()
                    .count_post(*n, score, human, p.weight, times);
            }
        }
        changed.push((p, mentions));
    }
    if changed.is_empty() {
        return Ok(outcome);
    }

    let changed_ids: Vec<i64> = changed.iter().map(|(p, _)| p.id).collect();
    sqlx::query("DELETE FROM mentions WHERE post_id = ANY($1)")
        .bind(&changed_ids)
        .execute(&mut **tx)
        .await?;
    insert_mentions(
        tx,
        changed
            .iter()
            .map(|(p, m)| (p.id, p.platform.as_str(), p.created_at, m.as_slice())),
    )
    .await?;
    let rows: Vec<(RollupKey, RollupDelta)> = deltas
        .iter()
        .map(|((asset, platform, bucket), d)| ((asset.as_str(), *platform, *bucket), *d))
        .collect();
    let keys: BTreeSet<RollupKey> = rows.iter().map(|(k, _)| *k).collect();
    add_to_rollup(tx, &rows).await?;
    recount_authors(tx, &keys).await?;
    drop_empty_rollups(tx, &keys).await?;
    Ok(outcome)
}

fn row(m: &Mention) -> Row {
    (
        m.start as i32,
        m.end as i32,
        m.asset.clone(),
        m.kind.as_str().to_string(),
        m.surface.replace('\0', ""),
    )
}

/// How many distinct spans name each asset.
fn spans_per_asset(rows: &BTreeSet<Row>) -> BTreeMap<&str, i64> {
    let mut spans = BTreeMap::new();
    for (_, _, asset, _, _) in rows {
        *spans.entry(asset.as_str()).or_default() += 1;
    }
    spans
}
