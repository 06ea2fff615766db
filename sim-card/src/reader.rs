//! Reader variants: what stands between a transport and a card, and what a
//! vendor's client must survive at a real counter.
//!
//! A client tested only against the ideal reader (extended APDUs, T=1,
//! instant answers, a card that never slips) can still fail in the field.
//! [`SimulatedReader`] wraps any [`SmartCard`] and behaves like one of the readers the
//! client will meet, as a [`ReaderProfile`] describes it. It is sans-IO like
//! the card: it never sleeps, it says how long a command takes
//! ([`SmartCard::processing_time`]) and the transports wait.
//!
//! The default profile is the reader kazasu always had: every APDU passes
//! through unchanged, at once, and the card stays in the field.
//!
//! # `apdu = "short"`: a reader (or driver) without extended APDUs
//!
//! An extended command APDU never reaches the card: the reader answers
//! `67 00` (wrong length) itself, which is what a client sees through PC/SC
//! when the driver refuses a command longer than its short-APDU buffer. A
//! response of more than 256 data bytes (impossible for a short command to a
//! well-behaved card) is answered `6F 00` rather than cut.
//!
//! # `protocol = "t0"`: the card behind a T=0 reader, as PC/SC shows it
//!
//! Under ISO/IEC 7816-3 T=0 the card cannot send data in the same exchange as
//! a command that carried data, and must be told exactly how many bytes to
//! send. PC/SC hands the procedure bytes to the application as they are, so
//! the application sees, per ISO case of the command:
//!
//! | case | command | answer under T=0 |
//! |---|---|---|
//! | 1, 3 | no Le (SELECT `P2=0C`, VERIFY, CHANGE REFERENCE DATA) | as under T=1 |
//! | 4 | data and Le (SELECT with FCI `P2=00`, COMPUTE DIGITAL SIGNATURE) answered `90 00` with data | `61 xx`: xx = the bytes waiting (`00` for 256 or more); the data comes with GET RESPONSE `00 C0 00 00 xx`, in chunks of at most 256, each answered `61 yy` while more remains and `90 00` with the last |
//! | 2 | Le only (READ BINARY, READ RECORD, GET RESPONSE) answered `90 00` with fewer data bytes than Le asked (Le `00` = 256) | `6C xx`, no data: xx = the bytes the card has; the same command with Le = xx gets them |
//! | any | answered with an error or warning status | as under T=1 |
//! | extended | any | `67 00`: T=0 carries short APDUs only (no ENVELOPE here) |
//!
//! Any command other than GET RESPONSE discards data still waiting. A GET
//! RESPONSE with nothing waiting answers `69 85`.
//!
//! # `latency`: how long the card takes
//!
//! `none` (0), `real-card`, `phone` or `{ fixed_ms = N }` per command; see
//! [`Latency::of`] for the figures and where they come from.
//!
//! # `field = { flaky = { seed, drop_percent } }`: an unsteady hand
//!
//! Each command has `drop_percent` % chance that the card leaves the field as
//! it arrives: the card never sees the command, loses power (selection and
//! verified PINs are gone), and [`SmartCard::transmit`] answers **empty**,
//! which every transport reports as a removal. Until the next power-on every
//! command answers empty again. The draws come from a generator seeded with
//! `seed` (xorshift), one per command, so the same seed and the same commands
//! drop at the same places on every machine.

use std::time::{Duration, Instant};

use rand_core::{Rng, SeedableRng};
use rand_xorshift::XorShiftRng;
use serde::{Deserialize, Serialize};

use crate::SmartCard;
use crate::apdu;
use crate::iso7816::{self, CLA_INTERINDUSTRY, INS_GET_RESPONSE, SHORT_LE_MAX, StatusWord};

/// The reader a card is held to (`[card.reader]` in a scenario).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ReaderProfile {
    /// `"extended"` (default) or `"short"`: whether extended APDUs get through.
    #[serde(default)]
    pub apdu: ApduSupport,
    /// `"t1"` (default) or `"t0"`: `61xx` + GET RESPONSE, `6Cxx` for a wrong Le.
    #[serde(default)]
    pub protocol: Protocol,
    /// How long each command takes.
    #[serde(default)]
    pub latency: Latency,
    /// Whether the card stays in the field.
    #[serde(default)]
    pub field: Field,
}

