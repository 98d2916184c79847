//! The demo sandbox against the real collectors, on loopback with a manual simulated clock: polling
//! rounds make progress, never repeat a post and never skip one, prices arrive hour by hour, and the
//! generator behaves as documented (deterministic, volume following price moves).

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Duration, Utc};
use coinpulse::collect::{Collector, build_collector};
use coinpulse::config::Config;
use coinpulse::demo::generator::Generator;
use coinpulse::demo::sandbox::{matches, query_terms};
use coinpulse::demo::{
    ClockMode, Endpoint, Fault, FaultKind, Sandbox, SandboxConfig, SandboxHandle, SimPost, Stream,
    prices, setup,
};
use coinpulse::model::{Asset, Post, PricePoint};

fn start() -> DateTime<Utc> {
    "2021-01-01T00:00:00Z".parse().unwrap()
}

async fn manual_sandbox(scale: f64, faults: Vec<Fault>) -> SandboxHandle {
    Sandbox::start(SandboxConfig {
        seed: 7,
        clock: ClockMode::Manual,
        volume_scale: scale,
        faults,
        ..SandboxConfig::default()
    })
    .await
    .unwrap()
}

fn collector(name: &str, sb: &SandboxHandle, assets: &[Asset]) -> Box<dyn Collector> {
    let config = setup::point_at_sandbox(&Config::default(), &sb.base_url(), 7200.0);
    let secrets = setup::sandbox_secrets();
    let url = sb.base_url();
    let ctx = config.sources.build_context(assets, Some(&url), &secrets);
    build_collector(name, &config, &ctx).unwrap()
}

/// Polls until the source says nothing more is waiting; returns everything fetched.
async fn round(
    c: &mut Box<dyn Collector>,
    cursor: &mut Option<serde_json::Value>,
) -> (Vec<Post>, Vec<PricePoint>, usize) {
    let (mut posts, mut prices) = (Vec::new(), Vec::new());
    for polls in 1..=20 {
        let batch = c.poll(cursor.as_ref()).await.unwrap();
        posts.extend(batch.posts);
        prices.extend(batch.prices);
        if batch.cursor.is_some() {
            *cursor = batch.cursor;
        }
        if !batch.next_poll_in.is_zero() {
            return (posts, prices, polls);
        }
    }
    panic!("{} kept saying more is waiting", c.name());
}

/// Asserts that `got` holds each expected post exactly once, with the generator's text and time.
fn assert_exactly(got: &[Post], expected: &[SimPost]) {
    let ids: Vec<&str> = got.iter().map(|p| p.external_id.as_str()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "a post was fetched twice");
    let want: BTreeSet<String> = expected.iter().map(|p| p.external_id()).collect();
    let have: BTreeSet<String> = unique.iter().map(|s| s.to_string()).collect();
    let missing: Vec<_> = want.difference(&have).take(5).collect();
    let extra: Vec<_> = have.difference(&want).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {} (e.g. {missing:?}), unexpected {} (e.g. {extra:?})",
        want.difference(&have).count(),
        have.difference(&want).count()
    );
    for p in got {
        let sim = expected
            .iter()
            .find(|s| s.external_id() == p.external_id)
            .unwrap();
        assert_eq!(p.text, sim.stored_text());
        assert_eq!(p.created_at, sim.created_at());
        assert_eq!(p.author.as_deref(), Some(sim.author_name().as_str()));
    }
}

#[tokio::test]
async fn twitter_rounds_fetch_every_tweet_once_as_the_clock_moves() {
    let sb = manual_sandbox(1.0, vec![]).await;
    let assets = setup::demo_assets();
    let mut c = collector("twitter", &sb, &assets);
    let mut cursor = None;
    let mut got = Vec::new();
    // First round at the start: the opening post anchors the cursor.
    let (posts, _, _) = round(&mut c, &mut cursor).await;
    assert_eq!(posts.len(), 1, "only the opening post exists at sim_start");
    got.extend(posts);
    let mut multi_poll_rounds = 0;
    // Small steps, a quiet step, then two days at once (more than one round's ten pages of 100).
    for hours in [1, 2, 0, 3, 48, 1] {
        sb.advance(Duration::hours(hours)).unwrap();
        let before = got.len();
        let (posts, _, polls) = round(&mut c, &mut cursor).await;
        got.extend(posts);
        if hours > 0 {
            assert!(got.len() > before, "no progress after {hours}h");
        } else {
            assert_eq!(got.len(), before, "a quiet step fetched something");
        }
        if polls > 1 {
            multi_poll_rounds += 1;
        }
    }
    assert!(
        multi_poll_rounds >= 1,
        "the two-day step should need a second round"
    );
    let expected = sb.posts_until(Stream::Tweet, sb.now());
    assert!(expected.len() > 1000, "{}", expected.len());
    assert_exactly(&got, &expected);
    assert_eq!(sb.served_counts().twitter, expected.len() as u64);
    for p in &got {
        assert_eq!(
            coinpulse::collect::twitter::snowflake_time(&p.external_id),
            Some(p.created_at)
        );
    }
}

