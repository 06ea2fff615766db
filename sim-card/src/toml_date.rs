//! Serde for `time::Date` that accepts TOML's native dates (`1985-04-12`) as
//! well as quoted strings, and writes native dates. Card profiles, personas
//! and the service's fixtures all use it.

use serde::{Deserialize, Deserializer, Serializer};
use time::Date;
use time::macros::format_description;

const FORMAT: &[time::format_description::FormatItem<'static>] =
    format_description!("[year]-[month]-[day]");

#[derive(Deserialize)]
#[serde(untagged)]
enum Written {
    Native(toml::value::Datetime),
    Text(String),
}

fn parse<E: serde::de::Error>(written: Written) -> Result<Date, E> {
    let text = match written {
        Written::Native(datetime) => datetime.to_string(),
        Written::Text(text) => text,
    };
    Date::parse(&text, FORMAT)
        .map_err(|_| E::custom(format!("{text:?} is not a date (YYYY-MM-DD)")))
}

pub fn serialize<S: Serializer>(date: &Date, s: S) -> Result<S::Ok, S::Error> {
    let text = date.format(FORMAT).map_err(serde::ser::Error::custom)?;
    let native: toml::value::Datetime = text.parse().map_err(serde::ser::Error::custom)?;
    serde::Serialize::serialize(&native, s)
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
    parse(Written::deserialize(d)?)
}

/// The same for an optional date. TOML has no null: its writer leaves a
/// field that is `None` out, so beside this module a field needs only
/// `default` (a missing key reads as `None`).
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
        Option::<super::Written>::deserialize(d)?
            .map(super::parse)
            .transpose()
    }
}
