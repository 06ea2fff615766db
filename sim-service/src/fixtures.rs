//! Insured persons, written as TOML: who holds which card and which
//! qualifications the insurers registered for them.
//!
//! A fixture file is a list of `[[person]]` tables. Each person has an `id`,
//! the physical card they hold (the name of a built-in sim-card profile, or an
//! inline card profile table), the smartphones they added the card to
//! (`[[person.phone]]`, see [`Phone`]), whether the card is registered for
//! health-insurance use, and their qualification records
//! (`[[person.qualification]]`) and 医療扶助 records (`[[person.welfare]]`). Names, kana, birth date and sex default to
//! the card's persona and may be overridden per record, as an insurer's data
//! can differ from the card's. See `fixtures/*.toml` for the built-in set.
//!
//! The built-in set is designed around [`REFERENCE_DATE`], 2026-12-01: set the
//! service's clock to it and every person shows the case they are named for.
//!
//! Unknown fields are errors, and every error names the person and the field.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sim_card::profile::{CardProfile, CertificateSetting, PhoneKey, Variant};
use time::Date;
use time::macros::date;

use crate::kana;
use crate::model::dates::toml_date;
use crate::model::{
    ContributionRatio, InsuredCardClassification, InsurerNumber, MedicalInstitutionCode,
    PersonalFamilyClassification, ReasonOfLoss, ResultField, Sex, TicketType, check_branch_number,
};

/// The date the built-in fixtures are designed around.
pub const REFERENCE_DATE: Date = date!(2026 - 12 - 01);

/// The built-in fixture files, by name.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("valid", include_str!("../fixtures/valid.toml")),
    ("invalid", include_str!("../fixtures/invalid.toml")),
    (
        "medical-assistance",
        include_str!("../fixtures/medical-assistance.toml"),
    ),
    (
        "certificates",
        include_str!("../fixtures/certificates.toml"),
    ),
    ("characters", include_str!("../fixtures/characters.toml")),
    ("phones", include_str!("../fixtures/phones.toml")),
];

/// Errors while loading fixtures.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("cannot read fixtures {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid fixtures {source_name}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Parse {
        source_name: String,
        message: String,
        /// The 1-based line of the error, when known.
        line: Option<usize>,
    },
    #[error("invalid fixtures {source_name}: person {person}: {field}: {message}")]
    Invalid {
        source_name: String,
        person: String,
        field: String,
        message: String,
    },
    #[error("person id {id:?} appears twice (in {first} and {second})")]
    DuplicateId {
        id: String,
        first: String,
        second: String,
    },
}

/// One fixture file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureFile {
    #[serde(default)]
    person: Vec<InsuredPerson>,
}

/// A person the service knows, with their card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsuredPerson {
    /// Lower-case letters, digits and hyphens; unique across a set.
    pub id: String,
    /// What the person is for (the case they show), for people reading the set.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The physical My Number card.
    pub card: Card,
    /// The smartphones the card was added to, each with its own smartphone
    /// certificate. Only the one added last is valid (one phone per person).
    #[serde(default, rename = "phone", skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<Phone>,
    /// 健康保険証利用登録: whether the card may be used for eligibility.
    #[serde(default = "yes")]
    pub registered: bool,
    /// Health-insurance qualifications, in any order.
    #[serde(
        default,
        rename = "qualification",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub qualifications: Vec<QualificationRecord>,
    /// 医療扶助 (public assistance) records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub welfare: Vec<WelfareRecord>,
    /// 照会番号 each facility registered for this person, by 医療機関等コード.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reference_numbers: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

/// The card a person holds: a built-in sim-card profile by name, or a whole
/// profile inline. Either way the profile is loaded when the fixture is.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    /// The built-in profile's name, when the fixture named one.
    pub built_in: Option<String>,
    pub profile: CardProfile,
}

