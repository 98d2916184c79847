//! YouTube, Mastodon and Bluesky against the recorded responses.

use std::time::Duration;

use coinpulse::collect::bluesky::{BlueskyCollector, BlueskyConfig};
use coinpulse::collect::mastodon::{MastodonCollector, MastodonConfig};
use coinpulse::collect::youtube::{YoutubeCollector, YoutubeConfig};
use coinpulse::collect::{CollectError, Collector};
use coinpulse::model::Platform;
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer};

use crate::support::*;

const KEY: &str = "yt-key-51c0-never-print";
const CHANNEL: &str = "UCK8sQmJBp8GCxrOtXWBpyEA";

fn youtube(server: &MockServer) -> YoutubeConfig {
    YoutubeConfig {
        base_url: server.uri(),
        feed_base_url: server.uri(),
        channels: vec![],
        track_videos_for: Duration::from_secs(3650 * 86_400),
        ..Default::default()
    }
}

fn yt(config: &YoutubeConfig, now: &str) -> YoutubeCollector {
    YoutubeCollector::new(
        config,
        settings(at(now)),
        &assets(),
        Some(SecretString::from(KEY)),
    )
    .unwrap()
}

#[tokio::test]
async fn youtube_channel_feed_needs_no_key_and_emits_each_upload_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/feeds/videos.xml"))
        .and(query_param("channel_id", CHANNEL))
        .respond_with(fixture("youtube/channel_feed_videos.xml"))
        .expect(2)
        .mount(&server)
        .await;
    let cfg = YoutubeConfig {
        channels: vec![CHANNEL.into()],
        search: false,
        comments: false,
        ..youtube(&server)
    };
    let mut c =
        YoutubeCollector::new(&cfg, settings(at("2015-05-05T00:00:00Z")), &assets(), None).unwrap();
    let batch = c.poll(None).await.unwrap();
    assert_eq!(batch.posts.len(), 15);
    assert!(
        batch
            .posts
            .iter()
            .all(|p| p.platform == Platform::Youtube && p.external_id.len() == 11)
    );
    assert!(batch.posts.iter().all(|p| p.engagement.views.is_some()));
    assert!(
        batch
            .posts
            .iter()
            .all(|p| p.url.as_deref().unwrap().contains("watch?v="))
    );
    let cursor = batch.cursor.unwrap();
    assert_eq!(cursor["feeds"][CHANNEL], "2015-05-04T00:01:27Z");
    // Uploads become tracked videos for comments later.
    assert_eq!(cursor["videos"].as_object().unwrap().len(), 15);
    let again = c.poll(Some(&cursor)).await.unwrap();
    assert!(again.posts.is_empty());
}

#[tokio::test]
async fn youtube_search_then_comments_and_no_repeats_on_restart() {
    let (_guard, logs) = capture_logs();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .and(query_param("key", KEY))
        .and(query_param("type", "video"))
        .and(query_param("order", "date"))
        .and(query_param("publishedAfter", "2019-11-26T00:00:00Z"))
        .and(query_param("q", "bitcoin|ethereum"))
        .respond_with(fixture("youtube/search_list_page1.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/commentThreads"))
        .and(query_param("key", KEY))
        .and(query_param("order", "time"))
        .respond_with(fixture("youtube/comment_threads_page1.json"))
        .expect(2)
        .mount(&server)
        .await;
    // Counts are read once, for the round that finds the videos; not again on restart.
    Mock::given(method("GET"))
        .and(path("/videos"))
        .and(query_param("key", KEY))
        .respond_with(fixture("youtube/videos_list_statistics.json"))
        .expect(1)
        .mount(&server)
        .await;
    let cfg = YoutubeConfig {
        max_tracked_videos: 1,
        ..youtube(&server)
    };
    let now = "2019-11-27T00:00:00Z";
    let batch = yt(&cfg, now).poll(None).await.unwrap();
    let search = json("youtube/search_list_page1.json");
    let threads = json("youtube/comment_threads_page1.json");
    let n_videos = search["items"].as_array().unwrap().len();
    let n_comments = threads["items"].as_array().unwrap().len();
    assert_eq!(batch.posts.len(), n_videos + n_comments);
    assert!(batch.posts.iter().all(|p| !p.text.contains("&amp;")));
    let comment = batch.posts.last().unwrap();
    let top = &threads["items"][0]["snippet"]["topLevelComment"];
    assert_eq!(comment.external_id, top["id"].as_str().unwrap());
    assert_eq!(
        comment.text,
        top["snippet"]["textOriginal"].as_str().unwrap()
    );
    let cursor = batch.cursor.unwrap();
    assert_eq!(cursor["last_search"], "2019-11-27T00:00:00Z");
    let videos = cursor["videos"].as_object().unwrap();
    assert_eq!(videos.len(), 1);
    let (_, v) = videos.iter().next().unwrap();
    assert_eq!(v["comments_after"], "2019-11-26T15:51:44Z");

    // Restart: the search is not due yet, and the same comments are not emitted again.
    let again = yt(&cfg, "2019-11-27T00:10:00Z")
        .poll(Some(&cursor))
        .await
        .unwrap();
    assert!(
        again.posts.is_empty(),
        "{:?}",
        again
            .posts
            .iter()
            .map(|p| &p.external_id)
            .collect::<Vec<_>>()
    );
    assert!(!logs.text().contains(KEY));
}

