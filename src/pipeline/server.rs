//! The daemon's HTTP server: health, readiness, Prometheus metrics and the dashboard.
//!
//! `/healthz` answers as long as the process runs (liveness); `/readyz` checks the database and lists
//! every enabled source's state, answering 503 while the database is unreachable or an enabled source
//! could not start; `/metrics` is the
//! Prometheus text format. The server binds to `http.listen` (loopback by default: nothing here is
//! meant for the open internet without a proxy in front).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio_util::sync::CancellationToken;

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

pub fn router(state: AppState) -> Router {
    let extra = state.extra.clone();
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

/// Serves `router` on `listener` until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
