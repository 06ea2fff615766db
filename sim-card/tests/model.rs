//! The issued card against a shadow model: bounded random sequences of what
//! a reader can do to the JPKI-AP (SELECT of the AP, of an EF or of a
//! missing one, VERIFY right, wrong and empty, CHANGE REFERENCE DATA,
//! READ BINARY, COMPUTE DIGITAL SIGNATURE with and without Le and with the
//! application's own key (P2 `00`, which the JPKI-AP has not), GET DATA,
//! GET CHALLENGE, commands under secure messaging, power off/on/reset,
//! garbage APDUs), each answer compared with what a model of its PINs,
//! security state and files says it must be.
//!
//! The model is written from the card's documented behaviour (ISO 7816-4
//! status words, docs/client-apdus.md), not from its code: it holds each
//! PIN's value and tries, the selection and the verified PINs, and the two
//! certificates; every signature is checked against the certificate of its
//! key. After each sequence the card's PIN counters must equal the model's.
//!
//! CI runs `KAZASU_MODEL_CASES` sequences (default 500, of up to 48
//! commands); a longer run for people:
//! `KAZASU_MODEL_CASES=20000 cargo test -p sim-card --release --test model`.
//! The test prints the number of sequences, commands and signatures checked.

use std::cell::Cell;
use std::io::Write;
use std::sync::OnceLock;
use std::time::Instant;

use openssl::hash::MessageDigest;
use openssl::sha::sha256;
use openssl::sign::Verifier;
use openssl::x509::X509;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sim_card::SmartCard;
use sim_card::card::Card;
use sim_card::iso7816::{read_binary, select_aid, select_ef};
use sim_card::mynumber::{
    EF_AUTH_CERTIFICATE, EF_AUTH_KEY, EF_AUTH_PIN, EF_SIGN_CERTIFICATE, EF_SIGN_KEY, EF_SIGN_PIN,
    JPKI_AID, sha256_digest_info,
};
use sim_card::personalize::{self, AUTH_PIN, IssuedCard, SIGN_PIN};
use sim_card::profile::CardProfile;

/// An EF the JPKI-AP does not have.
const EF_MISSING: u16 = 0x0099;
/// An AID no application of the card has.
const MISSING_AID: &[u8] = &[0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x09];
/// The instructions the card knows; garbage uses any other. (GET DATA, GET
/// CHALLENGE, INTERNAL AUTHENTICATE and SET SESSION KEY answer data or 9000
/// to some byte strings, so garbage must not use them either.)
const KNOWN_INS: [u8; 11] = [
    0xA4, 0xB0, 0xB2, 0x20, 0x24, 0x2A, 0xFC, 0xCA, 0x84, 0x88, 0xAE,
];

/// Which of the two PINs (and the key and certificate each one opens).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Auth,
    Sign,
}

#[derive(Debug, Clone)]
enum Op {
    SelectJpki,
    SelectMissingAid,
    SelectEf(u16),
    VerifyRight,
    VerifyWrong(Vec<u8>),
    VerifyEmpty,
    /// CHANGE REFERENCE DATA to a value of either PIN format (the card
    /// refuses one the addressed PIN does not take).
    Change(Vec<u8>),
    /// Offset, and Le (None: case 1, no Le; 256 is `00`).
    ReadBinary(u16, Option<u16>),
    /// The message whose SHA-256 DigestInfo is signed, and whether Le is sent.
    Sign(Vec<u8>, bool),
    /// COMPUTE DIGITAL SIGNATURE with P2 `00`: no own key in the JPKI-AP.
    SignOwnKey,
    /// GET DATA of this tag, short Le `00`.
    GetData(u16),
    /// GET CHALLENGE with this Ne (1 to 256).
    GetChallenge(u16),
    /// This instruction under the secure-messaging class `0C`.
    SecureMessaging(u8),
    PowerOff,
    PowerOn,
    Reset,
    Garbage(Vec<u8>),
    /// What a client does before it signs: SELECT the AP, SELECT the PIN
    /// EF, VERIFY the right PIN, SELECT the key EF (four commands). Random
    /// sequences alone rarely line these up.
    Login(Which),
}