/// quotaExceeded and commentsDisabled have no public recording; the bodies follow Google's error
/// envelope as documented (fixtures README, "Known gaps").
#[tokio::test]
async fn youtube_quota_pauses_until_pacific_midnight_and_disabled_comments_are_skipped() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .respond_with(built(403, json!({"error": {"code": 403, "message": "The request cannot be completed because you have exceeded your quota.", "errors": [{"message": "quota", "domain": "youtube.quota", "reason": "quotaExceeded"}]}})))
        .mount(&server)
        .await;
    let err = yt(&youtube(&server), "2019-11-27T00:00:00Z")
        .poll(None)
        .await
        .unwrap_err();
    assert!(matches!(err, CollectError::RateLimited { .. }), "{err:?}");
    // 16:00 PST → midnight PST is 8 hours away.
    assert_eq!(err.retry_in(), Some(Duration::from_secs(8 * 3600)));

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/commentThreads"))
        .respond_with(built(403, json!({"error": {"code": 403, "message": "disabled", "errors": [{"domain": "youtube.commentThread", "reason": "commentsDisabled"}]}})))
        .expect(1)
        .mount(&server)
        .await;
    let cfg = YoutubeConfig {
        search: false,
        ..youtube(&server)
    };
    let cursor = json!({"videos": {"abcdefghijk": {"published": "2019-11-26T00:00:00Z"}}});
    let mut c = yt(&cfg, "2019-11-27T00:00:00Z");
    let batch = c.poll(Some(&cursor)).await.unwrap();
    assert_eq!(
        batch.cursor.as_ref().unwrap()["videos"]["abcdefghijk"]["disabled"],
        true
    );
    // Not asked again (expect(1)).
    c.poll(batch.cursor.as_ref()).await.unwrap();
}

/// The recorded search page with its first result renamed to the video `videos.list` was recorded
/// for, so the two recordings describe the same video.
fn search_with_recorded_video() -> serde_json::Value {
    let mut search = json("youtube/search_list_page1.json");
    search["items"][0]["id"]["videoId"] = json!(RECORDED_VIDEO);
    search
}

const RECORDED_VIDEO: &str = "D-lhorsDlUQ";

async fn serve_search(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/search"))
        .respond_with(built(200, search_with_recorded_video()))
        .mount(server)
        .await;
}

