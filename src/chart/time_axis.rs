//! A time axis with ticks at steps people count in.
//!
//! plotters' own `DateTime` axis picks hour steps from a base-60 ladder (1, 2, 5, 10, 15h ...), which
//! puts ticks at 05:00, 10:00, 15:00. This axis chooses the smallest step from 1h, 2h, 3h, 6h, 12h,
//! 1d, 2d, 3d, 7d, 14d, 30d, 60d, 90d, 180d, 365d that keeps the tick count within plotters' hint, and
//! aligns ticks to UTC midnight.

use std::ops::Range;

use chrono::{DateTime, Duration, Timelike, Utc};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};

const STEPS_HOURS: [i64; 15] = [
    1,
    2,
    3,
    6,
    12,
    24,
    48,
    72,
    7 * 24,
    14 * 24,
    30 * 24,
    60 * 24,
    90 * 24,
    180 * 24,
    365 * 24,
];

/// `[start, end)` mapped linearly onto the pixels, with round-number ticks.
#[derive(Debug, Clone)]
pub struct TimeAxis {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl TimeAxis {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> TimeAxis {
        TimeAxis { start, end }
    }

    /// Ticks at most `max` apart in count, aligned to UTC midnight.
    pub fn ticks(&self, max: usize) -> Vec<DateTime<Utc>> {
        let span = self.end - self.start;
        if max == 0 || span <= Duration::zero() {
            return Vec::new();
        }
        let step = STEPS_HOURS
            .iter()
            .map(|h| Duration::hours(*h))
            .find(|step| ((span.num_seconds() / step.num_seconds()) as usize) < max)
            .unwrap_or(Duration::hours(365 * 24));
        let midnight =
            self.start - Duration::seconds(self.start.num_seconds_from_midnight() as i64);
        let from_midnight = (self.start - midnight).num_seconds();
        let s = step.num_seconds();
        let first = midnight + Duration::seconds((from_midnight + s - 1) / s * s);
        let mut out = Vec::new();
        let mut t = first;
        while t <= self.end && out.len() < max {
            out.push(t);
            t += step;
        }
        out
    }
}

impl Ranged for TimeAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = DateTime<Utc>;

    fn map(&self, value: &DateTime<Utc>, limit: (i32, i32)) -> i32 {
        let total = (self.end - self.start).num_milliseconds().max(1) as f64;
        let x = (*value - self.start).num_milliseconds() as f64;
        limit.0 + ((limit.1 - limit.0) as f64 * x / total).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<DateTime<Utc>> {
        self.ticks(hint.max_num_points())
    }

    fn range(&self) -> Range<DateTime<Utc>> {
        self.start..self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ticks_use_round_steps_from_midnight() {
        let t0 = Utc.with_ymd_and_hms(2021, 1, 1, 0, 0, 0).unwrap();
        let day = TimeAxis::new(t0, t0 + Duration::days(1)).ticks(10);
        let hours: Vec<u32> = day.iter().map(|t| t.hour()).collect();
        assert_eq!(hours, vec![0, 3, 6, 9, 12, 15, 18, 21, 0]);
        let month = TimeAxis::new(t0, t0 + Duration::days(30)).ticks(12);
        assert_eq!(month[1] - month[0], Duration::days(3));
        let odd = Utc.with_ymd_and_hms(2021, 1, 1, 7, 30, 0).unwrap();
        let ticks = TimeAxis::new(odd, odd + Duration::hours(12)).ticks(8);
        assert_eq!(ticks[0], Utc.with_ymd_and_hms(2021, 1, 1, 8, 0, 0).unwrap());
        assert_eq!(ticks[1] - ticks[0], Duration::hours(2));
        assert!(TimeAxis::new(t0, t0).ticks(10).is_empty());
    }
}