/// Which APDU lengths the reader carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum ApduSupport {
    /// Short and extended APDUs.
    #[default]
    Extended,
    /// Short APDUs only: an extended one is answered `67 00` by the reader.
    Short,
}

/// The transmission protocol, as the application sees it through PC/SC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// T=1: responses come whole with their command.
    #[default]
    T1,
    /// T=0: `61xx` then GET RESPONSE for case 4, `6Cxx` for a case 2 with the wrong Le.
    T0,
}

/// How long the card takes per command.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Latency {
    /// Answers at once.
    #[default]
    None,
    /// A physical My Number card in a contact or contactless reader.
    RealCard,
    /// A smartphone (its JPKI applet) held to an NFC reader: a slower link.
    Phone,
    /// The same time for every command, in milliseconds.
    #[serde(rename = "fixed_ms")]
    FixedMs(u64),
}

/// Whether the card stays in the reader's field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Field {
    /// The card stays until the reader lets it go.
    #[default]
    Stable,
    /// The card may leave at any command (seeded, reproducible).
    Flaky(FlakyField),
}

/// An unsteady contactless field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct FlakyField {
    /// Seeds the draws: the same seed drops at the same commands.
    pub seed: u64,
    /// The chance, in percent (0–100), that the card leaves at a command.
    pub drop_percent: u8,
}

/// The longest fixed latency a profile may ask for: beyond it a scenario
/// would wait for nothing (client time-outs are seconds).
pub const MAX_FIXED_MS: u64 = 60_000;

impl ReaderProfile {
    /// Whether this is the default reader (nothing changed).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Refuses values that cannot be meant: a drop chance over 100 % or a
    /// fixed latency over [`MAX_FIXED_MS`]. The error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if let Field::Flaky(flaky) = self.field
            && flaky.drop_percent > 100
        {
            return Err(format!(
                "field.flaky.drop_percent is {}: a percentage, 0 to 100",
                flaky.drop_percent
            ));
        }
        if let Latency::FixedMs(ms) = self.latency
            && ms > MAX_FIXED_MS
        {
            return Err(format!(
                "latency.fixed_ms is {ms}: at most {MAX_FIXED_MS} ms"
            ));
        }
        Ok(())
    }
}

/// What a command costs the card and its link, by kind.
#[derive(Debug, Clone, Copy)]
struct Costs {
    select: Duration,
    /// Fixed part of a command that returns data (READ BINARY/RECORD, GET RESPONSE).
    read: Duration,
    /// Per byte returned (Le), through the link.
    per_byte: Duration,
    verify_status: Duration,
    verify: Duration,
    sign: Duration,
    other: Duration,
}

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A physical My Number card.
///
/// No per-command measurements of a My Number card are published that we
/// could find (searched: jpki/myna issues, blog posts about reading the card);
/// these are **estimates**, from: ISO/IEC 14443 Type B at 212 kbit/s
/// (≈ 0.05 ms per byte on the wire, about twice that with framing and the
/// reader's turnaround, so ≈ 0.11 ms per byte), contact readers in the same
/// range; the few milliseconds a smart card's OS takes to parse and answer a
/// command (SELECT ≈ 15 ms, including the file lookup); PIN comparison with
/// the retry counter written to EEPROM (≈ 50 ms); and RSA-2048 private-key
/// operations on smart-card coprocessors taking hundreds of milliseconds
/// ("a real card takes hundreds of milliseconds per signature";
/// 400 ms here). READ BINARY of 256 bytes: 8 + 256 × 0.11 ≈ 36 ms. A whole
/// PIN flow (certificate of ~1.6 kB in 7 chunks) comes to about 0.8 s.
const REAL_CARD: Costs = Costs {
    select: ms(15),
    read: ms(8),
    per_byte: Duration::from_micros(110),
    verify_status: ms(20),
    verify: ms(50),
    sign: ms(400),
    other: ms(10),
};