fn stat(stats: &serde_json::Value, key: &str) -> i64 {
    stats[key].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn youtube_video_statistics_land_on_the_matching_video() {
    let server = MockServer::start().await;
    serve_search(&server).await;
    Mock::given(method("GET"))
        .and(path("/videos"))
        .and(query_param("key", KEY))
        .and(query_param("part", "snippet,statistics"))
        .and(query_param_is_missing("maxResults"))
        .respond_with(fixture("youtube/videos_list_statistics.json"))
        .expect(1)
        .mount(&server)
        .await;
    let cfg = YoutubeConfig {
        comments: false,
        ..youtube(&server)
    };
    let batch = yt(&cfg, "2019-11-27T00:00:00Z").poll(None).await.unwrap();
    let search = search_with_recorded_video();
    let items = search["items"].as_array().unwrap();
    assert_eq!(batch.posts.len(), items.len());

    // One call asks for every video the search found.
    let requests = server.received_requests().await.unwrap();
    let videos_call = requests.iter().find(|r| r.url.path() == "/videos").unwrap();
    let (_, ids) = videos_call
        .url
        .query_pairs()
        .find(|(k, _)| k == "id")
        .unwrap();
    let mut asked: Vec<&str> = ids.split(',').collect();
    asked.sort_unstable();
    let mut found: Vec<&str> = items
        .iter()
        .map(|i| i["id"]["videoId"].as_str().unwrap())
        .collect();
    found.sort_unstable();
    assert_eq!(asked, found);

    let stats = &json("youtube/videos_list_statistics.json")["items"][0]["statistics"];
    let video = batch
        .posts
        .iter()
        .find(|p| p.external_id == RECORDED_VIDEO)
        .unwrap();
    assert_eq!(video.engagement.views, Some(stat(stats, "viewCount")));
    assert_eq!(video.engagement.likes, Some(stat(stats, "likeCount")));
    assert_eq!(video.engagement.replies, Some(stat(stats, "commentCount")));
    assert_eq!(video.engagement.views, Some(7920));
    // The answer left the other videos out: they carry no counts rather than someone else's.
    assert!(
        batch
            .posts
            .iter()
            .filter(|p| p.external_id != RECORDED_VIDEO)
            .all(|p| p.engagement == Default::default())
    );
}

/// Hidden likes and comment counts have no public recording: the recorded answer with those
/// fields removed, as the API leaves them out.
#[tokio::test]
async fn youtube_hidden_statistics_stay_unknown() {
    let server = MockServer::start().await;
    serve_search(&server).await;
    let mut answer = json("youtube/videos_list_statistics.json");
    let stats = answer["items"][0]["statistics"].as_object_mut().unwrap();
    stats.remove("likeCount");
    stats.remove("commentCount");
    Mock::given(method("GET"))
        .and(path("/videos"))
        .respond_with(built(200, answer))
        .expect(1)
        .mount(&server)
        .await;
    let cfg = YoutubeConfig {
        comments: false,
        ..youtube(&server)
    };
    let batch = yt(&cfg, "2019-11-27T00:00:00Z").poll(None).await.unwrap();
    let video = batch
        .posts
        .iter()
        .find(|p| p.external_id == RECORDED_VIDEO)
        .unwrap();
    assert_eq!(video.engagement.views, Some(7920));
    assert_eq!(video.engagement.likes, None);
    assert_eq!(video.engagement.replies, None);

    // A count that is not a number is a named error, and the videos still go through.
    let server = MockServer::start().await;
    serve_search(&server).await;
    let mut answer = json("youtube/videos_list_statistics.json");
    answer["items"][0]["statistics"]["viewCount"] = json!("many");
    Mock::given(method("GET"))
        .and(path("/videos"))
        .respond_with(built(200, answer))
        .mount(&server)
        .await;
    let cfg = YoutubeConfig {
        comments: false,
        ..youtube(&server)
    };
    let (_guard, logs) = capture_logs();
    let batch = yt(&cfg, "2019-11-27T00:00:00Z").poll(None).await.unwrap();
    assert!(batch.posts.iter().all(|p| p.engagement.views.is_none()));
    assert_eq!(
        batch.posts.len(),
        search_with_recorded_video()["items"]
            .as_array()
            .unwrap()
            .len()
    );
    assert!(
        logs.text().contains("items[0].statistics.viewCount"),
        "{}",
        logs.text()
    );
}

#[tokio::test]
async fn youtube_failed_video_details_keep_the_videos() {
    let n_videos = search_with_recorded_video()["items"]
        .as_array()
        .unwrap()
        .len();
    let n_comments = json("youtube/comment_threads_page1.json")["items"]
        .as_array()
        .unwrap()
        .len();
    let quota = json!({"error": {"code": 403, "message": "The request cannot be completed because you have exceeded your quota.", "errors": [{"message": "quota", "domain": "youtube.quota", "reason": "quotaExceeded"}]}});
    // A server error leaves the quota alone: comments are still read. Quota used up: they are not.
    for (answer, comments_read) in [(built(500, json!({})), 1), (built(403, quota), 0)] {
        let (_guard, logs) = capture_logs();
        let server = MockServer::start().await;
        serve_search(&server).await;
        Mock::given(method("GET"))
            .and(path("/videos"))
            .respond_with(answer)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/commentThreads"))
            .respond_with(fixture("youtube/comment_threads_page1.json"))
            .expect(comments_read)
            .mount(&server)
            .await;
        let cfg = YoutubeConfig {
            max_tracked_videos: 1,
            ..youtube(&server)
        };
        let batch = yt(&cfg, "2019-11-27T00:00:00Z").poll(None).await.unwrap();
        assert_eq!(
            batch.posts.len(),
            n_videos + comments_read as usize * n_comments
        );
        let videos = &batch.posts[..n_videos];
        assert!(
            videos
                .iter()
                .all(|p| !p.url.as_deref().unwrap().contains("&lc="))
        );
        assert!(videos.iter().all(|p| p.engagement == Default::default()));
        let cursor = batch.cursor.unwrap();
        assert_eq!(cursor["last_search"], "2019-11-27T00:00:00Z");
        assert!(logs.text().contains("Video details unavailable"));
        assert!(!logs.text().contains(KEY));
        server.verify().await;
    }
}

#[tokio::test]
async fn youtube_bad_keys_and_permissions_are_fatal_without_showing_the_key() {
    for name in [
        "youtube/error_400_key_invalid.json",
        "youtube/error_403_permission.json",
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/search"))
            .respond_with(fixture(name))
            .mount(&server)
            .await;
        let err = yt(&youtube(&server), "2019-11-27T00:00:00Z")
            .poll(None)
            .await
            .unwrap_err();
        assert!(err.is_fatal(), "{name}: {err:?}");
        assert!(err.to_string().contains("YOUTUBE_API_KEY"), "{err}");
        assert!(!err.to_string().contains(KEY) && !format!("{err:?}").contains(KEY));
    }
}

#[tokio::test]
async fn youtube_other_list_shapes() {
    // Page 2 of a search has the same shape (and a nextPageToken, which is not followed).
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .respond_with(fixture("youtube/search_list_page2.json"))
        .mount(&server)
        .await;
    let cfg = YoutubeConfig {
        comments: false,
        ..youtube(&server)
    };
    let batch = yt(&cfg, "2019-11-27T00:00:00Z").poll(None).await.unwrap();
    assert_eq!(
        batch.posts.len(),
        json("youtube/search_list_page2.json")["items"]
            .as_array()
            .unwrap()
            .len()
    );
    // videos.list answers carry `id` as a string: served as a search answer they are a named error.
    for name in [
        "youtube/videos_list_chart_last_page.json",
        "youtube/videos_list_statistics.json",
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/search"))
            .respond_with(fixture(name))
            .mount(&server)
            .await;
        let cfg = YoutubeConfig {
            comments: false,
            ..youtube(&server)
        };
        let Err(err) = yt(&cfg, "2019-11-27T00:00:00Z").poll(None).await else {
            panic!("{name}: expected an error");
        };
        assert!(err.to_string().contains("items[0].id"), "{name}: {err}");
    }
}

fn mastodon(server: &MockServer) -> MastodonConfig {
    MastodonConfig {
        base_url: server.uri(),
        tags: vec!["hoot".into()],
        poll_interval: Duration::from_secs(10),
        ..Default::default()
    }
}

#[tokio::test]
async fn mastodon_tag_timeline_polls_with_min_id() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/hoot"))
        .and(query_param_is_missing("min_id"))
        .respond_with(fixture("mastodon/timeline_tag.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/hoot"))
        .and(query_param("min_id", "117020593741189701"))
        .respond_with(built(200, json!([])))
        .expect(1)
        .mount(&server)
        .await;
    let now = "2026-08-01T13:58:00Z";
    let mut c = MastodonCollector::new(&mastodon(&server), settings(at(now)), &assets()).unwrap();
    let batch = c.poll(None).await.unwrap();
    let raw = json("mastodon/timeline_tag.json");
    assert_eq!(batch.posts.len(), 1);
    let post = &batch.posts[0];
    assert_eq!(post.external_id, raw[0]["uri"].as_str().unwrap());
    assert_eq!(post.author.as_deref(), raw[0]["account"]["acct"].as_str());
    assert!(!post.text.contains('<'), "{}", post.text);
    assert_eq!(
        post.text,
        coinpulse::collect::text::html_to_text(raw[0]["content"].as_str().unwrap())
    );
    let cursor = batch.cursor.unwrap();
    assert_eq!(cursor, json!({"tags": {"hoot": "117020593741189701"}}));
    // 299 of 300 left: no pause beyond the poll interval.
    assert_eq!(batch.next_poll_in, Duration::from_secs(10));
    let again = c.poll(Some(&cursor)).await.unwrap();
    assert!(again.posts.is_empty());
    assert_eq!(again.cursor.unwrap(), cursor);
}

