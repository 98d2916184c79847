//! /biz/ against a local server serving documents built to 4chan's documented API format
//! (`tests/fixtures/biz/`, see its README): thread list → changed threads → posts, comment HTML to
//! text, `If-Modified-Since`, one cursor entry per thread, and one request per second measured at
//! the receiver.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coinpulse::collect::Collector;
use coinpulse::collect::biz::{BizCollector, BizConfig, MIN_REQUEST_GAP};
use coinpulse::model::Platform;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::*;

const LISTING_MODIFIED: &str = "Wed, 03 Dec 2025 20:00:00 GMT";

fn doc(name: &str) -> String {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/biz")
        .join(name);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

fn json_doc(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_string(doc(name))
        .insert_header("content-type", "application/json")
}

/// One request as the server saw it: arrival time, path and `If-Modified-Since`.
type Arrival = (Instant, String, Option<String>);

/// Every request, in order.
#[derive(Clone, Default)]
struct Arrivals(Arc<Mutex<Vec<Arrival>>>);

impl Arrivals {
    fn paths(&self) -> Vec<(String, Option<String>)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, p, s)| (p.clone(), s.clone()))
            .collect()
    }

    /// The rate rule, as the server saw it. A few milliseconds are allowed for the first request's
    /// connection set-up, which delays its arrival but not its start.
    fn assert_one_per_second(&self) {
        let times: Vec<Instant> = self.0.lock().unwrap().iter().map(|(t, _, _)| *t).collect();
        assert!(times.len() >= 2);
        for pair in times.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap + Duration::from_millis(50) >= MIN_REQUEST_GAP,
                "two requests {gap:?} apart: {:?}",
                self.paths()
            );
        }
    }
}

/// Records the request, then answers as `inner` does.
struct Recorded<R> {
    arrivals: Arrivals,
    inner: R,
}

impl<R: Respond> Respond for Recorded<R> {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let since = request
            .headers
            .get("if-modified-since")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.arrivals.0.lock().unwrap().push((
            Instant::now(),
            request.url.path().to_owned(),
            since,
        ));
        self.inner.respond(request)
    }
}

async fn route(server: &MockServer, arrivals: &Arrivals, at: &str, answer: impl Respond + 'static) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(Recorded {
            arrivals: arrivals.clone(),
            inner: answer,
        })
        .mount(server)
        .await;
}

fn collector(server: &MockServer, max_threads_per_round: u32) -> BizCollector {
    let config = BizConfig {
        base_url: server.uri(),
        max_threads_per_round,
        ..BizConfig::default()
    };
    BizCollector::new(&config, settings(at("2025-12-03T21:00:00Z"))).unwrap()
}

#[tokio::test]
async fn thread_list_then_threads_then_posts_with_comment_html_as_text() {
    let server = MockServer::start().await;
    let arrivals = Arrivals::default();
    route(
        &server,
        &arrivals,
        "/biz/threads.json",
        json_doc("threads.json").insert_header("last-modified", LISTING_MODIFIED),
    )
    .await;
    for no in ["61000100", "61000200", "61000300"] {
        let file = format!("thread_{no}.json");
        route(
            &server,
            &arrivals,
            &format!("/biz/thread/{no}.json"),
            json_doc(&file),
        )
        .await;
    }
    let batch = collector(&server, 20).poll(None).await.unwrap();

    // The list first, then the threads most recently modified first, a second apart.
    let asked: Vec<String> = arrivals.paths().into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        asked,
        [
            "/biz/threads.json",
            "/biz/thread/61000100.json",
            "/biz/thread/61000200.json",
            "/biz/thread/61000300.json"
        ]
    );
    arrivals.assert_one_per_second();
    // Nothing is known yet, so nothing is conditional.
    assert!(arrivals.paths().iter().all(|(_, since)| since.is_none()));

    let posts = &batch.posts;
    let by_id = |id: &str| posts.iter().find(|p| p.external_id == id).unwrap();
    // The image-only reply (61000107) has no text.
    let ids: Vec<&str> = posts.iter().map(|p| p.external_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "61000100", "61000105", "61000110", "61000200", "61000201", "61000205", "61000300"
        ]
    );
    assert!(posts.iter().all(|p| p.platform == Platform::Fourchan));

    let op = by_id("61000100");
    assert_eq!(
        op.text,
        "BTC weekly close & what comes next\n\nWhere does the king bitcoin close this week?\n>inb4 100k"
    );
    assert_eq!(op.author.as_deref(), Some("Anonymous"));
    assert_eq!(op.created_at, at("2025-12-03T19:30:00Z"));
    assert_eq!(op.engagement.replies, Some(3));
    assert_eq!(
        op.url.as_deref(),
        Some("https://boards.4chan.org/biz/thread/61000100#p61000100")
    );
    assert_eq!(
        by_id("61000105").text,
        ">>61000100\nUnder 90k, it's over for ETH too"
    );
    assert_eq!(
        by_id("61000105").url.as_deref(),
        Some("https://boards.4chan.org/biz/thread/61000100#p61000105")
    );
    let named = by_id("61000110");
    assert_eq!(named.text, "read the whitepaper: bitcoin.org/bitcoin.pdf");
    assert_eq!(named.author.as_deref(), Some("satoshi !Ep8pui8Vw2"));
    assert_eq!(
        by_id("61000201").author.as_deref(),
        Some("Anonymous ID:Ab12Cd34")
    );
    assert_eq!(
        by_id("61000201").text,
        "all in on index funds, boring & fine"
    );
    assert_eq!(by_id("61000205").text, ">>60999999\ndeleted, cope");
    assert_eq!(by_id("61000300").text, "SOL or ETH for 2026?");
    assert_eq!(
        by_id("61000300").raw.as_ref().unwrap()["semantic_url"],
        "sol-or-eth-for-2026"
    );

    // One cursor entry per thread: its last_modified and the highest post number (the image-only
    // reply counts: it was seen).
    assert_eq!(
        batch.cursor.unwrap(),
        json!({"threads": {
            "61000100": {"last_modified": 1764792000, "max_no": 61000110},
            "61000200": {"last_modified": 1764791500, "max_no": 61000205},
            "61000300": {"last_modified": 1764791400, "max_no": 61000300},
        }})
    );
    assert_eq!(batch.next_poll_in, Duration::from_secs(60));
}

