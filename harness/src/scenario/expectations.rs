//! The expectations of one scenario checked against what the run left: the
//! client's outcome, the card's tries left, the service's history, and the
//! conformance rules over the APDU trace.

use serde_json::Value;
use sim_card::trace::TraceRecord;

use super::conformance::Rule;
use super::format::Expectations;
use super::report::Check;
use super::shown;
use crate::client::{ClientOutcome, Method, OutcomeKind};

/// What a run left, for the expectations to be checked against.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    /// The client's outcome, or why it gave none.
    pub outcome: Result<&'a ClientOutcome, &'a str>,
    pub trace: &'a [TraceRecord],
    /// The card's auth PIN tries left afterwards (`None`: no card).
    pub auth_tries_left: Option<u8>,
    /// Confirmations in the history that showed qualification information.
    pub history_count: Result<usize, String>,
    /// What each of the scenario's result searches listed.
    pub history_searches: Vec<Result<usize, String>>,
    pub method: Method,
    /// Where the client showed a secret it was handed (see
    /// [`ClientRun::leaks`](super::contract::ClientRun::leaks)).
    pub leaks: &'a [String],
    /// The XmlMsg documents the facility received, oldest first, or why
    /// there are none to look at (read only when `expect.xml` is given).
    pub xml: Result<Vec<Vec<u8>>, String>,
}

/// Checks every expectation (and the given conformance rules), one
/// [`Check`] each, in the order the format lists them. A client that gave
/// no outcome at all fails a `client` check, whatever else is expected.
pub fn check_expectations(
    expect: &Expectations,
    rules: &[Rule],
    observed: &Observed<'_>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let outcome = observed.outcome.ok();
    let no_outcome = || match observed.outcome {
        Ok(_) => String::new(),
        Err(e) => format!("no outcome ({e})"),
    };
    if let Err(e) = observed.outcome {
        checks.push(Check::new(
            "client",
            "an outcome",
            format!("no outcome ({e})"),
        ));
    }
    // Compares an optional text the outcome carries with the expected one.
    let compare = |name: &str, expected: &str, actual: Option<Option<String>>| {
        let actual = match actual {
            None => no_outcome(),
            Some(None) => "(none)".to_string(),
            Some(Some(value)) => value,
        };
        Check::new(name, expected, actual)
    };
    if let Some(kind) = expect.outcome {
        checks.push(compare(
            "outcome",
            &outcome_name(kind),
            outcome.map(|o| Some(outcome_name(o.outcome))),
        ));
    }
    if let Some(validity) = &expect.validity {
        checks.push(compare(
            "validity",
            validity,
            outcome.map(|o| o.validity.clone()),
        ));
    }
    if let Some(code) = &expect.processing_result_code {
        checks.push(compare(
            "processing_result_code",
            code,
            outcome.map(|o| o.processing_result_code.clone()),
        ));
    }
    for banner in &expect.banners {
        let shown = outcome.map(|o| o.banners.clone());
        let check = match &shown {
            Some(list) if list.contains(banner) => Check::pass("banner", banner, banner),
            Some(list) => Check::new(
                "banner",
                banner,
                if list.is_empty() {
                    "(no banners)".to_string()
                } else {
                    format!("only {}", list.join(", "))
                },
            ),
            None => Check::new("banner", banner, no_outcome()),
        };
        checks.push(check);
    }
    if let Some(tries) = expect.tries_left {
        checks.push(compare(
            "tries_left",
            &tries.to_string(),
            outcome.map(|o| o.tries_left.map(|t| t.to_string())),
        ));
    }
    checks.extend(shown::absent(&expect.absent, outcome, &no_outcome()));
    for (field, expected) in &expect.fields {
        let actual = shown::outcome_field(outcome, field, &no_outcome());
        checks.push(shown::field_check(
            &format!("fields.{field}"),
            expected,
            actual,
        ));
    }
    checks.extend(shown::results(&expect.results, outcome, &no_outcome()));
    let result = outcome.map(|o| o.result.as_ref());
    if let Some(count) = expect.result_count {
        let actual = match result {
            None => no_outcome(),
            Some(result) => result
                .and_then(shown::result_list)
                .map_or(0, <[Value]>::len)
                .to_string(),
        };
        checks.push(Check::new("result_count", count.to_string(), actual));
    }
    if let Some(card) = &expect.card {
        let tries = observed.auth_tries_left;
        let show = |t: Option<u8>| t.map_or("(no card)".to_string(), |t| t.to_string());
        if let Some(expected) = card.auth_tries_left {
            checks.push(Check::new(
                "card.auth_tries_left",
                expected.to_string(),
                show(tries),
            ));
        }
        if let Some(locked) = card.auth_locked {
            let actual = tries.map_or("(no card)".to_string(), |t| (t == 0).to_string());
            checks.push(Check::new("card.auth_locked", locked.to_string(), actual));
        }
    }
    if let Some(count) = expect.history_count {
        let actual = match &observed.history_count {
            Ok(n) => n.to_string(),
            Err(e) => e.clone(),
        };
        checks.push(Check::new("history_count", count.to_string(), actual));
    }
    for (i, search) in expect.history_search.iter().enumerate() {
        let actual = match observed.history_searches.get(i) {
            Some(Ok(n)) => n.to_string(),
            Some(Err(e)) => e.clone(),
            None => "(not searched)".to_string(),
        };
        checks.push(Check::new(
            &format!("history_search[{i}]"),
            search.count.to_string(),
            actual,
        ));
    }
    if let Some(xml) = &expect.xml {
        let documents = observed.xml.as_deref().map_err(String::as_str);
        checks.extend(shown::xml(xml, documents));
    }
    for rule in rules {
        let name = format!("conformance.{}", rule.name());
        checks.push(
            match rule.check(observed.trace, observed.method, observed.leaks) {
                Ok(()) => Check::pass(&name, "no violation", "no violation"),
                Err(violation) => Check::new(&name, "no violation", violation),
            },
        );
    }
    checks
}

