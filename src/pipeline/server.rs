//! The daemon's HTTP server: health, readiness, Prometheus metrics and the dashboard.
//!
//! `/healthz` answers as long as the process runs (liveness); `/readyz` checks the database and lists
//! every enabled source's state, answering 503 while the database is unreachable or an enabled source
//! could not start; `/metrics` is the
//! Prometheus text format. The server binds to `http.listen` (loopback by default; see
//! [`super::access`] for the token required elsewhere and the headers every answer carries).
//!
//! It cannot be starved by slow or idle clients: a connection that has not sent its request headers
//! within [`HEADER_TIMEOUT`] is closed, connections are capped below the process's file limit (which
//! [`raise_file_limit`] lifts to the hard limit), the dashboard and API run at most
//! `http.max_in_flight` requests at once and answer 503 at once beyond that (load shedding) and give
//! up after [`REQUEST_TIMEOUT`], while `/healthz` and `/readyz` stay outside that limit and check the
//! database through their own connection, so a flood of dashboard requests cannot make the database
//! look unreachable.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceBuilder;

use super::daemon::Status;
use super::metrics::Metrics;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub status: Arc<Status>,
    pub extra: Option<Router<()>>,
}

/// A client must send its request headers within this time of connecting (or of its previous
/// response).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A dashboard or API request that takes longer is answered 503.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// File descriptors kept for the database, logs and charts when capping connections.
const RESERVED_FILES: u64 = 256;

/// The dashboard and the JSON API, gzip-compressed for clients that accept it.
pub fn pages(store: Store, config: &crate::config::Config) -> Router {
    crate::dashboard::router(config.charts.out_dir.clone())
        .merge(crate::api::router(store, config.spikes.clone()))
        .layer(tower_http::compression::CompressionLayer::new())
}

pub fn router(state: AppState) -> Router {
    let extra = state.extra.clone();
    // Health checks get their own database connection, so a busy main pool cannot fail them.
    let health_pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy_with((*state.store.pool().connect_options()).clone());
    let state = AppState {
        store: Store::from_pool(health_pool),
        ..state
    };
    let router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state);
    match extra {
        Some(extra) => router.merge(extra),
        None => router,
    }
}

async fn readyz(State(state): State<AppState>) -> Response {
    let database = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(state.store.pool()),
    )
    .await;
    let database_ok = matches!(database, Ok(Ok(1)));
    let sources_ok = state.status.ready();
    let body = serde_json::json!({
        "database": if database_ok { "ok" } else { "unreachable" },
        "sources": state.status.snapshot(),
        "pipeline": state.status.pipeline(),
        "problem": sources_ok.as_ref().err(),
    });
    let code = if database_ok && sources_ok.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// `routes` with at most `max_in_flight` requests running at once; beyond that, and after
/// [`REQUEST_TIMEOUT`], requests are answered 503 at once instead of queueing.
pub fn shed(routes: Router, max_in_flight: usize) -> Router {
    routes.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(|e: tower::BoxError| async move {
                let message = if e.is::<tower::timeout::error::Elapsed>() {
                    "the request took too long; try a shorter range"
                } else {
                    "the server is busy; try again shortly"
                };
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, "1")],
                    axum::Json(serde_json::json!({ "error": message })),
                )
            }))
            .load_shed()
            .concurrency_limit(max_in_flight.max(1))
            .timeout(REQUEST_TIMEOUT),
    )
}

/// Raises the soft open-file limit to the hard one and returns it (systemd units set the hard limit
/// with `LimitNOFILE`).
pub fn raise_file_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    lim.rlim_cur
}

/// Serves `router` on `listener` until `shutdown`, with at most as many connections as the file
/// limit allows (less a reserve); a connection beyond that is closed at once, and one that sends no
/// request headers within [`HEADER_TIMEOUT`] is closed.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let files = raise_file_limit();
    let max_connections = files.saturating_sub(RESERVED_FILES).max(64) as usize;
    let slots = Arc::new(Semaphore::new(max_connections));
    let tracker = TaskTracker::new();
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept: wait a little.
                    tracing::debug!(error = %e, "Could not accept a connection.");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(
                max_connections,
                "Connection limit reached; closing a new connection."
            );
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            let _slot = slot;
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                }
            }
        });
    }
    tracker.close();
    tracker.wait().await;
    Ok(())
}
