//! `coinpulse run`: start-up checks, then the pipeline, the HTTP server and the signal handlers.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::Enricher;
use super::daemon::{self, Context, Status};
use super::metrics::Metrics;
use super::server::{self, AppState};
use crate::collect::{self, Collector};
use crate::config::Config;
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct RunArgs {}

/// Runs the daemon until SIGINT or SIGTERM. Start-up problems that make running pointless (no
/// database, no model, no asset registry) are errors; a source with bad credentials is reported and
/// left out while the others run.
pub async fn run(_args: RunArgs, config: &Config) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone());
    run_until(config, &collect::Secrets::from_env(), shutdown).await
}

/// The daemon with an external shutdown token (tests, the demo) and credentials resolved by
/// `secrets`.
pub async fn run_until(
    config: &Config,
    secrets: &collect::Secrets,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let store = Store::connect(&config.database)
        .await
        .map_err(|e| anyhow::anyhow!("start-up check failed: database: {e}"))?;
    tracing::info!("Start-up check passed: database reachable, migrations applied.");
    // The version first: an update landing in between is then seen as new by the reload task.
    let registry_version = store.registry_version().await?;
    let stored = store.asset_list().await?;
    let enricher = Arc::new(
        Enricher::with_stored_assets(config, stored)
            .map_err(|e| anyhow::anyhow!("start-up check failed: {e}"))?,
    );
    tracing::info!(
        assets = enricher.tagger().assets().len(),
        registry_version,
        model = enricher.model_version(),
        "Start-up check passed: asset registry and sentiment model loaded."
    );
    store.upsert_assets(enricher.tagger().assets()).await?;
    // The classifier's near-duplicate window, rebuilt from what was stored before this start.
    let since = chrono::TimeDelta::from_std(config.classify.window)
        .ok()
        .and_then(|w| chrono::Utc::now().checked_sub_signed(w))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
    let recent = store
        .recent_posts(since, config.classify.window_posts)
        .await?;
    enricher.remember(
        recent
            .iter()
            .map(|(t, a, at)| (t.as_str(), a.as_deref(), *at)),
    );
    tracing::info!(
        posts = recent.len(),
        "Near-duplicate window rebuilt from stored posts."
    );
    drop(recent);

    let channels = crate::report::alerts::channels::Channels::new(
        &config.alerts.channels,
        config.alerts.webhook_url.as_deref(),
        secrets,
    )
    .map_err(|e| anyhow::anyhow!("start-up check failed: {e}"))?;
    let alerter =
        crate::report::alerts::Alerter::new(config.alerts.clone(), config.spikes.clone(), channels);

    // A source that fails its start-up check stays in the status as `disabled` with the reason, so
    // `/readyz` answers 503 until the configuration is fixed.
    let status = Arc::new(Status::default());
    let mut collectors: Vec<Box<dyn Collector>> = Vec::new();
    // Collectors that look assets up (prices) get the registry of the start; the filter below asks
    // the current tagger.
    let start_tagger = enricher.tagger();
    let mut build = config
        .sources
        .build_context(start_tagger.assets(), None, secrets);
    let tagger = enricher.clone();
    build.filter = Some(Arc::new(move |text: &str| tagger.mentions_any(text)));
    for (name, built) in collect::build_collectors(config, &build) {
        match built {
            Ok(collector) => collectors.push(collector),
            Err(e) => {
                tracing::error!(source = %name, error = %e, "Start-up check failed; source disabled.");
                status.disable(&name, e.to_string());
            }
        }
    }
    tracing::info!(sources = collectors.len(), "Starting collectors.");

    let metrics = Arc::new(Metrics::new());
    metrics.declare_sources(collectors.iter().map(|c| c.name()));
    let summary = Arc::new(super::summary::Summary::default());
    let summaries = tokio::spawn(super::summary::summary_task(
        summary.clone(),
        config.pipeline.summary_interval,
        shutdown.clone(),
    ));
    let retention = tokio::spawn(super::retention::retention_task(
        store.clone(),
        metrics.clone(),
        shutdown.clone(),
    ));
    let registry = tokio::spawn(super::registry::registry_task(
        super::registry::Reloader::new(
            store.clone(),
            enricher.clone(),
            config.tagger.clone(),
            metrics.clone(),
            registry_version,
        ),
        super::registry::CHECK_EVERY,
        shutdown.clone(),
    ));
    let ctx = Context {
        store: store.clone(),
        enricher,
        metrics: metrics.clone(),
        status: status.clone(),
        summary,
        pipeline: config.pipeline.clone(),
        holder: daemon::holder_name(),
    };

    let mut server_task = None;
    if let Some(addr) = config.http.listen {
        let access = super::access::Access::for_listen(addr, &config.http.token_env)
            .map_err(|e| anyhow::anyhow!("start-up check failed: {e}"))?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("start-up check failed: cannot listen on {addr}: {e}"))?;
        let local = listener.local_addr()?;
        tracing::info!(address = %local, "Serving the dashboard, /api/v1, /healthz, /readyz and /metrics.");
        let pages = server::pages(store.clone(), config);
        let router = server::router(AppState {
            store: store.clone(),
            metrics,
            status,
            extra: Some(server::shed(pages, config.http.max_in_flight)),
        })
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(access),
            super::access::guard,
        ));
        server_task = Some(tokio::spawn(server::serve(
            listener,
            router,
            shutdown.clone(),
        )));
    }

    let charts = tokio::spawn(super::views::chart_task(
        store.clone(),
        config.clone(),
        shutdown.clone(),
    ));
    let alerts = tokio::spawn(super::views::alert_task(
        alerter,
        store.clone(),
        shutdown.clone(),
    ));

    daemon::run_pipeline(ctx, collectors, shutdown.clone()).await;
    shutdown.cancel();
    if let Some(task) = server_task {
        let _ = task.await;
    }
    let _ = charts.await;
    let _ = alerts.await;
    let _ = retention.await;
    let _ = registry.await;
    let _ = summaries.await;
    tracing::info!("Stopped.");
    Ok(())
}

fn spawn_signal_handler(shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received."),
            _ = term.recv() => tracing::info!("SIGTERM received."),
        }
        shutdown.cancel();
    });
}