/// The device the client named: every confirmation the service recorded
/// for the check must carry the device the runner handed the client
/// (`KAZASU_DEVICE`). `None` when the service recorded none (nothing to
/// check: the client never got that far, or the scenario refuses earlier).
pub fn device_check(handed: &str, recorded: &Result<Vec<String>, String>) -> Option<Check> {
    match recorded {
        Ok(devices) if devices.is_empty() => None,
        Ok(devices) => {
            let mut seen: Vec<&str> = devices.iter().map(String::as_str).collect();
            seen.dedup();
            Some(Check::new("device", handed, seen.join(", ")))
        }
        Err(e) => Some(Check::new("device", handed, e.clone())),
    }
}

/// A client that gave no outcome (it did not start, exited without one,
/// printed no readable JSON, overstayed its time limit) fails once, with
/// the cause: the expectations that hinge on what it did (outcome, fields,
/// card, history) are left unchecked and counted in that one failure. The
/// conformance rules still judge what it did before it broke. Checks are
/// grouped by their prefix (`step 2 (hold): `), so a story's broken hold
/// collapses within its own step.
pub fn collapse_broken_client(checks: Vec<Check>) -> Vec<Check> {
    let broken: Vec<String> = checks
        .iter()
        .filter_map(|c| {
            let prefix = c.expectation.strip_suffix("client")?;
            (!c.passed && (prefix.is_empty() || prefix.ends_with(": "))).then(|| prefix.to_string())
        })
        .collect();
    if broken.is_empty() {
        return checks;
    }
    let in_broken = |c: &Check| {
        broken.iter().find(|prefix| {
            c.expectation.starts_with(prefix.as_str())
                && (prefix.is_empty() || !c.expectation[prefix.len()..].contains(": "))
        })
    };
    let mut unchecked: std::collections::HashMap<String, usize> = Default::default();
    let mut kept = Vec::with_capacity(checks.len());
    for check in checks {
        match in_broken(&check) {
            Some(prefix) => {
                let rest = &check.expectation[prefix.len()..];
                if rest == "client" || rest.starts_with("conformance.") {
                    kept.push(check);
                } else {
                    *unchecked.entry(prefix.clone()).or_default() += 1;
                }
            }
            None => kept.push(check),
        }
    }
    for check in &mut kept {
        if let Some(prefix) = check.expectation.strip_suffix("client")
            && let Some(&n) = unchecked.get(prefix).filter(|&&n| n > 0)
        {
            let noun = if n == 1 {
                "expectation"
            } else {
                "expectations"
            };
            check.actual = format!("{} ({n} {noun} not checked)", check.actual);
        }
    }
    kept
}

