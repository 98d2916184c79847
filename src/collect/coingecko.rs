//! CoinGecko prices: a current snapshot of every tracked asset in one request, and a one-time
//! backfill per asset from `/coins/{id}/market_chart`.
//!
//! Assets are CoinGecko ids already, so no mapping is needed. The free (demo) plan allows about 30
//! calls a minute and 10,000 a month: one `/coins/markets` call every five minutes is 8,640 a month,
//! whatever the number of assets. A demo key goes in the `x-cg-demo-api-key` header, a pro key in
//! `x-cg-pro-api-key` against the pro host. CoinGecko has been seen answering its rate-limit error
//! with HTTP 200, so the body is checked for it too. Data provided by CoinGecko.
//!
//! Cursor: `{"assets": {"bitcoin": <ms of the newest point emitted>}}`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::http::{Http, HttpSettings, parse_item};
use super::{Batch, BuildContext, SourceConfig, Budget, CollectError, Collector, Source, Track};
use crate::model::{Asset, PricePoint};

const SOURCE: &str = "coingecko";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// Keyless or demo key: api.coingecko.com.
    #[default]
    Demo,
    Pro,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Current {
    /// `/coins/markets`: price, volume and the time CoinGecko last updated it.
    #[default]
    Markets,
    /// `/simple/price`: the lightest call.
    Simple,
}

/// `[sources.coingecko]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CoingeckoConfig {
    pub enabled: bool,
    /// Environment variable with a demo or pro key; unset means keyless.
    pub api_key_env: Option<String>,
    pub plan: Plan,
    /// Defaults to the plan's host.
    pub base_url: Option<String>,
    pub vs_currency: String,
    pub current: Current,
    pub track: Track,
    /// Days of history fetched once per asset that has no cursor yet (0 = none).
    pub backfill_days: u32,
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    pub budget: Budget,
    /// The `source` stored with each price. Prices are credited by it on charts ("Data provided
    /// by CoinGecko"), so a stand-in server replaying other data must name itself here.
    pub price_source: String,
}

impl Default for CoingeckoConfig {
    fn default() -> Self {
        CoingeckoConfig {
            enabled: false,
            api_key_env: None,
            plan: Plan::Demo,
            base_url: None,
            vs_currency: "usd".into(),
            current: Current::Markets,
            track: Track {
                top: Some(50),
                assets: vec![],
            },
            backfill_days: 1,
            poll_interval: Duration::from_secs(300),
            budget: Budget::new(30, Duration::from_secs(60)),
            price_source: SOURCE.into(),
        }
    }
}

impl SourceConfig for CoingeckoConfig {
    const NAME: &'static str = SOURCE;

    fn enabled(&self) -> bool {
        self.enabled
    }

