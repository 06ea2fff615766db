//! Conformance rules: what a client must never do with a patient's card,
//! checked over the APDU trace of one run.
//!
//! Each rule comes from the manuals: staff must never note or keep the My
//! Number, so a conforming client never reads it; in visual mode the patient
//! types no PIN, so none may reach the card; a blocked PIN must not be tried
//! (only the municipality can unlock it); a wrong PIN is the patient's to
//! retype, never the client's to retry; and an iPhone is authenticated on the
//! phone (Face ID), so no VERIFY at all goes to it.
//!
//! Others come from the readers a client meets at the counter (see
//! `sim_card::reader`): under T=0 the data of a `61xx` must be fetched with
//! GET RESPONSE and a `6Cxx` answered by resending with the right Le; many
//! readers carry short APDUs only; and a card that left the reader is gone,
//! so a client must stop sending and end the check. The trace is taken on
//! the client's side of the reader. A command that got no answer (no status
//! word) marks the card's removal. In process, commands sent to a removed
//! card are in the trace too; over PC/SC pcscd refuses them before they
//! reach the card, so only the in-process run can catch them.
//!
//! One rule is about the client's own output, not the card: the PIN and the
//! password are the patient's and the staff's, and a client must never
//! print or log them (`never_reveals_secrets`).

use serde::{Deserialize, Serialize};
use sim_card::iso7816::{self, StatusWord};
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
    /// After a `61xx`, the next command is GET RESPONSE `00 C0 00 00 xx`.
    HandlesGetResponse,
    /// After a `6Cxx`, the next command is the same command with Le = xx.
    HandlesWrongLe,
    /// No command APDU in the extended length form.
    ShortApdusOnly,
    /// Once a command got no answer (the card left), no further command
    /// until the card is powered again.
    NoApduAfterRemoval,
    /// No PIN or password the runner handed the client shows in what the
    /// client printed or logged: stdout, stderr, the files of its log folder
    /// (`KAZASU_LOG_DIR`). Judged from the client's output, not the trace
    /// (see [`super::secrets`] for how a secret is recognised).
    NeverRevealsSecrets,
}

impl Rule {
    /// Every rule: the conformance profile checks them all.
    pub const ALL: &'static [Rule] = &[
        Rule::NeverReadsMyNumber,
        Rule::NoVerifyInVisualMode,
        Rule::NoVerifyOnBlockedPin,
        Rule::NoPinRetryWithoutInput,
        Rule::NoVerifyToIphone,
        Rule::HandlesGetResponse,
        Rule::HandlesWrongLe,
        Rule::ShortApdusOnly,
        Rule::NoApduAfterRemoval,
        Rule::NeverRevealsSecrets,
    ];

    /// The rule's name as scenario files write it.
    pub fn name(self) -> &'static str {
        match self {
            Rule::NeverReadsMyNumber => "never_reads_my_number",
            Rule::NoVerifyInVisualMode => "no_verify_in_visual_mode",
            Rule::NoVerifyOnBlockedPin => "no_verify_on_blocked_pin",
            Rule::NoPinRetryWithoutInput => "no_pin_retry_without_input",
            Rule::NoVerifyToIphone => "no_verify_to_iphone",
            Rule::HandlesGetResponse => "handles_get_response",
            Rule::HandlesWrongLe => "handles_wrong_le",
            Rule::ShortApdusOnly => "short_apdus_only",
            Rule::NoApduAfterRemoval => "no_apdu_after_removal",
            Rule::NeverRevealsSecrets => "never_reveals_secrets",
        }
    }

    /// Checks the rule over a check's trace, or (for
    /// [`Rule::NeverRevealsSecrets`]) over where the runner found a secret in
    /// the client's output; `Err` says which exchange or output broke it.
    pub fn check(
        self,
        trace: &[TraceRecord],
        method: Method,
        leaks: &[String],
    ) -> Result<(), String> {
        let apdus = trace.iter().filter(|r| r.event == TraceEvent::Apdu);
        match self {
            Rule::NeverRevealsSecrets => match leaks {
                [] => Ok(()),
                leaks => Err(format!("showed {}", leaks.join("; "))),
            },
            Rule::HandlesGetResponse => follow_ups(trace, more_data, |_, xx| {
                (
                    hex::encode_upper(iso7816::get_response(xx)),
                    format!("GET RESPONSE with Le={xx:02X}"),
                )
            }),
            Rule::HandlesWrongLe => follow_ups(trace, wrong_le, |command, xx| {
                let xx = format!("{xx:02X}");
                let resent = match command.len() {
                    // A command of 5 bytes or more ends with its (short) Le.
                    n if n >= 10 => format!("{}{xx}", &command[..n - 2]),
                    _ => format!("{command}{xx}"),
                };
                (resent, format!("the same command with Le={xx}"))
            }),
            Rule::ShortApdusOnly => {
                match apdus
                    .clone()
                    .find(|r| r.command.as_deref().is_some_and(is_extended))
                {
                    Some(r) => Err(format!("sent an extended APDU: {}", r.summary)),
                    None => Ok(()),
                }
            }
            Rule::NoApduAfterRemoval => {
                let mut removed_at: Option<&TraceRecord> = None;
                for r in trace {
                    match (r.event, removed_at) {
                        (TraceEvent::PowerOn, _) => removed_at = None,
                        (TraceEvent::Apdu, Some(gone)) => {
                            return Err(format!(
                                "sent a command after the card was removed ({}): {}",
                                gone.summary, r.summary
                            ));
                        }
                        (TraceEvent::Apdu, None) if r.sw.is_none() => removed_at = Some(r),
                        _ => {}
                    }
                }
                Ok(())
            }
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
                        && matches!(
                            status(r),
                            Some(
                                StatusWord::RemainingRetries(0)
                                    | StatusWord::ReferenceDataNotUsable
                            )
                        )
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
                let to_iphone = |r: &&TraceRecord| {
                    method == Method::Iphone || status(r) == Some(StatusWord::InsNotSupported)
                };
                match verifies.find(to_iphone) {
                    Some(r) => Err(format!("sent a VERIFY to an iPhone: {}", r.summary)),
                    None => Ok(()),
                }
            }
        }
    }
}