impl Serialize for Card {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.built_in {
            Some(name) => s.serialize_str(name),
            None => self.profile.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Card {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match toml::Value::deserialize(d)? {
            toml::Value::String(name) => {
                let profile = CardProfile::built_in(&name).map_err(D::Error::custom)?;
                Ok(Card {
                    built_in: Some(name),
                    profile,
                })
            }
            table @ toml::Value::Table(_) => {
                let profile = CardProfile::deserialize(table)
                    .map_err(|e| D::Error::custom(format!("card profile: {e}")))?;
                Ok(Card {
                    built_in: None,
                    profile,
                })
            }
            other => Err(D::Error::custom(format!(
                "card: the name of a built-in card profile or a card profile table, not a {}",
                other.type_str()
            ))),
        }
    }
}

/// A smartphone the person added their My Number card to (スマートフォンの
/// マイナンバーカード): an Android phone's secure element or an iPhone's Wallet.
/// The phone has keys and a smartphone certificate of its own, with dates of
/// its own; the persona and the card's other settings are the physical
/// card's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phone {
    /// Lower-case letters, digits and hyphens; unique within the person.
    pub id: String,
    /// `android` or `iphone`.
    pub variant: Variant,
    /// The day the card was added to this phone: of a person's phones, the
    /// one added last holds the valid certificate.
    #[serde(with = "toml_date")]
    pub added: Date,
    /// The smartphone user-authentication certificate's dates (and
    /// revocation); the signature certificate gets the same dates.
    pub certificate: CertificateSetting,
    /// Android: the 4-digit smartphone PIN set when the card was added (the
    /// card's auth PIN by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// iPhone: how long the phone answers after Face ID, in seconds (the card
    /// profile's default otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_window_seconds: Option<u32>,
    /// iPhone: the key type (`p256` unless said otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iphone_key: Option<PhoneKey>,
}

impl InsuredPerson {
    /// A phone by id.
    pub fn phone(&self, id: &str) -> Option<&Phone> {
        self.phones.iter().find(|p| p.id == id)
    }

    /// The card profile of a phone: the physical card carried by the phone's
    /// variant, with the phone's own seed (its own keys), certificate dates,
    /// PIN and settings.
    pub fn phone_profile(&self, phone: &Phone) -> CardProfile {
        let mut profile = self.card.profile.with_variant(phone.variant);
        profile.seed = format!("{}-phone-{}", profile.seed, phone.id);
        profile.certificates.auth = phone.certificate.clone();
        profile.certificates.sign = CertificateSetting {
            revoked: false,
            ..phone.certificate.clone()
        };
        if let Some(pin) = &phone.pin {
            profile.pins.auth.value = pin.clone();
        }
        if let Some(window) = phone.authentication_window_seconds {
            profile.phone.authentication_window_seconds = window;
        }
        if let Some(key) = phone.iphone_key {
            profile.phone.iphone_key = key;
        }
        profile
    }

    /// Adds the card to a new phone: the phone joins the person's phones
    /// (and, being the newest, holds the valid smartphone certificate) if
    /// the person stays valid with it; otherwise nothing changes.
    pub fn add_phone(&mut self, phone: Phone) -> Result<(), FixtureError> {
        self.phones.push(phone);
        let checked = self.validate();
        if checked.is_err() {
            self.phones.pop();
        }
        checked
    }

    /// The rule's view of the person's phones (see
    /// [`crate::rules::smartphone`]).
    pub fn added_phones(&self) -> Vec<crate::rules::smartphone::AddedPhone<'_>> {
        self.phones
            .iter()
            .map(|p| crate::rules::smartphone::AddedPhone {
                id: &p.id,
                added: p.added,
            })
            .collect()
    }

    /// What carries the certificate of `phone` (`None`: the physical card);
    /// `None` when the person has no such phone.
    pub fn carrier(&self, phone: Option<&str>) -> Option<crate::rules::Carrier> {
        use crate::rules::Carrier;
        match phone {
            None => Some(Carrier::PhysicalCard),
            Some(id) => match self.phone(id)?.variant {
                Variant::Android => Some(Carrier::Android),
                Variant::Iphone => Some(Carrier::Iphone),
                Variant::PhysicalContact | Variant::PhysicalContactless => None,
            },
        }
    }
}

