//! Reddit listings and app-only OAuth against the recorded responses.

use std::collections::HashSet;
use std::time::Duration;

use coinpulse::collect::reddit::{RedditCollector, RedditConfig};
use coinpulse::collect::{CollectError, Collector};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{
    body_string_contains, header, header_exists, method, path, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockServer};

use crate::support::*;

const CLIENT_ID: &str = "client-id-4d1e";
const SECRET: &str = "reddit-secret-9b2f-never-print";
const NEW: &str = "/r/CryptoCurrency+Bitcoin/new";
const COMMENTS: &str = "/r/CryptoCurrency+Bitcoin/comments";
/// Shortly after the comment recordings.
const NOW: &str = "2023-10-08T20:00:00Z";

fn config(server: &MockServer) -> RedditConfig {
    RedditConfig {
        base_url: server.uri(),
        auth_url: server.uri(),
        subreddits: vec!["CryptoCurrency".into(), "Bitcoin".into()],
        ..Default::default()
    }
}

fn collector(config: &RedditConfig) -> RedditCollector {
    RedditCollector::new(
        config,
        settings(at(NOW)),
        SecretString::from(CLIENT_ID),
        SecretString::from(SECRET),
    )
    .unwrap()
}

async fn mount_token(server: &MockServer, expect: u64) {
    Mock::given(method("POST"))
        .and(path("/api/v1/access_token"))
        .and(header_exists("authorization"))
        .and(body_string_contains("grant_type=client_credentials"))
        .respond_with(fixture("reddit/oauth_token_client_credentials.json"))
        .expect(expect)
        .mount(server)
        .await;
}

