//! The daily digest: once a day at `alerts.digest.hour_utc`, what the last 24 hours of human posts
//! said against the 24 hours before: the most talked-about assets, the biggest volume changes,
//! sentiment flips and new entrants to the top 10.
//!
//! It reads the `top` report ([`crate::report::reports::top`]) for both days, so its numbers are the
//! ones `coinpulse report top --since … --until …` prints. Changes, flips and entrants only count
//! assets above the `[spikes]` post floor on the days compared, so one post against none is not a
//! "+100 %".
//!
//! Each digest is recorded in `alerts_sent` (rule `digest`, the digest time as bucket) before it is
//! sent, so a restart or a second daemon never sends the day's digest twice. A daemon that was down
//! at the digest hour sends it when it comes back, unless that is more than [`LATE_LIMIT`] later.

use std::collections::HashMap;

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::message::{Field, Message};
use super::{AlertError, coin_name, dashboard_link};
use crate::config::AlertsConfig;
use crate::report::reports::{self, Params, TopRow};
use crate::report::significance::SpikesConfig;
use crate::store::Store;
use crate::store::queries::{Bucket, Population};

/// `[alerts.digest]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DigestConfig {
    /// The hour of the day (UTC, 0–23) the digest is sent, covering the 24 hours before it.
    pub hour_utc: u32,
}

/// A digest is skipped when it could only be sent this long after its time.
pub const LATE_LIMIT: TimeDelta = TimeDelta::hours(6);

/// Rows per list.
const ROWS: usize = 5;
/// New entrants are counted against this top.
const TOP: usize = 10;

/// One asset in a digest list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DigestRow {
    pub asset: String,
    /// "BTC (Bitcoin)".
    pub coin: String,
    /// Rank by volume over the 24 hours.
    pub rank: usize,
    pub posts: i64,
    pub previous_posts: i64,
    /// Relative change of posts against the previous 24 hours.
    pub change: Option<f64>,
    /// Positive minus negative posts.
    pub balance: i64,
    pub previous_balance: i64,
}

/// The digest as computed, and as the generic webhook receives it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Digest {
    /// Always `digest`.
    pub rule: &'static str,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Assets mentioned by human posts in the 24 hours.
    pub assets: usize,
    pub top: Vec<DigestRow>,
    /// Largest relative volume changes, up or down.
    pub movers: Vec<DigestRow>,
    /// Balance changed sign against the previous 24 hours.
    pub flips: Vec<DigestRow>,
    /// In the top 10 now, not in the previous 24 hours' top 10.
    pub new_in_top: Vec<DigestRow>,
}

impl DigestConfig {
    /// The latest digest time at or before `now`.
    pub fn latest(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let time = NaiveTime::from_hms_opt(self.hour_utc, 0, 0).unwrap_or_default();
        let today = now.date_naive().and_time(time).and_utc();
        if today <= now {
            today
        } else {
            today - TimeDelta::days(1)
        }
    }
}

/// Sends the digest due at `now`, if one is and no process has sent it yet. Returns it when this
/// call sent it.
pub async fn send_due(
    store: &Store,
    config: &AlertsConfig,
    floors: &SpikesConfig,
    channels: &super::Channels,
    now: DateTime<Utc>,
) -> Result<Option<Digest>, AlertError> {
    let Some(digest_config) = &config.digest else {
        return Ok(None);
    };
    let until = digest_config.latest(now);
    if now - until >= LATE_LIMIT || sent(store, until).await? {
        return Ok(None);
    }
    let digest = compute(store, floors, until).await?;
    let message = digest.to_message(config.dashboard_url.as_deref());
    if !record(store, until, &message).await? {
        return Ok(None);
    }
    tracing::info!(until = %until, assets = digest.assets, "Daily digest: {}", message.text);
    channels.send(&message).await;
    Ok(Some(digest))
}

