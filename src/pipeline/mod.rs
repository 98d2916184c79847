//! Wiring the stages together: enrichment now, the `coinpulse run` daemon on top of it.

pub mod daemon;
pub mod enrich;
pub mod metrics;
pub mod run;
pub mod server;

pub use enrich::Enricher;

/// Assets price files name by ticker, until the registry lands.
pub fn builtin_price_assets() -> Vec<crate::model::Asset> {
    [
        ("bitcoin", "BTC", "Bitcoin", 1),
        ("ethereum", "ETH", "Ethereum", 2),
        ("binancecoin", "BNB", "BNB", 4),
        ("cardano", "ADA", "Cardano", 7),
    ]
    .into_iter()
    .map(|(id, symbol, name, rank)| crate::model::Asset {
        id: id.into(),
        symbol: symbol.into(),
        name: name.into(),
        aliases: Vec::new(),
        rank: Some(rank),
    })
    .collect()
}
