//! Parsing `--since` and `--until` in the grammar of [`crate::time`]: durations back from a
//! reference (`30d`, `30days`, `12h`, `1mo`), RFC 3339 instants, UTC times (`"2020-11-01 00:00"`),
//! dates (`2021-01-05` is that day's 00:00 UTC) and months (`2020-11`).
//!
//! `--until` is relative to now; `--since` is relative to `--until`, so `--until 2021-02-01
//! --since 7d` is the last week of January.

use chrono::{DateTime, TimeDelta, Utc};

use crate::time::INSTANT_EXAMPLES;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RangeError {
    #[error("{flag}: cannot read `{input}` (expected {INSTANT_EXAMPLES})")]
    Unreadable { flag: &'static str, input: String },
    #[error("--since ({since}) is not before --until ({until})")]
    Empty {
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    },
}

/// A duration such as `30d`, `30days`, `12h`, `90m`, `2w` or `1mo` (see [`crate::time`]).
pub fn parse_duration(s: &str) -> Option<TimeDelta> {
    crate::time::parse_delta(s).ok()
}

/// An instant: a duration before `reference`, or an absolute time (see [`crate::time`]).
pub fn parse_instant(
    flag: &'static str,
    input: &str,
    reference: DateTime<Utc>,
) -> Result<DateTime<Utc>, RangeError> {
    crate::time::parse_instant(input, reference).map_err(|_| RangeError::Unreadable {
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
        assert_eq!(parse_duration("30days"), Some(TimeDelta::days(30)));
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
    fn months_and_times_without_zone() {
        let (s, u) = parse_range("2020-11", Some("2021-03"), now()).unwrap();
        assert_eq!(s, Utc.with_ymd_and_hms(2020, 11, 1, 0, 0, 0).unwrap());
        assert_eq!(u, Utc.with_ymd_and_hms(2021, 3, 1, 0, 0, 0).unwrap());
        let (s, _) = parse_range("2020-11-01 06:00", None, now()).unwrap();
        assert_eq!(s, Utc.with_ymd_and_hms(2020, 11, 1, 6, 0, 0).unwrap());
        let (s, u) = parse_range("1mo", None, now()).unwrap();
        assert!(u - s > TimeDelta::days(30) && u - s < TimeDelta::days(31));
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
        assert!(e.to_string().contains("2020-11-01 00:00"), "{e}");
        let e = parse_range("7d", Some("2021-13-01"), now()).unwrap_err();
        assert!(e.to_string().starts_with("--until"), "{e}");
        let e = parse_range("2021-03-01", Some("2021-02-01"), now()).unwrap_err();
        assert!(matches!(e, RangeError::Empty { .. }));
    }
}
