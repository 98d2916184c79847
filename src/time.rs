//! One grammar for every duration and point in time a user types, in `config.toml`, in environment
//! overrides and on the command line.
//!
//! Durations are humantime's (`90s`, `5m`, `12h`, `30d`, `30days`, `2w`, `1h 30m`; a month is
//! 30.44 days and a year 365.25 days), plus `mo` for months, since `m` is minutes. Points in time are
//! a duration back from a reference, an RFC 3339 time (`2021-01-05T10:00:00Z`), a UTC time without
//! zone (`2020-11-01 00:00`, `2020-11-01T00:00:00`), a UTC date (`2021-01-05`, that day's 00:00) or
//! a month (`2020-11`, its first day's 00:00).

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};

/// What every error about a duration shows the user.
pub const DURATION_EXAMPLES: &str = "a duration like 90s, 5m, 12h, 30d, 30days, 2w or 1mo";

/// What every error about a point in time shows the user.
pub const INSTANT_EXAMPLES: &str = "a duration back like 30d, 12h or 1mo, a date like 2021-01-05, \
     a month like 2020-11, a UTC time like \"2020-11-01 00:00\", or an RFC 3339 time like \
     2021-01-05T10:00:00Z";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimeError {
    #[error("cannot read `{input}` as a duration (expected {DURATION_EXAMPLES})")]
    Duration { input: String },
    #[error("cannot read `{input}` as a point in time (expected {INSTANT_EXAMPLES})")]
    Instant { input: String },
}

/// A positive duration in the grammar above.
pub fn parse_duration(input: &str) -> Result<Duration, TimeError> {
    let err = || TimeError::Duration {
        input: input.to_string(),
    };
    let s = input.trim();
    // humantime spells months `M`, `month` or `months`; `mo` is what people write.
    let spelled = months_spelled_out(s);
    let d = humantime::parse_duration(&spelled).map_err(|_| err())?;
    if d.is_zero() {
        return Err(err());
    }
    Ok(d)
}

/// [`parse_duration`] as a `chrono` delta.
pub fn parse_delta(input: &str) -> Result<TimeDelta, TimeError> {
    let d = parse_duration(input)?;
    TimeDelta::from_std(d).map_err(|_| TimeError::Duration {
        input: input.to_string(),
    })
}

/// `1mo 2d` → `1month 2d`: every number directly followed by `mo`, `mos` or `mon`.
fn months_spelled_out(s: &str) -> String {
    s.split_whitespace()
        .map(|word| {
            let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            match &word[digits..] {
                "mo" | "mos" | "mon" if digits > 0 => format!("{}month", &word[..digits]),
                _ => word.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A point in time: a duration before `reference`, or an absolute time in the grammar above.
pub fn parse_instant(input: &str, reference: DateTime<Utc>) -> Result<DateTime<Utc>, TimeError> {
    let s = input.trim();
    if let Ok(d) = parse_delta(s) {
        return Ok(reference - d);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(TimeError::Instant {
        input: input.to_string(),
    })
}

/// `#[serde(with = "crate::time::serde_duration")]`: a config duration in the same grammar as the
/// command line.
pub mod serde_duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }

    /// The same for an optional key.
    pub mod option {
        use serde::{Deserialize, Deserializer};
        use std::time::Duration;

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            match Option::<String>::deserialize(d)? {
                Some(text) => super::super::parse_duration(&text)
                    .map(Some)
                    .map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn durations_in_every_spelling() {
        let day = 86_400;
        for (text, secs) in [
            ("90s", 90),
            ("5m", 300),
            ("90min", 5_400),
            ("12h", 12 * 3_600),
            ("30d", 30 * day),
            ("30days", 30 * day),
            ("2w", 14 * day),
            ("1h 30m", 5_400),
            ("1mo", 2_630_016),
            ("2months", 2 * 2_630_016),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
        for bad in ["", "0d", "12", "d", "soon", "5 parsecs"] {
            let e = parse_duration(bad).unwrap_err().to_string();
            assert!(e.contains("30days") && e.contains("1mo"), "{e}");
        }
    }

    #[test]
    fn instants_in_every_spelling() {
        let reference = Utc.with_ymd_and_hms(2021, 2, 1, 12, 30, 0).unwrap();
        let nov = Utc.with_ymd_and_hms(2020, 11, 1, 0, 0, 0).unwrap();
        for text in [
            "2020-11",
            "2020-11-01",
            "2020-11-01 00:00",
            "2020-11-01 00:00:00",
            "2020-11-01T00:00",
            "2020-11-01T00:00:00Z",
            "2020-11-01T02:00:00+02:00",
        ] {
            assert_eq!(parse_instant(text, reference), Ok(nov), "{text}");
        }
        assert_eq!(
            parse_instant("30days", reference),
            Ok(reference - TimeDelta::days(30))
        );
        assert_eq!(
            parse_instant("1mo", reference),
            Ok(reference - TimeDelta::seconds(2_630_016))
        );
        let e = parse_instant("last tuesday", reference)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`last tuesday`"), "{e}");
        assert!(e.contains("2020-11-01 00:00") && e.contains("1mo"), "{e}");
        assert!(parse_instant("2021-13", reference).is_err());
    }
}
