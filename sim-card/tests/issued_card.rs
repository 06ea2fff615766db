//! The default profile, issued and driven the way real clients drive a card:
//! OpenSC's certificate read, jpki-rs's chunked reads, myna's PIN status, a
//! signature checked against the certificate, the other applications.

use openssl::hash::{MessageDigest, hash};
use openssl::sign::Verifier;
use openssl::x509::X509;
use sim_card::card::Card;
use sim_card::iso7816::compute_digital_signature;
use sim_card::mynumber::sha256_digest_info;
use sim_card::personalize::{self, AUTH_PIN, IssuedCard, SIGN_PIN, TEXT_PIN};
use sim_card::pki::Purpose;
use sim_card::profile::CardProfile;
use sim_card::variant::Variant;

fn issue(profile: &CardProfile) -> IssuedCard {
    let pki = personalize::simulated_jpki().unwrap();
    personalize::issue(profile, &pki).unwrap()
}

fn default_card() -> IssuedCard {
    issue(&CardProfile::built_in("default").unwrap())
}

fn hexs(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

fn send(card: &mut Card, apdu: &[u8]) -> (Vec<u8>, u16) {
    let r = card.process(apdu);
    (r.data, r.sw.to_u16())
}

fn ok(card: &mut Card, apdu: &str) -> Vec<u8> {
    let (data, sw) = send(card, &hexs(apdu));
    assert_eq!(sw, 0x9000, "{apdu} answered {sw:04X}");
    data
}

fn sw(card: &mut Card, apdu: &str) -> u16 {
    send(card, &hexs(apdu)).1
}

const SELECT_JPKI: &str = "00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01";
const SELECT_TEXT: &str = "00 A4 04 0C 0A D3 92 10 00 31 00 01 01 04 08";
const SELECT_SURFACE: &str = "00 A4 04 0C 0A D3 92 10 00 31 00 01 01 04 02";

fn select_ef(card: &mut Card, fid: u16) {
    let [hi, lo] = fid.to_be_bytes();
    let (_, sw) = send(card, &[0x00, 0xA4, 0x02, 0x0C, 0x02, hi, lo]);
    assert_eq!(sw, 0x9000, "SELECT EF {fid:04X}");
}

fn verify(card: &mut Card, pin: &[u8]) -> u16 {
    let mut apdu = vec![0x00, 0x20, 0x00, 0x80, pin.len() as u8];
    apdu.extend_from_slice(pin);
    send(card, &apdu).1
}

/// OpenSC's way: 4 bytes of header, then 256-byte chunks up to the length.
fn read_certificate_like_opensc(card: &mut Card) -> Vec<u8> {
    let header = ok(card, "00 B0 00 00 04");
    let len = usize::from(u16::from_be_bytes([header[2], header[3]])) + 4;
    let mut out = Vec::new();
    while out.len() < len {
        let [hi, lo] = (out.len() as u16).to_be_bytes();
        let want = (len - out.len()).min(256);
        let (data, sw) = send(card, &[0x00, 0xB0, hi, lo, want as u8]);
        assert_eq!(sw, 0x9000);
        out.extend(data);
    }
    out
}

/// jpki-rs's way: 7 bytes first, then `Le = 00` chunks, each sent twice.
fn read_certificate_like_jpki_rs(card: &mut Card) -> Vec<u8> {
    let header = ok(card, "00 B0 00 00 07");
    let len = usize::from(u16::from_be_bytes([header[2], header[3]])) + 4;
    let mut out = Vec::new();
    while out.len() < len {
        let [hi, lo] = (out.len() as u16).to_be_bytes();
        let apdu = [0x00, 0xB0, hi, lo, 0x00];
        let first = send(card, &apdu);
        assert_eq!(send(card, &apdu), first, "a repeated read answers the same");
        assert_eq!(first.1, 0x9000);
        out.extend(first.0);
    }
    out.truncate(len);
    out
}

#[test]
fn auth_certificate_reads_the_same_every_way_and_chains_to_the_ca() {
    let IssuedCard {
        mut card,
        auth_certificate,
        ..
    } = default_card();
    ok(&mut card, SELECT_JPKI);
    select_ef(&mut card, 0x000A);
    assert_eq!(read_certificate_like_opensc(&mut card), auth_certificate);
    assert_eq!(read_certificate_like_jpki_rs(&mut card), auth_certificate);

    select_ef(&mut card, 0x000B);
    let ca_der = read_certificate_like_opensc(&mut card);
    let pki = personalize::simulated_jpki().unwrap();
    assert_eq!(ca_der, pki.ca_certificate_der(Purpose::UserAuthentication));
    let ca = X509::from_der(&ca_der).unwrap();
    let leaf = X509::from_der(&auth_certificate).unwrap();
    assert!(leaf.verify(&ca.public_key().unwrap()).unwrap());
}

#[test]
fn auth_signature_after_pin_verifies_with_the_certificate() {
    let IssuedCard {
        mut card,
        auth_certificate,
        ..
    } = default_card();
    ok(&mut card, SELECT_JPKI);
    select_ef(&mut card, 0x0017);
    let message = b"challenge from the service";
    // SHA-256 DigestInfo, as OpenSC and myna send it.
    let digest = hash(MessageDigest::sha256(), message).unwrap();
    let digest_info = sha256_digest_info(digest.as_ref().try_into().unwrap());
    let sign = compute_digital_signature(&digest_info);
    assert_eq!(
        send(&mut card, &sign).1,
        0x6982,
        "no signature before the PIN"
    );

    select_ef(&mut card, AUTH_PIN.fid);
    assert_eq!(verify(&mut card, b"1234"), 0x9000);
    select_ef(&mut card, 0x0017);
    let (signature, sw) = send(&mut card, &sign);
    assert_eq!((signature.len(), sw), (256, 0x9000));
    let key = X509::from_der(&auth_certificate)
        .unwrap()
        .public_key()
        .unwrap();
    let mut verifier = Verifier::new(MessageDigest::sha256(), &key).unwrap();
    verifier.update(message).unwrap();
    assert!(verifier.verify(&signature).unwrap());
}

#[test]
fn sign_certificate_needs_the_sign_password() {
    let IssuedCard {
        mut card,
        sign_certificate,
        ..
    } = default_card();
    ok(&mut card, SELECT_JPKI);
    select_ef(&mut card, 0x0001);
    assert_eq!(sw(&mut card, "00 B0 00 00 04"), 0x6982);
    select_ef(&mut card, SIGN_PIN.fid);
    assert_eq!(verify(&mut card, b"ABC123"), 0x9000);
    select_ef(&mut card, 0x0001);
    assert_eq!(read_certificate_like_opensc(&mut card), sign_certificate);
}

#[test]
fn token_info_and_certificate_availability() {
    let IssuedCard { mut card, .. } = default_card();
    ok(&mut card, SELECT_JPKI);
    select_ef(&mut card, 0x0006);
    // myna reads 0x20 bytes and compares them with the label.
    assert_eq!(
        ok(&mut card, "00 B0 00 00 20"),
        b"JPKIAPICCTOKEN2                 "
    );
    assert_eq!(ok(&mut card, "00 B0 00 00 00").len(), 160);
    select_ef(&mut card, 0x0008);
    assert_eq!(ok(&mut card, "00 B0 00 00 00"), vec![0x8F, 0x8F, 0x00]);
}

/// `myna pin status`: seven PIN references, each answering an empty VERIFY with 63Cx.
#[test]
fn every_pin_reference_answers_a_status_query() {
    let IssuedCard { mut card, .. } = default_card();
    let mut query = |app: &str, fid: u16| {
        ok(&mut card, app);
        select_ef(&mut card, fid);
        sw(&mut card, "00 20 00 80")
    };
    assert_eq!(query(SELECT_TEXT, 0x0011), 0x63C3);
    assert_eq!(
        query(SELECT_TEXT, 0x0012),
        0x63C0,
        "blocked on issued cards"
    );
    assert_eq!(query(SELECT_TEXT, 0x0014), 0x63CA);
    assert_eq!(query(SELECT_TEXT, 0x0015), 0x63CA);
    assert_eq!(query(SELECT_SURFACE, 0x0013), 0x63CA);
    assert_eq!(query(SELECT_SURFACE, 0x0012), 0x63CA);
    assert_eq!(query(SELECT_JPKI, 0x0018), 0x63C3);
    assert_eq!(query(SELECT_JPKI, 0x001B), 0x63C5);
}

#[test]
fn text_application_gives_the_my_number_only_after_its_pin() {
    let IssuedCard { mut card, .. } = default_card();
    ok(&mut card, SELECT_TEXT);
    select_ef(&mut card, 0x0001);
    assert_eq!(sw(&mut card, "00 B0 00 00 00"), 0x6982);
    select_ef(&mut card, TEXT_PIN.fid);
    assert_eq!(verify(&mut card, b"1234"), 0x9000);
    select_ef(&mut card, 0x0001);
    let number = ok(&mut card, "00 B0 00 00 00");
    assert_eq!(number, b"\xFF\x10\x0C123456789018\xFF\xFF");
    // myna's second read, from offset 7, stays inside the EF.
    assert_eq!(ok(&mut card, "00 B0 00 07 0A"), b"56789018\xFF\xFF");
    select_ef(&mut card, 0x0002);
    let attributes = ok(&mut card, "00 B0 00 00 00");
    assert_eq!(&attributes[..2], &[0xFF, 0x20]);
    let name = "資格　太郎".as_bytes();
    assert!(attributes.windows(name.len()).any(|w| w == name));
}

#[test]
fn surface_application_opens_with_pin_b() {
    let IssuedCard { mut card, .. } = default_card();
    ok(&mut card, SELECT_SURFACE);
    select_ef(&mut card, 0x0002);
    assert_eq!(sw(&mut card, "00 B0 00 00 00"), 0x6982);
    // 昭和60年4月12日, card expiry 2035, security code 5678.
    select_ef(&mut card, 0x0012);
    assert_eq!(verify(&mut card, b"60041220355678"), 0x9000);
    select_ef(&mut card, 0x0002);
    assert_eq!(&ok(&mut card, "00 B0 00 00 02"), &[0xFF, 0x20]);
    // PIN B does not open the My Number image.
    select_ef(&mut card, 0x0005);
    assert_eq!(sw(&mut card, "00 B0 00 00 01"), 0x6982);
}

#[test]
fn common_application_record_by_sfi() {
    let IssuedCard { mut card, .. } = default_card();
    ok(&mut card, "00 A4 04 0C 0A D3 92 10 00 31 00 01 01 01 00");
    let record = ok(&mut card, "00 B2 01 0C 00");
    assert_eq!(record.len(), 30);
    assert_eq!(&record[..2], &[0x01, 0x1C]);
    assert_eq!(
        &record[17..22],
        b"13101",
        "municipality code without its check digit"
    );
    assert_eq!(&record[22..], b"20350412");
    // 住基AP is selectable.
    ok(&mut card, "00 A4 04 0C 0A D3 92 10 00 31 00 01 01 04 01");
}

#[test]
fn same_profile_same_card() {
    let a = default_card();
    let b = default_card();
    assert_eq!(a.auth_certificate, b.auth_certificate);
    assert_eq!(a.sign_certificate, b.sign_certificate);
    let mut other = CardProfile::built_in("default").unwrap();
    other.seed = "another card".into();
    assert_ne!(issue(&other).auth_certificate, a.auth_certificate);
}

#[test]
fn profile_tries_left_and_certificate_dates_reach_the_card() {
    let mut profile = CardProfile::built_in("default").unwrap();
    profile.pins.auth.tries_left = Some(1);
    profile.certificates.auth.not_after = time::macros::date!(2026 - 02 - 10);
    let IssuedCard {
        mut card,
        auth_certificate,
        ..
    } = issue(&profile);
    ok(&mut card, SELECT_JPKI);
    select_ef(&mut card, AUTH_PIN.fid);
    assert_eq!(sw(&mut card, "00 20 00 80"), 0x63C1);
    assert_eq!(verify(&mut card, b"0000"), 0x63C0);
    assert_eq!(verify(&mut card, b"1234"), 0x6984);
    let leaf = X509::from_der(&auth_certificate).unwrap();
    assert_eq!(leaf.not_after().to_string(), "Feb 10 14:59:59 2026 GMT");
}

#[test]
fn every_built_in_profile_issues_a_working_card() {
    for (name, _) in sim_card::profile::BUILT_IN {
        let profile = CardProfile::built_in(name).unwrap();
        let IssuedCard { mut card, .. } = issue(&profile);
        assert_eq!(card.variant(), profile.variant, "{name}");
        if profile.variant == Variant::Iphone {
            // No PIN at an iPhone's reader; no applet before Wallet opened it.
            let select = if profile.phone.wallet_opened {
                0x9000
            } else {
                0x6A82
            };
            assert_eq!(sw(&mut card, SELECT_JPKI), select, "{name}");
            assert_eq!(sw(&mut card, "00 20 00 80"), 0x6D00, "{name}");
            continue;
        }
        ok(&mut card, SELECT_JPKI);
        select_ef(&mut card, AUTH_PIN.fid);
        let expected = 0x63C0 | u16::from(profile.pins.auth.tries_left.unwrap_or(3));
        assert_eq!(sw(&mut card, "00 20 00 80"), expected, "{name}");
    }
    let contactless = issue(&CardProfile::built_in("contactless").unwrap());
    assert_eq!(contactless.card.atr()[..2], [0x3B, 0x88]);
}
