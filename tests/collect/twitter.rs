//! Twitter/X recent search against the recorded responses.

use std::collections::HashSet;
use std::time::Duration;

use coinpulse::collect::twitter::{TwitterCollector, TwitterConfig};
use coinpulse::collect::{Budget, CollectError, Collector};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::*;

const TOKEN: &str = "tw-bearer-7f3a9c-never-print";
const PATH: &str = "/2/tweets/search/recent";
/// The recording's Date header: its x-rate-limit-reset is 630 s later.
const RECORDED: &str = "2022-10-07T22:43:19Z";

fn config(server: &MockServer) -> TwitterConfig {
    TwitterConfig {
        base_url: server.uri(),
        ..Default::default()
    }
}

fn collector(config: &TwitterConfig) -> TwitterCollector {
    TwitterCollector::new(
        config,
        settings(at(RECORDED)),
        &assets(),
        SecretString::from(TOKEN),
    )
    .unwrap()
}

fn ids(posts: &[coinpulse::model::Post]) -> Vec<String> {
    posts.iter().map(|p| p.external_id.clone()).collect()
}

#[tokio::test]
async fn first_run_takes_the_newest_page_and_anchors_since_id() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(PATH))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(query_param(
            "query",
            "($BTC OR bitcoin OR $ETH OR ethereum) -is:retweet lang:en",
        ))
        .and(query_param("expansions", "author_id"))
        .and(query_param_is_missing("since_id"))
        .respond_with(fixture("twitter/search_recent_page1.json"))
        .expect(1)
        .mount(&server)
        .await;
    let mut c = collector(&config(&server));
    let batch = c.poll(None).await.unwrap();
    assert_eq!(batch.posts.len(), 10);
    let first = &batch.posts[0];
    assert_eq!(first.external_id, "1578516068309794817");
    assert_eq!(first.text, "2022-10-07 22:42:12.637103 tweepy");
    // created_at was not in the recording's fields: it comes from the snowflake id.
    assert_eq!(first.created_at, at("2022-10-07T22:42:12.752Z"));
    assert_eq!(
        first.url.as_deref(),
        Some("https://x.com/i/web/status/1578516068309794817")
    );
    assert!(first.raw.is_some());
    // The backlog behind next_token is not drained on a first run.
    assert_eq!(
        batch.cursor.unwrap(),
        json!({"queries": {"($BTC OR bitcoin OR $ETH OR ethereum) -is:retweet lang:en": {"since_id": "1578516068309794817"}}})
    );
    assert_eq!(batch.next_poll_in, Duration::from_secs(300));
}

/// A poll whose answer has a next_token drains the pages before moving since_id; a round cut short
/// by the page limit stores the drain in the cursor, and the next round resumes it without
/// re-emitting or skipping a post.
#[tokio::test]
async fn drain_resumes_from_the_cursor_without_gaps_or_repeats() {
    let server = MockServer::start().await;
    let since = "1578000000000000000";
    Mock::given(method("GET"))
        .and(path(PATH))
        .and(query_param("since_id", since))
        .and(query_param_is_missing("next_token"))
        .respond_with(fixture("twitter/search_recent_page1.json"))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(PATH))
        .and(query_param("since_id", since))
        .and(query_param(
            "next_token",
            "b26v89c19zqg8o3fpzbn1e0ffhxjiofzw6po136rvbnul",
        ))
        .respond_with(fixture("twitter/search_all_cashtags_expansions.json"))
        .expect(2)
        .mount(&server)
        .await;
    let query = "($BTC OR bitcoin OR $ETH OR ethereum) -is:retweet lang:en";
    let start = json!({"queries": {query: {"since_id": since}}});

    // All in one round.
    let mut c = collector(&config(&server));
    let whole = c.poll(Some(&start)).await.unwrap();
    assert_eq!(whole.posts.len(), 10 + 206);
    assert_eq!(
        whole.cursor.clone().unwrap(),
        json!({"queries": {query: {"since_id": "1578516068309794817"}}})
    );

    // One page per round, with a restart (a fresh collector) in between.
    let one_page = TwitterConfig {
        max_pages_per_round: 1,
        ..config(&server)
    };
    let first = collector(&one_page).poll(Some(&start)).await.unwrap();
    assert_eq!(first.posts.len(), 10);
    assert_eq!(first.next_poll_in, Duration::ZERO, "more is waiting");
    let mid = first.cursor.unwrap();
    assert_eq!(
        mid,
        json!({"queries": {query: {"since_id": since, "next_token": "b26v89c19zqg8o3fpzbn1e0ffhxjiofzw6po136rvbnul", "newest_id": "1578516068309794817"}}})
    );
    let second = collector(&one_page).poll(Some(&mid)).await.unwrap();
    assert_eq!(second.cursor.unwrap(), whole.cursor.unwrap());
    let mut resumed = ids(&first.posts);
    resumed.extend(ids(&second.posts));
    assert_eq!(resumed, ids(&whole.posts));
    assert_eq!(resumed.iter().collect::<HashSet<_>>().len(), resumed.len());
}