/// One health-insurance qualification, as an insurer registered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualificationRecord {
    /// 保険者番号: 8 digits, or 6 for 国保 (padded on output).
    pub insurer_number: InsurerNumber,
    /// 保険者名.
    pub insurer_name: String,
    /// 記号 (InsuredCardSymbol); some insurers have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// 番号 (InsuredIdentificationNumber).
    pub number: String,
    /// 枝番: two digits; none for 後期高齢者.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// 本人・家族の別; none for 後期高齢者.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_family: Option<PersonalFamilyClassification>,
    /// 区分: 01 一般 unless said otherwise. 医療扶助 goes in `[[person.welfare]]`.
    #[serde(default = "general")]
    pub classification: InsuredCardClassification,
    /// 資格取得年月日.
    #[serde(with = "toml_date")]
    pub qualification_date: Date,
    /// 有効開始日: the qualification date unless said otherwise.
    #[serde(
        default,
        with = "toml_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_from: Option<Date>,
    /// 有効終了日 as the insurer registered it (usually none). It is shown, and
    /// it does not decide validity: the loss date does.
    #[serde(
        default,
        with = "toml_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_until: Option<Date>,
    /// 資格喪失年月日: the first day without the qualification (the day after
    /// leaving a job, or after turning 75 for an employee's insurance).
    #[serde(
        default,
        with = "toml_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub lost_on: Option<Date>,
    /// 資格喪失事由: required with `lost_on`; may also be set ahead of a loss
    /// (insurers set it at the 75th birthday), as the manual warns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_of_loss: Option<ReasonOfLoss>,
    /// 負担割合 (three digits): 後期高齢者 only, and required there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contribution_ratio: Option<ContributionRatio>,
    /// 被保険者氏名: required for a family member; defaults to the person's own
    /// name otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insured_name: Option<String>,
    /// 氏名 as the insurer registered it (family and given name separated by
    /// U+3000); the card's by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// フリガナ, full- or half-width katakana; the card's by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_kana: Option<String>,
    /// 性別1 on the face; the card's by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    /// 生年月日; the card's by default.
    #[serde(
        default,
        with = "toml_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub birth_date: Option<Date>,
    /// 裏面記載情報.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub back_side: Option<BackSide>,
    /// 高齢受給者証 (ages 70 to 74).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elderly_recipient: Option<ElderlyRecipient>,
    /// Fields the insurer withholds (開示制限), by element name.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub hidden: BTreeSet<ResultField>,
}

fn general() -> InsuredCardClassification {
    InsuredCardClassification::General
}

/// 裏面記載情報: the legal name and sex when the face shows others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackSide {
    /// NameOfOther: the legal name (U+3000 between family and given name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// NameOfOtherKana.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_kana: Option<String>,
    /// Sex2: the legal sex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
}

/// 高齢受給者証.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElderlyRecipient {
    /// 交付年月日.
    #[serde(
        default,
        with = "toml_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub certificate_date: Option<Date>,
    #[serde(with = "toml_date")]
    pub valid_from: Date,
    #[serde(
        default,
        with = "toml_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_until: Option<Date>,
    /// 負担割合, three digits (`020`).
    pub contribution_ratio: ContributionRatio,
}

/// A 医療扶助 (medical assistance under public assistance) record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WelfareRecord {
    /// 福祉事務所名, written as InsurerName.
    pub office_name: String,
    /// The day assistance started (or restarted).
    #[serde(with = "toml_date")]
    pub started_on: Date,
    /// The first day without assistance, once it ended (廃止).
    #[serde(
        default,
        with = "toml_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub ended_on: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_kana: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    /// The card's birth date by default.
    #[serde(
        default,
        with = "toml_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub birth_date: Option<Date>,
    /// The office does not know the birth date: written as 19000101.
    #[serde(default)]
    pub birth_date_unknown: bool,
    #[serde(default, rename = "ticket", skip_serializing_if = "Vec::is_empty")]
    pub tickets: Vec<MedicalTicket>,
    /// Fields withheld (開示制限), by element name.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub hidden: BTreeSet<ResultField>,
}

/// A 医療券 or 調剤券 of a welfare record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MedicalTicket {
    pub ticket_type: TicketType,
    #[serde(
        default,
        with = "toml_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_from: Option<Date>,
    #[serde(
        default,
        with = "toml_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_until: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_number: Option<String>,
    /// 診療年月, `YYYYMM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treatment_month: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution_name: Option<String>,
    /// 本人支払額 in yen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_pay_amount: Option<u32>,
}

impl QualificationRecord {
    /// 有効開始日 as shown: `valid_from`, else the qualification date.
    pub fn valid_from(&self) -> Date {
        self.valid_from.unwrap_or(self.qualification_date)
    }
}

/// A validation failure inside one person: the field and what is wrong.
struct FieldError {
    field: String,
    message: String,
}

