//! Lead–lag correlation between mention volume and price returns.
//!
//! The question the correlogram answers is "do mentions move before the price, or after it?". For
//! each lag `k` we take the Pearson correlation of `volume[t]` with `returns[t + k]` over every `t`
//! where both exist. **Positive `k` means volume leads price**: a high `r` at `k = +3` says that
//! busy hours tend to be followed, three buckets later, by a price move in the same direction.
//! Negative `k` means the price moved first.
//!
//! The functions are pure and work on bucket-aligned slices, so reports can reuse them without the
//! chart code. Missing buckets are `NaN`: a pair with a missing side is left out, instead of being
//! counted as zero.

use chrono::{DateTime, Duration, Utc};

/// Fewest pairs for which a correlation is reported. Two points always give `r = ±1`.
pub const MIN_PAIRS: usize = 3;

/// Pearson correlation of the pairs `(x[i], y[i])` where both are finite. `None` when there are fewer
/// than [`MIN_PAIRS`] such pairs or when either side is constant.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    pearson_pairs(|| x.iter().copied().zip(y.iter().copied()))
}

/// Correlations of `volume[t]` with `returns[t + lag]` for every `lag` in `-max_lag..=max_lag`,
/// in that order. Index `i` of both slices must describe the same time bucket; indices outside
/// either slice and non-finite values are skipped. A negative `max_lag` is read as its absolute
/// value.
pub fn lead_lag(volume: &[f64], returns: &[f64], max_lag: i32) -> Vec<(i32, Option<f64>)> {
    let max_lag = max_lag.unsigned_abs() as i64;
    (-max_lag..=max_lag)
        .map(|lag| {
            let pairs = || {
                volume.iter().enumerate().filter_map(move |(t, &v)| {
                    let j = t as i64 + lag;
                    if j < 0 {
                        return None;
                    }
                    returns.get(j as usize).map(|&r| (v, r))
                })
            };
            (lag as i32, pearson_pairs(pairs))
        })
        .collect()
}

/// Log returns `ln(p[t] / p[t-1])`, aligned with the input: element 0, and every element next to a
/// missing or non-positive price, is `NaN`.
pub fn log_returns(prices: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(prices.len());
    for (t, &p) in prices.iter().enumerate() {
        let r = match t.checked_sub(1).map(|i| prices[i]) {
            Some(prev) if prev.is_finite() && p.is_finite() && prev > 0.0 && p > 0.0 => {
                (p / prev).ln()
            }
            _ => f64::NAN,
        };
        out.push(r);
    }
    out
}

/// Volume and price on a regular bucket grid, ready for [`log_returns`] and [`lead_lag`].
#[derive(Debug, Clone, PartialEq)]
pub struct Aligned {
    /// Start of each bucket.
    pub times: Vec<DateTime<Utc>>,
    /// Mentions in the bucket. A bucket with no row is zero: the rollup only stores busy buckets.
    pub volume: Vec<f64>,
    /// The last price observed inside the bucket, or `NaN` when there was none.
    pub price: Vec<f64>,
}

/// Puts `volume` and `price` observations on the grid `start, start + bucket, ..` up to `end`
/// (exclusive). Observations outside the range are ignored. Returns an empty grid when `bucket` is not
/// positive or the range is empty.
pub fn align(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    bucket: Duration,
    volume: &[(DateTime<Utc>, i64)],
    price: &[(DateTime<Utc>, f64)],
) -> Aligned {
    let n = grid_len(start, end, bucket);
    let times = (0..n).map(|i| start + bucket * i as i32).collect();
    let index = |t: DateTime<Utc>| -> Option<usize> {
        if t < start || t >= end {
            return None;
        }
        let i = ((t - start).num_milliseconds() / bucket.num_milliseconds()) as usize;
        (i < n).then_some(i)
    };
    let mut vol = vec![0.0; n];
    for &(t, v) in volume {
        if let Some(i) = index(t) {
            vol[i] += v as f64;
        }
    }
    let mut px = vec![f64::NAN; n];
    let mut px_time: Vec<Option<DateTime<Utc>>> = vec![None; n];
    for &(t, p) in price {
        if let Some(i) = index(t)
            && p.is_finite()
            && px_time[i].is_none_or(|seen| t >= seen)
        {
            px[i] = p;
            px_time[i] = Some(t);
        }
    }
    Aligned {
        times,
        volume: vol,
        price: px,
    }
}

/// Number of buckets of size `bucket` in `[start, end)`, rounding a partial last bucket up. Capped at
/// one million so a misconfigured bucket cannot exhaust memory.
pub(crate) fn grid_len(start: DateTime<Utc>, end: DateTime<Utc>, bucket: Duration) -> usize {
    let b = bucket.num_milliseconds();
    let span = (end - start).num_milliseconds();
    if b <= 0 || span <= 0 {
        return 0;
    }
    (((span + b - 1) / b) as usize).min(1_000_000)
}

