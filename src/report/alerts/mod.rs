//! Alerts: rules from the config, evaluated on every hourly bucket that closes while the daemon runs
//! ([`AlertClock`]: never on history at start-up), delivered to the log and to the configured
//! [`channels`] (Discord, Slack, Telegram, a generic webhook), never repeated within the cool-down;
//! and a [`digest`] of the day once a day. Counts are of human posts; a volume spike must clear the
//! `[spikes]` floors (posts and distinct authors) and a surprise threshold (see
//! [`super::significance`]); messages name the ticker and the coin, the numbers, the hour and, when
//! `alerts.dashboard_url` is set, link to the asset on the dashboard.
//!
//! Every alert that fires is first recorded in `alerts_sent` (unique per rule, asset and bucket), and
//! only the process whose insert succeeded delivers it: several daemons on one database, or a
//! restarted one re-evaluating the same bucket, never send the same alert twice. The cool-down is
//! checked against the same table.

pub mod channels;
pub mod cli;
pub mod digest;
pub mod message;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use self::channels::Channels;
use self::message::{Field, Message};
use crate::config::{AlertRule, AlertsConfig};
use crate::report::significance::{SpikesConfig, surprise};
use crate::store::Store;
use crate::store::queries::{self, Bucket, Population, QueryError};

/// Buckets behind a spike's baseline (one day of hours).
pub const SPIKE_WINDOW: usize = 24;

/// One alert, as logged and as POSTed to the webhook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// `volume_spike`, `sentiment_flip` or `new_in_top`.
    pub rule: &'static str,
    pub asset: String,
    /// "BTC (Bitcoin)", or the id when the registry does not list it.
    pub coin: String,
    /// Start of the closed hour that triggered it.
    pub bucket: DateTime<Utc>,
    pub message: String,
    /// The numbers behind it (surprise, balance, rank).
    pub value: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Report(#[from] crate::report::reports::ReportError),
}

impl Alert {
    /// The alert as the channels show it.
    pub fn to_message(&self, dashboard_url: Option<&str>) -> Message {
        let (title, value_name, value) = match self.rule {
            "volume_spike" => ("Volume spike", "Surprise", format!("{:.1}", self.value)),
            "sentiment_flip" => ("Sentiment flip", "Balance", format!("{:+}", self.value)),
            "new_in_top" => ("New in the top", "Rank", format!("#{}", self.value)),
            other => (other, "Value", format!("{}", self.value)),
        };
        let end = self.bucket + TimeDelta::hours(1);
        Message {
            title: format!("{title}: {}", self.coin),
            text: self.message.clone(),
            fields: vec![
                Field::new(
                    "Hour",
                    format!(
                        "{} – {} UTC",
                        self.bucket.format("%Y-%m-%d %H:%M"),
                        end.format("%H:%M")
                    ),
                ),
                Field::new(value_name, value),
            ],
            link: dashboard_url.map(|url| dashboard_link(url, Some(&self.asset))),
            payload: serde_json::to_value(self).expect("an alert serialises"),
        }
    }
}

