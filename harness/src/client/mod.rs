//! The reference client: what マイナ資格確認アプリ does, as a library.
//!
//! It reads the card through a [`CardChannel`] (PC/SC or in-process), talks to
//! the service through a [`ServiceClient`](service::ServiceClient), and answers the way the manual
//! tells staff to act: tries left after a wrong PIN, lock guidance and the
//! switch to visual confirmation, photo-less cards, expired certificates,
//! unregistered cards (registration with consent), maintenance, service errors
//! and time-outs, a card removed mid-read. It never reads the My Number, never
//! sends a PIN in visual mode, and never retries a wrong PIN by itself.
//!
//! This module holds the vocabulary every part of the client shares (the
//! inputs, the outcome, the card channel) and nothing else: the parts depend
//! on it, it depends on none of them, so there is no path back. The entry
//! point of a check is [`flow::check`].

use serde::{Deserialize, Serialize};

pub mod app;
pub mod card;
pub mod flow;
pub mod in_process;
pub mod misbehave;
pub mod pcsc;
pub mod render;
pub mod service;

/// How the patient's identity is checked (本人確認の方法).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// 目視: staff compares the card's photo with the patient; no PIN.
    Visual,
    /// 暗証番号: the patient types the auth PIN (4 digits).
    Pin,
    /// iPhone: Face ID / Touch ID on the patient's phone; no PIN at the app.
    Iphone,
    /// Android: the patient types the smartphone certificate's PIN.
    Android,
}

/// What the staff and the patient do at the counter: the client's inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInputs {
    pub method: Method,
    /// The PIN the patient types (PIN and Android methods). Never logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// The patient agrees to register the card for health-insurance use when
    /// the service says it is not registered.
    #[serde(default)]
    pub consent_to_register: bool,
    /// What the staff sees: false for a card issued without a photo, which
    /// rules out visual confirmation.
    #[serde(default = "yes")]
    pub card_has_photo: bool,
    /// 医療機関等コード.
    #[serde(default = "default_facility")]
    pub facility: String,
    /// The confirming device's name.
    #[serde(default = "default_device")]
    pub device: String,
    /// How long to wait for the service before giving up, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How long the card may take for one command before the app gives up
    /// on it, in milliseconds (a real card signs in well under a second).
    #[serde(default = "default_card_timeout_ms")]
    pub card_timeout_ms: u64,
    /// The facility's CharacterCodeIdentifier (its environment setting): `0`
    /// UTF-8, `1` Shift_JIS. The service answers in the facility's character
    /// code, with the characters Shift_JIS lacks substituted.
    #[serde(default, skip_serializing_if = "CharacterCode::is_utf8")]
    pub character_code_identifier: CharacterCode,
    /// Select the JPKI-AP again between VERIFY and COMPUTE DIGITAL SIGNATURE,
    /// as pyjpki's signing flow does: a client written against cards that
    /// keep the verified PIN across that re-selection (the default card
    /// does; a card with `reselect = "clear"` answers 6982). The reference
    /// flow selects the application once per card session and depends on
    /// neither.
    #[serde(default, skip_serializing_if = "is_false")]
    pub reselect_before_sign: bool,
}

fn is_false(value: &bool) -> bool {
    !value
}

/// The facility's character code (CharacterCodeIdentifier).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum CharacterCode {
    /// `0`: UTF-8.
    #[default]
    #[serde(rename = "0")]
    Utf8,
    /// `1`: Shift_JIS.
    #[serde(rename = "1")]
    ShiftJis,
}

impl CharacterCode {
    /// The CharacterCodeIdentifier as the interface writes it.
    pub fn identifier(self) -> &'static str {
        match self {
            CharacterCode::Utf8 => "0",
            CharacterCode::ShiftJis => "1",
        }
    }

    fn is_utf8(&self) -> bool {
        *self == CharacterCode::Utf8
    }
}

fn yes() -> bool {
    true
}

pub fn default_facility() -> String {
    "0110000001".into()
}

/// The device name a client uses when it is told none.
pub fn default_device() -> String {
    "kazasu-reference".into()
}

fn default_timeout_ms() -> u64 {
    10_000
}

pub fn default_card_timeout_ms() -> u64 {
    5_000
}

/// How a check ended, as the app's screen would tell the staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OutcomeKind {
    /// The service returned a result (any QualificationValidity).
    Confirmed,
    /// The service processed the request and refused it (revoked, expired,
    /// …): `processing_result_code` says why.
    Refused,
    /// The PIN was wrong; `tries_left` says how many remain. Not retried.
    WrongPin,
    /// The PIN is locked (now or already): switch to visual confirmation or
    /// other means; only the municipality can unlock it.
    PinLocked,
    /// Visual confirmation is impossible (no photo): use the PIN.
    VisualNotPossible,
    /// A PIN was needed and none was given.
    PinRequired,
    /// Not registered for health-insurance use, and no consent to register.
    NotRegistered,
    /// Registered on the spot, and then confirmed: see `validity`.
    Registered,
    /// Registration accepted; it completes in the background.
    RegistrationPending,
    /// The service is under maintenance (or registration is, 03:00–06:00).
    Maintenance,
    /// The service answered with an error, or an unreadable answer.
    ServiceError,
    /// The service did not answer in time.
    Timeout,
    /// The card left the reader in the middle of the exchange.
    CardRemoved,
    /// The card answered something unexpected (no JPKI applet, bad data),
    /// or did not answer within `card_timeout_ms`.
    CardError,
    /// The iPhone wants its holder to authenticate (Face ID / Touch ID) on
    /// the phone first, or again: the window since the last authentication
    /// has passed. Ask the patient, then hold the phone again.
    AuthenticateOnPhone,
    /// The phone shows no My Number card (no JPKI applet): an iPhone whose
    /// card is not opened in Wallet, or a phone the card was never added to
    /// (not possible under 15). Open it in Wallet, or use the physical card.
    CardNotOnPhone,
    /// The app channel refused before (or while) confirming: the facility's
    /// environment setting is off, the activation code is not yet usable,
    /// used or invalidated, the account is locked or never logged in to the
    /// system, the device was deregistered, the session ended.
    /// `processing_result_code` carries the service's `KZA…` code.
    AppRefused,
}

/// The outcome of one check: what `kazasu check --json` prints, and what a
/// vendor's adapter must print (one JSON object on stdout).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ClientOutcome {
    pub outcome: OutcomeKind,
    /// A sentence for the staff, in the manual's terms.
    pub message: String,
    /// QualificationValidity of the result, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity: Option<String>,
    /// ProcessingResultCode (a refusal's reason, or a notice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_result_code: Option<String>,
    /// Banners the result screen shows (義務教育就学前, 3か月以内に証明書が失効します, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub banners: Vec<String>,
    /// PIN tries left, after a wrong PIN or as read before verifying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tries_left: Option<u8>,
    /// The service's outcome (XmlMsg-shaped JSON), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
}

/// A card in a reader, as the client sees it.
pub trait CardChannel {
    /// Connects (powers the card) and returns its ATR.
    fn connect(&mut self) -> Result<Vec<u8>, CardError>;
    /// Sends one command APDU; returns the response (data and status word).
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, CardError>;
    /// Lets go of the card.
    fn disconnect(&mut self);
}

/// Why the card could not be talked to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("no card in the reader")]
    NoCard,
    #[error("the card was removed")]
    Removed,
    #[error("reader error: {0}")]
    Reader(String),
    /// The card answered, but later than the client's limit for one command.
    #[error("the card did not answer within {limit_ms} ms")]
    NoAnswer { limit_ms: u64 },
}
