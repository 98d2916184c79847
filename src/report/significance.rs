//! How surprising a count is against its trailing baseline: the tail probability of a count model.
//!
//! A z-score on raw counts treats 5 posts after a quiet day like 500 after a busy one: with a
//! baseline of 0.1 posts an hour and a standard deviation of 0.3, five posts score z = 16. Counts are
//! not normal. Here the baseline window's mean `m` and sample variance `v` fit a negative binomial
//! when the counts are over-dispersed (`v > m`, as social volume almost always is: bursts cluster),
//! else a Poisson of mean `m`, and the spike's **surprise** is `−log10 P(X ≥ x)`: 6 means a
//! one-in-a-million hour under the baseline. An empty baseline gets the mean of one post over the
//! window (add-one), so a first burst is surprising but finite.
//!
//! The tail is summed in log space from `x` upwards (each term from the previous one by the pmf's
//! ratio), so it neither underflows nor loses precision to `1 − CDF` cancellation.

/// `−log10 P(X ≥ x)` under a count model fitted to `baseline`; 0 when `x` is not above the baseline
/// mean or the baseline is empty.
pub fn surprise(x: u64, baseline: &[f64]) -> f64 {
    let n = baseline.len();
    if n == 0 {
        return 0.0;
    }
    let sum: f64 = baseline.iter().sum();
    let mean = if sum > 0.0 {
        sum / n as f64
    } else {
        1.0 / n as f64
    };
    if (x as f64) <= mean {
        return 0.0;
    }
    let var = if n > 1 {
        baseline.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
    } else {
        mean
    };
    let ln_tail = if var > mean * 1.000_001 {
        // Negative binomial with the same mean and variance: r = m² / (v − m), p = m / v.
        let r = mean * mean / (var - mean);
        let p = mean / var;
        ln_tail(
            x,
            (0..x)
                .map(|j| ((j as f64 + r) / (j as f64 + 1.0)).ln() + (1.0 - p).ln())
                .sum::<f64>()
                + r * p.ln(),
            |k| (k as f64 + r) / (k as f64 + 1.0) * (1.0 - p),
        )
    } else {
        let ln_pmf = -mean + (1..=x).map(|j| mean.ln() - (j as f64).ln()).sum::<f64>();
        ln_tail(x, ln_pmf, |k| mean / (k as f64 + 1.0))
    };
    (-ln_tail / std::f64::consts::LN_10).max(0.0)
}

/// `ln Σ_{k ≥ x} pmf(k)` from `ln pmf(x)` and the ratio `pmf(k + 1) / pmf(k)`.
fn ln_tail(x: u64, ln_pmf_x: f64, ratio: impl Fn(u64) -> f64) -> f64 {
    let mut sum = 1.0f64;
    let mut term = 1.0f64;
    for k in x..x.saturating_add(1_000_000) {
        term *= ratio(k);
        sum += term;
        if term < sum * 1e-15 {
            break;
        }
    }
    ln_pmf_x + sum.ln()
}

/// `[spikes]` in config.toml: the volume floors below which a bucket is never a spike, in reports
/// and alerts alike. A bucket of five posts from three people is noise however quiet its baseline.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpikesConfig {
    /// Posts (human posts unless `--all`) a bucket needs.
    pub min_posts: i64,
    /// Distinct human authors a bucket needs.
    pub min_authors: i64,
}

impl Default for SpikesConfig {
    fn default() -> Self {
        SpikesConfig {
            min_posts: 20,
            min_authors: 10,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() < tol
    }

    #[test]
    fn poisson_tail_matches_the_hand_computed_value() {
        // A flat baseline of 2 (variance 0): Poisson(2). P(X ≥ 5) = 1 − e⁻²(1 + 2 + 2 + 4/3 + 2/3)
        // = 1 − 7e⁻² = 0.052653.
        let s = surprise(5, &[2.0; 24]);
        assert!(
            close(s, -(1.0 - 7.0 * (-2.0f64).exp()).log10(), 1e-9),
            "{s}"
        );
    }

    #[test]
    fn negative_binomial_tail_matches_the_hand_computed_value() {
        // Baseline 0, 2, 0, 2 (mean 1, sample variance 4/3): r = 3, p = 3/4.
        // P(X ≥ 2) = 1 − p^r (1 + r(1 − p)) = 1 − (27/64)(1 + 3/4) = 1 − 189/256.
        let s = surprise(2, &[0.0, 2.0, 0.0, 2.0]);
        assert!(close(s, -(1.0 - 189.0 / 256.0f64).log10(), 1e-9), "{s}");
    }

    #[test]
    fn bursty_baselines_make_the_same_count_less_surprising() {
        let calm = [10.0; 24];
        let bursty: Vec<f64> = (0..24)
            .map(|i| if i % 4 == 0 { 34.0 } else { 2.0 })
            .collect();
        assert!(surprise(40, &calm) > surprise(40, &bursty) + 5.0);
    }

    #[test]
    fn huge_counts_stay_finite_and_rank_above_small_ones() {
        let baseline = [100.0; 24];
        let big = surprise(2_000, &baseline);
        assert!(big.is_finite() && big > 300.0, "{big}");
        assert!(surprise(150, &baseline) < big);
        assert_eq!(surprise(90, &baseline), 0.0);
        // After silence, five posts are surprising but less so than fifty.
        assert!(surprise(5, &[0.0; 24]) < surprise(50, &[0.0; 24]));
    }
}
