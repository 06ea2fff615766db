//! A deliberately bad client, for the scenario runner's own tests: each
//! misbehaviour breaks one rule of the manual so that the runner's
//! conformance checks can be seen to catch it. Never used by the reference
//! flow; reachable only through the hidden `kazasu check --misbehave`.

use std::str::FromStr;

use super::card::{self, Sw};
use super::service::ServiceClient;
use super::{CardChannel, CheckInputs, ClientOutcome, OutcomeKind, flow};

/// 券面事項入力補助AP (the text AP holding the My Number).
const TEXT_AID: [u8; 10] = [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08];
/// The text AP's PIN.
const EF_TEXT_PIN: u16 = 0x0011;
/// The My Number.
const EF_MY_NUMBER: u16 = 0x0001;
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
                card::select_aid_command(&TEXT_AID),
                card::select_ef_command(EF_TEXT_PIN),
                card::verify_command(pin),
                card::select_ef_command(EF_MY_NUMBER),
                card::read_binary_command(0, 17),
            ];
            if let Some(stop) = send_blindly(card, &commands) {
                return stop;
            }
        }
        Misbehaviour::VerifyInVisual | Misbehaviour::VerifyBlocked => {
            let commands = [
                card::select_aid_command(&card::JPKI_AID),
                card::select_ef_command(card::EF_AUTH_PIN),
                card::verify_command(pin),
            ];
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
            Ok((_, Sw(_))) => {}
            Err(e) => {
                card.disconnect();
                return Some(flow::outcome(OutcomeKind::CardError, e.to_string()));
            }
        }
    }
    card.disconnect();
    None
}
