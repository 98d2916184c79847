//! Alert rules against a real PostgreSQL: a seeded spike fires once, goes to the webhook as JSON, and
//! does not fire again within the cool-down. Each channel (Discord, Slack, Telegram) against a local
//! receiver: the body its service documents, retries, a 4xx not retried and explained, no repeat
//! across a restart, no token in the logs; and the daily digest, once a day.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::routing::post;
use chrono::TimeDelta;
use coinpulse::collect::Secrets;
use coinpulse::config::{AlertRule, AlertsConfig};
use coinpulse::model::Asset;
use coinpulse::model::SentimentLabel::{Negative, Positive};
use coinpulse::report::alerts::channels::{ChannelConfig, Channels};
use coinpulse::report::alerts::digest::{self, DigestConfig};
use coinpulse::report::alerts::message::{Field, Message};
use coinpulse::report::alerts::{evaluate, evaluate_with_floors};
use coinpulse::report::significance::SpikesConfig;
use coinpulse::store::Store;
use common::*;
use secrecy::SecretString;
use serde_json::json;
use sqlx::PgPool;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A webhook receiver on loopback that keeps every JSON body it gets.
async fn receiver() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |Json(body): Json<serde_json::Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), got)
}

/// `per_hour[h]` posts mentioning bitcoin in hour h after 2021-01-05 00:00, with the given label.
async fn seed(store: &Store, per_hour: &[(usize, coinpulse::model::SentimentLabel)]) {
    let start = at(0, 0) - TimeDelta::days(1);
    let mut batch = Vec::new();
    for (h, (n, label)) in per_hour.iter().enumerate() {
        for i in 0..*n {
            let t = start + TimeDelta::hours(h as i64) + TimeDelta::seconds(i as i64);
            let score = if *label == Positive { 0.6 } else { -0.6 };
            let mut post = enriched(
                &format!("{h}-{i}"),
                t,
                vec![mention("bitcoin", 0, 3)],
                Some((*label, score)),
            );
            // One author per post of the hour: spikes need distinct people.
            post.post.author = Some(format!("u{i}"));
            batch.push(post);
        }
    }
    store.write_batch(&batch, "m1", None).await.unwrap();
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn volume_spike_fires_once_and_respects_the_cooldown(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    // 24 ordinary hours (8–12 posts), then a spike of 80, then another spike an hour later.
    let mut hours: Vec<(usize, _)> = (0..24).map(|h| (8 + h % 5, Positive)).collect();
    hours.push((80, Positive));
    hours.push((90, Positive));
    seed(&store, &hours).await;
    let (url, got) = receiver().await;
    let config = AlertsConfig {
        webhook_url: Some(url),
        rules: vec![AlertRule::VolumeSpike {
            threshold: 3.0,
            assets: vec![],
        }],
        cooldown: Duration::from_secs(3600),
        ..AlertsConfig::default()
    };
    let client = Channels::new(&[], config.webhook_url.as_deref(), &Secrets::default()).unwrap();
    let spike_hour = at(0, 0) - TimeDelta::days(1) + TimeDelta::hours(24);

    // An ordinary hour fires nothing.
    let quiet = evaluate(&store, &config, spike_hour - TimeDelta::hours(1), &client)
        .await
        .unwrap();
    assert!(quiet.is_empty(), "{quiet:?}");

    // Above the floors only: 80 posts by 80 people is not enough for a floor of 81 people.
    let strict = SpikesConfig {
        min_posts: 20,
        min_authors: 81,
    };
    let below = evaluate_with_floors(&store, &config, &strict, spike_hour, &client)
        .await
        .unwrap();
    assert!(below.is_empty(), "{below:?}");

    let fired = evaluate(&store, &config, spike_hour, &client)
        .await
        .unwrap();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].rule, "volume_spike");
    assert_eq!(fired[0].asset, "bitcoin");
    assert!(fired[0].value > 3.0);
    let bodies = got.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["rule"], "volume_spike");
    assert_eq!(bodies[0]["asset"], "bitcoin");

    // The same bucket again, and the next spike within the cool-down: nothing new.
    assert!(
        evaluate(&store, &config, spike_hour, &client)
            .await
            .unwrap()
            .is_empty()
    );
    let next = evaluate(&store, &config, spike_hour + TimeDelta::hours(1), &client)
        .await
        .unwrap();
    assert!(next.is_empty(), "{next:?}");
    assert_eq!(got.lock().unwrap().len(), 1);
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn sentiment_flip_fires_when_the_balance_changes_sign(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    seed(&store, &[(30, Positive), (30, Negative)]).await;
    let config = AlertsConfig {
        webhook_url: None,
        rules: vec![AlertRule::SentimentFlip {
            min_mentions: 20,
            assets: vec!["bitcoin".into()],
        }],
        cooldown: Duration::from_secs(6 * 3600),
        ..AlertsConfig::default()
    };
    let client = Channels::none();
    let second = at(0, 0) - TimeDelta::days(1) + TimeDelta::hours(1);
    let fired = evaluate(&store, &config, second, &client).await.unwrap();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].rule, "sentiment_flip");
    assert_eq!(fired[0].value, -30.0);
    // Below the minimum volume nothing fires.
    let strict = AlertsConfig {
        rules: vec![AlertRule::SentimentFlip {
            min_mentions: 31,
            assets: vec![],
        }],
        ..config
    };
    assert!(
        evaluate(&store, &strict, second, &client)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Captures every log line written on this thread while the guard lives.
fn capture_logs() -> (tracing::subscriber::DefaultGuard, Arc<Mutex<Vec<u8>>>) {
    struct Writer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Writer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || Writer(sink.clone()))
        .finish();
    (tracing::subscriber::set_default(subscriber), buf)
}

