//! Alerts: rules from the config, evaluated on every closed hourly bucket, delivered to the log and a
//! webhook, never repeated within the cool-down.
//!
//! Every alert that fires is first recorded in `alerts_sent` (unique per rule, asset and bucket), and
//! only the process whose insert succeeded delivers it: several daemons on one database, or a
//! restarted one re-evaluating the same bucket, never send the same alert twice. The cool-down is
//! checked against the same table.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::config::{AlertRule, AlertsConfig};
use crate::report::stats::trailing_zscores;
use crate::store::Store;
use crate::store::queries::{self, Bucket, QueryError};

/// Buckets behind a spike's baseline (one day of hours).
pub const SPIKE_WINDOW: usize = 24;

/// One alert, as logged and as POSTed to the webhook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// `volume_spike`, `sentiment_flip` or `new_in_top`.
    pub rule: &'static str,
    pub asset: String,
    /// Start of the closed hour that triggered it.
    pub bucket: DateTime<Utc>,
    pub message: String,
    /// The numbers behind it (z-score, balances, rank).
    pub value: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Evaluates every rule on the hour that starts at `bucket` (which must be closed) and delivers what
/// fires. Returns the alerts delivered by this call.
pub async fn evaluate(
    store: &Store,
    config: &AlertsConfig,
    bucket: DateTime<Utc>,
    client: &reqwest::Client,
) -> Result<Vec<Alert>, AlertError> {
    let mut candidates = Vec::new();
    for rule in &config.rules {
        candidates.extend(check_rule(store, rule, bucket).await?);
    }
    let cooldown = config.cooldown;
    let mut delivered = Vec::new();
    for alert in candidates {
        if record(store, &alert, cooldown).await? {
            tracing::warn!(rule = alert.rule, asset = %alert.asset, bucket = %alert.bucket, value = alert.value, "Alert: {}", alert.message);
            if let Some(url) = &config.webhook_url {
                post_webhook(client, url, &alert).await;
            }
            delivered.push(alert);
        }
    }
    Ok(delivered)
}

