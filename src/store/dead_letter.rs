//! Posts the database refuses, isolated and kept aside so they never hold their batch back.
//!
//! A batch commits posts, mentions, rollups, prices and cursors of several sources in one
//! transaction, so one post PostgreSQL rejects as invalid (a value beyond one of its limits, a
//! constraint, a time outside its range) would fail all of them, and every source would fetch the
//! same page again forever. Instead the posts are written under a savepoint; when the database
//! rejects the write as a *data* error (not a connection error, which is retried whole), the range is
//! rolled back to the savepoint and bisected until each offender stands alone. The rest is written,
//! the offenders go to `rejected_posts` (source, external id, reason, raw post) and the cursors move
//! on, all in the same transaction: the dead-letter pattern of log shippers and Kafka Connect. A
//! batch with k bad posts among n costs O(k log n) extra statements, and nothing when all are good.
//!
//! Price points go through the same isolation (kept with platform `price`), so a refused price of
//! one source cannot fail another source's posts either. Posts enrichment could not process (a panic in the tagger or the scorer, see
//! [`crate::pipeline::Enricher::enrich_isolated`]) arrive already rejected and are kept the same way.

use std::ops::Range;

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

use super::StoreError;
use super::writer::{Checkpoint, WriteOutcome, write_posts, write_prices};
use crate::model::{EnrichedPost, Post, PricePoint};

/// One post kept in `rejected_posts` instead of being stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedPost {
    /// The configured source that delivered it, or `import`.
    pub source: String,
    pub platform: String,
    pub external_id: String,
    pub reason: String,
    /// The post as coinpulse built it.
    pub raw: serde_json::Value,
}

impl RejectedPost {
    /// A rejected post, every value made storable (the table must accept what `posts` refused).
    pub fn new(source: &str, post: &Post, reason: impl Into<String>) -> RejectedPost {
        RejectedPost::storable(
            source.to_string(),
            post.platform.as_str().to_string(),
            post.external_id.clone(),
            reason.into(),
            serde_json::to_value(post).unwrap_or(serde_json::Value::Null),
        )
    }

    /// A price point the database refused, kept with platform `price` and the asset and time as
    /// its id.
    pub fn price(price: &PricePoint, reason: impl Into<String>) -> RejectedPost {
        RejectedPost::storable(
            price.source.clone(),
            "price".into(),
            format!("{} {}", price.asset, price.time.to_rfc3339()),
            reason.into(),
            serde_json::to_value(price).unwrap_or(serde_json::Value::Null),
        )
    }

    /// The row as given, made storable the way posts are: the refused value may be exactly what
    /// the database could not take.
    fn storable(
        mut source: String,
        platform: String,
        mut external_id: String,
        mut reason: String,
        mut raw: serde_json::Value,
    ) -> RejectedPost {
        crate::model::storable_json(&mut raw);
        for s in [&mut source, &mut external_id, &mut reason] {
            crate::model::storable_string(s);
        }
        RejectedPost {
            source,
            platform,
            external_id,
            reason,
            raw,
        }
    }
}

/// Everything one commit writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Delivery<'a> {
    pub posts: &'a [EnrichedPost],
    /// `sources[i]` names where `posts[i]` came from, for `rejected_posts`; when shorter, the post's
    /// platform is used.
    pub sources: &'a [&'a str],
    pub prices: &'a [PricePoint],
    pub checkpoints: &'a [Checkpoint],
    /// Posts rejected before the writer (enrichment), kept in `rejected_posts` with this commit.
    pub rejected: &'a [RejectedPost],
    /// Posts deleted upstream, removed in the same transaction (see [`super::deletions`]).
    pub deleted: &'a [crate::model::PostRef],
    pub model_version: &'a str,
}

impl StoreError {
    /// Whether the database refused what was asked as invalid, so the same rows will always fail:
    /// SQLSTATE classes 21 (cardinality: one statement updating a row twice), 22 (data exception: a
    /// value out of range, a bad encoding), 23 (a constraint) and 54 (a limit exceeded: an index row
    /// too large), an exception raised by a trigger (P0001), or a value the driver could not encode.
    pub fn is_data_error(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Encode(_)) => true,
            StoreError::Database(e) => {
                e.as_database_error()
                    .and_then(|d| d.code())
                    .is_some_and(|c| {
                        ["21", "22", "23", "54"]
                            .iter()
                            .any(|class| c.starts_with(class))
                            || c == "P0001"
                    })
            }
            _ => false,
        }
    }
}