/// The commands an op stands for.
fn expand(op: &Op) -> Vec<Op> {
    match op {
        Op::Login(which) => vec![
            Op::SelectJpki,
            Op::SelectEf(match which {
                Which::Auth => EF_AUTH_PIN,
                Which::Sign => EF_SIGN_PIN,
            }),
            Op::VerifyRight,
            Op::SelectEf(match which {
                Which::Auth => EF_AUTH_KEY,
                Which::Sign => EF_SIGN_KEY,
            }),
        ],
        op => vec![op.clone()],
    }
}

fn op() -> impl Strategy<Value = Op> {
    let fid = prop::sample::select(vec![
        EF_AUTH_CERTIFICATE,
        EF_SIGN_CERTIFICATE,
        EF_AUTH_KEY,
        EF_SIGN_KEY,
        EF_AUTH_PIN,
        EF_SIGN_PIN,
        EF_MISSING,
    ]);
    let four_digits = "[0-9]{4}".prop_map(String::into_bytes);
    let password = "[A-Z0-9]{6,16}".prop_map(String::into_bytes);
    let any_pin = prop_oneof![
        four_digits.clone(),
        password.clone(),
        prop::collection::vec(any::<u8>(), 1..20)
    ];
    let garbage = (
        prop::collection::vec(any::<u8>(), 0..300),
        any::<u8>().prop_filter("an unknown instruction", |ins| !KNOWN_INS.contains(ins)),
    )
        .prop_map(|(mut bytes, ins)| {
            if let Some(b) = bytes.get_mut(1) {
                *b = ins;
            }
            bytes
        });
    prop_oneof![
        3 => Just(Op::SelectJpki),
        1 => Just(Op::SelectMissingAid),
        6 => fid.prop_map(Op::SelectEf),
        4 => Just(Op::VerifyRight),
        4 => any_pin.clone().prop_map(Op::VerifyWrong),
        2 => Just(Op::VerifyEmpty),
        2 => prop_oneof![four_digits, password, any_pin].prop_map(Op::Change),
        4 => (
            prop_oneof![0u16..8, 0u16..0x0800, Just(0x7FFF)],
            prop::option::weighted(0.9, 1u16..=256)
        )
            .prop_map(|(offset, le)| Op::ReadBinary(offset, le)),
        3 => (prop::collection::vec(any::<u8>(), 0..64), prop::bool::weighted(0.8))
            .prop_map(|(m, le)| Op::Sign(m, le)),
        1 => Just(Op::SignOwnKey),
        2 => prop::sample::select(vec![0x00F0, 0x0045, 0x5F51, 0x7F21, 0x1234]).prop_map(Op::GetData),
        1 => (1u16..=256).prop_map(Op::GetChallenge),
        1 => prop::sample::select(vec![0xB0, 0x20, 0xA4, 0x2A]).prop_map(Op::SecureMessaging),
        1 => Just(Op::PowerOff),
        1 => Just(Op::PowerOn),
        1 => Just(Op::Reset),
        2 => garbage.prop_map(Op::Garbage),
        3 => prop_oneof![Just(Which::Auth), Just(Which::Sign)].prop_map(Op::Login),
    ]
}

/// One PIN as the model sees it.
#[derive(Debug, Clone)]
struct ModelPin {
    value: Vec<u8>,
    tries_left: u8,
    max_tries: u8,
}

/// The shadow: what the card must hold after each command.
#[derive(Debug, Clone)]
struct Model {
    auth: ModelPin,
    sign: ModelPin,
    jpki_selected: bool,
    ef: Option<u16>,
    verified: Vec<Which>,
}

/// What a selected EF is, for the model.
enum File {
    Certificate(Which),
    Key(Which),
    Pin(Which),
}

fn file(fid: u16) -> Option<File> {
    Some(match fid {
        EF_AUTH_CERTIFICATE => File::Certificate(Which::Auth),
        EF_SIGN_CERTIFICATE => File::Certificate(Which::Sign),
        EF_AUTH_KEY => File::Key(Which::Auth),
        EF_SIGN_KEY => File::Key(Which::Sign),
        EF_AUTH_PIN => File::Pin(Which::Auth),
        EF_SIGN_PIN => File::Pin(Which::Sign),
        _ => return None,
    })
}

impl Model {
    fn new() -> Self {
        Model {
            auth: ModelPin {
                value: b"1234".to_vec(),
                tries_left: 3,
                max_tries: 3,
            },
            sign: ModelPin {
                value: b"ABC123".to_vec(),
                tries_left: 5,
                max_tries: 5,
            },
            jpki_selected: false,
            ef: None,
            verified: Vec::new(),
        }
    }