async fn check_rule(
    store: &Store,
    rule: &AlertRule,
    bucket: DateTime<Utc>,
) -> Result<Vec<Alert>, AlertError> {
    let pool = store.pool();
    let hour = TimeDelta::hours(1);
    let mut out = Vec::new();
    match rule {
        AlertRule::VolumeSpike { threshold, assets } => {
            let since = bucket - hour * SPIKE_WINDOW as i32;
            let by_asset =
                queries::volume_by_asset(pool, None, since, bucket + hour, Bucket::Hour).await?;
            for (asset, series) in by_asset {
                if !selected(store, assets, &asset).await? {
                    continue;
                }
                let values: Vec<f64> = series.iter().map(|(_, v)| *v as f64).collect();
                let Some(Some(z)) = trailing_zscores(&values, SPIKE_WINDOW).last().copied() else {
                    continue;
                };
                if z > *threshold {
                    let posts = values.last().copied().unwrap_or(0.0);
                    out.push(Alert {
                        rule: "volume_spike",
                        message: format!(
                            "{asset}: {posts:.0} posts in the hour from {bucket}, volume z-score {z:.1} (threshold {threshold})"
                        ),
                        asset,
                        bucket,
                        value: z,
                    });
                }
            }
        }
        AlertRule::SentimentFlip {
            min_mentions,
            assets,
        } => {
            let now = totals(store, bucket, bucket + hour).await?;
            let before = totals(store, bucket - hour, bucket).await?;
            for (asset, counts) in &now {
                let Some(prev) = before.iter().find(|(a, _)| a == asset).map(|(_, c)| c) else {
                    continue;
                };
                if counts.posts < *min_mentions || prev.posts < *min_mentions {
                    continue;
                }
                let (b0, b1) = (prev.balance(), counts.balance());
                if b0.signum() * b1.signum() < 0 && selected(store, assets, asset).await? {
                    out.push(Alert {
                        rule: "sentiment_flip",
                        asset: asset.clone(),
                        bucket,
                        message: format!(
                            "{asset}: sentiment balance flipped from {b0:+} to {b1:+} in the hour from {bucket}"
                        ),
                        value: b1 as f64,
                    });
                }
            }
        }
        AlertRule::NewInTop { n } => {
            let now = totals(store, bucket, bucket + hour).await?;
            let before = totals(store, bucket - hour * 24, bucket).await?;
            let top_before: Vec<&String> = before.iter().take(*n).map(|(a, _)| a).collect();
            if top_before.is_empty() {
                return Ok(out);
            }
            for (rank, (asset, counts)) in now.iter().take(*n).enumerate() {
                if !top_before.contains(&asset) {
                    out.push(Alert {
                        rule: "new_in_top",
                        asset: asset.clone(),
                        bucket,
                        message: format!(
                            "{asset} entered the top {n} by volume at #{} ({} posts) in the hour from {bucket}",
                            rank + 1,
                            counts.posts
                        ),
                        value: (rank + 1) as f64,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Per-asset counts over a range, busiest first.
async fn totals(
    store: &Store,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<(String, queries::Counts)>, AlertError> {
    let mut rows: Vec<(String, queries::Counts)> =
        queries::asset_totals(store.pool(), None, since, until, Bucket::Hour)
            .await?
            .into_iter()
            .map(|t| (t.asset.id, t.counts))
            .collect();
    rows.sort_by(|a, b| b.1.posts.cmp(&a.1.posts).then(a.0.cmp(&b.0)));
    Ok(rows)
}

/// Whether `asset` is one of `wanted` (symbols, names or ids); an empty list selects every asset.
async fn selected(store: &Store, wanted: &[String], asset: &str) -> Result<bool, AlertError> {
    if wanted.is_empty() {
        return Ok(true);
    }
    for w in wanted {
        if let Ok(found) = queries::resolve_asset(store.pool(), w).await
            && found.id == asset
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Records the alert unless the same rule fired for the same asset within `cooldown` (or for this
/// bucket already). Returns whether this call recorded it, and so must deliver it.
async fn record(store: &Store, alert: &Alert, cooldown: Duration) -> Result<bool, AlertError> {
    let inserted = sqlx::query(
        "INSERT INTO alerts_sent (rule, asset_id, bucket, fired_at, message, value)
         SELECT $1, $2, $3, now(), $4, $5
         WHERE NOT EXISTS (
             SELECT 1 FROM alerts_sent
             WHERE rule = $1 AND asset_id = $2
               AND fired_at > now() - $6 * interval '1 second')
         ON CONFLICT (rule, asset_id, bucket) DO NOTHING",
    )
    .bind(alert.rule)
    .bind(&alert.asset)
    .bind(alert.bucket)
    .bind(&alert.message)
    .bind(alert.value)
    .bind(cooldown.as_secs_f64())
    .execute(store.pool())
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// POSTs the alert as JSON, retrying failures three times with backoff; a webhook that stays down
/// is logged, never fatal.
async fn post_webhook(client: &reqwest::Client, url: &str, alert: &Alert) {
    for attempt in 0..4u32 {
        match client.post(url).json(alert).send().await {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => {
                tracing::warn!(status = %r.status(), attempt, "Alert webhook refused the alert.")
            }
            Err(e) => tracing::warn!(error = %e, attempt, "Alert webhook unreachable."),
        }
        tokio::time::sleep(Duration::from_millis(500 * 2u64.pow(attempt))).await;
    }
    tracing::error!(rule = alert.rule, asset = %alert.asset, "Alert not delivered to the webhook after retries.");
}

/// The start of the last closed hour before `now`.
pub fn last_closed_hour(now: DateTime<Utc>) -> DateTime<Utc> {
    crate::store::writer::hour_bucket(now) - TimeDelta::hours(1)
}