fn text(logs: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&logs.lock().unwrap()).into_owned()
}

async fn register_coins(store: &Store) {
    let coin = |id: &str, symbol: &str, name: &str, rank| Asset {
        id: id.into(),
        symbol: symbol.into(),
        name: name.into(),
        aliases: vec![],
        rank: Some(rank),
    };
    store
        .upsert_assets(&[
            coin("bitcoin", "BTC", "Bitcoin", 1),
            coin("ethereum", "ETH", "Ethereum", 2),
        ])
        .await
        .unwrap();
}

fn secret(value: &str) -> SecretString {
    SecretString::from(value.to_owned())
}

const DISCORD_TOKEN: &str = "discord-secret-token-0001";
const SLACK_TOKEN: &str = "slack-secret-token-0002";
const TELEGRAM_TOKEN: &str = "123456:telegram-secret-token-0003";

/// A Discord, a Slack and a Telegram channel whose credentials name the real services, sent to the
/// local receivers instead through `base_url`; credentials in variables prefixed by `prefix`.
fn three_channels(
    prefix: &str,
    discord: &MockServer,
    slack: &MockServer,
    telegram: &MockServer,
) -> (Vec<ChannelConfig>, Secrets) {
    let configs = vec![
        ChannelConfig::Discord {
            url_env: format!("{prefix}_DISCORD_URL"),
            base_url: Some(discord.uri()),
        },
        ChannelConfig::Slack {
            url_env: format!("{prefix}_SLACK_URL"),
            base_url: Some(slack.uri()),
        },
        ChannelConfig::Telegram {
            bot_token_env: format!("{prefix}_TELEGRAM_TOKEN"),
            chat_id: "-1001234567890".into(),
            base_url: telegram.uri(),
        },
    ];
    let secrets = Secrets::default()
        .with(
            &format!("{prefix}_DISCORD_URL"),
            secret(&format!(
                "https://discord.com/api/webhooks/123/{DISCORD_TOKEN}"
            )),
        )
        .with(
            &format!("{prefix}_SLACK_URL"),
            secret(&format!(
                "https://hooks.slack.com/services/T000/B000/{SLACK_TOKEN}"
            )),
        )
        .with(&format!("{prefix}_TELEGRAM_TOKEN"), secret(TELEGRAM_TOKEN));
    (configs, secrets)
}

