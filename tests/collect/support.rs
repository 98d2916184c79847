//! Fixture replay and small helpers shared by the collector tests.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use coinpulse::collect::{Clock, HttpSettings};
use coinpulse::model::Asset;
use wiremock::ResponseTemplate;

/// Headers the replay server must not copy: the body is stored decoded, so lengths and encodings
/// are recomputed.
const DROPPED: [&str; 3] = ["content-length", "transfer-encoding", "content-encoding"];

/// The body of a fixture, e.g. `twitter/search_recent_page1.json`.
pub fn body(name: &str) -> Vec<u8> {
    std::fs::read(coinpulse::shared::file(&format!("fixtures/{name}"))).unwrap()
}

pub fn json(name: &str) -> serde_json::Value {
    serde_json::from_slice(&body(name)).unwrap()
}

/// A response replaying a fixture with its recorded status and headers.
pub fn fixture(name: &str) -> ResponseTemplate {
    let stem = name.rsplit_once('.').map(|(s, _)| s).unwrap_or(name);
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(coinpulse::shared::file(&format!(
            "fixtures/{stem}.headers.json"
        )))
        .unwrap(),
    )
    .unwrap();
    let status = meta["status"].as_u64().unwrap() as u16;
    let mut t = ResponseTemplate::new(status).set_body_bytes(body(name));
    let mut has_type = false;
    if let Some(headers) = meta["headers"].as_object() {
        for (k, v) in headers {
            if DROPPED.contains(&k.to_ascii_lowercase().as_str()) {
                continue;
            }
            has_type |= k.eq_ignore_ascii_case("content-type");
            let values: Vec<String> = match v {
                serde_json::Value::Array(a) => {
                    a.iter().map(|x| x.as_str().unwrap().to_owned()).collect()
                }
                other => vec![other.as_str().unwrap().to_owned()],
            };
            for value in values {
                t = t.append_header(k.as_str(), value.as_str());
            }
        }
    }
    if !has_type {
        let ct = if name.ends_with(".xml") {
            "application/atom+xml; charset=UTF-8"
        } else if name.ends_with(".html") {
            "text/html; charset=UTF-8"
        } else {
            "application/json"
        };
        t = t.insert_header("content-type", ct);
    }
    t
}

/// A JSON response built in the test (for cases no recording exists for).
pub fn built(status: u16, body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_bytes(serde_json::to_vec(&body).unwrap())
        .insert_header("content-type", "application/json")
}

pub fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Short timeouts and retry delays, and a clock stopped at `now`.
pub fn settings(now: DateTime<Utc>) -> HttpSettings {
    HttpSettings {
        timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(500),
        max_retries: 2,
        retry_base_delay: Duration::from_millis(5),
        retry_max_delay: Duration::from_millis(20),
        user_agent: None,
        clock: Clock::fixed(now),
    }
}

pub fn asset(id: &str, symbol: &str, name: &str, rank: u32) -> Asset {
    Asset {
        id: id.into(),
        symbol: symbol.into(),
        name: name.into(),
        aliases: vec![],
        rank: Some(rank),
    }
}

pub fn assets() -> Vec<Asset> {
    vec![
        asset("bitcoin", "BTC", "Bitcoin", 1),
        asset("ethereum", "ETH", "Ethereum", 2),
    ]
}

/// Captures every log line (all levels) written while the guard lives on this thread.
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

struct Writer(Arc<Mutex<Vec<u8>>>);

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn capture_logs() -> (tracing::subscriber::DefaultGuard, Logs) {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || Writer(sink.clone()))
        .finish();
    (tracing::subscriber::set_default(subscriber), Logs(buf))
}
