//! What a phone does differently from the plastic card, on small hand-built
//! cards with synthetic instants (docs/client-apdus.md, Phones, and the documented choices
//! in the module docs): the iPhone's Face ID window, its answers to VERIFY and
//! to `80 FC 00 00`, and that the window is the phone's state, not the session's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::SmartCard;
use crate::filesystem::{Access, CardKey, ElementaryFile, PinFormat};

use crate::mynumber::JPKI_AID as JPKI;

/// Signs by prefixing a marker, so tests can see what reached the key.
struct MarkerKey;

impl CardKey for MarkerKey {
    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, StatusWord> {
        Ok([b"SIG:".as_slice(), input].concat())
    }
}

/// A JPKI-AP whose auth key is used under `key_use`, with an auth PIN when
/// `with_pin` (phones other than the iPhone have one).
fn jpki(key_use: Access, with_pin: bool) -> Application {
    let mut files = vec![
        ElementaryFile::binary(0x000A, "auth certificate", vec![0x30, 0x00], Access::Always),
        ElementaryFile::key(0x0017, "auth key", Arc::new(MarkerKey), key_use),
    ];
    if with_pin {
        files.push(ElementaryFile::pin(
            0x0018,
            "auth PIN",
            Pin::new(*b"1234", 3, 3),
            PinFormat::FourDigits,
        ));
    }
    Application::new(JPKI, "JPKI-AP", files)
}

fn iphone(window: Duration) -> Card {
    Card::new(
        vec![0x3B, 0x80, 0x80, 0x01, 0x01],
        vec![jpki(Access::HolderAuthenticated, false)],
    )
    .carried_by(Variant::Iphone, window)
}

fn card_with_pin(variant: Variant) -> Card {
    Card::new(vec![0x3B, 0x00], vec![jpki(Access::Pin(0x0018), true)])
        .carried_by(variant, DEFAULT_AUTHENTICATION_WINDOW)
}

