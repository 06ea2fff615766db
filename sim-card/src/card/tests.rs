//! The card's behaviour against the status-word table and the behaviours
//! clients depend on (docs/client-apdus.md, Status words), on a small hand-built card.

use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::filesystem::{Access, CardKey, ElementaryFile, PinFormat};

use crate::mynumber::{COMMON_AID as COMMON, JPKI_AID as JPKI, TEXT_AID as TEXT};

/// Signs by prefixing a marker, so tests can see what reached the key.
struct MarkerKey;

impl CardKey for MarkerKey {
    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, StatusWord> {
        if input.len() > 245 {
            return Err(StatusWord::WrongLength);
        }
        let mut out = b"SIG:".to_vec();
        out.extend_from_slice(input);
        Ok(out)
    }
}

fn certificate_bytes() -> Vec<u8> {
    // 30 82 02 F0 + 0x2F0 bytes: 756 bytes, three 256-byte chunks.
    let mut der = vec![0x30, 0x82, 0x02, 0xF0];
    der.extend((0..0x2F0).map(|i| i as u8));
    der
}

fn test_card() -> Card {
    let jpki = Application::new(
        JPKI,
        "JPKI-AP",
        vec![
            ElementaryFile::binary(
                0x000A,
                "auth certificate",
                certificate_bytes(),
                Access::Always,
            ),
            ElementaryFile::binary(
                0x0001,
                "sign certificate",
                vec![0x30, 0x03, 1, 2, 3],
                Access::Pin(0x001B),
            ),
            ElementaryFile::key(0x0017, "auth key", Arc::new(MarkerKey), Access::Pin(0x0018)),
            ElementaryFile::pin(
                0x0018,
                "auth PIN",
                Pin::new(*b"1234", 3, 3),
                PinFormat::FourDigits,
            ),
            ElementaryFile::pin(
                0x001B,
                "sign password",
                Pin::new(*b"ABC123", 5, 5),
                PinFormat::SignPassword,
            ),
        ],
    );
    let text = Application::new(
        TEXT,
        "券面事項入力補助AP",
        vec![
            ElementaryFile::binary(
                0x0001,
                "My Number",
                b"\xFF\x10\x0C123456789018\xFF\xFF".to_vec(),
                Access::Pin(0x0011),
            ),
            ElementaryFile::pin(
                0x0011,
                "text PIN",
                Pin::new(*b"1234", 3, 3),
                PinFormat::FourDigits,
            ),
            ElementaryFile::pin(
                0x0012,
                "issued-blocked PIN",
                Pin::new(*b"0000", 3, 0),
                PinFormat::Fixed,
            ),
        ],
    );
    let common = Application::new(
        COMMON,
        "共通AP",
        vec![ElementaryFile::records(
            0x0001,
            "card info",
            vec![vec![0x01, 0x1C, 0xAA]],
            Access::Always,
        )],
    );
    Card::new(vec![0x3B, 0x00], vec![jpki, text, common])
}

