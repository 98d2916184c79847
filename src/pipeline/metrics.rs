//! The daemon's counters, gauges and histograms, rendered in Prometheus text format at `/metrics`.
//!
//! A handful of metric families with small, bounded label sets (source names come from config, asset
//! ids from the registry, error kinds from a fixed list), so a map behind a mutex is plenty: updates
//! happen per batch or per poll, never per byte. Keeping it in-tree avoids a metrics framework for
//! what is a few dozen lines of formatting.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Counter,
    Gauge,
}

#[derive(Debug, Default)]
pub struct Metrics {
    families: Mutex<BTreeMap<&'static str, Family>>,
    histograms: Mutex<BTreeMap<&'static str, HistogramFamily>>,
}

#[derive(Debug)]
struct HistogramFamily {
    help: &'static str,
    /// Upper bounds, ascending; `+Inf` is implied.
    bounds: &'static [f64],
    series: BTreeMap<Vec<(&'static str, String)>, Histogram>,
}

#[derive(Debug, Default)]
struct Histogram {
    /// Observations at or below each bound (not cumulative; summed when rendered).
    buckets: Vec<u64>,
    count: u64,
    sum: f64,
}

#[derive(Debug)]
struct Family {
    kind: Kind,
    help: &'static str,
    series: BTreeMap<Vec<(&'static str, String)>, f64>,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Adds `by` to a counter.
    pub fn inc(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
        by: f64,
    ) {
        self.update(name, help, Kind::Counter, labels, |v| *v += by);
    }

    /// Sets a gauge.
    pub fn set(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
        value: f64,
    ) {
        self.update(name, help, Kind::Gauge, labels, |v| *v = value);
    }

    /// Records `value` `times` times in a histogram with the upper bounds `bounds` (ascending; the
    /// first call for a name fixes them).
    pub fn observe(
        &self,
        name: &'static str,
        help: &'static str,
        bounds: &'static [f64],
        labels: &[(&'static str, &str)],
        value: f64,
        times: u64,
    ) {
        if times == 0 || !value.is_finite() {
            return;
        }
        let mut histograms = self.histograms.lock().expect("metrics lock");
        let family = histograms.entry(name).or_insert_with(|| HistogramFamily {
            help,
            bounds,
            series: BTreeMap::new(),
        });
        let bounds = family.bounds;
        let h = family.series.entry(key(labels)).or_default();
        if h.buckets.is_empty() {
            h.buckets = vec![0; bounds.len()];
        }
        if let Some(i) = bounds.iter().position(|&b| value <= b) {
            h.buckets[i] += times;
        }
        h.count += times;
        h.sum += value * times as f64;
    }

    /// Current value of one series (tests, `/readyz`).
    pub fn get(&self, name: &str, labels: &[(&'static str, &str)]) -> Option<f64> {
        let families = self.families.lock().expect("metrics lock");
        let key = key(labels);
        families.get(name).and_then(|f| f.series.get(&key).copied())
    }

    fn update(
        &self,
        name: &'static str,
        help: &'static str,
        kind: Kind,
        labels: &[(&'static str, &str)],
        apply: impl FnOnce(&mut f64),
    ) {
        let mut families = self.families.lock().expect("metrics lock");
        let family = families.entry(name).or_insert_with(|| Family {
            kind,
            help,
            series: BTreeMap::new(),
        });
        apply(family.series.entry(key(labels)).or_insert(0.0));
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let families = self.families.lock().expect("metrics lock");
        let mut out = String::new();
        for (name, family) in families.iter() {
            let kind = match family.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            };
            let _ = writeln!(out, "# HELP {name} {}", family.help);
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in &family.series {
                out.push_str(name);
                if !labels.is_empty() {
                    out.push('{');
                    for (i, (k, v)) in labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let _ = write!(out, "{k}=\"{}\"", escape(v));
                    }
                    out.push('}');
                }
                let _ = writeln!(out, " {value}");
            }
        }
        drop(families);
        let histograms = self.histograms.lock().expect("metrics lock");
        for (name, family) in histograms.iter() {
            let _ = writeln!(out, "# HELP {name} {}", family.help);
            let _ = writeln!(out, "# TYPE {name} histogram");
            for (labels, h) in &family.series {
                let mut cumulative = 0;
                for (bound, n) in family.bounds.iter().zip(&h.buckets) {
                    cumulative += n;
                    let le = bound.to_string();
                    let _ = writeln!(
                        out,
                        "{name}_bucket{} {cumulative}",
                        label_text(labels, Some(&le))
                    );
                }
                let _ = writeln!(
                    out,
                    "{name}_bucket{} {}",
                    label_text(labels, Some("+Inf")),
                    h.count
                );
                let _ = writeln!(out, "{name}_sum{} {}", label_text(labels, None), h.sum);
                let _ = writeln!(out, "{name}_count{} {}", label_text(labels, None), h.count);
            }
        }
        out
    }
}

/// `{k="v",…}` with `le` last when given; empty without labels.
fn label_text(labels: &[(&'static str, String)], le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn key(labels: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    labels.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new();
        m.inc(
            "coinpulse_posts_stored_total",
            "Posts stored.",
            &[("source", "twitter")],
            3.0,
        );
        m.inc(
            "coinpulse_posts_stored_total",
            "Posts stored.",
            &[("source", "twitter")],
            2.0,
        );
        m.set(
            "coinpulse_queue_depth",
            "Queued batches.",
            &[("stage", "write\"r")],
            7.0,
        );
        let text = m.render();
        assert!(
            text.contains("# TYPE coinpulse_posts_stored_total counter"),
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
    fn histograms_render_cumulative_buckets_sum_and_count() {
        const BOUNDS: &[f64] = &[0.5, 1.0, 5.0];
        let m = Metrics::new();
        let name = "coinpulse_commit_seconds";
        m.observe(name, "Time to commit.", BOUNDS, &[("source", "a")], 0.2, 3);
        m.observe(name, "Time to commit.", BOUNDS, &[("source", "a")], 2.0, 1);
        m.observe(name, "Time to commit.", BOUNDS, &[("source", "a")], 60.0, 1);
        m.observe(
            name,
            "Time to commit.",
            BOUNDS,
            &[("source", "a")],
            f64::NAN,
            1,
        );
        let text = m.render();
        for line in [
            "# TYPE coinpulse_commit_seconds histogram",
            "coinpulse_commit_seconds_bucket{source=\"a\",le=\"0.5\"} 3",
            "coinpulse_commit_seconds_bucket{source=\"a\",le=\"1\"} 3",
            "coinpulse_commit_seconds_bucket{source=\"a\",le=\"5\"} 4",
            "coinpulse_commit_seconds_bucket{source=\"a\",le=\"+Inf\"} 5",
            "coinpulse_commit_seconds_count{source=\"a\"} 5",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
        }
        let sum: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("coinpulse_commit_seconds_sum{source=\"a\"} "))
            .unwrap()
            .parse()
            .unwrap();
        assert!((sum - 62.6).abs() < 1e-9, "{sum}");
    }
}
