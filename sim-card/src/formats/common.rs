//! The 共通AP (common application): what the card says about itself.

use crate::formats::objects::{municipality_code_5, simulated_bytes, yyyymmdd};
use crate::profile::CardProfile;

/// Length of the value of record 1: 15 + 5 + 8 ASCII digits.
const CARD_INFO_LEN: u8 = 0x1C;

/// The card's 15-digit serial number.
///
/// Real serials have an internal structure that is not public; the simulator
/// derives fifteen digits from the profile's seed, so the same profile is
/// always the same card and two seeds practically never share a serial.
pub fn card_serial(profile: &CardProfile) -> String {
    simulated_bytes("card serial", &[profile.seed.as_bytes()], 15)
        .iter()
        .map(|b| char::from(b'0' + b % 10))
        .collect()
}

/// Record 1 of EF `0001`, 30 bytes: a SIMPLE-TLV with tag `01` and length
/// `1C`, then 28 ASCII digits: the serial (15), the municipality code without
/// its check digit (5) and the card's expiry `YYYYMMDD` (8).
///
/// Layout from soltia48/myna-card's notes on a test card
/// (`01 1C "400000012719843" "13221" "20350217"`); clients read it with
/// `00 B2 01 0C 00`, READ RECORD by short EF identifier 1, without selecting
/// the EF.
pub fn common_record(profile: &CardProfile) -> Vec<u8> {
    let mut out = vec![0x01, CARD_INFO_LEN];
    out.extend_from_slice(card_serial(profile).as_bytes());
    out.extend_from_slice(&municipality_code_5(&profile.persona.municipality_code));
    out.extend_from_slice(yyyymmdd(profile.body.expiry).as_bytes());
    debug_assert_eq!(out.len(), 2 + usize::from(CARD_INFO_LEN));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::testing::profile;

    #[test]
    fn record_layout() {
        let p = profile();
        let record = common_record(&p);
        assert_eq!(record.len(), 30);
        assert_eq!(&record[..2], [0x01, 0x1C]);
        assert!(record[2..].iter().all(u8::is_ascii_digit));
        assert_eq!(&record[2..17], card_serial(&p).as_bytes());
        assert_eq!(&record[17..22], b"13101");
        assert_eq!(&record[22..], b"20350412");
    }

    #[test]
    fn serial_is_deterministic_per_seed() {
        let p = profile();
        assert_eq!(card_serial(&p).len(), 15);
        assert_eq!(card_serial(&p), card_serial(&profile()));
        let mut other = profile();
        other.seed = "another card".into();
        assert_ne!(card_serial(&p), card_serial(&other));
    }
}