fn hexs(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// Sends `apdu` (hex) and returns (data, SW as u16).
fn send(card: &mut Card, apdu: &str) -> (Vec<u8>, u16) {
    let r = card.process(&hexs(apdu));
    (r.data, r.sw.to_u16())
}

fn sw(card: &mut Card, apdu: &str) -> u16 {
    send(card, apdu).1
}

const SELECT_JPKI: &str = "00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01";
const SELECT_TEXT: &str = "00 A4 04 0C 0A D3 92 10 00 31 00 01 01 04 08";
const SELECT_AUTH_PIN: &str = "00 A4 02 0C 02 00 18";
const SELECT_AUTH_KEY: &str = "00 A4 02 0C 02 00 17";
const VERIFY_1234: &str = "00 20 00 80 04 31 32 33 34";
const VERIFY_0000: &str = "00 20 00 80 04 30 30 30 30";
const VERIFY_EMPTY: &str = "00 20 00 80";
const SIGN_3_BYTES: &str = "80 2A 00 80 03 01 02 03 00";

fn at_auth_pin() -> Card {
    let mut card = test_card();
    assert_eq!(sw(&mut card, SELECT_JPKI), 0x9000);
    assert_eq!(sw(&mut card, SELECT_AUTH_PIN), 0x9000);
    card
}

#[test]
fn wrong_pin_counts_down_to_63c0_then_6984() {
    let mut card = at_auth_pin();
    assert_eq!(sw(&mut card, VERIFY_0000), 0x63C2);
    assert_eq!(sw(&mut card, VERIFY_0000), 0x63C1);
    assert_eq!(sw(&mut card, VERIFY_0000), 0x63C0);
    assert_eq!(sw(&mut card, VERIFY_1234), 0x6984, "blocked: not 6983");
    assert_eq!(sw(&mut card, VERIFY_EMPTY), 0x63C0);
}

#[test]
fn empty_verify_answers_63cx_even_after_success() {
    let mut card = at_auth_pin();
    assert_eq!(sw(&mut card, VERIFY_EMPTY), 0x63C3);
    assert_eq!(sw(&mut card, VERIFY_1234), 0x9000);
    assert_eq!(sw(&mut card, VERIFY_EMPTY), 0x63C3);
    assert_eq!(sw(&mut card, VERIFY_0000), 0x63C2);
    assert_eq!(sw(&mut card, VERIFY_EMPTY), 0x63C2);
}

#[test]
fn right_pin_restores_the_counter() {
    let mut card = at_auth_pin();
    sw(&mut card, VERIFY_0000);
    sw(&mut card, VERIFY_0000);
    assert_eq!(sw(&mut card, VERIFY_1234), 0x9000);
    assert_eq!(sw(&mut card, VERIFY_EMPTY), 0x63C3);
    let auth_pin = PinRef {
        aid: JPKI,
        fid: 0x0018,
    };
    assert_eq!(card.pin_tries_left(auth_pin), Some(3));
}

#[test]
fn signing_needs_the_pin_and_survives_ef_selection() {
    let mut card = at_auth_pin();
    assert_eq!(sw(&mut card, SELECT_AUTH_KEY), 0x9000);
    assert_eq!(sw(&mut card, SIGN_3_BYTES), 0x6982);
    sw(&mut card, SELECT_AUTH_PIN);
    assert_eq!(sw(&mut card, VERIFY_1234), 0x9000);
    sw(&mut card, "00 A4 02 0C 02 00 0A");
    assert_eq!(sw(&mut card, SELECT_AUTH_KEY), 0x9000);
    for _ in 0..3 {
        let (data, status) = send(&mut card, SIGN_3_BYTES);
        assert_eq!((data, status), (b"SIG:\x01\x02\x03".to_vec(), 0x9000));
    }
}

#[test]
fn security_state_is_lost_on_aid_select_and_reset() {
    // Selecting the current application again keeps it by default…
    let mut card = at_auth_pin();
    sw(&mut card, VERIFY_1234);
    sw(&mut card, SELECT_JPKI);
    sw(&mut card, SELECT_AUTH_KEY);
    assert_eq!(sw(&mut card, SIGN_3_BYTES), 0x9000, "the same AID keeps it");
    // …but not on a card that clears on re-selection,
    let mut card = at_auth_pin().behaving(CardBehaviour {
        reselect: Reselect::Clear,
        ..CardBehaviour::default()
    });
    sw(&mut card, VERIFY_1234);
    sw(&mut card, SELECT_JPKI);
    sw(&mut card, SELECT_AUTH_KEY);
    assert_eq!(sw(&mut card, SIGN_3_BYTES), 0x6982, "AID select logs out");
    // and another application always logs out.
    let mut card = at_auth_pin();
    sw(&mut card, VERIFY_1234);
    assert_eq!(sw(&mut card, SELECT_TEXT), 0x9000);
    sw(&mut card, SELECT_JPKI);
    sw(&mut card, SELECT_AUTH_KEY);
    assert_eq!(sw(&mut card, SIGN_3_BYTES), 0x6982, "another AID logs out");

    let mut card = at_auth_pin();
    sw(&mut card, VERIFY_1234);
    card.reset_session();
    assert_eq!(
        sw(&mut card, SELECT_AUTH_KEY),
        0x6A82,
        "no application after reset"
    );
    sw(&mut card, SELECT_JPKI);
    sw(&mut card, SELECT_AUTH_KEY);
    assert_eq!(sw(&mut card, SIGN_3_BYTES), 0x6982);
}

#[test]
fn a_wrong_pin_after_a_right_one_drops_the_security_state() {
    let mut card = at_auth_pin();
    sw(&mut card, VERIFY_1234);
    sw(&mut card, VERIFY_0000);
    sw(&mut card, SELECT_AUTH_KEY);
    assert_eq!(sw(&mut card, SIGN_3_BYTES), 0x6982);
}

#[test]
fn protected_ef_reads_answer_6982_until_verified() {
    let mut card = test_card();
    sw(&mut card, SELECT_TEXT);
    assert_eq!(
        sw(&mut card, "00 A4 02 0C 02 00 01"),
        0x9000,
        "selecting is allowed"
    );
    assert_eq!(sw(&mut card, "00 B0 00 00 00"), 0x6982);
    sw(&mut card, "00 A4 02 0C 02 00 11");
    assert_eq!(sw(&mut card, VERIFY_1234), 0x9000);
    sw(&mut card, "00 A4 02 0C 02 00 01");
    let (data, status) = send(&mut card, "00 B0 00 00 00");
    assert_eq!(status, 0x9000);
    assert_eq!(data.len(), 17);
}

#[test]
fn unknown_aid_and_ef_answer_6a82() {
    let mut card = test_card();
    assert_eq!(sw(&mut card, "00 A4 04 0C 05 A0 00 00 00 01"), 0x6A82);
    assert_eq!(
        sw(&mut card, "00 A4 02 0C 02 00 0A"),
        0x6A82,
        "no application selected"
    );
    sw(&mut card, SELECT_JPKI);
    assert_eq!(sw(&mut card, "00 A4 02 0C 02 12 34"), 0x6A82);
}

#[test]
fn read_binary_lengths_and_offsets() {
    let mut card = test_card();
    sw(&mut card, SELECT_JPKI);
    sw(&mut card, "00 A4 02 0C 02 00 0A");
    // OpenSC: 4 bytes of header first.
    let (data, status) = send(&mut card, "00 B0 00 00 04");
    assert_eq!((data, status), (vec![0x30, 0x82, 0x02, 0xF0], 0x9000));
    // Le=00 is exactly 256 bytes when that many remain.
    let (data, _) = send(&mut card, "00 B0 00 00 00");
    assert_eq!(data.len(), 256);
    // Any alignment: myna reads from offset 7.
    let (data, _) = send(&mut card, "00 B0 00 07 00");
    assert_eq!(data[0], 3);
    // Le larger than what remains: the rest and 9000.
    let (data, status) = send(&mut card, "00 B0 02 00 00");
    assert_eq!((data.len(), status), (756 - 512, 0x9000));
    // At or past the end: 6B00.
    assert_eq!(sw(&mut card, "00 B0 02 F4 01"), 0x6B00);
    assert_eq!(sw(&mut card, "00 B0 7F FF 01"), 0x6B00);
    // Extended Le returns the whole file.
    let (data, status) = send(&mut card, "00 B0 00 00 00 00 00");
    assert_eq!((data, status), (certificate_bytes(), 0x9000));
    // By short EF identifier: 000A is SFI 0A.
    let mut card = test_card();
    sw(&mut card, SELECT_JPKI);
    let (data, status) = send(&mut card, "00 B0 8A 00 04");
    assert_eq!((data, status), (vec![0x30, 0x82, 0x02, 0xF0], 0x9000));
}

#[test]
fn read_record_by_sfi_without_select() {
    let mut card = test_card();
    sw(&mut card, "00 A4 04 0C 0A D3 92 10 00 31 00 01 01 01 00");
    let (data, status) = send(&mut card, "00 B2 01 0C 00");
    assert_eq!((data, status), (vec![0x01, 0x1C, 0xAA], 0x9000));
    assert_eq!(sw(&mut card, "00 B2 02 0C 00"), 0x6A83);
    assert_eq!(sw(&mut card, "00 B2 01 0D 00"), 0x6A86);
}

#[test]
fn select_variants() {
    let mut card = test_card();
    // P2=0C: no data.
    assert_eq!(send(&mut card, SELECT_JPKI), (vec![], 0x9000));
    // P2=00 with Le: an FCI naming the AID.
    let (fci, status) = send(&mut card, "00 A4 04 00 0A D3 92 F0 00 26 01 00 00 00 01 00");
    assert_eq!(status, 0x9000);
    assert_eq!(&fci[..4], &[0x6F, 0x0C, 0x84, 0x0A]);
    assert_eq!(&fci[4..], JPKI);
    // Bad P1 or P2.
    assert_eq!(sw(&mut card, "00 A4 09 0C 02 00 0A"), 0x6A86);
    assert_eq!(sw(&mut card, "00 A4 02 0D 02 00 0A"), 0x6A86);
    // FID of the wrong length.
    assert_eq!(sw(&mut card, "00 A4 02 0C 01 0A"), 0x6700);
}

#[test]
fn class_and_instruction_errors() {
    let mut card = test_card();
    assert_eq!(
        sw(&mut card, "01 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01"),
        0x6881
    );
    assert_eq!(
        sw(&mut card, "0C A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01"),
        0x6882
    );
    // Under secure messaging, READ BINARY and VERIFY find no session.
    assert_eq!(sw(&mut card, "0C B0 00 00 00"), 0x69FC);
    assert_eq!(sw(&mut card, "08 20 00 80 02 31 32"), 0x69FC);
    assert_eq!(sw(&mut card, "00 0E 00 00 00"), 0x6D00);
    // GET DATA is known; this card has no data objects.
    assert_eq!(sw(&mut card, "00 CA 00 42 00"), 0x6A88);
    assert_eq!(
        sw(&mut card, "80 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01"),
        0x6E00
    );
    assert_eq!(sw(&mut card, "00 2A 00 80 01 00 00"), 0x6E00);
    assert_eq!(sw(&mut card, "FF A4 00 00"), 0x6E00);
    assert_eq!(
        sw(&mut card, "80 FC 00 00"),
        0x6700,
        "physical cards refuse the iPhone indicator"
    );
    assert_eq!(sw(&mut card, "00 A4"), 0x6700);
}

/// Case 3 (data, no Le): the card signs nothing and answers `67 00`, never
/// more bytes than the command asked for; the same digest with Le `00` signs.
#[test]
fn a_signature_without_le_is_refused() {
    let mut card = at_auth_pin();
    sw(&mut card, VERIFY_1234);
    sw(&mut card, SELECT_AUTH_KEY);
    assert_eq!(send(&mut card, "80 2A 00 80 03 01 02 03"), (vec![], 0x6700));
    assert_eq!(
        send(&mut card, SIGN_3_BYTES),
        (b"SIG:\x01\x02\x03".to_vec(), 0x9000)
    );
}

#[test]
fn verify_and_sign_parameter_errors() {
    let mut card = at_auth_pin();
    assert_eq!(sw(&mut card, "00 20 01 80 04 31 32 33 34"), 0x6A86);
    assert_eq!(sw(&mut card, "00 20 00 81 04 31 32 33 34"), 0x6A86);
    sw(&mut card, VERIFY_1234);
    sw(&mut card, SELECT_AUTH_KEY);
    assert_eq!(sw(&mut card, "80 2A 01 80 03 01 02 03 00"), 0x6A86);
    assert_eq!(sw(&mut card, "80 2A 00 80 00"), 0x6700, "nothing to sign");
    // VERIFY on a key EF, signing on a PIN EF.
    assert_eq!(sw(&mut card, VERIFY_EMPTY), 0x6981);
    sw(&mut card, SELECT_AUTH_PIN);
    assert_eq!(sw(&mut card, SIGN_3_BYTES), 0x6981);
    // VERIFY with no EF selected.
    let mut card = test_card();
    sw(&mut card, SELECT_JPKI);
    assert_eq!(sw(&mut card, VERIFY_1234), 0x6986);
}

#[test]
fn change_reference_data() {
    let mut card = at_auth_pin();
    assert_eq!(
        sw(&mut card, "00 24 01 80 04 35 36 37 38"),
        0x6982,
        "not verified"
    );
    sw(&mut card, VERIFY_1234);
    assert_eq!(sw(&mut card, "00 24 01 80 03 35 36 37"), 0x6A80, "3 digits");
    assert_eq!(sw(&mut card, "00 24 01 80 04 35 36 37 38"), 0x9000);
    assert_eq!(sw(&mut card, VERIFY_1234), 0x63C2);
    assert_eq!(sw(&mut card, "00 20 00 80 04 35 36 37 38"), 0x9000);
}

#[test]
fn an_issued_blocked_pin_reference_answers_63c0() {
    let mut card = test_card();
    sw(&mut card, SELECT_TEXT);
    sw(&mut card, "00 A4 02 0C 02 00 12");
    assert_eq!(sw(&mut card, VERIFY_EMPTY), 0x63C0);
}

#[test]
fn control_api_locks_and_unlocks() {
    let mut card = at_auth_pin();
    let auth_pin = PinRef {
        aid: JPKI,
        fid: 0x0018,
    };
    assert!(card.set_pin_tries_left(auth_pin, 0));
    assert_eq!(sw(&mut card, VERIFY_1234), 0x6984);
    assert!(card.set_pin_tries_left(auth_pin, 3));
    assert_eq!(sw(&mut card, VERIFY_1234), 0x9000);
    assert!(
        !card.set_pin_tries_left(
            PinRef {
                aid: JPKI,
                fid: 0x000A
            },
            0
        ),
        "not a PIN"
    );
}

#[test]
fn describe_names_the_target_without_the_pin() {
    let mut card = at_auth_pin();
    let text = card.describe(&hexs(VERIFY_1234));
    assert_eq!(text, "VERIFY EF 0018 (auth PIN) (4 digits)");
    assert!(!text.contains("1234"));
    sw(&mut card, SELECT_AUTH_KEY);
    assert_eq!(
        card.describe(&hexs(SIGN_3_BYTES)),
        "COMPUTE DIGITAL SIGNATURE EF 0017 (auth key) (3 bytes)"
    );
    assert_eq!(card.describe(&hexs(SELECT_JPKI)), "SELECT JPKI-AP");
}

/// Commands a client might send, and noise.
fn command_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(hexs(SELECT_JPKI)),
        Just(hexs(SELECT_TEXT)),
        Just(hexs("00 B0 00 00 00")),
        Just(hexs(SELECT_AUTH_PIN)),
        Just(hexs(SELECT_AUTH_KEY)),
        Just(hexs("00 A4 02 0C 02 00 0A")),
        Just(hexs("00 A4 02 0C 02 00 01")),
        Just(hexs("00 A4 02 0C 02 00 11")),
        Just(hexs(VERIFY_1234)),
        Just(hexs(VERIFY_0000)),
        Just(hexs(VERIFY_EMPTY)),
        Just(hexs(SIGN_3_BYTES)),
        (any::<u16>(), any::<u8>()).prop_map(|(off, le)| {
            let [hi, lo] = off.to_be_bytes();
            vec![0x00, 0xB0, hi, lo, le]
        }),
        proptest::collection::vec(any::<u8>(), 0..40),
        (
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 0..8)
        )
            .prop_map(|(ins, p1, p2, data)| {
                let mut apdu = vec![0x00, ins, p1, p2];
                if !data.is_empty() {
                    apdu.push(data.len() as u8);
                    apdu.extend(data);
                }
                apdu
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any sequence of commands: no panic, always a status word, never 61xx
    /// or 6Cxx, the PIN counter only moves as the rules say, and a protected
    /// EF is never read without its PIN.
    #[test]
    fn arbitrary_sequences_keep_the_invariants(commands in proptest::collection::vec(command_strategy(), 0..40)) {
        let mut card = test_card();
        let auth_pin = PinRef { aid: JPKI, fid: 0x0018 };
        for command in commands {
            let before = card.pin_tries_left(auth_pin).unwrap();
            let response = card.process(&command).to_bytes();
            prop_assert!(response.len() >= 2);
            let sw = StatusWord::of_response(&response).unwrap();
            prop_assert!(sw.sw1() != 0x61 && sw.sw1() != 0x6C, "{:?}", sw);
            let after = card.pin_tries_left(auth_pin).unwrap();
            prop_assert!(after == before || after + 1 == before || (after == 3 && sw == StatusWord::Ok));
            if response.windows(12).any(|w| w == b"123456789018") {
                // The My Number only comes out after the text PIN.
                prop_assert!(card.session.verified.contains(&0x0011));
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut card = at_auth_pin();
        let response = card.process(&bytes);
        prop_assert!(response.sw != StatusWord::Ok || bytes.len() >= 4);
    }
}