    fn pin(&mut self, which: Which) -> &mut ModelPin {
        match which {
            Which::Auth => &mut self.auth,
            Which::Sign => &mut self.sign,
        }
    }

    fn end_session(&mut self) {
        self.jpki_selected = false;
        self.ef = None;
        self.verified.clear();
    }

    /// The PIN EF selected, or the status word VERIFY and CHANGE REFERENCE
    /// DATA answer without one.
    fn selected_pin(&self) -> Result<Which, u16> {
        match self.ef.map(file) {
            None => Err(0x6986),
            Some(Some(File::Pin(which))) => Ok(which),
            Some(_) => Err(0x6981),
        }
    }

    /// Access to a certificate or key: the auth certificate is free, the
    /// rest needs its PIN verified in this session.
    fn allows(&self, file: &File) -> bool {
        match file {
            File::Certificate(Which::Auth) => true,
            File::Certificate(which) | File::Key(which) | File::Pin(which) => {
                self.verified.contains(which)
            }
        }
    }
}

/// What the model says an answer must be: a status word, and data when the
/// command returns some.
#[derive(Debug, PartialEq, Eq)]
enum Expected {
    Sw(u16),
    Data(Vec<u8>),
    /// A 256-byte signature by this key, `90 00`.
    Signature(Which, Vec<u8>),
    /// Anything but `90 00`, with no data (garbage).
    Refused,
    /// This many bytes nobody can predict (a challenge), `90 00`.
    Random(usize),
}

struct World {
    issued: IssuedCard,
    /// The card's serial, GET DATA `0045`.
    serial: Vec<u8>,
    auth: X509,
    sign: X509,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let pki = personalize::simulated_jpki().unwrap();
        let profile = CardProfile::built_in("default").unwrap();
        let issued = personalize::issue(&profile, &pki).unwrap();
        World {
            serial: sim_card::formats::card_serial(&profile).into_bytes(),
            auth: X509::from_der(&issued.auth_certificate).unwrap(),
            sign: X509::from_der(&issued.sign_certificate).unwrap(),
            issued,
        }
    })
}

impl World {
    fn certificate_bytes(&self, which: Which) -> &[u8] {
        match which {
            Which::Auth => &self.issued.auth_certificate,
            Which::Sign => &self.issued.sign_certificate,
        }
    }

    /// The certificate EF as the default card allocates it: the DER, then
    /// the filler byte to the end of the allocation.
    fn certificate_ef(&self, which: Which) -> Vec<u8> {
        let behaviour = sim_card::behaviour::CardBehaviour::default();
        let mut ef = self.certificate_bytes(which).to_vec();
        ef.resize(
            usize::from(behaviour.certificate_allocation),
            behaviour.filler,
        );
        ef
    }

    fn certificate(&self, which: Which) -> &X509 {
        match which {
            Which::Auth => &self.auth,
            Which::Sign => &self.sign,
        }
    }
}

