//! Number and time formatting for axis labels, titles and attributions.
//!
//! plotters prints numbers with `Display`, which gives `58000` and `0.30000000000000004`. Readers of a
//! price chart expect `$58,000`, counts with thousands separators, and dates at a precision that
//! suits the time range, so every label on a coinpulse chart goes through these functions.

use chrono::{DateTime, Duration, Timelike, Utc};

/// `12345` → `12,345`; `-1234567` → `-1,234,567`.
pub fn thousands(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if value < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A number with `decimals` digits after the point and thousands separators in the integer part:
/// `(1234.5, 2)` → `1,234.50`. Non-finite values print as `–`.
pub fn number(value: f64, decimals: usize) -> String {
    if !value.is_finite() {
        return "–".to_string();
    }
    let fixed = format!("{:.*}", decimals, value.abs());
    let (int_part, frac_part) = match fixed.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (fixed.as_str(), None),
    };
    // Parsing back cannot fail: `int_part` is the digits `format!` just wrote. Values beyond i64 are
    // far outside anything a chart shows, so they fall back to the unseparated digits.
    let int_str = int_part
        .parse::<i64>()
        .map(thousands)
        .unwrap_or_else(|_| int_part.to_string());
    let negative = value < 0.0 && fixed.chars().any(|c| c.is_ascii_digit() && c != '0');
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    out.push_str(&int_str);
    if let Some(f) = frac_part {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// A US-dollar amount with a precision suited to its size: `$58,000`, `$1.25`, `$0.003214`.
pub fn usd(value: f64) -> String {
    let abs = value.abs();
    let decimals = if abs >= 1000.0 {
        0
    } else if abs >= 1.0 || abs == 0.0 {
        2
    } else {
        // Four significant digits for sub-dollar coins.
        (3 - abs.log10().floor() as i64).clamp(2, 10) as usize
    };
    usd_with(value, decimals)
}

/// A US-dollar amount with a fixed number of decimals: `(58000.0, 0)` → `$58,000`.
pub fn usd_with(value: f64, decimals: usize) -> String {
    let n = number(value, decimals);
    match n.strip_prefix('-') {
        Some(rest) => format!("-${rest}"),
        None => format!("${n}"),
    }
}

/// How many decimals the tick labels of an axis with tick spacing `step` need so that neighbouring
/// ticks print differently: a step of 500 needs none, 0.25 needs two, 0.0005 needs four.
pub fn decimals_for_step(step: f64) -> usize {
    if !step.is_finite() || step <= 0.0 || step >= 1.0 {
        return 0;
    }
    (-step.log10() - 1e-9).ceil().clamp(0.0, 10.0) as usize
}

/// The x-axis label of the tick at `t` on a time range of length `span`: a tick at UTC midnight
/// shows the date (month-day, or year-month beyond about a year), any other tick its clock time. A
/// 3-day chart with 6-hour ticks reads `01-01, 06:00, 12:00, 18:00, 01-02, ...`, never the same
/// date twice.
pub fn tick_label(t: DateTime<Utc>, span: Duration) -> String {
    if t.num_seconds_from_midnight() != 0 {
        t.format("%H:%M").to_string()
    } else if span <= Duration::days(400) {
        t.format("%m-%d").to_string()
    } else {
        t.format("%Y-%m").to_string()
    }
}

/// A compact duration: `1h`, `15min`, `1d`, `2w`, `90s`. Used for bucket sizes and lags.
pub fn duration(d: Duration) -> String {
    let secs = d.num_seconds();
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.unsigned_abs();
    let body = if s == 0 {
        "0".to_string()
    } else if s.is_multiple_of(7 * 86_400) {
        format!("{}w", s / (7 * 86_400))
    } else if s.is_multiple_of(86_400) {
        format!("{}d", s / 86_400)
    } else if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}min", s / 60)
    } else {
        format!("{s}s")
    };
    format!("{sign}{body}")
}

/// A signed lag: `+3h`, `-12h`, `0`.
pub fn signed_duration(d: Duration) -> String {
    if d > Duration::zero() {
        format!("+{}", duration(d))
    } else {
        duration(d)
    }
}

/// A lag for the correlogram axis: whole hours up to three days (`-24h`, `+6h`), else as
/// [`signed_duration`].
pub fn lag(d: Duration) -> String {
    let secs = d.num_seconds();
    if secs != 0 && secs.rem_euclid(3600) == 0 && secs.abs() <= 72 * 3600 {
        return format!("{:+}h", secs / 3600);
    }
    signed_duration(d)
}

