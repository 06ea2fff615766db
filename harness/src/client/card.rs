//! What the client says to the card: the JPKI-AP commands of the flow, and
//! the answers it understands.
//!
//! Only the commands a conforming client needs are here: SELECT, READ BINARY
//! in short APDUs (≤ 256 bytes: Debian's vpcd and many readers have no
//! extended APDUs), the empty VERIFY that reads tries left, one VERIFY with
//! the PIN, and COMPUTE DIGITAL SIGNATURE. Nothing here reads the text AP's
//! My Number. The PIN goes into exactly one place, [`verify_pin`]'s command,
//! and into no error or log.
//!
//! Every command goes through [`exchange`], which also speaks T=0 as PC/SC
//! shows it: `6C xx` (wrong Le) resends the same command once with Le = xx,
//! and `61 xx` fetches the rest with GET RESPONSE `00 C0 00 00 xx` until the
//! card says `90 00`, so the steps see whole answers on any reader.
//! [`TimedChannel`] gives up on a card that takes too long for one command.
//!
//! The names (status words, command APDUs, AIDs, file IDs, the DigestInfo
//! prefix) are `sim_card::iso7816` and `sim_card::mynumber`: public ISO 7816
//! and JPKI facts, shared with the card and the benches, with no simulation
//! in them. What this client does with the answers is its own.

use std::time::{Duration, Instant};

use openssl::sha::sha256;
use sim_card::iso7816::{
    EMPTY_VERIFY, StatusWord, compute_digital_signature, get_response, read_binary, select_aid,
    select_ef as select_ef_command, verify,
};
use sim_card::mynumber::{EF_AUTH_CERTIFICATE, EF_AUTH_KEY, EF_AUTH_PIN, JPKI_AID};

use super::{CardChannel, CardError};

/// The largest certificate the client accepts: READ BINARY offsets have 15
/// bits, and a real auth certificate is ~1.6 kB.
const MAX_CERTIFICATE_LEN: usize = 0x7FFF;

/// Why a card step did not give what the flow needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardFault {
    /// The reader or the card went away.
    Channel(CardError),
    /// The JPKI-AP is not there (6A82 to its SELECT): not a My Number card, or
    /// an iPhone whose card is not opened in Wallet.
    NoJpkiApplet,
    /// The card answered a status the flow does not expect at that step.
    Unexpected { step: &'static str, sw: StatusWord },
    /// The card's data cannot be what it should be.
    BadData(String),
}

impl From<CardError> for CardFault {
    fn from(e: CardError) -> Self {
        CardFault::Channel(e)
    }
}

impl std::fmt::Display for CardFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CardFault::Channel(e) => write!(f, "{e}"),
            CardFault::NoJpkiApplet => write!(
                f,
                "no JPKI applet (6A82): for an iPhone, the patient must open the My Number card in Wallet first"
            ),
            CardFault::Unexpected { step, sw } => {
                write!(f, "the card answered {sw} to {step}")
            }
            CardFault::BadData(what) => write!(f, "unreadable card data: {what}"),
        }
    }
}

/// At most this many GET RESPONSEs for one command: 64 KiB, more than any
/// answer of this card; a card that keeps saying `61xx` is broken.
const MAX_GET_RESPONSES: usize = 256;

/// Sends one command and returns its whole answer, data and status word,
/// following the T=0 procedure bytes (see the module documentation).
pub fn exchange(
    card: &mut dyn CardChannel,
    command: &[u8],
) -> Result<(Vec<u8>, StatusWord), CardFault> {
    let (mut data, mut sw) = exchange_with_le_fixed(card, command)?;
    let mut fetched = 0;
    while let StatusWord::MoreData(waiting) = sw {
        fetched += 1;
        if fetched > MAX_GET_RESPONSES {
            return Err(CardFault::BadData(format!(
                "the card still announces data (61xx) after {MAX_GET_RESPONSES} GET RESPONSEs"
            )));
        }
        let (more, next) = exchange_with_le_fixed(card, &get_response(waiting))?;
        data.extend_from_slice(&more);
        sw = next;
    }
    Ok((data, sw))
}

/// Sends one command; after `6C xx` sends it once more with Le = xx.
fn exchange_with_le_fixed(
    card: &mut dyn CardChannel,
    command: &[u8],
) -> Result<(Vec<u8>, StatusWord), CardFault> {
    let (data, sw) = transmit(card, command)?;
    let again = match sw {
        StatusWord::WrongLe(le) => with_le(command, le),
        _ => None,
    };
    match again {
        Some(again) => transmit(card, &again),
        None => Ok((data, sw)),
    }
}

