//! Quality numbers: accuracy, macro-F1, per-class precision/recall, confusion matrix, per source.
//!
//! Accuracy and per-class precision/recall/F1 come from linfa's `ConfusionMatrix`
//! (`split_one_vs_all`). Macro-F1 is the mean of the per-class F1 scores (scikit-learn's
//! `average="macro"`), not linfa's `f1_score()`, which is the F-score of the macro precision and macro
//! recall; the former is what published numbers and our reference baseline use.

use std::collections::BTreeMap;

use linfa::prelude::ToConfusionMatrix;
use ndarray::Array1;
use serde::Serialize;

use super::model::CLASSES;
use crate::model::SentimentLabel;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassMetrics {
    pub label: SentimentLabel,
    pub precision: f32,
    pub recall: f32,
    pub f1: f32,
    pub support: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub n: usize,
    pub accuracy: f32,
    pub macro_f1: f32,
    pub classes: Vec<ClassMetrics>,
    /// `confusion[truth][predicted]`, classes in negative, neutral, positive order.
    pub confusion: [[usize; 3]; 3],
}

fn idx(l: SentimentLabel) -> usize {
    CLASSES.iter().position(|c| *c == l).expect("known label")
}

/// Metrics of `predicted` against `truth` (same length, at least one row).
pub fn metrics(predicted: &[SentimentLabel], truth: &[SentimentLabel]) -> Metrics {
    assert_eq!(predicted.len(), truth.len(), "one prediction per row");
    let p: Array1<usize> = predicted.iter().map(|&l| idx(l)).collect();
    let t: Array1<usize> = truth.iter().map(|&l| idx(l)).collect();
    let mut confusion = [[0usize; 3]; 3];
    for (&a, &b) in t.iter().zip(p.iter()) {
        confusion[a][b] += 1;
    }
    let cm = p
        .confusion_matrix(&t)
        .expect("predictions and truth have the same length");
    // linfa lists the classes present in either array, sorted.
    let mut present: Vec<usize> = p.iter().chain(t.iter()).copied().collect();
    present.sort_unstable();
    present.dedup();
    let binaries = cm.split_one_vs_all();
    let mut classes = Vec::new();
    for (k, bin) in present.iter().zip(binaries) {
        let support = t.iter().filter(|&&x| x == *k).count();
        let nan0 = |x: f32| if x.is_nan() { 0.0 } else { x };
        classes.push(ClassMetrics {
            label: CLASSES[*k],
            // linfa 0.8.1 lays the one-vs-all matrix out as [[tp, fp], [fn, tn]] but reads precision
            // down the first column and recall along the first row, so the names are swapped there
            // (pinned by the test below).
            precision: nan0(bin.recall()),
            recall: nan0(bin.precision()),
            f1: nan0(bin.f1_score()),
            support,
        });
    }
    // Classes absent from the truth would get F1 0 by construction; average over the classes that
    // occur in the truth.
    let scored: Vec<&ClassMetrics> = classes.iter().filter(|c| c.support > 0).collect();
    let macro_f1 = scored.iter().map(|c| c.f1).sum::<f32>() / scored.len().max(1) as f32;
    Metrics {
        n: predicted.len(),
        accuracy: cm.accuracy(),
        macro_f1,
        classes,
        confusion,
    }
}

/// Overall metrics plus one entry per source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub overall: Metrics,
    pub sources: BTreeMap<String, Metrics>,
}

pub fn report(predicted: &[SentimentLabel], truth: &[SentimentLabel], sources: &[&str]) -> Report {
    let mut by: BTreeMap<String, (Vec<SentimentLabel>, Vec<SentimentLabel>)> = BTreeMap::new();
    for ((p, t), s) in predicted.iter().zip(truth).zip(sources) {
        let e = by.entry(s.to_string()).or_default();
        e.0.push(*p);
        e.1.push(*t);
    }
    Report {
        overall: metrics(predicted, truth),
        sources: by
            .into_iter()
            .map(|(s, (p, t))| (s, metrics(&p, &t)))
            .collect(),
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let o = &self.overall;
        writeln!(
            f,
            "rows {}  accuracy {:.4}  macro-F1 {:.4}",
            o.n, o.accuracy, o.macro_f1
        )?;
        writeln!(f, "\nclass       precision  recall  F1      support")?;
        for c in &o.classes {
            writeln!(
                f,
                "{:<10}  {:>9.4}  {:>6.4}  {:>6.4}  {:>7}",
                c.label.as_str(),
                c.precision,
                c.recall,
                c.f1,
                c.support
            )?;
        }
        writeln!(f, "\nconfusion (rows = truth, columns = predicted)")?;
        writeln!(
            f,
            "{:<10}  {:>8}  {:>8}  {:>8}",
            "", "negative", "neutral", "positive"
        )?;
        for (k, row) in o.confusion.iter().enumerate() {
            writeln!(
                f,
                "{:<10}  {:>8}  {:>8}  {:>8}",
                CLASSES[k].as_str(),
                row[0],
                row[1],
                row[2]
            )?;
        }
        writeln!(f, "\nsource                      rows  accuracy  macro-F1")?;
        for (s, m) in &self.sources {
            writeln!(
                f,
                "{:<26}  {:>5}  {:>8.4}  {:>8.4}",
                s, m.n, m.accuracy, m.macro_f1
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SentimentLabel::*;

    #[test]
    fn per_class_precision_and_recall_follow_the_textbook_definition() {
        // negative: TP 1, FP 1 (a neutral row predicted negative), FN 0.
        let predicted = [Negative, Negative, Neutral, Positive];
        let truth = [Negative, Neutral, Neutral, Positive];
        let m = metrics(&predicted, &truth);
        let neg = &m.classes[0];
        assert_eq!(neg.label, Negative);
        assert!((neg.precision - 0.5).abs() < 1e-6, "{neg:?}");
        assert!((neg.recall - 1.0).abs() < 1e-6, "{neg:?}");
        let neu = &m.classes[1];
        assert!((neu.precision - 1.0).abs() < 1e-6, "{neu:?}");
        assert!((neu.recall - 0.5).abs() < 1e-6, "{neu:?}");
        assert!((m.accuracy - 0.75).abs() < 1e-6);
        assert_eq!(m.confusion[1][0], 1);
        let f1 = (2.0 / 3.0 + 2.0 / 3.0 + 1.0) / 3.0;
        assert!((m.macro_f1 - f1).abs() < 1e-6, "{}", m.macro_f1);
    }
}