/// Writes `delivery.posts` and `delivery.prices`, isolating the rows the database rejects, and keeps
/// those (and `delivery.rejected`) in `rejected_posts`. Returns the outcome over the rows written,
/// with every row kept aside in [`WriteOutcome::rejected`].
pub(super) async fn write_isolating(
    tx: &mut Transaction<'_, Postgres>,
    delivery: &Delivery<'_>,
    horizon: Option<DateTime<Utc>>,
) -> Result<WriteOutcome, StoreError> {
    let posts = delivery.posts;
    let mut outcome = WriteOutcome {
        horizon,
        ..WriteOutcome::default()
    };
    let mut rejected = delivery.rejected.to_vec();
    let (parts, refused) = bisect(tx, Rows::Posts(posts, delivery.model_version, horizon)).await?;
    for part in parts {
        if let Written::Posts(part) = part {
            outcome.stored += part.stored;
            outcome.duplicates += part.duplicates;
            outcome.expired += part.expired;
            outcome.mentions += part.mentions;
            outcome.fresh.extend(part.fresh);
        }
    }
    for (i, e) in refused {
        let post = &posts[i].post;
        let source = delivery
            .sources
            .get(i)
            .copied()
            .unwrap_or(post.platform.as_str());
        rejected.push(RejectedPost::new(source, post, e.to_string()));
    }
    let prices = delivery.prices;
    let (parts, refused) = bisect(tx, Rows::Prices(prices)).await?;
    for part in parts {
        if let Written::Prices(n) = part {
            outcome.prices += n;
        }
    }
    for (i, e) in refused {
        rejected.push(RejectedPost::price(&prices[i], e.to_string()));
    }
    keep(tx, &rejected).await?;
    outcome.rejected = rejected;
    Ok(outcome)
}

/// What [`bisect`] writes: posts (with the model version and retention horizon) or price points.
#[derive(Clone, Copy)]
enum Rows<'a> {
    Posts(&'a [EnrichedPost], &'a str, Option<DateTime<Utc>>),
    Prices(&'a [PricePoint]),
}

enum Written {
    Posts(WriteOutcome),
    Prices(u64),
}

impl Rows<'_> {
    fn len(self) -> usize {
        match self {
            Rows::Posts(posts, ..) => posts.len(),
            Rows::Prices(prices) => prices.len(),
        }
    }

    async fn write(
        self,
        tx: &mut Transaction<'_, Postgres>,
        range: Range<usize>,
    ) -> Result<Written, StoreError> {
        Ok(match self {
            Rows::Posts(posts, version, horizon) => {
                Written::Posts(write_posts(tx, &posts[range], version, horizon).await?)
            }
            Rows::Prices(prices) => Written::Prices(write_prices(tx, &prices[range]).await?),
        })
    }
}

/// Writes `rows` under a savepoint; a range the database refuses as invalid is rolled back and
/// halved until each refused row stands alone. Returns what was written and the refused rows'
/// indexes with their errors; any other error ends the transaction's work and is returned.
async fn bisect(
    tx: &mut Transaction<'_, Postgres>,
    rows: Rows<'_>,
) -> Result<(Vec<Written>, Vec<(usize, StoreError)>), StoreError> {
    let mut written = Vec::new();
    let mut refused = Vec::new();
    // Depth first, left half before right: rows are written in their original order.
    let mut pending: Vec<Range<usize>> = Vec::new();
    pending.push(0..rows.len());
    while let Some(range) = pending.pop() {
        if range.is_empty() {
            continue;
        }
        sqlx::query("SAVEPOINT isolate").execute(&mut **tx).await?;
        match rows.write(tx, range.clone()).await {
            Ok(out) => {
                sqlx::query("RELEASE SAVEPOINT isolate")
                    .execute(&mut **tx)
                    .await?;
                written.push(out);
            }
            Err(e) if e.is_data_error() => {
                sqlx::raw_sql("ROLLBACK TO SAVEPOINT isolate; RELEASE SAVEPOINT isolate")
                    .execute(&mut **tx)
                    .await?;
                if range.len() == 1 {
                    refused.push((range.start, e));
                } else {
                    let mid = range.start + range.len() / 2;
                    pending.push(mid..range.end);
                    pending.push(range.start..mid);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok((written, refused))
}

/// Inserts the rejected posts into `rejected_posts`, logging each.
async fn keep(
    tx: &mut Transaction<'_, Postgres>,
    rejected: &[RejectedPost],
) -> Result<(), StoreError> {
    if rejected.is_empty() {
        return Ok(());
    }
    for r in rejected {
        tracing::warn!(
            source = %r.source,
            platform = %r.platform,
            external_id = %shorten(&r.external_id),
            reason = %shorten(&r.reason),
            "Post rejected; kept in rejected_posts, the rest of its batch committed."
        );
    }
    let column = |f: fn(&RejectedPost) -> &str| rejected.iter().map(f).collect::<Vec<&str>>();
    let raws: Vec<&serde_json::Value> = rejected.iter().map(|r| &r.raw).collect();
    sqlx::query(
        "INSERT INTO rejected_posts (source, platform, external_id, reason, raw)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[])",
    )
    .bind(column(|r| &r.source))
    .bind(column(|r| &r.platform))
    .bind(column(|r| &r.external_id))
    .bind(column(|r| &r.reason))
    .bind(&raws)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// At most 200 characters of a value for a log line.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}