/// The short command APDU with its Le byte replaced, if it has one (cases 2
/// and 4); `None` for commands without Le, which no `6Cxx` can be about.
fn with_le(command: &[u8], le: u8) -> Option<Vec<u8>> {
    let has_le = match command {
        [_, _, _, _, _] => true,
        [_, _, _, _, lc, rest @ ..] => *lc != 0 && rest.len() == usize::from(*lc) + 1,
        _ => false,
    };
    has_le.then(|| {
        let mut again = command.to_vec();
        if let Some(last) = again.last_mut() {
            *last = le;
        }
        again
    })
}

/// Sends one command as it is; splits the answer into data and status word.
fn transmit(
    card: &mut dyn CardChannel,
    command: &[u8],
) -> Result<(Vec<u8>, StatusWord), CardFault> {
    let mut response = card.transmit(command)?;
    let Some(sw) = StatusWord::of_response(&response) else {
        return Err(CardFault::BadData(format!(
            "a response of {} bytes has no status word",
            response.len()
        )));
    };
    response.truncate(response.len() - 2);
    Ok((response, sw))
}

/// Sends one command that must answer 9000.
fn expect_ok(
    card: &mut dyn CardChannel,
    step: &'static str,
    command: &[u8],
) -> Result<Vec<u8>, CardFault> {
    match exchange(card, command)? {
        (data, StatusWord::Ok) => Ok(data),
        (_, sw) => Err(CardFault::Unexpected { step, sw }),
    }
}

/// SELECT the JPKI-AP. Whether selecting it again clears the card's security
/// state differs between cards, so the flow selects it once per card session
/// and depends on neither.
pub fn select_jpki(card: &mut dyn CardChannel) -> Result<(), CardFault> {
    match exchange(card, &select_aid(JPKI_AID))? {
        (_, StatusWord::Ok) => Ok(()),
        (_, StatusWord::FileNotFound) => Err(CardFault::NoJpkiApplet),
        (_, sw) => Err(CardFault::Unexpected {
            step: "SELECT JPKI-AP",
            sw,
        }),
    }
}

/// SELECT an EF of the JPKI-AP.
pub fn select_ef(
    card: &mut dyn CardChannel,
    fid: u16,
    step: &'static str,
) -> Result<(), CardFault> {
    expect_ok(card, step, &select_ef_command(fid)).map(drop)
}

/// Reads the user-authentication certificate as OpenSC does: the first 4
/// bytes give the DER length, then chunks of at most 256 bytes from 0.
pub fn read_auth_certificate(card: &mut dyn CardChannel) -> Result<Vec<u8>, CardFault> {
    select_ef(
        card,
        EF_AUTH_CERTIFICATE,
        "SELECT EF 000A (auth certificate)",
    )?;
    let head = expect_ok(card, "READ BINARY EF 000A (length)", &read_binary(0, 4))?;
    let len = der_length(&head)?;
    let mut der = Vec::with_capacity(len);
    while der.len() < len {
        let offset = u16::try_from(der.len())
            .map_err(|_| CardFault::BadData("certificate offset past 15 bits".into()))?;
        let want = (len - der.len()).min(256);
        let chunk = expect_ok(card, "READ BINARY EF 000A", &read_binary(offset, want))?;
        if chunk.is_empty() {
            // A card that answers 9000 with no data would loop forever.
            return Err(CardFault::BadData(format!(
                "the certificate ends at {} of {len} bytes",
                der.len()
            )));
        }
        der.extend_from_slice(&chunk);
    }
    der.truncate(len);
    Ok(der)
}

/// The whole length of a DER SEQUENCE from its first 4 bytes.
fn der_length(head: &[u8]) -> Result<usize, CardFault> {
    let len = match head {
        [0x30, 0x82, hi, lo, ..] => usize::from(u16::from_be_bytes([*hi, *lo])) + 4,
        [0x30, 0x81, n, ..] => usize::from(*n) + 3,
        [0x30, n, ..] if *n < 0x80 => usize::from(*n) + 2,
        _ => {
            return Err(CardFault::BadData(
                "EF 000A does not start with a DER certificate".into(),
            ));
        }
    };
    if len > MAX_CERTIFICATE_LEN {
        return Err(CardFault::BadData(format!("a certificate of {len} bytes")));
    }
    Ok(len)
}

