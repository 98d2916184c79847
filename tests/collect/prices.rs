//! CoinGecko and Binance price feeds against the recorded responses.

use std::time::Duration;

use coinpulse::collect::binance::{BinanceCollector, BinanceConfig};
use coinpulse::collect::coingecko::{CoingeckoCollector, CoingeckoConfig, Current};
use coinpulse::collect::{CollectError, Collector, Track};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer};

use crate::support::*;

fn gecko(server: &MockServer) -> CoingeckoConfig {
    CoingeckoConfig {
        base_url: Some(server.uri()),
        track: Track {
            top: None,
            assets: vec!["bitcoin".into()],
        },
        ..Default::default()
    }
}

fn gecko_collector(config: &CoingeckoConfig, key: Option<&str>) -> CoingeckoCollector {
    CoingeckoCollector::new(
        config,
        settings(at("2021-05-15T15:00:00Z")),
        &assets(),
        key.map(SecretString::from),
    )
    .unwrap()
}

#[tokio::test]
async fn coingecko_backfills_once_then_takes_snapshots_without_repeats() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/coins/bitcoin/market_chart"))
        .and(query_param("vs_currency", "usd"))
        .and(query_param("days", "1"))
        .and(header("x-cg-demo-api-key", "cg-demo-key"))
        .respond_with(fixture("coingecko/market_chart_bitcoin_usd_1d.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/coins/markets"))
        .and(query_param("ids", "bitcoin"))
        .and(query_param("vs_currency", "usd"))
        .respond_with(fixture("coingecko/coins_markets_bitcoin_usd.json"))
        .expect(2)
        .mount(&server)
        .await;
    let chart = json("coingecko/market_chart_bitcoin_usd_1d.json");
    let market = json("coingecko/coins_markets_bitcoin_usd.json");
    let chart_points = chart["prices"].as_array().unwrap();
    let last_chart_ms = chart_points.last().unwrap()[0].as_f64().unwrap() as i64;
    let market_ms = at(market[0]["last_updated"].as_str().unwrap()).timestamp_millis();

    let mut c = gecko_collector(&gecko(&server), Some("cg-demo-key"));
    let first = c.poll(None).await.unwrap();
    let snapshot_is_newer = market_ms > last_chart_ms;
    assert_eq!(
        first.prices.len(),
        chart_points.len() + usize::from(snapshot_is_newer)
    );
    assert!(
        first
            .prices
            .iter()
            .all(|p| p.asset == "bitcoin" && p.source == "coingecko")
    );
    assert_eq!(first.prices[0].price, chart_points[0][1].as_f64().unwrap());
    assert_eq!(
        first.prices[0].volume,
        chart["total_volumes"][0][1].as_f64()
    );
    let cursor = first.cursor.unwrap();
    assert_eq!(
        cursor["assets"]["bitcoin"],
        json!(last_chart_ms.max(market_ms))
    );
    assert_eq!(first.next_poll_in, Duration::from_secs(300));

    // A restart from the cursor: no backfill again, and the unchanged snapshot is not re-emitted.
    let again = gecko_collector(&gecko(&server), Some("cg-demo-key"))
        .poll(Some(&cursor))
        .await
        .unwrap();
    assert!(again.prices.is_empty(), "{:?}", again.prices);
}

#[tokio::test]
async fn coingecko_daily_chart_and_multi_asset_markets() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/coins/bitcoin/market_chart"))
        .respond_with(fixture("coingecko/market_chart_bitcoin_usd_90d_daily.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/coins/markets"))
        .and(query_param("ids", "bitcoin,ethereum"))
        .and(query_param("vs_currency", "eth"))
        .respond_with(fixture("coingecko/coins_markets_two_ids_eth.json"))
        .mount(&server)
        .await;
    let cfg = CoingeckoConfig {
        vs_currency: "eth".into(),
        backfill_days: 0,
        track: Track::default(),
        ..gecko(&server)
    };
    let batch = gecko_collector(&cfg, None).poll(None).await.unwrap();
    let mut got: Vec<(String, f64)> = batch
        .prices
        .iter()
        .map(|p| (p.asset.clone(), p.price))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got.len(), 2);
    assert_eq!(got[1], ("ethereum".to_owned(), 1.0));

    let cfg = CoingeckoConfig {
        backfill_days: 90,
        current: Current::Simple,
        ..gecko(&server)
    };
    Mock::given(method("GET"))
        .and(path("/simple/price"))
        .respond_with(fixture("coingecko/simple_price_bitcoin_usd.json"))
        .mount(&server)
        .await;
    let batch = gecko_collector(&cfg, None).poll(None).await.unwrap();
    let daily = json("coingecko/market_chart_bitcoin_usd_90d_daily.json");
    let n = daily["prices"].as_array().unwrap().len();
    // The simple price has no last_updated_at: it is stamped with the fetch time, after the chart.
    assert_eq!(batch.prices.len(), n + 1);
    let last = batch.prices.last().unwrap();
    assert_eq!(
        (last.price, last.time),
        (49013.0, at("2021-05-15T15:00:00Z"))
    );
}

