//! Files and PINs of the 券面事項確認AP (the card surface application): what
//! is printed on the card face, as text and images, so that a terminal can
//! check that the chip and the plastic agree.
//!
//! Layouts follow soltia48/myna-card's notes from a JPKI test card and the
//! schemas of AokiApp/jsapdu (`packages/mynacard`); jpki/myna reads the photo
//! by skipping six objects of EF `0002`, so order matters here too.

use crate::formats::era::JapaneseDate;
use crate::formats::objects::{
    KEY_ID_LEN, RSA_2048_BYTES, RSA_EXPONENT, SIMULATED_SURFACE_AP_KEY, application_cv_certificate,
    issuer_signature, key_id, municipality_code_5, rsa_public_key_object, sha256, simulated_bytes,
    tlv, yyyymmdd,
};
use crate::formats::text::with_offset_table;
use crate::image;
use crate::persona::Persona;
use crate::pki::card_issuer::{self, CardApplication};
use crate::profile::{CardBody, CardProfile};

/// The SHA-256 DigestInfo header for the card face's signature, whose OCTET
/// STRING holds three SHA-256 digests (96 bytes) instead of one: `30 71`, the
/// SHA-256 AlgorithmIdentifier, `04 60`.
const CARD_FACE_DIGEST_INFO_PREFIX: [u8; 19] = [
    0x30, 0x71, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x60,
];

/// The card's own public key, as the age record (`DF12`), the card face
/// (`DF24`) and the My Number image (`DF42`) carry it: the public half of
/// the key in EF `001A` ([`CardApplication::own_key`]), which signs
/// terminals' challenges (COMPUTE DIGITAL SIGNATURE with P2 `00`), proving
/// the chip is present. The encoding is
/// [`crate::formats::objects::rsa_public_key_object`]'s.
pub fn surface_card_public_key(profile: &CardProfile) -> Vec<u8> {
    let key = CardApplication::Surface.own_key(&profile.seed);
    rsa_public_key_object(&RSA_EXPONENT, &card_issuer::modulus(&key))
}

/// EF `0001`: the age verification record, opened by the birth-date key
/// (EF `0011`) alone.
///
/// ```text
/// FF 10 82 02 1E
///   DF 11 08         date of birth, ASCII YYYYMMDD
///   DF 12 82 01 09   the card's public key (90/91)
///   DF 13 82 01 00   signature over DF11 and DF12 by the EF 0004 key
/// ```
pub fn surface_age_record(profile: &CardProfile) -> Vec<u8> {
    let mut signed = tlv(
        &[0xDF, 0x11],
        yyyymmdd(profile.persona.birth_date).as_bytes(),
    );
    signed.extend_from_slice(&tlv(&[0xDF, 0x12], &surface_card_public_key(profile)));
    signed_record(&[0xFF, 0x10], &[0xDF, 0x13], signed)
}

/// EF `0002`: the card face, opened by 照合番号A or B.
///
/// ```text
/// FF 20 82 <len>
///   DF 21 12   nine big-endian u16: where DF22 … DF2A start in the file
///   DF 22 08   date of birth, ASCII YYYYMMDD
///   DF 23 01   sex, one ASCII digit
///   DF 24      the card's public key (90/91)
///   DF 25      name image, PNG
///   DF 26      address image, PNG
///   DF 27      photograph, JPEG 2000 (empty on a card without one)
///   DF 28      signature by the EF 0004 key
///   DF 29 08   card expiry, ASCII YYYYMMDD
///   DF 2A      security code image, PNG
/// ```
///
/// The offset table works as in the text application's EF `0002`: offsets
/// from the first byte of the file to each object's tag.
///
/// On real cards the signature covers three SHA-256 digests, of DF22–DF24, of
/// DF25–DF26 and of DF27, in one DigestInfo; the expiry and the security code
/// come after it and are not covered. The simulator signs exactly that, with
/// the key its EF `0004` certifies, so the signature verifies.
///
/// A card issued to a child under one year has no photo (顔写真なし). How real
/// cards encode that is not public; the simulator keeps the object with an
/// empty value, `DF 27 00`, so that the nine offsets, and clients that walk
/// the file by position (jpki/myna skips six objects to reach the photo), still
/// find every object where they expect it.
pub fn surface_card_face(profile: &CardProfile) -> Vec<u8> {
    let persona = &profile.persona;
    let body = &profile.body;
    let photo: &[u8] = if body.photo { image::PHOTO_JP2 } else { &[] };
    let covered = [
        tlv(&[0xDF, 0x22], yyyymmdd(persona.birth_date).as_bytes()),
        tlv(&[0xDF, 0x23], &[b'0' + persona.sex.code()]),
        tlv(&[0xDF, 0x24], &surface_card_public_key(profile)),
        tlv(&[0xDF, 0x25], &image::name_image(persona)),
        tlv(&[0xDF, 0x26], &image::address_image(persona)),
        tlv(&[0xDF, 0x27], photo),
    ];
    let digests: Vec<u8> = [&covered[0..3], &covered[3..5], &covered[5..6]]
        .iter()
        .flat_map(|group| sha256(&group.concat()))
        .collect();
    // PKCS#1 v1.5 over a SHA-256 DigestInfo whose OCTET STRING holds the
    // three digests, 96 bytes (soltia48/myna-card verifies a real card's so).
    let mut digest_info = CARD_FACE_DIGEST_INFO_PREFIX.to_vec();
    digest_info.extend_from_slice(&digests);
    let signature = CardApplication::Surface
        .signing_key()
        .sign_digest_info(&digest_info)
        .expect("OpenSSL failed while signing the card face");
    let mut fields = covered.to_vec();
    fields.push(tlv(&[0xDF, 0x28], &signature));
    fields.push(tlv(&[0xDF, 0x29], yyyymmdd(body.expiry).as_bytes()));
    fields.push(tlv(&[0xDF, 0x2A], &image::security_code_image(body)));
    with_offset_table(&[0xFF, 0x20], &[0xDF, 0x21], &fields)
}

