//! Fuzzing every collector's payload decoding: a local server answers each request with a recorded
//! response mangled by proptest (leaves of the JSON replaced by odd values, the body cut short or
//! replaced by arbitrary bytes, odd rate-limit headers, odd statuses), and one polling round must
//! come back, as posts or as an error, without panicking or hanging.
//!
//! The normal test run tries a few dozen cases per source; `scripts/fuzz.sh` runs many more
//! (`PROPTEST_CASES`, `FUZZ_SECONDS`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coinpulse::collect::Collector;
use coinpulse::collect::Track;
use coinpulse::collect::binance::{BinanceCollector, BinanceConfig};
use coinpulse::collect::biz::{BizCollector, BizConfig};
use coinpulse::collect::bluesky::{BlueskyCollector, BlueskyConfig};
use coinpulse::collect::coingecko::{CoingeckoCollector, CoingeckoConfig};
use coinpulse::collect::mastodon::{MastodonCollector, MastodonConfig};
use coinpulse::collect::news::{NewsCollector, NewsConfig};
use coinpulse::collect::reddit::{RedditCollector, RedditConfig};
use coinpulse::collect::twitter::{TwitterCollector, TwitterConfig};
use coinpulse::collect::youtube::{YoutubeCollector, YoutubeConfig};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use secrecy::SecretString;
use serde_json::Value;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::*;

/// Cases per source in a normal test run, unless `PROPTEST_CASES` says otherwise.
const DEFAULT_CASES: u32 = 24;

/// One mangled answer.
#[derive(Debug, Clone)]
enum Body {
    /// The recording with these leaves (by index in a walk of the document) replaced.
    Mutated(Vec<(usize, Value)>),
    /// The recording's first bytes only.
    Cut(usize),
    /// Anything at all.
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    body: Body,
    headers: Vec<(&'static str, String)>,
}

const HEADERS: [&str; 8] = [
    "x-rate-limit-remaining",
    "x-rate-limit-reset",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "ratelimit-reset",
    "retry-after",
    "x-mbx-used-weight-1m",
    "date",
];

fn odd_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        Just(String::new()),
        "[0-9]{1,30}",
        "-?[0-9]{1,20}(\\.[0-9]{0,9})?(e[+-]?[0-9]{1,4})?",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})?",
        "(t1_|t3_|at://|https?://)[a-z0-9/._]{0,20}",
        Just("\u{0}".to_string()),
        Just("$BTC ".repeat(200)),
    ]
}

fn odd_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        odd_string().prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn answer() -> impl Strategy<Value = Answer> {
    let body = prop_oneof![
        6 => prop::collection::vec((any::<usize>(), odd_value()), 1..5).prop_map(Body::Mutated),
        1 => any::<usize>().prop_map(Body::Cut),
        1 => prop::collection::vec(any::<u8>(), 0..200).prop_map(Body::Bytes),
    ];
    let status = prop_oneof![
        8 => Just(200u16),
        1 => prop::sample::select(vec![400u16, 401, 403, 404, 418, 422, 429, 500, 503]),
    ];
    let headers = prop::collection::vec(
        (
            prop::sample::select(HEADERS.to_vec()),
            prop_oneof!["[0-9]{1,25}", "-?[0-9.e+]{1,12}", any::<String>()],
        ),
        0..3,
    );
    (status, body, headers).prop_map(|(status, body, headers)| Answer {
        status,
        body,
        headers,
    })
}

/// Every node of `doc`, in a fixed walk order.
fn nodes(doc: &mut Value) -> Vec<&mut Value> {
    let mut out = Vec::new();
    let mut stack = vec![doc];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(a) => stack.extend(a.iter_mut()),
            Value::Object(o) => stack.extend(o.values_mut()),
            leaf => out.push(leaf),
        }
    }
    out
}

fn render(recording: &[u8], body: &Body) -> Vec<u8> {
    match body {
        Body::Mutated(changes) => {
            let Ok(mut doc) = serde_json::from_slice::<Value>(recording) else {
                return recording.to_vec();
            };
            for (i, value) in changes {
                let mut leaves = nodes(&mut doc);
                if leaves.is_empty() {
                    break;
                }
                let n = leaves.len();
                *leaves[i % n] = value.clone();
            }
            serde_json::to_vec(&doc).unwrap()
        }
        Body::Cut(n) => recording[..n % (recording.len() + 1)].to_vec(),
        Body::Bytes(b) => b.clone(),
    }
}