/// The digest of the 24 hours before `until`.
pub async fn compute(
    store: &Store,
    floors: &SpikesConfig,
    until: DateTime<Utc>,
) -> Result<Digest, AlertError> {
    let day = TimeDelta::days(1);
    let since = until - day;
    let now = top(store, floors, since, until).await?;
    let before = top(store, floors, since - day, since).await?;
    let previous: HashMap<&str, (usize, &TopRow)> = before
        .iter()
        .enumerate()
        .map(|(i, r)| (r.asset.id.as_str(), (i, r)))
        .collect();
    let floor = floors.min_posts.max(1);
    let both_busy = |r: &TopRow| r.counts.posts >= floor && r.previous_posts >= floor;

    let mut movers: Vec<(usize, &TopRow)> = now
        .iter()
        .enumerate()
        .filter(|(_, r)| both_busy(r))
        .collect();
    movers.sort_by(|a, b| {
        let size = |r: &TopRow| r.change.unwrap_or(0.0).abs();
        size(b.1).total_cmp(&size(a.1)).then(a.0.cmp(&b.0))
    });
    movers.truncate(ROWS);
    let flips: Vec<(usize, &TopRow)> = now
        .iter()
        .enumerate()
        .filter(|(_, r)| both_busy(r))
        .filter(|(_, r)| {
            previous.get(r.asset.id.as_str()).is_some_and(|(_, p)| {
                (p.counts.balance().signum() * r.counts.balance().signum()) < 0
            })
        })
        .take(ROWS)
        .collect();
    let new_in_top: Vec<(usize, &TopRow)> = if before.is_empty() {
        Vec::new()
    } else {
        now.iter()
            .enumerate()
            .take(TOP)
            .filter(|(_, r)| r.counts.posts >= floor)
            .filter(|(_, r)| {
                previous
                    .get(r.asset.id.as_str())
                    .is_none_or(|(rank, _)| *rank >= TOP)
            })
            .collect()
    };

    let top_rows: Vec<(usize, &TopRow)> = now.iter().enumerate().take(ROWS).collect();
    let lists = [top_rows, movers, flips, new_in_top];
    let mut names: HashMap<String, String> = HashMap::new();
    for (_, r) in lists.iter().flatten() {
        if !names.contains_key(&r.asset.id) {
            names.insert(r.asset.id.clone(), coin_name(store, &r.asset.id).await?);
        }
    }
    let row = |(rank, r): &(usize, &TopRow)| DigestRow {
        asset: r.asset.id.clone(),
        coin: names
            .get(&r.asset.id)
            .cloned()
            .unwrap_or_else(|| r.asset.id.clone()),
        rank: rank + 1,
        posts: r.counts.posts,
        previous_posts: r.previous_posts,
        change: r.change,
        balance: r.counts.balance(),
        previous_balance: previous
            .get(r.asset.id.as_str())
            .map_or(0, |(_, p)| p.counts.balance()),
    };
    let [top_rows, movers, flips, new_in_top] = lists.map(|l| l.iter().map(row).collect());
    Ok(Digest {
        rule: "digest",
        since,
        until,
        assets: now.len(),
        top: top_rows,
        movers,
        flips,
        new_in_top,
    })
}

impl Digest {
    /// The digest as the channels show it.
    pub fn to_message(&self, dashboard_url: Option<&str>) -> Message {
        let lines = |rows: &[DigestRow], line: &dyn Fn(&DigestRow) -> String| {
            if rows.is_empty() {
                "none".to_owned()
            } else {
                rows.iter().map(line).collect::<Vec<_>>().join("\n")
            }
        };
        let change = |r: &DigestRow| {
            r.change
                .map_or("new".to_owned(), |c| format!("{:+.0} %", c * 100.0))
        };
        let top = lines(&self.top, &|r| {
            format!(
                "{}. {}: {} posts ({} on the day before), balance {:+}",
                r.rank,
                r.coin,
                r.posts,
                change(r),
                r.balance
            )
        });
        let movers = lines(&self.movers, &|r| {
            format!(
                "{}: {} ({} → {} posts)",
                r.coin,
                change(r),
                r.previous_posts,
                r.posts
            )
        });
        let flips = lines(&self.flips, &|r| {
            format!(
                "{}: balance {:+} → {:+}",
                r.coin, r.previous_balance, r.balance
            )
        });
        let entrants = lines(&self.new_in_top, &|r| {
            format!("#{} {}: {} posts", r.rank, r.coin, r.posts)
        });
        let text = match self.top.first() {
            Some(first) => format!(
                "The 24 hours to {} UTC: {} assets mentioned in human posts; the most talked about was {} with {} posts.",
                self.until.format("%Y-%m-%d %H:%M"),
                self.assets,
                first.coin,
                first.posts
            ),
            None => format!(
                "The 24 hours to {} UTC: no human post mentioned a tracked asset.",
                self.until.format("%Y-%m-%d %H:%M")
            ),
        };
        Message {
            title: format!("Daily digest, {}", self.until.format("%Y-%m-%d")),
            text,
            fields: vec![
                Field::new("Most talked about", top),
                Field::new("Biggest volume change", movers),
                Field::new("Sentiment flips", flips),
                Field::new(format!("New in the top {TOP}"), entrants),
            ],
            link: dashboard_url.map(|url| dashboard_link(url, None)),
            payload: serde_json::to_value(self).expect("a digest serialises"),
        }
    }
}