/// `<dashboard_url>/#asset=<id>&range=24h`, or the last 24 hours of every asset.
pub fn dashboard_link(dashboard_url: &str, asset: Option<&str>) -> String {
    let base = dashboard_url.trim_end_matches('/');
    match asset {
        Some(id) => {
            let id: String = id
                .bytes()
                .map(|b| match b {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                        char::from(b).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            format!("{base}/#asset={id}&range=24h")
        }
        None => format!("{base}/#range=24h"),
    }
}

impl AlertsConfig {
    /// Checks what serde cannot: URLs that are URLs, an hour of the day.
    pub(crate) fn check(&self) -> Result<(), String> {
        let url = |key: &str, value: &str| match reqwest::Url::parse(value) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
            _ => Err(format!(
                "invalid value for key `{key}`: `{value}` is not an http(s) URL"
            )),
        };
        if let Some(u) = &self.dashboard_url {
            url("alerts.dashboard_url", u)?;
        }
        if let Some(u) = &self.webhook_url {
            url("alerts.webhook_url", u)?;
        }
        for (i, channel) in self.channels.iter().enumerate() {
            if let channels::ChannelConfig::Webhook { url: u } = channel {
                url(&format!("alerts.channels[{i}].url"), u)?;
            }
        }
        if let Some(d) = &self.digest
            && d.hour_utc > 23
        {
            return Err(format!(
                "invalid value for key `alerts.digest.hour_utc`: {} is not an hour (0–23)",
                d.hour_utc
            ));
        }
        Ok(())
    }
}

/// Evaluates every rule on the hour that starts at `bucket` (which must be closed) and delivers what
/// fires, with the default spike floors. Returns the alerts delivered by this call.
pub async fn evaluate(
    store: &Store,
    config: &AlertsConfig,
    bucket: DateTime<Utc>,
    channels: &Channels,
) -> Result<Vec<Alert>, AlertError> {
    evaluate_with_floors(store, config, &SpikesConfig::default(), bucket, channels).await
}

/// [`evaluate`] with the configured spike floors: a volume spike needs at least `floors.min_posts`
/// human posts from `floors.min_authors` distinct human authors in the hour.
pub async fn evaluate_with_floors(
    store: &Store,
    config: &AlertsConfig,
    floors: &SpikesConfig,
    bucket: DateTime<Utc>,
    channels: &Channels,
) -> Result<Vec<Alert>, AlertError> {
    let mut candidates = Vec::new();
    for rule in &config.rules {
        candidates.extend(check_rule(store, rule, floors, bucket).await?);
    }
    let cooldown = config.cooldown;
    let mut delivered = Vec::new();
    for alert in candidates {
        if record(store, &alert, cooldown).await? {
            tracing::warn!(rule = alert.rule, asset = %alert.asset, bucket = %alert.bucket, value = alert.value, "Alert: {}", alert.message);
            channels
                .send(&alert.to_message(config.dashboard_url.as_deref()))
                .await;
            delivered.push(alert);
        }
    }
    Ok(delivered)
}

async fn check_rule(
    store: &Store,
    rule: &AlertRule,
    floors: &SpikesConfig,
    bucket: DateTime<Utc>,
) -> Result<Vec<Alert>, AlertError> {
    let pool = store.pool();
    let hour = TimeDelta::hours(1);
    let mut out = Vec::new();
    match rule {
        AlertRule::VolumeSpike { threshold, assets } => {
            let since = bucket - hour * SPIKE_WINDOW as i32;
            let by_asset = queries::volume_by_asset_of(
                pool,
                Population::Humans,
                None,
                since,
                bucket + hour,
                Bucket::Hour,
            )
            .await?;
            for (asset, series) in by_asset {
                let Some((last, history)) = series.split_last() else {
                    continue;
                };
                if last.bucket != bucket
                    || history.len() < SPIKE_WINDOW
                    || last.posts < floors.min_posts
                    || last.authors < floors.min_authors
                    || !selected(store, assets, &asset).await?
                {
                    continue;
                }
                let baseline: Vec<f64> = history.iter().map(|v| v.posts as f64).collect();
                let surprise = surprise(last.posts.max(0) as u64, &baseline);
                if surprise >= *threshold {
                    let name = coin_name(store, &asset).await?;
                    let mean = baseline.iter().sum::<f64>() / baseline.len() as f64;
                    out.push(Alert {
                        rule: "volume_spike",
                        message: format!(
                            "{name}: {} posts by {} people in the hour from {bucket} against {mean:.1} an hour before, surprise {surprise:.1} (threshold {threshold})",
                            last.posts, last.authors
                        ),
                        coin: name,
                        asset,
                        bucket,
                        value: surprise,
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
                    let name = coin_name(store, asset).await?;
                    out.push(Alert {
                        rule: "sentiment_flip",
                        asset: asset.clone(),
                        coin: name.clone(),
                        bucket,
                        message: format!(
                            "{name}: sentiment balance flipped from {b0:+} to {b1:+} in the hour from {bucket}"
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
                if !top_before.contains(&asset) && counts.posts >= floors.min_posts {
                    let name = coin_name(store, asset).await?;
                    out.push(Alert {
                        rule: "new_in_top",
                        asset: asset.clone(),
                        coin: name.clone(),
                        bucket,
                        message: format!(
                            "{name} entered the top {n} by volume at #{} ({} posts) in the hour from {bucket}",
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

/// "BTC (Bitcoin)": the ticker and the coin, or the id when the registry does not list it.
pub(crate) async fn coin_name(store: &Store, asset: &str) -> Result<String, AlertError> {
    let found: Option<(String, String)> =
        sqlx::query_as("SELECT symbol, name FROM assets WHERE id = $1")
            .bind(asset)
            .fetch_optional(store.pool())
            .await?;
    Ok(match found {
        Some((symbol, name)) => format!("{} ({name})", symbol.to_uppercase()),
        None => asset.to_string(),
    })
}

/// When to evaluate: each hour that closes while the daemon runs, never one that had closed before
/// it started. The first call only notes the hour that is closed at start-up, so history (an
/// import, a long downtime) raises nothing; every later call returns the newly closed hour, once.
#[derive(Debug, Default)]
pub struct AlertClock {
    last: Option<DateTime<Utc>>,
}

impl AlertClock {
    /// `closed` is the last closed hour now; returns it when it is due for evaluation.
    pub fn due(&mut self, closed: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.last.replace(closed) {
            Some(last) if closed > last => Some(closed),
            Some(last) => {
                self.last = Some(last);
                None
            }
            None => None,
        }
    }
}

/// The daemon's alerting: the clock of closed hours, an hour whose evaluation failed (retried on the
/// next tick), the digest and the channels, built once at start-up.
#[derive(Debug)]
pub struct Alerter {
    config: AlertsConfig,
    floors: SpikesConfig,
    channels: Channels,
    clock: AlertClock,
    pending: Option<DateTime<Utc>>,
}

impl Alerter {
    pub fn new(config: AlertsConfig, floors: SpikesConfig, channels: Channels) -> Alerter {
        Alerter {
            config,
            floors,
            channels,
            clock: AlertClock::default(),
            pending: None,
        }
    }

    /// Neither a rule nor a digest is configured: nothing to do.
    pub fn is_idle(&self) -> bool {
        self.config.rules.is_empty() && self.config.digest.is_none()
    }

    /// Evaluates the hour that closed (in data time, `data_now`) since the last tick, and sends the
    /// digest due at the wall-clock time `now`. Failures are logged and retried on the next tick.
    pub async fn tick(&mut self, store: &Store, data_now: DateTime<Utc>, now: DateTime<Utc>) {
        if !self.config.rules.is_empty() {
            if let Some(due) = self.clock.due(last_closed_hour(data_now)) {
                self.pending = Some(due);
            }
            if let Some(due) = self.pending {
                match evaluate_with_floors(store, &self.config, &self.floors, due, &self.channels)
                    .await
                {
                    Ok(fired) => {
                        tracing::debug!(bucket = %due, fired = fired.len(), "Alert rules evaluated.");
                        self.pending = None;
                    }
                    Err(e) => tracing::warn!(error = %e, "Could not evaluate the alert rules."),
                }
            }
        }
        if let Err(e) =
            digest::send_due(store, &self.config, &self.floors, &self.channels, now).await
        {
            tracing::warn!(error = %e, "Could not send the daily digest.");
        }
    }
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

/// The start of the last closed hour before `now`.
pub fn last_closed_hour(now: DateTime<Utc>) -> DateTime<Utc> {
    crate::model::hour_bucket(now) - TimeDelta::hours(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_urls_and_hours_are_refused_naming_the_key() {
        let bad = |config: AlertsConfig| config.check().unwrap_err();
        let e = bad(AlertsConfig {
            dashboard_url: Some("coinpulse.example.org".into()),
            ..AlertsConfig::default()
        });
        assert!(e.contains("`alerts.dashboard_url`"), "{e}");
        let e = bad(AlertsConfig {
            channels: vec![channels::ChannelConfig::Webhook {
                url: "ftp://example.org/hook".into(),
            }],
            ..AlertsConfig::default()
        });
        assert!(e.contains("`alerts.channels[0].url`"), "{e}");
        let e = bad(AlertsConfig {
            digest: Some(digest::DigestConfig { hour_utc: 24 }),
            ..AlertsConfig::default()
        });
        assert!(
            e.contains("`alerts.digest.hour_utc`: 24 is not an hour"),
            "{e}"
        );
        assert!(AlertsConfig::default().check().is_ok());
    }

    #[test]
    fn dashboard_links_name_the_asset_and_the_range() {
        assert_eq!(
            dashboard_link("https://d.example/", Some("bitcoin-cash")),
            "https://d.example/#asset=bitcoin-cash&range=24h"
        );
        assert_eq!(
            dashboard_link("https://d.example", Some("a&b c")),
            "https://d.example/#asset=a%26b%20c&range=24h"
        );
    }

    #[test]
    fn history_closed_before_start_up_is_never_evaluated() {
        let mut clock = AlertClock::default();
        let t = |h: i64| {
            DateTime::from_timestamp(1_600_000_000 / 3600 * 3600, 0).unwrap() + TimeDelta::hours(h)
        };
        // At start-up the last closed hour (say, of a two-year-old import) is only noted.
        assert_eq!(clock.due(t(0)), None);
        assert_eq!(clock.due(t(0)), None);
        // The next hour to close is evaluated, once.
        assert_eq!(clock.due(t(1)), Some(t(1)));
        assert_eq!(clock.due(t(1)), None);
        // Data time never moves the clock backwards.
        assert_eq!(clock.due(t(0)), None);
        assert_eq!(clock.due(t(2)), Some(t(2)));
    }
}
