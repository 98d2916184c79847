//! `coinpulse assets update` against recorded CoinGecko responses: two pages of the ranking, the coin
//! list, a 429 waited out, and what changed (a new coin, a renamed one, a delisted one).

use chrono::NaiveDate;
use coinpulse::collect::coingecko::CoingeckoConfig;
use coinpulse::tag::Policy;
use coinpulse::tag::registry::builtin_list;
use coinpulse::tag::update::{Client, PER_PAGE, describe, diff, forms_of};
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::*;

fn gecko(server: &MockServer) -> CoingeckoConfig {
    CoingeckoConfig {
        base_url: Some(server.uri()),
        ..CoingeckoConfig::default()
    }
}

/// A page of `n` coins made from the recorded bitcoin row: ids `coin-1` … with ranks 1 … n.
fn synthetic_page(n: usize) -> serde_json::Value {
    let template = json("coingecko/coins_markets_bitcoin_usd.json")[0].clone();
    (1..=n)
        .map(|i| {
            let mut row = template.clone();
            row["id"] = json!(format!("coin-{i}"));
            row["symbol"] = json!(format!("cn{i}"));
            row["name"] = json!(format!("Coin {i}"));
            row["market_cap_rank"] = json!(i);
            row
        })
        .collect()
}

async fn serve_list(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/coins/list"))
        .respond_with(fixture("coingecko/coins_list.json"))
        .mount(server)
        .await;
}

#[tokio::test]
async fn the_ranking_is_read_page_by_page_with_the_coin_list() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/coins/markets"))
        .and(query_param("page", "1"))
        .and(query_param("per_page", PER_PAGE.to_string()))
        .and(query_param("order", "market_cap_desc"))
        .respond_with(built(200, synthetic_page(PER_PAGE as usize)))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/coins/markets"))
        .and(query_param("page", "2"))
        .respond_with(fixture("coingecko/coins_markets_two_ids_eth.json"))
        .expect(2)
        .mount(&server)
        .await;
    serve_list(&server).await;
    let mut client = Client::new(
        &gecko(&server),
        settings(at("2025-12-01T08:00:00Z")),
        None,
        None,
    )
    .unwrap();
    let fetched = client.fetch(600).await.unwrap();
    assert_eq!(fetched.day, NaiveDate::from_ymd_opt(2025, 12, 1).unwrap());
    // The second page was short, so there is no third request.
    assert_eq!(fetched.ranked.len(), PER_PAGE as usize + 2);
    assert_eq!(fetched.ranked[0].id, "coin-1");
    assert_eq!(fetched.ranked[PER_PAGE as usize].id, "bitcoin");
    assert_eq!(fetched.ranked[PER_PAGE as usize].symbol, "BTC");
    assert_eq!(fetched.ranked[PER_PAGE as usize + 1].rank, 2);
    assert_eq!(fetched.listed.len(), 7248);

    // --top cuts the ranking.
    let fetched = Client::new(
        &gecko(&server),
        settings(at("2025-12-01T08:00:00Z")),
        None,
        None,
    )
    .unwrap()
    .fetch(251)
    .await;
    assert_eq!(fetched.unwrap().ranked.len(), 251);
}

#[tokio::test]
async fn a_429_is_waited_out_and_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/coins/markets"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(json!({"status": {"error_code": 429, "error_message": "You've exceeded the Rate Limit."}})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/coins/markets"))
        .respond_with(fixture("coingecko/coins_markets_bitcoin_usd.json"))
        .with_priority(2)
        .mount(&server)
        .await;
    serve_list(&server).await;
    let mut client = Client::new(
        &gecko(&server),
        settings(at("2025-12-01T08:00:00Z")),
        None,
        None,
    )
    .unwrap();
    let started = std::time::Instant::now();
    let fetched = client.fetch(10).await.unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    assert_eq!(fetched.ranked.len(), 1);
    assert_eq!(fetched.ranked[0].id, "bitcoin");
    let markets = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/coins/markets")
        .count();
    assert_eq!(markets, 2);
}

