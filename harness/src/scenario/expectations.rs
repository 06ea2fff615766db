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
        checks.push(match rule.check(observed.trace, observed.method) {
            Ok(()) => Check::pass(&name, "no violation", "no violation"),
            Err(violation) => Check::new(&name, "no violation", violation),
        });
    }
    checks
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
    fn no_outcome_fails_the_client_check_and_every_outcome_expectation() {
        let expect = Expectations {
            outcome: Some(OutcomeKind::Confirmed),
            tries_left: Some(3),
            ..Expectations::default()
        };
        let o = outcome();
        let mut seen = observed(&o);
        seen.outcome = Err("exit status 1");
        let checks = check_expectations(&expect, &[], &seen);
        assert_eq!(failed(&checks), ["client", "outcome", "tries_left"]);
        assert!(checks[1].actual.contains("exit status 1"));
    }
}
