//! What real cards do that clients written against them depend on, pinned
//! on the personalized card: files allocated larger than their content and
//! read "until the card refuses", the security state across a re-selection
//! of the current application, the encodings that vary between cards, the
//! commands and EFs real cards answer, and the read condition of each EF.
//! `docs/card-reference.md` gives the evidence for each.

use sim_card::behaviour::{CardBehaviour, LengthForm, Reselect, VerifiedPinQuery};
use sim_card::card::Card;
use sim_card::formats;
use sim_card::mynumber::SHA256_DIGEST_INFO_PREFIX;
use sim_card::personalize::{self, IssuedCard};
use sim_card::profile::CardProfile;

const SELECT_JPKI: &str = "00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01";
const SELECT_TEXT: &str = "00 A4 04 0C 0A D3 92 10 00 31 00 01 01 04 08";
const SELECT_SURFACE: &str = "00 A4 04 0C 0A D3 92 10 00 31 00 01 01 04 02";

fn issue_with(behaviour: CardBehaviour) -> IssuedCard {
    let mut profile = CardProfile::built_in("default").unwrap();
    profile.behaviour = behaviour;
    let pki = personalize::simulated_jpki().unwrap();
    personalize::issue(&profile, &pki).unwrap()
}

fn card_with(behaviour: CardBehaviour) -> Card {
    issue_with(behaviour).card
}

fn hexs(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

fn send(card: &mut Card, apdu: &[u8]) -> (Vec<u8>, u16) {
    let r = card.process(apdu);
    (r.data, r.sw.to_u16())
}

fn sw(card: &mut Card, apdu: &str) -> u16 {
    send(card, &hexs(apdu)).1
}

fn select_ef(card: &mut Card, fid: u16) -> u16 {
    let [hi, lo] = fid.to_be_bytes();
    send(card, &[0x00, 0xA4, 0x02, 0x0C, 0x02, hi, lo]).1
}

fn verify(card: &mut Card, fid: u16, pin: &str) -> u16 {
    assert_eq!(select_ef(card, fid), 0x9000);
    let mut apdu = vec![0x00, 0x20, 0x00, 0x80, pin.len() as u8];
    apdu.extend_from_slice(pin.as_bytes());
    send(card, &apdu).1
}

fn read_at(card: &mut Card, offset: u16, le: u8) -> (Vec<u8>, u16) {
    let [hi, lo] = offset.to_be_bytes();
    send(card, &[0x00, 0xB0, hi, lo, le])
}

/// Reads the selected EF as pyjpki and the MyNumberCardReader client do:
/// 256-byte chunks until a short chunk or `6B00`.
fn read_until_refused(card: &mut Card) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let (data, sw) = read_at(card, out.len() as u16, 0x00);
        match sw {
            0x9000 => {
                let short = data.len() < 256;
                out.extend(data);
                if short {
                    return out;
                }
            }
            0x6B00 => return out,
            other => panic!("READ BINARY at {}: {other:04X}", out.len()),
        }
    }
}

/// The whole EF in one extended READ BINARY (Le 65536), as jsapdu reads.
fn read_extended(card: &mut Card) -> (Vec<u8>, u16) {
    send(card, &[0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00])
}

fn sign(card: &mut Card, key: u16) -> u16 {
    assert_eq!(select_ef(card, key), 0x9000);
    let mut apdu = vec![0x80, 0x2A, 0x00, 0x80, 51];
    apdu.extend_from_slice(&SHA256_DIGEST_INFO_PREFIX);
    apdu.extend_from_slice(&[0x5A; 32]);
    apdu.push(0x00);
    send(card, &apdu).1
}

