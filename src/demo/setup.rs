//! Pointing the real collectors at the sandbox.
//!
//! The demo runs the unchanged daemon; only its `[sources]` differ: Twitter, Reddit and CoinGecko
//! enabled with every host replaced by the sandbox's base URL, the others disabled, and polling
//! intervals scaled to the clock's speed so each round covers a few simulated hours (CoinGecko polls
//! at least twice per simulated hour, so no hourly close is missed). Budgets are raised to match;
//! the sandbox still sends its own rate-limit headers.
//!
//! Credentials: the config names [`TOKEN_ENV`] for all of them, and the collectors are built with
//! a secrets resolver that gives that name a dummy value ([`sandbox_secrets`]); the process
//! environment is never changed.

use std::time::Duration;

use crate::collect::coingecko::{CoingeckoConfig, Current};
use crate::collect::reddit::RedditConfig;
use crate::collect::twitter::TwitterConfig;
use crate::collect::{Budget, Secrets, SourcesConfig, Track};
use crate::config::Config;
use crate::model::Asset;

/// The environment variable every sandbox credential is read from.
pub const TOKEN_ENV: &str = "SANDBOX_DEMO_TOKEN";
/// Its value: not a secret, and the sandbox accepts anything.
pub const TOKEN_VALUE: &str = "coinpulse-demo-sandbox";

/// `[sources]` for the sandbox at `base_url` running at `speed` simulated seconds per second.
pub fn sandbox_sources(base_url: &str, speed: f64) -> SourcesConfig {
    let speed = if speed.is_finite() && speed > 0.0 {
        speed
    } else {
        super::sandbox::DEFAULT_SPEED
    };
    // Real time that `sim_hours` simulated hours take, within sane bounds.
    let real = |sim_hours: f64, min_ms: u64| {
        Duration::from_secs_f64(sim_hours * 3600.0 / speed)
            .clamp(Duration::from_millis(min_ms), Duration::from_secs(300))
    };
    SourcesConfig {
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(2),
        max_retries: 3,
        retry_base_delay: Duration::from_millis(200),
        retry_max_delay: Duration::from_secs(5),
        twitter: TwitterConfig {
            enabled: true,
            bearer_token_env: TOKEN_ENV.into(),
            base_url: base_url.into(),
            track: Track {
                top: Some(20),
                assets: vec![],
            },
            languages: vec!["en".into()],
            max_results: 100,
            max_pages_per_round: 10,
            poll_interval: real(3.0, 250),
            usage_cap_pause: Duration::from_secs(60),
            budget: Budget::new(1500, Duration::from_secs(900)),
        },
        reddit: RedditConfig {
            enabled: true,
            client_id_env: TOKEN_ENV.into(),
            client_secret_env: TOKEN_ENV.into(),
            username: None,
            auth_url: base_url.into(),
            base_url: base_url.into(),
            subreddits: vec![
                "CryptoCurrency".into(),
                "Bitcoin".into(),
                "ethereum".into(),
                "CryptoMarkets".into(),
            ],
            submissions: true,
            comments: true,
            max_pages_per_round: 10,
            poll_interval: real(3.0, 250),
            anchor_max_age: Duration::from_secs(600),
            budget: Budget::new(900, Duration::from_secs(60)),
        },
        coingecko: CoingeckoConfig {
            enabled: true,
            api_key_env: None,
            base_url: Some(base_url.into()),
            vs_currency: "usd".into(),
            current: Current::Markets,
            track: Track {
                top: None,
                assets: vec!["bitcoin".into(), "ethereum".into()],
            },
            backfill_days: 2,
            poll_interval: real(0.4, 100),
            budget: Budget::new(1200, Duration::from_secs(60)),
            // The sandbox replays Binance closes: store and credit them as such, not as CoinGecko's.
            price_source: "binance-replay".into(),
            ..CoingeckoConfig::default()
        },
        ..SourcesConfig::default()
    }
}

/// `config` with its sources replaced by [`sandbox_sources`]; everything else is kept.
pub fn point_at_sandbox(config: &Config, base_url: &str, speed: f64) -> Config {
    let mut c = config.clone();
    c.sources = sandbox_sources(base_url, speed);
    c
}

/// `[sources.jetstream]` streaming from the sandbox's WebSocket at `url`.
pub fn sandbox_jetstream(url: &str) -> crate::collect::jetstream::JetstreamConfig {
    crate::collect::jetstream::JetstreamConfig {
        enabled: true,
        url: vec![url.into()],
        ..Default::default()
    }
}

/// The credentials the collectors are built with against the sandbox: [`TOKEN_ENV`] resolves to
/// [`TOKEN_VALUE`], other names to the environment.
pub fn sandbox_secrets() -> Secrets {
    Secrets::from_env().with(TOKEN_ENV, TOKEN_VALUE.into())
}

/// The assets the generator writes about, as registry entries (CoinGecko ids, 2021 ranks), for
/// callers whose asset registry lacks them.
pub fn demo_assets() -> Vec<Asset> {
    [
        ("bitcoin", "BTC", "Bitcoin", 1),
        ("ethereum", "ETH", "Ethereum", 2),
        ("cardano", "ADA", "Cardano", 5),
        ("dogecoin", "DOGE", "Dogecoin", 6),
        ("ripple", "XRP", "XRP", 7),
        ("solana", "SOL", "Solana", 9),
        ("chainlink", "LINK", "Chainlink", 14),
    ]
    .into_iter()
    .map(|(id, symbol, name, rank)| Asset {
        id: id.into(),
        symbol: symbol.into(),
        name: name.into(),
        aliases: vec![],
        rank: Some(rank),
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_sources_pass_the_config_checks() {
        let s = sandbox_sources("http://127.0.0.1:1234", 7200.0);
        s.check().unwrap();
        assert_eq!(s.enabled("twitter"), Some(true));
        assert_eq!(s.enabled("youtube"), Some(false));
        // At least two CoinGecko polls per simulated hour.
        assert!(s.coingecko.poll_interval <= Duration::from_secs_f64(3600.0 / 7200.0 / 2.0));
    }
}
