//! Files of the 券面事項入力補助AP (the text application): the My Number and
//! the basic four attributes as text, for systems that would otherwise have
//! them typed in.
//!
//! Layouts follow the data read from real cards by soltia48/myna-card and the
//! parsers of jpki/myna and AokiApp/jsapdu, which walk these files by
//! position: the order of the objects matters, not only their tags.

use crate::behaviour::LengthForm;
use crate::formats::objects::{
    RSA_EXPONENT, SIMULATED_TEXT_AP_KEY, application_cv_certificate, issuer_signature, key_id,
    length_in, offset_u16, rsa_public_key_object, sha256, simulated_bytes, tlv, tlv_in,
    tlv_long_form, yyyymmdd,
};
use crate::persona::Persona;
use crate::pki::card_issuer::CardApplication;

/// Tag of the My Number file. Real cards write `FF 10`, a private constructed
/// tag, although the value is primitive; clients match the bytes.
const MY_NUMBER: [u8; 2] = [0xFF, 0x10];
/// Tag of the basic four attributes file.
const ATTRIBUTES: [u8; 2] = [0xFF, 0x20];
const OFFSETS: [u8; 2] = [0xDF, 0x21];
const NAME: [u8; 2] = [0xDF, 0x22];
const ADDRESS: [u8; 2] = [0xDF, 0x23];
const BIRTH_DATE: [u8; 2] = [0xDF, 0x24];
const SEX: [u8; 2] = [0xDF, 0x25];

/// EF `0001`: the My Number, `FF 10 0C <12 ASCII digits> FF FF`, 17 bytes.
///
/// The object is 15 bytes and the file two more: real cards have two `FF`
/// filler bytes after it, jpki/myna reads 17 bytes at once (a shorter file
/// answers `6B 00` to its second read), and the integrity record's digest
/// covers all 17.
pub fn text_my_number(persona: &Persona) -> Vec<u8> {
    let mut out = tlv(&MY_NUMBER, persona.my_number.as_bytes());
    out.extend_from_slice(&[0xFF, 0xFF]);
    out
}

/// EF `0002`: the basic four attributes (基本4情報).
///
/// ```text
/// FF 20 <len>
///   DF 21 08   four big-endian u16: where DF22, DF23, DF24, DF25 start
///   DF 22 <n>  name, UTF-8, family and given name separated by U+3000
///   DF 23 <n>  address, UTF-8
///   DF 24 08   date of birth, ASCII YYYYMMDD
///   DF 25 01   sex, one ASCII digit: 1 male, 2 female, 9 not applicable
/// ```
///
/// The offsets count from the first byte of the file to the tag of each
/// object, outer header included: a real test card reads
/// `FF 20 65 DF 21 08 000E 0020 …`, its name tag at byte 14 (soltia48/myna-card).
/// jsapdu hashes from `offsets[0]` to the end of the object, which only works
/// with that reading. Sex is an ASCII digit, not a binary one: real cards hold
/// `DF 25 01 31`, and jpki/myna converts it with `strconv.Atoi`.
///
/// Lengths take the form real cards write ([`crate::formats::objects::length`]):
/// `FF 20 65` on one real card, `FF 20 82 00 86` on another whose holder has
/// a longer name and address (jpki/myna issue #1). A card that writes the
/// outer length differently is [`text_attributes_in`].
pub fn text_attributes(persona: &Persona) -> Vec<u8> {
    text_attributes_in(persona, LengthForm::default())
}

/// [`text_attributes`] with the outer length in `form` (the profile's
/// `behaviour.length_form`); the objects inside take the usual form.
pub fn text_attributes_in(persona: &Persona, form: LengthForm) -> Vec<u8> {
    let fields = [
        tlv(&NAME, persona.name.as_bytes()),
        tlv(&ADDRESS, persona.address.as_bytes()),
        tlv(&BIRTH_DATE, yyyymmdd(persona.birth_date).as_bytes()),
        tlv(&SEX, &[b'0' + persona.sex.code()]),
    ];
    with_offset_table_in(form, &ATTRIBUTES, &OFFSETS, &fields)
}

/// Builds `outer { table, fields… }` where `table` lists, as big-endian u16,
/// the offset from the start of the file of each field's first byte.
///
/// Shared by the two 券面 applications, whose data files open the same way.
pub(crate) fn with_offset_table(outer: &[u8], table: &[u8], fields: &[Vec<u8>]) -> Vec<u8> {
    with_offset_table_in(LengthForm::ShortOr82, outer, table, fields)
}