/// SELECT EF 0018 and send the empty VERIFY: the auth PIN's tries left, at
/// no cost to them.
pub fn auth_pin_tries_left(card: &mut dyn CardChannel) -> Result<u8, CardFault> {
    select_ef(card, EF_AUTH_PIN, "SELECT EF 0018 (auth PIN)")?;
    let (_, sw) = exchange(card, &EMPTY_VERIFY)?;
    sw.remaining_retries().ok_or(CardFault::Unexpected {
        step: "VERIFY EF 0018 (tries left)",
        sw,
    })
}

/// What a VERIFY with the PIN did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinVerdict {
    Verified,
    /// Wrong; this many tries remain (never 0: that is `Locked`).
    Wrong(u8),
    /// Locked now (the wrong PIN used the last try) or already (6984).
    Locked,
}

/// VERIFY the auth PIN (EF 0018 must be selected): one attempt, never more.
pub fn verify_pin(card: &mut dyn CardChannel, pin: &str) -> Result<PinVerdict, CardFault> {
    let (_, sw) = exchange(card, &verify(pin))?;
    match sw {
        StatusWord::Ok => Ok(PinVerdict::Verified),
        StatusWord::RemainingRetries(0) | StatusWord::ReferenceDataNotUsable => {
            Ok(PinVerdict::Locked)
        }
        StatusWord::RemainingRetries(n) => Ok(PinVerdict::Wrong(n)),
        _ => Err(CardFault::Unexpected {
            step: "VERIFY EF 0018",
            sw,
        }),
    }
}

/// The SHA-256 DigestInfo of `message`: what the card signs (it applies the
/// PKCS#1 v1.5 padding itself).
pub fn sha256_digest_info(message: &[u8]) -> Vec<u8> {
    sim_card::mynumber::sha256_digest_info(&sha256(message))
}

/// What COMPUTE DIGITAL SIGNATURE did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signed {
    Signature(Vec<u8>),
    /// 6982: the key wants its PIN (or, on an iPhone, Face ID) first.
    NeedsAuthentication,
}

/// SELECT EF 0017 and sign the SHA-256 DigestInfo of `challenge` with the
/// auth key: `80 2A 00 80 Lc <DigestInfo> 00`.
pub fn sign_challenge(card: &mut dyn CardChannel, challenge: &[u8]) -> Result<Signed, CardFault> {
    select_ef(card, EF_AUTH_KEY, "SELECT EF 0017 (auth key)")?;
    let command = compute_digital_signature(&sha256_digest_info(challenge));
    match exchange(card, &command)? {
        (data, StatusWord::Ok) if !data.is_empty() => Ok(Signed::Signature(data)),
        (_, StatusWord::Ok) => Err(CardFault::BadData("an empty signature".into())),
        (_, StatusWord::SecurityStatusNotSatisfied) => Ok(Signed::NeedsAuthentication),
        (_, sw) => Err(CardFault::Unexpected {
            step: "COMPUTE DIGITAL SIGNATURE",
            sw,
        }),
    }
}

/// A channel that gives up on a card taking longer than `limit` for one
/// command: the answer is dropped and [`CardError::NoAnswer`] returned, so
/// the flow ends instead of waiting on. The time is measured around each
/// transmit, which works the same in process and over PC/SC.
pub struct TimedChannel<'a> {
    inner: &'a mut dyn CardChannel,
    limit: Duration,
}

impl<'a> TimedChannel<'a> {
    pub fn new(inner: &'a mut dyn CardChannel, limit: Duration) -> Self {
        TimedChannel { inner, limit }
    }
}