#[tokio::test]
async fn mastodon_iso_reset_errors_and_foreign_shapes() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/hoot"))
        .respond_with(
            built(200, json!([]))
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", "2026-08-01T14:00:00.000Z"),
        )
        .mount(&server)
        .await;
    let batch = MastodonCollector::new(
        &mastodon(&server),
        settings(at("2026-08-01T13:58:00Z")),
        &assets(),
    )
    .unwrap()
    .poll(None)
    .await
    .unwrap();
    // The window resets 120 s after the (fixed) wall clock; a few microseconds pass while polling.
    let wait = batch.next_poll_in;
    assert!(
        wait > Duration::from_secs(119) && wait <= Duration::from_secs(120),
        "{wait:?}"
    );

    for (name, needle) in [
        ("mastodon/error_404_status.json", "Not Found"),
        ("mastodon/search_v2_accounts.json", "malformed"),
        ("mastodon/search_v2_statuses_empty.json", "malformed"),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/api/v1/timelines/tag/hoot"))
            .respond_with(fixture(name))
            .mount(&server)
            .await;
        let err = MastodonCollector::new(
            &mastodon(&server),
            settings(at("2026-08-01T13:58:00Z")),
            &assets(),
        )
        .unwrap()
        .poll(None)
        .await
        .unwrap_err();
        assert!(!err.is_fatal());
        assert!(err.to_string().contains(needle), "{name}: {err}");
    }
}