/// An outcome kind as scenario files write it (`wrong-pin`).
pub fn outcome_name(kind: OutcomeKind) -> String {
    match serde_json::to_value(kind) {
        Ok(Value::String(name)) => name,
        _ => format!("{kind:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outcome() -> ClientOutcome {
        ClientOutcome {
            outcome: OutcomeKind::Confirmed,
            message: "ok".into(),
            validity: Some("1".into()),
            processing_result_code: None,
            banners: vec!["義務教育就学前".into()],
            tries_left: Some(3),
            result: Some(json!({
                "MessageHeader": {},
                "MessageBody": {
                    "QualificationValidity": "1",
                    "ResultList": [
                        {"InsurerNumber": "06139990", "ElderlyRecipient": {"Ratio": 2}},
                        {"InsurerNumber": "01010016"}
                    ]
                }
            })),
        }
    }

    fn observed(outcome: &ClientOutcome) -> Observed<'_> {
        Observed {
            outcome: Ok(outcome),
            trace: &[],
            auth_tries_left: Some(3),
            history_count: Ok(1),
            history_searches: Vec::new(),
            method: Method::Pin,
            leaks: &[],
            xml: Err("not asked".into()),
        }
    }

    fn failed(checks: &[Check]) -> Vec<&str> {
        checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.expectation.as_str())
            .collect()
    }

    #[test]
    fn fields_are_found_nested_and_absence_is_expressible() {
        let o = outcome();
        let expect = Expectations {
            fields: [
                ("InsurerNumber".to_string(), "06139990".to_string()),
                ("Ratio".to_string(), "2".to_string()),
                ("NameOfOther".to_string(), String::new()),
            ]
            .into(),
            result_count: Some(2),
            ..Expectations::default()
        };
        let checks = check_expectations(&expect, &[], &observed(&o));
        assert_eq!(failed(&checks), Vec::<&str>::new(), "{checks:?}");
        let expect = Expectations {
            fields: [("InsurerNumber".to_string(), String::new())].into(),
            ..Expectations::default()
        };
        let checks = check_expectations(&expect, &[], &observed(&o));
        assert_eq!(failed(&checks), ["fields.InsurerNumber"]);
        assert_eq!(checks[0].actual, "06139990");
    }

    #[test]
    fn no_outcome_is_one_failure_with_its_cause() {
        let expect = Expectations {
            outcome: Some(OutcomeKind::Confirmed),
            tries_left: Some(3),
            history_count: Some(1),
            ..Expectations::default()
        };
        let o = outcome();
        let mut seen = observed(&o);
        seen.outcome = Err("exit status 1");
        seen.history_count = Ok(0);
        let checks = check_expectations(&expect, &[Rule::NeverReadsMyNumber], &seen);
        assert_eq!(
            failed(&checks),
            ["client", "outcome", "tries_left", "history_count"]
        );
        let checks = collapse_broken_client(checks);
        assert_eq!(failed(&checks), ["client"]);
        assert_eq!(checks.len(), 2, "the client check and the rule: {checks:?}");
        assert!(checks[0].actual.contains("exit status 1"));
        assert!(checks[0].actual.ends_with("(3 expectations not checked)"));
        assert_eq!(checks[1].expectation, "conformance.never_reads_my_number");
    }

    #[test]
    fn a_broken_hold_in_a_story_collapses_within_its_step() {
        let named = |name: &str, passed: bool| Check {
            passed,
            ..Check::new(name, "x", "y")
        };
        let checks = collapse_broken_client(vec![
            named("step 1 (hold): outcome", false),
            named("step 2 (hold): client", false),
            named("step 2 (hold): outcome", false),
            named("step 2 (hold): conformance.short_apdus_only", true),
            named("step 3 (advance-clock): history_count", false),
        ]);
        let names: Vec<&str> = checks.iter().map(|c| c.expectation.as_str()).collect();
        assert_eq!(
            names,
            [
                "step 1 (hold): outcome",
                "step 2 (hold): client",
                "step 2 (hold): conformance.short_apdus_only",
                "step 3 (advance-clock): history_count"
            ]
        );
        assert!(checks[1].actual.ends_with("(1 expectation not checked)"));
    }

    #[test]
    fn the_device_must_be_the_one_handed_over() {
        assert_eq!(device_check("d1", &Ok(Vec::new())), None);
        assert!(device_check("d1", &Ok(vec!["d1".into(), "d1".into()])).is_some_and(|c| c.passed));
        let c = device_check("d1", &Ok(vec!["reception-1".into()])).unwrap();
        assert!(!c.passed && c.actual == "reception-1");
    }

    #[test]
    fn a_leak_breaks_the_secrets_rule() {
        let o = outcome();
        let leaks = vec!["the PIN in stderr, line 1".to_string()];
        let mut seen = observed(&o);
        seen.leaks = &leaks;
        let checks = check_expectations(
            &Expectations::default(),
            &[Rule::NeverRevealsSecrets],
            &seen,
        );
        assert_eq!(failed(&checks), ["conformance.never_reveals_secrets"]);
        assert!(checks[0].actual.contains("the PIN in stderr, line 1"));
    }
}
