//! Quality numbers: accuracy, macro-F1, polarity F1, per-class precision/recall, confusion matrix,
//! overall and per group (source or file).
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
    /// Mean F1 of the negative and positive classes (of those in the truth): how well the polar
    /// calls are made, whatever the neutral class does.
    pub polarity_f1: f32,
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
    let polar: Vec<f32> = scored
        .iter()
        .filter(|c| c.label != SentimentLabel::Neutral)
        .map(|c| c.f1)
        .collect();
    let polarity_f1 = polar.iter().sum::<f32>() / polar.len().max(1) as f32;
    Metrics {
        n: predicted.len(),
        accuracy: cm.accuracy(),
        macro_f1,
        polarity_f1,
        classes,
        confusion,
    }
}

/// Overall metrics plus one entry per group (per source, or per file evaluated).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// What the groups are: `source` or `file`.
    pub by: String,
    pub overall: Metrics,
    pub groups: BTreeMap<String, Metrics>,
}

/// Metrics overall and per group; `groups[i]` names the group of row `i`.
pub fn report(
    predicted: &[SentimentLabel],
    truth: &[SentimentLabel],
    groups: &[&str],
    by: &str,
) -> Report {
    let mut rows: BTreeMap<String, (Vec<SentimentLabel>, Vec<SentimentLabel>)> = BTreeMap::new();
    for ((p, t), g) in predicted.iter().zip(truth).zip(groups) {
        let e = rows.entry(g.to_string()).or_default();
        e.0.push(*p);
        e.1.push(*t);
    }
    Report {
        by: by.to_string(),
        overall: metrics(predicted, truth),
        groups: rows
            .into_iter()
            .map(|(g, (p, t))| (g, metrics(&p, &t)))
            .collect(),
    }
}

impl Metrics {
    fn write_classes(&self, f: &mut std::fmt::Formatter<'_>, indent: &str) -> std::fmt::Result {
        writeln!(f, "{indent}class       precision  recall  F1      support")?;
        for c in &self.classes {
            writeln!(
                f,
                "{indent}{:<10}  {:>9.4}  {:>6.4}  {:>6.4}  {:>7}",
                c.label.as_str(),
                c.precision,
                c.recall,
                c.f1,
                c.support
            )?;
        }
        writeln!(f, "{indent}confusion (rows = truth, columns = predicted)")?;
        writeln!(
            f,
            "{indent}{:<10}  {:>8}  {:>8}  {:>8}",
            "", "negative", "neutral", "positive"
        )?;
        for (k, row) in self.confusion.iter().enumerate() {
            writeln!(
                f,
                "{indent}{:<10}  {:>8}  {:>8}  {:>8}",
                CLASSES[k].as_str(),
                row[0],
                row[1],
                row[2]
            )?;
        }
        Ok(())
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let o = &self.overall;
        writeln!(
            f,
            "rows {}  accuracy {:.4}  macro-F1 {:.4}  polarity F1 {:.4}\n",
            o.n, o.accuracy, o.macro_f1, o.polarity_f1
        )?;
        o.write_classes(f, "")?;
        writeln!(
            f,
            "\n{:<26}  {:>5}  accuracy  macro-F1  polarity-F1",
            self.by, "rows"
        )?;
        for (g, m) in &self.groups {
            writeln!(
                f,
                "{:<26}  {:>5}  {:>8.4}  {:>8.4}  {:>11.4}",
                g, m.n, m.accuracy, m.macro_f1, m.polarity_f1
            )?;
        }
        for (g, m) in &self.groups {
            writeln!(f, "\n{} {g}:", self.by)?;
            m.write_classes(f, "  ")?;
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
        let polar = (2.0 / 3.0 + 1.0) / 2.0;
        assert!((m.polarity_f1 - polar).abs() < 1e-6, "{}", m.polarity_f1);
    }

    /// Two-class data (no neutral truth): a neutral prediction is a miss, and neither macro- nor
    /// polarity F1 averages in the absent class. Groups get their own confusion matrices.
    #[test]
    fn groups_and_two_class_truth() {
        let predicted = [Positive, Neutral, Negative, Positive, Neutral];
        let truth = [Positive, Positive, Negative, Negative, Neutral];
        let groups = ["crypto", "crypto", "crypto", "crypto", "news"];
        let r = report(&predicted, &truth, &groups, "source");
        let crypto = &r.groups["crypto"];
        assert_eq!(crypto.n, 4);
        assert!((crypto.accuracy - 0.5).abs() < 1e-6);
        assert_eq!(crypto.confusion, [[1, 0, 1], [0, 0, 0], [0, 1, 1]]);
        // negative: P 1, R 0.5 → F1 2/3; positive: P 0.5, R 0.5 → F1 0.5.
        let want = (2.0 / 3.0 + 0.5) / 2.0;
        assert!((crypto.macro_f1 - want).abs() < 1e-6, "{crypto:?}");
        assert!((crypto.polarity_f1 - want).abs() < 1e-6, "{crypto:?}");
        assert_eq!(r.groups["news"].confusion[1][1], 1);
        assert_eq!(r.overall.n, 5);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["by"], "source");
        assert_eq!(json["groups"]["crypto"]["confusion"][2][1], 1);
    }
}