#[test]
fn certificate_efs_carry_filler_to_their_allocation() {
    let IssuedCard {
        mut card,
        auth_certificate,
        ..
    } = issue_with(CardBehaviour::default());
    assert_eq!(sw(&mut card, SELECT_JPKI), 0x9000);
    assert_eq!(select_ef(&mut card, 0x000A), 0x9000);
    let file = read_until_refused(&mut card);
    assert_eq!(file.len(), 2048);
    assert_eq!(&file[..auth_certificate.len()], auth_certificate);
    assert!(file[auth_certificate.len()..].iter().all(|b| *b == 0xFF));
    // At the end of the allocation: 6B00; an Le beyond it: what remains.
    assert_eq!(read_at(&mut card, 2048, 1), (Vec::new(), 0x6B00));
    assert_eq!(read_at(&mut card, 2040, 0x00), (vec![0xFF; 8], 0x9000));
    // Across the end of the DER the card just goes on: filler, 9000.
    let end = auth_certificate.len() as u16;
    let (data, status) = read_at(&mut card, end - 2, 4);
    assert_eq!(status, 0x9000);
    assert_eq!(&data[..2], &auth_certificate[auth_certificate.len() - 2..]);
    assert_eq!(&data[2..], [0xFF, 0xFF]);
    let (data, status) = read_extended(&mut card);
    assert_eq!((data.len(), status), (2048, 0x9000));
    // The CA certificates too.
    for fid in [0x0002, 0x000B] {
        assert_eq!(select_ef(&mut card, fid), 0x9000);
        assert_eq!(read_until_refused(&mut card).len(), 2048, "{fid:04X}");
    }
}

#[test]
fn filler_and_certificate_allocation_are_card_options() {
    let IssuedCard {
        mut card,
        auth_certificate,
        ..
    } = issue_with(CardBehaviour {
        filler: 0x00,
        certificate_allocation: 4096,
        ..CardBehaviour::default()
    });
    sw(&mut card, SELECT_JPKI);
    select_ef(&mut card, 0x000A);
    let file = read_until_refused(&mut card);
    assert_eq!(file.len(), 4096);
    assert_eq!(&file[..auth_certificate.len()], auth_certificate);
    assert!(file[auth_certificate.len()..].iter().all(|b| *b == 0x00));
}

#[test]
fn token_info_and_availability_have_no_filler() {
    let mut card = card_with(CardBehaviour::default());
    sw(&mut card, SELECT_JPKI);
    select_ef(&mut card, 0x0006);
    assert_eq!(read_until_refused(&mut card).len(), 160);
    select_ef(&mut card, 0x0008);
    assert_eq!(read_until_refused(&mut card), [0x8F, 0x8F, 0x00]);
}

#[test]
fn text_files_return_what_real_cards_return() {
    let mut card = card_with(CardBehaviour::default());
    assert_eq!(sw(&mut card, SELECT_TEXT), 0x9000);
    // Free files: the basic information answers a 256-byte read in full.
    select_ef(&mut card, 0x0005);
    let (info, status) = read_at(&mut card, 0, 0x00);
    assert_eq!((info.len(), status), (256, 0x9000));
    assert_eq!(&info[..5], [0xFF, 0x40, 0x82, 0x00, 0x9F]);
    assert!(info[164..].iter().all(|b| *b == 0xFF));
    select_ef(&mut card, 0x0008);
    assert_eq!(read_until_refused(&mut card), [0xFF; 16]);
    // After the PIN: the My Number file is 17 bytes, even to an extended
    // Le (its digest in the integrity record covers all 17).
    assert_eq!(verify(&mut card, 0x0011, "1234"), 0x9000);
    select_ef(&mut card, 0x0001);
    let (number, status) = read_extended(&mut card);
    assert_eq!((number.len(), status), (17, 0x9000));
    select_ef(&mut card, 0x0002);
    let (attributes, status) = read_at(&mut card, 0, 0x00);
    assert_eq!((attributes.len(), status), (256, 0x9000));
    assert_eq!(&attributes[..2], [0xFF, 0x20]);
    assert_eq!(*attributes.last().unwrap(), 0xFF, "filler after the TLV");
}

