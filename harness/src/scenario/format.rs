//! The scenario format: one TOML file per rule or case of the manuals.
//!
//! A scenario says which card is inserted (a fixture person's card, with
//! overrides), how the service is set up (fixtures, clock, faults), what the
//! staff and patient do (the client's inputs), and what must come of it: the
//! outcome, result fields, banners, the card's state afterwards, the
//! service's history, and conformance rules over the APDU trace.
//!
//! ```toml
//! name = "PIN entered right: a valid qualification"
//! rule = "docs/service-rules.md#identity-check 【B】; 使い方 P.17 資格を確認する(暗証番号)"
//! tags = ["pin", "result"]
//!
//! [card]
//! person = "valid"
//!
//! [client]
//! method = "pin"
//! pin = "1234"
//!
//! [expect]
//! outcome = "confirmed"
//! validity = "1"
//! fields = { InsuredCardClassification = "01" }
//! conformance = ["never_reads_my_number"]
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sim_card::reader::ReaderProfile;

use crate::client::{CheckInputs, OutcomeKind};

/// One scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// What the scenario shows, in one line.
    pub name: String,
    /// The rule it checks (a section of the docs/ reference pages, a manual page).
    pub rule: String,
    /// Free-form tags for `--filter` (e.g. `pin`, `grace`, `conformance`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// The scenario's own insured persons (`[[person]]`), in the built-in
    /// fixtures' schema (see `sim-service/fixtures/*.toml`): persona,
    /// qualifications, 公費, registration, the card and the phones it was
    /// added to. `card.person` names one of them or a built-in person.
    /// Persons in `persons/*.toml` beside the scenarios are added here when
    /// the scenario is loaded.
    #[serde(default, rename = "person", skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<serde_json::Map<String, serde_json::Value>>")]
    pub persons: Vec<sim_service::fixtures::InsuredPerson>,
    pub card: CardSetup,
    #[serde(default)]
    pub service: ServiceSetup,
    pub client: CheckInputs,
    /// The app channel: the facility as its administrator prepared it, and
    /// the staff's login. Without it the client confirms on the
    /// confirmation terminal's channel, with no session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facility: Option<FacilitySetup>,
    /// What must come of the client's one check. A story (`[[step]]`) may
    /// leave it out: each step carries its own.
    #[serde(default)]
    pub expect: Expectations,
    /// A story: steps in order, each an action and what it must show (see
    /// [`super::story`]). Without steps the scenario is one check.
    #[serde(default, rename = "step", skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<super::story::Step>,
}

/// The card in the reader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CardSetup {
    /// The person whose card is inserted: one of the scenario's own
    /// (`[[person]]`, `persons/*.toml`) or a built-in fixture person (see
    /// sim-service/fixtures).
    pub person: String,
    /// Start with this many auth PIN tries left (0 = locked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_tries_left: Option<u8>,
    /// Take the card out of the reader when the client sends its Nth APDU
    /// (1-based): that APDU and all later ones fail as a removed card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_at_apdu: Option<usize>,
    /// No card in the reader at all.
    #[serde(default)]
    pub absent: bool,
    /// What is held to the reader: `physical-contact` or
    /// `physical-contactless` (the person's physical card), or `android` or
    /// `iphone` (the person's phone of that kind). Default: the physical card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub variant: Option<sim_card::variant::Variant>,
    /// Which of the person's phones (its id in the fixtures), when they added
    /// the card to more than one; implies the phone's variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// iPhone: the patient authenticated (Face ID) this many seconds before
    /// holding the phone to the reader. Absent: they did not authenticate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face_id_seconds_before_hold: Option<u64>,
    /// iPhone: `false` when the patient has not opened the My Number card in
    /// Wallet (the phone shows no JPKI applet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallet_opened: Option<bool>,
    /// The reader the card is held to (`[card.reader]`): short APDUs only,
    /// T=0 (`61xx`/`6Cxx`), latency, a flaky contactless field (see
    /// `sim_card::reader`). Default: the ideal reader.
    #[serde(default, skip_serializing_if = "ReaderProfile::is_default")]
    pub reader: ReaderProfile,
    /// Where the card behaves as one kind of real card and not another
    /// (`[card.behaviour]`, the profile's `[behaviour]`, see
    /// `sim_card::behaviour`): e.g. `reselect = "clear"`. Default: the
    /// person's card as issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub behaviour: Option<sim_card::behaviour::CardBehaviour>,
}