fn field_error(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

impl InsuredPerson {
    /// The persona on the card.
    pub fn persona(&self) -> &sim_card::persona::Persona {
        &self.card.profile.persona
    }

    /// The 照会番号 a facility registered, if any.
    pub fn reference_number(&self, facility: &MedicalInstitutionCode) -> Option<&str> {
        self.reference_numbers
            .get(facility.as_str())
            .map(String::as_str)
    }

    /// Checks what a real insurer's data obeys. Errors name the field.
    pub fn validate(&self) -> Result<(), FixtureError> {
        self.check().map_err(|e| FixtureError::Invalid {
            source_name: "(not from a file)".into(),
            person: self.id.clone(),
            field: e.field,
            message: e.message,
        })
    }

    fn check(&self) -> Result<(), FieldError> {
        let id_ok = !self.id.is_empty()
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(field_error(
                "id",
                "lower-case letters, digits and hyphens, not empty",
            ));
        }
        self.card
            .profile
            .validate()
            .map_err(|e| field_error("card", e.to_string()))?;
        if self.card.profile.variant.is_smartphone() {
            return Err(field_error(
                "card.variant",
                "the card is the physical card; add phones as [[person.phone]]",
            ));
        }
        let mut phone_ids = BTreeSet::new();
        for (i, phone) in self.phones.iter().enumerate() {
            let field = |name: &str| format!("phone[{i}].{name}");
            let id_ok = !phone.id.is_empty()
                && phone
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !id_ok {
                return Err(field_error(
                    field("id"),
                    "lower-case letters, digits and hyphens, not empty",
                ));
            }
            if !phone_ids.insert(phone.id.as_str()) {
                return Err(field_error(field("id"), "appears twice"));
            }
            if !phone.variant.is_smartphone() {
                return Err(field_error(field("variant"), "\"android\" or \"iphone\""));
            }
            if phone.certificate.not_before < phone.added {
                return Err(field_error(
                    field("certificate.not_before"),
                    "before the card was added to the phone",
                ));
            }
            // The phone's card obeys the card's rules (4-digit PIN, not under 15, …).
            self.phone_profile(phone)
                .validate()
                .map_err(|e| field_error(format!("phone[{i}]"), e.to_string()))?;
        }
        for (i, record) in self.qualifications.iter().enumerate() {
            record
                .check()
                .map_err(|e| field_error(format!("qualification[{i}].{}", e.field), e.message))?;
        }
        for (i, record) in self.welfare.iter().enumerate() {
            record
                .check()
                .map_err(|e| field_error(format!("welfare[{i}].{}", e.field), e.message))?;
        }
        for (facility, number) in &self.reference_numbers {
            let field = format!("reference_numbers.{facility}");
            MedicalInstitutionCode::new(facility).map_err(|e| field_error(&field, e))?;
            let ok = (1..=20).contains(&number.len())
                && number
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !ok {
                return Err(field_error(
                    field,
                    "1 to 20 half-width letters, digits or hyphens (the simulator's limit)",
                ));
            }
        }
        Ok(())
    }
}

fn check_name(field: &str, name: &Option<String>) -> Result<(), FieldError> {
    match name {
        Some(name) if !name.contains('\u{3000}') => Err(field_error(
            field,
            "family and given name separated by an ideographic space (U+3000)",
        )),
        _ => Ok(()),
    }
}

fn check_kana(field: &str, kana_text: &Option<String>) -> Result<(), FieldError> {
    let Some(text) = kana_text else {
        return Ok(());
    };
    let half = kana::to_half_width(text);
    if half
        .chars()
        .all(|c| c == ' ' || ('\u{FF65}'..='\u{FF9F}').contains(&c))
    {
        Ok(())
    } else {
        Err(field_error(
            field,
            "katakana (full- or half-width) and spaces only",
        ))
    }
}

fn check_text(field: &str, text: &str) -> Result<(), FieldError> {
    if text.trim().is_empty() || text.chars().any(char::is_control) {
        Err(field_error(field, "not empty, no control characters"))
    } else {
        Ok(())
    }
}