/// Answers `threads.json`: `304` to the first conditional request, the later list to the next,
/// the first list to an unconditional one.
struct Listing {
    conditional: Mutex<u32>,
}

impl Respond for Listing {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if request.headers.get("if-modified-since").is_none() {
            return json_doc("threads.json").insert_header("last-modified", LISTING_MODIFIED);
        }
        let mut n = self.conditional.lock().unwrap();
        *n += 1;
        if *n == 1 {
            ResponseTemplate::new(304)
        } else {
            json_doc("threads_later.json")
                .insert_header("last-modified", "Wed, 03 Dec 2025 20:10:00 GMT")
        }
    }
}

/// Answers thread 61000100: the first document unconditionally, the later one when asked with
/// `If-Modified-Since`.
struct Bumped;

impl Respond for Bumped {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if request.headers.get("if-modified-since").is_some() {
            json_doc("thread_61000100_later.json")
        } else {
            json_doc("thread_61000100.json")
        }
    }
}

#[tokio::test]
async fn only_threads_whose_last_modified_advanced_are_fetched_again() {
    let server = MockServer::start().await;
    let arrivals = Arrivals::default();
    let listing = Listing {
        conditional: Mutex::new(0),
    };
    route(&server, &arrivals, "/biz/threads.json", listing).await;
    route(&server, &arrivals, "/biz/thread/61000100.json", Bumped).await;
    for no in ["61000200", "61000300"] {
        let file = format!("thread_{no}.json");
        route(
            &server,
            &arrivals,
            &format!("/biz/thread/{no}.json"),
            json_doc(&file),
        )
        .await;
    }
    // Deleted between the list and the request.
    route(
        &server,
        &arrivals,
        "/biz/thread/61000400.json",
        ResponseTemplate::new(404),
    )
    .await;
    let mut c = collector(&server, 2);

    // Round 1: two threads of three; the rest is due at once (after the rate gap).
    let first = c.poll(None).await.unwrap();
    assert!(
        first.next_poll_in <= MIN_REQUEST_GAP,
        "{:?}",
        first.next_poll_in
    );
    let cursor = first.cursor.unwrap();
    assert_eq!(
        cursor["threads"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["61000100", "61000200"]
    );

    // Round 2: the list has not changed (304, answered from memory); the third thread is read.
    let second = c.poll(Some(&cursor)).await.unwrap();
    assert_eq!(
        second
            .posts
            .iter()
            .map(|p| p.external_id.as_str())
            .collect::<Vec<_>>(),
        ["61000300"]
    );
    assert_eq!(second.next_poll_in, Duration::from_secs(60));
    let cursor = second.cursor.unwrap();

    // Round 3, from the committed cursor: 61000100 was bumped and only its new replies come; the
    // unchanged 61000200 is not asked for; 61000300 left the board and its entry goes; the new
    // 61000400 is gone by the time it is asked for.
    let third = c.poll(Some(&cursor)).await.unwrap();
    assert_eq!(
        third
            .posts
            .iter()
            .map(|p| p.external_id.as_str())
            .collect::<Vec<_>>(),
        ["61000150", "61000160"]
    );
    assert_eq!(
        third.posts[0].text,
        ">>61000105\nETH flipped green, stay calm"
    );
    assert_eq!(
        third.cursor.unwrap(),
        json!({"threads": {
            "61000100": {"last_modified": 1764792600, "max_no": 61000160},
            "61000200": {"last_modified": 1764791500, "max_no": 61000205},
        }})
    );

    let asked = arrivals.paths();
    let expected: Vec<(&str, Option<&str>)> = vec![
        ("/biz/threads.json", None),
        ("/biz/thread/61000100.json", None),
        ("/biz/thread/61000200.json", None),
        ("/biz/threads.json", Some(LISTING_MODIFIED)),
        ("/biz/thread/61000300.json", None),
        ("/biz/threads.json", Some(LISTING_MODIFIED)),
        // The thread's last_modified when it was read (1764792000) as an HTTP date.
        (
            "/biz/thread/61000100.json",
            Some("Wed, 03 Dec 2025 20:00:00 GMT"),
        ),
        ("/biz/thread/61000400.json", None),
    ];
    assert_eq!(
        asked
            .iter()
            .map(|(p, s)| (p.as_str(), s.as_deref()))
            .collect::<Vec<_>>(),
        expected
    );
    // The gap holds across rounds too.
    arrivals.assert_one_per_second();
}
