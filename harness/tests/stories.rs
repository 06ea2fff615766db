//! Stories (`[[step]]`) with the reference client in process: a step that
//! fails is named in the reports, the card and the clock carry over from
//! step to step, and a wrong step definition is a `file:line` error naming
//! the field.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kazasu::scenario::load::{self, LoadedScenario};
use kazasu::scenario::reference::ReferenceClient;
use kazasu::scenario::report::{RunReport, ScenarioReport};
use kazasu::scenario::runner::{RunOptions, Runner};

fn runner() -> Runner {
    Runner::new(
        Arc::new(ReferenceClient),
        RunOptions {
            jobs: 2,
            ..RunOptions::default()
        },
    )
    .unwrap()
}

/// Each failed expectation of `report`: its name, what was expected and what
/// was seen.
fn failures(report: &ScenarioReport) -> Vec<(&str, &str, &str)> {
    report
        .failures
        .iter()
        .map(|f| {
            (
                f.expectation.as_str(),
                f.expected.as_str(),
                f.actual.as_str(),
            )
        })
        .collect()
}

fn story(id: &str, text: &str) -> LoadedScenario {
    let path = PathBuf::from(format!("{id}.toml"));
    LoadedScenario {
        id: id.into(),
        scenario: load::parse(text, &path).unwrap_or_else(|e| panic!("{e}")),
        path,
    }
}

const HEAD: &str = r#"
name = "a story"
rule = "test"

[card]
person = "valid"

[client]
method = "pin"
pin = "9999"
"#;

