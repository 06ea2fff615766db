//! Conformance rules: what a client must never do with a patient's card,
//! checked over the APDU trace of one run.
//!
//! Each rule comes from the manuals: staff must never note or keep the My
//! Number, so a conforming client never reads it; in visual mode the patient
//! types no PIN, so none may reach the card; a blocked PIN must not be tried
//! (only the municipality can unlock it); a wrong PIN is the patient's to
//! retype, never the client's to retry; and an iPhone is authenticated on the
//! phone (Face ID), so no VERIFY at all goes to it.

use serde::{Deserialize, Serialize};
use sim_card::trace::{TraceEvent, TraceRecord};

use crate::client::Method;

/// A rule a client must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// No READ BINARY of the My Number (券面事項入力補助AP EF 0001).
    NeverReadsMyNumber,
    /// In visual mode, no VERIFY that carries a PIN.
    NoVerifyInVisualMode,
    /// No VERIFY carrying a PIN once the card said the PIN is blocked
    /// (an empty VERIFY answered 63C0, or a VERIFY answered 6984).
    NoVerifyOnBlockedPin,
    /// At most one VERIFY carrying a PIN per check: a wrong PIN is not retried.
    NoPinRetryWithoutInput,
    /// No VERIFY, not even an empty status query, to an iPhone: the patient
    /// authenticates on the phone. An iPhone is known by the method (the
    /// staff chose iPhone) or by its answer to VERIFY (6D00, which only the
    /// iPhone gives).
    NoVerifyToIphone,
}

impl Rule {
    /// Every rule: the conformance profile checks them all.
    pub const ALL: &'static [Rule] = &[
        Rule::NeverReadsMyNumber,
        Rule::NoVerifyInVisualMode,
        Rule::NoVerifyOnBlockedPin,
        Rule::NoPinRetryWithoutInput,
        Rule::NoVerifyToIphone,
    ];

    /// The rule's name as scenario files write it.
    pub fn name(self) -> &'static str {
        match self {
            Rule::NeverReadsMyNumber => "never_reads_my_number",
            Rule::NoVerifyInVisualMode => "no_verify_in_visual_mode",
            Rule::NoVerifyOnBlockedPin => "no_verify_on_blocked_pin",
            Rule::NoPinRetryWithoutInput => "no_pin_retry_without_input",
            Rule::NoVerifyToIphone => "no_verify_to_iphone",
        }
    }

    /// Checks the rule over a trace; `Err` says which exchange broke it.
    pub fn check(self, trace: &[TraceRecord], method: Method) -> Result<(), String> {
        let apdus = trace.iter().filter(|r| r.event == TraceEvent::Apdu);
        match self {
            Rule::NeverReadsMyNumber => {
                // The trace's summaries name the EF being read in the
                // application that holds it.
                match apdus
                    .clone()
                    .find(|r| r.summary.starts_with("READ BINARY EF 0001 (My Number)"))
                {
                    Some(r) => Err(format!("read the My Number: {}", r.summary)),
                    None => Ok(()),
                }
            }
            Rule::NoVerifyInVisualMode => {
                if method != Method::Visual {
                    return Ok(());
                }
                match apdus.clone().find(|r| is_pin_verify(r)) {
                    Some(r) => Err(format!("sent a PIN in visual mode: {}", r.summary)),
                    None => Ok(()),
                }
            }
            Rule::NoVerifyOnBlockedPin => {
                let mut blocked = false;
                for r in apdus {
                    if is_pin_verify(r) && blocked {
                        return Err(format!("tried a blocked PIN: {}", r.summary));
                    }
                    if r.summary.starts_with("VERIFY")
                        && matches!(r.sw.as_deref(), Some("63C0") | Some("6984"))
                    {
                        blocked = true;
                    }
                }
                Ok(())
            }
            Rule::NoPinRetryWithoutInput => {
                let verifies: Vec<&TraceRecord> = apdus.filter(|r| is_pin_verify(r)).collect();
                if verifies.len() > 1 {
                    Err(format!(
                        "sent {} PIN VERIFYs for one typed PIN: {}",
                        verifies.len(),
                        verifies
                            .iter()
                            .map(|r| r.summary.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    ))
                } else {
                    Ok(())
                }
            }
            Rule::NoVerifyToIphone => {
                let mut verifies = apdus.filter(|r| r.summary.starts_with("VERIFY"));
                let to_iphone =
                    |r: &&TraceRecord| method == Method::Iphone || r.sw.as_deref() == Some("6D00");
                match verifies.find(to_iphone) {
                    Some(r) => Err(format!("sent a VERIFY to an iPhone: {}", r.summary)),
                    None => Ok(()),
                }
            }
        }
    }
}

