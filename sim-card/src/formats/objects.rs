//! Building blocks shared by the applications' files: BER-TLV objects, the
//! 16-byte key identifiers, RSA public keys in the card's own encoding, the
//! card-verifiable certificates signed by the simulated issuer
//! ([`crate::pki::card_issuer`]), and the deterministic stand-in bytes used
//! for values whose meaning nobody outside the issuer knows.

use openssl::sha::Sha256;

use crate::behaviour::LengthForm;
use crate::keys::RsaKey;
use crate::pki::card_issuer::{self, CardApplication};

/// Encodes a BER-TLV object with a definite length in the card's form
/// ([`length`]).
///
/// `tag` is given as its bytes (`&[0xDF, 0x22]`), as the card writes it.
pub fn tlv(tag: &[u8], value: &[u8]) -> Vec<u8> {
    tlv_in(LengthForm::ShortOr82, tag, value)
}

/// Encodes a BER-TLV object with its length in `form`.
pub fn tlv_in(form: LengthForm, tag: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(tag.len() + 5 + value.len());
    out.extend_from_slice(tag);
    out.extend_from_slice(&length_in(form, value.len()));
    out.extend_from_slice(value);
    out
}

/// Encodes a BER-TLV object whose length is always written as `82 hi lo`,
/// even when a shorter form would do.
///
/// The text application's basic information file opens `FF 40 82 00 9F` on
/// real cards, and clients that hard-code offsets into it depend on the
/// three-byte form.
pub fn tlv_long_form(tag: &[u8], value: &[u8]) -> Vec<u8> {
    tlv_in(LengthForm::Always82, tag, value)
}

/// A definite length as real cards write it: one byte below 128, otherwise
/// `82` and two bytes, even below 256 (`DF 12 82 01 09`, `FF 40 82 00 9F`;
/// no file read off a card shows `81 LL`).
pub fn length(len: usize) -> Vec<u8> {
    length_in(LengthForm::ShortOr82, len)
}

/// A definite length in `form`. Lengths of 64 KiB and more, which no file of
/// the card needs, take the shortest form whatever `form` says.
pub fn length_in(form: LengthForm, len: usize) -> Vec<u8> {
    match (form, u16::try_from(len)) {
        (LengthForm::ShortOr82, _) | (LengthForm::Shortest, _) if len < 0x80 => vec![len as u8],
        (LengthForm::ShortOr82 | LengthForm::Always82, Ok(len)) => {
            let [hi, lo] = len.to_be_bytes();
            vec![0x82, hi, lo]
        }
        _ => shortest_length(len),
    }
}

/// The shortest BER encoding of a definite length: one byte below 128,
/// otherwise `81`–`84` followed by the length in big-endian bytes.
fn shortest_length(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![len as u8];
    }
    let bytes = (len as u64).to_be_bytes();
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(7);
    let significant = &bytes[first..];
    let mut out = Vec::with_capacity(1 + significant.len());
    out.push(0x80 | significant.len() as u8);
    out.extend_from_slice(significant);
    out
}

/// A byte offset for the `DF21` offset tables, which hold big-endian `u16`s.
///
/// Every file of a real card is far below 64 KiB; an absurdly long persona
/// field saturates the offset rather than wrapping it around.
pub(crate) fn offset_u16(offset: usize) -> [u8; 2] {
    u16::try_from(offset).unwrap_or(u16::MAX).to_be_bytes()
}

/// SHA-256, as the integrity records of the 券面 applications use it.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    openssl::sha::sha256(data)
}

/// Deterministic bytes standing in for a value only the real issuer could
/// produce: a signature by the J-LIS keys, an issuer's public key, an opaque
/// block whose meaning nobody outside the issuer knows.
///
/// SHA-256 in counter mode over `purpose` and `inputs`, so the same card
/// always gets the same bytes and two different purposes never share them.
/// The bytes have the right length and nothing else: a client that checks an
/// issuer signature against them rejects it, as it would on any card outside
/// the production hierarchy.
pub(crate) fn simulated_bytes(purpose: &str, inputs: &[&[u8]], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut counter: u32 = 0;
    while out.len() < len {
        let mut hasher = Sha256::new();
        hasher.update(b"kazasu simulated bytes\0");
        hasher.update(purpose.as_bytes());
        for input in inputs {
            // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
            hasher.update(&(input.len() as u64).to_be_bytes());
            hasher.update(input);
        }
        hasher.update(&counter.to_be_bytes());
        out.extend_from_slice(&hasher.finish());
        counter += 1;
    }
    out.truncate(len);
    out
}