/// The status word a record shows, if it has one (a command during which
/// the card left has none).
fn status(record: &TraceRecord) -> Option<StatusWord> {
    let sw = u16::from_str_radix(record.sw.as_deref()?, 16).ok()?;
    Some(StatusWord::from(sw))
}

/// `61 xx`: the xx to fetch.
fn more_data(sw: StatusWord) -> Option<u8> {
    match sw {
        StatusWord::MoreData(xx) => Some(xx),
        _ => None,
    }
}

/// `6C xx`: the Le to resend with.
fn wrong_le(sw: StatusWord) -> Option<u8> {
    match sw {
        StatusWord::WrongLe(xx) => Some(xx),
        _ => None,
    }
}

/// Checks that every APDU whose status word `announces` an xx is followed,
/// as the next command, by `expected(command, xx)` (hex), with nothing
/// between them: no power event, no other command, not the end of the trace.
fn follow_ups(
    trace: &[TraceRecord],
    announces: fn(StatusWord) -> Option<u8>,
    expected: impl Fn(&str, u8) -> (String, String),
) -> Result<(), String> {
    for (i, r) in trace.iter().enumerate() {
        let Some(xx) = status(r).and_then(announces) else {
            continue;
        };
        if r.event != TraceEvent::Apdu {
            continue;
        }
        let (want, what) = expected(r.command.as_deref().unwrap_or_default(), xx);
        match trace.get(i + 1) {
            Some(next) if next.event == TraceEvent::Apdu => {
                if next.command.as_deref() != Some(want.as_str()) {
                    return Err(format!(
                        "after {} the client sent {} instead of {what}",
                        r.summary, next.summary
                    ));
                }
            }
            Some(next) => {
                return Err(format!(
                    "after {} came {} instead of {what}",
                    r.summary, next.summary
                ));
            }
            None => {
                return Err(format!(
                    "after {} the client stopped instead of sending {what}",
                    r.summary
                ));
            }
        }
    }
    Ok(())
}

