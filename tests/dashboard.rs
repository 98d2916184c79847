//! The dashboard in a real browser: headless Chromium loads the page served by the daemon's router,
//! finds the asset list and a chart that actually rendered, and takes a screenshot.

mod common;

use std::process::Command;

use chrono::TimeDelta;
use coinpulse::model::{Asset, PricePoint, SentimentLabel::Positive};
use coinpulse::store::Store;
use coinpulse::store::queries::Bucket;
use common::*;
use sqlx::PgPool;

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium(args: &[&str], profile: &std::path::Path) -> std::process::Output {
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium); \
         .ci/run installs it"
    );
    Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--no-first-run",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium runs")
}

/// Two days of BTC posts (5–11 an hour, all positive) and hourly prices, from 2021-01-05 00:00.
async fn seed(pool: &PgPool) -> (Store, chrono::DateTime<chrono::Utc>) {
    let store = Store::from_pool(pool.clone());
    store
        .upsert_assets(&[Asset {
            id: "bitcoin".into(),
            symbol: "BTC".into(),
            name: "Bitcoin".into(),
            aliases: vec![],
            rank: Some(1),
        }])
        .await
        .unwrap();
    let start = at(0, 0);
    let posts: Vec<_> = (0..48)
        .flat_map(|h| {
            (0..(5 + h % 7)).map(move |i| {
                enriched(
                    &format!("{h}-{i}"),
                    start + TimeDelta::hours(h) + TimeDelta::minutes(i),
                    vec![mention("bitcoin", 0, 3)],
                    Some((Positive, 0.5)),
                )
            })
        })
        .collect();
    store.write_batch(&posts, "m1", None).await.unwrap();
    let prices: Vec<_> = (0..48)
        .map(|h| PricePoint {
            asset: "bitcoin".into(),
            time: start + TimeDelta::hours(h),
            price: 30_000.0 + 100.0 * h as f64,
            volume: None,
            source: "binance".into(),
        })
        .collect();
    store.write_prices(&prices, None).await.unwrap();

    (store, start)
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn dashboard_lists_assets_and_renders_a_chart_in_chromium(pool: PgPool) {
    let (store, start) = seed(&pool).await;
    let dir = tempfile::tempdir().unwrap();
    let charts = dir.path().join("charts");
    coinpulse::chart::cli::draw_all(
        &store,
        &["BTC".to_string()],
        start,
        start + TimeDelta::hours(48),
        &charts,
        &coinpulse::chart::cli::DrawOptions {
            bucket: Some(Bucket::Hour),
            formats: vec![coinpulse::chart::ChartFormat::Svg],
            size: coinpulse::chart::DEFAULT_SIZE,
            theme: coinpulse::chart::Theme::Light,
        },
    )
    .await
    .unwrap();
    let mut config = coinpulse::config::Config::default();
    config.charts.out_dir = charts;
    config.charts.assets = vec!["BTC".into()];
    let app = coinpulse::pipeline::views::dashboard_router(store.clone(), &config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let profile = dir.path().join("profile");
    let dom = {
        let (url, profile) = (url.clone(), profile.clone());
        tokio::task::spawn_blocking(move || chromium(&["--dump-dom", &url], &profile))
            .await
            .unwrap()
    };
    let html = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&dom.stderr)
    );
    assert!(html.contains("id=\"assets\""), "no asset table in:\n{html}");
    assert!(html.contains("<td>BTC</td>"), "BTC is not listed:\n{html}");
    // The page marks each chart with its decoded width once the browser has rendered it.
    assert!(
        html.contains("data-rendered-width=\"1280\""),
        "the chart did not render in the browser:\n{html}"
    );

    let shot = dir.path().join("dashboard.png");
    let screenshot = {
        let shot_arg = format!("--screenshot={}", shot.display());
        tokio::task::spawn_blocking(move || {
            chromium(&[&shot_arg, "--window-size=1280,1400", &url], &profile)
        })
        .await
        .unwrap()
    };
    assert!(screenshot.status.success());
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert_eq!(&png[1..4], b"PNG");
    assert!(png.len() > 20_000, "screenshot is only {} bytes", png.len());
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn every_chart_type_renders_from_a_seeded_database(pool: PgPool) {
    let (store, start) = seed(&pool).await;
    let dir = tempfile::tempdir().unwrap();
    let written = coinpulse::chart::cli::draw_all(
        &store,
        &["BTC".to_string()],
        start,
        start + TimeDelta::hours(48),
        dir.path(),
        &coinpulse::chart::cli::DrawOptions {
            bucket: Some(Bucket::Hour),
            formats: vec![coinpulse::chart::ChartFormat::Png],
            size: coinpulse::chart::DEFAULT_SIZE,
            theme: coinpulse::chart::Theme::Light,
        },
    )
    .await
    .unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "btc_volume_price.png",
            "btc_lead_lag.png",
            "share_of_voice.png"
        ]
    );
    for path in &written {
        let img = image::open(path).unwrap().to_rgb8();
        assert_eq!(
            img.dimensions(),
            coinpulse::chart::DEFAULT_SIZE,
            "{}",
            path.display()
        );
        // The plot area (the middle of the image) must hold drawn pixels, not only background.
        let (w, h) = img.dimensions();
        let drawn = (w / 5..w * 4 / 5)
            .flat_map(|x| (h / 5..h * 4 / 5).map(move |y| (x, y)))
            .filter(|&(x, y)| {
                let p = img.get_pixel(x, y).0;
                p.iter().any(|&c| c < 200)
            })
            .count();
        assert!(
            drawn > 2_000,
            "{}: only {drawn} drawn pixels",
            path.display()
        );
    }
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn a_chart_range_without_data_is_told_where_the_data_is(pool: PgPool) {
    use coinpulse::chart::data::no_data_hint;
    let btc = ["BTC".to_string()];
    let (_, start) = seed(&pool).await;
    let hint = no_data_hint(&pool, &btc, start, start + TimeDelta::hours(48))
        .await
        .unwrap();
    assert_eq!(hint, None);
    let later = start + TimeDelta::days(60);
    let hint = no_data_hint(&pool, &btc, later, later + TimeDelta::days(30))
        .await
        .unwrap()
        .expect("nothing to draw two months later");
    assert!(hint.contains("no posts mention BTC"), "{hint}");
    assert!(
        hint.contains("run from 2021-01-05 00:00 to 2021-01-07 00:00 UTC"),
        "{hint}"
    );
    assert!(
        hint.contains("--since 2021-01-05 --until 2021-01-08"),
        "{hint}"
    );
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn a_chart_of_an_empty_database_says_nothing_is_stored(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    store
        .upsert_assets(&[Asset {
            id: "bitcoin".into(),
            symbol: "BTC".into(),
            name: "Bitcoin".into(),
            aliases: vec![],
            rank: Some(1),
        }])
        .await
        .unwrap();
    let hint = coinpulse::chart::data::no_data_hint(
        &pool,
        &["BTC".to_string()],
        at(0, 0),
        at(0, 0) + TimeDelta::days(1),
    )
    .await
    .unwrap()
    .expect("nothing stored");
    assert!(hint.contains("nothing is stored yet"), "{hint}");
}
