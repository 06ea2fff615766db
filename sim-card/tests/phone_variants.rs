//! The card as each variant carries it, issued from the built-in profiles and
//! driven by APDUs (docs/client-apdus.md, Phones): an Android phone's PIN-gated
//! auth certificate and its own RSA keys, an iPhone's P-256 signatures inside
//! the Face ID window, Wallet not opened, the ATRs, and the age rule.

use std::time::{Duration, Instant};

use openssl::ecdsa::EcdsaSig;
use openssl::hash::{MessageDigest, hash};
use openssl::pkey::Id;
use openssl::sign::Verifier;
use openssl::x509::X509;
use sim_card::card::Card;
use sim_card::mynumber::SHA256_DIGEST_INFO_PREFIX;
use sim_card::personalize::{self, AUTH_PIN, IssueError, IssuedCard};
use sim_card::profile::{CardProfile, PhoneKey, ProfileError};
use sim_card::variant::Variant;

fn issue(profile: &CardProfile) -> IssuedCard {
    let pki = personalize::simulated_jpki().unwrap();
    personalize::issue(profile, &pki).unwrap()
}

fn built_in(name: &str) -> CardProfile {
    CardProfile::built_in(name).unwrap()
}

fn hexs(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

fn send_at(card: &mut Card, apdu: &[u8], now: Instant) -> (Vec<u8>, u16) {
    let r = card.process_at(apdu, now);
    (r.data, r.sw.to_u16())
}

fn sw(card: &mut Card, apdu: &str) -> u16 {
    card.process(&hexs(apdu)).sw.to_u16()
}

fn ok(card: &mut Card, apdu: &str) -> Vec<u8> {
    let r = card.process(&hexs(apdu));
    assert_eq!(r.sw.to_u16(), 0x9000, "{apdu}");
    r.data
}

fn select_ef(card: &mut Card, fid: u16) {
    let [hi, lo] = fid.to_be_bytes();
    assert_eq!(
        card.process(&[0x00, 0xA4, 0x02, 0x0C, 0x02, hi, lo])
            .sw
            .to_u16(),
        0x9000,
        "SELECT EF {fid:04X}"
    );
}

/// Reads the selected EF as OpenSC does: 4 bytes of header, then up to the DER length.
fn read_der(card: &mut Card) -> Result<Vec<u8>, u16> {
    let r = card.process(&hexs("00 B0 00 00 04"));
    if r.sw.to_u16() != 0x9000 {
        return Err(r.sw.to_u16());
    }
    let len = usize::from(u16::from_be_bytes([r.data[2], r.data[3]])) + 4;
    let mut out = Vec::new();
    while out.len() < len {
        let [hi, lo] = (out.len() as u16).to_be_bytes();
        let want = (len - out.len()).min(256) as u8;
        out.extend(ok(card, &format!("00 B0 {hi:02X} {lo:02X} {want:02X}")));
    }
    Ok(out)
}

const SELECT_JPKI: &str = "00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01";
const OTHER_APPLICATIONS: [&str; 4] = [
    "00 A4 04 0C 0A D3 92 10 00 31 00 01 01 04 08",
    "00 A4 04 0C 0A D3 92 10 00 31 00 01 01 04 02",
    "00 A4 04 0C 0A D3 92 10 00 31 00 01 01 01 00",
    "00 A4 04 0C 0A D3 92 10 00 31 00 01 01 04 01",
];
const VERIFY_1234: &str = "00 20 00 80 04 31 32 33 34";
const VERIFY_0000: &str = "00 20 00 80 04 30 30 30 30";

fn sign_apdu(input: &[u8]) -> Vec<u8> {
    [&[0x80, 0x2A, 0x00, 0x80, input.len() as u8], input, &[0x00]].concat()
}

fn digest_info(message: &[u8]) -> Vec<u8> {
    let digest = hash(MessageDigest::sha256(), message).unwrap();
    [SHA256_DIGEST_INFO_PREFIX.as_slice(), &digest].concat()
}

fn token_label(card: &mut Card) -> Vec<u8> {
    ok(card, SELECT_JPKI);
    select_ef(card, 0x0006);
    ok(card, "00 B0 00 00 20")
}

#[test]
fn phone_profiles_are_the_default_holder_carried_by_a_phone() {
    for variant in Variant::ALL {
        let name = variant.name();
        assert_eq!(name.parse::<Variant>().unwrap(), variant);
        assert_eq!(
            variant.is_smartphone(),
            matches!(variant, Variant::Android | Variant::Iphone)
        );
    }
    assert!(
        "ipad"
            .parse::<Variant>()
            .unwrap_err()
            .contains("physical-contact")
    );
    let default = built_in("default");
    assert_eq!(built_in("android"), default.with_variant(Variant::Android));
    assert_eq!(built_in("iphone"), default.with_variant(Variant::Iphone));
    assert_eq!(
        built_in("contactless"),
        default.with_variant(Variant::PhysicalContactless)
    );
    assert!(!built_in("iphone-wallet-closed").phone.wallet_opened);
    assert!(built_in("auth-revoked").certificates.auth.revoked);
    let expired = built_in("expired-card-body");
    assert!(expired.body.expiry < time::macros::date!(2026 - 01 - 01));
}

#[test]
fn token_labels_follow_the_variant() {
    for (name, label) in [
        ("default", "JPKIAPICCTOKEN2"),
        ("contactless", "JPKIAPICCTOKEN2"),
        ("android", "JPKIAPGPSETOKEN"),
        ("iphone", "JPKIAPIOSTOKEN"),
    ] {
        let mut card = issue(&built_in(name)).card;
        assert_eq!(
            token_label(&mut card),
            format!("{label:<32}").as_bytes(),
            "{name}"
        );
    }
}

#[test]
fn phones_carry_the_jpki_application_only() {
    for name in ["android", "iphone"] {
        let mut card = issue(&built_in(name)).card;
        ok(&mut card, SELECT_JPKI);
        for select in OTHER_APPLICATIONS {
            assert_eq!(sw(&mut card, select), 0x6A82, "{name}: {select}");
        }
    }
    let mut plastic = issue(&built_in("default")).card;
    for select in OTHER_APPLICATIONS {
        assert_eq!(sw(&mut plastic, select), 0x9000, "{select}");
    }
}

#[test]
fn android_reads_its_auth_certificate_only_after_the_smartphone_pin() {
    let IssuedCard {
        mut card,
        auth_certificate,
        ..
    } = issue(&built_in("android"));
    ok(&mut card, SELECT_JPKI);
    select_ef(&mut card, 0x000A);
    assert_eq!(read_der(&mut card), Err(0x6982));
    // The CA certificate stays free.
    select_ef(&mut card, 0x000B);
    assert!(read_der(&mut card).is_ok());
    select_ef(&mut card, AUTH_PIN.fid);
    assert_eq!(sw(&mut card, "00 20 00 80"), 0x63C3, "4 digits, 3 tries");
    assert_eq!(sw(&mut card, VERIFY_1234), 0x9000);
    select_ef(&mut card, 0x000A);
    assert_eq!(read_der(&mut card).unwrap(), auth_certificate);
    // Selecting the application again keeps the PIN verified (the default
    // behaviour); a new card session logs out.
    ok(&mut card, SELECT_JPKI);
    select_ef(&mut card, 0x000A);
    assert_eq!(read_der(&mut card).unwrap(), auth_certificate);
    card.reset_session();
    ok(&mut card, SELECT_JPKI);
    select_ef(&mut card, 0x000A);
    assert_eq!(read_der(&mut card), Err(0x6982));
}

#[test]
fn android_pin_locks_after_three_wrong_tries_and_keeps_000a_closed() {
    let mut card = issue(&built_in("android")).card;
    ok(&mut card, SELECT_JPKI);
    select_ef(&mut card, AUTH_PIN.fid);
    assert_eq!(sw(&mut card, VERIFY_0000), 0x63C2);
    assert_eq!(sw(&mut card, VERIFY_0000), 0x63C1);
    assert_eq!(sw(&mut card, VERIFY_0000), 0x63C0);
    assert_eq!(
        sw(&mut card, VERIFY_1234),
        0x6984,
        "locked: the right PIN no longer opens"
    );
    select_ef(&mut card, 0x000A);
    assert_eq!(read_der(&mut card), Err(0x6982));
    assert_eq!(card.pin_tries_left(AUTH_PIN), Some(0));
}

#[test]
fn android_has_rsa_keys_of_its_own_and_signs_after_the_pin() {
    let pki = personalize::simulated_jpki().unwrap();
    let plastic = personalize::auth_certificate(&built_in("default"), &pki).unwrap();
    let IssuedCard {
        mut card,
        auth_certificate,
        ..
    } = issue(&built_in("android"));
    assert_eq!(
        personalize::auth_certificate(&built_in("android"), &pki).unwrap(),
        auth_certificate
    );
    let plastic_key = X509::from_der(&plastic).unwrap().public_key().unwrap();
    let phone_key = X509::from_der(&auth_certificate)
        .unwrap()
        .public_key()
        .unwrap();
    assert_eq!((phone_key.id(), phone_key.bits()), (Id::RSA, 2048));
    assert!(!phone_key.public_eq(&plastic_key), "the phone's own key");

    ok(&mut card, SELECT_JPKI);
    select_ef(&mut card, AUTH_PIN.fid);
    ok(&mut card, VERIFY_1234);
    select_ef(&mut card, 0x0017);
    let message = b"challenge";
    let r = card.process(&sign_apdu(&digest_info(message)));
    assert_eq!((r.sw.to_u16(), r.data.len()), (0x9000, 256));
    let mut verifier = Verifier::new(MessageDigest::sha256(), &phone_key).unwrap();
    verifier.update(message).unwrap();
    assert!(verifier.verify(&r.data).unwrap());
    // No LAST COMMAND on Android.
    assert_eq!(sw(&mut card, "80 FC 00 00"), 0x6700);
}

#[test]
fn iphone_signs_with_p256_inside_the_window_only() {
    let IssuedCard {
        mut card,
        auth_certificate,
        sign_certificate,
        ..
    } = issue(&built_in("iphone"));
    let pki = personalize::simulated_jpki().unwrap();
    assert_eq!(
        personalize::auth_certificate(&built_in("iphone"), &pki).unwrap(),
        auth_certificate
    );
    let key = X509::from_der(&auth_certificate)
        .unwrap()
        .public_key()
        .unwrap();
    assert_eq!(key.id(), Id::EC);
    let ec = key.ec_key().unwrap();
    assert_eq!(
        ec.group().curve_name(),
        Some(openssl::nid::Nid::X9_62_PRIME256V1)
    );
    let sign_key = X509::from_der(&sign_certificate)
        .unwrap()
        .public_key()
        .unwrap();
    assert_eq!(
        sign_key.id(),
        Id::EC,
        "the sign key is of the auth key's type"
    );

    let t0 = Instant::now();
    ok(&mut card, SELECT_JPKI);
    // The auth certificate needs nothing.
    select_ef(&mut card, 0x000A);
    assert_eq!(read_der(&mut card).unwrap(), auth_certificate);
    select_ef(&mut card, 0x0017);
    let message = b"challenge from the service";
    let digest = hash(MessageDigest::sha256(), message).unwrap();
    assert_eq!(
        send_at(&mut card, &sign_apdu(&digest_info(message)), t0).1,
        0x6982,
        "before Face ID"
    );

    assert!(card.authenticate_holder(t0));
    for input in [digest_info(message), digest.to_vec()] {
        let (signature, sw) = send_at(&mut card, &sign_apdu(&input), t0 + Duration::from_secs(59));
        assert_eq!(sw, 0x9000);
        let sig = EcdsaSig::from_der(&signature).unwrap();
        assert!(
            sig.verify(&digest, &ec).unwrap(),
            "ECDSA over the SHA-256 digest"
        );
    }
    // Another length, or another hash's DigestInfo: refused.
    assert_eq!(send_at(&mut card, &sign_apdu(&[1, 2, 3]), t0).1, 0x6700);
    let mut other = digest_info(message);
    other[14] = 0x02; // SHA-384's OID arc, SHA-256's length
    assert_eq!(send_at(&mut card, &sign_apdu(&other), t0).1, 0x6A80);
    // The window has closed.
    let late = t0 + Duration::from_secs(60);
    assert_eq!(send_at(&mut card, &sign_apdu(&digest), late).1, 0x6982);
    assert_eq!(send_at(&mut card, &hexs("80 FC 00 00"), late).1, 0x9000);
    assert_eq!(send_at(&mut card, &hexs(VERIFY_1234), late).1, 0x6D00);
}

#[test]
fn iphone_sign_certificate_opens_with_face_id() {
    let IssuedCard {
        mut card,
        sign_certificate,
        ..
    } = issue(&built_in("iphone"));
    ok(&mut card, SELECT_JPKI);
    select_ef(&mut card, 0x0001);
    assert_eq!(read_der(&mut card), Err(0x6982));
    card.authenticate_holder(Instant::now());
    assert_eq!(read_der(&mut card).unwrap(), sign_certificate);
    // No PIN EFs on an iPhone.
    assert_eq!(sw(&mut card, "00 A4 02 0C 02 00 18"), 0x6A82);
}

#[test]
fn iphone_with_an_rsa_key_signs_pkcs1() {
    let mut profile = built_in("iphone");
    profile.phone.iphone_key = PhoneKey::Rsa2048;
    let IssuedCard {
        mut card,
        auth_certificate,
        ..
    } = issue(&profile);
    let key = X509::from_der(&auth_certificate)
        .unwrap()
        .public_key()
        .unwrap();
    assert_eq!((key.id(), key.bits()), (Id::RSA, 2048));
    let p256 = issue(&built_in("iphone")).auth_certificate;
    assert_ne!(auth_certificate, p256);
    ok(&mut card, SELECT_JPKI);
    select_ef(&mut card, 0x0017);
    let t0 = Instant::now();
    card.authenticate_holder(t0);
    let (signature, sw) = send_at(&mut card, &sign_apdu(&digest_info(b"x")), t0);
    assert_eq!(sw, 0x9000);
    let mut verifier = Verifier::new(MessageDigest::sha256(), &key).unwrap();
    verifier.update(b"x").unwrap();
    assert!(verifier.verify(&signature).unwrap());
}

#[test]
fn iphone_without_wallet_has_no_jpki_applet() {
    let mut card = issue(&built_in("iphone-wallet-closed")).card;
    assert_eq!(card.variant(), Variant::Iphone);
    assert_eq!(sw(&mut card, SELECT_JPKI), 0x6A82);
    assert!(card.authenticate_holder(Instant::now()));
    assert_eq!(
        sw(&mut card, SELECT_JPKI),
        0x6A82,
        "Face ID does not add the card to Wallet"
    );
    assert_eq!(card.atr(), [0x3B, 0x80, 0x80, 0x01, 0x01]);
}

#[test]
fn the_atr_follows_the_variant_unless_the_profile_sets_one() {
    use sim_card::variant::Atr;
    let default = built_in("default");
    let atr = |p: &CardProfile| issue(p).card.atr().to_vec();
    assert_eq!(
        atr(&default),
        hexs("3B DA 13 FF 81 31 FB 46 80 12 39 2F 31 C1 73 C6 01 C0 3B")
    );
    assert_eq!(
        atr(&default.with_variant(Variant::PhysicalContactless)),
        hexs("3B 88 80 01 00 00 05 E0 B3 81 A1 00 7F")
    );
    for phone in [Variant::Android, Variant::Iphone] {
        assert_eq!(
            atr(&default.with_variant(phone)),
            hexs("3B 80 80 01 01"),
            "{phone}"
        );
    }
    let mut explicit = default.with_variant(Variant::Iphone);
    explicit.body.atr = Some(Atr::Contact);
    assert_eq!(atr(&explicit), atr(&default), "an explicit body.atr wins");
}

#[test]
fn no_smartphone_certificate_under_fifteen() {
    let pki = personalize::simulated_jpki().unwrap();
    // The infant of `no-photo`, on a phone.
    let infant = built_in("no-photo").with_variant(Variant::Android);
    let error = personalize::issue(&infant, &pki).unwrap_err();
    assert!(matches!(
        error,
        IssueError::Profile(ProfileError::Invalid(_))
    ));
    assert!(error.to_string().contains("variant"), "{error}");
    assert!(personalize::auth_certificate(&infant.with_variant(Variant::Iphone), &pki).is_err());
    // The plastic card is issued at any age.
    assert!(personalize::issue(&built_in("no-photo"), &pki).is_ok());

    // The day before the 15th birthday: refused; the birthday itself: issued.
    let mut teen = built_in("android");
    teen.persona.birth_date = time::macros::date!(2010 - 04 - 21);
    assert!(teen.validate().unwrap_err().to_string().contains("variant"));
    teen.persona.birth_date = time::macros::date!(2010 - 04 - 20);
    teen.validate().unwrap();
}