fn names(value: &serde_json::Value) -> Vec<String> {
    value["data"]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["data"]["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn first_run_reads_both_streams_and_anchors_on_the_newest() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(NEW))
        .and(header("authorization", "Bearer REDACTED"))
        .and(query_param("raw_json", "1"))
        .and(query_param("limit", "100"))
        .and(query_param_is_missing("before"))
        .respond_with(fixture("reddit/listing_new.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(COMMENTS))
        .respond_with(fixture("reddit/listing_comments.json"))
        .expect(1)
        .mount(&server)
        .await;
    let batch = collector(&config(&server)).poll(None).await.unwrap();
    assert_eq!(batch.posts.len(), 200);
    let cursor = batch.cursor.unwrap();
    assert_eq!(cursor["submissions"]["before"], "t3_48fbm9");
    assert_eq!(cursor["comments"]["before"], "t1_k3yrfii");
    assert_eq!(cursor["comments"]["recent"].as_array().unwrap().len(), 20);
    let raw = json("reddit/listing_new.json");
    let newest = &raw["data"]["children"][0]["data"];
    let post = batch
        .posts
        .iter()
        .find(|p| p.external_id == "t3_48fbm9")
        .unwrap();
    assert!(post.text.starts_with(newest["title"].as_str().unwrap()));
    assert_eq!(
        post.url.clone().unwrap(),
        format!(
            "https://www.reddit.com{}",
            newest["permalink"].as_str().unwrap()
        )
    );
    assert_eq!(post.engagement.likes, newest["score"].as_i64());
    assert_eq!(
        post.created_at.timestamp(),
        newest["created_utc"].as_f64().unwrap() as i64
    );
    // Oldest first within a stream.
    assert_eq!(batch.posts[0].external_id, "t3_48f6io");
    let requests = server.received_requests().await.unwrap();
    let ua = requests[1]
        .headers
        .get("user-agent")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(ua.contains(":coinpulse:v"), "{ua}");
}

/// Polling with `before` returns what is newer than the anchor; a restart from the returned cursor
/// resumes there (the fixture pair is PRAW's recording of exactly this).
#[tokio::test]
async fn before_polling_takes_only_newer_items() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(COMMENTS))
        .and(query_param("before", "t1_k3v0jp3"))
        .respond_with(fixture("reddit/listing_comments_before.json"))
        .expect(1)
        .mount(&server)
        .await;
    let cfg = RedditConfig {
        submissions: false,
        ..config(&server)
    };
    let cursor = json!({"comments": {"before": "t1_k3v0jp3", "created_utc": 1696691430.0, "recent": ["t1_k3v0jp3"]}});
    let batch = collector(&cfg).poll(Some(&cursor)).await.unwrap();
    let expected: HashSet<String> = names(&json("reddit/listing_comments_before.json"))
        .into_iter()
        .collect();
    let got: HashSet<String> = batch.posts.iter().map(|p| p.external_id.clone()).collect();
    assert_eq!(got, expected);
    assert_eq!(got.len(), 95);
    assert_eq!(batch.cursor.unwrap()["comments"]["before"], "t1_k3yrfii");
}

#[tokio::test]
async fn vanished_anchor_falls_back_to_the_newest_listing() {
    let (_guard, logs) = capture_logs();
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(COMMENTS))
        .and(query_param("before", "t1_gone"))
        .respond_with(built(
            200,
            json!({"kind": "Listing", "data": {"children": [], "after": null, "before": null}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(COMMENTS))
        .and(query_param_is_missing("before"))
        .respond_with(fixture("reddit/listing_comments.json"))
        .expect(1)
        .mount(&server)
        .await;
    let raw = json("reddit/listing_comments.json");
    let children = raw["data"]["children"].as_array().unwrap();
    // The anchor's time sits inside the listing, and many comments share that second. Items from
    // index 50 on were seen (the cursor lists those of the anchor's second); the others are new.
    let time = |c: &serde_json::Value| c["data"]["created_utc"].as_f64().unwrap();
    let name = |c: &serde_json::Value| c["data"]["name"].as_str().unwrap().to_owned();
    let anchor_time = time(&children[50]);
    let recent: Vec<String> = children[50..]
        .iter()
        .filter(|c| time(c) == anchor_time)
        .map(name)
        .collect();
    let expected: HashSet<String> = children[..50].iter().map(name).collect();
    assert!(
        children[..50].iter().any(|c| time(c) == anchor_time),
        "the case this test is about"
    );
    let cfg = RedditConfig {
        submissions: false,
        ..config(&server)
    };
    let cursor =
        json!({"comments": {"before": "t1_gone", "created_utc": anchor_time, "recent": recent}});
    let batch = collector(&cfg).poll(Some(&cursor)).await.unwrap();
    let got: HashSet<String> = batch.posts.iter().map(|p| p.external_id.clone()).collect();
    assert_eq!(got, expected);
    assert_eq!(batch.cursor.unwrap()["comments"]["before"], "t1_k3yrfii");
    assert!(logs.text().contains("re-anchor"), "{}", logs.text());
}

#[tokio::test]
async fn token_refused_mid_run_is_fetched_again() {
    let server = MockServer::start().await;
    mount_token(&server, 2).await;
    Mock::given(method("GET"))
        .and(path(COMMENTS))
        .respond_with(fixture("reddit/error_401_invalid_token.json"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(COMMENTS))
        .respond_with(fixture("reddit/listing_comments.json"))
        .mount(&server)
        .await;
    let cfg = RedditConfig {
        submissions: false,
        ..config(&server)
    };
    let batch = collector(&cfg).poll(None).await.unwrap();
    assert_eq!(batch.posts.len(), 100);
}

#[tokio::test]
async fn expiring_token_is_renewed_before_use() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/access_token"))
        .respond_with(built(200, json!({"access_token": "short-lived", "token_type": "bearer", "expires_in": 30, "scope": "*"})))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(COMMENTS))
        .and(header("authorization", "Bearer short-lived"))
        .respond_with(built(
            200,
            json!({"kind": "Listing", "data": {"children": []}}),
        ))
        .expect(2)
        .mount(&server)
        .await;
    let cfg = RedditConfig {
        submissions: false,
        ..config(&server)
    };
    let mut c = collector(&cfg);
    let first = c.poll(None).await.unwrap();
    assert!(first.posts.is_empty());
    c.poll(first.cursor.as_ref()).await.unwrap();
}

#[tokio::test]
async fn html_429_waits_for_retry_after() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(COMMENTS))
        .respond_with(fixture("reddit/error_429_html_retry_after.html"))
        .mount(&server)
        .await;
    let cfg = RedditConfig {
        submissions: false,
        ..config(&server)
    };
    let err = collector(&cfg).poll(None).await.unwrap_err();
    assert!(matches!(err, CollectError::RateLimited { .. }), "{err:?}");
    assert_eq!(err.retry_in(), Some(Duration::from_secs(4)));
    assert!(err.to_string().contains("HTML page"), "{err}");
}