    fn check(&self) -> Result<(), String> {
        if let Some(env) = &self.api_key_env {
            super::check_env_name("sources.coingecko.api_key_env", env)?;
        }
        if self.enabled && self.plan == Plan::Pro && self.api_key_env.is_none() {
            return Err(
                "missing value for key `sources.coingecko.api_key_env`: the pro plan needs a key"
                    .into(),
            );
        }
        if let Some(url) = &self.base_url {
            super::check_url("sources.coingecko.base_url", url)?;
        }
        if self.vs_currency.trim().is_empty() {
            return Err(
                "invalid value for key `sources.coingecko.vs_currency`: must not be empty".into(),
            );
        }
        self.budget.check("sources.coingecko.budget")
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Collector>, CollectError> {
        let mut config = self.clone();
        if let Some(url) = ctx.base_url {
            config.base_url = Some(url.to_owned());
        }
        let key = match &self.api_key_env {
            Some(var) => Some(ctx.secrets.require(
                SOURCE,
                "sources.coingecko.api_key_env",
                var,
            )?),
            None => None,
        };
        Ok(Box::new(CoingeckoCollector::new(
            &config,
            ctx.http.clone(),
            ctx.tracked,
            key,
        )?))
    }
}

impl CoingeckoConfig {
    fn base(&self) -> String {
        let url = self.base_url.clone().unwrap_or_else(|| match self.plan {
            Plan::Demo => "https://api.coingecko.com/api/v3".into(),
            Plan::Pro => "https://pro-api.coingecko.com/api/v3".into(),
        });
        url.trim_end_matches('/').to_owned()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoingeckoCursor {
    #[serde(default)]
    pub assets: BTreeMap<String, i64>,
}

#[derive(Debug, Deserialize)]
struct Market {
    id: String,
    current_price: Option<f64>,
    total_volume: Option<f64>,
    last_updated: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
struct Chart {
    prices: Vec<(f64, f64)>,
    #[serde(default)]
    total_volumes: Vec<(f64, f64)>,
}

pub struct CoingeckoCollector {
    http: Http,
    key: Option<SecretString>,
    config: CoingeckoConfig,
    assets: Vec<String>,
}

impl CoingeckoCollector {
    pub fn new(
        config: &CoingeckoConfig,
        http: HttpSettings,
        tracked: &[Asset],
        key: Option<SecretString>,
    ) -> Result<Self, CollectError> {
        if let Some(key) = &key {
            super::require_tls(SOURCE, "sources.coingecko.base_url", &config.base())?;
            super::redact::register_secret("coingecko.api_key", key);
        }
        let assets: Vec<String> = config
            .track
            .select(tracked)
            .into_iter()
            .map(|a| a.id)
            .collect();
        if assets.is_empty() {
            return Err(CollectError::fatal(
                SOURCE,
                "no tracked assets (check `sources.coingecko.track`)",
            ));
        }
        let hint = format!(
            "check the API key in {} (`sources.coingecko.api_key_env`) and that `sources.coingecko.plan` matches it",
            config.api_key_env.as_deref().unwrap_or("(none)")
        );
        Ok(CoingeckoCollector {
            http: Http::new(SOURCE, http, Some(config.budget), hint)?,
            key,
            config: config.clone(),
            assets,
        })
    }

    async fn get(
        &mut self,
        endpoint: &str,
        path: &str,
        params: Vec<(&str, String)>,
    ) -> Result<serde_json::Value, CollectError> {
        let url = format!("{}{path}", self.config.base());
        let key = self.key.clone();
        let header = match self.config.plan {
            Plan::Demo => "x-cg-demo-api-key",
            Plan::Pro => "x-cg-pro-api-key",
        };
        let reply = self
            .http
            .send(endpoint, |c| {
                let mut r = c.get(&url).query(&params);
                if let Some(k) = &key {
                    r = r.header(header, k.expose_secret());
                }
                r
            })
            .await?;
        let reply = self.http.check(reply)?;
        let value: serde_json::Value = reply.json(SOURCE)?;
        // The rate-limit error, sometimes sent with HTTP 200.
        if let Some(code) = value.pointer("/status/error_code").and_then(|c| c.as_i64()) {
            let wait = super::ratelimit::retry_after(&reply.headers, self.http.now())
                .unwrap_or(Duration::from_secs(60));
            if code == 429 {
                self.http.block_for(wait);
                return Err(CollectError::rate_limited(
                    SOURCE,
                    format!(
                        "{endpoint} reported error 429 in its body; retrying in {}s",
                        wait.as_secs()
                    ),
                    wait,
                ));
            }
            return Err(CollectError::transient(
                SOURCE,
                format!("{endpoint} reported error {code}: {}", reply.snippet()),
                Duration::from_secs(300),
            ));
        }
        Ok(value)
    }

    async fn backfill(&mut self, id: &str) -> Result<Vec<PricePoint>, CollectError> {
        let endpoint = "/coins/{id}/market_chart";
        let value = self
            .get(
                endpoint,
                &format!("/coins/{id}/market_chart"),
                vec![
                    ("vs_currency", self.config.vs_currency.clone()),
                    ("days", self.config.backfill_days.to_string()),
                ],
            )
            .await?;
        let chart: Chart = parse_item(SOURCE, endpoint, "", &value)?;
        Ok(chart_points(id, &chart, &self.config.price_source))
    }

    async fn current(&mut self) -> Result<Vec<PricePoint>, CollectError> {
        let ids = self.assets.join(",");
        let vs = self.config.vs_currency.clone();
        match self.config.current {
            Current::Markets => {
                let endpoint = "/coins/markets";
                let value = self
                    .get(
                        endpoint,
                        endpoint,
                        vec![
                            ("vs_currency", vs),
                            ("ids", ids),
                            ("per_page", "250".into()),
                        ],
                    )
                    .await?;
                let rows: Vec<Market> = parse_item(SOURCE, endpoint, "", &value)?;
                let now = self.http.now();
                Ok(rows
                    .into_iter()
                    .filter_map(|m| {
                        Some(PricePoint {
                            asset: m.id,
                            time: m.last_updated.unwrap_or(now),
                            price: m.current_price?,
                            volume: m.total_volume,
                            source: self.config.price_source.clone(),
                        })
                    })
                    .collect())
            }
            Current::Simple => {
                let endpoint = "/simple/price";
                let value = self
                    .get(
                        endpoint,
                        endpoint,
                        vec![
                            ("ids", ids),
                            ("vs_currencies", vs.clone()),
                            ("include_24hr_vol", "true".into()),
                            ("include_last_updated_at", "true".into()),
                        ],
                    )
                    .await?;
                let map: BTreeMap<String, BTreeMap<String, Option<f64>>> =
                    parse_item(SOURCE, endpoint, "", &value)?;
                let now = self.http.now();
                Ok(map
                    .into_iter()
                    .filter_map(|(id, fields)| {
                        let price = (*fields.get(&vs)?)?;
                        let time = fields
                            .get("last_updated_at")
                            .copied()
                            .flatten()
                            .and_then(|t| Utc.timestamp_opt(t as i64, 0).single())
                            .unwrap_or(now);
                        Some(PricePoint {
                            asset: id,
                            time,
                            price,
                            volume: fields.get(&format!("{vs}_24h_vol")).copied().flatten(),
                            source: self.config.price_source.clone(),
                        })
                    })
                    .collect())
            }
        }
    }
}

/// `[ms, price]` pairs, with the volume of the same timestamp when there is one.
fn chart_points(id: &str, chart: &Chart, source: &str) -> Vec<PricePoint> {
    let volumes: BTreeMap<i64, f64> = chart
        .total_volumes
        .iter()
        .map(|(t, v)| (*t as i64, *v))
        .collect();
    chart
        .prices
        .iter()
        .filter_map(|(t, p)| {
            let ms = *t as i64;
            Some(PricePoint {
                asset: id.to_owned(),
                time: Utc.timestamp_millis_opt(ms).single()?,
                price: *p,
                volume: volumes.get(&ms).copied(),
                source: source.to_string(),
            })
        })
        .collect()
}

#[async_trait::async_trait]
impl Source for CoingeckoCollector {
    const NAME: &'static str = SOURCE;
    type Cursor = CoingeckoCursor;

    async fn poll(
        &mut self,
        cursor: Option<Self::Cursor>,
    ) -> Result<Batch<Self::Cursor>, CollectError> {
        let mut state = cursor.unwrap_or_default();
        let mut prices = Vec::new();
        let mut stopped = None;
        if self.config.backfill_days > 0 {
            for id in self.assets.clone() {
                if state.assets.contains_key(&id) {
                    continue;
                }
                match self.backfill(&id).await {
                    Ok(points) => {
                        if let Some(last) = points.iter().map(|p| p.time.timestamp_millis()).max() {
                            state.assets.insert(id.clone(), last);
                        }
                        prices.extend(points);
                    }
                    Err(e) if e.is_fatal() => return Err(e),
                    Err(e) => {
                        stopped = Some(e);
                        break;
                    }
                }
            }
        }
        if stopped.is_none() {
            match self.current().await {
                Ok(points) => {
                    for p in points {
                        let ms = p.time.timestamp_millis();
                        if state.assets.get(&p.asset).is_some_and(|&last| ms <= last) {
                            continue;
                        }
                        state.assets.insert(p.asset.clone(), ms);
                        prices.push(p);
                    }
                }
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => stopped = Some(e),
            }
        }
        let mut next_poll_in = self.config.poll_interval;
        if let Some(e) = stopped {
            if prices.is_empty() {
                return Err(e);
            }
            next_poll_in = e.retry_in().unwrap_or(next_poll_in);
        }
        Ok(Batch {
            posts: vec![],
            prices,
            cursor: Some(state),
            next_poll_in: next_poll_in.max(self.http.pause_remaining()),
            ..Default::default()
        })
    }
}