/// Whether a traced command (hex, PIN bytes masked as `*`) is in the
/// extended form: after the 4-byte header, a `00` byte followed by at least
/// two more (an extended Lc or Le). A short command's fifth byte is a
/// non-zero Lc or its Le, and the masking never reaches it.
fn is_extended(command: &str) -> bool {
    command.len() >= 14 && command.get(8..10) == Some("00")
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
        assert!(
            Rule::NeverReadsMyNumber
                .check(&trace, Method::Pin, &[])
                .is_err()
        );
        let trace = [apdu(
            "READ BINARY EF 000A (auth certificate) @0 Le=4 → 9000 (ok)",
            "9000",
        )];
        assert!(
            Rule::NeverReadsMyNumber
                .check(&trace, Method::Pin, &[])
                .is_ok()
        );
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
                .check(std::slice::from_ref(&query), Method::Visual, &[])
                .is_ok()
        );
        assert!(
            Rule::NoVerifyInVisualMode
                .check(std::slice::from_ref(&verify), Method::Visual, &[])
                .is_err()
        );
        assert!(
            Rule::NoVerifyInVisualMode
                .check(&[verify], Method::Pin, &[])
                .is_ok()
        );
    }

    fn exchange(command: &str, sw: &str) -> TraceRecord {
        TraceRecord {
            command: Some(command.into()),
            ..apdu(&format!("{command} → {sw}"), sw)
        }
    }

    fn event(event: TraceEvent) -> TraceRecord {
        TraceRecord {
            event,
            sw: None,
            ..apdu("power", "")
        }
    }

    #[test]
    fn a_61xx_must_be_fetched_with_get_response() {
        let sign = exchange("802A00800133", "6100");
        let fetch = exchange("00C0000000", "9000");
        let rule = Rule::HandlesGetResponse;
        assert!(
            rule.check(&[sign.clone(), fetch.clone()], Method::Pin, &[])
                .is_ok()
        );
        // Not fetched: another command, a wrong Le, nothing at all.
        let other = exchange("00A4020C020018", "9000");
        assert!(
            rule.check(&[sign.clone(), other], Method::Pin, &[])
                .is_err()
        );
        let wrong = exchange("00C0000010", "6C00");
        assert!(
            rule.check(&[sign.clone(), wrong], Method::Pin, &[])
                .is_err()
        );
        assert!(
            rule.check(std::slice::from_ref(&sign), Method::Pin, &[])
                .is_err()
        );
        assert!(
            rule.check(&[sign, event(TraceEvent::PowerOff)], Method::Pin, &[])
                .is_err()
        );
        // A chain of GET RESPONSEs, each with the announced Le.
        let trace = [
            exchange("802A00800133", "6100"),
            exchange("00C0000000", "612C"),
            exchange("00C000002C", "9000"),
        ];
        assert!(rule.check(&trace, Method::Pin, &[]).is_ok());
    }

    #[test]
    fn a_6cxx_must_be_answered_with_the_right_le() {
        let rule = Rule::HandlesWrongLe;
        let read = exchange("00B0060000", "6C25");
        assert!(
            rule.check(
                &[read.clone(), exchange("00B0060025", "9000")],
                Method::Pin,
                &[]
            )
            .is_ok()
        );
        assert!(
            rule.check(
                &[read.clone(), exchange("00B0060000", "6C25")],
                Method::Pin,
                &[]
            )
            .is_err()
        );
        assert!(
            rule.check(
                &[read.clone(), exchange("00B0070025", "9000")],
                Method::Pin,
                &[]
            )
            .is_err()
        );
        assert!(rule.check(&[read], Method::Pin, &[]).is_err());
    }

    #[test]
    fn extended_apdus_are_caught() {
        let rule = Rule::ShortApdusOnly;
        for short in [
            "00A4040C0AD392F000260100000001",
            "00B0000000",
            "0020008004********",
            "00200080",
        ] {
            assert!(
                rule.check(&[exchange(short, "9000")], Method::Pin, &[])
                    .is_ok(),
                "{short}"
            );
        }
        assert!(
            rule.check(&[exchange("00B00000000800", "6700")], Method::Pin, &[])
                .is_err()
        );
        assert!(
            rule.check(
                &[exchange("00200080000004********", "9000")],
                Method::Pin,
                &[]
            )
            .is_err()
        );
    }

    #[test]
    fn commands_after_a_removal_are_caught_until_the_card_is_back() {
        let rule = Rule::NoApduAfterRemoval;
        let answered = exchange("00A4020C02000A", "9000");
        let unanswered = TraceRecord {
            sw: None,
            response: None,
            ..exchange("00B0000004", "")
        };
        assert!(
            rule.check(&[answered.clone(), unanswered.clone()], Method::Pin, &[])
                .is_ok()
        );
        assert!(
            rule.check(
                &[answered.clone(), unanswered.clone(), unanswered.clone()],
                Method::Pin,
                &[]
            )
            .is_err()
        );
        assert!(
            rule.check(
                &[
                    unanswered.clone(),
                    event(TraceEvent::PowerOff),
                    answered.clone()
                ],
                Method::Pin,
                &[]
            )
            .is_err()
        );
        assert!(
            rule.check(
                &[unanswered, event(TraceEvent::PowerOn), answered],
                Method::Pin,
                &[]
            )
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
                .check(&[blocked.clone(), verify.clone()], Method::Pin, &[])
                .is_err()
        );
        assert!(
            Rule::NoVerifyOnBlockedPin
                .check(std::slice::from_ref(&verify), Method::Pin, &[])
                .is_ok()
        );
        let wrong = apdu(
            "VERIFY EF 0018 (auth PIN) (4 digits) → 63C2 (2 tries left)",
            "63C2",
        );
        assert!(
            Rule::NoPinRetryWithoutInput
                .check(&[wrong.clone(), wrong.clone()], Method::Pin, &[])
                .is_err()
        );
        assert!(
            Rule::NoPinRetryWithoutInput
                .check(&[wrong], Method::Pin, &[])
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
                .check(&[query.clone(), sign.clone()], Method::Iphone, &[])
                .is_err()
        );
        // A card that answers VERIFY with 6D00 is an iPhone, whatever the method.
        assert!(
            Rule::NoVerifyToIphone
                .check(std::slice::from_ref(&query), Method::Pin, &[])
                .is_err()
        );
        // A VERIFY to a card or an Android phone is no iPhone's business.
        assert!(
            Rule::NoVerifyToIphone
                .check(&[verify.clone(), sign.clone()], Method::Android, &[])
                .is_ok()
        );
        assert!(
            Rule::NoVerifyToIphone
                .check(&[sign], Method::Iphone, &[])
                .is_ok()
        );
    }
}
