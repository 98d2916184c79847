//! The dashboard in a real browser: headless Chromium, driven over the DevTools protocol, loads the
//! page from the daemon's own routes (dashboard, API and access guard), picks an asset, changes the
//! range, hovers a chart, and is checked against what the API answers; a screenshot of each theme is
//! kept in `target/test-artifacts/`. The plotters charts (files for README and e-mail) are checked
//! here too.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use coinpulse::model::{Asset, PricePoint, SentimentLabel::Positive};
use coinpulse::store::Store;
use coinpulse::store::queries::Bucket;
use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_tungstenite::tungstenite::Message;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Headless Chromium with its DevTools endpoint on a free loopback port, showing `url`.
struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    port: u16,
}

impl Browser {
    fn launch(url: &str) -> Browser {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium); \
             scripts/test.sh installs it when run as root"
        );
        let profile = tempfile::tempdir().unwrap();
        let child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--no-first-run",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1280,1600",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium starts");
        // Chromium writes the port it chose to this file once DevTools listens.
        let active = profile.path().join("DevToolsActivePort");
        let mut port = None;
        for _ in 0..300 {
            if let Some(p) = std::fs::read_to_string(&active)
                .ok()
                .and_then(|s| s.lines().next().and_then(|l| l.parse().ok()))
            {
                port = Some(p);
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let port = port.expect("chromium opened its DevTools port within 30 s");
        Browser {
            child,
            _profile: profile,
            port,
        }
    }

    /// A DevTools session on the page.
    async fn page(&self) -> Page {
        let list: Value = reqwest::get(format!("http://127.0.0.1:{}/json/list", self.port))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ws = list
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .expect("a page target")
            .to_string();
        let (socket, _) = tokio_tungstenite::connect_async(ws).await.unwrap();
        Page { socket, next_id: 0 }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Page {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u64,
}

impl Page {
    /// Sends one DevTools command and returns its result (events in between are skipped).
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.socket.send(Message::text(msg)).await.unwrap();
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("{method}: no answer within 30 s"))
                .expect("the DevTools socket stays open")
                .unwrap();
            let Message::Text(text) = frame else { continue };
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["id"] == id {
                assert!(v["error"].is_null(), "{method}: {}", v["error"]);
                return v["result"].clone();
            }
        }
    }

    /// The value of a JavaScript expression (promises awaited).
    async fn eval(&mut self, expression: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        assert!(
            r["exceptionDetails"].is_null(),
            "{expression}: {}",
            r["exceptionDetails"]
        );
        r["result"]["value"].clone()
    }

    /// Waits until `expression` is true, for at most 20 s. While the page is still loading (no
    /// `document.body` yet) the expression may throw; that counts as not yet.
    async fn wait_for(&mut self, expression: &str) {
        let guarded = format!(
            "(() => {{ try {{ return ({expression}) === true; }} catch (e) {{ return false; }} }})()"
        );
        for _ in 0..200 {
            if self.eval(&guarded).await == json!(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let body = self
            .eval("JSON.stringify(document.body.dataset) + ' ' + document.body.innerText.slice(0, 2000)")
            .await;
        panic!("never true: {expression}\npage: {body}");
    }

    async fn screenshot(&mut self, path: &Path) {
        let shot = self
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        let png = base64_decode(shot["data"].as_str().unwrap());
        assert_eq!(&png[1..4], b"PNG");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let bytes: Vec<u8> = text.bytes().filter(|&c| c != b'=').map(value).collect();
    bytes
        .chunks(4)
        .flat_map(|c| {
            let n = c
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &v)| n | u32::from(v) << (18 - 6 * i));
            let out = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            out.into_iter().take(c.len() - 1)
        })
        .collect()
}

/// Where screenshots are kept: `target/test-artifacts/`.
fn artifacts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts")
}

/// The daemon's routes, as `coinpulse run` serves them, on a loopback port.
async fn serve(store: &Store, access: coinpulse::pipeline::access::Access) -> String {
    let mut config = coinpulse::config::Config::default();
    config.charts.out_dir = std::env::temp_dir();
    let routes = coinpulse::pipeline::server::pages(store.clone(), &config).layer(
        axum::middleware::from_fn_with_state(Arc::new(access), coinpulse::pipeline::access::guard),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, routes).await.unwrap() });
    base
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

/// A script a post or a registry entry could carry; it must show as text and never run.
const INJECTION: &str = "<img src=x onerror=\"window.__pwned=1\"><script>window.__pwned=2</script>";