/// Each receiver answers every message as its service does when it accepts one: Discord 204, Slack
/// 200 `ok`, Telegram 200 `{"ok": true}`.
async fn accept(discord: &MockServer, slack: &MockServer, telegram: &MockServer) {
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(discord)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(slack)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": {}})))
        .mount(telegram)
        .await;
}

fn spike_hours() -> Vec<(usize, coinpulse::model::SentimentLabel)> {
    let mut hours: Vec<(usize, _)> = (0..24).map(|h| (8 + h % 5, Positive)).collect();
    hours.push((80, Positive));
    hours
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn each_channel_gets_its_documented_body_once_across_a_restart(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    register_coins(&store).await;
    seed(&store, &spike_hours()).await;
    let (discord, slack, telegram) = (
        MockServer::start().await,
        MockServer::start().await,
        MockServer::start().await,
    );
    Mock::given(method("POST"))
        .and(path(format!("/api/webhooks/123/{DISCORD_TOKEN}")))
        .respond_with(ResponseTemplate::new(204))
        .mount(&discord)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/services/T000/B000/{SLACK_TOKEN}")))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{TELEGRAM_TOKEN}/sendMessage")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": {}})))
        .mount(&telegram)
        .await;
    let (channels, secrets) = three_channels("BODIES", &discord, &slack, &telegram);
    let config = AlertsConfig {
        rules: vec![AlertRule::VolumeSpike {
            threshold: 3.0,
            assets: vec![],
        }],
        channels,
        dashboard_url: Some("https://dash.example/coinpulse/".into()),
        ..AlertsConfig::default()
    };
    let spike_hour = at(0, 0);
    let (_guard, logs) = capture_logs();

    let sender = Channels::new(&config.channels, None, &secrets).unwrap();
    let fired = evaluate(&store, &config, spike_hour, &sender)
        .await
        .unwrap();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].coin, "BTC (Bitcoin)");
    // A restarted daemon (new channels, same database) evaluating the same hour sends nothing.
    let restarted = Channels::new(&config.channels, None, &secrets).unwrap();
    let again = evaluate(&store, &config, spike_hour, &restarted)
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");

    let link = "https://dash.example/coinpulse/#asset=bitcoin&range=24h";
    let got = discord.received_requests().await.unwrap();
    assert_eq!(got.len(), 1);
    let body: serde_json::Value = got[0].body_json().unwrap();
    assert_eq!(body["content"], "Volume spike: BTC (Bitcoin)");
    assert_eq!(body["allowed_mentions"], json!({"parse": []}));
    let embed = &body["embeds"][0];
    assert_eq!(embed["title"], "Volume spike: BTC (Bitcoin)");
    assert!(
        embed["description"]
            .as_str()
            .unwrap()
            .starts_with("BTC (Bitcoin): 80 posts by 80 people"),
        "{body}"
    );
    assert_eq!(embed["url"], link);
    assert_eq!(embed["fields"][0]["name"], "Hour");
    assert_eq!(embed["fields"][0]["value"], "2021-01-05 00:00 – 01:00 UTC");
    assert_eq!(embed["fields"][1]["name"], "Surprise");

    let got = slack.received_requests().await.unwrap();
    assert_eq!(got.len(), 1);
    let body: serde_json::Value = got[0].body_json().unwrap();
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("BTC (Bitcoin): 80 posts by 80 people"),
        "{body}"
    );
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert_eq!(blocks[0]["text"]["text"], "Volume spike: BTC (Bitcoin)");
    assert_eq!(blocks[1]["type"], "section");
    assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
    assert_eq!(
        blocks[2]["fields"][0]["text"],
        "*Hour*\n2021-01-05 00:00 – 01:00 UTC"
    );
    assert_eq!(
        blocks[3]["elements"][0]["text"],
        format!("<{}|Open in the dashboard>", link.replace('&', "&amp;"))
    );

    let got = telegram.received_requests().await.unwrap();
    assert_eq!(got.len(), 1);
    let body: serde_json::Value = got[0].body_json().unwrap();
    assert_eq!(body["chat_id"], "-1001234567890");
    assert_eq!(body["parse_mode"], "HTML");
    let message = body["text"].as_str().unwrap();
    assert!(
        message.starts_with("<b>Volume spike: BTC (Bitcoin)</b>\nBTC (Bitcoin): 80 posts"),
        "{message}"
    );
    assert!(
        message.ends_with(&format!(
            "<a href=\"{}\">Open in the dashboard</a>",
            link.replace('&', "&amp;")
        )),
        "{message}"
    );

    let logs = text(&logs);
    assert_eq!(logs.matches("Alert delivered.").count(), 3, "{logs}");
    for token in [DISCORD_TOKEN, SLACK_TOKEN, TELEGRAM_TOKEN] {
        assert!(!logs.contains(token), "{logs}");
    }
}

