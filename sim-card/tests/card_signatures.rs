//! The card's own signatures, verified from the bytes a client reads off the
//! card with OpenSSL and the issuer's public key alone (what `kazasu pki`
//! exports), the way a client verifies a real card's: the text application's
//! integrity record against its CV certificate, the surface application's
//! signed records against its own, and both CV certificates against the
//! issuer. Nothing of the simulator's own format code is used to check.

use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Public};
use openssl::rsa::{Padding, Rsa};
use openssl::sha::sha256;
use openssl::sign::Verifier;
use sim_card::card::Card;
use sim_card::formats::surface::{surface_birth_date_pin, surface_pin_a};
use sim_card::personalize::{self, IssuedCard};
use sim_card::pki::card_issuer::CardApplication;
use sim_card::profile::CardProfile;

const SELECT_TEXT: [u8; 15] = [
    0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08,
];
const SELECT_SURFACE: [u8; 15] = [
    0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02,
];

fn send(card: &mut Card, apdu: &[u8]) -> Vec<u8> {
    let r = card.process(apdu);
    assert_eq!(
        r.sw.to_u16(),
        0x9000,
        "{} answered {}",
        hex::encode(apdu),
        r.sw
    );
    r.data
}

fn select_ef(card: &mut Card, fid: u16) {
    let [hi, lo] = fid.to_be_bytes();
    send(card, &[0x00, 0xA4, 0x02, 0x0C, 0x02, hi, lo]);
}

fn verify(card: &mut Card, fid: u16, pin: &[u8]) {
    select_ef(card, fid);
    let mut apdu = vec![0x00, 0x20, 0x00, 0x80, pin.len() as u8];
    apdu.extend_from_slice(pin);
    send(card, &apdu);
}

/// The TLV object at the start of a file, whole: a client reads the header,
/// then as many bytes as the length says (in 256-byte chunks).
fn read_object(card: &mut Card, fid: u16) -> Vec<u8> {
    select_ef(card, fid);
    let header = send(card, &[0x00, 0xB0, 0x00, 0x00, 0x07]);
    let (_, _, header_len, value_len) = tlv_header(&header);
    let total = header_len + value_len;
    let mut out = Vec::new();
    while out.len() < total {
        let [hi, lo] = (out.len() as u16).to_be_bytes();
        let want = (total - out.len()).min(256);
        out.extend(send(card, &[0x00, 0xB0, hi, lo, want as u8]));
    }
    out.truncate(total);
    out
}

/// (tag, tag length, header length, value length) of a BER-TLV object.
fn tlv_header(bytes: &[u8]) -> (u32, usize, usize, usize) {
    let mut i = 1;
    let mut tag = u32::from(bytes[0]);
    if bytes[0] & 0x1F == 0x1F {
        loop {
            tag = (tag << 8) | u32::from(bytes[i]);
            i += 1;
            if bytes[i - 1] & 0x80 == 0 {
                break;
            }
        }
    }
    let tag_len = i;
    let (len, header) = match bytes[i] {
        n if n < 0x80 => (usize::from(n), i + 1),
        n => {
            let k = usize::from(n & 0x7F);
            let len = bytes[i + 1..i + 1 + k]
                .iter()
                .fold(0, |acc, b| (acc << 8) | usize::from(*b));
            (len, i + 1 + k)
        }
    };
    (tag, tag_len, header, len)
}

/// The objects inside a constructed value: (tag, whole object, value).
fn objects(mut value: &[u8]) -> Vec<(u32, &[u8], &[u8])> {
    let mut out = Vec::new();
    while !value.is_empty() {
        let (tag, _, header, len) = tlv_header(value);
        out.push((tag, &value[..header + len], &value[header..header + len]));
        value = &value[header + len..];
    }
    out
}

fn value_of(object: &[u8]) -> &[u8] {
    let (_, _, header, len) = tlv_header(object);
    &object[header..header + len]
}

fn find<'a>(objects: &[(u32, &'a [u8], &'a [u8])], tag: u32) -> (&'a [u8], &'a [u8]) {
    let (_, whole, value) = objects
        .iter()
        .find(|(t, _, _)| *t == tag)
        .unwrap_or_else(|| panic!("no object {tag:X}"));
    (whole, value)
}