/// [`seed`], plus ETH (fewer posts) and an asset whose name is an injection attempt, and an alert
/// whose message is one.
async fn seed_dashboard(pool: &PgPool) -> Store {
    let (store, start) = seed(pool).await;
    store
        .upsert_assets(&[
            Asset {
                id: "ethereum".into(),
                symbol: "ETH".into(),
                name: "Ethereum".into(),
                aliases: vec![],
                rank: Some(2),
            },
            Asset {
                id: "evil".into(),
                symbol: "EVIL".into(),
                name: INJECTION.into(),
                aliases: vec![],
                rank: Some(3),
            },
        ])
        .await
        .unwrap();
    let posts: Vec<_> = (0..48)
        .flat_map(|h| {
            ["ethereum", "evil"].into_iter().map(move |asset| {
                enriched(
                    &format!("{asset}-{h}"),
                    start + TimeDelta::hours(h) + TimeDelta::minutes(30),
                    vec![mention(asset, 0, 3)],
                    Some((Positive, 0.2)),
                )
            })
        })
        .collect();
    store.write_batch(&posts, "m2", None).await.unwrap();
    sqlx::query(
        "INSERT INTO alerts_sent (rule, asset_id, bucket, message, value)
         VALUES ('volume_spike', 'evil', '2021-01-06T10:00:00Z', $1, 9.5)",
    )
    .bind(format!("{INJECTION} spiked"))
    .execute(pool)
    .await
    .unwrap();
    store
}

