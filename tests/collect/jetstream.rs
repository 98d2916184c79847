//! Jetstream against a loopback WebSocket server replaying the recorded frames in
//! `../shared/fixtures/jetstream/`: what becomes a post, what is skipped, reconnects with the cursor,
//! failover, a stalled socket, malformed frames.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coinpulse::backoff::Backoff;
use coinpulse::collect::jetstream::{JetstreamCollector, JetstreamConfig};
use coinpulse::collect::{Collector, PostFilter};
use coinpulse::model::{Platform, Post};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

use crate::support::body;

/// What the server does with one connection after sending its frames.
#[derive(Clone, Copy)]
enum After {
    /// Close the socket.
    Close,
    /// Keep it open without reading or answering pings.
    Stall,
    /// Keep it open, answering pings.
    Hold,
}

/// One scripted connection. `replay_from_cursor` sends only the frames at or after the `cursor`
/// query parameter, as Jetstream does.
#[derive(Clone)]
struct Conn {
    frames: Vec<Message>,
    after: After,
    replay_from_cursor: bool,
}

fn conn(frames: Vec<String>, after: After) -> Conn {
    Conn {
        frames: frames
            .into_iter()
            .map(|f| Message::Text(f.into()))
            .collect(),
        after,
        replay_from_cursor: false,
    }
}

struct Server {
    url: String,
    /// The request path and query of each connection, in order.
    requests: Arc<Mutex<Vec<String>>>,
}

async fn serve(script: Vec<Conn>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/subscribe", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    tokio::spawn(async move {
        let mut n = 0;
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let uri = Arc::new(Mutex::new(String::new()));
            let record = uri.clone();
            // The error type is tungstenite's handshake response, fixed by its callback signature.
            #[allow(clippy::result_large_err)]
            let callback = move |req: &Request, resp: Response| {
                *record.lock().unwrap() = req.uri().to_string();
                Ok(resp)
            };
            let mut ws = tokio_tungstenite::accept_hdr_async(tcp, callback)
                .await
                .unwrap();
            let uri = uri.lock().unwrap().clone();
            seen.lock().unwrap().push(uri.clone());
            let step = script.get(n).cloned().unwrap_or(Conn {
                frames: vec![],
                after: After::Hold,
                replay_from_cursor: false,
            });
            n += 1;
            tokio::spawn(async move {
                let cursor: Option<i64> = uri
                    .split(['?', '&'])
                    .find_map(|kv| kv.strip_prefix("cursor="))
                    .map(|v| v.parse().unwrap());
                for frame in step.frames {
                    if step.replay_from_cursor
                        && let (Some(c), Message::Text(t)) = (cursor, &frame)
                    {
                        let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                        if v["time_us"].as_i64().unwrap() < c {
                            continue;
                        }
                    }
                    if ws.send(frame).await.is_err() {
                        return;
                    }
                }
                match step.after {
                    After::Close => {
                        let _ = ws.close(None).await;
                    }
                    After::Stall => {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                    }
                    After::Hold => while let Some(Ok(_)) = ws.next().await {},
                }
            });
        }
    });
    Server { url, requests }
}

fn collector(urls: Vec<String>, filter: PostFilter, read_timeout: Duration) -> JetstreamCollector {
    JetstreamCollector::new(
        JetstreamConfig {
            enabled: true,
            url: urls,
            read_timeout,
            resume_margin: Duration::from_millis(5),
            ..JetstreamConfig::default()
        },
        filter,
        Backoff::new(Duration::from_millis(20), Duration::from_millis(100)),
        Duration::from_secs(2),
    )
}

fn everything() -> PostFilter {
    Arc::new(|_: &str| true)
}

/// Polls until `want` posts came (or 10 s passed); returns them and the last cursor.
async fn collect(
    c: &mut JetstreamCollector,
    start: Option<serde_json::Value>,
    want: usize,
) -> (Vec<Post>, Option<serde_json::Value>) {
    let mut posts = Vec::new();
    let mut cursor = start;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while posts.len() < want && tokio::time::Instant::now() < deadline {
        if let Ok(batch) = c.poll(cursor.as_ref()).await {
            posts.extend(batch.posts);
            if batch.cursor.is_some() {
                cursor = batch.cursor;
            }
        }
    }
    (posts, cursor)
}