fn message() -> Message {
    Message {
        title: "Volume spike: BTC (Bitcoin)".into(),
        text: "BTC (Bitcoin): 80 posts".into(),
        fields: vec![Field::new("Hour", "2021-01-05 00:00 – 01:00 UTC")],
        link: None,
        payload: json!({"rule": "volume_spike"}),
    }
}

/// Sends [`message`] through `channels`; how many took it and how long it took.
async fn timed(channels: &Channels) -> (usize, Duration) {
    let start = std::time::Instant::now();
    let delivered = channels.send(&message()).await;
    (delivered, start.elapsed())
}

#[tokio::test]
async fn a_500_and_a_429_are_retried_after_the_wait_the_service_asks_for() {
    let (discord, slack, telegram) = (
        MockServer::start().await,
        MockServer::start().await,
        MockServer::start().await,
    );
    // Every wait asked for is longer than backoff alone could wait (1–2 s, then 2–4 s), so the
    // times below tell the two apart. Slack: a 500, then a 429 with `Retry-After: 6`, then
    // accepted: backoff alone waits at most 2 + 4 s, honouring the header at least 1 + 6 s.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "6")
                .set_body_string("rate_limited"),
        )
        .up_to_n_times(1)
        .mount(&slack)
        .await;
    // Discord and Telegram say how long in the body: 3 s, where backoff alone waits at most 2 s.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).set_body_json(
            json!({"message": "You are being rate limited.", "retry_after": 3.0, "global": false}),
        ))
        .up_to_n_times(1)
        .mount(&discord)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({
            "ok": false, "error_code": 429,
            "description": "Too Many Requests: retry after 3",
            "parameters": {"retry_after": 3}
        })))
        .up_to_n_times(1)
        .mount(&telegram)
        .await;
    // Then each accepts (a mock mounted earlier answers first while it lasts).
    accept(&discord, &slack, &telegram).await;
    let (configs, secrets) = three_channels("RETRY", &discord, &slack, &telegram);
    let one = |i: usize| Channels::new(&configs[i..=i], None, &secrets).unwrap();
    let (to_discord, to_slack, to_telegram) = (one(0), one(1), one(2));
    let ((d, d_took), (s, s_took), (t, t_took)) =
        tokio::join!(timed(&to_discord), timed(&to_slack), timed(&to_telegram));
    assert_eq!((d, s, t), (1, 1, 1));
    assert_eq!(slack.received_requests().await.unwrap().len(), 3);
    assert_eq!(discord.received_requests().await.unwrap().len(), 2);
    assert_eq!(telegram.received_requests().await.unwrap().len(), 2);
    assert!(s_took >= Duration::from_millis(6500), "{s_took:?}");
    assert!(d_took >= Duration::from_millis(2900), "{d_took:?}");
    assert!(t_took >= Duration::from_millis(2900), "{t_took:?}");
}