/// Answers with the current case's mangled recording; `fixed` paths get their recording as is
/// (Reddit's token endpoint, so the listings are reached).
#[derive(Clone)]
struct Mangler {
    recordings: Vec<(&'static str, Vec<u8>)>,
    fixed: Vec<(&'static str, Vec<u8>)>,
    answer: Arc<Mutex<Option<Answer>>>,
}

impl Respond for Mangler {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let path = request.url.path();
        if let Some((_, body)) = self.fixed.iter().find(|(p, _)| path.ends_with(p)) {
            return ResponseTemplate::new(200)
                .set_body_bytes(body.clone())
                .insert_header("content-type", "application/json");
        }
        let answer = self.answer.lock().unwrap().clone().expect("a case is set");
        let recording = self
            .recordings
            .iter()
            .find(|(p, _)| path.contains(p))
            .or(self.recordings.first())
            .map(|(_, r)| r.as_slice())
            .unwrap_or_default();
        let mut t =
            ResponseTemplate::new(answer.status).set_body_bytes(render(recording, &answer.body));
        for (name, value) in &answer.headers {
            if let Ok(value) = http_value(value) {
                t = t.append_header(*name, value.as_str());
            }
        }
        t
    }
}

/// Header values must be visible ASCII; others cannot be sent at all.
fn http_value(v: &str) -> Result<String, ()> {
    if v.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        Ok(v.to_owned())
    } else {
        Err(())
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

/// Runs `cases()` mangled answers (repeatedly until `FUZZ_SECONDS` have passed, when set) against
/// the collector `make` builds for the server's URL. Recordings are named by their file under
/// `../shared/fixtures/`.
fn fuzz_source(
    recordings: &[(&'static str, &str)],
    fixed: &[(&'static str, &str)],
    make: impl Fn(&str) -> Box<dyn Collector>,
) {
    fuzz_recordings(
        recordings.iter().map(|(p, f)| (*p, body(f))).collect(),
        fixed.iter().map(|(p, f)| (*p, body(f))).collect(),
        cases(),
        make,
    );
}

/// [`fuzz_source`] with the recordings' bytes given, `cases` per batch.
fn fuzz_recordings(
    recordings: Vec<(&'static str, Vec<u8>)>,
    fixed: Vec<(&'static str, Vec<u8>)>,
    cases: u32,
    make: impl Fn(&str) -> Box<dyn Collector>,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(MockServer::start());
    let mangler = Mangler {
        recordings,
        fixed,
        answer: Arc::new(Mutex::new(None)),
    };
    rt.block_on(
        Mock::given(wiremock::matchers::any())
            .respond_with(mangler.clone())
            .mount(&server),
    );
    let uri = server.uri();
    let deadline = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(|s| Instant::now() + Duration::from_secs(s));
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    loop {
        let result = runner.run(&answer(), |answer| {
            *mangler.answer.lock().unwrap() = Some(answer);
            let mut collector = make(&uri);
            let round = rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(20), collector.poll(None)).await
            });
            prop_assert!(round.is_ok(), "a polling round hung");
            Ok::<(), TestCaseError>(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
        if deadline.is_none_or(|d| Instant::now() >= d) {
            break;
        }
    }
}

fn now() -> coinpulse::collect::HttpSettings {
    // Retries would only repeat the same answer: none, and no waiting.
    let mut s = settings(at("2022-10-07T22:43:19Z"));
    s.max_retries = 0;
    s
}

#[test]
fn fuzz_twitter_payloads() {
    fuzz_source(&[("", "twitter/search_recent_page1.json")], &[], |uri| {
        let config = TwitterConfig {
            base_url: uri.to_owned(),
            ..Default::default()
        };
        Box::new(
            TwitterCollector::new(
                &config,
                now(),
                &assets(),
                SecretString::from("fuzz-token-123"),
            )
            .unwrap(),
        )
    });
}

#[test]
fn fuzz_reddit_payloads() {
    fuzz_source(
        &[
            ("comments", "reddit/listing_comments.json"),
            ("", "reddit/listing_new.json"),
        ],
        &[("access_token", "reddit/oauth_token_client_credentials.json")],
        |uri| {
            let config = RedditConfig {
                base_url: uri.to_owned(),
                auth_url: uri.to_owned(),
                subreddits: vec!["CryptoCurrency".into()],
                ..Default::default()
            };
            Box::new(
                RedditCollector::new(
                    &config,
                    now(),
                    SecretString::from("fuzz-client-id"),
                    SecretString::from("fuzz-client-secret"),
                )
                .unwrap(),
            )
        },
    );
}

#[test]
fn fuzz_youtube_payloads() {
    fuzz_source(
        &[
            ("search", "youtube/search_list_page1.json"),
            ("videos.xml", "youtube/channel_feed_videos.xml"),
            ("videos", "youtube/videos_list_statistics.json"),
            ("commentThreads", "youtube/comment_threads_page1.json"),
        ],
        &[],
        |uri| {
            let config = YoutubeConfig {
                base_url: uri.to_owned(),
                feed_base_url: uri.to_owned(),
                channels: vec!["UCK8sQmJBp8GCxrOtXWBpyEA".into()],
                track_videos_for: Duration::from_secs(3650 * 86_400),
                ..Default::default()
            };
            Box::new(
                YoutubeCollector::new(
                    &config,
                    now(),
                    &assets(),
                    Some(SecretString::from("fuzz-youtube-key")),
                )
                .unwrap(),
            )
        },
    );
}

#[test]
fn fuzz_mastodon_payloads() {
    fuzz_source(&[("", "mastodon/timeline_tag.json")], &[], |uri| {
        let config = MastodonConfig {
            base_url: uri.to_owned(),
            tags: vec!["bitcoin".into()],
            ..Default::default()
        };
        Box::new(MastodonCollector::new(&config, now(), &assets()).unwrap())
    });
}

#[test]
fn fuzz_bluesky_payloads() {
    fuzz_source(&[("", "bluesky/search_posts.json")], &[], |uri| {
        let config = BlueskyConfig {
            base_url: uri.to_owned(),
            queries: vec!["bitcoin".into()],
            ..Default::default()
        };
        Box::new(BlueskyCollector::new(&config, now(), &assets()).unwrap())
    });
}

#[test]
fn fuzz_coingecko_payloads() {
    fuzz_source(
        &[
            ("market_chart", "coingecko/market_chart_bitcoin_usd_1d.json"),
            ("", "coingecko/coins_markets_bitcoin_usd.json"),
        ],
        &[],
        |uri| {
            let config = CoingeckoConfig {
                base_url: Some(uri.to_owned()),
                track: Track {
                    top: None,
                    assets: vec!["bitcoin".into()],
                },
                ..Default::default()
            };
            Box::new(CoingeckoCollector::new(&config, now(), &assets(), None).unwrap())
        },
    );
}

#[test]
fn fuzz_binance_payloads() {
    fuzz_source(&[("", "binance/klines_btcusdt_1m.json")], &[], |uri| {
        let config = BinanceConfig {
            base_url: uri.to_owned(),
            interval: "1m".into(),
            track: Track {
                top: None,
                assets: vec!["BTC".into()],
            },
            ..Default::default()
        };
        Box::new(BinanceCollector::new(&config, now(), &assets()).unwrap())
    });
}

/// A feed document kept in this repository (`tests/fixtures/news/`, from feed-rs's test suite).
fn repo_fixture(path: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(path),
    )
    .unwrap()
}

/// Two feeds, RSS 2.0 and Atom, each answer mangled (the XML is cut short or replaced by arbitrary
/// bytes; its leaves are not JSON, so "mutated" sends it whole with odd statuses and headers).
#[test]
fn fuzz_news_payloads() {
    fuzz_recordings(
        vec![
            ("atom", repo_fixture("news/atom_spec_1.xml")),
            ("", repo_fixture("news/rss_2.0_example_1.xml")),
        ],
        vec![],
        cases(),
        |uri| {
            let feeds = [format!("{uri}/rss"), format!("{uri}/atom")];
            Box::new(
                NewsCollector::new(
                    &NewsConfig::default(),
                    now(),
                    feeds.iter().map(|f| (f.clone(), f.clone())).collect(),
                )
                .unwrap(),
            )
        },
    );
}

/// The /biz/ catalog mangled, then a thread mangled behind an intact catalog (a catalog that does
/// not parse ends the round before any thread is read). A round waits a second between its two
/// requests (the API's rule), so the thread batch is an eighth of the other sources' cases.
#[test]
fn fuzz_biz_payloads() {
    let make = |uri: &str| -> Box<dyn Collector> {
        let config = BizConfig {
            base_url: uri.to_owned(),
            max_threads_per_round: 1,
            ..BizConfig::default()
        };
        Box::new(BizCollector::new(&config, now()).unwrap())
    };
    let catalog = repo_fixture("biz/threads.json");
    let thread = repo_fixture("biz/thread_61000100.json");
    fuzz_recordings(
        vec![("", catalog.clone())],
        vec![("thread/61000100.json", thread.clone())],
        cases(),
        make,
    );
    fuzz_recordings(
        vec![("", thread)],
        vec![("threads.json", catalog)],
        cases().div_ceil(8),
        make,
    );
}

/// Jetstream frames: each recorded event with its leaves replaced, cut short, or arbitrary bytes,
/// read as the collector reads a text frame. Any frame is a post, a deletion, skipped, or an error
/// naming why; none panics.
#[test]
fn fuzz_jetstream_frames() {
    let frames: Vec<Vec<u8>> = [
        "jetstream/event_post_create_ja.json",
        "jetstream/event_post_create_reply.json",
        "jetstream/event_post_delete.json",
        "jetstream/event_identity.json",
        "jetstream/event_account_active.json",
    ]
    .iter()
    .map(|f| body(f))
    .collect();
    let deadline = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(|s| Instant::now() + Duration::from_secs(s));
    let mut runner = TestRunner::new(ProptestConfig {
        cases: cases() * 20,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = (0..frames.len(), answer().prop_map(|a| a.body));
    loop {
        let result = runner.run(&strategy, |(i, mangled)| {
            let text = String::from_utf8_lossy(&render(&frames[i], &mangled)).into_owned();
            if let Ok(parsed) = coinpulse::collect::jetstream::parse_frame(&text) {
                prop_assert!(parsed.time_us != i64::MIN || text.contains("time_us"));
            }
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
        if deadline.is_none_or(|d| Instant::now() >= d) {
            break;
        }
    }
}