#[test]
fn the_card_carries_over_and_a_failing_step_is_named() {
    // Two wrong PINs, then one more expected (wrongly) to leave 1 try: the
    // third step fails, and says so with what it saw.
    let text = format!(
        "{HEAD}
[[step]]
action = \"hold\"
expect = {{ outcome = \"wrong-pin\", tries_left = 2 }}

[[step]]
action = \"hold\"
expect = {{ outcome = \"wrong-pin\", card = {{ auth_tries_left = 1 }} }}

[[step]]
action = \"hold\"
expect = {{ outcome = \"wrong-pin\", tries_left = 1 }}

[[step]]
action = \"reset-pin\"
expect = {{ card = {{ auth_tries_left = 3 }} }}

[[step]]
action = \"hold\"
pin = \"1234\"
expect = {{ outcome = \"confirmed\", history_count = 1 }}
"
    );
    let loaded = story("stories/wrong", &text);
    let report = runner().run_one(&loaded);
    let failed = failures(&report);
    assert_eq!(
        failed,
        [
            ("step 3 (hold): outcome", "wrong-pin", "pin-locked"),
            ("step 3 (hold): tries_left", "1", "0"),
        ],
        "{report:#?}"
    );
    // Every step was checked, in order, the reset and the last hold passed.
    assert!(
        report
            .checks
            .iter()
            .any(|c| c.expectation == "step 5 (hold): outcome" && c.passed)
    );
    assert!(report.failure_text().contains("✗ step 3 (hold): outcome"));
    let run = RunReport::new(
        "reference".into(),
        "in-process",
        None,
        "2026-12-01T00:00:00Z".into(),
        report.duration,
        vec![report],
        None,
    );
    assert!(run.junit().unwrap().contains("step 3 (hold): outcome"));
    assert!(run.html().unwrap().contains("step 3 (hold): outcome"));
}

#[test]
fn an_action_that_cannot_be_done_ends_the_story() {
    let text = format!(
        "{HEAD}
[[step]]
action = \"insert-card\"

[[step]]
action = \"hold\"
expect = {{ outcome = \"wrong-pin\" }}
"
    );
    let report = runner().run_one(&story("stories/insert", &text));
    assert_eq!(report.failures.len(), 1, "{report:#?}");
    assert_eq!(report.failures[0].expectation, "step 1 (insert-card)");
    assert!(report.failures[0].actual.contains("already in the reader"));
}

#[test]
fn a_card_taken_out_is_missed_and_put_back_the_same() {
    let text = format!(
        "{HEAD}
[[step]]
action = \"hold\"
expect = {{ tries_left = 2 }}

[[step]]
action = \"remove-card\"

[[step]]
action = \"hold\"
expect = {{ outcome = \"card-error\" }}

[[step]]
action = \"insert-card\"

[[step]]
action = \"hold\"
expect = {{ tries_left = 1 }}
"
    );
    let report = runner().run_one(&story("stories/out-and-in", &text));
    assert!(report.passed, "{}", report.failure_text());
}

#[test]
fn a_revocation_mid_story_and_the_facility_xml_are_checked_and_can_fail() {
    // Expectations written as if nothing had changed: each step whose world
    // the story changed fails, saying what it saw.
    let text = r#"
name = "a story"
rule = "test"

[card]
person = "valid"

[client]
method = "pin"
pin = "1234"
character_code_identifier = "1"

[[step]]
action = "hold"
expect = { outcome = "confirmed", xml = { encoding = "UTF-8", documents = 1, fields = { "MessageHeader/CharacterCodeIdentifier" = "1" } } }

[[step]]
action = "revoke-certificate"

[[step]]
action = "hold"
expect = { outcome = "confirmed", xml = { documents = 1, fields = { ProcessingResultCode = "" } } }

[[step]]
action = "receipt-download"
expect = { xml = { documents = 2, fields = { "MessageBody/ProcessingResultStatus" = "1" } } }
"#;
    let report = runner().run_one(&story("stories/revoked", text));
    let failed = failures(&report);
    assert_eq!(
        failed,
        [
            ("step 1 (hold): xml.encoding", "UTF-8", "Shift_JIS"),
            ("step 3 (hold): outcome", "confirmed", "refused"),
            (
                "step 3 (hold): xml.ProcessingResultCode",
                "(absent)",
                "KZE101"
            ),
            // The refusal showed no qualification: the download lists the
            // morning's confirmation only.
            ("step 4 (receipt-download): xml.documents", "2", "1"),
        ],
        "{report:#?}"
    );
}

fn load_error(text: &str) -> String {
    load::parse(text, Path::new("s.toml"))
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_steps_are_file_line_errors_naming_the_field() {
    // Line numbers: HEAD ends on line 10; the first `[[step]]` is line 11.
    let cases = [
        (
            "[[step]]\naction = \"hold\"\n[[step]]\naction = \"advance-clock\"\n",
            "s.toml:13:1: step 2 (advance-clock): seconds: required",
        ),
        (
            "[[step]]\naction = \"set-clock\"\nat = \"noon\"\n",
            "s.toml:11:1: step 1 (set-clock): at: \"noon\" is not an RFC 3339 time",
        ),
        (
            "[[step]]\naction = \"hold\"\ntitle = \"x\"\n",
            "s.toml:11:1: step 1 (hold): title: not a field of this action",
        ),
        (
            "[[step]]\naction = \"remove-card\"\nexpect = { outcome = \"confirmed\" }\n",
            "s.toml:11:1: step 1 (remove-card): expect.outcome: only a hold shows a client outcome",
        ),
        (
            "[[step]]\naction = \"receipt-request\"\ncharacter_code = \"EUC-JP\"\n",
            "step 1 (receipt-request): character_code: \"EUC-JP\"",
        ),
        (
            "[[step]]\naction = \"unlock-account\"\n",
            "s.toml:11:1: step 1 (unlock-account): needs a [facility]",
        ),
        (
            "[[step]]\naction = \"add-phone\"\nvariant = \"iphone\"\nnot_after = \"soon\"\n",
            "s.toml:11:1: step 1 (add-phone): not_after: \"soon\" is not a YYYY-MM-DD day",
        ),
        (
            "[[step]]\naction = \"receipt-request\"\nabout = \"stranger\"\n",
            "s.toml:11:1: step 1 (receipt-request): about: no person \"stranger\"",
        ),
    ];
    for (steps, expected) in cases {
        let error = load_error(&format!("{HEAD}{steps}"));
        assert!(error.contains(expected), "{steps}\n{error}");
    }
    // serde's own errors keep their place: an unknown action, a typo in a field.
    let error = load_error(&format!("{HEAD}[[step]]\naction = \"jump\"\n"));
    assert!(error.contains("s.toml:12:"), "{error}");
    assert!(error.contains("unknown variant `jump`"), "{error}");
    let error = load_error(&format!("{HEAD}[[step]]\naction = \"hold\"\npni = \"1\"\n"));
    assert!(error.contains("s.toml:13:"), "{error}");
    assert!(error.contains("pni"), "{error}");
}

#[test]
fn a_one_check_scenario_needs_no_steps_and_a_story_no_expect() {
    let one = story("one", &format!("{HEAD}[expect]\noutcome = \"wrong-pin\"\n"));
    assert!(one.scenario.steps.is_empty());
    let report = runner().run_one(&one);
    assert!(report.passed, "{}", report.failure_text());
    let steps = story("steps", &format!("{HEAD}[[step]]\naction = \"hold\"\n"));
    assert_eq!(steps.scenario.steps.len(), 1);
}
