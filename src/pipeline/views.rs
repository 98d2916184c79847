//! What the daemon does besides collecting: charts redrawn on an interval, and alerts evaluated as
//! each hourly bucket closes (the dashboard that shows them is [`crate::dashboard`]).
//!
//! Both tasks follow the data's clock rather than the wall clock: the newest stored post, capped at
//! now. For a live daemon the two are the same; for a replay or the demo (posts from 2021) charts and
//! alerts then cover the stored data instead of an empty "last 30 days".

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio_util::sync::CancellationToken;

use crate::chart::ChartFormat;
use crate::config::Config;
use crate::model::hour_bucket;
use crate::report::alerts;
use crate::store::Store;

/// The newest post time, capped at now (`now` when nothing is stored).
pub async fn data_now(store: &Store) -> DateTime<Utc> {
    let latest = crate::store::queries::newest_post(store.pool())
        .await
        .unwrap_or(None);
    latest.map_or_else(Utc::now, |t| t.min(Utc::now()))
}

/// Redraws the configured charts (PNG and SVG) every `charts.interval` until shutdown.
pub async fn chart_task(store: Store, config: Config, shutdown: CancellationToken) {
    loop {
        if let Err(e) = draw_once(&store, &config).await {
            tracing::warn!(error = %e, "Could not redraw the charts.");
        }
        crate::memory::release_free_memory();
        tokio::select! {
            _ = tokio::time::sleep(config.charts.interval) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

async fn draw_once(store: &Store, config: &Config) -> anyhow::Result<()> {
    let until = hour_bucket(data_now(store).await) + TimeDelta::hours(1);
    let range = TimeDelta::from_std(config.charts.range).unwrap_or(TimeDelta::days(30));
    let since = until - range;
    let options = crate::chart::draw::DrawOptions {
        bucket: None,
        formats: vec![ChartFormat::Svg, ChartFormat::Png],
        size: crate::chart::DEFAULT_SIZE,
        theme: crate::chart::Theme::Light,
    };
    crate::chart::draw::draw_all(
        store,
        &config.charts.assets,
        since,
        until,
        &config.charts.out_dir,
        &options,
    )
    .await?;
    tracing::debug!(dir = %config.charts.out_dir.display(), "Charts redrawn.");
    Ok(())
}

/// Evaluates the alert rules each time an hourly bucket closes, and sends the daily digest, until
/// shutdown.
pub async fn alert_task(mut alerter: alerts::Alerter, store: Store, shutdown: CancellationToken) {
    if alerter.is_idle() {
        return;
    }
    loop {
        alerter
            .tick(&store, data_now(&store).await, Utc::now())
            .await;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(10)) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
