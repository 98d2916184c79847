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
    run_until(config, shutdown).await
}

/// The daemon with an external shutdown token (tests, the demo).
pub async fn run_until(config: &Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let store = Store::connect(&config.database)
        .await
        .map_err(|e| anyhow::anyhow!("start-up check failed: database: {e}"))?;
    tracing::info!("Start-up check passed: database reachable, migrations applied.");
    let stored = store.asset_list().await?;
    let enricher = Arc::new(
        Enricher::with_stored_assets(config, stored)
            .map_err(|e| anyhow::anyhow!("start-up check failed: {e}"))?,
    );
    tracing::info!(
        assets = enricher.assets().len(),
        model = enricher.model_version(),
        "Start-up check passed: asset registry and sentiment model loaded."
    );
    store.upsert_assets(enricher.assets()).await?;

    let mut collectors: Vec<Box<dyn Collector>> = Vec::new();
    for (name, built) in collect::build_collectors(config, enricher.assets()) {
        match built {
            Ok(collector) => collectors.push(collector),
            Err(e) => {
                tracing::error!(source = %name, error = %e, "Start-up check failed; source disabled.")
            }
        }
    }
    tracing::info!(sources = collectors.len(), "Starting collectors.");

    let metrics = Arc::new(Metrics::new());
    let status = Arc::new(Status::default());
    let retention = tokio::spawn(super::retention::retention_task(
        store.clone(),
        metrics.clone(),
        shutdown.clone(),
    ));
    let ctx = Context {
        store: store.clone(),
        enricher,
        metrics: metrics.clone(),
        status: status.clone(),
        pipeline: config.pipeline.clone(),
        holder: daemon::holder_name(),
    };

    let mut server_task = None;
    if let Some(addr) = config.http.listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("start-up check failed: cannot listen on {addr}: {e}"))?;
        let local = listener.local_addr()?;
        tracing::info!(address = %local, "Serving the dashboard, /healthz, /readyz and /metrics.");
        let router = server::router(AppState {
            store: store.clone(),
            metrics,
            status,
            extra: Some(super::views::dashboard_router(store.clone(), config)),
        });
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
        store.clone(),
        config.clone(),
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