#[tokio::test]
async fn twitter_query_selects_the_tracked_assets() {
    let sb = manual_sandbox(1.0, vec![]).await;
    let eth: Vec<Asset> = setup::demo_assets()
        .into_iter()
        .filter(|a| a.symbol == "ETH")
        .collect();
    let mut c = collector("twitter", &sb, &eth);
    let mut cursor = None;
    let mut got = round(&mut c, &mut cursor).await.0;
    sb.advance(Duration::hours(6)).unwrap();
    got.extend(round(&mut c, &mut cursor).await.0);
    let query = coinpulse::collect::twitter::build_queries(&eth, &["en".into()], 512).remove(0);
    let terms = query_terms(&query);
    let expected: Vec<SimPost> = sb
        .posts_until(Stream::Tweet, sb.now())
        .into_iter()
        .filter(|p| matches(p, &terms))
        .collect();
    let all = sb.posts_until(Stream::Tweet, sb.now()).len();
    assert!(
        expected.len() > 20 && expected.len() < all,
        "{} of {all}",
        expected.len()
    );
    assert_exactly(&got, &expected);
    // Matching is by topic: a post about Ethereum answers `ethereum` even when it says "ether".
    for p in &got {
        let sim = expected
            .iter()
            .find(|s| s.external_id() == p.external_id)
            .unwrap();
        assert!(sim.assets.contains(&"ETH"), "{}", p.text);
    }
}

#[tokio::test]
async fn reddit_rounds_fetch_every_submission_and_comment_once() {
    let sb = manual_sandbox(3.0, vec![]).await;
    let mut c = collector("reddit", &sb, &[]);
    let mut cursor = None;
    let (first, _, _) = round(&mut c, &mut cursor).await;
    assert_eq!(
        first.len(),
        2,
        "the opening thread and comment exist at sim_start"
    );
    let mut got = first;
    // A quiet step makes the collector's stale-anchor fallback read the newest page (the simulated
    // items are years older than the wall clock): it must keep nothing.
    let mut multi_poll_rounds = 0;
    for hours in [0, 1, 5, 0, 2, 30, 1] {
        sb.advance(Duration::hours(hours)).unwrap();
        let before = got.len();
        let (posts, _, polls) = round(&mut c, &mut cursor).await;
        got.extend(posts);
        multi_poll_rounds += usize::from(polls > 1);
        if hours > 0 {
            assert!(got.len() > before, "no progress after {hours}h");
        } else {
            assert_eq!(got.len(), before, "a quiet step fetched something");
        }
    }
    assert!(
        multi_poll_rounds >= 1,
        "the 30-hour step should need a second round"
    );
    let mut expected = sb.posts_until(Stream::Submission, sb.now());
    let comments = sb.posts_until(Stream::Comment, sb.now());
    assert!(comments.len() > 1000, "{} comments", comments.len());
    expected.extend(comments);
    assert_exactly(&got, &expected);
    assert_eq!(sb.served_counts().reddit, expected.len() as u64);
    assert!(got.iter().any(|p| {
        p.text
            .starts_with("[Simulated] Daily Discussion - January 2, 2021")
    }));
}

