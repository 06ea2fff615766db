//! Card profiles: who the card belongs to and what state it is in.
//!
//! A profile is a TOML file (see `profiles/default.toml`). Everything that makes
//! one card differ from another lives here: the persona printed on the card, the
//! PINs and their remaining tries, the certificate dates, the card body, and the
//! seed from which the card's keys are derived. The same profile always yields the
//! same keys and certificates, so runs are reproducible.
//!
//! A profile also says what carries the card ([`Variant`], in
//! [`crate::variant`]): the plastic card
//! through a contact or a contactless reader, or the card added to an Android
//! phone or an iPhone (スマホ用電子証明書). The person, the PINs and the dates
//! stay the same; the variant decides which applications the card has, how its
//! JPKI keys are made and used, and the ATR (docs/client-apdus.md, Phones).

use serde::{Deserialize, Serialize};
use time::Date;

use crate::behaviour::CardBehaviour;
use crate::card_matrix::{card_matrix, matrix_card};
use crate::persona::Persona;
use crate::toml_date;
use crate::variant::{Atr, AtrError, Variant};

/// The built-in profile files, by name. `default` is the one used when none
/// is named. The cards of the card matrix are built-in profiles too (see
/// [`built_ins`]); they are not listed here, so that the matrix stays one list.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("default", include_str!("profiles/default.toml")),
    ("no-photo", include_str!("profiles/no-photo.toml")),
    (
        "auth-pin-locked",
        include_str!("profiles/auth-pin-locked.toml"),
    ),
    ("contactless", include_str!("profiles/contactless.toml")),
    (
        "expired-card-body",
        include_str!("profiles/expired-card-body.toml"),
    ),
    ("auth-revoked", include_str!("profiles/auth-revoked.toml")),
    ("android", include_str!("profiles/android.toml")),
    ("iphone", include_str!("profiles/iphone.toml")),
    (
        "iphone-wallet-closed",
        include_str!("profiles/iphone-wallet-closed.toml"),
    ),
];

/// A built-in profile: its name and one line saying what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltIn {
    pub name: &'static str,
    pub summary: String,
}

/// Every name [`CardProfile::built_in`] takes: the profile files of
/// [`BUILT_IN`], then each card of the card matrix
/// ([`crate::card_matrix`]) but `default`, which is the default profile
/// already. A matrix card is the default profile with that card's behaviour,
/// so `kazasu card --profile reselect-clears` and a fixture person's
/// `card = "reselect-clears"` hold the card `kazasu run --card-matrix` runs
/// as `reselect-clears`.
pub fn built_ins() -> Vec<BuiltIn> {
    let files = BUILT_IN.iter().map(|(name, text)| BuiltIn {
        name,
        summary: text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# "))
            .unwrap_or("")
            .to_string(),
    });
    let matrix = card_matrix()
        .into_iter()
        .filter(|card| !BUILT_IN.iter().any(|(name, _)| *name == card.name))
        .map(|card| BuiltIn {
            name: card.name,
            summary: format!("The default card, except: {}.", card.differs),
        });
    files.chain(matrix).collect()
}

/// The youngest holder a smartphone certificate is issued to (スマホ用電子証明書
/// are not issued under 15; docs/service-rules.md, Smartphone rules).
pub const SMARTPHONE_MINIMUM_AGE: u8 = 15;

/// How the card added to a phone behaves (ignored by physical cards).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneSetting {
    /// iPhone: seconds the phone answers after the holder authenticated (Face
    /// ID). The real duration is not public ("after a while the phone needs
    /// authenticating again"); 60 is this simulator's default.
    #[serde(default = "default_authentication_window")]
    pub authentication_window_seconds: u32,
    /// iPhone: the My Number card was opened in Wallet (ready to be held to a
    /// reader). `false`: the phone shows no JPKI applet (SELECT answers 6A82).
    #[serde(default = "yes")]
    pub wallet_opened: bool,
    /// iPhone: the type of the JPKI keys, `p256` (default) or `rsa2048`.
    #[serde(default)]
    pub iphone_key: PhoneKey,
}

impl Default for PhoneSetting {
    fn default() -> Self {
        PhoneSetting {
            authentication_window_seconds: default_authentication_window(),
            wallet_opened: true,
            iphone_key: PhoneKey::default(),
        }
    }
}

fn default_authentication_window() -> u32 {
    60
}