async fn top(
    store: &Store,
    floors: &SpikesConfig,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<TopRow>, AlertError> {
    let params = Params {
        since,
        until,
        asset: None,
        platform: None,
        bucket: Bucket::Hour,
        limit: usize::MAX,
        window: super::SPIKE_WINDOW,
        threshold: 0.0,
        population: Population::Humans,
        min_posts: floors.min_posts,
        min_authors: floors.min_authors,
        max_lag: None,
        price_source: None,
    };
    Ok(reports::top(store.pool(), &params).await?)
}

/// The rule and asset a digest is recorded under in `alerts_sent`.
const RULE: &str = "digest";
const ASSET: &str = "";

async fn sent(store: &Store, until: DateTime<Utc>) -> Result<bool, AlertError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM alerts_sent WHERE rule = $1 AND asset_id = $2 AND bucket = $3)",
    )
    .bind(RULE)
    .bind(ASSET)
    .bind(until)
    .fetch_one(store.pool())
    .await?)
}

/// Records the digest of `until`; whether this call did (and so must send it).
async fn record(
    store: &Store,
    until: DateTime<Utc>,
    message: &Message,
) -> Result<bool, AlertError> {
    let inserted = sqlx::query(
        "INSERT INTO alerts_sent (rule, asset_id, bucket, fired_at, message, value)
         VALUES ($1, $2, $3, now(), $4, NULL)
         ON CONFLICT (rule, asset_id, bucket) DO NOTHING",
    )
    .bind(RULE)
    .bind(ASSET)
    .bind(until)
    .bind(&message.text)
    .execute(store.pool())
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_digest_time_is_today_once_the_hour_has_come() {
        let config = DigestConfig { hour_utc: 8 };
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            config.latest(t("2021-01-05T08:00:00Z")),
            t("2021-01-05T08:00:00Z")
        );
        assert_eq!(
            config.latest(t("2021-01-05T23:59:00Z")),
            t("2021-01-05T08:00:00Z")
        );
        assert_eq!(
            config.latest(t("2021-01-05T07:59:59Z")),
            t("2021-01-04T08:00:00Z")
        );
    }

    #[test]
    fn the_message_names_coins_numbers_and_links_the_dashboard() {
        let row = DigestRow {
            asset: "bitcoin".into(),
            coin: "BTC (Bitcoin)".into(),
            rank: 1,
            posts: 120,
            previous_posts: 60,
            change: Some(1.0),
            balance: -4,
            previous_balance: 10,
        };
        let until = "2021-01-05T08:00:00Z".parse().unwrap();
        let digest = Digest {
            rule: "digest",
            since: until - TimeDelta::days(1),
            until,
            assets: 7,
            top: vec![row.clone()],
            movers: vec![row.clone()],
            flips: vec![row],
            new_in_top: vec![],
        };
        let m = digest.to_message(Some("http://127.0.0.1:9187/"));
        assert_eq!(m.title, "Daily digest, 2021-01-05");
        assert!(
            m.text.contains("BTC (Bitcoin) with 120 posts"),
            "{}",
            m.text
        );
        assert_eq!(
            m.fields[0].value,
            "1. BTC (Bitcoin): 120 posts (+100 % on the day before), balance -4"
        );
        assert_eq!(m.fields[1].value, "BTC (Bitcoin): +100 % (60 → 120 posts)");
        assert_eq!(m.fields[2].value, "BTC (Bitcoin): balance +10 → -4");
        assert_eq!(m.fields[3].value, "none");
        assert_eq!(m.link.as_deref(), Some("http://127.0.0.1:9187/#range=24h"));
        assert_eq!(m.payload["rule"], "digest");
        assert_eq!(m.payload["top"][0]["coin"], "BTC (Bitcoin)");
    }
}