fn lines(name: &str) -> Vec<String> {
    String::from_utf8(body(name))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

const SINGLE_EVENTS: [&str; 8] = [
    "jetstream/event_post_create_ja.json",
    "jetstream/event_post_create_empty_text.json",
    "jetstream/event_post_create_no_langs_cs.json",
    "jetstream/event_post_create_reply.json",
    "jetstream/event_post_delete.json",
    "jetstream/event_follow_delete.json",
    "jetstream/event_identity.json",
    "jetstream/event_account_active.json",
];

fn value(frame: &str) -> serde_json::Value {
    serde_json::from_str(frame).unwrap()
}

fn post_uri(v: &serde_json::Value) -> Option<String> {
    let c = &v["commit"];
    (v["kind"] == "commit" && c["collection"] == "app.bsky.feed.post" && c["operation"] == "create")
        .then(|| {
            format!(
                "at://{}/app.bsky.feed.post/{}",
                v["did"].as_str().unwrap(),
                c["rkey"].as_str().unwrap()
            )
        })
}

#[tokio::test]
async fn every_recorded_frame_is_read_posts_kept_and_the_rest_skipped() {
    let mut frames: Vec<String> = SINGLE_EVENTS
        .iter()
        .map(|f| String::from_utf8(body(f)).unwrap().trim().to_owned())
        .collect();
    frames.extend(lines("jetstream/subscribe_golden_10.jsonl"));
    frames.extend(lines("jetstream/subscribe_window_152.jsonl"));
    let values: Vec<serde_json::Value> = frames.iter().map(|f| value(f)).collect();
    let expected: HashSet<String> = values.iter().filter_map(post_uri).collect();
    let last_time = values
        .iter()
        .map(|v| v["time_us"].as_i64().unwrap())
        .max()
        .unwrap();
    // 18 distinct post creations among 170 frames (some single-event files repeat the window).
    assert_eq!(expected.len(), 18, "the recordings hold posts");

    let server = serve(vec![conn(frames.clone(), After::Hold)]).await;
    let mut c = collector(
        vec![server.url.clone()],
        everything(),
        Duration::from_secs(5),
    );
    let (posts, _) = collect(&mut c, None, expected.len()).await;
    // Let anything extra (a duplicate, a non-post) arrive before judging.
    let extra = c.poll(None).await.unwrap();
    let mut ids: Vec<String> = posts.iter().map(|p| p.external_id.clone()).collect();
    ids.extend(extra.posts.iter().map(|p| p.external_id.clone()));
    let unique: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique.len(), ids.len(), "a post was queued twice");
    assert_eq!(unique, expected);
    let (read, malformed, connections) = c.counts();
    assert_eq!((read, malformed, connections), (frames.len() as u64, 0, 1));
    assert_eq!(
        extra.cursor.unwrap()["time_us"].as_i64(),
        Some(last_time),
        "once drained, the cursor is the latest frame read"
    );
    assert!(server.requests.lock().unwrap()[0].contains("wantedCollections=app.bsky.feed.post"));

    let by_id = |file: &str| {
        let uri = post_uri(&value(&String::from_utf8(body(file)).unwrap())).unwrap();
        posts.iter().find(|p| p.external_id == uri).unwrap().clone()
    };
    let ja = by_id("jetstream/event_post_create_ja.json");
    assert_eq!(ja.language.as_deref(), Some("ja"));
    assert!(ja.author.as_deref().unwrap().starts_with("did:plc:"));
    assert!(
        ja.url
            .as_deref()
            .unwrap()
            .starts_with("https://bsky.app/profile/did:plc:")
    );
    assert_eq!(ja.created_at.to_rfc3339(), value(&String::from_utf8(body("jetstream/event_post_create_ja.json")).unwrap())["commit"]["record"]["createdAt"].as_str().map(|s| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap().to_rfc3339()).unwrap());
    assert_eq!(
        by_id("jetstream/event_post_create_no_langs_cs.json").language,
        None
    );
    let card = by_id("jetstream/event_post_create_empty_text.json");
    assert!(
        card.text.starts_with("Ariana Grande Crying"),
        "an empty post is read by its link card: {:?}",
        card.text
    );
    let reply = by_id("jetstream/event_post_create_reply.json");
    let raw = reply.raw.unwrap();
    assert!(
        raw["record"]["reply"]["parent"]["uri"]
            .as_str()
            .unwrap()
            .starts_with("at://"),
        "reply links are kept: {raw}"
    );
}