#[tokio::test]
async fn coingecko_serves_each_hourly_close_once() {
    let sb = manual_sandbox(1.0, vec![]).await;
    let mut c = collector("coingecko", &sb, &setup::demo_assets());
    let mut cursor = None;
    let mut got = Vec::new();
    // Half-hour steps: the demo config polls at least twice per simulated hour.
    for step in 0..20 {
        if step > 0 {
            sb.advance(Duration::minutes(30)).unwrap();
        }
        got.extend(round(&mut c, &mut cursor).await.1);
    }
    let hist = prices::history();
    let since = start() - Duration::days(2);
    let mut expected = BTreeSet::new();
    for (a, (_, id, _)) in prices::PRICED.iter().enumerate() {
        for candle in hist.closed_between(a, since, sb.now()) {
            expected.insert((id.to_string(), candle.close_time(), candle.close.to_bits()));
        }
    }
    let have: Vec<_> = got
        .iter()
        .map(|p| (p.asset.clone(), p.time, p.price.to_bits()))
        .collect();
    let unique: BTreeSet<_> = have.iter().cloned().collect();
    assert_eq!(have.len(), unique.len(), "a price point came twice");
    assert_eq!(unique, expected);
    // Two backfilled days of closes, both ends included (49), then 01:00 … 09:00, for two assets.
    assert_eq!(unique.len(), 2 * (49 + 9));
    assert_eq!(sb.served_counts().coingecko, unique.len() as u64);
}