/// The RSA key in the card's `90 <e> 91 <n>` encoding.
fn card_key(encoded: &[u8]) -> PKey<Public> {
    let parts = objects(encoded);
    let (_, e) = find(&parts, 0x90);
    let (_, n) = find(&parts, 0x91);
    let rsa = Rsa::from_public_components(
        BigNum::from_slice(n).unwrap(),
        BigNum::from_slice(e).unwrap(),
    )
    .unwrap();
    PKey::from_rsa(rsa).unwrap()
}

fn verifies(key: &PKey<Public>, data: &[u8], signature: &[u8]) -> bool {
    let mut verifier = Verifier::new(MessageDigest::sha256(), key).unwrap();
    verifier.update(data).unwrap();
    verifier.verify(signature).unwrap()
}

/// Checks a CV certificate (`7F21 { 5F4E body, 5F37 signature }`) against
/// the issuer's public key as `kazasu pki` writes it, and returns the key it
/// certifies.
fn certified_key(certificate: &[u8], application: CardApplication) -> PKey<Public> {
    let issuer = PKey::public_key_from_der(application.ca_key().public_key_der()).unwrap();
    let parts = objects(value_of(certificate));
    let (_, body) = find(&parts, 0x5F4E);
    let (_, signature) = find(&parts, 0x5F37);
    assert!(
        verifies(&issuer, body, signature),
        "{application:?}: the CV certificate's signature"
    );
    let mut tampered = body.to_vec();
    tampered[20] ^= 1;
    assert!(!verifies(&issuer, &tampered, signature));
    // 証明者鍵ID (16), 被証明者鍵ID (16), then the key.
    card_key(&body[32..])
}

fn issued() -> (Card, CardProfile) {
    let profile = CardProfile::built_in("default").unwrap();
    let pki = personalize::simulated_jpki().unwrap();
    let IssuedCard { card, .. } = personalize::issue(&profile, &pki).unwrap();
    (card, profile)
}

#[test]
fn the_text_applications_integrity_record_verifies() {
    let (mut card, _) = issued();
    send(&mut card, &SELECT_TEXT);
    let key = certified_key(&read_object(&mut card, 0x0004), CardApplication::Text);
    verify(&mut card, 0x0011, b"1234");
    // EF 0001 as a client hashes it: everything the card returns.
    select_ef(&mut card, 0x0001);
    let my_number = send(&mut card, &[0x00, 0xB0, 0x00, 0x00, 0x11]);
    let attributes = read_object(&mut card, 0x0002);
    let record = read_object(&mut card, 0x0003);

    let parts = objects(value_of(&record));
    let (df31, digest_1) = find(&parts, 0xDF31);
    let (df32, digest_2) = find(&parts, 0xDF32);
    let (_, signature) = find(&parts, 0xDF33);
    assert_eq!(digest_1, sha256(&my_number));
    // DF32 covers EF 0002 from DF22 to the end: the offset table skipped.
    let fields = objects(value_of(&attributes));
    let (table, _) = find(&fields, 0xDF21);
    let after_table = &value_of(&attributes)[table.len()..];
    assert_eq!(digest_2, sha256(after_table));
    let signed = [df31, df32].concat();
    assert!(verifies(&key, &signed, signature), "DF33 over DF31 DF32");
    assert!(!verifies(&key, &signed[1..], signature));

    // EF 0007, the AP's own public key: DF52 over DF51.
    let own_key = read_object(&mut card, 0x0007);
    let parts = objects(value_of(&own_key));
    let (df51, _) = find(&parts, 0xDF51);
    let (_, signature) = find(&parts, 0xDF52);
    assert!(verifies(&key, df51, signature), "DF52 over DF51");
}