/// [`with_offset_table`] with the outer length in `form`.
fn with_offset_table_in(
    form: LengthForm,
    outer: &[u8],
    table: &[u8],
    fields: &[Vec<u8>],
) -> Vec<u8> {
    let table_len = table.len() + 1 + 2 * fields.len();
    let content_len = table_len + fields.iter().map(Vec::len).sum::<usize>();
    let header_len = outer.len() + length_in(form, content_len).len();
    let mut offsets = Vec::with_capacity(2 * fields.len());
    let mut position = header_len + table_len;
    for field in fields {
        offsets.extend_from_slice(&offset_u16(position));
        position += field.len();
    }
    let mut content = tlv(table, &offsets);
    debug_assert_eq!(content.len(), table_len);
    for field in fields {
        content.extend_from_slice(field);
    }
    tlv_in(form, outer, &content)
}

/// The bytes of [`text_attributes`] that the integrity record's `DF32` digest
/// covers: the outer value from `DF22` to the end, the offset table skipped
/// (soltia48/myna-card established this against a real card's signature).
fn attributes_digest_source(attributes: &[u8]) -> &[u8] {
    // Outer tag (2) and length, then the table `DF 21 08 …` (11 bytes).
    let length_len = match attributes[2] {
        n if n < 0x80 => 1,
        n => 1 + usize::from(n & 0x7F),
    };
    &attributes[2 + length_len + 11..]
}

/// EF `0003`: the integrity record.
///
/// ```text
/// FF 30 82 01 4B
///   DF 31 20   SHA-256 of EF 0001, all 17 bytes, filler included
///   DF 32 20   SHA-256 of EF 0002 from DF22 to the end (the table skipped)
///   DF 33 82 01 00   signature by the issuer over DF31 and DF32
/// ```
///
/// 336 bytes, the length jpki/myna reads in one go. The two digests are real,
/// so a client that checks them against the other two files finds they match,
/// and so is the signature: PKCS#1 v1.5 with SHA-256 over the `DF31` and
/// `DF32` objects as written (tags and lengths included, the `FF30` header
/// not), by the key the CV certificate in EF `0004` certifies (soltia48/myna-card
/// verifies a real test card's record so). The key is the simulated issuer's
/// ([`crate::pki::card_issuer`]), not J-LIS's.
pub fn text_integrity_record(persona: &Persona) -> Vec<u8> {
    let mut signed = tlv(&[0xDF, 0x31], &sha256(&text_my_number(persona)));
    // The digest skips the header, so it is the same in every length form.
    let attributes = text_attributes(persona);
    signed.extend_from_slice(&tlv(
        &[0xDF, 0x32],
        &sha256(attributes_digest_source(&attributes)),
    ));
    let signature = issuer_signature(&CardApplication::Text.signing_key(), &signed);
    let mut content = signed;
    content.extend_from_slice(&tlv(&[0xDF, 0x33], &signature));
    tlv(&[0xFF, 0x30], &content)
}

/// EF `0004`: the text application's card-verifiable certificate (`7F21`),
/// readable without a PIN: the simulated issuer key
/// ([`crate::formats::objects::SIMULATED_TEXT_CA_KEY`]) certifies the key
/// that signs EF `0003`, under the issuing municipality's key ID; see
/// [`crate::formats::objects::cv_certificate`] for the layout.
pub fn text_certificate(persona: &Persona) -> Vec<u8> {
    application_cv_certificate(CardApplication::Text, &persona.municipality_code)
}

/// `DF41` of the text application's basic information on real cards:
/// specification version, extended Lc/Le support, vendor ID and a
/// vendor-specific byte (soltia48/myna-card).
const TEXT_AP_IDENTIFICATION: [u8; 4] = [0x01, 0x03, 0x0E, 0x01];