#[tokio::test]
async fn coingecko_errors() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/coins/bitcoin/market_chart"))
        .respond_with(fixture("coingecko/error_422_missing_vs_currency.json"))
        .mount(&server)
        .await;
    let err = gecko_collector(&gecko(&server), None)
        .poll(None)
        .await
        .unwrap_err();
    assert!(!err.is_fatal());
    assert!(
        err.to_string().contains("Missing parameter vs_currency"),
        "{err}"
    );

    // CoinGecko's rate-limit body, seen with HTTP 200 as well as 429 (shape from the API docs).
    let limited =
        json!({"status": {"error_code": 429, "error_message": "You've exceeded the Rate Limit."}});
    for status in [200, 429] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/coins/markets"))
            .respond_with(built(status, limited.clone()).insert_header("retry-after", "60"))
            .mount(&server)
            .await;
        let cfg = CoingeckoConfig {
            backfill_days: 0,
            ..gecko(&server)
        };
        let err = gecko_collector(&cfg, None).poll(None).await.unwrap_err();
        assert!(
            matches!(err, CollectError::RateLimited { .. }),
            "{status}: {err:?}"
        );
        assert_eq!(err.retry_in(), Some(Duration::from_secs(60)));
    }

    // The full coin list where a market list is expected: no prices in it, so nothing emitted.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/coins/markets"))
        .respond_with(fixture("coingecko/coins_list.json"))
        .mount(&server)
        .await;
    let cfg = CoingeckoConfig {
        backfill_days: 0,
        ..gecko(&server)
    };
    assert!(
        gecko_collector(&cfg, None)
            .poll(None)
            .await
            .unwrap()
            .prices
            .is_empty()
    );
}

const BTC_PAIR: &str = "BTCUSDT";
/// Ten seconds into the last candle of the recording (open 1634944320000, close ...379999).
const IN_LAST_CANDLE: &str = "2021-10-22T23:12:10Z";

fn binance(server: &MockServer) -> BinanceConfig {
    BinanceConfig {
        base_url: server.uri(),
        interval: "1m".into(),
        track: Track {
            top: None,
            assets: vec!["BTC".into()],
        },
        ..Default::default()
    }
}

fn binance_at(config: &BinanceConfig, now: &str) -> BinanceCollector {
    BinanceCollector::new(config, settings(at(now)), &assets()).unwrap()
}

#[tokio::test]
async fn binance_skips_the_open_candle_and_resumes_after_the_last_closed_one() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v3/klines"))
        .and(query_param("symbol", BTC_PAIR))
        .and(query_param("interval", "1m"))
        .respond_with(fixture("binance/klines_btcusdt_1m.json"))
        .mount(&server)
        .await;
    let rows = json("binance/klines_btcusdt_1m.json");
    let rows = rows.as_array().unwrap();
    let first = binance_at(&binance(&server), IN_LAST_CANDLE)
        .poll(None)
        .await
        .unwrap();
    assert_eq!(
        first.prices.len(),
        rows.len() - 1,
        "the open candle is left out"
    );
    let p = &first.prices[0];
    assert_eq!(p.asset, "bitcoin");
    assert_eq!(
        p.price,
        rows[0][4].as_str().unwrap().parse::<f64>().unwrap()
    );
    assert_eq!(
        p.volume,
        Some(rows[0][5].as_str().unwrap().parse::<f64>().unwrap())
    );
    assert_eq!(p.time.timestamp_millis(), rows[0][6].as_i64().unwrap() + 1);
    let cursor = first.cursor.unwrap();
    assert_eq!(
        cursor,
        json!({"klines": {BTC_PAIR: rows[rows.len() - 2][0]}})
    );
    let asked = server.received_requests().await.unwrap();
    let start: i64 = asked[0]
        .url
        .query_pairs()
        .find(|(k, _)| k == "startTime")
        .unwrap()
        .1
        .parse()
        .unwrap();
    assert_eq!(start, at(IN_LAST_CANDLE).timestamp_millis() - 86_400_000);

    // Restart while the candle is still open: nothing new. After it closed: exactly that candle.
    let server2 = MockServer::start().await;
    let next_start = rows[rows.len() - 2][0].as_i64().unwrap() + 1;
    Mock::given(method("GET"))
        .and(path("/api/v3/klines"))
        .and(query_param("startTime", next_start.to_string().as_str()))
        .respond_with(fixture("binance/klines_btcusdt_1m.json"))
        .expect(2)
        .mount(&server2)
        .await;
    let still_open = binance_at(&binance(&server2), IN_LAST_CANDLE)
        .poll(Some(&cursor))
        .await
        .unwrap();
    assert!(still_open.prices.is_empty());
    let closed = binance_at(&binance(&server2), "2021-10-22T23:13:30Z")
        .poll(Some(&cursor))
        .await
        .unwrap();
    assert_eq!(closed.prices.len(), 1);
    assert_eq!(
        closed.cursor.unwrap(),
        json!({"klines": {BTC_PAIR: rows[rows.len() - 1][0]}})
    );
}

