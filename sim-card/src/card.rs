//! The card: a state machine from command APDUs to response APDUs.
//!
//! Everything a reader can observe lives here: which application and EF are
//! selected, which PINs are verified, how many tries each PIN has left. The
//! volatile part (selection and verified PINs) is lost on power-off, reset and
//! selection of another application, exactly where clients expect it to be
//! lost (pcscd powers an idle card off after a few seconds). Whether
//! selecting the current application again loses it too differs between
//! the models public clients were written against: a card option
//! ([`crate::behaviour::Reselect`]).
//!
//! The card also knows what carries it ([`Variant`]), for the few commands a
//! phone answers differently from the plastic card (docs/client-apdus.md, Phones; public
//! facts are thin, so these are documented choices):
//!
//! - an iPhone has no PIN at the reader: VERIFY (with or without data) and
//!   CHANGE REFERENCE DATA answer `6D 00` (instruction not supported);
//! - an iPhone signs only while the holder's Face ID authentication is in
//!   force: from [`Card::authenticate_holder`]'s instant for the profile's
//!   window, `[at, at + window)`; outside it COMPUTE DIGITAL SIGNATURE
//!   answers `69 82`. That authentication is the phone's state, not the
//!   session's: power-off and reset keep it;
//! - an iPhone answers `80 FC 00 00` (its "last command" indicator) with
//!   `90 00`; the plastic card and an Android phone answer `67 00`.
//!
//! A command that answers with data needs an Le: READ BINARY, READ RECORD
//! and COMPUTE DIGITAL SIGNATURE sent without one (ISO 7816-4 case 1 or 3,
//! Ne = 0: "no response data expected") answer `67 00` and return nothing,
//! rather than more than the command asked for. What a real card does with a
//! case-3 signature is not documented publicly; every public JPKI client
//! (OpenSC, jpki-rs, myna, pyjpki) sends Le `00`, so no client relies on an
//! answer, and `67 00` tells a client that forgot Le at once (a documented
//! choice, `a_signature_without_le_is_refused`).
//!
//! Beyond the JPKI flow the card answers what real cards answer
//! (docs/card-reference.md, Commands): GET DATA of the card's own data
//! objects with no application selected, GET CHALLENGE, SET SESSION KEY as
//! each application answers it, and COMPUTE DIGITAL SIGNATURE with P2 `00`
//! on an application's own key. Secure messaging itself is not implemented:
//! a session key the text application accepts opens nothing, and every
//! command under a secure-messaging class answers as a card with no session
//! (see [`crate::apdu`]).
//!
//! Time comes in with each command ([`Card::process_at`]); the card never
//! reads the clock itself, so tests can use synthetic instants.

use std::time::{Duration, Instant};

use crate::apdu::{self, Class, Command};
use crate::behaviour::{CardBehaviour, Reselect, VerifiedPinQuery};
use crate::filesystem::{
    Access, Application, Content, Fid, PinFormat, SecurityStatus, SessionKeyDelivery,
};
use crate::iso7816::*;
use crate::mynumber::sha256_digest_info;
use crate::pin::{Pin, VerifyOutcome};
use crate::variant::Variant;

/// A response APDU: data followed by the status word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub data: Vec<u8>,
    pub sw: StatusWord,
}

impl Response {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.data.len() + 2);
        bytes.extend_from_slice(&self.data);
        bytes.extend_from_slice(&self.sw.to_bytes());
        bytes
    }
}

impl From<StatusWord> for Response {
    fn from(sw: StatusWord) -> Self {
        Response {
            data: Vec::new(),
            sw,
        }
    }
}

/// A data object GET DATA answers (P1-P2 = its tag), such as the card's
/// identification number: real cards answer these with no application
/// selected, where no EF is readable (soltia48/myna-card).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataObject {
    pub tag: u16,
    pub value: Vec<u8>,
    /// Whether GET DATA answers it with an application selected too (the
    /// contact ATR on some cards); the others answer only with none.
    pub with_application: bool,
}