/// EF `0005`: the text application's basic information, readable without a PIN.
///
/// ```text
/// FF 40 82 00 9F
///   DF 41 04         01 03 0E 01, as real cards
///   DF 42 10         a key identifier (what it names is not known)
///   DF 43 82 00 80   128 bytes: 32 bytes, then 96 FF
/// ```
///
/// 164 bytes. The outer header `FF 40 82 00 9F` is what real cards write
/// (jpki/myna tests against it). For the value to be 159 bytes with the two
/// first objects 7 and 19 bytes long, `DF43` must carry its 128 bytes under a
/// three-byte length too, `82 00 80`: inferred, not read off a card. The 32
/// leading bytes of `DF43` are of unknown meaning on real cards (SHA-256-sized,
/// matching no digest of the card's files); here they are simulated bytes
/// derived from the municipality code.
pub fn text_ap_basic_info(persona: &Persona) -> Vec<u8> {
    let mut trailing = simulated_bytes(
        "text ap basic info",
        &[persona.municipality_code.as_bytes()],
        32,
    );
    trailing.resize(128, 0xFF);
    let mut content = tlv(&[0xDF, 0x41], &TEXT_AP_IDENTIFICATION);
    content.extend_from_slice(&tlv(&[0xDF, 0x42], &key_id(SIMULATED_TEXT_AP_KEY, "001")));
    content.extend_from_slice(&tlv_long_form(&[0xDF, 0x43], &trailing));
    tlv_long_form(&[0xFF, 0x40], &content)
}

/// EF `0006`: the public key the text application's session keys are
/// encrypted to (for SET SESSION KEY), `A1 <90 exponent, 91 modulus>`
/// (soltia48/myna-card), for the key whose big-endian modulus is `modulus`:
/// the card holds its private half and decrypts with it
/// ([`crate::pki::card_issuer::text_session_key`]).
pub fn text_session_key(modulus: &[u8]) -> Vec<u8> {
    tlv(&[0xA1], &rsa_public_key_object(&RSA_EXPONENT, modulus))
}

