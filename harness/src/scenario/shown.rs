//! Checks of everything a client showed beyond the first result's flat
//! fields: what must be absent (`expect.absent`), every result of the list
//! (`[[expect.results]]`), and result fields by path
//! (`ElderlyRecipientCertificateInfo/ElderlyRecipientContributionRatio`,
//! `results[1]/InsurerNumber`, `PublicExpenseResultList/MedicalTicketInfo[0]/TicketType`).
//!
//! A path is what the interface specification writes: element names from
//! the result (`ResultOfQualificationConfirmation`) down, `/` between them,
//! `[i]` (0-based) to pick one of repeated elements. A bare element name is
//! looked for anywhere in the result, as `fields` always did, so existing
//! scenarios keep their meaning.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use sim_service::xml::XmlElement;

use super::format::XmlExpectations;
use super::report::Check;
use crate::client::ClientOutcome;

/// Something a result screen shows, that a scenario can require absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Shown {
    /// No ProcessingResultCode (no refusal, no notice such as the expiry
    /// warning).
    ProcessingResultCode,
    /// No QualificationValidity.
    Validity,
    /// No banner at all.
    Banners,
    /// No result from the service.
    Result,
    /// No PIN tries left reported.
    TriesLeft,
}

impl Shown {
    fn name(self) -> &'static str {
        match self {
            Shown::ProcessingResultCode => "processing_result_code",
            Shown::Validity => "validity",
            Shown::Banners => "banners",
            Shown::Result => "result",
            Shown::TriesLeft => "tries_left",
        }
    }

    /// What the outcome shows of this (`None`: nothing).
    fn in_outcome(self, outcome: &ClientOutcome) -> Option<String> {
        match self {
            Shown::ProcessingResultCode => outcome.processing_result_code.clone(),
            Shown::Validity => outcome.validity.clone(),
            Shown::Banners => (!outcome.banners.is_empty()).then(|| outcome.banners.join(", ")),
            Shown::Result => outcome.result.as_ref().map(|r| {
                let count = result_list(r).map_or(0, <[Value]>::len);
                format!("a result with {count} entries")
            }),
            Shown::TriesLeft => outcome.tries_left.map(|t| t.to_string()),
        }
    }
}

/// One check per item of `expect.absent`.
pub fn absent(items: &[Shown], outcome: Option<&ClientOutcome>, no_outcome: &str) -> Vec<Check> {
    items
        .iter()
        .map(|item| {
            let name = format!("absent.{}", item.name());
            match outcome {
                None => Check::new(&name, "(absent)", no_outcome),
                Some(o) => match item.in_outcome(o) {
                    None => Check::pass(&name, "(absent)", "(absent)"),
                    Some(shown) => Check::new(&name, "(absent)", shown),
                },
            }
        })
        .collect()
}

/// Checks each result of the list against its table, and that the list
/// holds exactly as many results as tables are given.
pub fn results(
    expected: &[BTreeMap<String, String>],
    outcome: Option<&ClientOutcome>,
    no_outcome: &str,
) -> Vec<Check> {
    if expected.is_empty() {
        return Vec::new();
    }
    let list = outcome.map(|o| o.result.as_ref().and_then(result_list).unwrap_or(&[]));
    let mut checks = vec![Check::new(
        "results (count)",
        expected.len().to_string(),
        list.map_or_else(|| no_outcome.to_string(), |l| l.len().to_string()),
    )];
    for (i, fields) in expected.iter().enumerate() {
        for (path, value) in fields {
            let name = format!("results[{i}].{path}");
            let actual = match list {
                None => Err(no_outcome.to_string()),
                Some(list) => match list.get(i) {
                    None => Err("(no such result)".to_string()),
                    Some(result) => Ok(field(result, path)),
                },
            };
            checks.push(field_check(&name, value, actual));
        }
    }
    checks
}

