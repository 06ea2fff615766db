//! Dates as the service writes them, and as fixtures write them.
//!
//! The file interface writes dates as `YYYYMMDD` and the execution time as
//! `YYYYMMDDHHmmss`, with no separators and no time zone (the service runs on
//! JST). Fixtures are TOML, whose native dates (`2026-12-01`) are easier to
//! read and to get right; both forms end up as `time::Date`.

use time::macros::format_description;
use time::{Date, PrimitiveDateTime};

const YYYYMMDD: &[time::format_description::FormatItem<'static>] =
    format_description!("[year][month][day]");
const YYYYMMDDHHMMSS: &[time::format_description::FormatItem<'static>] =
    format_description!("[year][month][day][hour][minute][second]");

/// `YYYYMMDD`, as every date element of the XML carries it.
pub fn format_yyyymmdd(date: Date) -> String {
    // Years 0..=9999 always format; the fallback only keeps this function total.
    date.format(YYYYMMDD).unwrap_or_default()
}

/// Parses `YYYYMMDD`: exactly eight digits naming a real calendar day.
pub fn parse_yyyymmdd(text: &str) -> Option<Date> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Date::parse(text, YYYYMMDD).ok()
}

/// `YYYYMMDDHHmmss`, the form of ProcessExecutionTime.
pub fn format_yyyymmddhhmmss(at: PrimitiveDateTime) -> String {
    at.format(YYYYMMDDHHMMSS).unwrap_or_default()
}

/// Parses `YYYYMMDDHHmmss`.
pub fn parse_yyyymmddhhmmss(text: &str) -> Option<PrimitiveDateTime> {
    if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    PrimitiveDateTime::parse(text, YYYYMMDDHHMMSS).ok()
}

/// Serde for a `Date` written `YYYYMMDD` (JSON and XML values).
pub mod yyyymmdd {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    pub fn serialize<S: Serializer>(date: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_yyyymmdd(*date))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_yyyymmdd(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a YYYYMMDD date")))
    }

    /// The same for an optional date.
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};
        use time::Date;

        pub fn serialize<S: Serializer>(date: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
            match date {
                Some(date) => super::serialize(date, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
            match Option::<String>::deserialize(d)? {
                None => Ok(None),
                Some(text) => super::super::parse_yyyymmdd(&text)
                    .map(Some)
                    .ok_or_else(|| {
                        serde::de::Error::custom(format!("{text:?} is not a YYYYMMDD date"))
                    }),
            }
        }
    }
}

/// Serde for a `PrimitiveDateTime` written `YYYYMMDDHHmmss`.
pub mod yyyymmddhhmmss {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::PrimitiveDateTime;

    pub fn serialize<S: Serializer>(at: &PrimitiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_yyyymmddhhmmss(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PrimitiveDateTime, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_yyyymmddhhmmss(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("{text:?} is not a YYYYMMDDHHmmss time"))
        })
    }
}

/// Serde for a `Date` in a fixture: the card profiles' own, so that a date
/// reads the same in a fixture and in the card profile inside it.
pub use sim_card::toml_date;

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn yyyymmdd_round_trips_and_refuses_impossible_days() {
        assert_eq!(format_yyyymmdd(date!(1900 - 01 - 01)), "19000101");
        assert_eq!(parse_yyyymmdd("20261201"), Some(date!(2026 - 12 - 01)));
        for bad in [
            "20260230",
            "2026121",
            "2026-12-01",
            "２０２６１２０１",
            "+2026120",
        ] {
            assert_eq!(parse_yyyymmdd(bad), None, "{bad}");
        }
    }

    #[test]
    fn execution_time_has_fourteen_digits() {
        let at = datetime!(2026-12-01 09:05:07);
        assert_eq!(format_yyyymmddhhmmss(at), "20261201090507");
        assert_eq!(parse_yyyymmddhhmmss("20261201090507"), Some(at));
        assert_eq!(parse_yyyymmddhhmmss("20261201250507"), None);
    }
}