#[test]
fn the_surface_applications_signed_records_verify() {
    let (mut card, profile) = issued();
    let persona = &profile.persona;
    send(&mut card, &SELECT_SURFACE);
    verify(&mut card, 0x0013, surface_pin_a(persona).as_bytes());
    let key = certified_key(&read_object(&mut card, 0x0004), CardApplication::Surface);

    // EF 0005, the My Number image: DF43 over DF41 and DF42.
    let image = read_object(&mut card, 0x0005);
    let parts = objects(value_of(&image));
    let (df41, _) = find(&parts, 0xDF41);
    let (df42, _) = find(&parts, 0xDF42);
    let (_, signature) = find(&parts, 0xDF43);
    assert!(verifies(&key, &[df41, df42].concat(), signature));

    // EF 0002, the card face: DF28 is PKCS#1 v1.5 over a SHA-256 DigestInfo
    // holding three digests (96 bytes), so it is checked by recovering it.
    let face = read_object(&mut card, 0x0002);
    let parts = objects(value_of(&face));
    let whole = |tag| find(&parts, tag).0;
    let digests = [
        sha256(&[whole(0xDF22), whole(0xDF23), whole(0xDF24)].concat()),
        sha256(&[whole(0xDF25), whole(0xDF26)].concat()),
        sha256(whole(0xDF27)),
    ]
    .concat();
    let (_, signature) = find(&parts, 0xDF28);
    let rsa = key.rsa().unwrap();
    let mut recovered = vec![0u8; rsa.size() as usize];
    let n = rsa
        .public_decrypt(signature, &mut recovered, Padding::PKCS1)
        .unwrap();
    let expected = [
        &[
            0x30, 0x71, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x60,
        ][..],
        &digests,
    ]
    .concat();
    assert_eq!(&recovered[..n], expected, "DF28's DigestInfo");

    // EF 0001, the age record: DF13 over DF11 and DF12, opened by the
    // birth-date PIN.
    verify(
        &mut card,
        0x0011,
        surface_birth_date_pin(persona).as_bytes(),
    );
    let age = read_object(&mut card, 0x0001);
    let parts = objects(value_of(&age));
    let (df11, _) = find(&parts, 0xDF11);
    let (df12, _) = find(&parts, 0xDF12);
    let (_, signature) = find(&parts, 0xDF13);
    assert!(verifies(&key, &[df11, df12].concat(), signature));
}

#[test]
fn the_issuers_own_certificate_is_self_signed() {
    for application in CardApplication::ALL {
        let certificate = sim_card::formats::objects::issuer_cv_certificate(application);
        let key = certified_key(&certificate, application);
        assert_eq!(
            key.public_key_to_der().unwrap(),
            application.ca_key().public_key_der()
        );
    }
}

/// `status` of one command, whatever it is (the helpers above insist on 9000).
fn status(card: &mut Card, apdu: &[u8]) -> (Vec<u8>, u16) {
    let r = card.process(apdu);
    (r.data, r.sw.to_u16())
}

/// `80 2A 00 00 Lc <SHA-256 DigestInfo of message> 00`: the application's
/// own key, named by P2 00, no SELECT.
fn sign_with_own_key(card: &mut Card, message: &[u8]) -> (Vec<u8>, u16) {
    let mut apdu = vec![0x80, 0x2A, 0x00, 0x00, 51];
    apdu.extend_from_slice(&sim_card::mynumber::sha256_digest_info(&sha256(message)));
    apdu.push(0x00);
    status(card, &apdu)
}

/// The text application's own key, as a client learns it: EF 0007's DF51,
/// checked against DF52 and the CV certificate in EF 0004 (read with 照合番号B).
fn text_own_key(card: &mut Card, profile: &CardProfile) -> PKey<Public> {
    send(card, &SELECT_TEXT);
    let certified = certified_key(&read_object(card, 0x0004), CardApplication::Text);
    let pin_b = sim_card::formats::surface_pin_b(&profile.persona, &profile.body);
    verify(card, 0x0015, pin_b.as_bytes());
    let record = read_object(card, 0x0007);
    let parts = objects(value_of(&record));
    let (df51, key) = find(&parts, 0xDF51);
    let (_, signature) = find(&parts, 0xDF52);
    assert!(verifies(&certified, df51, signature), "DF52 over DF51");
    card_key(key)
}

#[test]
fn the_text_application_proves_the_card_is_present() {
    let (mut card, profile) = issued();
    let key = text_own_key(&mut card, &profile);
    // A new session, nothing verified: a challenge from the card, signed by
    // its own key with P2 00.
    card.reset_session();
    send(&mut card, &SELECT_TEXT);
    let challenge = send(&mut card, &[0x00, 0x84, 0x00, 0x00, 0x10]);
    assert_eq!(challenge.len(), 16);
    let (signature, sw) = sign_with_own_key(&mut card, &challenge);
    assert_eq!(sw, 0x9000);
    assert!(
        verifies(&key, &challenge, &signature),
        "signed by DF51's key"
    );
    assert!(!verifies(&key, b"another challenge", &signature));
    // The key stays in the card: EF 0013 is a key, not a file to read.
    select_ef(&mut card, 0x0013);
    assert_eq!(status(&mut card, &[0x00, 0xB0, 0x00, 0x00, 0x00]).1, 0x6981);

    // Another card has a key of its own.
    let mut other = profile.clone();
    other.seed = "another card's seed".into();
    let pki = personalize::simulated_jpki().unwrap();
    let mut other_card = personalize::issue(&other, &pki).unwrap().card;
    let other_key = text_own_key(&mut other_card, &other);
    assert!(!key.public_eq(&other_key), "one key per card");
    // And the JPKI-AP has no own key: P2 00 names nothing there.
    send(
        &mut card,
        &[
            0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00,
            0x01,
        ],
    );
    assert_eq!(sign_with_own_key(&mut card, &challenge).1, 0x6A86);
}