/// Length of an RSA-2048 modulus or signature.
pub const RSA_2048_BYTES: usize = 256;

/// The public exponent every key on the card uses, 65537.
pub const RSA_EXPONENT: [u8; 3] = [0x01, 0x00, 0x01];

/// An RSA public key as the 券面 applications' records carry it: the exponent
/// under tag `90`, then the modulus under tag `91` (`90 03 010001 91 82 0100 …`,
/// 265 bytes for RSA-2048).
///
/// This is the card's own encoding, not a SubjectPublicKeyInfo; jsapdu's
/// `decodePublicKey` and myna-card's `RsaPublicKey` read it as two TLVs.
pub fn rsa_public_key_object(exponent: &[u8], modulus: &[u8]) -> Vec<u8> {
    let mut out = tlv(&[0x90], exponent);
    out.extend_from_slice(&tlv(&[0x91], modulus));
    out
}

/// Length of a key identifier (証明者鍵ID, 被証明者鍵ID, and the key references
/// of the AP basic information files).
pub const KEY_ID_LEN: usize = 16;

/// A 16-byte key identifier as the 券面 applications write them:
/// seven ASCII digits naming the key, the bytes `08 05`, three ASCII digits of
/// group, and four zero bytes (soltia48/myna-card notes, read from a test card).
///
/// On real cards production keys start with `5` and the JPKI test hierarchy's
/// with `6`. The simulator's issuer keys use `6999…` (see
/// [`SIMULATED_TEXT_CA_KEY`] and friends), so they can never be mistaken for a
/// key of either real hierarchy. `number` and `group` are padded with `0` or cut
/// to their widths.
pub fn key_id(number: &str, group: &str) -> [u8; KEY_ID_LEN] {
    let mut id = [0u8; KEY_ID_LEN];
    fit_digits(&mut id[..7], number);
    id[7] = 0x08;
    id[8] = 0x05;
    fit_digits(&mut id[9..12], group);
    id
}

/// The simulated issuer key that certifies the text application's key (the
/// real test hierarchy uses `6000033`).
pub const SIMULATED_TEXT_CA_KEY: &str = "6999033";
/// The simulated issuer key that certifies the surface application's key (the
/// real test hierarchy uses `6000023`).
pub const SIMULATED_SURFACE_CA_KEY: &str = "6999023";
/// The key the text application's basic information names in `DF42` (real
/// test cards: `6000034`; what it names is not known).
pub const SIMULATED_TEXT_AP_KEY: &str = "6999034";
/// The key the surface application's basic information names in `DF32` (real
/// test cards: `6000024`; what it names is not known).
pub const SIMULATED_SURFACE_AP_KEY: &str = "6999024";

/// The simulated root key of the card-level chain of CV certificates (GET
/// DATA `00F8`); not on the card.
pub const SIMULATED_CARD_ROOT_KEY: &str = "6999011";
/// The simulated intermediate key `00F8` certifies (GET DATA `00F7`).
pub const SIMULATED_CARD_INTERMEDIATE_KEY: &str = "6999012";
/// The simulated issuer identification (GET DATA `0042`).
pub const SIMULATED_CARD_ISSUER: &str = "6999010";

/// The key identifier of the issuing municipality's own key, which the CV
/// certificates of both 券面 applications certify (被証明者鍵ID).
///
/// Real cards name the municipality's key here, in a numbering the simulator
/// cannot know; it writes `6` followed by the 6-digit local government code,
/// so cards of one municipality share it, as they do on real cards.
pub fn municipality_key_id(municipality_code: &str) -> [u8; KEY_ID_LEN] {
    key_id(&format!("6{municipality_code}"), "001")
}

/// The 5-digit municipality code: the 6-digit 全国地方公共団体コード without its
/// check digit, as the common application's record and the surface
/// application's `DF34` hold it.
pub(crate) fn municipality_code_5(municipality_code: &str) -> [u8; 5] {
    let mut out = [0u8; 5];
    fit_digits(&mut out, municipality_code);
    out
}