/// One field of the outcome's result by path: `results[N]/…` picks the Nth
/// result, otherwise the first. `Err` says why there is nothing to look in.
pub fn outcome_field(
    outcome: Option<&ClientOutcome>,
    path: &str,
    no_outcome: &str,
) -> Result<Option<String>, String> {
    let outcome = outcome.ok_or_else(|| no_outcome.to_string())?;
    let result = outcome.result.as_ref().ok_or("(no result)")?;
    let list = result_list(result).unwrap_or(&[]);
    let (index, rest) = match split_result_index(path) {
        Some((index, rest)) => (index, rest),
        None => (0, path),
    };
    match list.get(index) {
        Some(entry) => Ok(field(entry, rest)),
        None if index == 0 => Err("(no results in the list)".into()),
        None => Err(format!("(no result [{index}]: {} in the list)", list.len())),
    }
}

/// A check of one field: `""` expects it absent.
pub fn field_check(name: &str, expected: &str, actual: Result<Option<String>, String>) -> Check {
    match (expected.is_empty(), actual) {
        // No result to look in: nothing is shown, which absence accepts;
        // no outcome at all is not a client that showed nothing.
        (true, Err(why)) if why.starts_with('(') => Check::pass(name, "(absent)", why),
        (true, Err(why)) => Check::new(name, "(absent)", why),
        (true, Ok(None)) => Check::pass(name, "(absent)", "(absent)"),
        (true, Ok(Some(shown))) => Check::new(name, "(absent)", shown),
        (false, Err(why)) => Check::new(name, expected, why),
        (false, Ok(None)) => Check::new(name, expected, "(absent)"),
        (false, Ok(Some(shown))) => Check::new(name, expected, shown),
    }
}

/// `results[2]/InsurerNumber` → `(2, "InsurerNumber")`.
fn split_result_index(path: &str) -> Option<(usize, &str)> {
    let rest = path.strip_prefix("results[")?;
    let (index, rest) = rest.split_once(']')?;
    Some((index.parse().ok()?, rest.strip_prefix('/')?))
}

/// A field of one result: by path when it has a `/` or an index, else by
/// element name anywhere in the result. `None` when absent (or `null`).
fn field(result: &Value, path: &str) -> Option<String> {
    let value = if path.contains('/') || path.contains('[') {
        by_path(result, path)
    } else {
        find_field(result, path)
    }?;
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Follows `A/B[1]/C` from `value`; a repeated element without an index is
/// its first.
fn by_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('/').try_fold(value, |at, segment| {
        let (name, index) = match segment.split_once('[') {
            Some((name, rest)) => (name, Some(rest.strip_suffix(']')?.parse::<usize>().ok()?)),
            None => (segment, None),
        };
        let next = at.get(name)?;
        match (next, index) {
            (Value::Array(items), Some(i)) => items.get(i),
            (Value::Array(items), None) => items.first(),
            (_, Some(0)) | (_, None) => Some(next),
            (_, Some(_)) => None,
        }
    })
}

/// The result list of a service outcome (`MessageBody.ResultList`).
pub fn result_list(result: &Value) -> Option<&[Value]> {
    result
        .get("MessageBody")
        .unwrap_or(result)
        .get("ResultList")?
        .as_array()
        .map(Vec::as_slice)
}

/// A field by official element name, in the result or any group nested in it
/// (depth first), so `ElderlyRecipientContributionRatio` is found wherever
/// the result groups it.
fn find_field<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    match value {
        Value::Object(map) => map
            .get(name)
            .or_else(|| map.values().find_map(|v| find_field(v, name))),
        Value::Array(items) => items.iter().find_map(|v| find_field(v, name)),
        _ => None,
    }
}