#[tokio::test]
async fn a_4xx_is_logged_once_with_the_fix_and_not_retried() {
    let (discord, slack, telegram) = (
        MockServer::start().await,
        MockServer::start().await,
        MockServer::start().await,
    );
    // Receivers that echo the credential back: it must not reach the log.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "message": format!("Unknown Webhook /api/webhooks/123/{DISCORD_TOKEN}"),
            "code": 10015
        })))
        .expect(1)
        .mount(&discord)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(410).set_body_string("channel_is_archived"))
        .expect(1)
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "ok": false, "error_code": 401,
            "description": format!("Unauthorized: bot{TELEGRAM_TOKEN}")
        })))
        .expect(1)
        .mount(&telegram)
        .await;
    let (configs, secrets) = three_channels("REFUSED", &discord, &slack, &telegram);
    let channels = Channels::new(&configs, None, &secrets).unwrap();
    let (_guard, logs) = capture_logs();
    assert_eq!(channels.send(&message()).await, 0);
    let logs = text(&logs);
    for fix in [
        "discord (REFUSED_DISCORD_URL) answered 404: the webhook URL in REFUSED_DISCORD_URL was deleted or mistyped",
        "slack (REFUSED_SLACK_URL) answered 410: the webhook URL in REFUSED_SLACK_URL was revoked, or its channel archived or deleted (\"channel_is_archived\")",
        "telegram (chat -1001234567890) answered 401: the bot token in REFUSED_TELEGRAM_TOKEN is wrong or revoked",
    ] {
        assert_eq!(logs.matches(fix).count(), 1, "{fix}\n{logs}");
    }
    assert!(!logs.contains("retrying"), "{logs}");
    for token in [DISCORD_TOKEN, SLACK_TOKEN, TELEGRAM_TOKEN] {
        assert!(!logs.contains(token), "{logs}");
    }
    assert!(logs.contains("[REDACTED]"), "{logs}");
}