#[test]
fn the_attributes_header_takes_the_cards_length_form() {
    let header = |form| {
        let mut card = card_with(CardBehaviour {
            length_form: form,
            ..CardBehaviour::default()
        });
        sw(&mut card, SELECT_TEXT);
        verify(&mut card, 0x0011, "1234");
        select_ef(&mut card, 0x0002);
        read_at(&mut card, 0, 5).0
    };
    // The default persona's attributes are under 128 bytes.
    let short = header(LengthForm::ShortOr82);
    assert_eq!(&short[..2], [0xFF, 0x20]);
    assert!(short[2] < 0x80, "{short:02X?}");
    let long = header(LengthForm::Always82);
    assert_eq!(&long[..5], [0xFF, 0x20, 0x82, 0x00, short[2]]);
}

#[test]
fn selecting_the_current_application_again_keeps_the_pin_by_default() {
    let mut card = card_with(CardBehaviour::default());
    sw(&mut card, SELECT_JPKI);
    assert_eq!(verify(&mut card, 0x0018, "1234"), 0x9000);
    // pyjpki's signing flow: VERIFY, SELECT the AP again, SELECT the key, sign.
    assert_eq!(sw(&mut card, SELECT_JPKI), 0x9000);
    assert_eq!(sign(&mut card, 0x0017), 0x9000);
    // Another application clears it on every card.
    sw(&mut card, SELECT_TEXT);
    sw(&mut card, SELECT_JPKI);
    assert_eq!(sign(&mut card, 0x0017), 0x6982);
}

#[test]
fn a_card_that_clears_on_reselection_logs_out_as_opensc_expects() {
    let mut card = card_with(CardBehaviour {
        reselect: Reselect::Clear,
        ..CardBehaviour::default()
    });
    sw(&mut card, SELECT_JPKI);
    assert_eq!(verify(&mut card, 0x0018, "1234"), 0x9000);
    assert_eq!(sign(&mut card, 0x0017), 0x9000);
    assert_eq!(sw(&mut card, SELECT_JPKI), 0x9000);
    assert_eq!(sign(&mut card, 0x0017), 0x6982);
}

#[test]
fn an_empty_verify_after_success_answers_as_the_card_does() {
    for (query, expected) in [
        (VerifiedPinQuery::Retries, 0x63C3),
        (VerifiedPinQuery::Ok, 0x9000),
    ] {
        let mut card = card_with(CardBehaviour {
            verified_pin_query: query,
            ..CardBehaviour::default()
        });
        sw(&mut card, SELECT_JPKI);
        select_ef(&mut card, 0x0018);
        assert_eq!(sw(&mut card, "00 20 00 80"), 0x63C3, "before: {query:?}");
        assert_eq!(verify(&mut card, 0x0018, "1234"), 0x9000);
        assert_eq!(sw(&mut card, "00 20 00 80"), expected, "{query:?}");
    }
}

#[test]
fn select_of_the_mf_and_of_the_issuer_security_domain() {
    let mut card = card_with(CardBehaviour::default());
    // Right after power-on: no DF is current, the card refuses P1=00.
    assert_eq!(sw(&mut card, "00 A4 00 00"), 0x6A86);
    assert_eq!(sw(&mut card, "00 A4 00 0C 02 3F 00"), 0x6A82);
    // With an application current: 9000, and it stays current.
    sw(&mut card, SELECT_JPKI);
    assert_eq!(verify(&mut card, 0x0018, "1234"), 0x9000);
    assert_eq!(sw(&mut card, "00 A4 00 0C"), 0x9000);
    assert_eq!(sign(&mut card, 0x0017), 0x9000);
    // The GlobalPlatform ISD: every application left, the PIN forgotten.
    assert_eq!(sw(&mut card, "00 A4 04 0C 07 A0 00 00 01 51 00 00"), 0x9000);
    assert_eq!(select_ef(&mut card, 0x0017), 0x6A82);
    assert_eq!(sw(&mut card, "00 A4 00 00"), 0x6A86);
    sw(&mut card, SELECT_JPKI);
    assert_eq!(sign(&mut card, 0x0017), 0x6982);
}

