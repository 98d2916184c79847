//! The sandbox's Jetstream: simulated Bluesky posts pushed over a WebSocket in Jetstream's frame
//! format, so the demo shows a live stream beside the polled sources.
//!
//! The posts come from a second generator (its own seed, half the tweet rate), written like the
//! simulated tweets but independent of them, and are pushed as the simulated clock passes their
//! creation time. Every author is `did:plc:coinpulsedemo…` and every record carries
//! `"coinpulse_demo": "simulated"`, so stored raw JSON says where it came from. As Jetstream does, a
//! `cursor=` query parameter (microseconds) replays from that time, so the collector's resume after
//! a reconnect or a restart is exercised for real.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::SecondsFormat;
use futures_util::SinkExt;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_util::sync::CancellationToken;

use super::clock::SimClock;
use super::generator::{Generator, SimPost, Stream};

/// How often a connection looks for posts the clock has reached.
const TICK: Duration = Duration::from_millis(100);

/// The simulated Bluesky posts, generated hour by hour as the clock passes.
pub(super) struct Skeets {
    generator: Generator,
    cache: Mutex<(i64, Vec<SimPost>)>,
}

impl Skeets {
    pub(super) fn new(generator: Generator, sim_start: chrono::DateTime<chrono::Utc>) -> Skeets {
        let first = generator.hour_of(sim_start);
        Skeets {
            generator,
            cache: Mutex::new((first, Vec::new())),
        }
    }

    /// The posts created in `(after_us, now]`, oldest first, as (time_us, frame).
    fn since(&self, after_us: i64, now: chrono::DateTime<chrono::Utc>) -> Vec<(i64, String)> {
        let mut cache = self.cache.lock().expect("skeet cache lock");
        let last = self.generator.hour_of(now.min(self.generator.sim_end()));
        while cache.0 <= last {
            let h = cache.0;
            let hour = self.generator.hour(Stream::Tweet, h);
            cache.1.extend(hour);
            cache.0 += 1;
        }
        let now_ms = now.timestamp_millis();
        cache
            .1
            .iter()
            .filter(|p| p.created_ms <= now_ms)
            .map(|p| (time_us(p), p))
            .filter(|(t, _)| *t > after_us)
            .map(|(t, p)| (t, frame(p, t)))
            .collect()
    }
}

impl Skeets {
    /// The `at://` URIs of the posts created in `(after, until]`, oldest first (tests compare what
    /// the collector stored against them).
    pub(super) fn uris(
        &self,
        after: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Vec<String> {
        self.since(after.timestamp_millis() * 1000 + 999, until)
            .into_iter()
            .map(|(_, frame)| {
                let v: serde_json::Value = serde_json::from_str(&frame).expect("our own JSON");
                format!(
                    "at://{}/app.bsky.feed.post/{}",
                    v["did"].as_str().unwrap_or_default(),
                    v["commit"]["rkey"].as_str().unwrap_or_default()
                )
            })
            .collect()
    }
}

/// A post's Jetstream `time_us`: its creation millisecond, with its sequence number as the
/// microseconds so posts of one millisecond stay distinct and ordered.
fn time_us(p: &SimPost) -> i64 {
    p.created_ms * 1000 + i64::from(p.seq.min(999))
}

fn frame(p: &SimPost, time_us: i64) -> String {
    json!({
        "did": format!("did:plc:coinpulsedemo{:06}", p.author),
        "time_us": time_us,
        "kind": "commit",
        "commit": {
            "rev": "demo",
            "operation": "create",
            "collection": "app.bsky.feed.post",
            "rkey": format!("demo{}x{}", p.created_ms, p.seq),
            "cid": "demo",
            "record": {
                "$type": "app.bsky.feed.post",
                "createdAt": p.created_at().to_rfc3339_opts(SecondsFormat::Millis, true),
                "langs": ["en"],
                "text": p.text,
                "coinpulse_demo": "simulated",
            },
        },
    })
    .to_string()
}

/// Serves `/subscribe` on `listener` until `shutdown`.
pub(super) async fn serve(
    listener: TcpListener,
    clock: SimClock,
    skeets: Arc<Skeets>,
    shutdown: CancellationToken,
) {
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    tracing::warn!(error = %e, "Sandbox stream: accept failed.");
                    continue;
                }
            },
            _ = shutdown.cancelled() => return,
        };
        let (clock, skeets, shutdown) = (clock.clone(), skeets.clone(), shutdown.clone());
        tokio::spawn(async move {
            let cursor = Arc::new(Mutex::new(None::<i64>));
            let seen = cursor.clone();
            // The error type is tungstenite's handshake response, fixed by its callback signature.
            #[allow(clippy::result_large_err)]
            let callback = move |req: &Request, resp: Response| {
                *seen.lock().expect("cursor lock") = req
                    .uri()
                    .query()
                    .unwrap_or_default()
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("cursor="))
                    .and_then(|v| v.parse().ok());
                Ok(resp)
            };
            let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
                return;
            };
            clock.touch();
            // Without a cursor Jetstream starts live: nothing older than now.
            let start = *cursor.lock().expect("cursor lock");
            let mut after = start.map_or_else(|| clock.now().timestamp_millis() * 1000, |c| c - 1);
            loop {
                for (t, text) in skeets.since(after, clock.now()) {
                    if ws.send(Message::text(text)).await.is_err() {
                        return;
                    }
                    after = t;
                }
                tokio::select! {
                    _ = tokio::time::sleep(TICK) => {}
                    _ = shutdown.cancelled() => {
                        let _ = ws.close(None).await;
                        return;
                    }
                }
            }
        });
    }
}