/// EF `0007`: the text application's own public key, signed.
///
/// ```text
/// FF 50 82 02 13
///   DF 51 82 01 09   public key (90/91) of the AP's own signing key
///   DF 52 82 01 00   signature over the DF51 object by the key of EF 0004
/// ```
///
/// Layout from soltia48/myna-card. `modulus` is the card's own key's (EF
/// `0013`, which COMPUTE DIGITAL SIGNATURE with P2 `00` signs with, no PIN):
/// a client that checks this record and then has the card sign a challenge
/// knows the card is present, not a copy of its files. The signature is
/// real, PKCS#1 v1.5 with SHA-256 over the `DF51` object by the key EF 0004
/// certifies, so it verifies as EF 0003's does.
pub fn text_signed_public_key(modulus: &[u8]) -> Vec<u8> {
    let key = rsa_public_key_object(&RSA_EXPONENT, modulus);
    let mut content = tlv(&[0xDF, 0x51], &key);
    let signature = issuer_signature(&CardApplication::Text.signing_key(), &content);
    content.extend_from_slice(&tlv(&[0xDF, 0x52], &signature));
    tlv(&[0xFF, 0x50], &content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::testing::{persona, read_tlv};
    use crate::persona::Sex;
    use proptest::prelude::*;

    #[test]
    fn my_number_file_is_17_bytes() {
        let file = text_my_number(&persona());
        assert_eq!(file.len(), 17);
        assert_eq!(&file[..3], [0xFF, 0x10, 0x0C]);
        assert_eq!(&file[3..15], b"123456789018");
        assert_eq!(&file[15..], [0xFF, 0xFF]);
    }

    /// Reads EF 0002 the way jpki/myna does: outer object, then the five
    /// objects one after the other, whatever their tags.
    fn parse_attributes(file: &[u8]) -> (Vec<u16>, String, String, String, Vec<u8>) {
        let (tag, content, rest) = read_tlv(file);
        assert_eq!(tag, 0xFF20);
        assert!(rest.is_empty());
        let (tag, table, rest) = read_tlv(content);
        assert_eq!(tag, 0xDF21);
        let offsets: Vec<u16> = table
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        let (tag, name, rest) = read_tlv(rest);
        assert_eq!(tag, 0xDF22);
        let (tag, address, rest) = read_tlv(rest);
        assert_eq!(tag, 0xDF23);
        let (tag, birth, rest) = read_tlv(rest);
        assert_eq!(tag, 0xDF24);
        let (tag, sex, rest) = read_tlv(rest);
        assert_eq!(tag, 0xDF25);
        assert!(rest.is_empty());
        (
            offsets,
            String::from_utf8(name.to_vec()).unwrap(),
            String::from_utf8(address.to_vec()).unwrap(),
            String::from_utf8(birth.to_vec()).unwrap(),
            sex.to_vec(),
        )
    }

    /// Checks that each offset points at the tag it names.
    fn assert_offsets_point_at_tags(file: &[u8], offsets: &[u16], first_tag: u8) {
        for (i, offset) in offsets.iter().enumerate() {
            let at = usize::from(*offset);
            assert_eq!(file[at], 0xDF, "offset {i}");
            assert_eq!(file[at + 1], first_tag + i as u8, "offset {i}");
        }
    }

    #[test]
    fn attributes_of_the_default_persona() {
        let p = persona();
        let file = text_attributes(&p);
        let (offsets, name, address, birth, sex) = parse_attributes(&file);
        assert_eq!(name, "資格\u{3000}太郎");
        assert_eq!(address, p.address);
        assert_eq!(birth, "19850412");
        assert_eq!(sex, b"1");
        assert_eq!(offsets.len(), 4);
        // Short outer length: three-byte header, the table, then the name.
        assert!(file.len() - 3 < 0x80);
        assert_eq!(offsets[0], 3 + 11);
        assert_offsets_point_at_tags(&file, &offsets, 0x22);
    }

    #[test]
    fn a_layout_identical_to_a_real_card() {
        // The shape of the test card soltia48/myna-card reads: a 15-byte name
        // and a 54-byte address give FF 20 65 and offsets 000E 0020 0059 0064.
        let mut p = persona();
        p.name = "あいう\u{3000}え".into(); // 15 bytes
        p.address = "東".repeat(18); // 54 bytes
        let file = text_attributes(&p);
        assert_eq!(&file[..3], [0xFF, 0x20, 0x65]);
        assert_eq!(
            &file[3..13],
            [0xDF, 0x21, 0x08, 0x00, 0x0E, 0x00, 0x20, 0x00, 0x59, 0x00]
        );
        assert_eq!(file[13], 0x64);
    }

    #[test]
    fn long_attributes_use_long_lengths() {
        let mut p = persona();
        p.address = "東京都千代田区".repeat(10); // 210 bytes
        let file = text_attributes(&p);
        assert_eq!(&file[..3], [0xFF, 0x20, 0x82]);
        let (offsets, _, address, _, _) = parse_attributes(&file);
        assert_eq!(address, p.address);
        assert_eq!(offsets[0], 5 + 11);
        assert_offsets_point_at_tags(&file, &offsets, 0x22);
    }

    #[test]
    fn the_outer_length_takes_the_cards_form_and_the_offsets_follow() {
        // 0x86 bytes of attributes, the size on the card of jpki/myna issue #1.
        let mut p = persona();
        p.name = "あいう\u{3000}え".into(); // 15 bytes
        p.address = "東".repeat(18) + &"a".repeat(33); // 87 bytes
        for (form, header) in [
            (LengthForm::ShortOr82, &[0xFF, 0x20, 0x82, 0x00, 0x86][..]),
            (LengthForm::Always82, &[0xFF, 0x20, 0x82, 0x00, 0x86]),
            (LengthForm::Shortest, &[0xFF, 0x20, 0x81, 0x86]),
        ] {
            let file = text_attributes_in(&p, form);
            assert_eq!(&file[..header.len()], header, "{form:?}");
            let (offsets, name, address, _, _) = parse_attributes(&file);
            assert_eq!((name, address), (p.name.clone(), p.address.clone()));
            assert_eq!(usize::from(offsets[0]), header.len() + 11, "{form:?}");
            assert_offsets_point_at_tags(&file, &offsets, 0x22);
        }
        // A short file: FF 20 65, or FF 20 82 00 65 on a card that always
        // writes two length bytes.
        let mut short = persona();
        short.name = "あいう\u{3000}え".into();
        short.address = "東".repeat(18);
        assert_eq!(&text_attributes(&short)[..3], [0xFF, 0x20, 0x65]);
        let always = text_attributes_in(&short, LengthForm::Always82);
        assert_eq!(&always[..5], [0xFF, 0x20, 0x82, 0x00, 0x65]);
        assert_eq!(&always[5..10], [0xDF, 0x21, 0x08, 0x00, 0x10]);
    }

    #[test]
    fn integrity_record_digests_match_the_files() {
        let p = persona();
        let record = text_integrity_record(&p);
        assert_eq!(record.len(), 336);
        assert_eq!(&record[..5], [0xFF, 0x30, 0x82, 0x01, 0x4B]);
        let (_, content, _) = read_tlv(&record);
        let (tag, my_number_digest, rest) = read_tlv(content);
        assert_eq!(tag, 0xDF31);
        assert_eq!(my_number_digest, sha256(&text_my_number(&p)));
        let (tag, attributes_digest, rest) = read_tlv(rest);
        assert_eq!(tag, 0xDF32);
        let attributes = text_attributes(&p);
        // Everything after FF 20 len and the 11-byte table.
        assert_eq!(attributes_digest, sha256(&attributes[3 + 11..]));
        let (tag, signature, rest) = read_tlv(rest);
        assert_eq!(tag, 0xDF33);
        assert_eq!(signature.len(), 256);
        assert!(rest.is_empty());
    }

    #[test]
    fn certificate_is_a_cv_certificate() {
        let cert = text_certificate(&persona());
        assert_eq!(&cert[..2], [0x7F, 0x21]);
        assert_eq!(cert.len(), 568);
    }

    #[test]
    fn ap_basic_info_has_the_real_header() {
        let file = text_ap_basic_info(&persona());
        assert_eq!(&file[..5], [0xFF, 0x40, 0x82, 0x00, 0x9F]);
        assert_eq!(file.len(), 5 + 0x9F);
        let (_, content, _) = read_tlv(&file);
        let (tag, id, rest) = read_tlv(content);
        assert_eq!((tag, id), (0xDF41, &[0x01, 0x03, 0x0E, 0x01][..]));
        let (tag, key, rest) = read_tlv(rest);
        assert_eq!(tag, 0xDF42);
        assert_eq!(key.len(), 16);
        assert_eq!(&rest[..5], [0xDF, 0x43, 0x82, 0x00, 0x80]);
        let (tag, trailing, rest) = read_tlv(rest);
        assert_eq!(tag, 0xDF43);
        assert_eq!(trailing.len(), 128);
        assert!(trailing[32..].iter().all(|b| *b == 0xFF));
        assert!(rest.is_empty());
    }

    #[test]
    fn session_key_and_signed_key_have_the_real_layouts() {
        let session = text_session_key(&[0xC1; 256]);
        let (tag, key, rest) = read_tlv(&session);
        assert_eq!((tag, key.len(), rest.len()), (0xA1, 265, 0));
        assert_eq!(&key[..5], [0x90, 0x03, 0x01, 0x00, 0x01]);
        let signed = text_signed_public_key(&[0xC3; 256]);
        assert_eq!(&signed[..5], [0xFF, 0x50, 0x82, 0x02, 0x13]);
        let (_, content, _) = read_tlv(&signed);
        let (tag, own_key, rest) = read_tlv(content);
        assert_eq!((tag, own_key.len()), (0xDF51, 265));
        assert_ne!(own_key, key, "two different keys");
        let (tag, signature, rest) = read_tlv(rest);
        assert_eq!((tag, signature.len(), rest.len()), (0xDF52, 256, 0));
    }

    #[test]
    fn files_are_deterministic() {
        let p = persona();
        assert_eq!(text_attributes(&p), text_attributes(&p));
        assert_eq!(text_integrity_record(&p), text_integrity_record(&p));
        assert_eq!(text_ap_basic_info(&p), text_ap_basic_info(&p));
    }

    fn arbitrary_sex() -> impl Strategy<Value = Sex> {
        prop_oneof![Just(Sex::Male), Just(Sex::Female), Just(Sex::NotApplicable)]
    }

    proptest! {
        #[test]
        fn attributes_parse_back_by_position(
            family in "\\PC{1,20}",
            given in "\\PC{1,20}",
            address in "\\PC{0,60}",
            year in 1900i32..2030,
            day_of_year in 1u16..366,
            sex in arbitrary_sex(),
        ) {
            let mut p = persona();
            p.name = format!("{family}\u{3000}{given}");
            p.address = address;
            p.birth_date = time::Date::from_ordinal_date(year, day_of_year).unwrap();
            p.sex = sex;
            let file = text_attributes(&p);
            let (offsets, name, address, birth, sex_byte) = parse_attributes(&file);
            prop_assert_eq!(name, p.name.clone());
            prop_assert_eq!(address, p.address.clone());
            prop_assert_eq!(birth, yyyymmdd(p.birth_date));
            prop_assert_eq!(sex_byte, vec![b'0' + sex.code()]);
            assert_offsets_point_at_tags(&file, &offsets, 0x22);
            // The integrity record stays 336 bytes whatever the attributes.
            prop_assert_eq!(text_integrity_record(&p).len(), 336);
        }
    }
}