/// A post frame written here, `ms` milliseconds into the stream.
fn synthetic(n: usize, ms: i64, text: &str) -> String {
    serde_json::json!({
        "did": "did:plc:coinpulsetest", "time_us": 1_783_175_888_000_000i64 + ms * 1000, "kind": "commit",
        "commit": {"rev": "r", "operation": "create", "collection": "app.bsky.feed.post", "rkey": format!("k{n:04}"),
            "record": {"$type": "app.bsky.feed.post", "createdAt": "2026-07-04T14:38:07.706Z", "langs": ["en"], "text": text},
            "cid": "c"}
    })
    .to_string()
}

/// The recorded deletion, then a post and its deletion written here: deletions come in stream order
/// beside the posts, the recorded one by the `at://` URI its post was stored under.
#[tokio::test]
async fn deletions_travel_with_the_batch_in_stream_order() {
    let recorded = String::from_utf8(body("jetstream/event_post_delete.json"))
        .unwrap()
        .trim()
        .to_owned();
    let v = value(&recorded);
    let recorded_uri = format!(
        "at://{}/app.bsky.feed.post/{}",
        v["did"].as_str().unwrap(),
        v["commit"]["rkey"].as_str().unwrap()
    );
    let mut delete = value(&synthetic(7, 2, "gone"));
    delete["commit"]["operation"] = "delete".into();
    delete["commit"]
        .as_object_mut()
        .unwrap()
        .retain(|k, _| ["rev", "operation", "collection", "rkey"].contains(&k.as_str()));
    let frames = vec![
        recorded,
        synthetic(7, 1, "$BTC to the moon"),
        delete.to_string(),
        // A like's deletion is not a post's.
        String::from_utf8(body("jetstream/event_follow_delete.json"))
            .unwrap()
            .trim()
            .to_owned(),
    ];
    let server = serve(vec![conn(frames, After::Hold)]).await;
    let mut c = collector(vec![server.url], everything(), Duration::from_secs(5));
    let mut posts = Vec::new();
    let mut deleted = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while deleted.len() < 2 && tokio::time::Instant::now() < deadline {
        if let Ok(batch) = c.poll(None).await {
            posts.extend(batch.posts);
            deleted.extend(batch.deleted);
        }
    }
    let uris: Vec<&str> = deleted.iter().map(|d| d.external_id.as_str()).collect();
    assert_eq!(
        uris,
        [
            recorded_uri.as_str(),
            "at://did:plc:coinpulsetest/app.bsky.feed.post/k0007"
        ]
    );
    assert!(deleted.iter().all(|d| d.platform == Platform::Bluesky));
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].external_id, uris[1]);
    assert!(c.poll(None).await.unwrap().deleted.is_empty());
}

#[tokio::test]
async fn only_posts_the_tagger_finds_an_asset_in_are_queued() {
    let tagger = Arc::new(coinpulse::tag::Tagger::builtin().unwrap());
    let filter: PostFilter = Arc::new(move |t: &str| !tagger.tag(t).is_empty());
    let frames = vec![
        synthetic(0, 0, "lunch was great today"),
        synthetic(1, 1, "$BTC breaking out again"),
        synthetic(2, 2, "the weather is nice"),
        synthetic(3, 3, "staking some ethereum tonight"),
    ];
    let server = serve(vec![conn(frames, After::Hold)]).await;
    let mut c = collector(vec![server.url], filter, Duration::from_secs(5));
    let (posts, _) = collect(&mut c, None, 2).await;
    let extra = c.poll(None).await.unwrap();
    assert!(extra.posts.is_empty());
    let texts: Vec<&str> = posts.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(
        texts,
        ["$BTC breaking out again", "staking some ethereum tonight"]
    );
}