fn fit_digits(slot: &mut [u8], digits: &str) {
    let bytes = digits.as_bytes();
    for (i, out) in slot.iter_mut().enumerate() {
        *out = bytes.get(i).copied().unwrap_or(b'0');
    }
}

/// A card-verifiable certificate, as EF `0004` of both 券面 applications holds
/// it (soltia48/myna-card, read from a test card):
///
/// ```text
/// 7F21 82 0233
///   5F4E 82 0129   証明者鍵ID (16) | 被証明者鍵ID (16) | public key (90/91, 265)
///   5F37 82 0100   signature over the 5F4E value
/// ```
///
/// `public_key` is the key object from [`rsa_public_key_object`].
pub fn cv_certificate(
    issuer: &[u8; KEY_ID_LEN],
    subject: &[u8; KEY_ID_LEN],
    public_key: &[u8],
    signature: &[u8],
) -> Vec<u8> {
    let mut body = Vec::with_capacity(2 * KEY_ID_LEN + public_key.len());
    body.extend_from_slice(issuer);
    body.extend_from_slice(subject);
    body.extend_from_slice(public_key);
    let mut inner = tlv(&[0x5F, 0x4E], &body);
    inner.extend_from_slice(&tlv(&[0x5F, 0x37], signature));
    tlv(&[0x7F, 0x21], &inner)
}

/// The simulated issuer key number that certifies `application`'s key.
pub fn simulated_ca_key_number(application: CardApplication) -> &'static str {
    match application {
        CardApplication::Text => SIMULATED_TEXT_CA_KEY,
        CardApplication::Surface => SIMULATED_SURFACE_CA_KEY,
    }
}

/// The CV certificate of one 券面 application, as its EF `0004` holds it: the
/// simulated issuer key ([`CardApplication::ca_key`]) certifies the
/// application's signing key under the municipality's key ID, with a real
/// signature (PKCS#1 v1.5, SHA-256 over the `5F4E` value), so a verifier
/// holding the issuer's public key (`kazasu pki`) accepts it.
pub fn application_cv_certificate(
    application: CardApplication,
    municipality_code: &str,
) -> Vec<u8> {
    signed_cv_certificate(
        &application.ca_key(),
        &key_id(simulated_ca_key_number(application), "001"),
        &municipality_key_id(municipality_code),
        &application.signing_key(),
    )
}

/// The issuer's own key as a self-signed CV certificate (証明者 = 被証明者):
/// how `kazasu pki` hands a verifier the key that certifies EF `0004`, in the
/// card's own encoding. Not on any card.
pub fn issuer_cv_certificate(application: CardApplication) -> Vec<u8> {
    let id = key_id(simulated_ca_key_number(application), "001");
    let ca = application.ca_key();
    signed_cv_certificate(&ca, &id, &id, &ca)
}

/// A CV certificate in which `signer` (named `issuer`) certifies
/// `subject_key` (named `subject`), with a real signature.
pub(crate) fn signed_cv_certificate(
    signer: &RsaKey,
    issuer: &[u8; KEY_ID_LEN],
    subject: &[u8; KEY_ID_LEN],
    subject_key: &RsaKey,
) -> Vec<u8> {
    let public_key = rsa_public_key_object(&RSA_EXPONENT, &card_issuer::modulus(subject_key));
    let mut body = Vec::new();
    body.extend_from_slice(issuer);
    body.extend_from_slice(subject);
    body.extend_from_slice(&public_key);
    let signature = issuer_signature(signer, &body);
    cv_certificate(issuer, subject, &public_key, &signature)
}

/// The issuer's signature over `data` (PKCS#1 v1.5, SHA-256).
///
/// # Panics
///
/// Only if OpenSSL fails (out of memory): the key is a valid RSA-2048 key
/// and a SHA-256 DigestInfo always fits it.
pub(crate) fn issuer_signature(key: &RsaKey, data: &[u8]) -> Vec<u8> {
    card_issuer::sign_sha256(key, data).expect("OpenSSL failed while signing a card record")
}

