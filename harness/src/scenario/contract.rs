//! The contract between the runner and the client under test: what a
//! client is given for one check ([`RunSetup`]), what it hands back
//! ([`ClientRun`]), and how it reaches the card ([`Transport`]).
//!
//! It lives apart from the runner so that the clients (the reference client,
//! a vendor's command) and the reports depend on the contract alone, not on
//! the machinery that sets up a scenario.

use crate::client::app::AppLogin;
use crate::client::{CardChannel, CheckInputs, ClientOutcome};

/// How the client reaches the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A function call away, through [`CardChannel`]: fast, parallel, and
    /// only for a client living in this process.
    InProcess,
    /// Through the real pcscd: the card is attached to vpcd's slot N and the
    /// client opens the reader `Virtual PCD 00 0N`, as it would a real one.
    Pcsc,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::InProcess => "in-process",
            Transport::Pcsc => "pcsc",
        }
    }
}

/// Where the client finds the card.
pub enum Reader<'a> {
    /// The scenario's card slot, in process (`absent` scenarios answer
    /// [`CardError::NoCard`](crate::client::CardError::NoCard) on connect).
    InProcess(&'a mut dyn CardChannel),
    /// A PC/SC reader, by the name pcscd gives it.
    Pcsc { name: String },
}

/// Everything a client needs for one check.
pub struct RunSetup<'a> {
    /// The scenario's id, for a client's own logs.
    pub id: &'a str,
    pub inputs: &'a CheckInputs,
    /// The service's base URL, e.g. `http://127.0.0.1:40123`.
    pub service_url: &'a str,
    pub reader: Reader<'a>,
    /// The staff's app login, when the scenario is on the app channel
    /// (`[facility]`); `None` on the confirmation terminal's channel.
    pub app: Option<&'a AppLogin>,
}

/// What a client run left: its outcome (or why there is none), what it
/// wrote (stderr is kept for the report; stdout and its log files only to
/// look for secrets), and the secrets the runner found in them.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientRun {
    pub outcome: Result<ClientOutcome, String>,
    pub stderr: String,
    /// Standard output as printed (empty for a client in this process,
    /// whose outcome is handed over, not printed).
    pub stdout: String,
    /// The files the client left in its log folder (`KAZASU_LOG_DIR`):
    /// name and text.
    pub logs: Vec<(String, String)>,
    /// Where the client showed a secret it was handed (`the PIN in stderr,
    /// line 3`), never the secret itself: the rule `never_reveals_secrets`.
    pub leaks: Vec<String>,
    /// The outcome is not the client's to give: in an attended run the
    /// tester answers for the screen after the run, so no outcome here is
    /// not a broken client, and every expectation is still checked.
    pub outcome_from_tester: bool,
}

impl ClientRun {
    pub fn of(outcome: Result<ClientOutcome, String>) -> Self {
        ClientRun {
            outcome,
            stderr: String::new(),
            stdout: String::new(),
            logs: Vec::new(),
            leaks: Vec::new(),
            outcome_from_tester: false,
        }
    }
}

/// The client under test.
pub trait ClientUnderTest: Send + Sync {
    /// Who the client is, for reports and the certification summary.
    fn identity(&self) -> String;
    /// Which transports it can use.
    fn supports(&self, transport: Transport) -> Result<(), String>;
    /// Does one check. Must return (a client that hangs is the client's
    /// implementation's to bound, e.g. with a time-out).
    fn run(&self, setup: RunSetup<'_>) -> ClientRun;
    /// Whether the client can be told to select the JPKI-AP again between
    /// VERIFY and the signature (`[client] reselect_before_sign`). Only the
    /// reference client can: a vendor's client has one flow of its own, so
    /// a scenario that prescribes another describes a client it is not, and
    /// is skipped for it (the card matrix shows what such a client depends
    /// on instead).
    fn reselects_on_request(&self) -> bool {
        false
    }
}

/// The JSON Schema of the [`ClientOutcome`] an adapter prints
/// (`kazasu schema outcome`; committed as `harness/outcome.schema.json`):
/// a vendor validates their adapter's output against it without reading
/// Rust.
pub fn outcome_schema() -> String {
    let schema = schemars::schema_for!(ClientOutcome);
    // A schema of plain data always serialises.
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_committed_outcome_schema_is_up_to_date() {
        let committed = include_str!("../../outcome.schema.json");
        assert!(
            committed == super::outcome_schema(),
            "harness/outcome.schema.json is stale: run \
             `cargo run -p kazasu -- schema outcome > harness/outcome.schema.json`"
        );
    }
}
