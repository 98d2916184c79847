//! A tiny Twitter-v2-shaped server for daemon tests: tweets appear over time, `since_id` and
//! `next_token` paging work as the real API documents, and every id served is remembered so a test
//! can check the database holds exactly what was fetched.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

#[derive(Default)]
pub struct Shared {
    /// Ids of tweets that exist so far (ascending).
    pub existing: Vec<u64>,
    /// Ids returned in any response.
    pub served: BTreeSet<u64>,
    pub requests: u64,
    pub in_flight: u64,
    pub max_in_flight: u64,
    /// When set, every tweet says this (with its number) and was created when it is served.
    pub text: Option<String>,
}

#[derive(Clone)]
pub struct TweetServer {
    pub addr: SocketAddr,
    pub shared: Arc<Mutex<Shared>>,
}

pub const FIRST_ID: u64 = 1_350_000_000_000_000_000;

#[derive(Deserialize)]
struct SearchParams {
    since_id: Option<String>,
    next_token: Option<String>,
    max_results: Option<usize>,
}

impl TweetServer {
    /// Starts serving; `total` tweets appear, `per_tick` every 50 ms.
    pub async fn start(total: u64, per_tick: u64) -> TweetServer {
        TweetServer::start_saying(total, per_tick, None).await
    }

    /// [`TweetServer::start`] with every tweet saying `text`, created when served.
    pub async fn start_saying(total: u64, per_tick: u64, text: Option<&str>) -> TweetServer {
        let shared = Arc::new(Mutex::new(Shared {
            text: text.map(str::to_owned),
            ..Shared::default()
        }));
        let app = Router::new()
            .route("/2/tweets/search/recent", get(search))
            // A source that only ever answers garbage: used to show one bad source stops nobody.
            .route("/api/v1/access_token", post(garbage))
            .route("/r/{subs}/new", get(garbage))
            .route("/r/{subs}/comments", get(garbage))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let grower = shared.clone();
        tokio::spawn(async move {
            let mut next = FIRST_ID;
            while next < FIRST_ID + total {
                {
                    let mut s = grower.lock().unwrap();
                    for _ in 0..per_tick {
                        if next < FIRST_ID + total {
                            s.existing.push(next);
                            next += 1;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        TweetServer { addr, shared }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn served(&self) -> BTreeSet<u64> {
        self.shared.lock().unwrap().served.clone()
    }

    pub fn existing(&self) -> usize {
        self.shared.lock().unwrap().existing.len()
    }

    pub fn max_in_flight(&self) -> u64 {
        self.shared.lock().unwrap().max_in_flight
    }
}

async fn garbage() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "<html><body>upstream exploded</body></html>",
    )
        .into_response()
}

async fn search(
    State(shared): State<Arc<Mutex<Shared>>>,
    Query(params): Query<SearchParams>,
) -> Response {
    {
        let mut s = shared.lock().unwrap();
        s.requests += 1;
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
    }
    // Hold the request briefly so overlapping pollers would be visible in max_in_flight.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut s = shared.lock().unwrap();
    s.in_flight -= 1;
    let since: u64 = params.since_id.and_then(|v| v.parse().ok()).unwrap_or(0);
    let page = params.max_results.unwrap_or(10).clamp(10, 100);
    // next_token = "<upper bound id>:<offset>": pages of one drain stay consistent while tweets arrive.
    let (upper, offset) = match params.next_token.as_deref().and_then(|t| t.split_once(':')) {
        Some((u, o)) => (u.parse().unwrap_or(u64::MAX), o.parse().unwrap_or(0)),
        None => (u64::MAX, 0usize),
    };
    let matching: Vec<u64> = s
        .existing
        .iter()
        .rev()
        .copied()
        .filter(|&id| id > since && id <= upper)
        .collect();
    let upper = matching.first().copied().unwrap_or(upper);
    let chunk: Vec<u64> = matching.iter().skip(offset).take(page).copied().collect();
    let next_token = (offset + chunk.len() < matching.len())
        .then(|| format!("{upper}:{}", offset + chunk.len()));
    s.served.extend(chunk.iter().copied());
    let data: Vec<serde_json::Value> = chunk
        .iter()
        .map(|id| {
            let coin = ["Bitcoin $BTC", "Ethereum $ETH", "$DOGE"][(*id % 3) as usize];
            let (text, created_at) = match &s.text {
                Some(text) => (
                    format!("{text} number {id}"),
                    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                ),
                None => (
                    format!("{coin} test post number {id}, looking great today"),
                    "2021-01-05T10:00:00.000Z".to_string(),
                ),
            };
            serde_json::json!({
                "id": id.to_string(),
                "text": text,
                "author_id": "1",
                "created_at": created_at,
                "lang": "en",
            })
        })
        .collect();
    let mut meta = serde_json::json!({ "result_count": chunk.len() });
    if let (Some(first), Some(last)) = (chunk.first(), chunk.last()) {
        meta["newest_id"] = first.to_string().into();
        meta["oldest_id"] = last.to_string().into();
    }
    if let Some(t) = next_token {
        meta["next_token"] = t.into();
    }
    let mut body = serde_json::json!({ "meta": meta });
    if !data.is_empty() {
        body["data"] = data.into();
        body["includes"] =
            serde_json::json!({"users": [{"id": "1", "username": "tester", "name": "Tester"}]});
    }
    Json(body).into_response()
}
