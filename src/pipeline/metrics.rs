//! The daemon's counters, gauges and histograms, served in Prometheus text format at `/metrics`.
//!
//! Every metric is declared once, in the table below ([`ALL`]): its name, help, type and labels. The
//! families are registered with a [`prometheus_client`] registry when [`Metrics`] is made, the
//! series without labels start at zero, and [`Metrics::declare_sources`] adds the zero series of
//! every configured source (a family is listed once it has a series; those labelled by asset or
//! stage, and per-source gauges, come with their first value): a dashboard's `rate(coinpulse_api_errors_total[5m])` has a series to
//! read before the first error, not a gap that looks like "no data". Encoding is the crate's
//! (`prometheus_text`, format 0.0.4), which the real `promtool check metrics` accepts (a test runs
//! it on the daemon's answer). Process metrics (`process_cpu_seconds_total`, resident memory, open
//! files, start time) are read from `/proc` at each scrape, as the Go and Python clients do.
//!
//! Label sets stay small and bounded: source names come from config, asset ids from the registry,
//! error kinds and outcomes from fixed lists.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, prometheus_text};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// A metric's type; a histogram carries its upper bounds (ascending; `+Inf` is implied).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram(&'static [f64]),
}

/// One metric family: everything about it that does not change while the daemon runs.
#[derive(Debug, PartialEq)]
pub struct Def {
    /// The full name as scraped (counters end in `_total`).
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    /// Label names, in the order call sites give them.
    pub labels: &'static [&'static str],
}

const fn counter(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Def {
    Def {
        name,
        help,
        kind: Kind::Counter,
        labels,
    }
}

const fn gauge(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Def {
    Def {
        name,
        help,
        kind: Kind::Gauge,
        labels,
    }
}

const fn histogram(
    name: &'static str,
    help: &'static str,
    bounds: &'static [f64],
    labels: &'static [&'static str],
) -> Def {
    Def {
        name,
        help,
        kind: Kind::Histogram(bounds),
        labels,
    }
}

const SOURCE: &[&str] = &["source"];

/// Upper bounds of the latency histograms, in seconds: 50 ms to 5 min.
const LATENCY_BOUNDS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0];
/// Upper bounds of the age-at-commit histogram, in seconds: a second to a week.
const AGE_BOUNDS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0, 604800.0,
];

pub const POSTS_FETCHED: Def = counter(
    "coinpulse_posts_fetched_total",
    "Posts returned by sources",
    SOURCE,
);
pub const POSTS_STORED: Def = counter("coinpulse_posts_stored_total", "Posts stored (new)", SOURCE);
pub const POSTS_DUPLICATE: Def = counter(
    "coinpulse_posts_duplicate_total",
    "Posts fetched again and skipped",
    SOURCE,
);
pub const POSTS_EXPIRED: Def = counter(
    "coinpulse_posts_expired_total",
    "Posts fetched but older than the retention period, not stored",
    SOURCE,
);
pub const POSTS_REJECTED: Def = counter(
    "coinpulse_posts_rejected_total",
    "Posts kept in rejected_posts (refused by the database or enrichment)",
    SOURCE,
);
pub const ENRICHMENT_PANICS: Def = counter(
    "coinpulse_enrichment_panics_total",
    "Posts (or batches) whose tagging or scoring panicked",
    SOURCE,
);
pub const API_ERRORS: Def = counter(
    "coinpulse_api_errors_total",
    "API errors by source and kind (transient, rate_limited, fatal)",
    &["source", "kind"],
);
/// The kinds of [`API_ERRORS`].
pub const API_ERROR_KINDS: [&str; 3] = ["transient", "rate_limited", "fatal"];
pub const RATE_LIMIT_WAIT: Def = counter(
    "coinpulse_rate_limit_wait_seconds_total",
    "Seconds sources waited for rate limits",
    SOURCE,
);
pub const LAST_POLL: Def = gauge(
    "coinpulse_last_poll_timestamp_seconds",
    "Unix time of the last successful poll",
    SOURCE,
);
pub const POLL_DURATION: Def = histogram(
    "coinpulse_poll_duration_seconds",
    "Duration of successful polling rounds",
    LATENCY_BOUNDS,
    SOURCE,
);
pub const RECEIVE_TO_COMMIT: Def = histogram(
    "coinpulse_receive_to_commit_seconds",
    "Seconds from a source handing over a new post to its commit",
    LATENCY_BOUNDS,
    SOURCE,
);
pub const POST_AGE_AT_COMMIT: Def = histogram(
    "coinpulse_post_age_at_commit_seconds",
    "Seconds from a new post's created_at to its commit",
    AGE_BOUNDS,
    SOURCE,
);
pub const MENTIONS: Def = counter(
    "coinpulse_mentions_total",
    "Mentions found, by asset",
    &["asset"],
);
pub const QUEUE_DEPTH: Def = gauge(
    "coinpulse_queue_depth",
    "Batches waiting between stages",
    &["stage"],
);
pub const BATCH_LATENCY: Def = histogram(
    "coinpulse_batch_latency_seconds",
    "Time to commit a batch, retries included",
    LATENCY_BOUNDS,
    &[],
);
pub const BATCHES_COMMITTED: Def = counter(
    "coinpulse_batches_committed_total",
    "Batches committed",
    &[],
);
pub const WRITE_RETRIES: Def = counter(
    "coinpulse_write_retries_total",
    "Batch commits retried because the database was unavailable",
    &[],
);
pub const PRICES_STORED: Def = counter(
    "coinpulse_prices_stored_total",
    "Price rows inserted or changed",
    &[],
);
pub const POSTS_DELETED: Def = counter(
    "coinpulse_posts_deleted_total",
    "Stored posts removed because their authors deleted them upstream",
    &[],
);
pub const POSTS_PRUNED: Def = counter(
    "coinpulse_posts_pruned_total",
    "Posts deleted by retention (their mentions with them)",
    &[],
);
pub const REGISTRY_VERSION: Def = gauge(
    "coinpulse_registry_version",
    "Version of the stored asset registry the tagger was built from",
    &[],
);
pub const REGISTRY_RELOADS: Def = counter(
    "coinpulse_registry_reloads_total",
    "Registry versions taken up (ok) or refused (failed) without a restart",
    &["outcome"],
);
pub const BUILD_INFO: Def = gauge(
    "coinpulse_build_info",
    "Always 1; the labels say which build is running",
    &["version"],
);

