//! The person a card is issued to, and the My Number with its check digit.

use serde::{Deserialize, Serialize};
use time::Date;

use crate::toml_date;

/// The holder's basic four attributes (基本4情報) and identifiers, as the
/// municipality wrote them onto the card.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Persona {
    /// Family and given name separated by U+3000 (ideographic space).
    pub name: String,
    /// The name in full-width katakana, separated by U+3000.
    pub name_kana: String,
    pub address: String,
    #[serde(with = "toml_date")]
    pub birth_date: Date,
    pub sex: Sex,
    /// The 12-digit individual number (個人番号), check digit included.
    pub my_number: String,
    /// The 6-digit local government code (全国地方公共団体コード) of the issuing municipality.
    pub municipality_code: String,
}

/// Sex as the card encodes it (ISO/IEC 5218 codes, as on the card).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Sex {
    Male,
    Female,
    NotApplicable,
}

impl Sex {
    /// The one-digit code the card stores: 1 male, 2 female, 9 not applicable.
    pub fn code(self) -> u8 {
        match self {
            Sex::Male => 1,
            Sex::Female => 2,
            Sex::NotApplicable => 9,
        }
    }
}

impl Persona {
    /// Checks the persona's identifiers.
    pub fn validate(&self) -> Result<(), String> {
        check_my_number(&self.my_number)?;
        if self.municipality_code.len() != 6
            || !self.municipality_code.bytes().all(|b| b.is_ascii_digit())
        {
            return Err("persona.municipality_code: 6 digits".into());
        }
        if !self.name.contains('\u{3000}') {
            return Err(
                "persona.name: family and given name separated by an ideographic space (U+3000)"
                    .into(),
            );
        }
        Ok(())
    }
}

/// The check digit (検査用数字) of the first 11 digits of a My Number.
///
/// Weights 6,5,4,3,2,7,6,5,4,3,2 from the left; remainder mod 11 of 0 or 1
/// gives 0, otherwise 11 minus the remainder.
pub fn my_number_check_digit(first_eleven: &[u8; 11]) -> u8 {
    const WEIGHTS: [u32; 11] = [6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
    let sum: u32 = first_eleven
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(*d) * w)
        .sum();
    match sum % 11 {
        0 | 1 => 0,
        r => (11 - r) as u8,
    }
}

/// Checks that `number` is 12 digits whose last is the right check digit.
pub fn check_my_number(number: &str) -> Result<(), String> {
    let bytes = number.as_bytes();
    if bytes.len() != 12 || !bytes.iter().all(u8::is_ascii_digit) {
        return Err("persona.my_number: 12 digits".into());
    }
    let mut first = [0u8; 11];
    for (d, b) in first.iter_mut().zip(bytes) {
        *d = b - b'0';
    }
    let expected = my_number_check_digit(&first);
    if bytes[11] - b'0' != expected {
        return Err(format!(
            "persona.my_number: check digit should be {expected}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_numbers() {
        assert!(check_my_number("123456789018").is_ok());
        assert!(check_my_number("123456789011").is_err());
        assert!(check_my_number("12345678901").is_err());
        assert!(check_my_number("12345678901a").is_err());
    }

    proptest! {
        #[test]
        fn exactly_one_check_digit_is_valid(first in proptest::array::uniform11(0u8..10)) {
            let stem: String = first.iter().map(|d| char::from(b'0' + d)).collect();
            let valid = (0..10).filter(|c| check_my_number(&format!("{stem}{c}")).is_ok()).count();
            prop_assert_eq!(valid, 1);
        }
    }
}