#[tokio::test]
async fn bluesky_search_uses_since_and_never_repeats() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.feed.searchPosts"))
        .and(query_param("q", "bitcoin"))
        .and(query_param("sort", "latest"))
        .respond_with(fixture("bluesky/search_posts.json"))
        .expect(2)
        .mount(&server)
        .await;
    let cfg = BlueskyConfig {
        base_url: server.uri(),
        queries: vec!["bitcoin".into()],
        ..Default::default()
    };
    let now = "2025-05-19T17:41:36Z";
    let batch = BlueskyCollector::new(&cfg, settings(at(now)), &assets())
        .unwrap()
        .poll(None)
        .await
        .unwrap();
    let raw = json("bluesky/search_posts.json");
    let posts = raw["posts"].as_array().unwrap();
    assert_eq!(batch.posts.len(), posts.len());
    let newest = posts
        .iter()
        .max_by_key(|p| p["indexedAt"].as_str().unwrap().to_owned())
        .unwrap();
    let cursor = batch.cursor.unwrap();
    assert_eq!(cursor["queries"]["bitcoin"]["since"], newest["indexedAt"]);
    assert_eq!(cursor["queries"]["bitcoin"]["seen"], json!([newest["uri"]]));
    let post = batch
        .posts
        .iter()
        .find(|p| p.external_id == newest["uri"].as_str().unwrap())
        .unwrap();
    assert_eq!(post.text, newest["record"]["text"].as_str().unwrap());
    assert!(
        post.url
            .as_deref()
            .unwrap()
            .starts_with("https://bsky.app/profile/")
    );

    // A restart from the cursor asks with `since` and emits nothing already seen.
    let again = BlueskyCollector::new(&cfg, settings(at(now)), &assets())
        .unwrap()
        .poll(Some(&cursor))
        .await
        .unwrap();
    assert!(again.posts.is_empty());
    let asked = server.received_requests().await.unwrap();
    assert!(
        asked[1]
            .url
            .query_pairs()
            .any(|(k, v)| k == "since" && v == newest["indexedAt"].as_str().unwrap())
    );
}

#[tokio::test]
async fn bluesky_exhausted_window_pauses_until_reset() {
    let server = MockServer::start().await;
    let now = at("2025-05-19T17:41:36Z");
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.feed.searchPosts"))
        .respond_with(
            built(200, json!({"posts": []}))
                .insert_header("RateLimit-Remaining", "0")
                .insert_header(
                    "RateLimit-Reset",
                    (now.timestamp() + 240).to_string().as_str(),
                ),
        )
        .mount(&server)
        .await;
    let cfg = BlueskyConfig {
        base_url: server.uri(),
        queries: vec!["bitcoin".into()],
        poll_interval: Duration::from_secs(5),
        ..Default::default()
    };
    let mut c = BlueskyCollector::new(&cfg, settings(now), &assets()).unwrap();
    let batch = c.poll(None).await.unwrap();
    let wait = batch.next_poll_in;
    assert!(
        wait > Duration::from_secs(239) && wait <= Duration::from_secs(240),
        "{wait:?}"
    );
    assert!(matches!(
        c.poll(None).await.unwrap_err(),
        CollectError::RateLimited { .. }
    ));
}
