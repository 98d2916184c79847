//! Binance spot klines: closed candles of each tracked asset's USDT pair, paged forward by
//! `startTime`.
//!
//! A kline is emitted as one price point at its close time (close price, base volume). The newest row
//! of a klines answer is the candle still forming; rows whose close time is not yet past are ignored,
//! so the cursor (the open time of the last closed candle, per pair) never moves past a candle that
//! can still change. Binance limits by request weight per IP (`X-MBX-USED-WEIGHT-1M`); above 90 % of
//! `weight_limit` the source pauses to the next minute, and 429/418 honour `Retry-After`.
//!
//! Cursor: `{"klines": {"BTCUSDT": <open time ms of the last closed candle>}}`.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::http::{Http, HttpSettings};
use super::{Batch, BuildContext, SourceConfig, Budget, CollectError, Collector, Source, Track};
use crate::model::{Asset, PricePoint};

const SOURCE: &str = "binance";
const ENDPOINT: &str = "/api/v3/klines";
const INTERVALS: [&str; 16] = [
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w",
    "1M",
];

/// `[sources.binance]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BinanceConfig {
    pub enabled: bool,
    pub base_url: String,
    /// Kline interval, as Binance spells it (`1m`, `5m`, `1h`, ...).
    pub interval: String,
    /// Quote asset appended to the symbol when no explicit pair is configured.
    pub quote: String,
    /// Explicit pairs by CoinGecko id (`bitcoin = "BTCUSDT"`), overriding `<SYMBOL><quote>`.
    pub pairs: BTreeMap<String, String>,
    pub track: Track,
    /// How far back a pair without a cursor starts.
    #[serde(with = "humantime_serde")]
    pub backfill: Duration,
    /// Rows per request, 1–1000.
    pub limit: u32,
    pub max_pages_per_round: u32,
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// The IP's request-weight limit per minute.
    pub weight_limit: u32,
    pub budget: Budget,
}

impl Default for BinanceConfig {
    fn default() -> Self {
        BinanceConfig {
            enabled: false,
            base_url: "https://api.binance.com".into(),
            interval: "5m".into(),
            quote: "USDT".into(),
            pairs: BTreeMap::new(),
            track: Track {
                top: Some(20),
                assets: vec![],
            },
            backfill: Duration::from_secs(86_400),
            limit: 1000,
            max_pages_per_round: 5,
            poll_interval: Duration::from_secs(300),
            weight_limit: 6000,
            budget: Budget::new(300, Duration::from_secs(60)),
        }
    }
}

impl SourceConfig for BinanceConfig {
    const NAME: &'static str = SOURCE;

    fn enabled(&self) -> bool {
        self.enabled
    }

