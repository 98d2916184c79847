//! The sandbox's simulated clock.
//!
//! A running clock maps real time to simulated time at a fixed speed (simulated seconds per real
//! second). It can hold at `sim_start` until the first request arrives, so that the daemon's start-up
//! (starting the database, loading the model) does not eat into the replay and the collectors' first
//! rounds find the feed's opening posts rather than a backlog. A manual clock moves only when told,
//! which lets tests walk through simulated days without sleeping.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use chrono::{DateTime, Utc};

/// How simulated time moves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClockMode {
    /// `speed` simulated seconds pass per real second.
    Running {
        speed: f64,
        /// Hold at the start until the first request reaches the sandbox.
        wait_for_first_request: bool,
    },
    /// Moves only through [`SimClock::set`] and [`SimClock::advance`].
    Manual,
}

#[derive(Debug)]
enum Inner {
    Running {
        speed: f64,
        started: OnceLock<Instant>,
    },
    Manual(Mutex<DateTime<Utc>>),
}

/// Simulated time, shared by every request handler.
#[derive(Debug, Clone)]
pub struct SimClock {
    start: DateTime<Utc>,
    inner: Arc<Inner>,
}

/// Setting the time of a clock that runs by itself.
#[derive(Debug, thiserror::Error)]
#[error("the sandbox clock runs by itself (speed {speed}); only a manual clock can be set")]
pub struct NotManual {
    pub speed: f64,
}

impl SimClock {
    pub fn new(start: DateTime<Utc>, mode: ClockMode) -> Self {
        let inner = match mode {
            ClockMode::Running {
                speed,
                wait_for_first_request,
            } => {
                let started = OnceLock::new();
                if !wait_for_first_request {
                    let _ = started.set(Instant::now());
                }
                Inner::Running { speed, started }
            }
            ClockMode::Manual => Inner::Manual(Mutex::new(start)),
        };
        SimClock {
            start,
            inner: Arc::new(inner),
        }
    }

    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// The current simulated time.
    pub fn now(&self) -> DateTime<Utc> {
        match &*self.inner {
            Inner::Running { speed, started } => match started.get() {
                None => self.start,
                Some(at) => {
                    let sim_ms = at.elapsed().as_secs_f64() * speed * 1000.0;
                    self.start + chrono::Duration::milliseconds(sim_ms as i64)
                }
            },
            Inner::Manual(t) => *t.lock().expect("clock lock"),
        }
    }

    /// Starts a clock that waits for the first request; no effect otherwise.
    pub fn touch(&self) {
        if let Inner::Running { started, .. } = &*self.inner {
            let _ = started.get_or_init(Instant::now);
        }
    }

    /// Sets a manual clock.
    pub fn set(&self, t: DateTime<Utc>) -> Result<(), NotManual> {
        match &*self.inner {
            Inner::Manual(now) => {
                *now.lock().expect("clock lock") = t;
                Ok(())
            }
            Inner::Running { speed, .. } => Err(NotManual { speed: *speed }),
        }
    }

    /// Moves a manual clock forward.
    pub fn advance(&self, by: chrono::Duration) -> Result<DateTime<Utc>, NotManual> {
        let t = self.now() + by;
        self.set(t)?;
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_clock_holds_until_touched() {
        let start: DateTime<Utc> = "2021-01-01T00:00:00Z".parse().unwrap();
        let c = SimClock::new(
            start,
            ClockMode::Running {
                speed: 3_600_000.0,
                wait_for_first_request: true,
            },
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(c.now(), start);
        c.touch();
        std::thread::sleep(std::time::Duration::from_millis(5));
        // 5 ms at 1000 simulated hours per second is at least 5 simulated hours.
        assert!(c.now() >= start + chrono::Duration::hours(5), "{}", c.now());
        assert!(c.set(start).is_err());
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start: DateTime<Utc> = "2021-01-01T00:00:00Z".parse().unwrap();
        let c = SimClock::new(start, ClockMode::Manual);
        c.touch();
        assert_eq!(c.now(), start);
        c.advance(chrono::Duration::hours(2)).unwrap();
        assert_eq!(c.now(), start + chrono::Duration::hours(2));
    }
}