/// `DF31` of the surface application's basic information on real cards (what
/// the four bytes mean is not known; soltia48/myna-card).
const SURFACE_AP_IDENTIFICATION: [u8; 4] = [0x06, 0x03, 0x0E, 0x01];

/// `DF33`, one byte described as a version on real cards; the value is not
/// published, so the simulator writes 1.
const SURFACE_AP_VERSION: u8 = 0x01;

/// The key identifier that opens `DF35` of the surface application's basic
/// information. Real cards name some key there; which one is not known, so the
/// simulator names a key of its own simulated hierarchy.
const SIMULATED_DF35_KEY: &str = "6999025";

/// EF `0003`: the surface application's basic information, readable without a
/// PIN.
///
/// ```text
/// FF 30 82 01 3B
///   DF 31 04         06 03 0E 01, as real cards
///   DF 32 10         a key identifier (what it names is not known)
///   DF 33 01         version
///   DF 34 05         the municipality code without its check digit
///   DF 35 82 01 10   a 16-byte key identifier, then 256 opaque bytes
/// ```
///
/// The meaning of `DF35` is not established on real cards; here its key
/// identifier is a simulated one and the 256 bytes are simulated bytes.
pub fn surface_ap_basic_info(persona: &Persona) -> Vec<u8> {
    let code = persona.municipality_code.as_bytes();
    let mut opaque = key_id(SIMULATED_DF35_KEY, "001").to_vec();
    opaque.extend_from_slice(&simulated_bytes(
        "surface ap basic info",
        &[code],
        RSA_2048_BYTES,
    ));
    debug_assert_eq!(opaque.len(), KEY_ID_LEN + RSA_2048_BYTES);
    let mut content = tlv(&[0xDF, 0x31], &SURFACE_AP_IDENTIFICATION);
    content.extend_from_slice(&tlv(
        &[0xDF, 0x32],
        &key_id(SIMULATED_SURFACE_AP_KEY, "001"),
    ));
    content.extend_from_slice(&tlv(&[0xDF, 0x33], &[SURFACE_AP_VERSION]));
    content.extend_from_slice(&tlv(
        &[0xDF, 0x34],
        &municipality_code_5(&persona.municipality_code),
    ));
    content.extend_from_slice(&tlv(&[0xDF, 0x35], &opaque));
    tlv(&[0xFF, 0x30], &content)
}

/// EF `0004`: the surface application's card-verifiable certificate (`7F21`),
/// readable without a PIN. Like the text application's: the simulated issuer
/// key ([`crate::formats::objects::SIMULATED_SURFACE_CA_KEY`]) certifies the key that signs EF `0001`,
/// `0002` and `0005`, under the issuing municipality's key ID.
pub fn surface_certificate(persona: &Persona) -> Vec<u8> {
    application_cv_certificate(CardApplication::Surface, &persona.municipality_code)
}

/// EF `0005`: the My Number as an image, opened by 照合番号A only.
///
/// ```text
/// FF 40 82 <len>
///   DF 41      the My Number image, PNG
///   DF 42      the card's public key (90/91)
///   DF 43 82 01 00   signature over DF41 and DF42 by the EF 0004 key
/// ```
pub fn surface_my_number_image(profile: &CardProfile) -> Vec<u8> {
    let mut signed = tlv(&[0xDF, 0x41], &image::my_number_image(&profile.persona));
    signed.extend_from_slice(&tlv(&[0xDF, 0x42], &surface_card_public_key(profile)));
    signed_record(&[0xFF, 0x40], &[0xDF, 0x43], signed)
}

