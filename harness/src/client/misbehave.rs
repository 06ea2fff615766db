//! A deliberately bad client, for the scenario runner's own tests: each
//! misbehaviour breaks one rule of the manual so that the runner's
//! conformance checks can be seen to catch it. Never used by the reference
//! flow; reachable only through the hidden `kazasu check --misbehave`.

use std::str::FromStr;

use sim_card::iso7816::{read_binary, select_aid, select_ef, verify};
use sim_card::mynumber::{EF_AUTH_PIN, EF_TEXT_MY_NUMBER, EF_TEXT_PIN, JPKI_AID, TEXT_AID};

use super::card;
use super::service::ServiceClient;
use super::{CardChannel, CheckInputs, ClientOutcome, OutcomeKind, flow};

/// What the bad client types when it was given no PIN.
const MADE_UP_PIN: &str = "0000";

/// Which rule to break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Reads the My Number (text AP EF 0001), typing the auth PIN as the
    /// text PIN, before the normal check.
    ReadMyNumber,
    /// Sends a PIN VERIFY although the method is visual.
    VerifyInVisual,
    /// Tries a wrong PIN a second time by itself.
    RetryPin,
    /// Sends VERIFY with the PIN to a PIN that answers 63C0.
    VerifyBlocked,
}

impl FromStr for Misbehaviour {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "read-my-number" => Misbehaviour::ReadMyNumber,
            "verify-in-visual" => Misbehaviour::VerifyInVisual,
            "retry-pin" => Misbehaviour::RetryPin,
            "verify-blocked" => Misbehaviour::VerifyBlocked,
            other => {
                return Err(format!(
                    "{other:?}: one of read-my-number, verify-in-visual, retry-pin, verify-blocked"
                ));
            }
        })
    }
}

/// The check, with `what` done wrong.
pub fn check(
    card: &mut dyn CardChannel,
    service: &ServiceClient,
    inputs: &CheckInputs,
    what: Misbehaviour,
) -> ClientOutcome {
    let pin = inputs.pin.as_deref().unwrap_or(MADE_UP_PIN);
    match what {
        Misbehaviour::ReadMyNumber => {
            let commands = [
                select_aid(TEXT_AID),
                select_ef(EF_TEXT_PIN),
                verify(pin),
                select_ef(EF_TEXT_MY_NUMBER),
                read_binary(0, 17),
            ];
            if let Some(stop) = send_blindly(card, &commands) {
                return stop;
            }
        }
        Misbehaviour::VerifyInVisual | Misbehaviour::VerifyBlocked => {
            let commands = [select_aid(JPKI_AID), select_ef(EF_AUTH_PIN), verify(pin)];
            if let Some(stop) = send_blindly(card, &commands) {
                return stop;
            }
        }
        Misbehaviour::RetryPin => {
            let first = flow::check(card, service, inputs);
            if first.outcome != OutcomeKind::WrongPin {
                return first;
            }
            return flow::check(card, service, inputs);
        }
    }
    flow::check(card, service, inputs)
}

/// Sends `commands` whatever the card answers; stops only if the card is gone.
fn send_blindly(card: &mut dyn CardChannel, commands: &[Vec<u8>]) -> Option<ClientOutcome> {
    if let Err(e) = card.connect() {
        return Some(flow::outcome(OutcomeKind::CardError, e.to_string()));
    }
    for command in commands {
        match card::exchange(card, command) {
            Ok(_) => {}
            Err(e) => {
                card.disconnect();
                return Some(flow::outcome(OutcomeKind::CardError, e.to_string()));
            }
        }
    }
    card.disconnect();
    None
}