#[tokio::test]
async fn malformed_frames_are_skipped_and_the_stream_goes_on() {
    let mut bad_record = value(&synthetic(9, 9, "x"));
    bad_record["commit"]["record"]["text"] = serde_json::json!(42);
    let server = serve(vec![Conn {
        frames: vec![
            Message::Text("not json".into()),
            Message::Text(r#"{"did":"did:plc:x","time_us":5,"kind":"commit"}"#.into()),
            Message::Text(bad_record.to_string().into()),
            Message::Binary(vec![0x28, 0xb5, 0x2f, 0xfd].into()),
            Message::Text(synthetic(1, 10, "$ETH fine").into()),
        ],
        after: After::Hold,
        replay_from_cursor: false,
    }])
    .await;
    let mut c = collector(vec![server.url], everything(), Duration::from_secs(5));
    let (posts, _) = collect(&mut c, None, 1).await;
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].text, "$ETH fine");
    assert_eq!(c.counts().1, 4, "four malformed frames counted");
}

#[tokio::test]
async fn a_dropped_socket_resumes_from_the_cursor_with_no_gap_and_no_duplicate() {
    let frames: Vec<String> = (0..30)
        .map(|i| synthetic(i, i as i64, &format!("$BTC post {i}")))
        .collect();
    let mut second = conn(frames.clone(), After::Hold);
    second.replay_from_cursor = true;
    let server = serve(vec![conn(frames[..20].to_vec(), After::Close), second]).await;
    let mut c = collector(
        vec![server.url.clone()],
        everything(),
        Duration::from_secs(5),
    );
    let (posts, cursor) = collect(&mut c, None, 30).await;
    let extra = c.poll(None).await.unwrap();
    assert!(extra.posts.is_empty(), "a replayed post was queued again");
    let ids: Vec<String> = posts.iter().map(|p| p.external_id.clone()).collect();
    let want: Vec<String> = (0..30)
        .map(|i| format!("at://did:plc:coinpulsetest/app.bsky.feed.post/k{i:04}"))
        .collect();
    assert_eq!(ids, want);
    let requests = server.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    // The 20th frame is at +19 ms; the margin is 5 ms.
    let t19 = 1_783_175_888_000_000i64 + 19_000;
    assert!(
        requests[1].contains(&format!("cursor={}", t19 - 5_000)),
        "{requests:?}"
    );

    // After a restart the stored cursor is where the stream resumes, minus the margin.
    let stored = cursor.unwrap()["time_us"].as_i64().unwrap();
    assert_eq!(stored, 1_783_175_888_000_000i64 + 29_000);
    let server = serve(vec![]).await;
    let mut c = collector(
        vec![server.url.clone()],
        everything(),
        Duration::from_secs(5),
    );
    let _ = c
        .poll(Some(&serde_json::json!({ "time_us": stored })))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let requests = server.requests.lock().unwrap().clone();
    assert!(
        requests[0].contains(&format!("cursor={}", stored - 5_000)),
        "{requests:?}"
    );
}

#[tokio::test]
async fn a_stalled_socket_is_replaced_and_a_dead_instance_skipped() {
    // A port nothing listens on: bind one, note it, close it.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("ws://{}/subscribe", l.local_addr().unwrap())
    };
    let server = serve(vec![
        conn(vec![synthetic(0, 0, "$BTC one")], After::Stall),
        conn(vec![synthetic(1, 1, "$BTC two")], After::Hold),
    ])
    .await;
    let mut c = collector(
        vec![dead, server.url.clone()],
        everything(),
        Duration::from_millis(300),
    );
    let (posts, _) = collect(&mut c, None, 2).await;
    let texts: Vec<&str> = posts.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(texts, ["$BTC one", "$BTC two"]);
    assert_eq!(server.requests.lock().unwrap().len(), 2, "one reconnect");
}