/// How the service is set up before the client runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSetup {
    /// The service clock, RFC 3339, frozen (default: the fixtures' reference
    /// time, 2026-12-01T10:00:00+09:00).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<String>,
    /// Faults injected into the client API (as the admin API takes them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<serde_json::Value>,
    /// Simulated processing time of a registration, in seconds (default 15;
    /// 25 or more completes in the background).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_seconds: Option<u32>,
    /// The service is not reachable at all (nothing listens).
    #[serde(default)]
    pub unreachable: bool,
    /// 照会番号 registered before the client runs, as a receipt computer
    /// registers them (POST /v1/reference-numbers, OQSsiimm01req).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_numbers: Vec<ReferenceNumberSetup>,
}

/// `[facility]`: what the runner prepares as the facility's administrator
/// (environment setting, an account, one activation code, notices) before
/// the client starts, and the state the client's device is in. The client
/// then signs in on the app channel (registering its device with the code
/// when it has none) before the card is read; a refusal is the outcome
/// `app-refused` with the service's `KZA…` code as `processing_result_code`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FacilitySetup {
    /// 外来診療等(通常とは異なる動線)機能 in the environment settings (the
    /// app is refused while it is off).
    #[serde(default = "yes")]
    pub outpatient_flow: bool,
    /// The staff's account, created with this ID (2–8 letters and digits)
    /// and password; the client logs in with them.
    #[serde(default = "default_user_id")]
    pub user_id: String,
    #[serde(default = "default_password")]
    pub password: String,
    /// The account's start date, `YYYY-MM-DD` (default: the clock's day, JST).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// The account logged in to the system once (the app refuses one that
    /// never did).
    #[serde(default = "yes")]
    pub system_login: bool,
    /// Wrong passwords typed before the client starts: 5 lock the account
    /// for 30 minutes of the service clock.
    #[serde(default)]
    pub wrong_passwords: u32,
    /// The activation code's memo (端末識別メモ情報); default the client's
    /// device name, so the history's device is the client's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    /// Seconds the service clock moves after the code is issued and before
    /// the device registers (codes mature after 600).
    #[serde(default = "default_wait_seconds")]
    pub wait_seconds: u32,
    /// The device when the client starts.
    #[serde(default)]
    pub device: DeviceSetup,
    /// Notices (お知らせ) published before the client logs in: their titles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<String>,
}

fn yes() -> bool {
    true
}

fn default_user_id() -> String {
    "staff1".into()
}

fn default_password() -> String {
    "Passw0rd!".into()
}

fn default_wait_seconds() -> u32 {
    600
}

/// The state of the client's device when it starts.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceSetup {
    /// Not registered: the client registers it with the activation code.
    #[default]
    Unregistered,
    /// Registered earlier (by the runner, after `wait_seconds`): the client
    /// logs in with its token.
    Registered,
    /// Registered, then its activation code invalidated (無効化する).
    Invalidated,
    /// Registered, then deregistered in the app's settings.
    Deregistered,
}