#[tokio::test]
async fn forbidden_stops_the_source_without_printing_credentials() {
    let (_guard, logs) = capture_logs();
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(COMMENTS))
        .respond_with(fixture("reddit/error_403_forbidden.json"))
        .mount(&server)
        .await;
    let cfg = RedditConfig {
        submissions: false,
        ..config(&server)
    };
    let err = collector(&cfg).poll(None).await.unwrap_err();
    assert!(err.is_fatal());
    assert!(err.to_string().contains("REDDIT_CLIENT_SECRET"), "{err}");
    for shown in [err.to_string(), format!("{err:?}"), logs.text()] {
        assert!(!shown.contains(SECRET), "secret leaked: {shown}");
    }
}

#[tokio::test]
async fn token_endpoint_rejection_is_fatal() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/access_token"))
        .respond_with(built(401, json!({"message": "Unauthorized", "error": 401})))
        .mount(&server)
        .await;
    let err = collector(&config(&server)).poll(None).await.unwrap_err();
    assert!(err.is_fatal(), "{err:?}");
}

#[tokio::test]
async fn not_found_and_foreign_shapes_are_clear_errors() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(COMMENTS))
        .respond_with(fixture("reddit/error_404_json.json"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(COMMENTS))
        .respond_with(fixture("reddit/submission_comments.json"))
        .mount(&server)
        .await;
    let cfg = RedditConfig {
        submissions: false,
        ..config(&server)
    };
    let mut c = collector(&cfg);
    let err = c.poll(None).await.unwrap_err();
    assert!(!err.is_fatal());
    assert!(
        err.to_string().contains("HTTP 404") && err.to_string().contains("Not Found"),
        "{err}"
    );
    // A comment tree (an array of two listings) where a listing is expected.
    let err = c.poll(None).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("malformed response from /r/CryptoCurrency+Bitcoin/comments"),
        "{err}"
    );
}

/// Synthetic items (no third-party text): removed or deleted content is never stored as text.
#[tokio::test]
async fn deleted_and_removed_content_is_not_stored() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    let item = |kind: &str, data: serde_json::Value| json!({"kind": kind, "data": data});
    Mock::given(method("GET"))
        .and(path(NEW))
        .respond_with(built(200, json!({"kind": "Listing", "data": {"children": [
            item("t3", json!({"name": "t3_b", "created_utc": 1700000002.0, "author": "[deleted]", "title": "Title stays", "selftext": "[deleted]", "permalink": "/r/x/comments/b/", "score": 3, "num_comments": 1})),
            item("t3", json!({"name": "t3_a", "created_utc": 1700000001.0, "author": "alice", "title": "Kept", "selftext": "Body text", "permalink": "/r/x/comments/a/", "score": 1, "num_comments": 0})),
        ]}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(COMMENTS))
        .respond_with(built(200, json!({"kind": "Listing", "data": {"children": [
            item("t1", json!({"name": "t1_c", "created_utc": 1700000003.0, "author": "[deleted]", "body": "[removed]", "permalink": "/r/x/comments/a/c/", "score": 1})),
            item("t1", json!({"name": "t1_d", "created_utc": 1700000002.5, "author": "[deleted]", "body": "still here", "permalink": "/r/x/comments/a/d/", "score": 2})),
        ]}})))
        .mount(&server)
        .await;
    let batch = collector(&config(&server)).poll(None).await.unwrap();
    let texts: Vec<(&str, &str, Option<&str>)> = batch
        .posts
        .iter()
        .map(|p| (p.external_id.as_str(), p.text.as_str(), p.author.as_deref()))
        .collect();
    assert_eq!(
        texts,
        vec![
            ("t3_a", "Kept\n\nBody text", Some("alice")),
            ("t3_b", "Title stays", None),
            ("t1_d", "still here", None),
        ]
    );
    // The removed comment still moves the anchor: it is the newest item.
    assert_eq!(batch.cursor.unwrap()["comments"]["before"], "t1_c");
}