/// `per_hour[h]` posts about `asset` in hour h from `start`, each by its own author.
async fn seed_asset(
    store: &Store,
    asset: &str,
    start: chrono::DateTime<chrono::Utc>,
    per_hour: &[(usize, coinpulse::model::SentimentLabel)],
) {
    let mut batch = Vec::new();
    for (h, (n, label)) in per_hour.iter().enumerate() {
        for i in 0..*n {
            let t = start + TimeDelta::hours(h as i64) + TimeDelta::seconds(i as i64);
            let score = if *label == Positive { 0.6 } else { -0.6 };
            let mut post = enriched(
                &format!("{asset}-{}-{h}-{i}", start.timestamp()),
                t,
                vec![mention(asset, 0, 3)],
                Some((*label, score)),
            );
            post.post.author = Some(format!("{asset}-u{i}"));
            batch.push(post);
        }
    }
    store.write_batch(&batch, "m1", None).await.unwrap();
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn the_digest_is_sent_once_a_day_across_a_restart(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    register_coins(&store).await;
    // The digest of 2021-01-06 00:00 covers 2021-01-05; the day before is 2021-01-04. Bitcoin
    // doubles and turns negative; Ethereum appears.
    let day_before = at(0, 0) - TimeDelta::days(1);
    seed_asset(&store, "bitcoin", day_before, &[(10, Positive); 24]).await;
    seed_asset(&store, "bitcoin", at(0, 0), &[(20, Negative); 24]).await;
    seed_asset(&store, "ethereum", at(0, 0), &[(5, Positive); 24]).await;
    let (url, got) = receiver().await;
    let config = AlertsConfig {
        webhook_url: Some(url),
        digest: Some(DigestConfig { hour_utc: 0 }),
        ..AlertsConfig::default()
    };
    let floors = SpikesConfig {
        min_posts: 20,
        min_authors: 1,
    };
    let digest_time = at(0, 0) + TimeDelta::days(1);
    let channels =
        || Channels::new(&[], config.webhook_url.as_deref(), &Secrets::default()).unwrap();

    // Before the hour: yesterday's digest is too late to send.
    let early = digest::send_due(
        &store,
        &config,
        &floors,
        &channels(),
        digest_time - TimeDelta::minutes(1),
    )
    .await
    .unwrap();
    assert!(early.is_none(), "{early:?}");

    let sent = digest::send_due(
        &store,
        &config,
        &floors,
        &channels(),
        digest_time + TimeDelta::minutes(5),
    )
    .await
    .unwrap()
    .expect("the digest is due");
    assert_eq!(sent.until, digest_time);
    // A restarted daemon later that morning, and a second tick: nothing more.
    for minutes in [6, 90] {
        let again = digest::send_due(
            &store,
            &config,
            &floors,
            &channels(),
            digest_time + TimeDelta::minutes(minutes),
        )
        .await
        .unwrap();
        assert!(again.is_none(), "{again:?}");
    }
    let bodies = got.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let body = &bodies[0];
    assert_eq!(body["rule"], "digest");
    assert_eq!(body["until"], "2021-01-06T00:00:00Z");
    assert_eq!(body["assets"], 2);
    assert_eq!(body["top"][0]["coin"], "BTC (Bitcoin)");
    assert_eq!(body["top"][0]["posts"], 480);
    assert_eq!(body["top"][0]["previous_posts"], 240);
    assert_eq!(body["top"][1]["coin"], "ETH (Ethereum)");
    assert_eq!(body["movers"][0]["asset"], "bitcoin");
    assert_eq!(body["movers"][0]["change"], 1.0);
    assert_eq!(body["movers"].as_array().unwrap().len(), 1);
    assert_eq!(body["flips"][0]["asset"], "bitcoin");
    assert_eq!(body["flips"][0]["previous_balance"], 240);
    assert_eq!(body["flips"][0]["balance"], -480);
    assert_eq!(body["new_in_top"][0]["asset"], "ethereum");
    assert_eq!(body["new_in_top"][0]["rank"], 2);
    assert_eq!(body["new_in_top"].as_array().unwrap().len(), 1);

    // The next day's digest is sent the next day.
    let next = digest::send_due(
        &store,
        &config,
        &floors,
        &channels(),
        digest_time + TimeDelta::days(1),
    )
    .await
    .unwrap();
    assert_eq!(
        next.map(|d| d.until),
        Some(digest_time + TimeDelta::days(1))
    );
    assert_eq!(got.lock().unwrap().len(), 2);
}

/// `coinpulse alerts test`: each channel gets one test message in its service's body, a channel that
/// refuses it is named with the reason and fails the command, and no channel at all is an error that
/// says how to add one.
#[tokio::test]
async fn the_test_message_reaches_every_channel_and_a_refusal_is_named() {
    let (discord, slack, telegram, hook) = (
        MockServer::start().await,
        MockServer::start().await,
        MockServer::start().await,
        MockServer::start().await,
    );
    accept(&discord, &slack, &telegram).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(404).set_body_string("no such hook"))
        .mount(&hook)
        .await;
    let (mut channels, secrets) = three_channels("TEST_MESSAGE", &discord, &slack, &telegram);
    let mut config = coinpulse::config::Config::default();
    config.alerts.channels = channels.clone();
    config.alerts.dashboard_url = Some("https://dash.example/".into());
    coinpulse::report::alerts::cli::test_with(&config, &secrets)
        .await
        .expect("every channel takes the test message");

    let body: serde_json::Value = discord.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    assert_eq!(body["content"], "coinpulse test message");
    assert_eq!(body["embeds"][0]["url"], "https://dash.example/#range=24h");
    let body: serde_json::Value = slack.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    assert_eq!(body["blocks"][0]["text"]["text"], "coinpulse test message");
    let body: serde_json::Value = telegram.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    assert_eq!(body["chat_id"], "-1001234567890");
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("<b>coinpulse test message</b>"),
        "{body}"
    );

    // A fourth channel whose receiver refuses: the command fails, and the others still got theirs.
    channels.push(ChannelConfig::Webhook {
        url: format!("{}/hook", hook.uri()),
    });
    config.alerts.channels = channels;
    let err = coinpulse::report::alerts::cli::test_with(&config, &secrets)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("1 alert channel"), "{err}");
    assert_eq!(
        hook.received_requests().await.unwrap().len(),
        1,
        "a 404 is not retried"
    );
    assert_eq!(discord.received_requests().await.unwrap().len(), 2);

    config.alerts.channels.clear();
    let err = coinpulse::report::alerts::cli::test_with(&config, &secrets)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("[[alerts.channels]]"), "{err}");
}