/// Every metric the daemon serves besides the process metrics, in the order `/metrics` lists them.
pub const ALL: &[&Def] = &[
    &POSTS_FETCHED,
    &POSTS_STORED,
    &POSTS_DUPLICATE,
    &POSTS_EXPIRED,
    &POSTS_REJECTED,
    &ENRICHMENT_PANICS,
    &API_ERRORS,
    &RATE_LIMIT_WAIT,
    &LAST_POLL,
    &POLL_DURATION,
    &RECEIVE_TO_COMMIT,
    &POST_AGE_AT_COMMIT,
    &MENTIONS,
    &QUEUE_DEPTH,
    &BATCH_LATENCY,
    &BATCHES_COMMITTED,
    &WRITE_RETRIES,
    &PRICES_STORED,
    &POSTS_DELETED,
    &POSTS_PRUNED,
    &REGISTRY_VERSION,
    &REGISTRY_RELOADS,
    &BUILD_INFO,
];

type Labels = Vec<(&'static str, String)>;

/// Makes each new histogram series with its family's bounds.
#[derive(Debug, Clone)]
struct Bounds(&'static [f64]);

impl MetricConstructor<Histogram> for Bounds {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    counters: HashMap<&'static str, Family<Labels, Counter<f64, AtomicU64>>>,
    gauges: HashMap<&'static str, Family<Labels, Gauge<f64, AtomicU64>>>,
    histograms: HashMap<&'static str, Family<Labels, Histogram, Bounds>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every family of [`ALL`] registered, the series without labels at zero, and the build info.
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::default(),
            counters: HashMap::new(),
            gauges: HashMap::new(),
            histograms: HashMap::new(),
        };
        for def in ALL {
            // The crate adds `_total` to counters and a full stop to help texts.
            let name = def.name.strip_suffix("_total").unwrap_or(def.name);
            match def.kind {
                Kind::Counter => {
                    let family = Family::default();
                    m.registry.register(name, def.help, family.clone());
                    m.counters.insert(def.name, family);
                }
                Kind::Gauge => {
                    let family = Family::default();
                    m.registry.register(name, def.help, family.clone());
                    m.gauges.insert(def.name, family);
                }
                Kind::Histogram(bounds) => {
                    let family = Family::new_with_constructor(Bounds(bounds));
                    m.registry.register(name, def.help, family.clone());
                    m.histograms.insert(def.name, family);
                }
            }
            if def.labels.is_empty() && def.kind != Kind::Gauge {
                m.touch(def, &[]);
            }
        }
        m.registry.register_collector(Box::new(ProcessCollector));
        m.set(&BUILD_INFO, &[("version", env!("CARGO_PKG_VERSION"))], 1.0);
        m.set(&REGISTRY_VERSION, &[], 0.0);
        for outcome in ["ok", "failed"] {
            m.touch(&REGISTRY_RELOADS, &[("outcome", outcome)]);
        }
        m
    }

    /// Zero series of every per-source counter and histogram for these sources, so each is scraped
    /// before its first event. Gauges are left until set: a zero "last poll" would be a lie.
    pub fn declare_sources<'a>(&self, sources: impl IntoIterator<Item = &'a str>) {
        for source in sources {
            for def in ALL.iter().filter(|d| d.labels == SOURCE) {
                if def.kind != Kind::Gauge {
                    self.touch(def, &[("source", source)]);
                }
            }
            for kind in API_ERROR_KINDS {
                self.touch(&API_ERRORS, &[("source", source), ("kind", kind)]);
            }
        }
    }

    /// Adds `by` to a counter.
    pub fn inc(&self, def: &Def, labels: &[(&'static str, &str)], by: f64) {
        debug_assert_eq!(def.kind, Kind::Counter, "{}", def.name);
        if let Some(family) = self.counters.get(def.name) {
            family.get_or_create(&key(labels)).inc_by(by);
        }
    }

    /// Sets a gauge.
    pub fn set(&self, def: &Def, labels: &[(&'static str, &str)], value: f64) {
        debug_assert_eq!(def.kind, Kind::Gauge, "{}", def.name);
        if let Some(family) = self.gauges.get(def.name) {
            family.get_or_create(&key(labels)).set(value);
        }
    }

    /// Records `value` `times` times in a histogram; a value that is not finite is dropped.
    pub fn observe(&self, def: &Def, labels: &[(&'static str, &str)], value: f64, times: u64) {
        debug_assert!(matches!(def.kind, Kind::Histogram(_)), "{}", def.name);
        if times == 0 || !value.is_finite() {
            return;
        }
        if let Some(family) = self.histograms.get(def.name) {
            let h = family.get_or_create(&key(labels));
            for _ in 0..times {
                h.observe(value);
            }
        }
    }

    /// Current value of one counter or gauge series (tests, `/readyz`); `None` when it was never
    /// touched.
    pub fn get(&self, name: &str, labels: &[(&'static str, &str)]) -> Option<f64> {
        let key = key(labels);
        if let Some(f) = self.counters.get(name) {
            return f.get(&key).map(|c| c.get());
        }
        self.gauges
            .get(name)
            .and_then(|f| f.get(&key).map(|g| g.get()))
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; the encoder only fails on a writer error.
        let _ = prometheus_text::encode(&mut out, &self.registry);
        out
    }

    /// Creates the series at zero if it is not there.
    fn touch(&self, def: &Def, labels: &[(&'static str, &str)]) {
        let key = key(labels);
        match def.kind {
            Kind::Counter => drop(self.counters[def.name].get_or_create(&key)),
            Kind::Gauge => drop(self.gauges[def.name].get_or_create(&key)),
            Kind::Histogram(_) => drop(self.histograms[def.name].get_or_create(&key)),
        }
    }
}

fn key(labels: &[(&'static str, &str)]) -> Labels {
    labels.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

/// The process metrics every Prometheus client serves, read from `/proc` at each scrape. Absent
/// where `/proc` is not Linux's.
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(p) = process::read() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(p.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            None,
            cpu.metric_type(),
        )?)?;
        for (name, help, value) in [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                p.resident_bytes,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                p.start_time_seconds,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                p.open_fds,
            ),
        ] {
            let g = ConstGauge::new(value);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        Ok(())
    }
}

mod process {
    /// What `/proc` says about this process.
    pub struct Process {
        pub cpu_seconds: f64,
        pub resident_bytes: f64,
        pub start_time_seconds: f64,
        pub open_fds: f64,
    }

    pub fn read() -> Option<Process> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The command name may hold spaces and parentheses: the fields start after the last `)`.
        // Numbering from `state` (field 3 in proc(5)): utime 14, stime 15, starttime 22, rss 24.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
        // SAFETY: sysconf only reads a configuration value.
        let (ticks, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK) as f64,
                libc::sysconf(libc::_SC_PAGESIZE) as f64,
            )
        };
        let boot: f64 = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
        Some(Process {
            cpu_seconds: (field(14)? + field(15)?) / ticks,
            resident_bytes: field(24)? * page,
            start_time_seconds: boot + field(22)? / ticks,
            open_fds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new();
        m.inc(&POSTS_STORED, &[("source", "twitter")], 3.0);
        m.inc(&POSTS_STORED, &[("source", "twitter")], 2.0);
        m.set(&QUEUE_DEPTH, &[("stage", "write\"r")], 7.0);
        let text = m.render();
        assert!(
            text.contains("# TYPE coinpulse_posts_stored_total counter"),
            "{text}"
        );
        assert!(
            text.contains("# HELP coinpulse_posts_stored_total Posts stored (new).\n"),
            "{text}"
        );
        assert!(
            text.contains("coinpulse_posts_stored_total{source=\"twitter\"} 5"),
            "{text}"
        );
        assert!(
            text.contains("coinpulse_queue_depth{stage=\"write\\\"r\"} 7"),
            "{text}"
        );
        assert_eq!(
            m.get("coinpulse_posts_stored_total", &[("source", "twitter")]),
            Some(5.0)
        );
    }

    #[test]
    fn every_family_is_listed_from_the_start_and_sources_get_zero_series() {
        let m = Metrics::new();
        m.declare_sources(["reddit"]);
        let text = m.render();
        // Families labelled by asset or stage, and per-source gauges, come with their first value.
        let listed = ALL.iter().filter(|d| {
            (d.labels.is_empty() || d.labels[0] == "source" || d.labels[0] == "outcome")
                && !(d.kind == Kind::Gauge && d.labels == SOURCE)
        });
        for def in listed {
            let kind = match def.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram(_) => "histogram",
            };
            let line = format!("# TYPE {} {kind}", def.name);
            assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
        }
        for line in [
            "coinpulse_write_retries_total 0.0",
            "coinpulse_posts_stored_total{source=\"reddit\"} 0.0",
            "coinpulse_api_errors_total{source=\"reddit\",kind=\"rate_limited\"} 0.0",
            "coinpulse_registry_reloads_total{outcome=\"failed\"} 0.0",
            "coinpulse_receive_to_commit_seconds_count{source=\"reddit\"} 0",
            "coinpulse_batch_latency_seconds_count 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
        }
        let build = format!(
            "coinpulse_build_info{{version=\"{}\"}} 1.0",
            env!("CARGO_PKG_VERSION")
        );
        assert!(text.lines().any(|l| l == build), "{build} not in:\n{text}");
        // A per-source gauge waits for its first value.
        assert!(
            !text.contains("coinpulse_last_poll_timestamp_seconds{"),
            "{text}"
        );
        // This process's own numbers.
        let rss: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
            .expect("resident memory")
            .parse()
            .unwrap();
        assert!(rss > 1e6, "{rss}");
        assert!(
            text.contains("# TYPE process_cpu_seconds_total counter"),
            "{text}"
        );
    }

    #[test]
    fn histograms_render_cumulative_buckets_sum_and_count() {
        let m = Metrics::new();
        let labels = [("source", "a")];
        m.observe(&RECEIVE_TO_COMMIT, &labels, 0.2, 3);
        m.observe(&RECEIVE_TO_COMMIT, &labels, 2.0, 1);
        m.observe(&RECEIVE_TO_COMMIT, &labels, 600.0, 1);
        m.observe(&RECEIVE_TO_COMMIT, &labels, f64::NAN, 1);
        let text = m.render();
        let name = "coinpulse_receive_to_commit_seconds";
        for line in [
            format!("# TYPE {name} histogram"),
            format!("{name}_bucket{{source=\"a\",le=\"0.1\"}} 0"),
            format!("{name}_bucket{{source=\"a\",le=\"0.25\"}} 3"),
            format!("{name}_bucket{{source=\"a\",le=\"1\"}} 3"),
            format!("{name}_bucket{{source=\"a\",le=\"2\"}} 4"),
            format!("{name}_bucket{{source=\"a\",le=\"300\"}} 4"),
            format!("{name}_bucket{{source=\"a\",le=\"+Inf\"}} 5"),
            format!("{name}_count{{source=\"a\"}} 5"),
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
        }
        let sum: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}_sum{{source=\"a\"}} ")))
            .unwrap()
            .parse()
            .unwrap();
        assert!((sum - 602.6).abs() < 1e-9, "{sum}");
    }
}
