//! Re-scoring stored posts with another sentiment model, so that a database kept across an upgrade
//! (which ships a new model) does not mix two models' labels in one chart.
//!
//! Posts whose `sentiment_model` differs from the new model's version (or that have no score) are
//! scored again in batches, oldest id first. Each batch is one transaction that updates the posts'
//! three sentiment columns and moves the sentiment columns of their hourly rollup rows by the
//! difference (old label −1, new label +1, score sum − old + new). An interrupted run therefore leaves
//! every batch done or untouched, and running it again continues where it stopped. The daemon may
//! keep writing meanwhile: it stores new posts under the new version already, and both lock rollup
//! rows in key order (through the writer's own rollup upsert).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::writer::{RollupDelta, RollupKey, add_to_rollup, counts_as_human, with_weight};
use super::{Store, StoreError};
use crate::model::{Score, SentimentLabel, hour_bucket};

/// What a re-scoring run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RescoreOutcome {
    /// Posts given the new model's score.
    pub posts: u64,
    /// Of those, posts whose label changed (or that had none).
    pub relabelled: u64,
}

/// A stored post as re-scoring reads it.
#[derive(sqlx::FromRow)]
struct StoredPost {
    id: i64,
    text: String,
    platform: String,
    created_at: DateTime<Utc>,
    sentiment_label: Option<String>,
    sentiment_score: Option<f32>,
    class: Option<String>,
    /// The engagement weight, 1 + ln(1 + likes + reposts), as the writer computes it.
    weight: f64,
}

impl Store {
    /// Scores every post not scored by `version` with `score`, `batch` posts per transaction.
    /// `progress` hears the running total after each batch.
    pub async fn rescore(
        &self,
        version: &str,
        batch: usize,
        mut score: impl FnMut(&str) -> Score,
        mut progress: impl FnMut(RescoreOutcome),
    ) -> Result<RescoreOutcome, StoreError> {
        let mut total = RescoreOutcome::default();
        let mut after = i64::MIN;
        loop {
            let mut attempt = 0;
            let done = loop {
                match self.rescore_batch(version, batch, after, &mut score).await {
                    // A deadlock victim was rolled back whole: run the batch again.
                    Err(e) if e.is_conflict() && attempt < 5 => attempt += 1,
                    other => break other?,
                }
            };
            let Some((last_id, outcome)) = done else {
                return Ok(total);
            };
            after = last_id;
            total.posts += outcome.posts;
            total.relabelled += outcome.relabelled;
            progress(total);
        }
    }

    /// One batch: the posts after id `after`, or `None` when there are none left.
    async fn rescore_batch(
        &self,
        version: &str,
        batch: usize,
        after: i64,
        score: &mut impl FnMut(&str) -> Score,
    ) -> Result<Option<(i64, RescoreOutcome)>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let posts: Vec<StoredPost> = sqlx::query_as(with_weight(
            "SELECT id, text, platform, created_at, sentiment_label, sentiment_score, class,
                    {weight} AS weight
             FROM posts p
             WHERE id > $1 AND sentiment_model IS DISTINCT FROM $2
             ORDER BY id
             LIMIT $3
             FOR UPDATE",
        ))
        .bind(after)
        .bind(version)
        .bind(batch.max(1) as i64)
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = posts.last().map(|p| p.id) else {
            return Ok(None);
        };
        let ids: Vec<i64> = posts.iter().map(|p| p.id).collect();
        // Each (post, asset) pair counted once in the rollup, as the writer counts it.
        let mentioned: Vec<(i64, String)> = sqlx::query_as(
            "SELECT DISTINCT post_id, asset_id FROM mentions WHERE post_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        let mut assets_of: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
        for (post, asset) in mentioned {
            assets_of.entry(post).or_default().insert(asset);
        }

        let mut outcome = RescoreOutcome::default();
        let mut labels = Vec::with_capacity(posts.len());
        let mut scores = Vec::with_capacity(posts.len());
        // Sorted (a BTreeMap), as `add_to_rollup` needs.
        let mut deltas: BTreeMap<RollupKey, RollupDelta> = BTreeMap::new();
        for p in &posts {
            let new = score(&p.text);
            let old = p
                .sentiment_label
                .as_deref()
                .and_then(|l| l.parse::<SentimentLabel>().ok())
                .zip(p.sentiment_score)
                .map(|(label, score)| Score { label, score });
            let human = counts_as_human(p.class.as_deref().and_then(|c| c.parse().ok()));
            outcome.posts += 1;
            if old.map(|s| s.label) != Some(new.label) {
                outcome.relabelled += 1;
            }
            for asset in assets_of.get(&p.id).into_iter().flatten() {
                let key = (
                    asset.as_str(),
                    p.platform.as_str(),
                    hour_bucket(p.created_at),
                );
                let d = deltas.entry(key).or_default();
                if let Some(old) = old {
                    d.total.count_score(old, -1);
                    if human {
                        d.count_human_score(old, p.weight, -1);
                    }
                }
                d.total.count_score(new, 1);
                if human {
                    d.count_human_score(new, p.weight, 1);
                }
            }
            labels.push(new.label.as_str());
            scores.push(new.score.clamp(-1.0, 1.0));
        }

        sqlx::query(
            "UPDATE posts p
             SET sentiment_label = s.label, sentiment_score = s.score, sentiment_model = $4
             FROM UNNEST($1::int8[], $2::text[], $3::float4[]) AS s(id, label, score)
             WHERE p.id = s.id",
        )
        .bind(&ids)
        .bind(&labels)
        .bind(&scores)
        .bind(version)
        .execute(&mut *tx)
        .await?;

        let rows: Vec<_> = deltas.into_iter().collect();
        add_to_rollup(&mut tx, &rows).await?;
        tx.commit().await?;
        Ok(Some((last, outcome)))
    }
}