#[test]
fn the_jpki_efs_public_clients_list_exist() {
    let mut card = card_with(CardBehaviour::default());
    sw(&mut card, SELECT_JPKI);
    assert_eq!(verify(&mut card, 0x0018, "1234"), 0x9000);
    for fid in [0x0005, 0x0010, 0x0016, 0x0019, 0x001C, 0x001E] {
        assert_eq!(select_ef(&mut card, fid), 0x9000, "{fid:04X}");
        assert_eq!(read_at(&mut card, 0, 0).1, 0x6981, "{fid:04X}");
    }
    // 0009: a protected transparent EF that no credential opens.
    assert_eq!(select_ef(&mut card, 0x0009), 0x9000);
    assert_eq!(read_at(&mut card, 0, 0).1, 0x6982);
    // Still absent: an EF no source lists.
    assert_eq!(select_ef(&mut card, 0x0003), 0x6A82);
}

#[test]
fn text_key_files_need_the_pin_or_either_collation_number() {
    let profile = CardProfile::built_in("default").unwrap();
    let pin_b = formats::surface_pin_b(&profile.persona, &profile.body);
    let mut card = card_with(CardBehaviour::default());
    sw(&mut card, SELECT_TEXT);
    for fid in [0x0006, 0x0007] {
        select_ef(&mut card, fid);
        assert_eq!(read_at(&mut card, 0, 0).1, 0x6982, "{fid:04X}");
    }
    assert_eq!(verify(&mut card, 0x0015, &pin_b), 0x9000);
    select_ef(&mut card, 0x0006);
    assert_eq!(read_at(&mut card, 0, 4).0, [0xA1, 0x82, 0x01, 0x09]);
    select_ef(&mut card, 0x0007);
    assert_eq!(read_at(&mut card, 0, 5).0, [0xFF, 0x50, 0x82, 0x02, 0x13]);
}

#[test]
fn surface_read_conditions_are_those_of_real_cards() {
    let profile = CardProfile::built_in("default").unwrap();
    let persona = &profile.persona;
    let pin_a = formats::surface_pin_a(persona);
    let mut card = card_with(CardBehaviour::default());
    sw(&mut card, SELECT_SURFACE);
    // Free: the basic information and the CV certificate.
    for fid in [0x0003, 0x0004] {
        select_ef(&mut card, fid);
        assert_eq!(read_at(&mut card, 0, 1).1, 0x9000, "{fid:04X}");
    }
    for fid in [0x0001, 0x0002, 0x0005, 0x0006] {
        select_ef(&mut card, fid);
        assert_eq!(read_at(&mut card, 0, 1).1, 0x6982, "{fid:04X}");
    }
    // 照合番号A opens 0002, 0005, 0006 but not the age record.
    assert_eq!(verify(&mut card, 0x0013, &pin_a), 0x9000);
    for (fid, expected) in [
        (0x0001, 0x6982),
        (0x0002, 0x9000),
        (0x0005, 0x9000),
        (0x0006, 0x9000),
    ] {
        select_ef(&mut card, fid);
        assert_eq!(read_at(&mut card, 0, 1).1, expected, "{fid:04X}");
    }
    select_ef(&mut card, 0x0006);
    assert_eq!(read_until_refused(&mut card), [0xFF; 16]);
    // The birth-date PIN opens the age record.
    let birth = formats::surface_birth_date_pin(persona);
    assert_eq!(verify(&mut card, 0x0011, &birth), 0x9000);
    select_ef(&mut card, 0x0001);
    assert_eq!(read_at(&mut card, 0, 1).1, 0x9000);
}