/// One 照会番号 registration: ReferenceNumberRegistrationInfo, at a facility.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferenceNumberSetup {
    /// 医療機関等コード of the registering facility (default: the client's
    /// default facility, 0110000001).
    #[serde(default = "crate::client::default_facility")]
    pub facility: String,
    #[serde(rename = "ReferenceNumber")]
    pub reference_number: String,
    #[serde(rename = "InsurerNumber")]
    pub insurer_number: String,
    #[serde(
        rename = "InsuredCardSymbol",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub insured_card_symbol: Option<String>,
    #[serde(rename = "InsuredIdentificationNumber")]
    pub insured_identification_number: String,
    #[serde(
        rename = "InsuredBranchNumber",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub insured_branch_number: Option<String>,
}

/// A result search (資格確認結果検索) made after the client ran, at the
/// client's facility, and how many entries it must list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistorySearch {
    /// The service clock for the search, RFC 3339 (default: as the client
    /// left it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// First confirmation date, JST `YYYY-MM-DD` (default: the oldest kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Last confirmation date, JST `YYYY-MM-DD` (default: the search's day,
    /// or `from` when that is later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Only the client's device's confirmations.
    #[serde(default)]
    pub this_device: bool,
    /// Entries the search must list.
    pub count: usize,
}

/// What must come of the scenario. Every field is optional: only what is
/// given is checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// How the check ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<OutcomeKind>,
    /// QualificationValidity of the result (`1` … `6`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity: Option<String>,
    /// ProcessingResultCode (e.g. `KZN001`, `KZE101`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_result_code: Option<String>,
    /// Banners that must be shown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub banners: Vec<String>,
    /// PIN tries left the client reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tries_left: Option<u8>,
    /// What must not be shown at all: `processing_result_code` (no refusal,
    /// no notice), `validity`, `banners` (none), `result`, `tries_left`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub absent: Vec<super::shown::Shown>,
    /// Fields of the result, by official element name or by path, e.g.
    /// `{ InsurerNumber = "06139990", PreschoolClassification = "1" }`. A
    /// bare name is the first result's, found at any depth; a path names the
    /// elements from the result down
    /// (`ElderlyRecipientCertificateInfo/ElderlyRecipientContributionRatio`,
    /// `PublicExpenseResultList/MedicalTicketInfo[1]/TicketType`) and may
    /// start with `results[N]/` for the Nth result (0-based). A value of
    /// `""` means the field must be absent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    /// Every result of the list, in order (`[[expect.results]]`): each a
    /// table of fields as in `fields`, checked against that result. The list
    /// must hold exactly as many results as tables are given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<BTreeMap<String, String>>,
    /// Number of results in the result list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_count: Option<usize>,
    /// The card afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<CardAfter>,
    /// Confirmations in the service's history afterwards (those that showed
    /// qualification information).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_count: Option<usize>,
    /// Result searches after the run (retention, date range, this device).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history_search: Vec<HistorySearch>,
    /// The XmlMsg the facility received, as bytes in its character code
    /// (`client.character_code_identifier`), decoded as the facility would:
    /// the client's confirmation as `Accept: application/xml` answers it; in
    /// a story also a `receipt-request`'s answer file or the newest result a
    /// `receipt-download` got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xml: Option<XmlExpectations>,
    /// Conformance rules the APDU trace and the service's request log must
    /// satisfy (see [`super::conformance::Rule`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conformance: Vec<super::conformance::Rule>,
}

/// What the XmlMsg the facility received must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct XmlExpectations {
    /// The encoding the document declares and is written in: `UTF-8` or
    /// `Shift_JIS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// How many XmlMsg documents the step received (a hold or a
    /// receipt-request: 1; a receipt-download: one per result kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documents: Option<usize>,
    /// Element text by path from the root's children down
    /// (`MessageHeader/CharacterCodeIdentifier`,
    /// `MessageBody/ResultList/ResultOfQualificationConfirmation[1]/Name`,
    /// `[i]` 0-based among elements of that name), or by bare element name
    /// found anywhere (`Name`), as the decoded text holds it: `草●　●男` in
    /// Shift_JIS. `""`: no such element.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
}

/// The card's state after the client ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CardAfter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_tries_left: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_locked: Option<bool>,
}