impl QualificationRecord {
    fn check(&self) -> Result<(), FieldError> {
        check_text("insurer_name", &self.insurer_name)?;
        check_text("number", &self.number)?;
        if let Some(symbol) = &self.symbol {
            check_text("symbol", symbol)?;
        }
        if self.classification == InsuredCardClassification::MedicalAssistance {
            return Err(field_error(
                "classification",
                "医療扶助 (A1) goes in [[person.welfare]], not in a qualification",
            ));
        }
        if let Some(branch) = &self.branch {
            check_branch_number(branch).map_err(|e| field_error("branch", e))?;
        }
        let late_elderly = self.insurer_number.is_late_elderly();
        if late_elderly {
            if self.branch.is_some() {
                return Err(field_error("branch", "後期高齢者 have no 枝番"));
            }
            if self.personal_family.is_some() {
                return Err(field_error(
                    "personal_family",
                    "後期高齢者 have no 本人・家族の別",
                ));
            }
            if self.contribution_ratio.is_none() {
                return Err(field_error(
                    "contribution_ratio",
                    "後期高齢者 results carry 負担割合 (e.g. \"010\")",
                ));
            }
            if self.elderly_recipient.is_some() {
                return Err(field_error(
                    "elderly_recipient",
                    "高齢受給者証 is for ages 70 to 74, outside 後期高齢者医療",
                ));
            }
        } else if self.contribution_ratio.is_some() {
            return Err(field_error(
                "contribution_ratio",
                "負担割合 is set for 後期高齢者 (insurer number 39…) only",
            ));
        }
        if self.personal_family == Some(PersonalFamilyClassification::Family)
            && self.insured_name.is_none()
        {
            return Err(field_error(
                "insured_name",
                "a family member's record names the insured person (被保険者氏名)",
            ));
        }
        if let Some(valid_from) = self.valid_from
            && valid_from < self.qualification_date
        {
            return Err(field_error(
                "valid_from",
                "有効開始日 cannot precede 資格取得年月日",
            ));
        }
        if let Some(until) = self.valid_until
            && until < self.valid_from()
        {
            return Err(field_error("valid_until", "before valid_from"));
        }
        if let Some(lost_on) = self.lost_on {
            if lost_on <= self.qualification_date {
                return Err(field_error("lost_on", "must be after qualification_date"));
            }
            if self.reason_of_loss.is_none() {
                return Err(field_error(
                    "reason_of_loss",
                    "a lost qualification has a reason (01, 02, 03 or 99)",
                ));
            }
        }
        check_name("name", &self.name)?;
        check_name("insured_name", &self.insured_name)?;
        check_kana("name_kana", &self.name_kana)?;
        if let Some(back) = &self.back_side {
            check_name("back_side.name", &back.name)?;
            check_kana("back_side.name_kana", &back.name_kana)?;
            if back.name.is_none() && back.name_kana.is_none() && back.sex.is_none() {
                return Err(field_error(
                    "back_side",
                    "empty: give name, name_kana or sex",
                ));
            }
        }
        if let Some(elderly) = &self.elderly_recipient
            && elderly.valid_until.is_some_and(|u| u < elderly.valid_from)
        {
            return Err(field_error(
                "elderly_recipient.valid_until",
                "before valid_from",
            ));
        }
        Ok(())
    }
}

impl WelfareRecord {
    fn check(&self) -> Result<(), FieldError> {
        check_text("office_name", &self.office_name)?;
        if self.ended_on.is_some_and(|e| e <= self.started_on) {
            return Err(field_error("ended_on", "must be after started_on"));
        }
        if self.birth_date_unknown && self.birth_date.is_some() {
            return Err(field_error(
                "birth_date_unknown",
                "either a birth date or birth_date_unknown, not both",
            ));
        }
        for field in &self.hidden {
            if !ResultField::MEDICAL_ASSISTANCE.contains(field) {
                return Err(field_error(
                    "hidden",
                    format!("{} is not part of a 医療扶助 result", field.element_name()),
                ));
            }
        }
        check_name("name", &self.name)?;
        check_kana("name_kana", &self.name_kana)?;
        for (i, ticket) in self.tickets.iter().enumerate() {
            if let Some(month) = &ticket.treatment_month {
                let ok = month.len() == 6
                    && month.bytes().all(|b| b.is_ascii_digit())
                    && matches!(month[4..].parse::<u8>(), Ok(1..=12));
                if !ok {
                    return Err(field_error(
                        format!("ticket[{i}].treatment_month"),
                        "YYYYMM",
                    ));
                }
            }
            if let (Some(from), Some(until)) = (ticket.valid_from, ticket.valid_until)
                && until < from
            {
                return Err(field_error(
                    format!("ticket[{i}].valid_until"),
                    "before valid_from",
                ));
            }
        }
        Ok(())
    }
}

/// Parses and validates one fixture file. `source_name` names it in errors.
pub fn parse(text: &str, source_name: &str) -> Result<Vec<InsuredPerson>, FixtureError> {
    let file: FixtureFile = toml::from_str(text).map_err(|e| {
        let person = e
            .span()
            .and_then(|span| person_around(text, span.start))
            .map(|id| format!(" (in person {id})"))
            .unwrap_or_default();
        FixtureError::Parse {
            source_name: source_name.to_string(),
            message: match e
                .span()
                .and_then(|span| text.lines().nth(line_of(text, span.start) - 1))
            {
                Some(line) => format!("`{}`: {}{person}", line.trim(), e.message()),
                None => format!("{}{person}", e.message()),
            },
            line: e.span().map(|span| line_of(text, span.start)),
        }
    })?;
    for person in &file.person {
        person.validate().map_err(|e| match e {
            FixtureError::Invalid {
                person,
                field,
                message,
                ..
            } => FixtureError::Invalid {
                source_name: source_name.to_string(),
                person,
                field,
                message,
            },
            other => other,
        })?;
    }
    Ok(file.person)
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The id of the `[[person]]` whose table contains a byte offset, so that a
/// parse error names the person as a validation error does.
fn person_around(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset.min(text.len()))?;
    let start = before.rfind("[[person]]")?;
    text[start..].lines().skip(1).find_map(|line| {
        let value = line
            .trim()
            .strip_prefix("id")?
            .trim_start()
            .strip_prefix('=')?;
        Some(value.trim().trim_matches('"').to_string())
    })
}