/// The volatile state of one card session (from power-on to power-off).
#[derive(Debug, Default, Clone)]
struct CardSession {
    /// Index of the selected application.
    application: Option<usize>,
    /// The selected EF inside it.
    ef: Option<Fid>,
    /// PINs verified in the selected application since it was selected.
    verified: Vec<Fid>,
}

/// A virtual card.
#[derive(Debug, Clone)]
pub struct Card {
    atr: Vec<u8>,
    applications: Vec<Application>,
    /// What GET DATA answers.
    data_objects: Vec<DataObject>,
    session: CardSession,
    variant: Variant,
    /// Where this card behaves as one kind of real card and not another.
    behaviour: CardBehaviour,
    /// iPhone: how long the holder's authentication lasts.
    authentication_window: Duration,
    /// iPhone: when the holder last authenticated (Face ID). Kept across
    /// power-off: it lives in the phone, not in the card session.
    holder_authenticated_at: Option<Instant>,
}

/// How long an iPhone's holder authentication lasts when nothing says
/// otherwise (the profile's `phone.authentication_window_seconds` default).
pub const DEFAULT_AUTHENTICATION_WINDOW: Duration = Duration::from_secs(60);

/// Where a PIN lives: its application's AID and its EF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinRef {
    pub aid: &'static [u8],
    pub fid: Fid,
}

impl Card {
    /// A plastic card (contact) with this ATR and these applications, freshly
    /// powered.
    pub fn new(atr: Vec<u8>, applications: Vec<Application>) -> Self {
        Card {
            atr,
            applications,
            data_objects: Vec::new(),
            session: CardSession::default(),
            variant: Variant::default(),
            behaviour: CardBehaviour::default(),
            authentication_window: DEFAULT_AUTHENTICATION_WINDOW,
            holder_authenticated_at: None,
        }
    }

    /// The same card as carried by `variant`; `authentication_window` is how
    /// long an iPhone signs after [`Card::authenticate_holder`].
    pub fn carried_by(self, variant: Variant, authentication_window: Duration) -> Self {
        Card {
            variant,
            authentication_window,
            ..self
        }
    }

    /// The same card answering GET DATA with `objects`.
    pub fn with_data_objects(self, objects: Vec<DataObject>) -> Self {
        Card {
            data_objects: objects,
            ..self
        }
    }

    /// The same card behaving as `behaviour` says (see [`crate::behaviour`]).
    pub fn behaving(self, behaviour: CardBehaviour) -> Self {
        Card { behaviour, ..self }
    }

    /// Where this card behaves as one kind of real card and not another.
    pub fn behaviour(&self) -> CardBehaviour {
        self.behaviour
    }

    pub fn atr(&self) -> &[u8] {
        &self.atr
    }

    /// What carries the card.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// The holder authenticates on the phone (Face ID / Touch ID) at `at`:
    /// an iPhone then signs during `[at, at + window)`. A new authentication
    /// replaces the previous one. Returns false, and does nothing, on a card
    /// that is not an iPhone (a plastic card or an Android phone takes its
    /// PIN through the reader instead).
    pub fn authenticate_holder(&mut self, at: Instant) -> bool {
        if self.variant != Variant::Iphone {
            return false;
        }
        self.holder_authenticated_at = Some(at);
        true
    }

    /// Whether the holder's authentication on the phone is in force at `now`.
    pub fn holder_authenticated(&self, now: Instant) -> bool {
        self.holder_authenticated_at.is_some_and(|at| {
            now.checked_duration_since(at)
                .is_some_and(|elapsed| elapsed < self.authentication_window)
        })
    }

    /// Forgets the session: what power-off, reset and power-on all do.
    pub fn reset_session(&mut self) {
        self.session = CardSession::default();
    }

    /// Processes one command APDU now (reads the clock: for callers at the
    /// edge; the transports pass their own time to [`Card::process_at`]).
    pub fn process(&mut self, bytes: &[u8]) -> Response {
        self.process_at(bytes, Instant::now())
    }