/// The key type of an iPhone's JPKI keys. Apple does not publish it; the
/// Secure Enclave holds only ECDSA P-256 keys, so P-256 is the default, and
/// RSA-2048 is there to test clients against the other possibility.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhoneKey {
    /// ECDSA over P-256 (prime256v1): signatures are DER `ECDSA-Sig-Value`.
    #[default]
    P256,
    /// RSA-2048 with PKCS#1 v1.5 signatures, as the plastic card.
    Rsa2048,
}

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

impl From<AtrError> for ProfileError {
    fn from(e: AtrError) -> Self {
        ProfileError::Invalid(format!("atr: {e}"))
    }
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
    /// What carries the card; the plastic card in a contact reader by default.
    #[serde(default)]
    pub variant: Variant,
    /// How a phone carrying the card behaves (for `android` and `iphone`).
    #[serde(default)]
    pub phone: PhoneSetting,
    /// Where this card behaves as one kind of real card and not another
    /// (`[behaviour]`; defaults from the public evidence, see
    /// [`crate::behaviour`]).
    #[serde(default)]
    pub behaviour: CardBehaviour,
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
    /// The card's answer to reset, when it is to differ from the variant's
    /// (see [`Variant::atr`]). An explicit value always wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atr: Option<Atr>,
}

impl Default for CardBody {
    fn default() -> Self {
        CardBody {
            photo: true,
            expiry: default_card_expiry(),
            security_code: default_security_code(),
            atr: None,
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

impl CardProfile {
    /// Parses a profile from TOML text and checks it.
    pub fn from_toml(text: &str) -> Result<Self, ProfileError> {
        let profile: CardProfile = toml::from_str(text)?;
        profile.validate()?;
        Ok(profile)
    }

    /// The same person's card as carried by `variant`: the same persona,
    /// PINs, dates and seed. The keys still differ from the plastic card's,
    /// because each variant derives its keys under labels of its own (see
    /// `personalize`), as a phone generates its own keys when the card is
    /// added to it. An explicit `body.atr` is kept (it wins over the variant's).
    pub fn with_variant(&self, variant: Variant) -> CardProfile {
        CardProfile {
            variant,
            ..self.clone()
        }
    }

    /// The ATR the card answers: `body.atr` when set, else the variant's.
    pub fn atr(&self) -> Result<Vec<u8>, ProfileError> {
        self.body
            .atr
            .clone()
            .unwrap_or_else(|| self.variant.atr())
            .bytes()
            .map_err(ProfileError::from)
    }

    /// The holder's age in whole years on `date` (a birthday counts from its day).
    pub fn age_on(&self, date: Date) -> i32 {
        let birth = self.persona.birth_date;
        let before_birthday = (date.month() as u8, date.day()) < (birth.month() as u8, birth.day());
        date.year() - birth.year() - i32::from(before_birthday)
    }

    /// A built-in profile by name: a profile file of [`BUILT_IN`], or a card
    /// of the card matrix (the default profile with its behaviour; see
    /// [`built_ins`]).
    pub fn built_in(name: &str) -> Result<Self, ProfileError> {
        if let Some((_, text)) = BUILT_IN.iter().find(|(n, _)| *n == name) {
            return Self::from_toml(text);
        }
        let card =
            matrix_card(name).ok_or_else(|| ProfileError::UnknownBuiltIn(name.to_string()))?;
        Ok(CardProfile {
            behaviour: card.behaviour,
            ..Self::built_in("default")?
        })
    }

    /// A built-in profile by name, or a file when `name_or_path` names one.
    pub fn load(name_or_path: &str) -> Result<Self, ProfileError> {
        if built_ins().iter().any(|b| b.name == name_or_path) {
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
        if self.variant.is_smartphone() {
            let issued = self.certificates.auth.not_before;
            let age = self.age_on(issued);
            if age < i32::from(SMARTPHONE_MINIMUM_AGE) {
                return invalid(format!(
                    "variant: smartphone certificates are not issued under \
                     {SMARTPHONE_MINIMUM_AGE} years of age (the holder was {age} on \
                     certificates.auth.not_before {issued})"
                ));
            }
        }
        if self.phone.authentication_window_seconds == 0 {
            return invalid("phone.authentication_window_seconds: at least 1".into());
        }
        self.behaviour.validate().map_err(ProfileError::Invalid)?;
        self.atr()?;
        Ok(())
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
    fn every_matrix_card_is_a_built_in_profile_with_its_behaviour() {
        let default = CardProfile::built_in("default").unwrap();
        let names: Vec<&str> = built_ins().iter().map(|b| b.name).collect();
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "one meaning per name: {names:?}");
        for card in card_matrix() {
            assert!(names.contains(&card.name), "{} is listed", card.name);
            let profile = CardProfile::load(card.name).unwrap();
            assert_eq!(profile.behaviour, card.behaviour, "{}", card.name);
            assert_eq!(
                CardProfile {
                    behaviour: default.behaviour,
                    ..profile
                },
                default,
                "{} is the default card otherwise",
                card.name
            );
        }
        let clears = built_ins()
            .into_iter()
            .find(|b| b.name == "reselect-clears")
            .unwrap();
        assert!(clears.summary.contains("SELECT"), "{clears:?}");
        assert!(matches!(
            CardProfile::built_in("no-such-card"),
            Err(ProfileError::UnknownBuiltIn(_))
        ));
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
            ("atr", |p| p.body.atr = Some(Atr::Custom("zz".into()))),
        ];
        for (field, break_it) in cases {
            let mut profile = base.clone();
            break_it(&mut profile);
            let error = profile.validate().unwrap_err().to_string();
            assert!(error.contains(field), "{field}: {error}");
        }
    }

    #[test]
    fn phone_settings_default_and_round_trip() {
        let plastic = CardProfile::built_in("default").unwrap();
        assert_eq!(plastic.variant, Variant::PhysicalContact);
        assert_eq!(plastic.phone, PhoneSetting::default());
        assert_eq!(plastic.phone.authentication_window_seconds, 60);
        assert!(plastic.phone.wallet_opened);
        assert_eq!(plastic.phone.iphone_key, PhoneKey::P256);

        let mut phone = CardProfile::built_in("iphone").unwrap();
        phone.phone.iphone_key = PhoneKey::Rsa2048;
        phone.phone.authentication_window_seconds = 5;
        phone.body.atr = Some(Atr::Custom("3B 00".into()));
        let text = toml::to_string(&phone).unwrap();
        assert!(text.contains("iphone_key = \"rsa2048\""), "{text}");
        assert_eq!(CardProfile::from_toml(&text).unwrap(), phone);
        assert_eq!(phone.atr().unwrap(), vec![0x3B, 0x00]);
    }

    #[test]
    fn bad_phone_settings_are_refused() {
        let text = include_str!("profiles/iphone.toml");
        for (from, to) in [
            (
                "wallet_opened = true",
                "wallet_opened = true\nface_id = true",
            ),
            ("iphone_key = \"p256\"", "iphone_key = \"p384\""),
            ("variant = \"iphone\"", "variant = \"ipad\""),
        ] {
            assert!(text.contains(from), "{from}");
            assert!(
                CardProfile::from_toml(&text.replace(from, to)).is_err(),
                "{to}"
            );
        }
        let closed = text.replace(
            "authentication_window_seconds = 60",
            "authentication_window_seconds = 0",
        );
        let error = CardProfile::from_toml(&closed).unwrap_err().to_string();
        assert!(error.contains("authentication_window_seconds"), "{error}");
    }

    #[test]
    fn smartphone_certificates_need_a_holder_of_fifteen() {
        let mut profile = CardProfile::built_in("android").unwrap();
        let issued = profile.certificates.auth.not_before;
        profile.persona.birth_date = issued.replace_year(issued.year() - 15).unwrap();
        assert_eq!(profile.age_on(issued), 15);
        profile.validate().unwrap();
        profile.persona.birth_date = profile.persona.birth_date.next_day().unwrap();
        assert_eq!(profile.age_on(issued), 14);
        let error = profile.validate().unwrap_err().to_string();
        assert!(error.starts_with("invalid profile: variant:"), "{error}");
        // The same holder's plastic card is fine.
        profile
            .with_variant(Variant::PhysicalContactless)
            .validate()
            .unwrap();
    }

    proptest::proptest! {
        /// `--variant` parsing: exactly the four names parse, each to the
        /// variant whose name it is.
        #[test]
        fn variant_names_parse_and_nothing_else(text in "[a-z-]{0,24}") {
            match text.parse::<Variant>() {
                Ok(variant) => proptest::prop_assert_eq!(variant.name(), text.as_str()),
                Err(message) => {
                    proptest::prop_assert!(Variant::ALL.iter().all(|v| v.name() != text));
                    proptest::prop_assert!(message.contains("physical-contact"));
                }
            }
        }
    }

    #[test]
    fn every_variant_name_round_trips() {
        for variant in Variant::ALL {
            assert_eq!(variant.name().parse::<Variant>(), Ok(variant));
            assert_eq!(variant.to_string(), variant.name());
        }
    }

    #[test]
    fn unknown_fields_are_errors_not_silently_ignored() {
        let text = include_str!("profiles/default.toml").replace("[body]", "[body]\nfoto = false");
        assert!(CardProfile::from_toml(&text).is_err());
    }
}
