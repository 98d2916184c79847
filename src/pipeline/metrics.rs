//! The daemon's counters and gauges, rendered in Prometheus text format at `/metrics`.
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
        out
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
}