#[tokio::test]
async fn expansions_give_authors_metrics_and_languages() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(PATH))
        .respond_with(fixture("twitter/search_all_cashtags_expansions.json"))
        .mount(&server)
        .await;
    let batch = collector(&config(&server)).poll(None).await.unwrap();
    let raw = json("twitter/search_all_cashtags_expansions.json");
    assert_eq!(batch.posts.len(), raw["data"].as_array().unwrap().len());
    let tweet = &raw["data"][0];
    let user = raw["includes"]["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == tweet["author_id"])
        .unwrap();
    let post = &batch.posts[0];
    assert_eq!(post.author.as_deref(), user["username"].as_str());
    assert_eq!(
        post.engagement.author_followers,
        user["public_metrics"]["followers_count"].as_i64()
    );
    assert_eq!(
        post.engagement.likes,
        tweet["public_metrics"]["like_count"].as_i64()
    );
    assert_eq!(post.language.as_deref(), tweet["lang"].as_str());
    assert_eq!(post.created_at, at(tweet["created_at"].as_str().unwrap()));
    assert_eq!(
        post.url.clone().unwrap(),
        format!(
            "https://x.com/{}/status/{}",
            user["username"].as_str().unwrap(),
            tweet["id"].as_str().unwrap()
        )
    );
    // No meta.next_token and no newest_id in this recording: an empty cursor entry, nothing invented.
    assert!(
        batch
            .posts
            .iter()
            .any(|p| p.raw.as_ref().unwrap()["entities"]["cashtags"].is_array())
    );
}

#[tokio::test]
async fn partial_errors_inside_200_keep_the_data_and_are_logged() {
    let (_guard, logs) = capture_logs();
    let server = MockServer::start().await;
    for (i, name) in [
        "twitter/tweets_lookup_partial_errors.json",
        "twitter/users_tweets_page1.json",
    ]
    .iter()
    .enumerate()
    {
        Mock::given(method("GET"))
            .and(path(PATH))
            .respond_with(fixture(name))
            .up_to_n_times(1)
            .with_priority(i as u8 + 1)
            .mount(&server)
            .await;
    }
    let mut c = collector(&config(&server));
    let batch = c.poll(None).await.unwrap();
    assert_eq!(batch.posts.len(), 6);
    assert!(logs.text().contains("partial errors"), "{}", logs.text());
    assert!(logs.text().contains("count=9"), "{}", logs.text());
    // users_tweets_page1 has the same shape: two tweets.
    let batch = c.poll(None).await.unwrap();
    assert_eq!(batch.posts.len(), 2);
}

#[tokio::test]
async fn unauthorized_stops_the_source_and_never_prints_the_token() {
    let (_guard, logs) = capture_logs();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(PATH))
        .respond_with(fixture("twitter/error_401_unauthorized.json"))
        .mount(&server)
        .await;
    let mut c = collector(&config(&server));
    let err = c.poll(None).await.unwrap_err();
    assert!(err.is_fatal(), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(text.contains("TWITTER_BEARER_TOKEN"), "{text}");
    assert!(
        logs.text().contains("stopping this source"),
        "{}",
        logs.text()
    );
    for shown in [
        text,
        format!("{err:?}"),
        logs.text(),
        format!("{:?}", config(&server)),
    ] {
        assert!(!shown.contains(TOKEN), "token leaked: {shown}");
    }
}

