//! What the daemon shows while it runs: charts redrawn on an interval, alerts evaluated as each
//! hourly bucket closes, and the dashboard page that displays them.
//!
//! Both tasks follow the data's clock rather than the wall clock: the newest stored post, capped at
//! now. For a live daemon the two are the same; for a replay or the demo (posts from 2021) charts and
//! alerts then cover the stored data instead of an empty "last 30 days".

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, TimeDelta, Utc};
use tokio_util::sync::CancellationToken;

use crate::chart::ChartFormat;
use crate::config::Config;
use crate::report::alerts;
use crate::store::Store;
use crate::store::queries::{self, Bucket};
use crate::store::writer::hour_bucket;

/// The newest post time, capped at now (`now` when nothing is stored).
pub async fn data_now(store: &Store) -> DateTime<Utc> {
    let latest: Option<DateTime<Utc>> = sqlx::query_scalar("SELECT max(created_at) FROM posts")
        .fetch_one(store.pool())
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
    let options = crate::chart::cli::DrawOptions {
        bucket: None,
        formats: vec![ChartFormat::Svg, ChartFormat::Png],
        size: crate::chart::DEFAULT_SIZE,
        theme: crate::chart::Theme::Light,
    };
    crate::chart::cli::draw_all(
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

#[derive(Clone)]
struct Dashboard {
    store: Store,
    assets: Arc<Vec<String>>,
    charts: Arc<PathBuf>,
}

/// `/` (the dashboard) and `/charts/{file}` (the chart files it shows).
pub fn dashboard_router(store: Store, config: &Config) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/charts/{file}", get(chart_file))
        .with_state(Dashboard {
            store,
            assets: Arc::new(config.charts.assets.clone()),
            charts: Arc::new(config.charts.out_dir.clone()),
        })
}

async fn page(State(d): State<Dashboard>) -> Response {
    let until = hour_bucket(data_now(&d.store).await) + TimeDelta::hours(1);
    let since = until - TimeDelta::hours(24);
    let mut rows = String::new();
    let mut charts = String::new();
    for input in d.assets.iter() {
        let Ok(asset) = queries::resolve_asset(d.store.pool(), input).await else {
            continue;
        };
        let counts =
            queries::asset_buckets(d.store.pool(), &asset.id, None, since, until, Bucket::Day)
                .await
                .unwrap_or_default();
        let posts: i64 = counts.iter().map(|b| b.counts.posts).sum();
        let positive: i64 = counts.iter().map(|b| b.counts.positive).sum();
        let negative: i64 = counts.iter().map(|b| b.counts.negative).sum();
        let price =
            queries::price_series(d.store.pool(), &asset.id, None, since, until, Bucket::Hour)
                .await
                .ok()
                .and_then(|p| p.last().map(|(_, v)| *v));
        let label = html_escape(asset.label());
        rows.push_str(&format!(
            "<tr class=\"asset\"><td>{label}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            crate::chart::format::thousands(posts),
            positive - negative,
            price.map_or("–".into(), crate::chart::format::usd),
        ));
        let stem = html_escape(&crate::chart::file_stem(asset.label()));
        charts.push_str(&format!(
            "<figure><img src=\"/charts/{stem}_volume_price.svg\" alt=\"{label} social volume vs price\" \
             onload=\"this.dataset.renderedWidth=this.naturalWidth\"></figure>"
        ));
    }
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>coinpulse</title>\
         <meta http-equiv=\"refresh\" content=\"30\">\
         <style>body{{font-family:sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse}}\
         td,th{{padding:.3em 1em;text-align:right}}td:first-child,th:first-child{{text-align:left}}\
         img{{max-width:100%;border:1px solid #ddd}}</style></head><body>\
         <h1>coinpulse</h1><p>24 hours to {until} (UTC). Refreshes every 30 s. \
         <a href=\"/metrics\">metrics</a> · <a href=\"/readyz\">status</a></p>\
         <table id=\"assets\"><tr><th>asset</th><th>posts</th><th>sentiment balance</th><th>last price</th></tr>{rows}</table>\
         {charts}</body></html>",
        until = until.format("%Y-%m-%d %H:%M")
    ))
    .into_response()
}

async fn chart_file(State(d): State<Dashboard>, UrlPath(file): UrlPath<String>) -> Response {
    // Only plain file names from the chart directory: no separators, no dot-files.
    let safe = !file.starts_with('.')
        && file
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    let content_type = match Path::new(&file).extension().and_then(|e| e.to_str()) {
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "",
    };
    if !safe || content_type.is_empty() {
        return StatusCode::NOT_FOUND.into_response();
    }
    match tokio::fs::read(d.charts.join(&file)).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