/// Joins fixture files into one set, refusing an id that appears twice.
pub fn join(
    files: impl IntoIterator<Item = (String, Vec<InsuredPerson>)>,
) -> Result<Vec<InsuredPerson>, FixtureError> {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut all = Vec::new();
    for (source_name, persons) in files {
        for person in persons {
            if let Some(first) = seen.insert(person.id.clone(), source_name.clone()) {
                return Err(FixtureError::DuplicateId {
                    id: person.id,
                    first,
                    second: source_name,
                });
            }
            all.push(person);
        }
    }
    Ok(all)
}

/// The built-in set: every case the result screens distinguish.
pub fn built_in() -> Result<Vec<InsuredPerson>, FixtureError> {
    let files = BUILT_IN
        .iter()
        .map(|(name, text)| Ok((name.to_string(), parse(text, name)?)))
        .collect::<Result<Vec<_>, FixtureError>>()?;
    join(files)
}

/// Loads every `*.toml` file of a directory (in name order) as one set.
pub fn load_dir(dir: &Path) -> Result<Vec<InsuredPerson>, FixtureError> {
    let read_error = |source| FixtureError::Read {
        path: dir.display().to_string(),
        source,
    };
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(read_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_error)?
        .into_iter()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml") && path.is_file())
        .collect();
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|source| FixtureError::Read {
            path: name.clone(),
            source,
        })?;
        files.push((name.clone(), parse(&text, &name)?));
    }
    join(files)
}

/// A person by id.
pub fn find<'a>(persons: &'a [InsuredPerson], id: &str) -> Option<&'a InsuredPerson> {
    persons.iter().find(|p| p.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every case the result screens distinguish, by person id.
    pub(crate) const CASES: &[&str] = &[
        "valid",
        "preschool",
        "expiring-soon",
        "back-side",
        "elderly-recipient",
        "late-elderly",
        "invalid-job-change",
        "invalid-newer",
        "no-qualification",
        "several",
        "disclosure-restricted",
        "medical-assistance",
        "medical-assistance-and-insurance",
        "self-defense-forces",
        "special-medical-expenses",
        "not-registered",
        "certificate-revoked",
        "expired-in-grace",
        "expired-beyond-grace",
        "phone-expired",
        "national-health-insurance",
        "jis-level-3",
        "jis-unmappable",
    ];

    #[test]
    fn the_built_in_set_loads_and_has_every_case() {
        let persons = built_in().unwrap();
        for case in CASES {
            assert!(find(&persons, case).is_some(), "no person for case {case}");
        }
        for person in &persons {
            assert!(
                !person.description.is_empty(),
                "{} has no description",
                person.id
            );
        }
    }

    #[test]
    fn every_built_in_person_has_a_card_of_their_own() {
        let persons = built_in().unwrap();
        let mut seeds = BTreeSet::new();
        let mut numbers = BTreeSet::new();
        for person in &persons {
            assert!(person.card.built_in.is_none(), "{}: inline card", person.id);
            assert!(
                seeds.insert(&person.card.profile.seed),
                "{}: seed",
                person.id
            );
            assert!(
                numbers.insert(&person.persona().my_number),
                "{}: My Number",
                person.id
            );
        }
    }

    #[test]
    fn the_directory_loads_as_the_built_in_set() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut from_dir = load_dir(&dir).unwrap();
        let mut built_in = built_in().unwrap();
        from_dir.sort_by(|a, b| a.id.cmp(&b.id));
        built_in.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(from_dir, built_in);
        let files = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(files, BUILT_IN.len(), "every fixture file is built in");
    }

    #[test]
    fn a_person_can_name_a_built_in_card_and_round_trips() {
        let text = r#"
            [[person]]
            id = "named-card"
            card = "default"
            [[person.qualification]]
            insurer_number = "138057"
            insurer_name = "国保"
            number = "1"
            qualification_date = 2020-04-01
        "#;
        let persons = parse(text, "inline").unwrap();
        let person = &persons[0];
        assert_eq!(person.card.built_in.as_deref(), Some("default"));
        assert_eq!(person.persona().name, "資格　太郎");
        assert!(person.registered);
        assert!(person.phones.is_empty());
        assert_eq!(person.qualifications[0].insurer_number.as_str(), "  138057");
        let written = toml::to_string(&FixtureFile {
            person: persons.clone(),
        })
        .unwrap();
        assert_eq!(parse(&written, "written").unwrap(), persons);

        let all = built_in().unwrap();
        let written = toml::to_string(&FixtureFile {
            person: all.clone(),
        })
        .unwrap();
        assert_eq!(parse(&written, "written").unwrap(), all);
    }

    const GOOD: &str = r#"