#[tokio::test]
async fn bad_request_is_reported_with_the_api_message_and_is_not_fatal() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(PATH))
        .respond_with(fixture("twitter/error_400_invalid_time_range.json"))
        .mount(&server)
        .await;
    let err = collector(&config(&server)).poll(None).await.unwrap_err();
    assert!(matches!(err, CollectError::Transient { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("One or more parameters to your request was invalid"),
        "{err}"
    );
}

/// No recording of a Twitter 429 exists; these bodies are the documented shapes (see the fixtures
/// README, "Known gaps").
#[tokio::test]
async fn window_429_waits_for_the_reset_and_usage_cap_waits_much_longer() {
    let server = MockServer::start().await;
    let reset = at(RECORDED).timestamp() + 300;
    Mock::given(method("GET"))
        .and(path(PATH))
        .respond_with(
            built(429, json!({"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}))
                .insert_header("x-rate-limit-limit", "450")
                .insert_header("x-rate-limit-remaining", "0")
                .insert_header("x-rate-limit-reset", reset.to_string().as_str()),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let mut c = collector(&config(&server));
    let err = c.poll(None).await.unwrap_err();
    assert!(matches!(err, CollectError::RateLimited { .. }), "{err:?}");
    assert_eq!(err.retry_in(), Some(Duration::from_secs(300)));
    // The pause holds without another request (the mock would have answered 404).
    let again = c.poll(None).await.unwrap_err();
    assert!(
        matches!(again, CollectError::RateLimited { .. }),
        "{again:?}"
    );

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(PATH))
        .respond_with(built(429, json!({"title":"UsageCapExceeded","detail":"Usage cap exceeded: Monthly product cap","type":"https://api.twitter.com/2/problems/usage-capped","status":429})))
        .mount(&server)
        .await;
    let err = collector(&config(&server)).poll(None).await.unwrap_err();
    assert_eq!(err.retry_in(), Some(Duration::from_secs(6 * 3600)));
    assert!(err.to_string().contains("monthly usage cap"), "{err}");
}

#[tokio::test]
async fn retry_after_is_honoured_and_missing_means_a_minute() {
    for (retry_after, expected) in [(Some("42"), 42), (None, 60)] {
        let server = MockServer::start().await;
        let mut t = ResponseTemplate::new(429).set_body_string("Too Many Requests");
        if let Some(v) = retry_after {
            t = t.insert_header("retry-after", v);
        }
        Mock::given(method("GET"))
            .and(path(PATH))
            .respond_with(t)
            .mount(&server)
            .await;
        let err = collector(&config(&server)).poll(None).await.unwrap_err();
        assert_eq!(err.retry_in(), Some(Duration::from_secs(expected)), "{err}");
    }
}

#[tokio::test]
async fn malformed_json_names_the_field_and_the_collector_keeps_running() {
    let server = MockServer::start().await;
    let mut bad = json("twitter/search_recent_page1.json");
    bad["data"][3]["text"] = json!(12);
    Mock::given(method("GET"))
        .and(path(PATH))
        .respond_with(built(200, bad))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(PATH))
        .respond_with(fixture("twitter/search_recent_page1.json"))
        .mount(&server)
        .await;
    let mut c = collector(&config(&server));
    let err = c.poll(None).await.unwrap_err();
    assert!(!err.is_fatal());
    let text = err.to_string();
    assert!(text.starts_with("twitter: "), "{text}");
    assert!(text.contains("data[3].text"), "{text}");
    assert_eq!(c.poll(None).await.unwrap().posts.len(), 10);
}

/// Other recorded Twitter bodies served where a search answer is expected: each is a clear error
/// naming the field that does not fit, never a panic.
#[tokio::test]
async fn foreign_shapes_are_named_errors() {
    for (name, field) in [
        ("twitter/tweet_lookup_single_emoji.json", "`data`"),
        ("twitter/counts_recent.json", "data[0]"),
        ("twitter/users_by_usernames_partial_error.json", "data[0]"),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(PATH))
            .respond_with(fixture(name))
            .mount(&server)
            .await;
        let err = collector(&config(&server)).poll(None).await.unwrap_err();
        assert!(err.to_string().contains(field), "{name}: {err}");
    }
}

#[tokio::test]
async fn html_5xx_is_retried_then_reported() {
    let server = MockServer::start().await;
    let page = "<html><head><title>502 Bad Gateway</title></head><body>upstream</body></html>";
    Mock::given(method("GET"))
        .and(path(PATH))
        .respond_with(
            ResponseTemplate::new(502)
                .set_body_string(page)
                .insert_header("content-type", "text/html"),
        )
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(PATH))
        .respond_with(fixture("twitter/search_recent_page1.json"))
        .mount(&server)
        .await;
    // Two failures, then success within the retries.
    assert_eq!(
        collector(&config(&server))
            .poll(None)
            .await
            .unwrap()
            .posts
            .len(),
        10
    );

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(PATH))
        .respond_with(ResponseTemplate::new(503).set_body_string(page))
        .expect(3)
        .mount(&server)
        .await;
    let err = collector(&config(&server)).poll(None).await.unwrap_err();
    assert!(matches!(err, CollectError::Transient { .. }));
    assert!(
        err.to_string().contains("HTML page \"502 Bad Gateway\""),
        "{err}"
    );
}

