//! The statistics behind spikes and lead–lag: trailing z-scores, log returns and Pearson r.
//!
//! Plain functions over slices, so they are tested on hand-computed vectors and shared by the CLI,
//! charts and alerts alike.

/// Trailing z-score of each point against the `window` points before it (not including itself):
/// `z[i] = (x[i] − mean(x[i−w..i])) / sd(x[i−w..i])`, with the sample standard deviation (n − 1).
///
/// `None` for the first `window` points (no full window yet) and where the window is constant
/// (sd = 0: a jump from a flat line has no finite z-score). Excluding the point itself keeps a spike
/// from inflating its own baseline.
pub fn trailing_zscores(values: &[f64], window: usize) -> Vec<Option<f64>> {
    (0..values.len())
        .map(|i| {
            if window < 2 || i < window {
                return None;
            }
            let w = &values[i - window..i];
            let (mean, sd) = mean_sd(w)?;
            (sd > 0.0).then(|| (values[i] - mean) / sd)
        })
        .collect()
}

/// Mean and sample standard deviation; `None` for fewer than two values.
pub fn mean_sd(values: &[f64]) -> Option<(f64, f64)> {
    let n = values.len();
    if n < 2 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    Some((mean, var.sqrt()))
}

/// Pearson correlation of the pairs; `None` for fewer than three pairs or a constant side.
pub fn pearson(pairs: &[(f64, f64)]) -> Option<f64> {
    let n = pairs.len();
    if n < 3 {
        return None;
    }
    let mx = pairs.iter().map(|p| p.0).sum::<f64>() / n as f64;
    let my = pairs.iter().map(|p| p.1).sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in pairs {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx).powi(2);
        syy += (y - my).powi(2);
    }
    if sxx == 0.0 || syy == 0.0 {
        return None;
    }
    Some(sxy / (sxx * syy).sqrt())
}

/// Log return of each bucket from the bucket before: `ln(p[i] / p[i−1])`, `None` where either
/// price is missing or not positive.
pub fn log_returns(prices: &[Option<f64>]) -> Vec<Option<f64>> {
    (0..prices.len())
        .map(
            |i| match (i.checked_sub(1).and_then(|j| prices[j]), prices[i]) {
                (Some(a), Some(b)) if a > 0.0 && b > 0.0 => Some((b / a).ln()),
                _ => None,
            },
        )
        .collect()
}

/// Correlation at one lag.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct LagCorrelation {
    /// In buckets. Positive: volume leads price (volume at t against the return at t + lag).
    pub lag: i64,
    pub r: Option<f64>,
    /// Pairs the correlation used.
    pub n: usize,
}

/// Pearson r between `x[t]` and `y[t + lag]` for every lag in `-max_lag..=max_lag`, over the pairs
/// where both are present. With `x` = mention volume and `y` = returns, a positive lag with a large
/// |r| means volume moved first.
pub fn lead_lag(x: &[Option<f64>], y: &[Option<f64>], max_lag: usize) -> Vec<LagCorrelation> {
    let max = max_lag as i64;
    (-max..=max)
        .map(|lag| {
            let pairs: Vec<(f64, f64)> = (0..x.len() as i64)
                .filter_map(|t| {
                    let u = t + lag;
                    if u < 0 || u >= y.len() as i64 {
                        return None;
                    }
                    Some((x[t as usize]?, y[u as usize]?))
                })
                .collect();
            LagCorrelation {
                lag,
                r: pearson(&pairs),
                n: pairs.len(),
            }
        })
        .collect()
}

/// The lag with the largest |r| (ties: the smaller |lag|).
pub fn best_lag(correlations: &[LagCorrelation]) -> Option<LagCorrelation> {
    correlations
        .iter()
        .filter(|c| c.r.is_some())
        .copied()
        .max_by(|a, b| {
            let (ra, rb) = (a.r.unwrap_or(0.0).abs(), b.r.unwrap_or(0.0).abs());
            ra.total_cmp(&rb).then(b.lag.abs().cmp(&a.lag.abs()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn zscore_uses_only_the_points_before() {
        // Window [1, 2, 3]: mean 2, sample sd 1. The next point 5 is (5 − 2) / 1 = 3.
        let z = trailing_zscores(&[1.0, 2.0, 3.0, 5.0, 2.0], 3);
        assert_eq!(&z[..3], &[None, None, None]);
        assert!(close(z[3].unwrap(), 3.0));
        // Window [2, 3, 5]: mean 10/3, sd sqrt(((4/3)² + (1/3)² + (5/3)²) / 2) = sqrt(7/3).
        let expected = (2.0 - 10.0 / 3.0) / (7.0f64 / 3.0).sqrt();
        assert!(close(z[4].unwrap(), expected), "{:?}", z[4]);
    }

    #[test]
    fn zscore_of_a_flat_window_is_undefined() {
        let z = trailing_zscores(&[4.0, 4.0, 4.0, 9.0], 3);
        assert_eq!(z, vec![None, None, None, None]);
    }

    #[test]
    fn pearson_on_hand_computed_vectors() {
        let perfect: Vec<(f64, f64)> = (0..5).map(|i| (i as f64, 2.0 * i as f64 + 1.0)).collect();
        assert!(close(pearson(&perfect).unwrap(), 1.0));
        let inverse: Vec<(f64, f64)> = (0..5).map(|i| (i as f64, -(i as f64))).collect();
        assert!(close(pearson(&inverse).unwrap(), -1.0));
        // x = 1,2,3,4; y = 2,1,4,3: sxy = 3, sxx = syy = 5, r = 0.6.
        let r = pearson(&[(1.0, 2.0), (2.0, 1.0), (3.0, 4.0), (4.0, 3.0)]).unwrap();
        assert!(close(r, 0.6), "{r}");
        assert_eq!(pearson(&[(1.0, 1.0), (2.0, 2.0)]), None);
        assert_eq!(pearson(&[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]), None);
    }

    #[test]
    fn lead_lag_finds_volume_leading_by_two_buckets() {
        // y is x shifted two buckets later: volume at t predicts y at t + 2.
        let x = [1.0, 5.0, 2.0, 8.0, 3.0, 7.0, 1.0, 4.0, 6.0, 2.0];
        let xs: Vec<Option<f64>> = x.iter().map(|v| Some(*v)).collect();
        let mut ys = vec![None, None];
        ys.extend(x[..8].iter().map(|v| Some(*v)));
        let c = lead_lag(&xs, &ys, 3);
        assert_eq!(c.len(), 7);
        assert_eq!(c[0].lag, -3);
        let best = best_lag(&c).unwrap();
        assert_eq!(best.lag, 2);
        assert!(close(best.r.unwrap(), 1.0));
        assert_eq!(best.n, 8);
        // Lag −2 pairs y[t − 2] with x[t]: far from perfect.
        assert!(c[1].r.unwrap().abs() < 0.9);
    }

    #[test]
    fn log_returns_skip_gaps() {
        let r = log_returns(&[Some(100.0), Some(110.0), None, Some(99.0), Some(99.0)]);
        assert_eq!(r[0], None);
        assert!(close(r[1].unwrap(), (1.1f64).ln()));
        assert_eq!((r[2], r[3]), (None, None));
        assert!(close(r[4].unwrap(), 0.0));
    }
}