#[test]
fn the_card_level_certificate_chain_verifies() {
    let (mut card, _) = issued();
    // GET DATA with no application selected; the certificate is too long
    // for a short Le (6700) and comes with an extended one.
    assert_eq!(status(&mut card, &[0x00, 0xCA, 0x00, 0xF8, 0x00]).1, 0x6700);
    let chain = send(&mut card, &[0x00, 0xCA, 0x00, 0xF8, 0x00, 0x00, 0x00]);
    let intermediate_id = send(&mut card, &[0x00, 0xCA, 0x00, 0xF7, 0x00]);
    let parts = objects(&chain);
    let (_, body) = find(&parts, 0x5F4E);
    let (_, signature) = find(&parts, 0x5F37);
    let root = sim_card::pki::card_issuer::card_root_key();
    let root = PKey::public_key_from_der(root.public_key_der()).unwrap();
    assert!(verifies(&root, body, signature), "00F8 signed by the root");
    assert_eq!(&body[16..32], intermediate_id, "00F7 names its subject");
    let intermediate = sim_card::pki::card_issuer::card_intermediate_key();
    assert_eq!(
        card_key(&body[32..]).public_key_to_der().unwrap(),
        intermediate.public_key_der()
    );
}

#[test]
fn the_common_application_answers_internal_authenticate() {
    let (mut card, _) = issued();
    send(
        &mut card,
        &[
            0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x01,
            0x00,
        ],
    );
    let challenge = b"terminal challenge";
    let mut apdu = vec![0x00, 0x88, 0x00, 0x99, challenge.len() as u8];
    apdu.extend_from_slice(challenge);
    apdu.push(0x00);
    let signature = send(&mut card, &apdu);
    // The card hashed the challenge: a plain sha256WithRSAEncryption.
    let key = sim_card::pki::card_issuer::common_ap_authentication_key();
    let key = PKey::public_key_from_der(key.public_key_der()).unwrap();
    assert!(verifies(&key, challenge, &signature));
    // 1 to 255 bytes; another P2 form is refused.
    assert_eq!(status(&mut card, &[0x00, 0x88, 0x00, 0x99, 0x00]).1, 0x6700);
    assert_eq!(
        status(&mut card, &[0x00, 0x88, 0x00, 0x19, 0x01, 0xAA, 0x00]).1,
        0x6A86
    );
    // Not in the JPKI-AP (keys behind a PIN) nor on the text AP's own key.
    send(
        &mut card,
        &[
            0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00,
            0x01,
        ],
    );
    verify(&mut card, 0x0018, b"1234");
    apdu[3] = 0x97;
    assert_eq!(status(&mut card, &apdu).1, 0x6982);
    send(&mut card, &SELECT_TEXT);
    apdu[3] = 0x93;
    assert_eq!(status(&mut card, &apdu).1, 0x6985);
}

/// `80 AE 00 00 <cryptogram>`: SET SESSION KEY, extended Lc (256 bytes).
fn set_session_key(card: &mut Card, cryptogram: &[u8]) -> u16 {
    let mut apdu = vec![0x80, 0xAE, 0x00, 0x00, 0x00];
    apdu.extend_from_slice(&(cryptogram.len() as u16).to_be_bytes());
    apdu.extend_from_slice(cryptogram);
    status(card, &apdu).1
}

/// RSAES-OAEP with SHA-256 (label hash and MGF1) of `message` under `key`,
/// as a terminal delivers a session key.
fn oaep_sha256(key: &PKey<Public>, message: &[u8]) -> Vec<u8> {
    use openssl::md::Md;
    use openssl::pkey_ctx::PkeyCtx;
    let mut ctx = PkeyCtx::new(key).unwrap();
    ctx.encrypt_init().unwrap();
    ctx.set_rsa_padding(Padding::PKCS1_OAEP).unwrap();
    ctx.set_rsa_oaep_md(Md::sha256()).unwrap();
    ctx.set_rsa_mgf1_md(Md::sha256()).unwrap();
    let mut out = Vec::new();
    ctx.encrypt_to_vec(message, &mut out).unwrap();
    out
}

