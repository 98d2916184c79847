//! Rate limits: what the APIs' own headers say, and the budget we configure on top.
//!
//! Every API spells its limits differently. Twitter sends `x-rate-limit-reset` as an epoch, Reddit
//! sends `x-ratelimit-reset` as seconds to go with a float `x-ratelimit-remaining`, Mastodon sends the
//! reset as an ISO-8601 time and Bluesky uses the IETF draft's `RateLimit-*`. [`parse_headers`] reads
//! all of them into one [`RateLimit`]; a reset value is told apart by its shape (an RFC 3339 time, an
//! epoch in seconds, or a small number of seconds). [`RequestBudget`] is the configured ceiling,
//! a sliding window over `tokio::time::Instant` so that tests can pause time.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use serde::Deserialize;
use tokio::time::Instant;

/// What a response said about the caller's remaining allowance.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RateLimit {
    pub limit: Option<f64>,
    pub remaining: Option<f64>,
    /// Time until the window resets, from the moment the response was read.
    pub reset_in: Option<Duration>,
}

impl RateLimit {
    /// True when the window is used up (Reddit counts in fractions, so "less than one" is empty).
    pub fn exhausted(&self) -> bool {
        self.remaining.is_some_and(|r| r < 1.0)
    }
}

const FAMILIES: [&str; 3] = ["x-rate-limit-", "x-ratelimit-", "ratelimit-"];

/// Reads the rate-limit headers of any of the known conventions. `None` when there are none.
pub fn parse_headers(headers: &HeaderMap, now: DateTime<Utc>) -> Option<RateLimit> {
    for prefix in FAMILIES {
        let get = |name: &str| {
            headers
                .get(format!("{prefix}{name}"))
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let remaining = get("remaining").and_then(|v| v.parse::<f64>().ok());
        let reset_in = get("reset").and_then(|v| parse_reset(v, now));
        if remaining.is_none() && reset_in.is_none() {
            continue;
        }
        let limit = get("limit").and_then(|v| {
            // Some servers append a policy (`100, 100;w=60`); the first number is the limit.
            v.split([',', ';']).next()?.trim().parse::<f64>().ok()
        });
        return Some(RateLimit {
            limit,
            remaining,
            reset_in,
        });
    }
    None
}

/// The longest wait a rate-limit header is believed: a server saying "come back in a million years"
/// (or more than `Instant` can add) pauses the source for this long instead.
pub const MAX_WAIT: Duration = Duration::from_secs(7 * 86_400);

/// A reset value: epoch seconds (Twitter, Bluesky), seconds to go (Reddit) or an ISO-8601 time
/// (Mastodon). Numbers above 10^9 cannot be "seconds to go" (that is 31 years), so they are epochs.
/// At most [`MAX_WAIT`].
pub fn parse_reset(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    if let Ok(n) = value.parse::<f64>() {
        if !n.is_finite() || n < 0.0 {
            return None;
        }
        let secs = if n > 1e9 {
            (n - now.timestamp_millis() as f64 / 1000.0).max(0.0)
        } else {
            n
        };
        return Some(Duration::try_from_secs_f64(secs).map_or(MAX_WAIT, |d| d.min(MAX_WAIT)));
    }
    let at = DateTime::parse_from_rfc3339(value)
        .or_else(|_| DateTime::parse_from_rfc2822(value))
        .ok()?;
    Some(
        (at.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(MAX_WAIT),
    )
}

/// `Retry-After`: delta seconds or an HTTP date. At most [`MAX_WAIT`].
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_WAIT));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(MAX_WAIT),
    )
}

/// A configured request budget: at most `requests` per `per` (`budget = { requests = 90, per = "1m" }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    pub requests: u32,
    #[serde(with = "humantime_serde")]
    pub per: Duration,
}

impl Budget {
    pub const fn new(requests: u32, per: Duration) -> Self {
        Budget { requests, per }
    }

    pub(crate) fn check(&self, key: &str) -> Result<(), String> {
        if self.requests == 0 || self.per.is_zero() {
            return Err(format!(
                "invalid value for key `{key}`: requests and per must both be more than zero"
            ));
        }
        Ok(())
    }
}

/// Sliding-window enforcement of a [`Budget`].
#[derive(Debug)]
pub struct RequestBudget {
    budget: Budget,
    sent: VecDeque<Instant>,
}