#[test]
fn get_data_answers_with_no_application_selected() {
    let profile = CardProfile::built_in("default").unwrap();
    let mut card = card_with(CardBehaviour::default());
    let get = |card: &mut Card, tag: &str| send(card, &hexs(&format!("00 CA {tag} 00")));
    // Right after power-on.
    assert_eq!(get(&mut card, "00 F0"), (b"13101".to_vec(), 0x9000));
    assert_eq!(get(&mut card, "00 F2"), (b"20350412".to_vec(), 0x9000));
    assert_eq!(
        get(&mut card, "00 45"),
        (formats::card_serial(&profile).into_bytes(), 0x9000)
    );
    let (issuer, status) = get(&mut card, "00 42");
    assert_eq!((issuer.len(), status), (16, 0x9000));
    let (recognition, status) = get(&mut card, "00 66");
    assert_eq!((recognition[0], status), (0x73, 0x9000));
    let atr = profile.atr().unwrap();
    assert_eq!(get(&mut card, "5F 51"), (atr[1..].to_vec(), 0x9000));
    // This card is one of those without the second link; unknown tags.
    assert_eq!(get(&mut card, "7F 21").1, 0x6A88);
    assert_eq!(get(&mut card, "01 23").1, 0x6A88);
    // A short Le below an object's length: 6700, not a part of it.
    assert_eq!(sw(&mut card, "00 CA 00 F0 03"), 0x6700);
    assert_eq!(sw(&mut card, "00 CA 00 F0"), 0x6700);

    // With an application selected only the contact ATR answers.
    sw(&mut card, SELECT_JPKI);
    assert_eq!(get(&mut card, "00 F0").1, 0x6A88);
    assert_eq!(get(&mut card, "5F 51").1, 0x9000);
    // The issuer security domain brings the power-on state back.
    assert_eq!(sw(&mut card, "00 A4 04 0C 07 A0 00 00 01 51 00 00"), 0x9000);
    assert_eq!(get(&mut card, "00 F0"), (b"13101".to_vec(), 0x9000));

    // The contact ATR even in a contactless reader, which shows its own.
    let contactless = CardProfile::built_in("contactless").unwrap();
    let pki = personalize::simulated_jpki().unwrap();
    let mut card = personalize::issue(&contactless, &pki).unwrap().card;
    assert_ne!(card.atr(), atr);
    assert_eq!(get(&mut card, "5F 51"), (atr[1..].to_vec(), 0x9000));
    // A phone answers no data object.
    let android = CardProfile::built_in("android").unwrap();
    let mut phone = personalize::issue(&android, &pki).unwrap().card;
    assert_eq!(get(&mut phone, "00 F0").1, 0x6A88);
}

#[test]
fn get_challenge_gives_exactly_what_is_asked() {
    let mut card = card_with(CardBehaviour::default());
    for selected in [false, true] {
        if selected {
            sw(&mut card, SELECT_TEXT);
        }
        let (first, status) = send(&mut card, &hexs("00 84 00 00 08"));
        assert_eq!((first.len(), status), (8, 0x9000));
        let (second, _) = send(&mut card, &hexs("00 84 00 00 08"));
        assert_ne!(first, second, "a challenge is not repeated");
        let (long, status) = send(&mut card, &hexs("00 84 00 00 00"));
        assert_eq!((long.len(), status), (256, 0x9000));
    }
    // An extended Le is refused; so are other P1-P2 and a missing Le.
    assert_eq!(sw(&mut card, "00 84 00 00 00 00 10"), 0x6985);
    assert_eq!(sw(&mut card, "00 84 00 01 08"), 0x6A86);
    assert_eq!(sw(&mut card, "00 84 00 00"), 0x6700);
}

#[test]
fn secure_messaging_finds_no_session() {
    let mut card = card_with(CardBehaviour::default());
    sw(&mut card, SELECT_TEXT);
    assert_eq!(select_ef(&mut card, 0x0004), 0x9000);
    // READ BINARY with the expected-length object, VERIFY with a cryptogram.
    for cla in ["08", "0C"] {
        assert_eq!(
            sw(&mut card, &format!("{cla} B0 00 00 05 96 03 00 00 00 00")),
            0x69FC
        );
        assert_eq!(
            sw(&mut card, &format!("{cla} 20 00 91 03 86 01 01")),
            0x69FC
        );
        assert_eq!(
            sw(&mut card, &format!("{cla} A4 02 0C 03 86 01 01")),
            0x6882
        );
    }
    // Nothing was disturbed: the plain read still works.
    assert_eq!(read_at(&mut card, 0, 2), (vec![0x7F, 0x21], 0x9000));
}