    /// Processes one command APDU arriving at `now`.
    pub fn process_at(&mut self, bytes: &[u8], now: Instant) -> Response {
        let command = match apdu::parse(bytes) {
            Ok(command) => command,
            Err(sw) => return sw.into(),
        };
        match self.execute(&command, now) {
            Ok(data) => Response {
                data,
                sw: StatusWord::Ok,
            },
            Err(sw) => sw.into(),
        }
    }

    /// The tries left of a PIN (for control APIs and tests; a reader learns
    /// this only with an empty VERIFY).
    pub fn pin_tries_left(&self, pin: PinRef) -> Option<u8> {
        let app = self.applications.iter().find(|a| a.aid == pin.aid)?;
        match &app.file(pin.fid)?.content {
            Content::Pin { pin, .. } => Some(pin.tries_left()),
            _ => None,
        }
    }

    /// Sets the tries left of a PIN: 0 locks it, the maximum unlocks it. This
    /// is what the municipality's reset does, which no reader can.
    pub fn set_pin_tries_left(&mut self, pin: PinRef, tries_left: u8) -> bool {
        let Some(app) = self.applications.iter_mut().find(|a| a.aid == pin.aid) else {
            return false;
        };
        match app.pin_mut(pin.fid) {
            Some((p, _)) => {
                p.set_tries_left(tries_left);
                true
            }
            None => false,
        }
    }

