//! Alert rules against a real PostgreSQL: a seeded spike fires once, goes to the webhook as JSON, and
//! does not fire again within the cool-down.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::routing::post;
use chrono::TimeDelta;
use coinpulse::config::{AlertRule, AlertsConfig};
use coinpulse::model::SentimentLabel::{Negative, Positive};
use coinpulse::report::alerts::{evaluate, evaluate_with_floors};
use coinpulse::report::significance::SpikesConfig;
use coinpulse::store::Store;
use common::*;
use sqlx::PgPool;

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
    };
    let client = reqwest::Client::new();
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
    };
    let client = reqwest::Client::new();
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
