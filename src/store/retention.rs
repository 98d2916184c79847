//! Retention: posts (and their mentions) are deleted once they are older than `database.retention`;
//! the hourly rollups, which every report and chart over whole hours reads, are kept.
//!
//! Two rules keep this from ever counting a post twice:
//!
//! - **The writer refuses expired posts.** A post created before `now − retention` is not stored (it
//!   is counted as expired), so a post that was pruned and then served again by its source, or an old
//!   archive imported a second time, cannot come back and add itself to the rollups a second time.
//! - **Pruning stays an hour behind the writer.** It deletes posts created before
//!   `now − retention − 1 h`. Anything it deletes is therefore expired for every writer whose clock
//!   is less than an hour behind, even on other machines.
//!
//! Pruning runs in batches of [`PRUNE_BATCH`] posts, each its own short transaction (`FOR UPDATE
//! SKIP LOCKED`, so two daemons pruning at once share the work instead of waiting), oldest first. A
//! post and its mentions go in the same statement. Ranges that were pruned keep their hourly counts;
//! only queries that need the posts themselves (sub-hour buckets, ranges not aligned to the hour)
//! find nothing there.

use std::time::Duration;

use chrono::{DateTime, Datelike, TimeDelta, Utc};

use super::{Store, StoreError};

/// Posts deleted per transaction.
pub const PRUNE_BATCH: i64 = 5_000;

/// How far pruning stays behind the writer's horizon (see the module docs).
pub const PRUNE_MARGIN: Duration = Duration::from_secs(3_600);

/// What a prune deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PruneOutcome {
    pub posts: u64,
    pub mentions: u64,
}

impl Store {
    /// How long posts are kept, if they are not kept forever.
    pub fn retention(&self) -> Option<Duration> {
        self.retention
    }

    /// Posts created before this instant are expired at `now`: the writer does not store them.
    /// `None` when posts are kept forever (or for longer than there are dates to compare with).
    pub fn expiry_horizon(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.retention.and_then(|r| back(now, r))
    }

    /// Deletes the posts that retention lets go at `now` (nothing when posts are kept forever).
    pub async fn prune_expired(&self, now: DateTime<Utc>) -> Result<PruneOutcome, StoreError> {
        match self.expiry_horizon(now).and_then(|h| back(h, PRUNE_MARGIN)) {
            Some(cutoff) => self.prune_before(cutoff).await,
            None => Ok(PruneOutcome::default()),
        }
    }

    /// Deletes every post created before `cutoff`, with its mentions, in batches. Rollups stay.
    pub async fn prune_before(&self, cutoff: DateTime<Utc>) -> Result<PruneOutcome, StoreError> {
        let mut total = PruneOutcome::default();
        loop {
            let (posts, mentions): (i64, i64) = sqlx::query_as(
                "WITH doomed AS (
                     SELECT id FROM posts WHERE created_at < $1
                     ORDER BY created_at LIMIT $2
                     FOR UPDATE SKIP LOCKED),
                 gone_mentions AS (
                     DELETE FROM mentions m USING doomed d WHERE m.post_id = d.id RETURNING 1),
                 gone_posts AS (
                     DELETE FROM posts p USING doomed d WHERE p.id = d.id RETURNING 1)
                 SELECT (SELECT count(*) FROM gone_posts), (SELECT count(*) FROM gone_mentions)",
            )
            .bind(cutoff)
            .bind(PRUNE_BATCH)
            .fetch_one(&self.pool)
            .await?;
            total.posts += posts as u64;
            total.mentions += mentions as u64;
            if posts < PRUNE_BATCH {
                return Ok(total);
            }
        }
    }
}

/// `t − d`, unless that is before the year 1 (which PostgreSQL and chrono may not both represent):
/// nothing is that old, so a retention of millennia simply keeps everything.
fn back(t: DateTime<Utc>, d: Duration) -> Option<DateTime<Utc>> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_sub_signed(d))
        .filter(|b| b.year() >= 1)
}