/// A smartphone's JPKI applet over NFC (**estimates**, as [`REAL_CARD`]): the
/// phone's NFC stack adds a turnaround of ~10–20 ms to every exchange, bytes
/// cross about half as fast (≈ 0.25 ms per byte), and the signature is made
/// in the phone's secure element (≈ 600 ms).
const PHONE: Costs = Costs {
    select: ms(30),
    read: ms(20),
    per_byte: Duration::from_micros(250),
    verify_status: ms(35),
    verify: ms(60),
    sign: ms(600),
    other: ms(25),
};

impl Latency {
    /// How long `command` takes under this latency. Bytes that do not parse
    /// as an APDU cost what "any other command" costs.
    pub fn of(self, command: &[u8]) -> Duration {
        let costs = match self {
            Latency::None => return Duration::ZERO,
            Latency::FixedMs(n) => return ms(n),
            Latency::RealCard => REAL_CARD,
            Latency::Phone => PHONE,
        };
        let Ok(c) = apdu::parse(command) else {
            return costs.other;
        };
        let returned = |ne: Option<usize>| {
            let bytes = u32::try_from(ne.unwrap_or(0)).unwrap_or(u32::MAX);
            costs.read + costs.per_byte * bytes
        };
        match c.ins {
            iso7816::INS_SELECT => costs.select,
            iso7816::INS_READ_BINARY | iso7816::INS_READ_RECORD | INS_GET_RESPONSE => {
                returned(c.ne)
            }
            iso7816::INS_VERIFY if c.data.is_empty() => costs.verify_status,
            iso7816::INS_VERIFY | iso7816::INS_CHANGE_REFERENCE_DATA => costs.verify,
            iso7816::INS_COMPUTE_DIGITAL_SIGNATURE => costs.sign,
            _ => costs.other,
        }
    }
}

/// A card in a reader of a given profile. See the module documentation.
#[derive(Debug)]
pub struct SimulatedReader<C> {
    card: C,
    profile: ReaderProfile,
    /// T=0: the data of the last case-4 command, waiting for GET RESPONSE.
    waiting: Vec<u8>,
    /// Draws for the flaky field (`None` for a stable one).
    rng: Option<XorShiftRng>,
    /// False from the moment the card left the field until the next power-on.
    in_field: bool,
}

impl<C> SimulatedReader<C> {
    pub fn new(card: C, profile: ReaderProfile) -> Self {
        let rng = match profile.field {
            Field::Stable => None,
            Field::Flaky(flaky) => Some(XorShiftRng::seed_from_u64(flaky.seed)),
        };
        SimulatedReader {
            card,
            profile,
            waiting: Vec::new(),
            rng,
            in_field: true,
        }
    }

    pub fn card(&self) -> &C {
        &self.card
    }

    pub fn card_mut(&mut self) -> &mut C {
        &mut self.card
    }

    pub fn profile(&self) -> &ReaderProfile {
        &self.profile
    }

    /// Whether the card is in the field (false after a flaky drop, until power-on).
    pub fn in_field(&self) -> bool {
        self.in_field
    }

    /// Whether the reader carries short APDUs only (a short-APDU reader, or T=0).
    fn short_only(&self) -> bool {
        self.profile.apdu == ApduSupport::Short || self.profile.protocol == Protocol::T0
    }

    /// One draw of the flaky field: whether the card leaves at this command.
    fn leaves_now(&mut self) -> bool {
        let (Field::Flaky(flaky), Some(rng)) = (self.profile.field, self.rng.as_mut()) else {
            return false;
        };
        // Maps a uniform u32 onto [0, 100) without modulo bias worth the name.
        let draw = (u64::from(rng.next_u32()) * 100) >> 32;
        draw < u64::from(flaky.drop_percent)
    }

    /// GET RESPONSE under T=0: the next part of the waiting data.
    fn get_response(&mut self, le: usize) -> Vec<u8> {
        if self.waiting.is_empty() {
            return StatusWord::ConditionsOfUseNotSatisfied.to_bytes().to_vec();
        }
        if le > self.waiting.len() {
            return wrong_le(self.waiting.len());
        }
        let mut answer: Vec<u8> = self.waiting.drain(..le).collect();
        answer.extend_from_slice(&if self.waiting.is_empty() {
            StatusWord::Ok.to_bytes()
        } else {
            more_data(self.waiting.len())
        });
        answer
    }
}

