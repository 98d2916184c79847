//! The price history the demo replays: Binance hourly BTC/USDT and ETH/USDT candles, 2017-09 … 2021-06.
//!
//! The shipped CSV (`data/prices/binance_btc_eth_hourly.csv`) is embedded in the binary, so an
//! installed `coinpulse` needs no data directory, and parsed once on first use. Two views are kept:
//! the candles as the exchange recorded them (hours missing at the exchange stay missing), which the
//! sandbox serves as prices, and a dense hourly grid of closes (a missing hour repeats the previous
//! close) which the post generator reads returns from. Price data: Binance, via CryptoDataDownload.

use std::sync::OnceLock;

use chrono::{DateTime, TimeZone, Utc};

const CSV: &str = include_str!("../../data/prices/binance_btc_eth_hourly.csv");

/// The assets with a price history, as `(symbol, CoinGecko id, name)`.
pub const PRICED: [(&str, &str, &str); 2] = [
    ("BTC", "bitcoin", "Bitcoin"),
    ("ETH", "ethereum", "Ethereum"),
];

/// One hourly candle. `close_time` is the end of the hour: the moment the close was known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candle {
    pub open_time: DateTime<Utc>,
    pub close: f64,
    /// Quote volume (USDT) traded in the hour.
    pub volume_quote: f64,
}

impl Candle {
    pub fn close_time(&self) -> DateTime<Utc> {
        self.open_time + chrono::Duration::hours(1)
    }
}

/// The parsed history of both assets.
#[derive(Debug)]
pub struct History {
    /// Per asset in [`PRICED`] order, sorted by time.
    candles: [Vec<Candle>; 2],
    /// Open time of grid hour 0 (the first hour either asset has).
    grid_start: DateTime<Utc>,
    /// Per asset, one close per hour from `grid_start`, missing hours forward-filled.
    grid: [Vec<f64>; 2],
    mean_abs: [f64; 2],
}

/// An error in the embedded price file, naming the line.
#[derive(Debug, thiserror::Error)]
#[error("embedded price history, line {line}: {message}")]
pub struct PriceFileError {
    pub line: usize,
    pub message: String,
}

/// The embedded history, parsed on first use.
pub fn history() -> &'static History {
    static HISTORY: OnceLock<History> = OnceLock::new();
    HISTORY.get_or_init(|| {
        // The file ships with the binary and is checked by the tests; a failure here is a build defect.
        History::parse(CSV).unwrap_or_else(|e| panic!("{e}"))
    })
}

/// Index of `symbol` (`BTC`, `ETH`, case-insensitive) or CoinGecko id in [`PRICED`].
pub fn asset_index(key: &str) -> Option<usize> {
    PRICED
        .iter()
        .position(|(sym, id, _)| sym.eq_ignore_ascii_case(key) || id.eq_ignore_ascii_case(key))
}