#[tokio::test]
async fn a_stalled_server_times_out() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(PATH))
        .respond_with(
            fixture("twitter/search_recent_page1.json").set_delay(Duration::from_secs(10)),
        )
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    let err = collector(&config(&server)).poll(None).await.unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn configured_budget_is_enforced_between_rounds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(PATH))
        .respond_with(fixture("twitter/search_recent_page1.json"))
        .expect(1)
        .mount(&server)
        .await;
    let cfg = TwitterConfig {
        budget: Budget::new(1, Duration::from_secs(900)),
        ..config(&server)
    };
    let mut c = collector(&cfg);
    let batch = c.poll(None).await.unwrap();
    assert!(
        batch.next_poll_in > Duration::from_secs(890),
        "{:?}",
        batch.next_poll_in
    );
    let err = c.poll(batch.cursor.as_ref()).await.unwrap_err();
    assert!(matches!(err, CollectError::RateLimited { .. }), "{err:?}");
    assert!(err.to_string().contains("budget"), "{err}");
}

#[tokio::test]
async fn long_asset_lists_are_split_into_queries_under_512_chars() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(PATH))
        .respond_with(built(200, json!({"meta": {"result_count": 0}})))
        .mount(&server)
        .await;
    let many: Vec<_> = (0..80)
        .map(|i| {
            asset(
                &format!("coin-{i}"),
                &format!("CX{i}"),
                &format!("Coin Number {i}"),
                i,
            )
        })
        .collect();
    let cfg = TwitterConfig {
        track: Default::default(),
        ..config(&server)
    };
    let mut c = TwitterCollector::new(
        &cfg,
        settings(at(RECORDED)),
        &many,
        SecretString::from(TOKEN),
    )
    .unwrap();
    let batch = c.poll(None).await.unwrap();
    assert!(batch.posts.is_empty());
    let requests = server.received_requests().await.unwrap();
    assert!(requests.len() > 1);
    for r in &requests {
        let q = r
            .url
            .query_pairs()
            .find(|(k, _)| k == "query")
            .unwrap()
            .1
            .into_owned();
        assert!(q.len() <= 512, "{} chars", q.len());
    }
    // Empty answers leave every query without a since_id, ready for its first real page.
    let cursor = batch.cursor.unwrap();
    assert_eq!(cursor["queries"].as_object().unwrap().len(), requests.len());
}

/// A server that echoes the request's `Authorization` header in its error body, as a broken proxy
/// or a hostile server may: the token must not reach the error (which `/readyz` shows) nor a log.
#[tokio::test]
async fn an_error_body_echoing_the_token_is_redacted() {
    struct Echo;
    impl wiremock::Respond for Echo {
        fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
            let auth = request
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let status = if request.url.query().unwrap_or_default().contains("since_id") {
                403
            } else {
                400
            };
            ResponseTemplate::new(status)
                .set_body_string(format!(r#"{{"detail":"bad request, you sent: {auth}"}}"#))
                .insert_header("content-type", "application/json")
        }
    }
    let (_guard, logs) = capture_logs();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(PATH))
        .respond_with(Echo)
        .mount(&server)
        .await;
    let mut c = collector(&config(&server));
    // 400: a transient error quoting the body; 403: a fatal one.
    let transient = c.poll(None).await.unwrap_err();
    assert!(!transient.is_fatal(), "{transient:?}");
    let cursor = json!({"queries": {"($BTC OR bitcoin OR $ETH OR ethereum) -is:retweet lang:en": {"since_id": "1"}}});
    let fatal = c.poll(Some(&cursor)).await.unwrap_err();
    assert!(fatal.is_fatal(), "{fatal:?}");
    for err in [&transient, &fatal] {
        let text = err.to_string();
        assert!(text.contains("you sent: Bearer [REDACTED]"), "{text}");
        assert!(!format!("{err:?}").contains(TOKEN), "{err:?}");
    }
    assert!(!logs.text().contains(TOKEN), "{}", logs.text());
}

#[test]
fn credentials_never_go_to_a_plain_http_host_other_than_this_one() {
    for (url, ok) in [
        ("https://api.x.com", true),
        ("http://127.0.0.1:9000", true),
        ("http://localhost:9000", true),
        ("http://[::1]:9000", true),
        ("http://api.x.com", false),
        ("http://10.0.0.5:8080", false),
        ("ftp://api.x.com", false),
    ] {
        let config = TwitterConfig {
            base_url: url.into(),
            ..Default::default()
        };
        let built = TwitterCollector::new(
            &config,
            settings(at(RECORDED)),
            &assets(),
            SecretString::from(TOKEN),
        );
        assert_eq!(built.is_ok(), ok, "{url}");
        if let Err(e) = built {
            assert!(e.is_fatal());
            assert!(e.to_string().contains("sources.twitter.base_url"), "{e}");
        }
    }
}