/// `61 xx`: xx bytes wait for GET RESPONSE (`00` for 256 or more).
fn more_data(len: usize) -> [u8; 2] {
    StatusWord::MoreData(short_length(len)).to_bytes()
}

/// `6C xx`: resend with Le = xx.
fn wrong_le(available: usize) -> Vec<u8> {
    StatusWord::WrongLe(short_length(available))
        .to_bytes()
        .to_vec()
}

/// A length as a short APDU's one byte says it: 256 or more is `00`.
fn short_length(len: usize) -> u8 {
    (len.min(SHORT_LE_MAX) % SHORT_LE_MAX) as u8
}

/// Whether `command` is a GET RESPONSE the T=0 reader answers (`00 C0 00 00 Le`).
fn get_response_le(command: &[u8]) -> Option<usize> {
    match command {
        [CLA_INTERINDUSTRY, INS_GET_RESPONSE, 0x00, 0x00, le] => {
            Some(if *le == 0 { 256 } else { usize::from(*le) })
        }
        _ => None,
    }
}

impl<C: SmartCard> SmartCard for SimulatedReader<C> {
    fn atr(&self) -> Vec<u8> {
        self.card.atr()
    }

    fn power_on(&mut self, now: Instant) {
        self.in_field = true;
        self.waiting.clear();
        self.card.power_on(now);
    }

    fn power_off(&mut self, now: Instant) {
        self.waiting.clear();
        self.card.power_off(now);
    }

    fn reset(&mut self, now: Instant) {
        self.waiting.clear();
        self.card.reset(now);
    }

    fn transmit(&mut self, command: &[u8], now: Instant) -> Vec<u8> {
        if !self.in_field {
            return Vec::new();
        }
        if self.leaves_now() {
            // Out of the field as the command arrives: the card never sees
            // it, and loses its power and with it the session.
            self.in_field = false;
            self.waiting.clear();
            self.card.power_off(now);
            return Vec::new();
        }
        let parsed = apdu::parse(command).ok();
        if self.short_only() && parsed.is_some_and(|c| c.extended) {
            self.waiting.clear();
            return StatusWord::WrongLength.to_bytes().to_vec();
        }
        let response = if self.profile.protocol == Protocol::T0 {
            if let Some(le) = get_response_le(command) {
                return self.get_response(le);
            }
            self.waiting.clear();
            let response = self.card.transmit(command, now);
            match (parsed, StatusWord::of_response(&response)) {
                (Some(c), Some(StatusWord::Ok)) if response.len() > 2 => {
                    let data = &response[..response.len() - 2];
                    match c.ne {
                        // Case 4: the data waits for GET RESPONSE.
                        Some(_) if !c.data.is_empty() => {
                            self.waiting = data.to_vec();
                            return more_data(data.len()).to_vec();
                        }
                        // Case 2 with an Le the card cannot fill exactly.
                        Some(ne) if ne != data.len() && data.len() <= SHORT_LE_MAX => {
                            return wrong_le(data.len());
                        }
                        _ => response,
                    }
                }
                _ => response,
            }
        } else {
            self.card.transmit(command, now)
        };
        if self.short_only() && response.len() > SHORT_LE_MAX + 2 {
            return StatusWord::NoPreciseDiagnosis.to_bytes().to_vec();
        }
        response
    }

    fn describe(&self, command: &[u8]) -> String {
        match get_response_le(command) {
            Some(le) => format!("GET RESPONSE Le={le}"),
            None => self.card.describe(command),
        }
    }

    fn processing_time(&self, command: &[u8]) -> Duration {
        if self.short_only() && apdu::parse(command).is_ok_and(|c| c.extended) {
            // Refused by the reader: the card is not involved.
            return Duration::ZERO;
        }
        self.profile.latency.of(command) + self.card.processing_time(command)
    }
}

#[cfg(test)]
mod tests;