impl History {
    /// Parses the `symbol,pair,open_time_utc,open,high,low,close,volume_base,volume_quote` layout.
    pub fn parse(text: &str) -> Result<History, PriceFileError> {
        let mut candles: [Vec<Candle>; 2] = [Vec::new(), Vec::new()];
        for (i, line) in text.lines().enumerate().skip(1) {
            let n = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            let err = |message: String| PriceFileError { line: n, message };
            let cols: Vec<&str> = line.split(',').collect();
            if cols.len() != 9 {
                return Err(err(format!("expected 9 columns, found {}", cols.len())));
            }
            let Some(asset) = asset_index(cols[0]) else {
                return Err(err(format!("unknown symbol `{}`", cols[0])));
            };
            let open_time: DateTime<Utc> = cols[2]
                .parse()
                .map_err(|e| err(format!("column open_time_utc: `{}`: {e}", cols[2])))?;
            let num = |col: usize, name: &str| {
                cols[col]
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| err(format!("column {name}: `{}` is not a price", cols[col])))
            };
            let close = num(6, "close")?;
            // One candle in the export lacks its quote volume; base volume times close stands in.
            let volume_quote = if cols[8].trim().is_empty() {
                num(7, "volume_base")? * close
            } else {
                num(8, "volume_quote")?
            };
            candles[asset].push(Candle {
                open_time,
                close,
                volume_quote,
            });
        }
        for c in &mut candles {
            c.sort_by_key(|c| c.open_time);
            c.dedup_by_key(|c| c.open_time);
        }
        let grid_start = candles
            .iter()
            .filter_map(|c| c.first().map(|c| c.open_time))
            .min()
            .ok_or(PriceFileError {
                line: 1,
                message: "no candles".into(),
            })?;
        let grid_end = candles
            .iter()
            .filter_map(|c| c.last().map(|c| c.open_time))
            .max()
            .expect("non-empty");
        let hours = ((grid_end - grid_start).num_hours() + 1) as usize;
        let grid = [0, 1].map(|a| {
            let mut out = Vec::with_capacity(hours);
            let mut it = candles[a].iter().peekable();
            let mut last = candles[a].first().map(|c| c.close).unwrap_or(f64::NAN);
            for h in 0..hours {
                let t = grid_start + chrono::Duration::hours(h as i64);
                while let Some(c) = it.peek() {
                    if c.open_time > t {
                        break;
                    }
                    last = c.close;
                    it.next();
                }
                out.push(last);
            }
            out
        });
        let mean_abs = [0, 1].map(|a| {
            let g = &grid[a];
            let sum: f64 = g.windows(2).map(|w| (w[1] / w[0]).ln().abs()).sum();
            sum / (g.len().saturating_sub(1)).max(1) as f64
        });
        Ok(History {
            candles,
            grid_start,
            grid,
            mean_abs,
        })
    }

    /// First and last hour (open times) of the history.
    /// Every candle as a price point stamped at its open time, the layout `coinpulse import
    /// --format prices-csv` stores, credited to Binance.
    pub fn price_points(&self) -> Vec<crate::model::PricePoint> {
        let mut points = Vec::new();
        for (asset, candles) in self.candles.iter().enumerate() {
            let id = PRICED[asset].1;
            points.extend(candles.iter().map(|c| crate::model::PricePoint {
                asset: id.to_string(),
                time: c.open_time,
                price: c.close,
                volume: Some(c.volume_quote),
                source: "binance".into(),
            }));
        }
        points
    }

    pub fn span(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let len = self.grid[0].len() as i64;
        (
            self.grid_start,
            self.grid_start + chrono::Duration::hours(len - 1),
        )
    }

    /// Grid index of the hour containing `t` (may be out of range).
    pub fn hour_index(&self, t: DateTime<Utc>) -> i64 {
        (t - self.grid_start).num_seconds().div_euclid(3600)
    }

    /// Open time of grid hour `h`.
    pub fn hour_start(&self, h: i64) -> DateTime<Utc> {
        self.grid_start + chrono::Duration::hours(h)
    }

    /// Close of grid hour `h`, clamped to the history's ends.
    pub fn close(&self, asset: usize, h: i64) -> f64 {
        let g = &self.grid[asset];
        g[h.clamp(0, g.len() as i64 - 1) as usize]
    }

    /// Log return of grid hour `h` (its close over the previous hour's close); 0 outside the history.
    pub fn log_return(&self, asset: usize, h: i64) -> f64 {
        let len = self.grid[asset].len() as i64;
        if h < 1 || h >= len {
            return 0.0;
        }
        (self.close(asset, h) / self.close(asset, h - 1)).ln()
    }

    /// Mean absolute hourly log return over the whole history: the yardstick for "a big move".
    pub fn mean_abs_return(&self, asset: usize) -> f64 {
        self.mean_abs[asset]
    }

    /// The candles of `asset` whose close is known at `now` and not before `since`, oldest first.
    pub fn closed_between(
        &self,
        asset: usize,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> &[Candle] {
        let c = &self.candles[asset];
        let lo = c.partition_point(|c| c.close_time() < since);
        let hi = c.partition_point(|c| c.close_time() <= now);
        &c[lo.min(hi)..hi]
    }

    /// The latest candle of `asset` closed at `now`, if any.
    pub fn latest(&self, asset: usize, now: DateTime<Utc>) -> Option<&Candle> {
        let c = &self.candles[asset];
        let hi = c.partition_point(|c| c.close_time() <= now);
        hi.checked_sub(1).map(|i| &c[i])
    }

    /// Quote volume of the 24 hours ending at `candle`'s close.
    pub fn volume_24h(&self, asset: usize, at: DateTime<Utc>) -> f64 {
        self.closed_between(
            asset,
            at - chrono::Duration::hours(24) + chrono::Duration::seconds(1),
            at,
        )
        .iter()
        .map(|c| c.volume_quote)
        .sum()
    }
}

/// `2021-01-01` or an RFC 3339 time, as UTC.
pub fn parse_start(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = s.parse::<DateTime<Utc>>() {
        return Ok(t);
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight")))
        .map_err(|_| format!("`{s}` is neither a date (2021-01-01) nor an RFC 3339 time"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_history_spans_the_documented_range() {
        let h = history();
        let (first, last) = h.span();
        assert_eq!(first.to_rfc3339(), "2017-09-21T00:00:00+00:00");
        assert_eq!(last.to_rfc3339(), "2021-06-10T00:00:00+00:00");
        assert!(h.candles[0].len() > 30_000 && h.candles[1].len() > 30_000);
    }

    #[test]
    fn latest_close_is_the_hour_that_ended() {
        let h = history();
        let now: DateTime<Utc> = "2017-09-21T02:30:00Z".parse().unwrap();
        let c = h.latest(0, now).unwrap();
        // The 01:00 candle closed at 02:00; the 02:00 candle is still open at 02:30.
        assert_eq!(c.open_time.to_rfc3339(), "2017-09-21T01:00:00+00:00");
        assert_eq!(c.close, 3835.67);
    }

    #[test]
    fn bad_lines_are_named() {
        let text = "header\nBTC,BTC/USDT,2017-09-21T00:00:00Z,1,1,1,abc,1,1\n";
        let e = History::parse(text).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("close"), "{e}");
    }

    #[test]
    fn start_dates_parse() {
        assert_eq!(
            parse_start("2021-01-01").unwrap().to_rfc3339(),
            "2021-01-01T00:00:00+00:00"
        );
        assert!(parse_start("yesterday").is_err());
    }
}