/// A date as the card writes it: eight ASCII digits `YYYYMMDD`.
pub fn yyyymmdd(date: time::Date) -> String {
    format!(
        "{:04}{:02}{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::testing::read_tlv;

    #[test]
    fn lengths_take_the_form_real_cards_write() {
        assert_eq!(length(0), [0x00]);
        assert_eq!(length(0x7F), [0x7F]);
        assert_eq!(length(0x80), [0x82, 0x00, 0x80]);
        assert_eq!(length(0xFF), [0x82, 0x00, 0xFF]);
        assert_eq!(length(0x100), [0x82, 0x01, 0x00]);
        assert_eq!(length(0x1_0000), [0x83, 0x01, 0x00, 0x00]);
    }

    #[test]
    fn every_length_form_writes_what_it_says() {
        use LengthForm::*;
        for (form, len, expected) in [
            (Always82, 0x65, &[0x82, 0x00, 0x65][..]),
            (Always82, 0x86, &[0x82, 0x00, 0x86]),
            (Shortest, 0x65, &[0x65]),
            (Shortest, 0x86, &[0x81, 0x86]),
            (Shortest, 0x1234, &[0x82, 0x12, 0x34]),
            (ShortOr82, 0x86, &[0x82, 0x00, 0x86]),
            (Always82, 0x1_0000, &[0x83, 0x01, 0x00, 0x00]),
        ] {
            assert_eq!(length_in(form, len), expected, "{form:?} {len:#x}");
        }
    }

    #[test]
    fn the_long_form_is_kept_for_short_values() {
        assert_eq!(
            tlv_long_form(&[0xFF, 0x40], &[0xAA]),
            [0xFF, 0x40, 0x82, 0x00, 0x01, 0xAA]
        );
    }

    #[test]
    fn key_ids_have_the_card_layout() {
        let id = key_id("6999033", "001");
        assert_eq!(&id[..7], b"6999033");
        assert_eq!(&id[7..9], [0x08, 0x05]);
        assert_eq!(&id[9..12], b"001");
        assert_eq!(&id[12..], [0, 0, 0, 0]);
        assert_eq!(&municipality_key_id("131016")[..7], b"6131016");
    }

    #[test]
    fn public_keys_are_265_bytes_of_90_and_91() {
        let mut modulus = [0x5Au8; RSA_2048_BYTES];
        modulus[0] = 0xC1;
        modulus[255] = 0x01;
        let key = rsa_public_key_object(&RSA_EXPONENT, &modulus);
        assert_eq!(key.len(), 265);
        let (tag, exponent, rest) = read_tlv(&key);
        assert_eq!((tag, exponent), (0x90, &RSA_EXPONENT[..]));
        let (tag, modulus, rest) = read_tlv(rest);
        assert_eq!(tag, 0x91);
        assert_eq!(modulus.len(), 256);
        assert!(modulus[0] & 0x80 != 0 && modulus[255] & 1 == 1);
        assert!(rest.is_empty());
    }

    #[test]
    fn cv_certificates_have_the_card_layout() {
        let cert = application_cv_certificate(CardApplication::Text, "131016");
        assert_eq!(&cert[..5], [0x7F, 0x21, 0x82, 0x02, 0x33]);
        assert_eq!(cert.len(), 5 + 0x233);
        let (tag, inner, rest) = read_tlv(&cert);
        assert_eq!(tag, 0x7F21);
        assert!(rest.is_empty());
        let (tag, body, after_body) = read_tlv(inner);
        assert_eq!(tag, 0x5F4E);
        assert_eq!(body.len(), 297);
        assert_eq!(&body[..7], b"6999033");
        assert_eq!(&body[16..23], b"6131016");
        let (tag, signature, rest) = read_tlv(after_body);
        assert_eq!(tag, 0x5F37);
        assert_eq!(signature.len(), 256);
        assert!(rest.is_empty());
    }

    #[test]
    fn simulated_bytes_depend_on_purpose_and_inputs() {
        let a = simulated_bytes("a", &[b"x"], 100);
        assert_eq!(a.len(), 100);
        assert_eq!(a, simulated_bytes("a", &[b"x"], 100));
        assert_ne!(a, simulated_bytes("b", &[b"x"], 100));
        assert_ne!(
            simulated_bytes("a", &[b"ab", b"c"], 32),
            simulated_bytes("a", &[b"a", b"bc"], 32)
        );
    }

    #[test]
    fn dates_are_eight_digits() {
        assert_eq!(yyyymmdd(time::macros::date!(1985 - 04 - 12)), "19850412");
        assert_eq!(yyyymmdd(time::macros::date!(2035 - 12 - 01)), "20351201");
    }
}