#[tokio::test]
async fn requests_without_a_token_are_refused() {
    let sb = manual_sandbox(1.0, vec![]).await;
    let http = reqwest::Client::new();
    let base = sb.base_url();
    let r = http
        .get(format!("{base}/2/tweets/search/recent?query=%24BTC"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["title"], "Unauthorized");
    let r = http
        .get(format!("{base}/r/Bitcoin/new"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A token the sandbox did not issue is refused too.
    let r = http
        .get(format!("{base}/r/Bitcoin/new"))
        .bearer_auth("made-up")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(format!("{base}/api/v1/access_token"))
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the token endpoint wants HTTP basic");
    // With a token the same search answers, with Twitter's rate-limit headers.
    let r = http
        .get(format!("{base}/2/tweets/search/recent?query=%24BTC"))
        .bearer_auth("anything")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for h in [
        "x-rate-limit-limit",
        "x-rate-limit-remaining",
        "x-rate-limit-reset",
        "x-coinpulse-demo",
    ] {
        assert!(r.headers().contains_key(h), "{h}");
    }
}

#[tokio::test]
async fn server_errors_are_retried_and_malformed_json_is_reported() {
    let sb = manual_sandbox(
        1.0,
        vec![
            Fault {
                endpoint: Endpoint::TwitterSearch,
                kind: FaultKind::ServerError,
                first: 2,
            },
            Fault {
                endpoint: Endpoint::Coingecko,
                kind: FaultKind::MalformedJson,
                first: 1,
            },
        ],
    )
    .await;
    let mut tw = collector("twitter", &sb, &setup::demo_assets());
    let batch = tw.poll(None).await.unwrap();
    assert_eq!(batch.posts.len(), 1);
    assert_eq!(sb.request_count(Endpoint::TwitterSearch), 3);
    let mut cg = collector("coingecko", &sb, &setup::demo_assets());
    let err = cg.poll(None).await.unwrap_err().to_string();
    assert!(
        err.starts_with("coingecko: malformed response from /coins/{id}/market_chart"),
        "{err}"
    );
    assert!(cg.poll(None).await.is_ok(), "the fault lasts one request");
}

#[test]
fn same_seed_same_posts() {
    let a = Generator::new(11, start(), 1.0).unwrap();
    let b = Generator::new(11, start(), 1.0).unwrap();
    let c = Generator::new(12, start(), 1.0).unwrap();
    let until = start() + Duration::hours(48);
    for s in Stream::ALL {
        assert_eq!(a.posts(s, until), b.posts(s, until), "{s:?}");
        assert_ne!(a.posts(s, until), c.posts(s, until), "{s:?}");
    }
    // An hour generated on its own is the same as within a longer run.
    let h = a.hour_of(start()) + 30;
    let alone = a.hour(Stream::Tweet, h);
    let within: Vec<SimPost> = a
        .posts(Stream::Tweet, until)
        .into_iter()
        .filter(|p| a.hour_of(p.created_at()) == h)
        .collect();
    assert_eq!(alone, within);
}

fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}

#[test]
fn volume_follows_price_moves_and_leads_them() {
    let g = Generator::new(3, start(), 1.0).unwrap();
    let hist = prices::history();
    let h0 = g.hour_of(start());
    let hours = 60 * 24;
    let mut counts = Vec::new();
    let mut bull_share = Vec::new();
    for h in h0..h0 + hours {
        let posts: Vec<SimPost> = g
            .hour(Stream::Tweet, h)
            .into_iter()
            .filter(|p| p.assets[0] == "BTC")
            .collect();
        counts.push(posts.len() as f64);
        let bull = posts
            .iter()
            .filter(|p| p.mood == coinpulse::demo::Mood::Bullish)
            .count();
        bull_share.push(bull as f64 / posts.len().max(1) as f64);
    }
    let abs_ret = |lag: i64| -> Vec<f64> {
        (h0..h0 + hours)
            .map(|h| hist.log_return(0, h + lag).abs())
            .collect()
    };
    let now = pearson(&counts, &abs_ret(0));
    let ahead = pearson(&counts, &abs_ret(2));
    let behind = pearson(&counts, &abs_ret(-2));
    assert!(now > 0.3, "volume vs |return| same hour: r = {now:.2}");
    assert!(
        ahead > now && ahead > behind + 0.2,
        "volume should lead: r(+2h) = {ahead:.2}, r(0) = {now:.2}, r(-2h) = {behind:.2}"
    );
    let next_ret: Vec<f64> = (h0..h0 + hours)
        .map(|h| hist.log_return(0, h + 1))
        .collect();
    let mood = pearson(&bull_share, &next_ret);
    eprintln!(
        "BTC tweets/hour vs |return|: r(0) = {now:.3}, r(+2h) = {ahead:.3}, r(-2h) = {behind:.3}; \
         bullish share vs next return: r = {mood:.3}"
    );
    assert!(mood > 0.3, "bullish share vs coming return: r = {mood:.2}");
}

/// The sandbox's Jetstream streams the simulated Bluesky posts as the clock passes them: the real
/// collector receives every one, once, and a collector resuming from the cursor misses none.
#[tokio::test]
async fn the_sandbox_streams_simulated_bluesky_posts_in_jetstream_format() {
    use coinpulse::collect::jetstream::JetstreamCollector;
    let sb = manual_sandbox(1.0, vec![]).await;
    let mut config = setup::sandbox_jetstream(&sb.jetstream_url());
    config.resume_margin = std::time::Duration::ZERO;
    let everything: coinpulse::collect::PostFilter = std::sync::Arc::new(|_: &str| true);
    let make = || {
        JetstreamCollector::new(
            config.clone(),
            everything.clone(),
            coinpulse::backoff::Backoff::new(
                std::time::Duration::from_millis(20),
                std::time::Duration::from_millis(200),
            ),
            std::time::Duration::from_secs(2),
        )
    };
    // Polls until `want` posts came; returns them and the last cursor.
    async fn drain(
        c: &mut JetstreamCollector,
        cursor: Option<serde_json::Value>,
        want: usize,
    ) -> (Vec<Post>, Option<serde_json::Value>) {
        let (mut posts, mut last) = (Vec::new(), cursor);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        while posts.len() < want && tokio::time::Instant::now() < deadline {
            let batch = c.poll(last.as_ref()).await.unwrap();
            posts.extend(batch.posts);
            last = batch.cursor.or(last);
        }
        (posts, last)
    }

    let mut first = make();
    // Two simulated hours pass; the collector then reads from the simulated start (a cursor just
    // past its millisecond), however long its connection takes.
    sb.advance(Duration::hours(2)).unwrap();
    let from = serde_json::json!({"time_us": start().timestamp_millis() * 1000 + 1000});
    let want = sb.skeet_uris(start(), start() + Duration::hours(2));
    assert!(want.len() > 20, "{} posts in two hours", want.len());
    let (posts, cursor) = drain(&mut first, Some(from), want.len()).await;
    let got: Vec<&str> = posts.iter().map(|p| p.external_id.as_str()).collect();
    assert_eq!(got, want, "every post, once, in order");
    let last = want.last().unwrap().clone();
    for p in &posts {
        assert_eq!(p.platform, coinpulse::model::Platform::Bluesky);
        assert_eq!(
            p.raw.as_ref().unwrap()["record"]["coinpulse_demo"],
            "simulated"
        );
        assert!(
            p.author
                .as_deref()
                .unwrap()
                .starts_with("did:plc:coinpulsedemo")
        );
    }
    drop(first);

    // A restart: a new collector resumes from the cursor and receives what followed, starting with
    // the event at the cursor itself (Jetstream replays from it inclusive; the store skips it).
    sb.advance(Duration::hours(1)).unwrap();
    let mut want = sb.skeet_uris(start() + Duration::hours(2), start() + Duration::hours(3));
    want.insert(0, last);
    let mut second = make();
    let (posts, _) = drain(&mut second, cursor, want.len()).await;
    let got: Vec<&str> = posts.iter().map(|p| p.external_id.as_str()).collect();
    assert_eq!(got, want);
}