/// Applies `op` to the model and says what the card must answer, with the
/// APDU to send (None for power events).
fn step(model: &mut Model, op: &Op, world: &World) -> (Option<Vec<u8>>, Expected) {
    use Expected::*;
    match op {
        Op::SelectJpki => {
            // Selecting the JPKI-AP again keeps the verified PINs (the
            // default card's `reselect = "keep"`); it forgets the EF.
            if model.jpki_selected {
                model.ef = None;
            } else {
                model.end_session();
            }
            model.jpki_selected = true;
            (Some(select_aid(JPKI_AID)), Sw(0x9000))
        }
        Op::SelectMissingAid => (Some(select_aid(MISSING_AID)), Sw(0x6A82)),
        Op::SelectEf(fid) => {
            let sw = if model.jpki_selected && file(*fid).is_some() {
                model.ef = Some(*fid);
                0x9000
            } else {
                0x6A82
            };
            (Some(select_ef(*fid)), Sw(sw))
        }
        Op::VerifyRight | Op::VerifyWrong(_) => {
            let which = model.selected_pin();
            let attempt = match (op, which) {
                (Op::VerifyWrong(value), Ok(w)) if *value == model.pin(w).value => {
                    // Made wrong: one more byte than the PIN.
                    let mut v = value.clone();
                    v.push(b'0');
                    v
                }
                (Op::VerifyWrong(value), _) => value.clone(),
                (_, Ok(w)) => model.pin(w).value.clone(),
                (_, Err(_)) => b"1234".to_vec(),
            };
            let mut apdu = vec![0x00, 0x20, 0x00, 0x80, attempt.len() as u8];
            apdu.extend_from_slice(&attempt);
            let which = match which {
                Ok(which) => which,
                Err(sw) => return (Some(apdu), Sw(sw)),
            };
            model.verified.retain(|v| *v != which);
            let pin = model.pin(which);
            let sw = if pin.tries_left == 0 {
                0x6984
            } else if attempt == pin.value {
                pin.tries_left = pin.max_tries;
                model.verified.push(which);
                0x9000
            } else {
                pin.tries_left -= 1;
                0x63C0 | u16::from(pin.tries_left)
            };
            (Some(apdu), Sw(sw))
        }
        Op::VerifyEmpty => {
            let sw = match model.selected_pin() {
                Ok(which) => 0x63C0 | u16::from(model.pin(which).tries_left),
                Err(sw) => sw,
            };
            (Some(vec![0x00, 0x20, 0x00, 0x80]), Sw(sw))
        }
        Op::Change(value) => {
            let mut apdu = vec![0x00, 0x24, 0x01, 0x80, value.len() as u8];
            apdu.extend_from_slice(value);
            let which = match model.selected_pin() {
                Ok(which) => which,
                Err(sw) => return (Some(apdu), Sw(sw)),
            };
            let verified = model.verified.contains(&which);
            let accepts = match which {
                Which::Auth => value.len() == 4 && value.iter().all(u8::is_ascii_digit),
                Which::Sign => {
                    (6..=16).contains(&value.len())
                        && value
                            .iter()
                            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                }
            };
            let pin = model.pin(which);
            let sw = if pin.tries_left == 0 {
                0x6984
            } else if !verified {
                0x6982
            } else if !accepts {
                0x6A80
            } else {
                pin.value = value.clone();
                0x9000
            };
            (Some(apdu), Sw(sw))
        }
        Op::ReadBinary(offset, le) => {
            let apdu = match le {
                Some(le) => read_binary(*offset, usize::from(*le)),
                None => {
                    let [p1, p2] = offset.to_be_bytes();
                    vec![0x00, 0xB0, p1, p2]
                }
            };
            let expected = match (le, model.ef.map(file)) {
                (None, _) => Sw(0x6700),
                (_, None) => Sw(0x6986),
                (Some(le), Some(Some(f @ File::Certificate(which)))) => {
                    let data = world.certificate_ef(which);
                    let offset = usize::from(*offset);
                    if !model.allows(&f) {
                        Sw(0x6982)
                    } else if offset >= data.len() {
                        Sw(0x6B00)
                    } else {
                        let end = data.len().min(offset + usize::from(*le));
                        Data(data[offset..end].to_vec())
                    }
                }
                (Some(_), Some(_)) => Sw(0x6981),
            };
            (Some(apdu), expected)
        }
        Op::Sign(message, with_le) => {
            let digest_info = sha256_digest_info(&sha256(message));
            let mut apdu = vec![0x80, 0x2A, 0x00, 0x80, digest_info.len() as u8];
            apdu.extend_from_slice(&digest_info);
            if *with_le {
                apdu.push(0x00);
            }
            let expected = match (*with_le, model.ef.map(file)) {
                (false, _) => Sw(0x6700),
                (true, None) => Sw(0x6986),
                (true, Some(Some(f @ File::Key(which)))) => {
                    if model.allows(&f) {
                        Signature(which, message.clone())
                    } else {
                        Sw(0x6982)
                    }
                }
                (true, Some(_)) => Sw(0x6981),
            };
            (Some(apdu), expected)
        }
        Op::PowerOff | Op::PowerOn | Op::Reset => {
            model.end_session();
            (None, Sw(0x9000))
        }
        Op::SignOwnKey => {
            let digest_info = sha256_digest_info(&sha256(b"challenge"));
            let mut apdu = vec![0x80, 0x2A, 0x00, 0x00, digest_info.len() as u8];
            apdu.extend_from_slice(&digest_info);
            apdu.push(0x00);
            (Some(apdu), Sw(0x6A86))
        }
        Op::GetData(tag) => {
            let [p1, p2] = tag.to_be_bytes();
            let apdu = vec![0x00, 0xCA, p1, p2, 0x00];
            // Every object with no application selected; only the contact
            // ATR with one.
            let expected = match (*tag, model.jpki_selected) {
                (0x5F51, _) => Data(world.issued.card.atr()[1..].to_vec()),
                (0x00F0, false) => Data(b"13101".to_vec()),
                (0x0045, false) => Data(world.serial.clone()),
                _ => Sw(0x6A88),
            };
            (Some(apdu), expected)
        }
        Op::GetChallenge(ne) => {
            let le = (*ne % 256) as u8;
            (
                Some(vec![0x00, 0x84, 0x00, 0x00, le]),
                Random(usize::from(*ne)),
            )
        }
        Op::SecureMessaging(ins) => {
            let sw = match ins {
                0xB0 | 0x20 => 0x69FC,
                _ => 0x6882,
            };
            (Some(vec![0x0C, *ins, 0x00, 0x00, 0x00]), Sw(sw))
        }
        Op::Garbage(bytes) => (Some(bytes.clone()), Refused),
        Op::Login(_) => unreachable!("expanded before it is sent"),
    }
}