#[test]
fn set_session_key_answers_as_each_application_does() {
    let (mut card, profile) = issued();
    send(&mut card, &SELECT_TEXT);
    let pin_a = sim_card::formats::surface_pin_a(&profile.persona);
    verify(&mut card, 0x0014, pin_a.as_bytes());
    let record = read_object(&mut card, 0x0006);
    let session_key = card_key(value_of(&record));
    let mut delivery = vec![0xA0, 0x22, 0x80, 0x20];
    delivery.extend_from_slice(&[0x5C; 32]);
    let cryptogram = oaep_sha256(&session_key, &delivery);
    // 照合番号A is not enough: only the text PIN opens a session.
    assert_eq!(set_session_key(&mut card, &cryptogram), 0x6982);
    verify(&mut card, 0x0011, b"1234");
    assert_eq!(set_session_key(&mut card, &cryptogram), 0x9000);
    // A checksum key instead of the encryption key, another key's
    // cryptogram, a number above the modulus.
    let mut checksum = delivery.clone();
    checksum[2] = 0x81;
    assert_eq!(
        set_session_key(&mut card, &oaep_sha256(&session_key, &checksum)),
        0x6A80
    );
    let other = sim_card::pki::card_issuer::common_ap_authentication_key();
    let other = PKey::public_key_from_der(other.public_key_der()).unwrap();
    assert_eq!(
        set_session_key(&mut card, &oaep_sha256(&other, &delivery)),
        0x6A80
    );
    assert_eq!(set_session_key(&mut card, &[0xFF; 256]), 0x6F00);

    // The other applications know the instruction and refuse it.
    for (aid_last, expected) in [(0x00, 0x66F1), (0x02, 0x66F1), (0x01, 0x6982)] {
        send(
            &mut card,
            &[
                0x00,
                0xA4,
                0x04,
                0x0C,
                0x0A,
                0xD3,
                0x92,
                0x10,
                0x00,
                0x31,
                0x00,
                0x01,
                0x01,
                if aid_last == 0x00 { 0x01 } else { 0x04 },
                aid_last,
            ],
        );
        assert_eq!(
            set_session_key(&mut card, &cryptogram),
            expected,
            "{aid_last:02X}"
        );
    }
    send(
        &mut card,
        &[
            0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00,
            0x01,
        ],
    );
    verify(&mut card, 0x0018, b"1234");
    assert_eq!(set_session_key(&mut card, &cryptogram), 0x6982, "JPKI-AP");
    card.reset_session();
    assert_eq!(
        set_session_key(&mut card, &cryptogram),
        0x66F1,
        "none selected"
    );
}

#[test]
fn the_surface_application_proves_the_card_is_present() {
    let (mut card, profile) = issued();
    send(&mut card, &SELECT_SURFACE);
    let certified = certified_key(&read_object(&mut card, 0x0004), CardApplication::Surface);
    verify(
        &mut card,
        0x0013,
        surface_pin_a(&profile.persona).as_bytes(),
    );
    // The card's key as the My Number image carries it, under DF43.
    let image = read_object(&mut card, 0x0005);
    let parts = objects(value_of(&image));
    let (df41, _) = find(&parts, 0xDF41);
    let (df42, key) = find(&parts, 0xDF42);
    let (_, signature) = find(&parts, 0xDF43);
    assert!(verifies(&certified, &[df41, df42].concat(), signature));
    let key = card_key(key);

    card.reset_session();
    send(&mut card, &SELECT_SURFACE);
    let challenge = send(&mut card, &[0x00, 0x84, 0x00, 0x00, 0x10]);
    let (signature, sw) = sign_with_own_key(&mut card, &challenge);
    assert_eq!(sw, 0x9000, "no credential needed");
    assert!(verifies(&key, &challenge, &signature));
    // INTERNAL AUTHENTICATE does not reach it: it signs through COMPUTE
    // DIGITAL SIGNATURE.
    let mut apdu = vec![0x00, 0x88, 0x00, 0x9A, 0x10];
    apdu.extend_from_slice(&challenge);
    apdu.push(0x00);
    assert_eq!(status(&mut card, &apdu).1, 0x6985);
}