/// `outer { signed…, signature_tag <signature over signed> }`, signed by the
/// key the surface application's CV certificate (EF `0004`) certifies.
fn signed_record(outer: &[u8], signature_tag: &[u8], signed: Vec<u8>) -> Vec<u8> {
    let signature = issuer_signature(&CardApplication::Surface.signing_key(), &signed);
    let mut content = signed;
    content.extend_from_slice(&tlv(signature_tag, &signature));
    tlv(outer, &content)
}

/// 照合番号A (EF `0013`): the 12-digit My Number.
pub fn surface_pin_a(persona: &Persona) -> String {
    persona.my_number.clone()
}

/// The birth-date key (EF `0011`): the date of birth as `YYMMDD` with the year
/// of the Japanese era, e.g. `600412` for 1985-04-12 (昭和60年). It opens only
/// the age record.
///
/// A date before 明治 (1868-01-25), which no holder can have, is written with
/// era year `00`.
pub fn surface_birth_date_pin(persona: &Persona) -> String {
    match JapaneseDate::from_gregorian(persona.birth_date) {
        Some(date) => date.yymmdd(),
        None => format!(
            "00{:02}{:02}",
            u8::from(persona.birth_date.month()),
            persona.birth_date.day()
        ),
    }
}

/// 照合番号B (EF `0012`): 14 digits, the birth-date key (`YYMMDD` in the era
/// year), the card's expiry year `YYYY` and the 4-digit security code printed
/// on the card. Confirmed on a real card by soltia48/myna-card: born
/// 1980-02-17 (昭和55), expiring 2035, code 2285 → `55021720352285`.
pub fn surface_pin_b(persona: &Persona, body: &CardBody) -> String {
    format!(
        "{}{:04}{}",
        surface_birth_date_pin(persona),
        body.expiry.year(),
        body.security_code
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::testing::{profile, read_tlv};
    use time::macros::date;

    /// The objects of a file, in order, as (tag, value).
    fn objects(content: &[u8]) -> Vec<(u32, &[u8])> {
        let mut out = Vec::new();
        let mut rest = content;
        while !rest.is_empty() {
            let (tag, value, next) = read_tlv(rest);
            out.push((tag, value));
            rest = next;
        }
        out
    }

    fn png_size(png: &[u8]) -> (u32, u32) {
        let decoder = ::png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        (info.width, info.height)
    }

    #[test]
    fn pins_of_the_default_profile() {
        let p = profile();
        assert_eq!(surface_pin_a(&p.persona), "123456789018");
        assert_eq!(surface_birth_date_pin(&p.persona), "600412");
        // 昭和60年4月12日, expiry 2035, security code 5678.
        assert_eq!(surface_pin_b(&p.persona, &p.body), "60041220355678");
    }

    #[test]
    fn pin_b_of_the_real_test_card() {
        let mut p = profile();
        p.persona.birth_date = date!(1980 - 02 - 17);
        p.body.expiry = date!(2035 - 02 - 17);
        p.body.security_code = "2285".into();
        assert_eq!(surface_pin_b(&p.persona, &p.body), "55021720352285");
    }

    #[test]
    fn pin_b_across_eras() {
        let mut p = profile();
        p.persona.birth_date = date!(2019 - 05 - 01);
        assert_eq!(surface_pin_b(&p.persona, &p.body), "01050120355678");
        p.persona.birth_date = date!(2019 - 04 - 30);
        assert_eq!(surface_pin_b(&p.persona, &p.body), "31043020355678");
        p.persona.birth_date = date!(1926 - 12 - 24);
        assert_eq!(surface_birth_date_pin(&p.persona), "151224");
        p.persona.birth_date = date!(1912 - 07 - 29);
        assert_eq!(surface_birth_date_pin(&p.persona), "450729");
        assert_eq!(surface_pin_b(&p.persona, &p.body).len(), 14);
    }

    #[test]
    fn age_record_layout() {
        let file = surface_age_record(&profile());
        assert_eq!(&file[..5], [0xFF, 0x10, 0x82, 0x02, 0x1E]);
        let (_, content, rest) = read_tlv(&file);
        assert!(rest.is_empty());
        let objects = objects(content);
        let tags: Vec<u32> = objects.iter().map(|(t, _)| *t).collect();
        assert_eq!(tags, [0xDF11, 0xDF12, 0xDF13]);
        assert_eq!(objects[0].1, b"19850412");
        assert_eq!(objects[1].1.len(), 265);
        assert_eq!(objects[2].1.len(), 256);
    }

    #[test]
    fn card_face_layout() {
        let p = profile();
        let file = surface_card_face(&p);
        assert_eq!(&file[..3], [0xFF, 0x20, 0x82]);
        let (tag, content, rest) = read_tlv(&file);
        assert_eq!(tag, 0xFF20);
        assert!(rest.is_empty());
        let objects = objects(content);
        let tags: Vec<u32> = objects.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            tags,
            [
                0xDF21, 0xDF22, 0xDF23, 0xDF24, 0xDF25, 0xDF26, 0xDF27, 0xDF28, 0xDF29, 0xDF2A
            ]
        );
        // Nine offsets, each pointing at its object's tag.
        let table = objects[0].1;
        assert_eq!(table.len(), 18);
        for (i, pair) in table.chunks(2).enumerate() {
            let at = usize::from(u16::from_be_bytes([pair[0], pair[1]]));
            assert_eq!(file[at..at + 2], [0xDF, 0x22 + i as u8], "offset {i}");
        }
        assert_eq!(objects[1].1, b"19850412");
        assert_eq!(objects[2].1, b"1");
        assert_eq!(objects[3].1.len(), 265);
        assert_eq!(png_size(objects[4].1).1 % 16, 0);
        png_size(objects[5].1);
        assert_eq!(&objects[6].1[4..8], b"jP  ");
        assert_eq!(objects[7].1.len(), 256);
        assert_eq!(objects[8].1, b"20350412");
        assert_eq!(png_size(objects[9].1), (24, 12));
    }

    #[test]
    fn the_photo_is_what_jpki_myna_finds() {
        // jpki/myna skips six objects of the outer value and takes the seventh.
        let file = surface_card_face(&profile());
        let (_, content, _) = read_tlv(&file);
        let mut rest = content;
        for _ in 0..6 {
            rest = read_tlv(rest).2;
        }
        let (tag, photo, _) = read_tlv(rest);
        assert_eq!(tag, 0xDF27);
        assert_eq!(photo, image::PHOTO_JP2);
    }

    #[test]
    fn a_card_without_photo_keeps_an_empty_photo_object() {
        let mut p = profile();
        p.body.photo = false;
        let file = surface_card_face(&p);
        let (_, content, _) = read_tlv(&file);
        let objects = objects(content);
        assert_eq!(objects.len(), 10);
        assert_eq!(objects[6], (0xDF27, &[][..]));
        // The signature covers the photo's digest, so it differs.
        assert_ne!(objects[7].1, {
            let with_photo = surface_card_face(&profile());
            let (_, c, _) = read_tlv(&with_photo);
            self::objects(c)[7].1.to_vec()
        });
    }

    #[test]
    fn ap_basic_info_layout() {
        let file = surface_ap_basic_info(&profile().persona);
        assert_eq!(&file[..5], [0xFF, 0x30, 0x82, 0x01, 0x3B]);
        let (_, content, _) = read_tlv(&file);
        let objects = objects(content);
        let tags: Vec<u32> = objects.iter().map(|(t, _)| *t).collect();
        assert_eq!(tags, [0xDF31, 0xDF32, 0xDF33, 0xDF34, 0xDF35]);
        assert_eq!(objects[0].1, [0x06, 0x03, 0x0E, 0x01]);
        assert_eq!(objects[1].1.len(), 16);
        assert_eq!(objects[2].1.len(), 1);
        assert_eq!(objects[3].1, b"13101");
        assert_eq!(objects[4].1.len(), 16 + 256);
    }

    #[test]
    fn my_number_image_layout() {
        let p = profile();
        let file = surface_my_number_image(&p);
        assert_eq!(&file[..2], [0xFF, 0x40]);
        let (_, content, rest) = read_tlv(&file);
        assert!(rest.is_empty());
        let objects = objects(content);
        let tags: Vec<u32> = objects.iter().map(|(t, _)| *t).collect();
        assert_eq!(tags, [0xDF41, 0xDF42, 0xDF43]);
        assert_eq!(png_size(objects[0].1), (72, 12));
        assert_eq!(objects[1].1, surface_card_public_key(&p));
        assert_eq!(objects[2].1.len(), 256);
    }

    #[test]
    fn certificate_is_a_cv_certificate() {
        let cert = surface_certificate(&profile().persona);
        assert_eq!(&cert[..5], [0x7F, 0x21, 0x82, 0x02, 0x33]);
        assert_ne!(
            cert,
            crate::formats::text::text_certificate(&profile().persona)
        );
    }

    #[test]
    fn files_are_deterministic() {
        let p = profile();
        assert_eq!(surface_card_face(&p), surface_card_face(&p));
        assert_eq!(surface_age_record(&p), surface_age_record(&p));
        assert_eq!(surface_my_number_image(&p), surface_my_number_image(&p));
        let mut other = profile();
        other.seed = "another card".into();
        assert_ne!(surface_card_public_key(&p), surface_card_public_key(&other));
    }
}
