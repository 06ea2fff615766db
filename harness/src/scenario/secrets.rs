//! The PINs and passwords the runner hands a client, found again in what
//! the client printed or logged, and taken out of every report.
//!
//! The runner knows every secret it gives a client (the PIN the patient
//! types, the staff's app password), so it can look for them in the
//! client's standard output, standard error and declared log files: a
//! client that shows one breaks the conformance rule
//! `never_reveals_secrets`. Whatever a client did, no report may carry
//! them either, so each scenario's report is redacted before anyone sees
//! it.
//!
//! A 4-digit PIN is short, and digits are everywhere in a confirmation
//! (dates, insurer numbers, 記号), so the matching is deliberately narrow:
//!
//! - **whole token**: an occurrence counts only when the characters on
//!   either side are not of the same kind as the secret's edge (a PIN
//!   `1234` is found in `PIN=1234` and `pin1234`, not in `20261234` or
//!   `06123499`);
//! - **as sent to the card**: its ASCII bytes in hex (`31323334`, any case,
//!   bytes joined or spaced), the way a client that logs its VERIFY APDUs
//!   shows it, anywhere;
//! - **ambiguous values**: when the secret is also a value the service
//!   returned in the check (a fixture's 記号 may well be `1234`), a bare
//!   token of it is that value, not the PIN, and counts only where a label
//!   (`pin`, `password`, `passwd`, `暗証`, `パスワード`) stands shortly
//!   before it on the same line.
//!
//! What is not found: a secret transformed any other way (spaced digits,
//! base64, a hash). The rule catches the usual slip, a debug line with the
//! PIN in it; it proves nothing about a client that hides what it does.

use std::collections::HashSet;

use serde_json::Value;

use super::format::Scenario;
use crate::client::CheckInputs;
use crate::client::app::AppLogin;

/// How a redacted secret reads in reports.
pub const MASK: &str = "****";

/// Labels that name a secret just before it, in lower case.
const LABELS: [&str; 5] = ["pin", "password", "passwd", "暗証", "パスワード"];

/// How far before a token its label may stand, in bytes.
const LABEL_REACH: usize = 24;

/// One secret and what it is, for messages that must not show it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Secret {
    value: String,
    what: &'static str,
}

/// The secrets of one check or one scenario.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets(Vec<Secret>);

/// Values the service itself returned: a secret equal to one of them is
/// ambiguous as a bare token.
#[derive(Debug, Clone, Default)]
pub struct Public(HashSet<String>);

impl Public {
    /// Every string (and number) in the service's answer, as text.
    pub fn of(values: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        Public(values.into_iter().map(|v| v.as_ref().to_string()).collect())
    }

    /// Every leaf of a JSON value, as text.
    pub fn of_json(value: Option<&Value>) -> Self {
        let mut leaves = Vec::new();
        if let Some(value) = value {
            collect_leaves(value, &mut leaves);
        }
        Public::of(leaves)
    }

    /// Adds more values known to be the service's or the suite's own.
    pub fn extend(&mut self, values: impl IntoIterator<Item = String>) {
        self.0.extend(values);
    }

    fn contains(&self, text: &str) -> bool {
        self.0.contains(text)
    }
}

fn collect_leaves(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(items) => items.iter().for_each(|v| collect_leaves(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_leaves(v, out)),
        Value::Null | Value::Bool(_) => {}
    }
}

/// Where a secret was found in a text: a byte range, and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    pub what: &'static str,
    /// Found as the hex of its bytes rather than as typed.
    pub as_hex: bool,
}

impl Secrets {
    /// What the runner hands a client for one check: the PIN the patient
    /// types and, on the app channel, the staff's password.
    pub fn handed(inputs: &CheckInputs, app: Option<&AppLogin>) -> Self {
        let mut secrets = Secrets::default();
        if let Some(pin) = &inputs.pin {
            secrets.add(pin, "the PIN");
        }
        if let Some(login) = app {
            secrets.add(&login.password, "the app password");
        }
        secrets
    }

    /// Every secret a scenario hands its client in any of its checks: the
    /// PIN, each step's PIN, the staff's password.
    pub fn of_scenario(scenario: &Scenario) -> Self {
        let mut secrets = Secrets::default();
        if let Some(pin) = &scenario.client.pin {
            secrets.add(pin, "the PIN");
        }
        for step in &scenario.steps {
            if let Some(pin) = &step.pin {
                secrets.add(pin, "the PIN");
            }
        }
        if let Some(facility) = &scenario.facility {
            secrets.add(&facility.password, "the app password");
        }
        secrets
    }