[[person]]
id = "p"
card = "default"

[[person.qualification]]
insurer_number = "06139990"
insurer_name = "かざす健康保険組合"
symbol = "1234"
number = "1"
branch = "00"
personal_family = "insured"
qualification_date = 2020-04-01
"#;

    fn error_of(text: &str) -> String {
        parse(text, "bad.toml").unwrap_err().to_string()
    }

    #[test]
    fn bad_fixtures_are_refused_with_the_person_and_field_named() {
        assert!(parse(GOOD, "good.toml").is_ok());
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "branch = \"00\"",
                "branch = \"0\"",
                &["person p", "qualification[0].branch"],
            ),
            (
                "personal_family = \"insured\"",
                "personal_family = \"family\"",
                &["qualification[0].insured_name"],
            ),
            (
                "qualification_date = 2020-04-01",
                "qualification_date = 2020-04-01\nlost_on = 2021-04-01",
                &["qualification[0].reason_of_loss"],
            ),
            (
                "qualification_date = 2020-04-01",
                "qualification_date = 2020-04-01\nclassification = \"02\"",
                &["retired on 2024-12-02"],
            ),
            (
                "qualification_date = 2020-04-01",
                "qualification_date = 2020-04-01\nclassification = \"A1\"",
                &["qualification[0].classification", "welfare"],
            ),
            (
                "qualification_date = 2020-04-01",
                "qualification_date = 2020-04-01\ncontribution_ratio = \"030\"",
                &["qualification[0].contribution_ratio"],
            ),
            (
                "insurer_number = \"06139990\"",
                "insurer_number = \"0613999\"",
                &["insurer number"],
            ),
            (
                "qualification_date = 2020-04-01",
                "qualification_date = 2020-04-01\nhidden = [\"Nmae\"]",
                &["hidden", "Nmae"],
            ),
            (
                "qualification_date = 2020-04-01",
                "qualification_date = 2020-04-01\nname = \"資格太郎\"",
                &["qualification[0].name", "U+3000"],
            ),
            (
                "qualification_date = 2020-04-01",
                "qualification_date = 2020-04-01\nname_kana = \"しかく たろう x\"",
                &["qualification[0].name_kana"],
            ),
            ("id = \"p\"", "id = \"P 1\"", &["person P 1", "id"]),
            ("card = \"default\"", "card = \"nope\"", &["nope"]),
            ("card = \"default\"", "card = 3", &["card"]),
            (
                "card = \"default\"",
                "card = \"default\"\nreference_numbers = { \"011\" = \"1\" }",
                &["reference_numbers.011"],
            ),
            (
                "card = \"default\"",
                "card = \"default\"\n[[person.phone]]\nid = \"p1\"\nvariant = \"blackberry\"\nadded = 2025-01-01\ncertificate = { not_before = 2025-01-01, not_after = 2030-01-01 }",
                &["blackberry"],
            ),
        ];
        for (from, to, expected) in cases {
            let text = GOOD.replacen(from, to, 1);
            assert_ne!(text, GOOD, "{to}");
            let error = error_of(&text);
            for part in *expected {
                assert!(error.contains(part), "{to}: {error}");
            }
        }
    }

    #[test]
    fn unknown_fields_are_errors_everywhere() {
        let places = [
            ("card = \"default\"", "card = \"default\"\ncolour = \"red\""),
            (
                "qualification_date = 2020-04-01",
                "qualification_date = 2020-04-01\nsymbl = \"1\"",
            ),
            ("[[person]]", "version = 1\n[[person]]"),
        ];
        for (i, (from, to)) in places.into_iter().enumerate() {
            let error = error_of(&GOOD.replacen(from, to, 1));
            assert!(error.contains("unknown field"), "{to}: {error}");
            if i < 2 {
                assert!(error.contains("(in person p)"), "{error}");
                assert!(error.contains("bad.toml line "), "{error}");
            }
        }
        // Inside an inline card profile too, with the card named.
        let inline = include_str!("../fixtures/valid.toml").replacen(
            "seed = \"kazasu-svc-valid\"",
            "seed = \"x\"\nsede = \"y\"",
            1,
        );
        let error = error_of(&inline);
        assert!(error.contains("card") && error.contains("sede"), "{error}");
        // And an invalid inline card is refused as the card's fault.
        let inline = include_str!("../fixtures/valid.toml").replacen(
            "my_number = \"314159260016\"",
            "my_number = \"314159260017\"",
            1,
        );
        let error = error_of(&inline);
        assert!(
            error.contains("person valid: card") && error.contains("check digit"),
            "{error}"
        );
    }

    #[test]
    fn phones_are_checked() {
        let phone = |fields: &str| {
            GOOD.replacen(
                "card = \"default\"",
                &format!(
                    "card = \"default\"\n[[person.phone]]\nid = \"a\"\nvariant = \"android\"\nadded = 2025-01-01\ncertificate = {{ not_before = 2025-01-01, not_after = 2030-01-01 }}\n{fields}"
                ),
                1,
            )
        };
        let persons = parse(&phone("pin = \"5678\""), "p").unwrap();
        let person = &persons[0];
        let profile = person.phone_profile(&person.phones[0]);
        assert_eq!(profile.variant, Variant::Android);
        assert_eq!(profile.pins.auth.value, "5678");
        assert_ne!(profile.seed, person.card.profile.seed, "its own keys");
        assert_eq!(
            profile.certificates.auth.not_after,
            time::macros::date!(2030 - 01 - 01)
        );
        assert_eq!(
            person.carrier(Some("a")),
            Some(crate::rules::Carrier::Android)
        );
        assert_eq!(
            person.carrier(None),
            Some(crate::rules::Carrier::PhysicalCard)
        );
        assert_eq!(person.carrier(Some("b")), None);
        let cases = [
            ("pin = \"567\"", "phone[0]"),
            (
                "[[person.phone]]\nid = \"a\"\nvariant = \"iphone\"\nadded = 2025-01-01\ncertificate = { not_before = 2025-01-01, not_after = 2030-01-01 }",
                "phone[1].id",
            ),
            ("authentication_window_seconds = 0", "phone[0]"),
        ];
        for (extra, field) in cases {
            let error = error_of(&phone(extra));
            assert!(error.contains(field), "{extra}: {error}");
        }
        let physical = phone("").replace("variant = \"android\"", "variant = \"physical-contact\"");
        assert!(error_of(&physical).contains("phone[0].variant"));
        let early = phone("").replace(
            "certificate = { not_before = 2025-01-01",
            "certificate = { not_before = 2024-12-31",
        );
        assert!(error_of(&early).contains("phone[0].certificate.not_before"));
        // The card's rule: no smartphone certificate under 15 (the built-in
        // no-photo card is a baby's).
        let child = phone("").replace("card = \"default\"", "card = \"no-photo\"");
        let error = error_of(&child);
        assert!(
            error.contains("phone[0]") && error.contains("15"),
            "{error}"
        );
    }

    #[test]
    fn welfare_records_are_checked() {
        let welfare = |extra: &str| {
            format!(
                "{GOOD}\n[[person.welfare]]\noffice_name = \"かざす市福祉事務所\"\nstarted_on = 2025-06-01\n{extra}"
            )
        };
        assert!(parse(&welfare(""), "w").is_ok());
        let cases = [
            ("ended_on = 2025-01-01", "welfare[0].ended_on"),
            (
                "birth_date = 1960-01-01\nbirth_date_unknown = true",
                "welfare[0].birth_date_unknown",
            ),
            ("hidden = [\"InsuredName\"]", "welfare[0].hidden"),
            (
                "[[person.welfare.ticket]]\nticket_type = \"01\"\ntreatment_month = \"202613\"",
                "welfare[0].ticket[0].treatment_month",
            ),
        ];
        for (extra, field) in cases {
            let error = error_of(&welfare(extra));
            assert!(error.contains(field), "{extra}: {error}");
        }
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let one = parse(GOOD, "a.toml").unwrap();
        let error = join([
            ("a.toml".to_string(), one.clone()),
            ("b.toml".to_string(), one),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("\"p\"") && error.contains("b.toml"),
            "{error}"
        );
    }
}