impl RequestBudget {
    pub fn new(budget: Budget) -> Self {
        RequestBudget {
            budget,
            sent: VecDeque::new(),
        }
    }

    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// How long until one more request fits; zero when it fits now.
    pub fn wait(&mut self) -> Duration {
        let now = Instant::now();
        while let Some(&first) = self.sent.front() {
            if now.duration_since(first) >= self.budget.per {
                self.sent.pop_front();
            } else {
                break;
            }
        }
        if (self.sent.len() as u64) < u64::from(self.budget.requests) {
            return Duration::ZERO;
        }
        let oldest = *self.sent.front().expect("full window is not empty");
        (oldest + self.budget.per).saturating_duration_since(now)
    }

    /// Counts one request sent now.
    pub fn record(&mut self) {
        self.sent.push_back(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// Found by `tests/collect/fuzz.rs`: `ratelimit-reset: 782542622270656204454` panicked in
    /// `Duration::from_secs_f64`, and a huge `Retry-After` overflowed `Instant` later.
    #[test]
    fn absurd_waits_are_capped_not_a_panic() {
        let now = Utc::now();
        assert_eq!(parse_reset("782542622270656204454", now), Some(MAX_WAIT));
        assert_eq!(parse_reset("1e300", now), Some(MAX_WAIT));
        assert_eq!(parse_reset("30", now), Some(Duration::from_secs(30)));
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "18446744073709551615".parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(MAX_WAIT));
    }

    #[test]
    fn twitter_epoch_reset() {
        let h = headers(&[
            ("x-rate-limit-limit", "450"),
            ("x-rate-limit-remaining", "0"),
            ("x-rate-limit-reset", "1665183229"),
        ]);
        let rl = parse_headers(&h, at("2022-10-07T22:43:19Z")).unwrap();
        assert_eq!(rl.limit, Some(450.0));
        assert!(rl.exhausted());
        assert_eq!(rl.reset_in, Some(Duration::from_secs(630)));
    }

    #[test]
    fn reddit_float_remaining_and_seconds_reset() {
        let h = headers(&[
            ("X-Ratelimit-Remaining", "0.4"),
            ("X-Ratelimit-Reset", "525"),
            ("X-Ratelimit-Used", "600"),
        ]);
        let rl = parse_headers(&h, Utc::now()).unwrap();
        assert!(rl.exhausted());
        assert_eq!(rl.reset_in, Some(Duration::from_secs(525)));
        let h = headers(&[("x-ratelimit-remaining", "599.0")]);
        assert!(!parse_headers(&h, Utc::now()).unwrap().exhausted());
    }

    #[test]
    fn mastodon_iso_reset() {
        let h = headers(&[
            ("x-ratelimit-remaining", "299"),
            ("x-ratelimit-reset", "2026-08-01T14:00:00.070144Z"),
        ]);
        let rl = parse_headers(&h, at("2026-08-01T13:55:00Z")).unwrap();
        assert_eq!(rl.reset_in.unwrap().as_secs(), 300);
    }

    #[test]
    fn bluesky_ietf_headers_with_policy() {
        let h = headers(&[
            ("RateLimit-Limit", "3000"),
            ("RateLimit-Remaining", "2983"),
            ("RateLimit-Reset", "1747676784"),
            ("RateLimit-Policy", "3000;w=300"),
        ]);
        let rl = parse_headers(&h, at("2025-05-19T17:41:36Z")).unwrap();
        assert_eq!(rl.limit, Some(3000.0));
        assert_eq!(rl.remaining, Some(2983.0));
        assert_eq!(
            rl.reset_in,
            Some(Duration::from_secs(1747676784 - 1747676496))
        );
    }

    #[test]
    fn no_headers_no_limit() {
        assert_eq!(parse_headers(&HeaderMap::new(), Utc::now()), None);
    }

    #[test]
    fn retry_after_seconds_and_date() {
        let now = at("2024-01-01T00:00:00Z");
        assert_eq!(
            retry_after(&headers(&[("retry-after", "4")]), now),
            Some(Duration::from_secs(4))
        );
        assert_eq!(
            retry_after(
                &headers(&[("Retry-After", "Mon, 01 Jan 2024 00:01:00 GMT")]),
                now
            ),
            Some(Duration::from_secs(60))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
    }

    /// The budget is measured on tokio's clock, so pausing it makes a 15-minute window instant.
    #[tokio::test(start_paused = true)]
    async fn budget_window_slides() {
        let mut budget = RequestBudget::new(Budget::new(2, Duration::from_secs(900)));
        assert_eq!(budget.wait(), Duration::ZERO);
        budget.record();
        tokio::time::advance(Duration::from_secs(100)).await;
        budget.record();
        assert_eq!(budget.wait(), Duration::from_secs(800));
        tokio::time::advance(Duration::from_secs(800)).await;
        assert_eq!(budget.wait(), Duration::ZERO);
        budget.record();
        assert_eq!(budget.wait(), Duration::from_secs(100));
    }
}