fn hexs(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

fn sw_at(card: &mut Card, apdu: &str, now: Instant) -> u16 {
    card.process_at(&hexs(apdu), now).sw.to_u16()
}

const SELECT_JPKI: &str = "00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01";
const SELECT_AUTH_KEY: &str = "00 A4 02 0C 02 00 17";
const SELECT_AUTH_PIN: &str = "00 A4 02 0C 02 00 18";
const SIGN_3_BYTES: &str = "80 2A 00 80 03 01 02 03 00";
const LAST_COMMAND: &str = "80 FC 00 00";

/// An iPhone at its auth key, and a fixed origin for synthetic instants.
fn iphone_at_key(window: Duration) -> (Card, Instant) {
    let t0 = Instant::now();
    let mut card = iphone(window);
    assert_eq!(sw_at(&mut card, SELECT_JPKI, t0), 0x9000);
    assert_eq!(sw_at(&mut card, SELECT_AUTH_KEY, t0), 0x9000);
    (card, t0)
}

#[test]
fn an_iphone_signs_only_inside_the_window() {
    let window = Duration::from_secs(60);
    let (mut card, t0) = iphone_at_key(window);
    // Never authenticated: no signature.
    assert_eq!(sw_at(&mut card, SIGN_3_BYTES, t0), 0x6982);
    let at = t0 + Duration::from_secs(10);
    assert!(card.authenticate_holder(at));
    // Before the authentication (a clock that went backwards): no.
    assert_eq!(
        sw_at(&mut card, SIGN_3_BYTES, at - Duration::from_nanos(1)),
        0x6982
    );
    // At its start, inside, and at the last instant: yes.
    for offset in [
        Duration::ZERO,
        Duration::from_secs(30),
        window - Duration::from_nanos(1),
    ] {
        let r = card.process_at(&hexs(SIGN_3_BYTES), at + offset);
        assert_eq!(r.sw, StatusWord::Ok, "{offset:?}");
        assert_eq!(r.data, b"SIG:\x01\x02\x03");
    }
    // At its end and after: no.
    assert_eq!(sw_at(&mut card, SIGN_3_BYTES, at + window), 0x6982);
    assert_eq!(sw_at(&mut card, SIGN_3_BYTES, at + window * 10), 0x6982);
    // Authenticating again opens a new window.
    assert!(card.authenticate_holder(at + window * 10));
    assert_eq!(sw_at(&mut card, SIGN_3_BYTES, at + window * 10), 0x9000);
}

#[test]
fn the_window_survives_power_off_and_reset() {
    let (mut card, t0) = iphone_at_key(Duration::from_secs(60));
    card.authenticate_holder(t0);
    SmartCard::power_off(&mut card, t0);
    SmartCard::power_on(&mut card, t0);
    SmartCard::reset(&mut card, t0);
    // The session is gone (no EF selected)...
    assert_eq!(sw_at(&mut card, SIGN_3_BYTES, t0), 0x6986);
    // ...the holder's authentication is not.
    assert_eq!(sw_at(&mut card, SELECT_JPKI, t0), 0x9000);
    assert_eq!(sw_at(&mut card, SELECT_AUTH_KEY, t0), 0x9000);
    let later = t0 + Duration::from_secs(5);
    assert_eq!(
        card.transmit(&hexs(SIGN_3_BYTES), later)[..],
        *b"SIG:\x01\x02\x03\x90\x00",
        "the transport's time reaches the card"
    );
    assert!(card.holder_authenticated(later));
}

#[test]
fn only_an_iphone_takes_a_holder_authentication() {
    let t0 = Instant::now();
    for variant in [
        Variant::PhysicalContact,
        Variant::PhysicalContactless,
        Variant::Android,
    ] {
        let mut card = card_with_pin(variant);
        assert!(!card.authenticate_holder(t0), "{variant}");
        assert!(!card.holder_authenticated(t0), "{variant}");
        assert_eq!(sw_at(&mut card, SELECT_JPKI, t0), 0x9000);
        assert_eq!(sw_at(&mut card, SELECT_AUTH_KEY, t0), 0x9000);
        // Face ID does not stand in for the PIN.
        assert_eq!(sw_at(&mut card, SIGN_3_BYTES, t0), 0x6982, "{variant}");
        assert_eq!(sw_at(&mut card, SELECT_AUTH_PIN, t0), 0x9000);
        assert_eq!(sw_at(&mut card, "00 20 00 80 04 31 32 33 34", t0), 0x9000);
        assert_eq!(sw_at(&mut card, SELECT_AUTH_KEY, t0), 0x9000);
        assert_eq!(sw_at(&mut card, SIGN_3_BYTES, t0), 0x9000, "{variant}");
    }
}

#[test]
fn an_iphone_answers_6d00_to_verify_and_change_reference_data() {
    let (mut card, t0) = iphone_at_key(Duration::from_secs(60));
    for apdu in [
        "00 20 00 80",
        "00 20 00 80 04 31 32 33 34",
        "00 24 01 80 04 31 32 33 34",
    ] {
        assert_eq!(sw_at(&mut card, apdu, t0), 0x6D00, "{apdu}");
    }
    // Even inside the window, and with the class checked first as ever.
    card.authenticate_holder(t0);
    assert_eq!(sw_at(&mut card, "00 20 00 80", t0), 0x6D00);
    assert_eq!(sw_at(&mut card, "80 20 00 80", t0), 0x6E00);
}

#[test]
fn last_command_indicator_is_an_iphone_thing() {
    let t0 = Instant::now();
    let mut phone = iphone(Duration::from_secs(60));
    assert_eq!(sw_at(&mut phone, LAST_COMMAND, t0), 0x9000);
    assert_eq!(sw_at(&mut phone, "80 FC 01 00", t0), 0x6A86);
    for variant in [
        Variant::PhysicalContact,
        Variant::PhysicalContactless,
        Variant::Android,
    ] {
        let mut card = card_with_pin(variant);
        assert_eq!(sw_at(&mut card, LAST_COMMAND, t0), 0x6700, "{variant}");
        assert_eq!(card.variant(), variant);
    }
    assert_eq!(phone.variant(), Variant::Iphone);
}

#[test]
fn describe_stays_pin_free_on_a_phone() {
    let card = iphone(Duration::from_secs(60));
    let line = card.describe(&hexs("00 20 00 80 04 31 32 33 34"));
    assert!(
        !line.contains("1234") && !line.contains("31323334"),
        "{line}"
    );
    assert_eq!(card.describe(&hexs(LAST_COMMAND)), "LAST COMMAND");
}

proptest! {
    /// For any window and any instant around it, an iPhone signs iff the
    /// instant lies in `[at, at + window)`, and a sequence of checks does not
    /// change the answer (the window is not consumed by use).
    #[test]
    fn signing_succeeds_iff_now_is_inside_the_window(
        window_s in 1u64..600,
        offsets_ms in proptest::collection::vec(-5_000i64..700_000, 1..12),
    ) {
        let window = Duration::from_secs(window_s);
        let (mut card, t0) = iphone_at_key(window);
        // `at` lies far enough after t0 for negative offsets.
        let at = t0 + Duration::from_secs(10);
        card.authenticate_holder(at);
        for offset in offsets_ms {
            let now = if offset >= 0 {
                at + Duration::from_millis(offset as u64)
            } else {
                at - Duration::from_millis(offset.unsigned_abs())
            };
            let inside = (0..window.as_millis() as i64).contains(&offset);
            let sw = sw_at(&mut card, SIGN_3_BYTES, now);
            prop_assert_eq!(sw == 0x9000, inside, "offset {} ms, window {} s", offset, window_s);
            prop_assert!(sw == 0x9000 || sw == 0x6982);
            prop_assert_eq!(card.holder_authenticated(now), inside);
        }
    }
}
