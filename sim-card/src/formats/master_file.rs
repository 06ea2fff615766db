//! The data objects GET DATA answers with no application selected (the
//! master file level, after power-on or a SELECT of the GlobalPlatform
//! issuer security domain), where real cards hold no readable EF.
//!
//! The tags and their formats are soltia48/myna-card's, found by sweeping
//! P1-P2 on real cards: `0042` issuer identification (16 bytes), `0045` card
//! identification (ASCII), `0066` GlobalPlatform card recognition data,
//! `00F0` municipality (5 ASCII digits), `00F2` expiry (8 ASCII digits),
//! `00F7` the ID of the intermediate key, `00F8` a CV certificate from the
//! root to that intermediate (without its `7F21` template), `5F51` the
//! contact ATR without `TS`. `7F21`, a second link, is absent on older
//! cards; this card is one of those (documented choice: what it certifies is
//! not public).

use crate::formats::common::card_serial;
use crate::formats::objects::{
    SIMULATED_CARD_INTERMEDIATE_KEY, SIMULATED_CARD_ISSUER, SIMULATED_CARD_ROOT_KEY, key_id,
    municipality_code_5, signed_cv_certificate, tlv, yyyymmdd,
};
use crate::pki::card_issuer;
use crate::profile::CardProfile;

/// `0042`: the issuer identification, a 16-byte key reference. The
/// simulator's own (`6999010`), as real cards' numbering is not public.
pub fn issuer_identification() -> Vec<u8> {
    key_id(SIMULATED_CARD_ISSUER, "001").to_vec()
}

/// `0045`: the card identification number, ASCII: the 15-digit serial the
/// 共通AP's record holds (documented choice: the two agree on real cards as
/// far as is public, and a card has one number).
pub fn card_identification(profile: &CardProfile) -> Vec<u8> {
    card_serial(profile).into_bytes()
}

/// The OID arc of GlobalPlatform (1.2.840.114283), in DER.
const GP_ARC: [u8; 6] = [0x2A, 0x86, 0x48, 0x86, 0xFC, 0x6B];

/// `0066`: GlobalPlatform card recognition data, without its `66`
/// template (as the card hands over its CV certificates): `73 { 06 <card
/// recognition data OID>, 60 { 06 <GP 2.2.1> } }`. Real cards answer this
/// tag; the content here is a documented choice (the version is the one a
/// card of this generation would declare).
pub fn card_recognition_data() -> Vec<u8> {
    let oid = |suffix: &[u8]| {
        let mut value = GP_ARC.to_vec();
        value.extend_from_slice(suffix);
        tlv(&[0x06], &value)
    };
    let mut content = oid(&[0x01]);
    content.extend_from_slice(&tlv(&[0x60], &oid(&[0x02, 0x02, 0x02, 0x01])));
    tlv(&[0x73], &content)
}

/// `00F0`: the issuing municipality, the local government code without its
/// check digit (5 ASCII digits, as the 共通AP's record).
pub fn municipality(profile: &CardProfile) -> Vec<u8> {
    municipality_code_5(&profile.persona.municipality_code).to_vec()
}

/// `00F2`: the card's expiry, `YYYYMMDD` in ASCII.
pub fn expiry(profile: &CardProfile) -> Vec<u8> {
    yyyymmdd(profile.body.expiry).into_bytes()
}

/// `00F7`: the key ID of the intermediate that `00F8` certifies.
pub fn intermediate_key_id() -> Vec<u8> {
    key_id(SIMULATED_CARD_INTERMEDIATE_KEY, "001").to_vec()
}

/// `00F8`: the CV certificate in which the simulated root
/// ([`card_issuer::card_root_key`]) certifies the intermediate, without its
/// `7F21` template (`5F4E …, 5F37 …`), as GET DATA answers it. The
/// signature is real (PKCS#1 v1.5, SHA-256 over the `5F4E` value).
pub fn root_certificate() -> Vec<u8> {
    let certificate = signed_cv_certificate(
        &card_issuer::card_root_key(),
        &key_id(SIMULATED_CARD_ROOT_KEY, "001"),
        &key_id(SIMULATED_CARD_INTERMEDIATE_KEY, "001"),
        &card_issuer::card_intermediate_key(),
    );
    // `7F 21 82 HH LL`: the template's tag and its three-byte length (the
    // value is over 500 bytes).
    let (header, value) = certificate.split_at(5);
    debug_assert_eq!(&header[..3], [0x7F, 0x21, 0x82]);
    value.to_vec()
}

/// `5F51`: the contact ATR without its initial `TS` (`3B`).
pub fn contact_atr(atr: &[u8]) -> Vec<u8> {
    atr.get(1..).unwrap_or_default().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::testing::{profile, read_tlv};

    #[test]
    fn the_ascii_objects() {
        let p = profile();
        assert_eq!(municipality(&p), b"13101");
        assert_eq!(expiry(&p), b"20350412");
        let id = card_identification(&p);
        assert_eq!(id.len(), 15);
        assert!(id.iter().all(u8::is_ascii_digit));
        assert_eq!(issuer_identification().len(), 16);
        assert_eq!(intermediate_key_id().len(), 16);
    }

    #[test]
    fn recognition_data_is_gp_tlv() {
        let data = card_recognition_data();
        let (tag, content, rest) = read_tlv(&data);
        assert_eq!((tag, rest.len()), (0x73, 0));
        let (tag, oid, rest) = read_tlv(content);
        assert_eq!(tag, 0x06);
        assert_eq!(oid, [0x2A, 0x86, 0x48, 0x86, 0xFC, 0x6B, 0x01]);
        let (tag, _, rest) = read_tlv(rest);
        assert_eq!((tag, rest.len()), (0x60, 0));
    }

    #[test]
    fn the_root_certificate_comes_without_its_template() {
        let value = root_certificate();
        let (tag, body, rest) = read_tlv(&value);
        assert_eq!((tag, body.len()), (0x5F4E, 16 + 16 + 265));
        assert_eq!(&body[16..32], intermediate_key_id());
        let (tag, signature, rest) = read_tlv(rest);
        assert_eq!((tag, signature.len(), rest.len()), (0x5F37, 256, 0));
    }

    #[test]
    fn the_contact_atr_loses_its_ts() {
        assert_eq!(contact_atr(&[0x3B, 0x88, 0x80]), [0x88, 0x80]);
        assert!(contact_atr(&[]).is_empty());
    }
}