fn pearson_pairs<I, F>(pairs: F) -> Option<f64>
where
    F: Fn() -> I,
    I: Iterator<Item = (f64, f64)>,
{
    let finite = || pairs().filter(|(a, b)| a.is_finite() && b.is_finite());
    let (mut n, mut sx, mut sy) = (0usize, 0.0, 0.0);
    for (a, b) in finite() {
        n += 1;
        sx += a;
        sy += b;
    }
    if n < MIN_PAIRS {
        return None;
    }
    let (mx, my) = (sx / n as f64, sy / n as f64);
    // Second pass on centred values: the one-pass formula loses all precision when volumes are in
    // the thousands and returns are around 1e-3.
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in finite() {
        let (da, db) = (a - mx, b - my);
        sxy += da * db;
        sxx += da * da;
        syy += db * db;
    }
    if sxx <= 0.0 || syy <= 0.0 {
        return None;
    }
    Some((sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    #[test]
    fn pearson_hand_computed() {
        // x = 1,2,3,4; y = 2,4,5,4. mx = 2.5, my = 3.75.
        // dx = -1.5,-.5,.5,1.5; dy = -1.75,.25,1.25,.25
        // sxy = 2.625 - .125 + .625 + .375 = 3.5; sxx = 5; syy = 3.0625+.0625+1.5625+.0625 = 4.75
        // r = 3.5 / sqrt(5 * 4.75) = 0.71818485...
        let r = pearson(&[1.0, 2.0, 3.0, 4.0], &[2.0, 4.0, 5.0, 4.0]);
        assert!(close(r, 3.5 / (5.0f64 * 4.75).sqrt()), "{r:?}");
        assert!(close(pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), -1.0));
    }

    #[test]
    fn pearson_undefined_cases() {
        assert_eq!(pearson(&[], &[]), None);
        assert_eq!(pearson(&[1.0, 2.0], &[1.0, 2.0]), None, "two pairs");
        assert_eq!(
            pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]),
            None,
            "constant x"
        );
        assert_eq!(
            pearson(&[1.0, f64::NAN, 3.0, 4.0], &[1.0, 2.0, f64::NAN, 4.0]),
            None,
            "only two finite pairs"
        );
    }

    #[test]
    fn pearson_skips_missing_pairs() {
        let r = pearson(&[1.0, 2.0, f64::NAN, 3.0, 4.0], &[2.0, 4.0, 9.0, 5.0, 4.0]);
        assert!(close(r, 3.5 / (5.0f64 * 4.75).sqrt()), "{r:?}");
    }

    #[test]
    fn positive_lag_means_volume_leads() {
        // returns[t] = volume[t - 2]: volume leads by two buckets.
        let volume = [5.0, 1.0, 4.0, 2.0, 8.0, 3.0, 7.0, 0.0, 6.0, 2.0];
        let mut returns = vec![f64::NAN; volume.len()];
        returns[2..].copy_from_slice(&volume[..volume.len() - 2]);
        let ll = lead_lag(&volume, &returns, 3);
        let lags: Vec<i32> = ll.iter().map(|(k, _)| *k).collect();
        assert_eq!(lags, vec![-3, -2, -1, 0, 1, 2, 3]);
        let at = |k: i32| ll.iter().find(|(l, _)| *l == k).unwrap().1;
        assert!(close(at(2), 1.0), "lag +2: {:?}", at(2));
        for k in [-3, -2, -1, 0, 1, 3] {
            assert!(at(k).unwrap().abs() < 0.99, "lag {k}: {:?}", at(k));
        }
    }

    #[test]
    fn lag_pairs_hand_computed() {
        // lag +1 pairs (v[0],r[1]), (v[1],r[2]), (v[2],r[3]) = (1,2),(2,4),(3,5)
        // mx = 2, my = 11/3; dx = -1,0,1; dy = -5/3,1/3,4/3; sxy = 3; sxx = 2; syy = 42/9
        // lag -1 pairs (v[1],r[0]), (v[2],r[1]), (v[3],r[2]) = (2,9),(3,2),(4,4)
        // mx = 3, my = 5; dx = -1,0,1; dy = 4,-3,-1; sxy = -5; sxx = 2; syy = 26
        let volume = [1.0, 2.0, 3.0, 4.0];
        let returns = [9.0, 2.0, 4.0, 5.0];
        let ll = lead_lag(&volume, &returns, 1);
        assert_eq!(ll.len(), 3);
        assert!(close(ll[2].1, 3.0 / (2.0f64 * 42.0 / 9.0).sqrt()), "{ll:?}");
        assert!(close(ll[0].1, -5.0 / (2.0f64 * 26.0).sqrt()), "{ll:?}");
        assert_eq!(lead_lag(&volume, &returns, -1).len(), 3);
        assert_eq!(
            lead_lag(&[], &[], 2),
            vec![(-2, None), (-1, None), (0, None), (1, None), (2, None)]
        );
    }

    #[test]
    fn returns_are_aligned_and_skip_gaps() {
        let r = log_returns(&[100.0, 110.0, f64::NAN, 121.0, 0.0, 5.0]);
        assert_eq!(r.len(), 6);
        assert!(r[0].is_nan());
        assert!((r[1] - (1.1f64).ln()).abs() < 1e-12);
        assert!(r[2].is_nan() && r[3].is_nan(), "next to a gap");
        assert!(r[4].is_nan() && r[5].is_nan(), "zero price");
    }

    #[test]
    fn align_puts_observations_in_buckets() {
        let t0 = Utc.with_ymd_and_hms(2021, 1, 1, 0, 0, 0).unwrap();
        let h = Duration::hours(1);
        let a = align(
            t0,
            t0 + h * 4,
            h,
            &[
                (t0, 3),
                (t0 + Duration::minutes(30), 2),
                (t0 + h * 2, 7),
                (t0 + h * 9, 1),
            ],
            &[
                (t0 + Duration::minutes(50), 11.0),
                (t0 + Duration::minutes(10), 10.0),
                (t0 + h * 3, 13.0),
            ],
        );
        assert_eq!(a.times.len(), 4);
        assert_eq!(a.volume, vec![5.0, 0.0, 7.0, 0.0]);
        assert_eq!(a.price[0], 11.0, "last observation in the bucket wins");
        assert!(a.price[1].is_nan() && a.price[2].is_nan());
        assert_eq!(a.price[3], 13.0);
        assert_eq!(grid_len(t0, t0, h), 0);
        assert_eq!(grid_len(t0, t0 + Duration::minutes(90), h), 2);
    }
}
