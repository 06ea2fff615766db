//! The contents of the card's elementary files, as pure functions.
//!
//! Each function returns the exact bytes of one EF, built from the card
//! profile; the card's file system calls them once at start-up and serves the
//! bytes as they are. Nothing here keeps state or reads the clock, and the same
//! profile always gives the same bytes.
//!
//! Where real cards have been read (notes and parsers of soltia48/myna-card,
//! jpki/myna, AokiApp/jsapdu, OpenSC), the layout is followed byte for byte,
//! length forms included: clients walk these files by position. Where a value
//! can only come from the issuer, the simulator plays the issuer: the
//! signatures of the 券面 applications' records and CV certificates are real
//! RSA signatures by the simulated issuer's keys ([`crate::pki::card_issuer`]),
//! so a client that verifies them against the issuer's public key (`kazasu
//! pki` exports it) succeeds, and one that trusts only J-LIS's keys rejects
//! them, as it would any card outside the production hierarchy. Opaque blocks
//! whose meaning is not public are deterministic stand-in bytes of the right
//! length, and the function says so.
//!
//! | application | EF | builder |
//! |---|---|---|
//! | JPKI-AP | `0006` token info | [`token_info`] |
//! | | `0008` certificate availability | [`certificate_availability`] |
//! | 券面事項入力補助AP | `0001` My Number | [`text_my_number`] |
//! | | `0002` basic four attributes | [`text_attributes`] |
//! | | `0003` integrity record | [`text_integrity_record`] |
//! | | `0004` CV certificate | [`text_certificate`] |
//! | | `0005` AP basic information | [`text_ap_basic_info`] |
//! | | `0006` session-key public key | [`text_session_key`] |
//! | | `0007` signed AP public key | [`text_signed_public_key`] |
//! | 券面事項確認AP | `0001` age record | [`surface_age_record`] |
//! | | `0002` card face | [`surface_card_face`] |
//! | | `0003` AP basic information | [`surface_ap_basic_info`] |
//! | | `0004` CV certificate | [`surface_certificate`] |
//! | | `0005` My Number image | [`surface_my_number_image`] |
//! | | PINs `0011`, `0012`, `0013` | [`surface_birth_date_pin`], [`surface_pin_b`], [`surface_pin_a`] |
//! | 共通AP | `0001` record 1 | [`common_record`] |
//! | (none selected) | GET DATA objects | [`master_file`] |

pub mod common;
pub mod era;
pub mod jpki;
pub mod master_file;
pub mod objects;
pub mod surface;
pub mod text;

pub use common::{card_serial, common_record};
pub use era::{Era, JapaneseDate};
pub use jpki::{TOKEN_INFO_LEN, TokenLabel, certificate_availability, token_info};
pub use surface::{
    surface_age_record, surface_ap_basic_info, surface_birth_date_pin, surface_card_face,
    surface_card_public_key, surface_certificate, surface_my_number_image, surface_pin_a,
    surface_pin_b,
};
pub use text::{
    text_ap_basic_info, text_attributes, text_attributes_in, text_certificate,
    text_integrity_record, text_my_number, text_session_key, text_signed_public_key,
};

/// What the tests use to read the files back: a BER-TLV reader that walks
/// objects by position, as clients do, and the default profile.
#[cfg(test)]
pub(crate) mod testing {
    use crate::persona::Persona;
    use crate::profile::CardProfile;

    /// Reads one BER-TLV object: (tag as an integer, value, what follows).
    /// Handles one- and multi-byte tags and every definite length form.
    pub fn read_tlv(bytes: &[u8]) -> (u32, &[u8], &[u8]) {
        let mut i = 0;
        let mut tag = u32::from(bytes[i]);
        i += 1;
        if bytes[0] & 0x1F == 0x1F {
            loop {
                tag = (tag << 8) | u32::from(bytes[i]);
                i += 1;
                if bytes[i - 1] & 0x80 == 0 {
                    break;
                }
            }
        }
        let first = bytes[i];
        i += 1;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7F);
            let len = bytes[i..i + n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            i += n;
            len
        };
        (tag, &bytes[i..i + len], &bytes[i + len..])
    }

    pub fn profile() -> CardProfile {
        CardProfile::built_in("default").unwrap()
    }

    pub fn persona() -> Persona {
        profile().persona
    }
}