    fn check(&self) -> Result<(), String> {
        super::check_url("sources.binance.base_url", &self.base_url)?;
        if !INTERVALS.contains(&self.interval.as_str()) {
            return Err(format!(
                "invalid value for key `sources.binance.interval`: `{}` (expected one of {})",
                self.interval,
                INTERVALS.join(", ")
            ));
        }
        if !(1..=1000).contains(&self.limit) {
            return Err("invalid value for key `sources.binance.limit`: must be 1 to 1000".into());
        }
        super::check_positive(
            "sources.binance.max_pages_per_round",
            self.max_pages_per_round.into(),
        )?;
        self.budget.check("sources.binance.budget")
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Collector>, CollectError> {
        let mut config = self.clone();
        config.base_url = ctx.url(&self.base_url);
        Ok(Box::new(BinanceCollector::new(
            &config,
            ctx.http.clone(),
            ctx.tracked,
        )?))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinanceCursor {
    #[serde(default)]
    pub klines: BTreeMap<String, i64>,
}

/// One parsed kline row.
#[derive(Debug, Clone, PartialEq)]
pub struct Kline {
    pub open_time: i64,
    pub close: f64,
    pub volume: f64,
    pub close_time: i64,
}

fn field_err(row: usize, col: usize, name: &str, msg: &str) -> CollectError {
    CollectError::transient(
        SOURCE,
        format!("malformed response from {ENDPOINT}: field `[{row}][{col}]` ({name}): {msg}"),
        Duration::from_secs(60),
    )
}

/// Parses the array-of-arrays answer; prices and volumes arrive as strings.
pub fn parse_klines(rows: &[serde_json::Value]) -> Result<Vec<Kline>, CollectError> {
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let cols = row
            .as_array()
            .ok_or_else(|| field_err(i, 0, "row", "not an array"))?;
        let int = |c: usize, name: &str| {
            cols.get(c)
                .and_then(|v| v.as_i64())
                .ok_or_else(|| field_err(i, c, name, "expected an integer"))
        };
        let num = |c: usize, name: &str| {
            cols.get(c)
                .and_then(|v| match v {
                    serde_json::Value::String(s) => s.parse::<f64>().ok(),
                    other => other.as_f64(),
                })
                .ok_or_else(|| field_err(i, c, name, "expected a decimal string"))
        };
        out.push(Kline {
            open_time: int(0, "open time")?,
            close: num(4, "close")?,
            volume: num(5, "volume")?,
            close_time: int(6, "close time")?,
        });
    }
    Ok(out)
}

pub struct BinanceCollector {
    http: Http,
    config: BinanceConfig,
    /// (CoinGecko id, pair symbol)
    pairs: Vec<(String, String)>,
    /// Pairs Binance said do not exist; skipped until restart.
    invalid: HashSet<String>,
}

impl BinanceCollector {
    pub fn new(
        config: &BinanceConfig,
        http: HttpSettings,
        tracked: &[Asset],
    ) -> Result<Self, CollectError> {
        let pairs: Vec<(String, String)> = config
            .track
            .select(tracked)
            .into_iter()
            .map(|a| {
                let pair = config.pairs.get(&a.id).cloned().unwrap_or_else(|| {
                    format!("{}{}", a.symbol.to_ascii_uppercase(), config.quote)
                });
                (a.id, pair)
            })
            .collect();
        if pairs.is_empty() {
            return Err(CollectError::fatal(
                SOURCE,
                "no tracked assets (check `sources.binance.track`)",
            ));
        }
        Ok(BinanceCollector {
            http: Http::new(
                SOURCE,
                http,
                Some(config.budget),
                "public market data needs no key; check `sources.binance.base_url` (Binance blocks some regions)",
            )?,
            config: config.clone(),
            pairs,
            invalid: HashSet::new(),
        })
    }

    /// One page of klines from `start` (ms).
    async fn page(&mut self, pair: &str, start: i64) -> Result<Option<Vec<Kline>>, CollectError> {
        let url = format!("{}{ENDPOINT}", self.config.base_url.trim_end_matches('/'));
        let params = [
            ("symbol", pair.to_owned()),
            ("interval", self.config.interval.clone()),
            ("startTime", start.to_string()),
            ("limit", self.config.limit.to_string()),
        ];
        let reply = self
            .http
            .send(ENDPOINT, |c| c.get(&url).query(&params))
            .await?;
        if let Some(used) = reply
            .headers
            .get("x-mbx-used-weight-1m")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u32>().ok())
            && u64::from(used) * 10 >= u64::from(self.config.weight_limit) * 9
        {
            let now = self.http.now();
            let to_next_minute = 60_000 - now.timestamp_millis().rem_euclid(60_000);
            let wait = Duration::from_millis(to_next_minute as u64 + 500);
            tracing::info!(
                source = SOURCE,
                used,
                limit = self.config.weight_limit,
                "Request weight near the limit, pausing to the next minute."
            );
            self.http.block_for(wait);
        }
        if reply.status.as_u16() == 400 {
            let code = serde_json::from_slice::<serde_json::Value>(&reply.body)
                .ok()
                .and_then(|v| v.get("code").and_then(|c| c.as_i64()));
            if code == Some(-1121) {
                tracing::warn!(
                    source = SOURCE,
                    pair,
                    "Binance does not list this pair; skipping it (set `sources.binance.pairs`)."
                );
                return Ok(None);
            }
        }
        let reply = self.http.check(reply)?;
        let rows: Vec<serde_json::Value> = reply.json(SOURCE)?;
        Ok(Some(parse_klines(&rows)?))
    }
}

#[async_trait::async_trait]
impl Source for BinanceCollector {
    const NAME: &'static str = SOURCE;
    type Cursor = BinanceCursor;

    async fn poll(
        &mut self,
        cursor: Option<Self::Cursor>,
    ) -> Result<Batch<Self::Cursor>, CollectError> {
        let mut state = cursor.unwrap_or_default();
        let mut prices = Vec::new();
        let mut more = false;
        let mut stopped = None;
        'pairs: for (id, pair) in self.pairs.clone() {
            if self.invalid.contains(&pair) {
                continue;
            }
            for _ in 0..self.config.max_pages_per_round {
                let now_ms = self.http.now().timestamp_millis();
                let start = match state.klines.get(&pair) {
                    Some(last) => last + 1,
                    None => now_ms - self.config.backfill.as_millis() as i64,
                };
                let rows = match self.page(&pair, start).await {
                    Ok(Some(rows)) => rows,
                    Ok(None) => {
                        self.invalid.insert(pair.clone());
                        continue 'pairs;
                    }
                    Err(e) if e.is_fatal() => return Err(e),
                    Err(e) => {
                        stopped = Some(e);
                        break 'pairs;
                    }
                };
                let full = rows.len() as u32 >= self.config.limit;
                let mut took_any = false;
                for k in rows {
                    if k.close_time >= now_ms {
                        // Still forming.
                        continue;
                    }
                    if state
                        .klines
                        .get(&pair)
                        .is_some_and(|&last| k.open_time <= last)
                    {
                        continue;
                    }
                    state.klines.insert(pair.clone(), k.open_time);
                    took_any = true;
                    if let Some(time) = Utc.timestamp_millis_opt(k.close_time + 1).single() {
                        prices.push(PricePoint {
                            asset: id.clone(),
                            time,
                            price: k.close,
                            volume: Some(k.volume),
                            source: SOURCE.into(),
                        });
                    }
                }
                if !full || !took_any {
                    continue 'pairs;
                }
            }
            more = true;
        }
        let mut next_poll_in = if more {
            Duration::ZERO
        } else {
            self.config.poll_interval
        };
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
