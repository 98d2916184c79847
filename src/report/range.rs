//! Parsing `--since` and `--until`: durations back from a reference (`30d`, `12h`, `90m`, `2w`),
//! RFC 3339 instants, or UTC dates (`2021-01-05` is that day's 00:00 UTC).
//!
//! `--until` is relative to now; `--since` is relative to `--until`, so `--until 2021-02-01
//! --since 7d` is the last week of January.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RangeError {
    #[error(
        "{flag}: cannot read `{input}` (expected a duration like 30d, 12h, 90m, 2w, an RFC 3339 time like 2021-01-05T10:00:00Z, or a date like 2021-01-05)"
    )]
    Unreadable { flag: &'static str, input: String },
    #[error("--since ({since}) is not before --until ({until})")]
    Empty {
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    },
}

/// A duration such as `30d`, `12h`, `90m`, `45s` or `2w`.
pub fn parse_duration(s: &str) -> Option<TimeDelta> {
    let s = s.trim();
    let unit_at = s.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = s.split_at(unit_at);
    let n: i64 = digits.parse().ok()?;
    let d = match unit {
        "s" => TimeDelta::try_seconds(n),
        "m" | "min" => TimeDelta::try_minutes(n),
        "h" => TimeDelta::try_hours(n),
        "d" => TimeDelta::try_days(n),
        "w" => TimeDelta::try_weeks(n),
        _ => None,
    }?;
    (n > 0).then_some(d)
}

/// An instant: a duration before `reference`, an RFC 3339 time or a UTC date.
pub fn parse_instant(
    flag: &'static str,
    input: &str,
    reference: DateTime<Utc>,
) -> Result<DateTime<Utc>, RangeError> {
    let s = input.trim();
    if let Some(d) = parse_duration(s) {
        return Ok(reference - d);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(RangeError::Unreadable {
        flag,
        input: input.to_string(),
    })
}

/// `[since, until)` from the two flags; `until` defaults to `now`.
pub fn parse_range(
    since: &str,
    until: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), RangeError> {
    let until = match until {
        Some(u) => parse_instant("--until", u, now)?,
        None => now,
    };
    let since = parse_instant("--since", since, until)?;
    if since >= until {
        return Err(RangeError::Empty { since, until });
    }
    Ok((since, until))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2021, 2, 1, 12, 30, 0).unwrap()
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d"), Some(TimeDelta::days(30)));
        assert_eq!(parse_duration("12h"), Some(TimeDelta::hours(12)));
        assert_eq!(parse_duration("90m"), Some(TimeDelta::minutes(90)));
        assert_eq!(parse_duration("2w"), Some(TimeDelta::days(14)));
        assert_eq!(parse_duration("0d"), None);
        assert_eq!(parse_duration("12"), None);
        assert_eq!(parse_duration("d"), None);
        assert_eq!(parse_duration("5y"), None);
    }

    #[test]
    fn since_is_relative_to_until_and_until_to_now() {
        let (s, u) = parse_range("7d", Some("2021-01-20"), now()).unwrap();
        assert_eq!(u, Utc.with_ymd_and_hms(2021, 1, 20, 0, 0, 0).unwrap());
        assert_eq!(s, Utc.with_ymd_and_hms(2021, 1, 13, 0, 0, 0).unwrap());
        let (s, u) = parse_range("12h", Some("1d"), now()).unwrap();
        assert_eq!(u, Utc.with_ymd_and_hms(2021, 1, 31, 12, 30, 0).unwrap());
        assert_eq!(s, Utc.with_ymd_and_hms(2021, 1, 31, 0, 30, 0).unwrap());
        let (s, u) = parse_range("30d", None, now()).unwrap();
        assert_eq!((u - s, u), (TimeDelta::days(30), now()));
    }

    #[test]
    fn rfc3339_with_offset_is_converted_to_utc() {
        let (s, _) = parse_range("2021-01-05T10:00:00+02:00", None, now()).unwrap();
        assert_eq!(s, Utc.with_ymd_and_hms(2021, 1, 5, 8, 0, 0).unwrap());
    }

    #[test]
    fn bad_input_names_the_flag_and_value() {
        let e = parse_range("last tuesday", None, now()).unwrap_err();
        assert_eq!(
            e,
            RangeError::Unreadable {
                flag: "--since",
                input: "last tuesday".into()
            }
        );
        assert!(e.to_string().contains("`last tuesday`"));
        let e = parse_range("7d", Some("2021-13-01"), now()).unwrap_err();
        assert!(e.to_string().starts_with("--until"), "{e}");
        let e = parse_range("2021-03-01", Some("2021-02-01"), now()).unwrap_err();
        assert!(matches!(e, RangeError::Empty { .. }));
    }
}
