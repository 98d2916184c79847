//! The daemon's periodic one-line summary per source, so a daemon storing thousands of posts is not
//! silent for minutes at the default log level.
//!
//! Every `pipeline.summary_interval` each source that has polled gets one `info` line with what
//! happened since the previous line: posts fetched, stored (new), duplicates (fetched again and
//! skipped), filtered (fetched but not stored for another reason, today: older than
//! `database.retention`), and the lag (how far the newest post it has delivered is behind now). The
//! counts are this module's own: it needs nothing from `/metrics` and costs one mutex per batch.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

/// One source's counts since the last summary line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub fetched: u64,
    pub stored: u64,
    pub duplicates: u64,
    pub filtered: u64,
    /// The newest post delivered so far (kept across lines).
    pub newest: Option<DateTime<Utc>>,
}

impl Tally {
    /// `12s`, `3m 20s`, `2days 1h`: how far the newest delivered post is behind `now`; `-` before
    /// the first post.
    pub fn lag(&self, now: DateTime<Utc>) -> String {
        match self.newest {
            Some(newest) => {
                let secs = (now - newest).num_seconds().max(0) as u64;
                // Two units are plenty to read a lag at a glance.
                let full = humantime::format_duration(Duration::from_secs(secs)).to_string();
                full.split(' ').take(2).collect::<Vec<_>>().join(" ")
            }
            None => "-".into(),
        }
    }
}

/// Per-source tallies, shared by the source tasks, the writer and the summary task.
#[derive(Debug, Default)]
pub struct Summary {
    sources: Mutex<BTreeMap<String, Tally>>,
}

impl Summary {
    /// A polling round of `source` returned `fetched` posts, the newest created at `newest`.
    pub fn fetched(&self, source: &str, fetched: u64, newest: Option<DateTime<Utc>>) {
        let mut sources = self.sources.lock().expect("summary lock");
        let tally = sources.entry(source.to_string()).or_default();
        tally.fetched += fetched;
        tally.newest = tally.newest.max(newest);
    }

    /// A batch of `source` was committed.
    pub fn committed(&self, source: &str, stored: u64, duplicates: u64, filtered: u64) {
        let mut sources = self.sources.lock().expect("summary lock");
        let tally = sources.entry(source.to_string()).or_default();
        tally.stored += stored;
        tally.duplicates += duplicates;
        tally.filtered += filtered;
    }

    /// Every source's counts since the last call, which starts new counts (the newest post time is
    /// kept).
    pub fn take(&self) -> BTreeMap<String, Tally> {
        let mut sources = self.sources.lock().expect("summary lock");
        let taken = sources.clone();
        for tally in sources.values_mut() {
            *tally = Tally {
                newest: tally.newest,
                ..Tally::default()
            };
        }
        taken
    }
}

/// Logs one line per source every `every` until shutdown, and a last one at shutdown.
pub async fn summary_task(
    summary: std::sync::Arc<Summary>,
    every: Duration,
    shutdown: CancellationToken,
) {
    loop {
        let stop = tokio::select! {
            _ = tokio::time::sleep(every) => false,
            _ = shutdown.cancelled() => true,
        };
        log(&summary.take(), every, Utc::now());
        if stop {
            return;
        }
    }
}

fn log(tallies: &BTreeMap<String, Tally>, every: Duration, now: DateTime<Utc>) {
    let period = humantime::format_duration(every).to_string();
    for (source, t) in tallies {
        tracing::info!(
            source = %source,
            fetched = t.fetched,
            stored = t.stored,
            duplicates = t.duplicates,
            filtered = t.filtered,
            lag = %t.lag(now),
            period = %period,
            "Source summary."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn counts_reset_each_line_and_the_newest_post_is_kept() {
        let summary = Summary::default();
        let t0 = Utc.with_ymd_and_hms(2021, 1, 5, 10, 0, 0).unwrap();
        summary.fetched("twitter", 100, Some(t0));
        summary.fetched("twitter", 0, None);
        summary.committed("twitter", 70, 25, 5);
        let first = summary.take();
        assert_eq!(
            first["twitter"],
            Tally {
                fetched: 100,
                stored: 70,
                duplicates: 25,
                filtered: 5,
                newest: Some(t0)
            }
        );
        let second = summary.take();
        assert_eq!(second["twitter"].fetched, 0);
        assert_eq!(second["twitter"].newest, Some(t0));
        let now = t0 + chrono::TimeDelta::seconds(3 * 60 + 20);
        assert_eq!(second["twitter"].lag(now), "3m 20s");
        assert_eq!(Tally::default().lag(now), "-");
        let days = t0 + chrono::TimeDelta::seconds(2 * 86_400 + 3_600 + 5);
        assert_eq!(second["twitter"].lag(days), "2days 1h");
    }
}