/// Counts for the closing line (cells: the runner takes a `Fn`).
#[derive(Default)]
struct Counts {
    sequences: Cell<u64>,
    commands: Cell<u64>,
    signatures: Cell<u64>,
}

fn add(counter: &Cell<u64>) {
    counter.set(counter.get() + 1);
}

fn run_sequence(ops: &[Op], counts: &Counts) -> Result<(), TestCaseError> {
    let world = world();
    let mut card: Card = world.issued.card.clone();
    let mut model = Model::new();
    let now = Instant::now();
    for (i, op) in ops.iter().flat_map(expand).enumerate() {
        let op = &op;
        let (apdu, expected) = step(&mut model, op, world);
        add(&counts.commands);
        let Some(apdu) = apdu else {
            match op {
                Op::PowerOff => card.power_off(now),
                Op::PowerOn => card.power_on(now),
                _ => card.reset(now),
            }
            continue;
        };
        let answer = card.process_at(&apdu, now);
        let (data, sw) = (answer.data, answer.sw.to_u16());
        let context = || format!("command {i} {op:?} ({})", hex::encode_upper(&apdu));
        match expected {
            Expected::Sw(want) => {
                prop_assert_eq!(sw, want, "{}", context());
                prop_assert!(data.is_empty(), "{}: data with {sw:04X}", context());
            }
            Expected::Data(want) => {
                prop_assert_eq!(sw, 0x9000, "{}", context());
                prop_assert_eq!(data, want, "{}", context());
            }
            Expected::Signature(which, message) => {
                prop_assert_eq!(sw, 0x9000, "{}", context());
                prop_assert_eq!(data.len(), 256, "{}", context());
                let key = world.certificate(which).public_key().unwrap();
                let mut verifier = Verifier::new(MessageDigest::sha256(), &key).unwrap();
                verifier.update(&message).unwrap();
                prop_assert!(
                    verifier.verify(&data).unwrap(),
                    "{}: not a signature by the {which:?} key",
                    context()
                );
                add(&counts.signatures);
            }
            Expected::Random(len) => {
                prop_assert_eq!(sw, 0x9000, "{}", context());
                prop_assert_eq!(data.len(), len, "{}", context());
            }
            Expected::Refused => {
                prop_assert_ne!(sw, 0x9000, "{}", context());
                prop_assert!(data.is_empty(), "{}", context());
            }
        }
    }
    for (pin, which) in [(AUTH_PIN, Which::Auth), (SIGN_PIN, Which::Sign)] {
        prop_assert_eq!(card.pin_tries_left(pin), Some(model.pin(which).tries_left));
    }
    add(&counts.sequences);
    Ok(())
}

#[test]
fn the_card_follows_its_model() {
    let cases = std::env::var("KAZASU_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let counts = Counts::default();
    let result = runner.run(&prop::collection::vec(op(), 1..48), |ops| {
        run_sequence(&ops, &counts)
    });
    // Written to the process's stderr directly, which the test harness does
    // not capture: CI's log shows how much was checked.
    writeln!(
        std::io::stderr(),
        "card model: {} sequences, {} commands, {} signatures checked",
        counts.sequences.get(),
        counts.commands.get(),
        counts.signatures.get()
    )
    .unwrap();
    if let Err(e) = result {
        panic!("{e}");
    }
}
