//! The one retry delay policy: exponential backoff with jitter.
//!
//! Everything that retries (an API request, a streaming connection, a batch commit while the database
//! is away, an alert delivery) waits `d = base · 2^attempt`, capped at `max`, and then a random
//! amount between `d/2` and `d` ("equal jitter"). The doubling keeps a failing peer from being
//! hammered; the jitter keeps many sources that failed together (the database restarted, the
//! network came back) from retrying in lockstep; the lower half keeps the wait from collapsing to
//! nothing, which full jitter (`0..d`) allows.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait before the first retry (before jitter).
    pub base: Duration,
    /// No wait is longer than this.
    pub max: Duration,
}

impl Backoff {
    pub const fn new(base: Duration, max: Duration) -> Backoff {
        Backoff { base, max }
    }

    /// The wait before retry number `attempt` (0 for the first): in `[d/2, d]`,
    /// `d = min(base · 2^attempt, max)`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let d = self
            .base
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.max);
        d / 2 + d.mul_f64(fastrand::f64() / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_within_its_jitter_band_and_stops_at_the_cap() {
        let b = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        for attempt in 0..40 {
            let d = Duration::from_millis(500)
                .saturating_mul(1 << attempt.min(20))
                .min(Duration::from_secs(30));
            for _ in 0..50 {
                let wait = b.delay(attempt);
                assert!(
                    wait >= d / 2 && wait <= d,
                    "{attempt}: {wait:?} not in [{:?}, {d:?}]",
                    d / 2
                );
            }
        }
        assert!(b.delay(u32::MAX) <= Duration::from_secs(30));
    }

    #[test]
    fn waits_spread_out() {
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let waits: std::collections::BTreeSet<Duration> = (0..20).map(|_| b.delay(3)).collect();
        assert!(waits.len() > 10, "{waits:?}");
    }
}
