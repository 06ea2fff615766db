//! Card profiles: who the card belongs to and what state it is in.
//!
//! A profile is a TOML file (see `profiles/default.toml`). Everything that makes
//! one card differ from another lives here: the persona printed on the card, the
//! PINs and their remaining tries, the certificate dates, the card body, and the
//! seed from which the card's keys are derived. The same profile always yields the
//! same keys and certificates, so runs are reproducible.

use serde::{Deserialize, Serialize};
use time::Date;

use crate::persona::Persona;

/// The built-in profiles, by name. `default` is the one used when none is named.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("default", include_str!("profiles/default.toml")),
    ("no-photo", include_str!("profiles/no-photo.toml")),
    (
        "auth-pin-locked",
        include_str!("profiles/auth-pin-locked.toml"),
    ),
    ("contactless", include_str!("profiles/contactless.toml")),
];

/// Errors while loading a profile.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("no built-in profile named {0:?} (try --list-profiles)")]
    UnknownBuiltIn(String),
    #[error("cannot read profile {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid profile: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("invalid profile: {0}")]
    Invalid(String),
}

/// A whole card, as written in a profile file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CardProfile {
    /// Seed for the card's keys; two cards with the same seed share keys.
    pub seed: String,
    pub persona: Persona,
    pub pins: Pins,
    pub certificates: Certificates,
    #[serde(default)]
    pub body: CardBody,
}

/// The card's PINs with their values and how many tries each has left.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Pins {
    /// 利用者証明用電子証明書 PIN: 4 digits, 3 tries.
    pub auth: PinSetting,
    /// 署名用電子証明書 password: 6–16 of A–Z and 0–9, 5 tries.
    pub sign: PinSetting,
    /// 券面事項入力補助用 PIN: 4 digits, 3 tries.
    pub text: PinSetting,
}

/// One PIN: its value and, optionally, a starting retry counter below the maximum.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PinSetting {
    pub value: String,
    /// Tries left when the card starts; absent means the maximum.
    #[serde(default)]
    pub tries_left: Option<u8>,
}

/// Validity and revocation of the two JPKI certificates.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Certificates {
    pub auth: CertificateSetting,
    pub sign: CertificateSetting,
}

/// The dates of one certificate. `not_after` is a JST calendar date: the
/// certificate expires at 23:59:59 JST that day (14:59:59Z), as real ones do.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CertificateSetting {
    #[serde(with = "toml_date")]
    pub not_before: Date,
    #[serde(with = "toml_date")]
    pub not_after: Date,
    /// Marked revoked in the simulated PKI (the card itself cannot know).
    #[serde(default)]
    pub revoked: bool,
}

/// The physical card body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CardBody {
    /// Cards issued to children under one year carry no photo (顔写真なし).
    #[serde(default = "yes")]
    pub photo: bool,
    /// The card body's expiry date (カードの有効期限), part of 照合番号B.
    #[serde(with = "toml_date", default = "default_card_expiry")]
    pub expiry: Date,
    /// The 4-digit security code printed on the card (セキュリティコード).
    #[serde(default = "default_security_code")]
    pub security_code: String,
    /// The card's answer to reset.
    #[serde(default)]
    pub atr: Atr,
}

impl Default for CardBody {
    fn default() -> Self {
        CardBody {
            photo: true,
            expiry: default_card_expiry(),
            security_code: default_security_code(),
            atr: Atr::default(),
        }
    }
}

fn yes() -> bool {
    true
}

fn default_card_expiry() -> Date {
    time::macros::date!(2035 - 04 - 12)
}

fn default_security_code() -> String {
    "1234".into()
}

/// The ATR the card answers with.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Atr {
    /// The contact interface of a real card (T=1).
    #[default]
    Contact,
    /// The contactless interface as a PC/SC reader builds it.
    Contactless,
    /// Any other ATR, as hex.
    Custom(String),
}

impl Atr {
    /// The ATR bytes.
    pub fn bytes(&self) -> Result<Vec<u8>, ProfileError> {
        match self {
            Atr::Contact => Ok(vec![
                0x3B, 0xDA, 0x13, 0xFF, 0x81, 0x31, 0xFB, 0x46, 0x80, 0x12, 0x39, 0x2F, 0x31, 0xC1,
                0x73, 0xC6, 0x01, 0xC0, 0x3B,
            ]),
            Atr::Contactless => Ok(vec![
                0x3B, 0x88, 0x80, 0x01, 0x00, 0x00, 0x05, 0xE0, 0xB3, 0x81, 0xA1, 0x00, 0x7F,
            ]),
            Atr::Custom(hex_atr) => {
                let bytes = hex::decode(hex_atr.replace(' ', ""))
                    .map_err(|e| ProfileError::Invalid(format!("atr: {e}")))?;
                if bytes.is_empty() || bytes.len() > 33 {
                    return Err(ProfileError::Invalid(
                        "atr: an ATR has 1 to 33 bytes".into(),
                    ));
                }
                Ok(bytes)
            }
        }
    }
}

