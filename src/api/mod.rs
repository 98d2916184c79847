//! The read-only JSON API under `/api/v1`: what Grafana, pandas or a notebook read, and what the
//! dashboard draws.
//!
//! - `/api/v1/report/{kind}`: the query parameters are the flags of `coinpulse report KIND`
//!   (`since`, `until`, `asset` (repeatable), `platform`, `bucket`, `limit`, `threshold`, `window`,
//!   `max_lag`, `price_source`, `min_posts`, `min_authors`, `all`, `format`). They are read by the command line's own parser and the
//!   report is made by the same function, so the answer is exactly what `--format json` prints (or
//!   CSV / the table with `format=csv|table`), and a bad parameter gets the command line's message.
//! - `/api/v1/assets`: every asset with stored mentions, with its last 24 hours.
//! - `/api/v1/series`: one asset's volume, sentiment and price per bucket (see [`series`]).
//! - `/api/v1/alerts`: the alerts that fired, newest first.
//! - `/api/v1/openapi.json`: the OpenAPI 3.1 description of the above.
//!
//! Errors are `{"error": "..."}` with 400 (bad parameter), 404 (unknown asset or path) or 503
//! (database unavailable).

pub mod alerts;
pub mod series;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use serde::Deserialize;

use crate::report::cli::{ReportArgs, RunError, produce};
use crate::report::range::parse_instant;
use crate::report::reports::ReportError;
use crate::report::significance::SpikesConfig;
use crate::report::table::Format;
use crate::store::Store;
use crate::store::queries::QueryError;

/// The API's OpenAPI document.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Query parameters of `/report/{kind}`, in the order given; `repeat` is the command line's
/// benchmark switch and not offered here.
const REPORT_PARAMS: [&str; 14] = [
    "since",
    "until",
    "asset",
    "platform",
    "bucket",
    "limit",
    "format",
    "threshold",
    "window",
    "max_lag",
    "price_source",
    "min_posts",
    "min_authors",
    "all",
];

/// An API error: a status and the sentence the command line would print.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> ApiError {
        match e {
            QueryError::UnknownAsset(_) => ApiError {
                status: StatusCode::NOT_FOUND,
                message: e.to_string(),
            },
            QueryError::Database(db) => {
                tracing::warn!(error = %db, "API query failed.");
                ApiError {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    message: "the database is unavailable; try again shortly".into(),
                }
            }
        }
    }
}

impl From<RunError> for ApiError {
    fn from(e: RunError) -> ApiError {
        match e {
            RunError::Report(ReportError::Query(q)) => q.into(),
            other => ApiError::bad_request(other.to_string()),
        }
    }
}

/// The `/api/v1` routes. `spikes` holds the volume floors of `[spikes]`, as `coinpulse report` reads
/// them from the same config.
pub fn router(store: Store, spikes: SpikesConfig) -> Router {
    Router::new()
        .route("/api/v1/report/{kind}", get(report))
        .route("/api/v1/assets", get(assets))
        .route("/api/v1/series", get(series::series))
        .route("/api/v1/alerts", get(alerts::alerts))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/{*rest}", get(not_found))
        .layer(axum::Extension(spikes))
        .with_state(store)
}

async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: "no such API path; see /api/v1/openapi.json".into(),
    }
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// The words `coinpulse report` would be given for these query parameters (JSON unless `format`
/// says otherwise).
pub fn report_words(kind: &str, query: &[(String, String)]) -> Result<Vec<String>, ApiError> {
    let mut words = vec![kind.to_string()];
    if !query.iter().any(|(k, _)| k == "format") {
        words.push("--format=json".into());
    }
    for (key, value) in query {
        let key = key.replace('-', "_");
        if !REPORT_PARAMS.contains(&key.as_str()) {
            return Err(ApiError::bad_request(format!(
                "unknown parameter `{key}` (expected one of: {})",
                REPORT_PARAMS.join(", ")
            )));
        }
        if key == "all" {
            // A switch on the command line: `all=true` (or a bare `all`) turns it on.
            match value.as_str() {
                "" | "true" | "1" => words.push("--all".into()),
                "false" | "0" => {}
                other => {
                    return Err(ApiError::bad_request(format!(
                        "`all` is true or false, not `{other}`"
                    )));
                }
            }
            continue;
        }
        words.push(format!("--{}={value}", key.replace('_', "-")));
    }
    Ok(words)
}

async fn report(
    State(store): State<Store>,
    axum::Extension(spikes): axum::Extension<SpikesConfig>,
    Path(kind): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let args = ReportArgs::parse_words(report_words(&kind, &query)?).map_err(|message| {
        let status = if message.contains("<KIND>") {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::BAD_REQUEST
        };
        ApiError { status, message }
    })?;
    let output = produce(store.pool(), &args, &spikes, Utc::now()).await?;
    let content_type = match args.format {
        Format::Json => "application/json",
        Format::Csv => "text/csv; charset=utf-8",
        Format::Table => "text/plain; charset=utf-8",
    };
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        output.body(args.format),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssetsQuery {
    /// End of the 24 hours (default now): a duration back from now, an RFC 3339 time or a date.
    until: Option<String>,
}

async fn assets(
    State(store): State<Store>,
    query: Result<Query<AssetsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let now = Utc::now();
    let until = match &q.until {
        Some(u) => {
            parse_instant("until", u, now).map_err(|e| ApiError::bad_request(e.to_string()))?
        }
        None => now,
    };
    let rows = crate::store::overview::asset_overview(store.pool(), until).await?;
    Ok(axum::Json(rows).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn query_parameters_become_the_command_line_flags() {
        let words = report_words(
            "leadlag",
            &q(&[("asset", "BTC"), ("max_lag", "6"), ("since", "-3")]),
        )
        .unwrap();
        assert_eq!(
            words,
            [
                "leadlag",
                "--format=json",
                "--asset=BTC",
                "--max-lag=6",
                "--since=-3"
            ]
        );
        let words = report_words("top", &q(&[("format", "csv")])).unwrap();
        assert_eq!(words, ["top", "--format=csv"]);
    }

    #[test]
    fn unknown_and_benchmark_parameters_are_refused() {
        for key in ["repeat", "config", "nonsense"] {
            let e = report_words("top", &q(&[(key, "1")])).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert!(e.message.contains(key), "{}", e.message);
        }
    }
}