#[tokio::test]
async fn changes_name_new_renamed_and_delisted_coins() {
    let server = MockServer::start().await;
    // Today's ranking: the recorded two coins, Render on its new ticker, and a coin nobody knew.
    let mut page = json("coingecko/coins_markets_two_ids_eth.json");
    let template = page[0].clone();
    for (id, symbol, name, rank) in [
        ("render-token", "render", "Render", 3),
        ("brandnewcoin-xyz", "bnxyz", "Brandnewcoin", 4),
    ] {
        let mut row = template.clone();
        row["id"] = json!(id);
        row["symbol"] = json!(symbol);
        row["name"] = json!(name);
        row["market_cap_rank"] = json!(rank);
        page.as_array_mut().unwrap().push(row);
    }
    Mock::given(method("GET"))
        .and(path("/coins/markets"))
        .respond_with(built(200, page))
        .mount(&server)
        .await;
    // The recorded coin list without Tokamak Network.
    let list: Vec<serde_json::Value> = json("coingecko/coins_list.json")
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] != "tokamak-network")
        .cloned()
        .collect();
    Mock::given(method("GET"))
        .and(path("/coins/list"))
        .respond_with(built(200, json!(list)))
        .mount(&server)
        .await;
    let mut client = Client::new(
        &gecko(&server),
        settings(at("2025-12-01T08:00:00Z")),
        None,
        None,
    )
    .unwrap();
    let fetched = client.fetch(1000).await.unwrap();
    let known = builtin_list().unwrap();
    let listed_before = vec![
        "bitcoin".to_string(),
        "ethereum".to_string(),
        "tokamak-network".to_string(),
    ];
    let changes = diff(&known, &fetched, &listed_before);
    let added: Vec<&str> = changes.added.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(added, ["brandnewcoin-xyz"]);
    assert_eq!(changes.renamed.len(), 1, "{:?}", changes.renamed);
    assert_eq!(changes.renamed[0].0, "render-token");
    assert_eq!(
        (changes.renamed[0].1.as_str(), changes.renamed[0].3.as_str()),
        ("RNDR", "RENDER")
    );
    assert_eq!(changes.delisted, ["tokamak-network"]);
    // Bitcoin and Ethereum keep ranks 1 and 2; Render moved.
    let reranked: Vec<&str> = changes.reranked.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(reranked, ["render-token"]);
    let report = describe(&fetched, &changes);
    assert!(
        report.contains("1 added, 1 re-ranked, 1 renamed, 1 delisted"),
        "{report}"
    );
    assert!(report.contains("brandnewcoin-xyz"), "{report}");
    assert!(report.contains("bnxyz (Always)"), "{report}");
}

#[test]
fn a_new_coin_gets_its_forms_policies_like_a_shipped_one() {
    let coin = |symbol: &str, name: &str| coinpulse::store::assets::RankedAsset {
        id: "x".into(),
        symbol: symbol.into(),
        name: name.into(),
        rank: 50,
    };
    let forms = forms_of(&coin("BNXYZ", "Brandnewcoin"));
    assert!(
        forms.contains(&("bnxyz".into(), Policy::Always)),
        "{forms:?}"
    );
    assert!(
        forms.contains(&("brandnewcoin".into(), Policy::Always)),
        "{forms:?}"
    );
    // A common English word is matched only in proper case in a crypto post.
    let forms = forms_of(&coin("HOPE", "Hope"));
    assert!(forms.contains(&("hope".into(), Policy::Word)), "{forms:?}");
    // Two letters: only as a cashtag.
    let forms = forms_of(&coin("GO", "Gocoinxyz"));
    assert!(
        forms.contains(&("$go".into(), Policy::CashtagOnly)),
        "{forms:?}"
    );
}
