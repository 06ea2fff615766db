//! Identifiers and small numbers whose written form the interface fixes.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// 保険者番号: always 8 characters on the interface.
///
/// Insurers have 8-digit numbers (法別番号 2 + 都道府県番号 2 + 保険者別番号 3 +
/// 検証番号 1), except municipal 国民健康保険, whose numbers have 6 digits; those
/// are right-aligned with two leading spaces (`"  138057"`), as receipt
/// computers expect. The constructor is the only way in, so every value in the
/// program already has the written form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InsurerNumber(String);

impl InsurerNumber {
    /// Accepts 8 digits, 6 digits (padded here), or 6 digits already padded
    /// with two leading spaces.
    pub fn new(text: &str) -> Result<Self, String> {
        let digits = text.strip_prefix("  ").unwrap_or(text);
        let all_digits = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
        match (digits.len(), all_digits, digits.len() == text.len()) {
            (8, true, true) => Ok(InsurerNumber(digits.to_string())),
            (6, true, _) => Ok(InsurerNumber(format!("  {digits}"))),
            _ => Err(format!(
                "insurer number {text:?}: 8 digits, or 6 digits for 国民健康保険 (written with two leading spaces)"
            )),
        }
    }

    /// The 8-character written form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without padding.
    pub fn digits(&self) -> &str {
        self.0.trim_start_matches(' ')
    }

    /// A municipal 国民健康保険 number (6 digits).
    pub fn is_national_health_insurance(&self) -> bool {
        self.digits().len() == 6
    }

    /// A 後期高齢者医療 insurer (法別番号 39): no 枝番, no 本人・家族の別, and
    /// the only one whose results carry 負担割合.
    pub fn is_late_elderly(&self) -> bool {
        self.digits().len() == 8 && self.0.starts_with("39")
    }
}

impl fmt::Display for InsurerNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for InsurerNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for InsurerNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        InsurerNumber::new(&text).map_err(serde::de::Error::custom)
    }
}

/// 医療機関等コード: 10 digits (都道府県 2, 点数表 1, 機関番号 7).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MedicalInstitutionCode(String);

impl MedicalInstitutionCode {
    pub fn new(text: &str) -> Result<Self, String> {
        if text.len() == 10 && text.bytes().all(|b| b.is_ascii_digit()) {
            Ok(MedicalInstitutionCode(text.to_string()))
        } else {
            Err(format!("medical institution code {text:?}: 10 digits"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MedicalInstitutionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for MedicalInstitutionCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for MedicalInstitutionCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        MedicalInstitutionCode::new(&text).map_err(serde::de::Error::custom)
    }
}

/// 負担割合 (InsuredPartialContributionRatio, ElderlyRecipientContributionRatio):
/// a percentage written with three digits, `010` for 1割.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContributionRatio(u8);

impl ContributionRatio {
    pub fn from_percent(percent: u8) -> Result<Self, String> {
        if percent <= 100 {
            Ok(ContributionRatio(percent))
        } else {
            Err(format!("contribution ratio {percent}%: at most 100"))
        }
    }

    /// Parses the three-digit form.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() != 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "contribution ratio {text:?}: a three-digit percentage such as \"010\" (1割)"
            ));
        }
        let percent: u8 = text
            .parse()
            .map_err(|_| format!("{text:?}: not a number"))?;
        Self::from_percent(percent)
    }

    pub fn percent(self) -> u8 {
        self.0
    }

    /// The three-digit form (`030`).
    pub fn code(self) -> String {
        format!("{:03}", self.0)
    }

    /// How a screen shows it: `1割`, `3割` (or `15%` when not whole tenths).
    pub fn label(self) -> String {
        if self.0.is_multiple_of(10) {
            format!("{}割", self.0 / 10)
        } else {
            format!("{}%", self.0)
        }
    }
}

impl Serialize for ContributionRatio {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.code())
    }
}

impl<'de> Deserialize<'de> for ContributionRatio {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ContributionRatio::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Checks 枝番: exactly two digits (`"00"`, `"02"`), kept as a string because
/// the leading zero is part of it.
pub fn check_branch_number(text: &str) -> Result<(), String> {
    if text.len() == 2 && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!(
            "branch number {text:?}: two digits, such as \"00\""
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_health_insurance_numbers_are_padded_to_eight() {
        let nhi = InsurerNumber::new("138057").unwrap();
        assert_eq!(nhi.as_str(), "  138057");
        assert_eq!(nhi.as_str().len(), 8);
        assert_eq!(nhi.digits(), "138057");
        assert!(nhi.is_national_health_insurance());
        assert_eq!(InsurerNumber::new("  138057").unwrap(), nhi);
        let kyokai = InsurerNumber::new("01130012").unwrap();
        assert_eq!(kyokai.as_str(), "01130012");
        assert!(!kyokai.is_late_elderly());
        assert!(InsurerNumber::new("39131015").unwrap().is_late_elderly());
        for bad in [
            "",
            "1234567",
            "123456789",
            "  12345678",
            " 138057",
            "13805a",
            "１３８０５７",
        ] {
            assert!(InsurerNumber::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ratios_have_three_digits() {
        let ratio = ContributionRatio::parse("010").unwrap();
        assert_eq!(ratio.code(), "010");
        assert_eq!(ratio.label(), "1割");
        assert_eq!(ContributionRatio::parse("030").unwrap().label(), "3割");
        for bad in ["10", "0100", "101", "abc"] {
            assert!(ContributionRatio::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn institution_codes_and_branches() {
        assert!(MedicalInstitutionCode::new("0110000001").is_ok());
        assert!(MedicalInstitutionCode::new("011000001").is_err());
        assert!(check_branch_number("00").is_ok());
        assert!(check_branch_number("0").is_err());
        assert!(check_branch_number("0a").is_err());
    }
}