/// The time range `[start, end)` as a title shows it.
///
/// Whole-day ranges print their first and last day, inclusive: `2020-11-01 – 2021-02-28` for
/// `2020-11-01T00:00Z..2021-03-01T00:00Z`. Other ranges print minutes and say UTC.
pub fn time_range(start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    let midnight = |t: DateTime<Utc>| t.num_seconds_from_midnight() == 0 && t.nanosecond() == 0;
    if midnight(start) && midnight(end) && end - start >= Duration::days(1) {
        let last = end - Duration::days(1);
        if last.date_naive() == start.date_naive() {
            return start.format("%Y-%m-%d").to_string();
        }
        return format!("{} – {}", start.format("%Y-%m-%d"), last.format("%Y-%m-%d"));
    }
    if start.date_naive() == end.date_naive() {
        return format!(
            "{} {}–{} UTC",
            start.format("%Y-%m-%d"),
            start.format("%H:%M"),
            end.format("%H:%M")
        );
    }
    format!(
        "{} – {} UTC",
        start.format("%Y-%m-%d %H:%M"),
        end.format("%Y-%m-%d %H:%M")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(12345), "12,345");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(-1234567), "-1,234,567");
        assert_eq!(thousands(i64::MIN), "-9,223,372,036,854,775,808");
    }

    #[test]
    fn numbers_with_decimals() {
        assert_eq!(number(1234.5, 2), "1,234.50");
        assert_eq!(number(-0.001, 2), "0.00");
        assert_eq!(number(-1234.567, 1), "-1,234.6");
        assert_eq!(number(f64::NAN, 2), "–");
    }

    #[test]
    fn currency() {
        assert_eq!(usd(58000.0), "$58,000");
        assert_eq!(usd(58123.7), "$58,124");
        assert_eq!(usd(1.25), "$1.25");
        assert_eq!(usd(0.0), "$0.00");
        assert_eq!(usd(0.003214), "$0.003214");
        assert_eq!(usd(0.25), "$0.2500");
        assert_eq!(usd(-1500.0), "-$1,500");
        assert_eq!(usd_with(58000.0, 0), "$58,000");
        assert_eq!(usd_with(1234.5, 2), "$1,234.50");
    }

    #[test]
    fn decimals_follow_tick_step() {
        assert_eq!(decimals_for_step(500.0), 0);
        assert_eq!(decimals_for_step(1.0), 0);
        assert_eq!(decimals_for_step(0.5), 1);
        assert_eq!(decimals_for_step(0.25), 1);
        assert_eq!(decimals_for_step(0.1), 1);
        assert_eq!(decimals_for_step(0.05), 2);
        assert_eq!(decimals_for_step(0.0005), 4);
        assert_eq!(decimals_for_step(0.0), 0);
    }

    #[test]
    fn ticks_show_dates_at_midnight_and_times_otherwise() {
        use chrono::TimeZone;
        let t = |d, h| Utc.with_ymd_and_hms(2021, 1, d, h, 0, 0).unwrap();
        let span = Duration::days(3) + Duration::hours(1);
        let labels: Vec<String> = [t(1, 0), t(1, 6), t(1, 12), t(2, 0)]
            .iter()
            .map(|&x| tick_label(x, span))
            .collect();
        assert_eq!(labels, ["01-01", "06:00", "12:00", "01-02"]);
        assert_eq!(tick_label(t(1, 0), Duration::days(120)), "01-01");
        assert_eq!(tick_label(t(1, 0), Duration::days(800)), "2021-01");
        assert_eq!(tick_label(t(1, 18), Duration::hours(12)), "18:00");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(Duration::hours(1)), "1h");
        assert_eq!(duration(Duration::minutes(15)), "15min");
        assert_eq!(duration(Duration::days(1)), "1d");
        assert_eq!(duration(Duration::days(14)), "2w");
        assert_eq!(duration(Duration::seconds(90)), "90s");
        assert_eq!(signed_duration(Duration::hours(3)), "+3h");
        assert_eq!(signed_duration(Duration::hours(-12)), "-12h");
        assert_eq!(signed_duration(Duration::zero()), "0");
        assert_eq!(lag(Duration::hours(-24)), "-24h");
        assert_eq!(lag(Duration::hours(6)), "+6h");
        assert_eq!(lag(Duration::zero()), "0");
        assert_eq!(lag(Duration::days(7)), "+1w");
    }

    #[test]
    fn ranges() {
        let t = |y, m, d, h| Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap();
        assert_eq!(
            time_range(t(2020, 11, 1, 0), t(2021, 3, 1, 0)),
            "2020-11-01 – 2021-02-28"
        );
        assert_eq!(time_range(t(2021, 1, 5, 0), t(2021, 1, 6, 0)), "2021-01-05");
        assert_eq!(
            time_range(t(2021, 1, 5, 6), t(2021, 1, 5, 18)),
            "2021-01-05 06:00–18:00 UTC"
        );
        assert_eq!(
            time_range(t(2021, 1, 5, 6), t(2021, 1, 7, 18)),
            "2021-01-05 06:00 – 2021-01-07 18:00 UTC"
        );
    }
}
