//! `/api/v1/alerts`: the alerts that fired, newest first, as the `alerts_sent` table holds them
//! (the digest and every rule), with the asset's ticker and name.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ApiError;
use crate::store::Store;
use crate::store::queries::QueryError;

/// Most alerts one answer carries.
pub const MAX_LIMIT: i64 = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    /// How many (default 20, at most [`MAX_LIMIT`]).
    limit: Option<i64>,
}

/// One alert that fired.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct FiredAlert {
    pub rule: String,
    pub asset_id: String,
    /// `None` when the registry does not list the asset (or the row is not about one asset).
    pub symbol: Option<String>,
    pub name: Option<String>,
    /// Start of the bucket that triggered it.
    pub bucket: DateTime<Utc>,
    pub fired_at: DateTime<Utc>,
    pub message: String,
    pub value: Option<f64>,
}

pub async fn alerts(
    State(store): State<Store>,
    query: Result<Query<AlertsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(20);
    if !(0..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit: {limit} is not between 0 and {MAX_LIMIT}"
        )));
    }
    let rows: Vec<FiredAlert> = sqlx::query_as(
        "SELECT s.rule, s.asset_id, a.symbol, a.name, s.bucket, s.fired_at, s.message, s.value
         FROM alerts_sent s LEFT JOIN assets a ON a.id = s.asset_id
         ORDER BY s.fired_at DESC, s.bucket DESC, s.rule, s.asset_id
         LIMIT $1",
    )
    .bind(limit)
    .fetch_all(store.pool())
    .await
    .map_err(QueryError::Database)?;
    Ok(axum::Json(rows).into_response())
}