impl CardChannel for TimedChannel<'_> {
    fn connect(&mut self) -> Result<Vec<u8>, CardError> {
        self.inner.connect()
    }

    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, CardError> {
        let started = Instant::now();
        let answer = self.inner.transmit(command)?;
        if started.elapsed() > self.limit {
            return Err(CardError::NoAnswer {
                limit_ms: u64::try_from(self.limit.as_millis()).unwrap_or(u64::MAX),
            });
        }
        Ok(answer)
    }

    fn disconnect(&mut self) {
        self.inner.disconnect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths() {
        assert_eq!(der_length(&[0x30, 0x82, 0x06, 0x25]), Ok(0x625 + 4));
        assert_eq!(der_length(&[0x30, 0x81, 0x90, 0x00]), Ok(0x93));
        assert!(der_length(&[0xFF, 0xFF, 0xFF, 0xFF]).is_err());
        assert!(der_length(&[]).is_err());
    }

    /// A channel answering from a script, keeping what it was sent.
    struct Scripted {
        answers: std::collections::VecDeque<Vec<u8>>,
        sent: Vec<String>,
        takes: Duration,
    }

    impl Scripted {
        fn new(answers: &[Vec<u8>]) -> Self {
            Scripted {
                answers: answers.iter().cloned().collect(),
                sent: Vec::new(),
                takes: Duration::ZERO,
            }
        }
    }

    impl CardChannel for Scripted {
        fn connect(&mut self) -> Result<Vec<u8>, CardError> {
            Ok(vec![0x3B, 0x00])
        }
        fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, CardError> {
            self.sent.push(hex::encode_upper(command));
            std::thread::sleep(self.takes);
            self.answers.pop_front().ok_or(CardError::Removed)
        }
        fn disconnect(&mut self) {}
    }

    fn answer(data_len: usize, sw: [u8; 2]) -> Vec<u8> {
        let mut a: Vec<u8> = (0..data_len).map(|i| i as u8).collect();
        a.extend(sw);
        a
    }

    #[test]
    fn t0_61xx_is_fetched_with_get_response_and_concatenated() {
        let mut card = Scripted::new(&[
            vec![0x61, 0x00],
            answer(256, [0x61, 0x2C]),
            answer(44, [0x90, 0x00]),
        ]);
        let (data, sw) = exchange(&mut card, &[0x80, 0x2A, 0x00, 0x80, 0x01, 0xAB, 0x00]).unwrap();
        assert_eq!((data.len(), sw), (300, StatusWord::Ok));
        assert_eq!(card.sent[1..], ["00C0000000", "00C000002C"]);
    }

    #[test]
    fn t0_6cxx_resends_the_command_with_that_le_once() {
        let mut card = Scripted::new(&[vec![0x6C, 0x25], answer(0x25, [0x90, 0x00])]);
        let (data, sw) = exchange(&mut card, &read_binary(0x0600, 256)).unwrap();
        assert_eq!((data.len(), sw), (0x25, StatusWord::Ok));
        assert_eq!(card.sent, ["00B0060000", "00B0060025"]);
        // A second 6Cxx is the card's problem, not a loop.
        let mut card = Scripted::new(&[vec![0x6C, 0x25], vec![0x6C, 0x24]]);
        assert_eq!(
            exchange(&mut card, &read_binary(0, 256)).unwrap().1,
            StatusWord::WrongLe(0x24)
        );
        assert_eq!(card.sent.len(), 2);
        // A command without Le is never "resent with Le".
        let mut card = Scripted::new(&[vec![0x6C, 0x25]]);
        assert_eq!(
            exchange(&mut card, &EMPTY_VERIFY).unwrap().1,
            StatusWord::WrongLe(0x25)
        );
        assert_eq!(card.sent.len(), 1);
    }

    #[test]
    fn endless_61xx_is_bad_data() {
        let answers = vec![vec![0x61, 0x10]; MAX_GET_RESPONSES + 2];
        let mut card = Scripted::new(&answers);
        assert!(matches!(
            exchange(&mut card, &[0x80, 0x2A, 0x00, 0x80, 0x01, 0xAB, 0x00]),
            Err(CardFault::BadData(_))
        ));
        assert_eq!(card.sent.len(), MAX_GET_RESPONSES + 1);
    }

    #[test]
    fn a_card_slower_than_the_limit_gives_no_answer() {
        let mut slow = Scripted::new(&[vec![0x90, 0x00], vec![0x90, 0x00]]);
        slow.takes = Duration::from_millis(20);
        let mut timed = TimedChannel::new(&mut slow, Duration::from_millis(1));
        assert_eq!(
            timed.transmit(&EMPTY_VERIFY),
            Err(CardError::NoAnswer { limit_ms: 1 })
        );
        let mut timed = TimedChannel::new(&mut slow, Duration::from_secs(60));
        assert_eq!(timed.transmit(&EMPTY_VERIFY), Ok(vec![0x90, 0x00]));
    }

    #[test]
    fn digest_info_is_51_bytes() {
        assert_eq!(sha256_digest_info(b"x").len(), 51);
    }
}