    /// What the card has been shown, at `now`.
    fn security_status(&self, now: Instant) -> SecurityStatus<'_> {
        SecurityStatus {
            verified: &self.session.verified,
            holder_authenticated: self.holder_authenticated(now),
        }
    }

    fn execute(&mut self, c: &Command, now: Instant) -> Result<Vec<u8>, StatusWord> {
        let iphone = self.variant == Variant::Iphone;
        match (c.class, c.ins) {
            (Class::Interindustry, INS_SELECT) => self.select(c),
            (Class::Interindustry, INS_READ_BINARY) => self.read_binary(c, now),
            (Class::Interindustry, INS_READ_RECORD) => self.read_record(c, now),
            // An iPhone takes no PIN through the reader (documented choice).
            (Class::Interindustry, INS_VERIFY | INS_CHANGE_REFERENCE_DATA) if iphone => {
                Err(StatusWord::InsNotSupported)
            }
            (Class::Interindustry, INS_VERIFY) => self.verify(c),
            (Class::Interindustry, INS_CHANGE_REFERENCE_DATA) => self.change_reference_data(c),
            (Class::Interindustry, INS_GET_DATA) => self.get_data(c),
            (Class::Interindustry, INS_GET_CHALLENGE) => get_challenge(c),
            (Class::Interindustry, INS_INTERNAL_AUTHENTICATE) => self.internal_authenticate(c),
            (Class::Proprietary, INS_COMPUTE_DIGITAL_SIGNATURE) => self.sign(c, now),
            (Class::Proprietary, INS_SET_SESSION_KEY) => self.set_session_key(c, now),
            // The iPhone's last-command indicator, 80 FC 00 00.
            (Class::Proprietary, INS_LAST_COMMAND) if iphone => match c.p1p2() {
                0x0000 => Ok(Vec::new()),
                _ => Err(StatusWord::WrongP1P2),
            },
            // The plastic card (and an Android phone) does not know it.
            (Class::Proprietary, INS_LAST_COMMAND) => Err(StatusWord::WrongLength),
            (
                _,
                INS_SELECT
                | INS_READ_BINARY
                | INS_READ_RECORD
                | INS_VERIFY
                | INS_CHANGE_REFERENCE_DATA
                | INS_COMPUTE_DIGITAL_SIGNATURE
                | INS_LAST_COMMAND
                | INS_GET_DATA
                | INS_GET_CHALLENGE
                | INS_INTERNAL_AUTHENTICATE
                | INS_SET_SESSION_KEY,
            ) => Err(StatusWord::ClaNotSupported),
            _ => Err(StatusWord::InsNotSupported),
        }
    }

    fn application(&self) -> Option<&Application> {
        self.session.application.map(|i| &self.applications[i])
    }

    fn application_mut(&mut self) -> Option<&mut Application> {
        self.session.application.map(|i| &mut self.applications[i])
    }

    /// The selected EF's content, or the status word for its absence.
    fn current_content(&self) -> Result<&Content, StatusWord> {
        let ef = self.session.ef.ok_or(StatusWord::NoCurrentEf)?;
        self.application()
            .and_then(|app| app.file(ef))
            .map(|file| &file.content)
            .ok_or(StatusWord::NoCurrentEf)
    }

    fn select(&mut self, c: &Command) -> Result<Vec<u8>, StatusWord> {
        let wants_fci = match c.p2 {
            0x0C => false,
            0x00 | 0x04 => true,
            _ => return Err(StatusWord::WrongP1P2),
        };
        let fci = match c.p1 {
            // The MF: after a cold reset no DF is current and the card
            // refuses (6A86); once an application is current it answers
            // 9000 and nothing changes (soltia48/myna-card, on real cards).
            // By file ID (3F00 included) nothing is found.
            0x00 if c.data.is_empty() => {
                if self.session.application.is_none() {
                    return Err(StatusWord::WrongP1P2);
                }
                Vec::new()
            }
            0x00 => return Err(StatusWord::FileNotFound),
            // The GlobalPlatform issuer security domain: back to the state
            // after power-on, no application current.
            0x04 if c.data == GP_ISD_AID => {
                self.session = CardSession::default();
                dof(0x6F, &dof(0x84, c.data))
            }
            // By DF name (AID).
            0x04 => {
                if c.data.is_empty() {
                    return Err(StatusWord::WrongLength);
                }
                let index = self
                    .applications
                    .iter()
                    .position(|a| a.aid == c.data)
                    .ok_or(StatusWord::FileNotFound)?;
                // Selecting another application starts a new security
                // context on every card; selecting the current one again
                // does so only where the behaviour says (OpenSC's logout
                // relies on it, pyjpki's signing flow on the opposite).
                let again = self.session.application == Some(index);
                if again && self.behaviour.reselect == Reselect::Keep {
                    self.session.ef = None;
                } else {
                    self.session = CardSession {
                        application: Some(index),
                        ..CardSession::default()
                    };
                }
                dof(0x6F, &dof(0x84, c.data))
            }
            // By EF identifier under the current application.
            0x02 => {
                let [hi, lo] = c.data else {
                    return Err(StatusWord::WrongLength);
                };
                let fid = u16::from_be_bytes([*hi, *lo]);
                let file = self
                    .application()
                    .and_then(|app| app.file(fid))
                    .ok_or(StatusWord::FileNotFound)?;
                let fcp = file_control_parameters(fid, &file.content);
                self.session.ef = Some(fid);
                fcp
            }
            _ => return Err(StatusWord::WrongP1P2),
        };
        Ok(if wants_fci {
            truncate(fci, c.ne.unwrap_or(0))
        } else {
            Vec::new()
        })
    }

    fn read_binary(&mut self, c: &Command, now: Instant) -> Result<Vec<u8>, StatusWord> {
        let offset = if c.p1 & 0x80 != 0 {
            // Short EF identifier in P1, 8-bit offset in P2: selects the EF too.
            if c.p1 & 0x60 != 0 {
                return Err(StatusWord::WrongP1P2);
            }
            self.select_short_ef(c.p1 & 0x1F)?;
            usize::from(c.p2)
        } else {
            usize::from(c.p1p2())
        };
        let ne = c.ne.ok_or(StatusWord::WrongLength)?;
        let Content::Binary { data, read } = self.current_content()? else {
            return Err(StatusWord::IncompatibleWithFileStructure);
        };
        if !read.allows(self.security_status(now)) {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        if offset >= data.len() {
            return Err(StatusWord::OffsetOutsideEf);
        }
        let end = data.len().min(offset + ne);
        Ok(data[offset..end].to_vec())
    }

    fn read_record(&mut self, c: &Command, now: Instant) -> Result<Vec<u8>, StatusWord> {
        // P2: SFI in bits 8–4 (0 = current EF), 100 in bits 3–1 = "record number in P1".
        if c.p2 & 0x07 != 0x04 || c.p1 == 0 {
            return Err(StatusWord::WrongP1P2);
        }
        let sfi = c.p2 >> 3;
        if sfi != 0 {
            self.select_short_ef(sfi)?;
        }
        let ne = c.ne.ok_or(StatusWord::WrongLength)?;
        let Content::Records { records, read } = self.current_content()? else {
            return Err(StatusWord::IncompatibleWithFileStructure);
        };
        if !read.allows(self.security_status(now)) {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        let record = records
            .get(usize::from(c.p1) - 1)
            .ok_or(StatusWord::RecordNotFound)?;
        Ok(truncate(record.clone(), ne))
    }

    /// Selects EF `sfi` of the current application by its short identifier
    /// (the EF whose file ID is the SFI, as on this card).
    fn select_short_ef(&mut self, sfi: u8) -> Result<(), StatusWord> {
        let fid = Fid::from(sfi);
        if self.application().and_then(|app| app.file(fid)).is_none() {
            return Err(StatusWord::FileNotFound);
        }
        self.session.ef = Some(fid);
        Ok(())
    }

    /// The PIN EF the command addresses: P1 00 and P2 80 ("the PIN in the
    /// currently selected EF"), as every client of this card sends.
    fn addressed_pin(
        &mut self,
        c: &Command,
        p1: u8,
    ) -> Result<(Fid, &mut Pin, PinFormat), StatusWord> {
        if c.p1 != p1 || c.p2 != 0x80 {
            return Err(StatusWord::WrongP1P2);
        }
        let fid = self.session.ef.ok_or(StatusWord::NoCurrentEf)?;
        let (pin, format) = self
            .application_mut()
            .ok_or(StatusWord::NoCurrentEf)?
            .pin_mut(fid)
            .ok_or(StatusWord::IncompatibleWithFileStructure)?;
        Ok((fid, pin, format))
    }

    fn verify(&mut self, c: &Command) -> Result<Vec<u8>, StatusWord> {
        let (fid, pin, _) = self.addressed_pin(c, 0x00)?;
        if c.data.is_empty() {
            // A status query: 63Cx, even right after a successful VERIFY
            // (OpenSC and myna fail on anything else), unless this card
            // answers 9000 for a PIN verified in the session.
            let tries_left = pin.tries_left();
            let verified = self.session.verified.contains(&fid);
            return match self.behaviour.verified_pin_query {
                VerifiedPinQuery::Ok if verified => Ok(Vec::new()),
                _ => Err(StatusWord::RemainingRetries(tries_left)),
            };
        }
        let outcome = pin.verify(c.data);
        let verified = &mut self.session.verified;
        verified.retain(|v| *v != fid);
        match outcome {
            VerifyOutcome::Verified => {
                verified.push(fid);
                Ok(Vec::new())
            }
            VerifyOutcome::Wrong { tries_left } => Err(StatusWord::RemainingRetries(tries_left)),
            VerifyOutcome::Blocked => Err(StatusWord::ReferenceDataNotUsable),
        }
    }

    fn change_reference_data(&mut self, c: &Command) -> Result<Vec<u8>, StatusWord> {
        if c.data.is_empty() {
            return Err(StatusWord::WrongLength);
        }
        let verified = self.session.verified.clone();
        let (fid, pin, format) = self.addressed_pin(c, 0x01)?;
        if pin.is_blocked() {
            return Err(StatusWord::ReferenceDataNotUsable);
        }
        if !verified.contains(&fid) {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        if !format.accepts(c.data) {
            return Err(StatusWord::WrongData);
        }
        pin.change(c.data);
        Ok(Vec::new())
    }

    fn sign(&mut self, c: &Command, now: Instant) -> Result<Vec<u8>, StatusWord> {
        // P1 00: the card does not hash. P2 80: the key in the selected EF;
        // P2 00: the application's own key, with no SELECT (the text
        // application's EF 0013, the surface application's 001A;
        // soltia48/myna-card).
        let own_key = match (c.p1, c.p2) {
            (0x00, 0x80) => false,
            (0x00, 0x00) if self.application().is_some_and(|a| a.own_key.is_some()) => true,
            _ => return Err(StatusWord::WrongP1P2),
        };
        // Nothing to sign, or no Le for the signature (case 3): see the
        // module's documentation.
        if c.data.is_empty() || c.ne.is_none() {
            return Err(StatusWord::WrongLength);
        }
        let content = if own_key {
            self.application()
                .and_then(|app| app.file(app.own_key?))
                .map(|file| &file.content)
                .ok_or(StatusWord::NoCurrentEf)?
        } else {
            self.current_content()?
        };
        let Content::Key { key, access } = content else {
            return Err(StatusWord::IncompatibleWithFileStructure);
        };
        if !access.allows(self.security_status(now)) {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        key.sign(c.data)
    }

    /// GET DATA `00 CA P1 P2 Le`: the data object whose tag is P1-P2. With an
    /// application selected only the objects that answer there too; an
    /// absent object `6A88`. An object longer than Ne answers `6700` rather
    /// than a part of it (real cards refuse a short Le for their large
    /// objects, which clients then ask for with an extended Le).
    fn get_data(&self, c: &Command) -> Result<Vec<u8>, StatusWord> {
        if !c.data.is_empty() {
            return Err(StatusWord::WrongLength);
        }
        let ne = c.ne.ok_or(StatusWord::WrongLength)?;
        let tag = c.p1p2();
        let at_master_file = self.session.application.is_none();
        let object = self
            .data_objects
            .iter()
            .find(|o| o.tag == tag && (at_master_file || o.with_application))
            .ok_or(StatusWord::ReferencedDataNotFound)?;
        if object.value.len() > ne {
            return Err(StatusWord::WrongLength);
        }
        Ok(object.value.clone())
    }

    /// INTERNAL AUTHENTICATE `00 88 00 80|SFI Lc <challenge> Le`: the key EF
    /// named by its short identifier signs the challenge, which the card
    /// hashes: PKCS#1 v1.5 over `DigestInfo(SHA-256(challenge))`, no
    /// credential. Only the application's authentication key answers (the
    /// 共通AP's `0019`); a key behind a PIN answers `6982`, a key that signs
    /// through COMPUTE DIGITAL SIGNATURE instead `6985`; a challenge of 1 to
    /// 255 bytes (soltia48/myna-card, on real cards). Another P2, or an EF
    /// that is no key: `6A86` and `6A82` (documented choice).
    fn internal_authenticate(&self, c: &Command) -> Result<Vec<u8>, StatusWord> {
        let sfi = c.p2 & 0x1F;
        if c.p1 != 0x00 || c.p2 & 0xE0 != 0x80 || sfi == 0 {
            return Err(StatusWord::WrongP1P2);
        }
        if c.data.is_empty() || c.data.len() > 255 || c.ne.is_none() {
            return Err(StatusWord::WrongLength);
        }
        let app = self.application().ok_or(StatusWord::FileNotFound)?;
        let fid = Fid::from(sfi);
        let Some(Content::Key { key, access }) = app.file(fid).map(|f| &f.content) else {
            return Err(StatusWord::FileNotFound);
        };
        if app.authentication_key != Some(fid) {
            return Err(match access {
                Access::Always => StatusWord::ConditionsOfUseNotSatisfied,
                _ => StatusWord::SecurityStatusNotSatisfied,
            });
        }
        let digest = openssl::sha::sha256(c.data);
        key.sign(&sha256_digest_info(&digest))
    }

    /// SET SESSION KEY `80 AE 00 00 Lc <cryptogram>`, as the application
    /// selected answers it ([`SessionKeyDelivery`]). With no application
    /// selected, `66F1` (documented choice: nothing there delivers a key).
    /// The access condition is checked before anything is decrypted, as on
    /// real cards.
    fn set_session_key(&self, c: &Command, now: Instant) -> Result<Vec<u8>, StatusWord> {
        if c.p1p2() != 0x0000 {
            return Err(StatusWord::WrongP1P2);
        }
        let delivery = self
            .application()
            .map_or(&SessionKeyDelivery::NotConfigured, |app| &app.session_key);
        match delivery {
            SessionKeyDelivery::NotConfigured => Err(StatusWord::NoKeyDelivery),
            SessionKeyDelivery::Refused => Err(StatusWord::SecurityStatusNotSatisfied),
            SessionKeyDelivery::Accepted { key, access } => {
                if !access.allows(self.security_status(now)) {
                    return Err(StatusWord::SecurityStatusNotSatisfied);
                }
                if c.data.is_empty() {
                    return Err(StatusWord::WrongLength);
                }
                let delivered = key.decrypt(c.data)?;
                if !is_key_delivery(&delivered) {
                    return Err(StatusWord::WrongData);
                }
                Ok(Vec::new())
            }
        }
    }

    /// A one-line description of what `command` asks of this card in its
    /// current state, for traces: `VERIFY auth PIN`, `READ BINARY auth
    /// certificate @0 Le=4`. Never includes PIN values.
    pub fn describe(&self, bytes: &[u8]) -> String {
        let c = match apdu::parse(bytes) {
            Ok(c) => c,
            Err(sw) => return format!("malformed ({})", sw.meaning()),
        };
        let app_named = |aid: &[u8]| {
            self.applications.iter().find(|a| a.aid == aid).map_or_else(
                || format!("AID {}", hex::encode_upper(aid)),
                |a| a.name.to_string(),
            )
        };
        let ef_named = |fid: Fid| match self.application().and_then(|a| a.file(fid)) {
            Some(f) => format!("EF {fid:04X} ({})", f.name),
            None => format!("EF {fid:04X}"),
        };
        let current = || {
            self.session
                .ef
                .map_or_else(|| "no EF".to_string(), ef_named)
        };
        let le = || c.ne.map_or_else(String::new, |n| format!(" Le={n}"));
        match c.ins {
            INS_SELECT if c.p1 == 0x04 => format!("SELECT {}", app_named(c.data)),
            INS_SELECT if c.data.len() == 2 => {
                format!(
                    "SELECT {}",
                    ef_named(u16::from_be_bytes([c.data[0], c.data[1]]))
                )
            }
            INS_SELECT => "SELECT".into(),
            INS_READ_BINARY if c.p1 & 0x80 != 0 => format!(
                "READ BINARY {} @{}{}",
                ef_named(Fid::from(c.p1 & 0x1F)),
                c.p2,
                le()
            ),
            INS_READ_BINARY => format!("READ BINARY {} @{}{}", current(), c.p1p2(), le()),
            INS_READ_RECORD => format!("READ RECORD {} #{}", ef_named(Fid::from(c.p2 >> 3)), c.p1),
            INS_VERIFY if c.data.is_empty() => format!("VERIFY {} (status query)", current()),
            INS_VERIFY => format!("VERIFY {} ({} digits)", current(), c.data.len()),
            INS_CHANGE_REFERENCE_DATA => format!("CHANGE REFERENCE DATA {}", current()),
            INS_COMPUTE_DIGITAL_SIGNATURE if c.p2 == 0x00 => format!(
                "COMPUTE DIGITAL SIGNATURE, the application's own key ({} bytes)",
                c.data.len()
            ),
            INS_COMPUTE_DIGITAL_SIGNATURE => format!(
                "COMPUTE DIGITAL SIGNATURE {} ({} bytes)",
                current(),
                c.data.len()
            ),
            INS_LAST_COMMAND => "LAST COMMAND".into(),
            INS_GET_DATA => format!("GET DATA {:04X}{}", c.p1p2(), le()),
            INS_GET_CHALLENGE => format!("GET CHALLENGE{}", le()),
            INS_INTERNAL_AUTHENTICATE => format!(
                "INTERNAL AUTHENTICATE {} ({} bytes)",
                ef_named(Fid::from(c.p2 & 0x1F)),
                c.data.len()
            ),
            INS_SET_SESSION_KEY => format!("SET SESSION KEY ({} bytes)", c.data.len()),
            ins => format!("INS {ins:02X}"),
        }
    }
}

/// The AID of the GlobalPlatform issuer security domain
/// (`A0 00 00 01 51 00 00`), which real cards answer: selecting it leaves
/// every application.
pub const GP_ISD_AID: &[u8] = &[0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00];

/// GET CHALLENGE `00 84 00 00 Le`: Ne random bytes, 1 to 256 exactly, with
/// or without an application selected; an extended Le answers `6985`
/// (soltia48/myna-card, on real cards). The bytes come from OpenSSL's
/// generator: a challenge must be unpredictable, so this is the one answer
/// no test can know in advance.
fn get_challenge(c: &Command) -> Result<Vec<u8>, StatusWord> {
    if c.p1p2() != 0x0000 {
        return Err(StatusWord::WrongP1P2);
    }
    if !c.data.is_empty() {
        return Err(StatusWord::WrongLength);
    }
    let ne = c.ne.ok_or(StatusWord::WrongLength)?;
    if c.extended {
        return Err(StatusWord::ConditionsOfUseNotSatisfied);
    }
    let mut challenge = vec![0; ne];
    openssl::rand::rand_bytes(&mut challenge).map_err(|_| StatusWord::NoPreciseDiagnosis)?;
    Ok(challenge)
}

/// The key-delivery object SET SESSION KEY carries, once decrypted:
/// `A0 22 { 80 20 <32 bytes> }`, the encryption key alone (the text
/// application answers `6A80` to the forms with a checksum key,
/// soltia48/myna-card).
fn is_key_delivery(plaintext: &[u8]) -> bool {
    matches!(plaintext, [0xA0, 0x22, 0x80, 0x20, key @ ..] if key.len() == 32)
}

/// A BER-TLV data object with a one-byte tag (lengths up to 255).
fn dof(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    if value.len() >= 0x80 {
        out.push(0x81);
    }
    out.push(value.len() as u8);
    out.extend_from_slice(value);
    out
}

/// The FCP template answered to SELECT of an EF with P2 00.
fn file_control_parameters(fid: Fid, content: &Content) -> Vec<u8> {
    // File descriptor byte: 01 transparent, 02 linear fixed; keys and PINs
    // are internal EFs (11).
    let (descriptor, size) = match content {
        Content::Binary { data, .. } => (0x01, data.len()),
        Content::Records { records, .. } => (0x02, records.iter().map(Vec::len).sum()),
        Content::Pin { .. } | Content::Key { .. } | Content::Internal => (0x11, 0),
    };
    let mut fcp = dof(0x80, &(size as u16).to_be_bytes());
    fcp.extend(dof(0x82, &[descriptor]));
    fcp.extend(dof(0x83, &fid.to_be_bytes()));
    dof(0x62, &fcp)
}

fn truncate(mut data: Vec<u8>, ne: usize) -> Vec<u8> {
    data.truncate(ne);
    data
}

/// Power events end the session; what lives in the phone (an iPhone's Face
/// ID window) is not the session's and stays.
impl crate::SmartCard for Card {
    fn atr(&self) -> Vec<u8> {
        Card::atr(self).to_vec()
    }

    fn power_on(&mut self, _now: Instant) {
        self.reset_session();
    }

    fn power_off(&mut self, _now: Instant) {
        self.reset_session();
    }

    fn reset(&mut self, _now: Instant) {
        self.reset_session();
    }

    fn transmit(&mut self, command: &[u8], now: Instant) -> Vec<u8> {
        self.process_at(command, now).to_bytes()
    }

    fn describe(&self, command: &[u8]) -> String {
        Card::describe(self, command)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod phone_tests;