async fn api(base: &str, path: &str) -> Value {
    reqwest::get(format!("{base}{path}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn the_dashboard_draws_what_the_api_answers_in_chromium(pool: PgPool) {
    let store = seed_dashboard(&pool).await;
    let base = serve(&store, Default::default()).await;
    let browser = tokio::task::spawn_blocking({
        let url = format!("{base}/#range=7d");
        move || Browser::launch(&url)
    })
    .await
    .unwrap();
    let mut page = browser.page().await;
    page.wait_for("Number(document.body.dataset.ready) >= 1")
        .await;

    // The data ends on 2021-01-07: the page says it shows history and anchors the range there.
    let banner = page
        .eval("document.getElementById('history').hidden ? null : document.getElementById('history-text').textContent")
        .await;
    assert!(
        banner.as_str().unwrap().contains("2021-01-07 00:00 UTC"),
        "{banner}"
    );
    // The loudest asset is shown first, hourly over 7 days: the points the API gives for that window.
    let want = api(
        &base,
        "/api/v1/series?asset=bitcoin&since=2020-12-31T00:00:00Z&until=2021-01-07T00:00:00Z",
    )
    .await;
    assert_eq!(page.eval("document.body.dataset.asset").await, "bitcoin");
    assert_eq!(page.eval("document.body.dataset.bucket").await, "1h");
    let points = want["time"].as_array().unwrap().len();
    assert_eq!(points, 168);
    assert_eq!(
        page.eval("document.getElementById('volume-chart').dataset.points")
            .await,
        points.to_string()
    );
    // uPlot drew a canvas the width of its panel.
    let width = page
        .eval("document.querySelector('#volume-chart canvas').width")
        .await;
    assert!(width.as_u64().unwrap() > 600, "{width}");
    page.screenshot(&artifacts().join("dashboard-light.png"))
        .await;

    // Pick another asset by ticker.
    page.eval(
        "(() => { const i = document.getElementById('asset'); i.value = 'ETH'; \
         i.dispatchEvent(new Event('change')); })()",
    )
    .await;
    page.wait_for("document.body.dataset.asset === 'ethereum'")
        .await;
    assert_eq!(
        page.eval("document.getElementById('volume-title').textContent")
            .await,
        "ETH (Ethereum): social volume (people) and price"
    );

    // Change the range: 24 hours are drawn in 5-minute buckets.
    page.eval("document.querySelector('#ranges [data-range=\"24h\"]').click()")
        .await;
    page.wait_for("document.body.dataset.bucket === '5m'").await;
    let want = api(
        &base,
        "/api/v1/series?asset=ethereum&since=2021-01-06T00:00:00Z&until=2021-01-07T00:00:00Z",
    )
    .await;
    let points = want["time"].as_array().unwrap().len();
    assert_eq!(points, 288);
    page.wait_for(&format!(
        "document.getElementById('volume-chart').dataset.points === '{points}'"
    ))
    .await;

    // Hover the volume chart: the tooltip shows the API's numbers for the bucket under the cursor.
    let over = page
        .eval(
            "(() => { const r = document.querySelector('#volume-chart .u-over').getBoundingClientRect(); \
             return [r.left + r.width * 0.5, r.top + r.height * 0.5]; })()",
        )
        .await;
    let (x, y) = (over[0].as_f64().unwrap(), over[1].as_f64().unwrap());
    page.call(
        "Input.dispatchMouseEvent",
        json!({"type": "mouseMoved", "x": x, "y": y}),
    )
    .await;
    page.wait_for("!document.getElementById('tooltip').hidden")
        .await;
    let index: usize = page
        .eval("document.getElementById('tooltip').dataset.index")
        .await
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((100..200).contains(&index), "cursor at the middle: {index}");
    let tip = page
        .eval("document.getElementById('tooltip').innerText")
        .await;
    let tip = tip.as_str().unwrap();
    let posts = want["posts"][index].as_i64().unwrap();
    assert!(tip.contains(&format!("ETH posts: {posts}")), "{tip}");
    let all = want["all_posts"][index].as_i64().unwrap();
    assert!(tip.contains(&format!("bots included: {all}")), "{tip}");
    let time = want["time"][index].as_str().unwrap();
    assert!(
        tip.contains(&time[..16].replace('T', " ")),
        "{tip} (bucket {time})"
    );

    // Dark theme.
    page.eval("document.getElementById('theme').click()").await;
    assert_eq!(
        page.eval("document.documentElement.dataset.theme").await,
        "dark"
    );
    page.screenshot(&artifacts().join("dashboard-dark.png"))
        .await;

    // The injection in an asset name and an alert message is shown as text and never ran.
    assert_eq!(page.eval("typeof window.__pwned").await, "undefined");
    let movers = page
        .eval("document.getElementById('movers').textContent")
        .await;
    assert!(movers.as_str().unwrap().contains(INJECTION), "{movers}");
    let alerts = page
        .eval("document.getElementById('alerts').textContent")
        .await;
    assert!(
        alerts
            .as_str()
            .unwrap()
            .contains(&format!("{INJECTION} spiked")),
        "{alerts}"
    );
    assert_eq!(
        page.eval("document.querySelectorAll('main img, main script').length")
            .await,
        0
    );
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn off_loopback_the_data_needs_the_token_and_the_shell_does_not(pool: PgPool) {
    let store = seed_dashboard(&pool).await;
    let token = "dash-token-5c1e-never-print";
    let base = serve(
        &store,
        coinpulse::pipeline::access::Access::with_token(token),
    )
    .await;
    let client = reqwest::Client::new();
    let status = |path: &str, auth: Option<&str>| {
        let mut req = client.get(format!("{base}{path}"));
        if let Some(t) = auth {
            req = req.bearer_auth(t);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    for path in ["/", "/static/app.js", "/static/uPlot.iife.min.js"] {
        assert_eq!(status(path, None).await, 200, "{path}");
    }
    for path in [
        "/api/v1/assets",
        "/api/v1/alerts",
        "/api/v1/series?asset=BTC",
        "/static/nothing.js",
    ] {
        assert_eq!(status(path, None).await, 401, "{path}");
        assert_eq!(status(path, Some("wrong")).await, 401, "{path}");
    }
    for path in [
        "/api/v1/assets",
        "/api/v1/alerts",
        "/api/v1/series?asset=BTC",
    ] {
        assert_eq!(status(path, Some(token)).await, 200, "{path}");
    }
    // Answers are compressed for clients that accept it.
    let raw = reqwest::Client::builder().no_gzip().build().unwrap();
    let r = raw
        .get(format!("{base}/api/v1/assets"))
        .bearer_auth(token)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    // Every answer carries the policy that forbids inline script.
    let r = client.get(format!("{base}/")).send().await.unwrap();
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    let script = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src"));
    assert_eq!(script, Some("script-src 'self'"), "{csp}");
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn the_alert_list_is_newest_first_with_ticker_and_name(pool: PgPool) {
    let store = seed_dashboard(&pool).await;
    sqlx::query(
        "INSERT INTO alerts_sent (rule, asset_id, bucket, fired_at, message, value)
         VALUES ('sentiment_flip', 'bitcoin', '2021-01-06T11:00:00Z', now() + interval '1 minute', 'BTC flipped', -0.4)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let base = serve(&store, Default::default()).await;
    let alerts = api(&base, "/api/v1/alerts").await;
    let alerts = alerts.as_array().unwrap();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0]["rule"], "sentiment_flip");
    assert_eq!(alerts[0]["symbol"], "BTC");
    assert_eq!(alerts[0]["name"], "Bitcoin");
    assert_eq!(alerts[1]["asset_id"], "evil");
    assert_eq!(
        api(&base, "/api/v1/alerts?limit=1")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let bad = api(&base, "/api/v1/alerts?limit=100000").await;
    assert!(bad["error"].as_str().unwrap().contains("limit"), "{bad}");
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn every_chart_type_renders_from_a_seeded_database(pool: PgPool) {
    let (store, start) = seed(&pool).await;
    let dir = tempfile::tempdir().unwrap();
    let written = coinpulse::chart::draw::draw_all(
        &store,
        &["BTC".to_string()],
        start,
        start + TimeDelta::hours(48),
        dir.path(),
        &coinpulse::chart::draw::DrawOptions {
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