#[tokio::test]
async fn binance_weight_header_pauses_to_the_next_minute() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v3/klines"))
        .respond_with(
            fixture("binance/klines_btcusdt_1m.json").insert_header("x-mbx-used-weight-1m", "5900"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let cfg = BinanceConfig {
        poll_interval: Duration::from_secs(10),
        ..binance(&server)
    };
    let mut c = binance_at(&cfg, IN_LAST_CANDLE);
    let batch = c.poll(None).await.unwrap();
    // 23:12:10 → the next minute starts in 50 s (plus half a second of margin).
    assert!(
        batch.next_poll_in >= Duration::from_secs(50)
            && batch.next_poll_in <= Duration::from_secs(51),
        "{:?}",
        batch.next_poll_in
    );
    let err = c.poll(batch.cursor.as_ref()).await.unwrap_err();
    assert!(matches!(err, CollectError::RateLimited { .. }));
}

/// Binance's 418/429/-1121 shapes come from its docs; no recording exists (fixtures README).
#[tokio::test]
async fn binance_bans_limits_and_unknown_pairs() {
    for (status, retry_after, expected) in [(418, Some("120"), 120), (429, None, 60)] {
        let server = MockServer::start().await;
        let mut t = built(
            status,
            json!({"code": -1003, "msg": "Way too much request weight used."}),
        );
        if let Some(v) = retry_after {
            t = t.insert_header("retry-after", v);
        }
        Mock::given(method("GET"))
            .and(path("/api/v3/klines"))
            .respond_with(t)
            .mount(&server)
            .await;
        let err = binance_at(&binance(&server), IN_LAST_CANDLE)
            .poll(None)
            .await
            .unwrap_err();
        assert!(matches!(err, CollectError::RateLimited { .. }), "{err:?}");
        assert_eq!(err.retry_in(), Some(Duration::from_secs(expected)));
    }

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v3/klines"))
        .and(query_param("symbol", "ETHUSDT"))
        .respond_with(built(400, json!({"code": -1121, "msg": "Invalid symbol."})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v3/klines"))
        .and(query_param("symbol", BTC_PAIR))
        .respond_with(fixture("binance/klines_btcusdt_1m.json"))
        .mount(&server)
        .await;
    let cfg = BinanceConfig {
        track: Track::default(),
        ..binance(&server)
    };
    let mut c = binance_at(&cfg, IN_LAST_CANDLE);
    let batch = c.poll(None).await.unwrap();
    assert_eq!(batch.prices.len(), 9);
    // The unknown pair is not asked again (expect(1) above).
    c.poll(batch.cursor.as_ref()).await.unwrap();
}

#[tokio::test]
async fn binance_malformed_row_names_row_and_column() {
    let server = MockServer::start().await;
    let mut rows = json("binance/klines_btcusdt_1m.json");
    rows[2][4] = json!("not a price");
    Mock::given(method("GET"))
        .and(path("/api/v3/klines"))
        .respond_with(built(200, rows))
        .mount(&server)
        .await;
    let err = binance_at(&binance(&server), IN_LAST_CANDLE)
        .poll(None)
        .await
        .unwrap_err();
    assert!(!err.is_fatal());
    assert!(
        err.to_string().contains("binance: ")
            && err.to_string().contains("[2][4]")
            && err.to_string().contains("close"),
        "{err}"
    );
}