/// Checks of the XmlMsg documents a step received (`expect.xml`): their
/// number, then the newest one's encoding and element text, decoded from
/// its bytes by its own declaration as the facility would. `Err` says why
/// there are none to look at.
pub fn xml(expected: &XmlExpectations, documents: Result<&[Vec<u8>], &str>) -> Vec<Check> {
    let mut checks = Vec::new();
    let documents = match documents {
        Ok(documents) => documents,
        Err(why) => {
            checks.push(Check::new("xml", "an XmlMsg", why));
            return checks;
        }
    };
    if let Some(count) = expected.documents {
        checks.push(Check::new(
            "xml.documents",
            count.to_string(),
            documents.len().to_string(),
        ));
    }
    if expected.encoding.is_none() && expected.fields.is_empty() {
        return checks;
    }
    let Some(bytes) = documents.last() else {
        checks.push(Check::new("xml", "an XmlMsg", "(no document)"));
        return checks;
    };
    let read = sim_service::xml::decode_document(bytes)
        .and_then(|(_, identifier)| {
            sim_service::xml::parse_document(bytes).map(|root| (identifier, root))
        })
        .map_err(|e| e.to_string());
    let (identifier, root) = match read {
        Ok(read) => read,
        Err(e) => {
            checks.push(Check::new("xml", "a readable XmlMsg", e));
            return checks;
        }
    };
    if let Some(encoding) = &expected.encoding {
        checks.push(Check::new(
            "xml.encoding",
            encoding,
            identifier.xml_encoding_name(),
        ));
    }
    for (path, value) in &expected.fields {
        let found = xml_element(&root, path).map(|e| e.text.clone());
        checks.push(field_check(&format!("xml.{path}"), value, Ok(found)));
    }
    checks
}

/// An element by path from `root`'s children (`A/B[1]/C`), or by bare
/// name anywhere below `root` (depth first).
fn xml_element<'a>(root: &'a XmlElement, path: &str) -> Option<&'a XmlElement> {
    if !path.contains('/') && !path.contains('[') {
        return find_xml(root, path);
    }
    path.split('/').try_fold(root, |at, segment| {
        let (name, index) = match segment.split_once('[') {
            Some((name, rest)) => (name, rest.strip_suffix(']')?.parse::<usize>().ok()?),
            None => (segment, 0),
        };
        at.children.iter().filter(|c| c.name == name).nth(index)
    })
}