impl CardProfile {
    /// Parses a profile from TOML text and checks it.
    pub fn from_toml(text: &str) -> Result<Self, ProfileError> {
        let profile: CardProfile = toml::from_str(text)?;
        profile.validate()?;
        Ok(profile)
    }

    /// A built-in profile by name.
    pub fn built_in(name: &str) -> Result<Self, ProfileError> {
        let (_, text) = BUILT_IN
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| ProfileError::UnknownBuiltIn(name.to_string()))?;
        Self::from_toml(text)
    }

    /// A built-in profile by name, or a file when `name_or_path` names one.
    pub fn load(name_or_path: &str) -> Result<Self, ProfileError> {
        if BUILT_IN.iter().any(|(n, _)| *n == name_or_path) {
            return Self::built_in(name_or_path);
        }
        let text = std::fs::read_to_string(name_or_path).map_err(|source| ProfileError::Read {
            path: name_or_path.to_string(),
            source,
        })?;
        Self::from_toml(&text)
    }

    /// Checks the rules a real card obeys, so that a profile cannot describe an
    /// impossible card.
    pub fn validate(&self) -> Result<(), ProfileError> {
        let invalid = |m: String| Err(ProfileError::Invalid(m));
        self.persona.validate().map_err(ProfileError::Invalid)?;
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(&self.pins.auth.value, 4) {
            return invalid("pins.auth: the auth PIN has 4 digits".into());
        }
        if !digits(&self.pins.text.value, 4) {
            return invalid("pins.text: the text PIN has 4 digits".into());
        }
        let sign = &self.pins.sign.value;
        if !(6..=16).contains(&sign.len())
            || !sign
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return invalid("pins.sign: the sign password has 6-16 of A-Z and 0-9".into());
        }
        for (name, pin, max) in [
            ("auth", &self.pins.auth, crate::pin::AUTH_PIN_TRIES),
            ("sign", &self.pins.sign, crate::pin::SIGN_PIN_TRIES),
            ("text", &self.pins.text, crate::pin::TEXT_PIN_TRIES),
        ] {
            if pin.tries_left.is_some_and(|t| t > max) {
                return invalid(format!("pins.{name}.tries_left: at most {max}"));
            }
        }
        if !digits(&self.body.security_code, 4) {
            return invalid("body.security_code: 4 digits".into());
        }
        for (name, c) in [
            ("auth", &self.certificates.auth),
            ("sign", &self.certificates.sign),
        ] {
            if c.not_after <= c.not_before {
                return invalid(format!(
                    "certificates.{name}: not_after must be after not_before"
                ));
            }
        }
        self.body.atr.bytes()?;
        Ok(())
    }
}

/// Serde for `time::Date` that accepts TOML's native dates (`1985-04-12`) as
/// well as quoted strings, and writes native dates. Card profiles and the
/// service's fixtures both use it.
pub mod toml_date {
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
            Option::<super::Written>::deserialize(d)?
                .map(super::parse)
                .transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_profile_loads_and_is_valid() {
        for (name, _) in BUILT_IN {
            let profile = CardProfile::built_in(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            profile.validate().unwrap();
        }
    }

    #[test]
    fn profile_round_trips_through_toml() {
        let profile = CardProfile::built_in("no-photo").unwrap();
        let text = toml::to_string(&profile).unwrap();
        assert_eq!(CardProfile::from_toml(&text).unwrap(), profile);
        assert!(!profile.body.photo);
    }

    #[test]
    fn impossible_cards_are_refused_with_the_field_named() {
        let base = CardProfile::built_in("default").unwrap();
        type Spoil = fn(&mut CardProfile);
        let cases: [(&str, Spoil); 6] = [
            ("pins.auth", |p| p.pins.auth.value = "12345".into()),
            ("pins.sign", |p| p.pins.sign.value = "abc123".into()),
            ("pins.auth.tries_left", |p| p.pins.auth.tries_left = Some(4)),
            ("persona.my_number", |p| {
                p.persona.my_number = "123456789010".into()
            }),
            ("certificates.auth", |p| {
                p.certificates.auth.not_after = p.certificates.auth.not_before
            }),
            ("atr", |p| p.body.atr = Atr::Custom("zz".into())),
        ];
        for (field, break_it) in cases {
            let mut profile = base.clone();
            break_it(&mut profile);
            let error = profile.validate().unwrap_err().to_string();
            assert!(error.contains(field), "{field}: {error}");
        }
    }

    #[test]
    fn unknown_fields_are_errors_not_silently_ignored() {
        let text = include_str!("profiles/default.toml").replace("[body]", "[body]\nfoto = false");
        assert!(CardProfile::from_toml(&text).is_err());
    }
}