    fn add(&mut self, value: &str, what: &'static str) {
        // Nothing typed is nothing to find.
        if value.is_empty() || self.0.iter().any(|s| s.value == value) {
            return;
        }
        self.0.push(Secret {
            value: value.to_string(),
            what,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every occurrence in `text`, by start, not overlapping.
    pub fn find(&self, text: &str, public: &Public) -> Vec<Found> {
        let lower = text.to_ascii_lowercase();
        let mut found = Vec::new();
        for secret in &self.0 {
            let ambiguous = public.contains(&secret.value);
            for (start, _) in text.match_indices(secret.value.as_str()) {
                let end = start + secret.value.len();
                if !whole_token(text, start, end) {
                    continue;
                }
                if ambiguous && !labelled(&lower, start) {
                    continue;
                }
                found.push(Found {
                    start,
                    end,
                    what: secret.what,
                    as_hex: false,
                });
            }
            for form in hex_forms(&secret.value) {
                for (start, _) in lower.match_indices(form.as_str()) {
                    found.push(Found {
                        start,
                        end: start + form.len(),
                        what: secret.what,
                        as_hex: true,
                    });
                }
            }
        }
        found.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
        let mut kept: Vec<Found> = Vec::new();
        for f in found {
            match kept.last() {
                Some(last) if f.start < last.end => {}
                _ => kept.push(f),
            }
        }
        kept
    }

    /// The text with every occurrence replaced by [`MASK`].
    pub fn redact(&self, text: &str, public: &Public) -> String {
        let found = self.find(text, public);
        if found.is_empty() {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for f in found {
            out.push_str(&text[at..f.start]);
            out.push_str(MASK);
            at = f.end;
        }
        out.push_str(&text[at..]);
        out
    }

    /// Where `text` (one stream or file the client wrote, named `source`)
    /// shows a secret: one line per secret and form, never the value.
    pub fn leaks_in(&self, source: &str, text: &str, public: &Public) -> Vec<String> {
        let mut leaks: Vec<String> = Vec::new();
        for f in self.find(text, public) {
            let line = text[..f.start].matches('\n').count() + 1;
            let form = if f.as_hex { " (as hex bytes)" } else { "" };
            let leak = format!("{}{form} in {source}, line {line}", f.what);
            if !leaks.contains(&leak) {
                leaks.push(leak);
            }
        }
        leaks
    }
}

/// The secret's edges do not run on into more of the same kind of
/// character: digits into digits, letters into letters or digits.
fn whole_token(text: &str, start: usize, end: usize) -> bool {
    let same_kind = |edge: Option<char>, neighbour: Option<char>| match (edge, neighbour) {
        (Some(e), Some(n)) if e.is_ascii_digit() => n.is_ascii_digit(),
        (Some(e), Some(n)) if e.is_alphabetic() => n.is_alphanumeric(),
        _ => false,
    };
    let secret = &text[start..end];
    !same_kind(secret.chars().next(), text[..start].chars().next_back())
        && !same_kind(secret.chars().next_back(), text[end..].chars().next())
}

/// A label stands just before `start`, on the same line.
fn labelled(lower: &str, start: usize) -> bool {
    let mut from = start.saturating_sub(LABEL_REACH);
    while !lower.is_char_boundary(from) {
        from += 1;
    }
    let before = &lower[from..start];
    let line = before.rsplit('\n').next().unwrap_or(before);
    LABELS.iter().any(|label| line.contains(label))
}

/// The secret's bytes in lower-case hex, joined and spaced.
fn hex_forms(value: &str) -> [String; 2] {
    let bytes: Vec<String> = value.bytes().map(|b| format!("{b:02x}")).collect();
    [bytes.concat(), bytes.join(" ")]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(value: &str) -> Secrets {
        let mut secrets = Secrets::default();
        secrets.add(value, "the PIN");
        secrets
    }

    #[test]
    fn a_pin_is_found_as_a_token_and_as_the_bytes_sent_to_the_card() {
        let s = pin("1234");
        let none = Public::default();
        for text in [
            "PIN=1234",
            "pin1234",
            "typed 1234.",
            "1234",
            "VERIFY 002000800431323334",
            "apdu 00 20 00 80 04 31 32 33 34",
            "VERIFY 00200080043132333A",
        ] {
            let found = s.find(text, &none);
            assert_eq!(found.len(), usize::from(!text.ends_with('A')), "{text}");
        }
    }

    #[test]
    fn digits_inside_longer_numbers_are_not_the_pin() {
        let s = pin("1234");
        let none = Public::default();
        for text in [
            "2026-12-34T1:00",
            "insurer 06123499",
            "20261234",
            "12345",
            "0.1234",
            "x1234y",
        ] {
            let found = s.find(text, &none);
            // `0.1234` and `x1234y`: a token (the rule errs on the side of a
            // leak only where the PIN stands apart).
            let expected = usize::from(text == "0.1234" || text == "x1234y");
            assert_eq!(found.len(), expected, "{text}");
        }
    }

    #[test]
    fn a_pin_that_is_also_a_returned_value_counts_only_when_labelled() {
        let s = pin("1234");
        let public = Public::of(["1234"]);
        assert!(s.find("記号 1234 番号 5", &public).is_empty());
        assert!(
            s.find("{\"InsuredCardSymbol\":\"1234\"}", &public)
                .is_empty()
        );
        assert_eq!(s.find("PIN entered: 1234", &public).len(), 1);
        assert_eq!(s.find("暗証番号 1234", &public).len(), 1);
        assert_eq!(s.find("sent 31323334", &public).len(), 1);
        assert!(s.find("pin\nsymbol 1234", &public).is_empty());
    }

    #[test]
    fn redaction_masks_every_occurrence_and_leaks_never_show_the_value() {
        let s = pin("1234");
        let none = Public::default();
        assert_eq!(
            s.redact("pin 1234, again 1234; apdu 3132 3334 | 31 32 33 34", &none),
            "pin ****, again ****; apdu 3132 3334 | ****"
        );
        let leaks = s.leaks_in("stderr", "a\nb PIN=1234\nc 31323334", &none);
        assert_eq!(
            leaks,
            [
                "the PIN in stderr, line 2",
                "the PIN (as hex bytes) in stderr, line 3"
            ]
        );
        assert!(leaks.iter().all(|l| !l.contains("1234")));
    }

    #[test]
    fn a_password_is_found_and_multibyte_text_around_it_is_safe() {
        let mut s = Secrets::default();
        s.add("Passw0rd!", "the app password");
        let none = Public::default();
        assert_eq!(s.redact("ログイン Passw0rd! で", &none), "ログイン **** で");
        assert!(s.find("XPassw0rd!", &none).is_empty());
        assert!(s.find("暗証番号はありません", &none).is_empty());
    }
}