fn find_xml<'a>(element: &'a XmlElement, name: &str) -> Option<&'a XmlElement> {
    element
        .children
        .iter()
        .find_map(|c| (c.name == name).then_some(c).or_else(|| find_xml(c, name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::OutcomeKind;
    use serde_json::json;

    fn outcome() -> ClientOutcome {
        ClientOutcome {
            outcome: OutcomeKind::Confirmed,
            message: "ok".into(),
            validity: Some("1".into()),
            processing_result_code: None,
            banners: Vec::new(),
            tries_left: Some(3),
            result: Some(json!({
                "MessageBody": {
                    "ResultList": [
                        {"InsurerNumber": "06139990",
                         "ElderlyRecipientCertificateInfo": {"ElderlyRecipientContributionRatio": "020"},
                         "PublicExpenseResultList": {"MedicalTicketInfo": [
                             {"TicketType": "1"}, {"TicketType": "2"}]}},
                        {"InsurerNumber": "01010016", "Name": null}
                    ]
                }
            })),
        }
    }

    #[test]
    fn paths_reach_nested_and_later_results() {
        let o = outcome();
        let get = |path: &str| outcome_field(Some(&o), path, "none");
        assert_eq!(
            get("ElderlyRecipientCertificateInfo/ElderlyRecipientContributionRatio"),
            Ok(Some("020".into()))
        );
        assert_eq!(get("results[1]/InsurerNumber"), Ok(Some("01010016".into())));
        assert_eq!(get("results[1]/Name"), Ok(None));
        assert_eq!(
            get("PublicExpenseResultList/MedicalTicketInfo[1]/TicketType"),
            Ok(Some("2".into()))
        );
        assert_eq!(
            get("PublicExpenseResultList/MedicalTicketInfo[2]/TicketType"),
            Ok(None)
        );
        assert!(
            get("results[5]/InsurerNumber")
                .unwrap_err()
                .contains("2 in the list")
        );
        // A bare name is found anywhere in the first result.
        assert_eq!(
            get("ElderlyRecipientContributionRatio"),
            Ok(Some("020".into()))
        );
    }

    #[test]
    fn every_result_is_checked_and_the_count_must_match() {
        let o = outcome();
        let tables = vec![
            BTreeMap::from([("InsurerNumber".to_string(), "06139990".to_string())]),
            BTreeMap::from([("InsurerNumber".to_string(), "01010016".to_string())]),
        ];
        assert!(results(&tables, Some(&o), "none").iter().all(|c| c.passed));
        let wrong = vec![BTreeMap::from([(
            "InsurerNumber".to_string(),
            "01010016".to_string(),
        )])];
        let checks = results(&wrong, Some(&o), "none");
        let failed: Vec<_> = checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.expectation.as_str())
            .collect();
        assert_eq!(failed, ["results (count)", "results[0].InsurerNumber"]);
    }

    #[test]
    fn absence_fails_when_something_is_shown() {
        let mut o = outcome();
        let items = [Shown::ProcessingResultCode, Shown::Banners, Shown::Result];
        let checks = absent(&items, Some(&o), "none");
        let failed: Vec<_> = checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.expectation.as_str())
            .collect();
        assert_eq!(failed, ["absent.result"]);
        o.processing_result_code = Some("KZN001".into());
        o.banners = vec!["複数該当".into()];
        o.result = None;
        let checks = absent(&items, Some(&o), "none");
        let failed: Vec<_> = checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.actual.as_str())
            .collect();
        assert_eq!(failed, ["KZN001", "複数該当"]);
        // Without an outcome nothing can be said absent.
        assert!(absent(&items, None, "no outcome").iter().all(|c| !c.passed));
    }

    #[test]
    fn xml_is_read_from_the_bytes_by_path_or_name() {
        let text = "<?xml version=\"1.0\" encoding=\"Shift_JIS\"?>\n<XmlMsg><MessageHeader><CharacterCodeIdentifier>1</CharacterCodeIdentifier></MessageHeader><MessageBody><ResultList><ResultOfQualificationConfirmation><Name>草●　●男</Name></ResultOfQualificationConfirmation><ResultOfQualificationConfirmation><Name>二人目</Name></ResultOfQualificationConfirmation></ResultList></MessageBody></XmlMsg>";
        let bytes = encoding_rs::SHIFT_JIS.encode(text).0.into_owned();
        let documents = vec![b"<XmlMsg/>".to_vec(), bytes];
        let expected = XmlExpectations {
            encoding: Some("Shift_JIS".into()),
            documents: Some(2),
            fields: BTreeMap::from([
                ("Name".to_string(), "草●　●男".to_string()),
                (
                    "MessageBody/ResultList/ResultOfQualificationConfirmation[1]/Name".to_string(),
                    "二人目".to_string(),
                ),
                (
                    "MessageHeader/CharacterCodeIdentifier".to_string(),
                    "1".to_string(),
                ),
                ("ProcessingResultCode".to_string(), String::new()),
            ]),
        };
        let checks = xml(&expected, Ok(&documents));
        assert!(checks.iter().all(|c| c.passed), "{checks:?}");
        // What differs fails, saying what was there.
        let wrong = XmlExpectations {
            encoding: Some("UTF-8".into()),
            documents: Some(1),
            fields: BTreeMap::from([("Name".to_string(), "草彅　●男".to_string())]),
        };
        let failed: Vec<_> = xml(&wrong, Ok(&documents))
            .into_iter()
            .filter(|c| !c.passed)
            .map(|c| (c.expectation, c.actual))
            .collect();
        assert_eq!(
            failed,
            [
                ("xml.documents".to_string(), "2".to_string()),
                ("xml.encoding".to_string(), "Shift_JIS".to_string()),
                ("xml.Name".to_string(), "草●　●男".to_string()),
            ]
        );
        assert!(!xml(&wrong, Err("no confirmation"))[0].passed);
    }
}