/// A VERIFY that carries a PIN (not an empty status query).
fn is_pin_verify(record: &TraceRecord) -> bool {
    record.summary.starts_with("VERIFY") && !record.summary.contains("(status query)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apdu(summary: &str, sw: &str) -> TraceRecord {
        TraceRecord {
            at: String::new(),
            elapsed_us: 0,
            event: TraceEvent::Apdu,
            command: None,
            response: None,
            sw: Some(sw.into()),
            summary: summary.into(),
        }
    }

    #[test]
    fn my_number_reads_are_caught() {
        let trace = [apdu(
            "READ BINARY EF 0001 (My Number) @0 Le=256 → 9000 (ok)",
            "9000",
        )];
        assert!(Rule::NeverReadsMyNumber.check(&trace, Method::Pin).is_err());
        let trace = [apdu(
            "READ BINARY EF 000A (auth certificate) @0 Le=4 → 9000 (ok)",
            "9000",
        )];
        assert!(Rule::NeverReadsMyNumber.check(&trace, Method::Pin).is_ok());
    }

    #[test]
    fn verify_in_visual_mode_is_caught_but_status_queries_are_fine() {
        let query = apdu(
            "VERIFY EF 0018 (auth PIN) (status query) → 63C3 (3 tries left)",
            "63C3",
        );
        let verify = apdu("VERIFY EF 0018 (auth PIN) (4 digits) → 9000 (ok)", "9000");
        assert!(
            Rule::NoVerifyInVisualMode
                .check(std::slice::from_ref(&query), Method::Visual)
                .is_ok()
        );
        assert!(
            Rule::NoVerifyInVisualMode
                .check(std::slice::from_ref(&verify), Method::Visual)
                .is_err()
        );
        assert!(
            Rule::NoVerifyInVisualMode
                .check(&[verify], Method::Pin)
                .is_ok()
        );
    }

    #[test]
    fn blocked_pins_and_retries() {
        let blocked = apdu(
            "VERIFY EF 0018 (auth PIN) (status query) → 63C0 (wrong PIN, blocked)",
            "63C0",
        );
        let verify = apdu(
            "VERIFY EF 0018 (auth PIN) (4 digits) → 6984 (PIN blocked)",
            "6984",
        );
        assert!(
            Rule::NoVerifyOnBlockedPin
                .check(&[blocked.clone(), verify.clone()], Method::Pin)
                .is_err()
        );
        assert!(
            Rule::NoVerifyOnBlockedPin
                .check(std::slice::from_ref(&verify), Method::Pin)
                .is_ok()
        );
        let wrong = apdu(
            "VERIFY EF 0018 (auth PIN) (4 digits) → 63C2 (2 tries left)",
            "63C2",
        );
        assert!(
            Rule::NoPinRetryWithoutInput
                .check(&[wrong.clone(), wrong.clone()], Method::Pin)
                .is_err()
        );
        assert!(
            Rule::NoPinRetryWithoutInput
                .check(&[wrong], Method::Pin)
                .is_ok()
        );
    }

    #[test]
    fn verify_to_an_iphone_is_caught() {
        let query = apdu(
            "VERIFY EF 0018 (auth PIN) (status query) → 6D00 (instruction not supported)",
            "6D00",
        );
        let verify = apdu("VERIFY EF 0018 (auth PIN) (4 digits) → 9000 (ok)", "9000");
        let sign = apdu("COMPUTE DIGITAL SIGNATURE (auth key) → 9000 (ok)", "9000");
        // Any VERIFY when the staff chose iPhone, even an empty one.
        assert!(
            Rule::NoVerifyToIphone
                .check(&[query.clone(), sign.clone()], Method::Iphone)
                .is_err()
        );
        // A card that answers VERIFY with 6D00 is an iPhone, whatever the method.
        assert!(
            Rule::NoVerifyToIphone
                .check(std::slice::from_ref(&query), Method::Pin)
                .is_err()
        );
        // A VERIFY to a card or an Android phone is no iPhone's business.
        assert!(
            Rule::NoVerifyToIphone
                .check(&[verify.clone(), sign.clone()], Method::Android)
                .is_ok()
        );
        assert!(
            Rule::NoVerifyToIphone
                .check(&[sign], Method::Iphone)
                .is_ok()
        );
    }
}
