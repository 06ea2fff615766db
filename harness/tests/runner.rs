//! The runner's mechanics, with a stand-in client: isolation, every kind of
//! expectation failing when it should, conformance rules over a violating
//! trace, sharding, and the reports.
//!
//! The stand-in ([`Double`]) does what a client minimally does, by APDUs on
//! the in-process card and plain HTTP: read the auth certificate, VERIFY the
//! PIN, sign the challenge, post the confirmation. On request it misbehaves
//! in the ways the conformance rules forbid.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use kazasu::client::{CardChannel, CardError, ClientOutcome, Method, OutcomeKind};
use kazasu::scenario::contract::{ClientRun, ClientUnderTest, Reader, RunSetup, Transport};
use kazasu::scenario::load::{self, LoadedScenario, Shard};
use kazasu::scenario::report::{Certification, RunReport, ScenarioReport};
use kazasu::scenario::runner::{RunOptions, Runner};
use openssl::sha::sha256;
use serde_json::{Value, json};

/// What the stand-in does wrong, on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Misbehaviour {
    None,
    ReadsMyNumber,
    VerifiesInVisualMode,
    RetriesWrongPin,
    VerifiesBlockedPin,
    /// Reads the certificate's head with an extended APDU.
    SendsExtendedApdus,
    /// Sends one more command after the card was removed.
    KeepsSendingAfterRemoval,
    /// Sends a device name of its own instead of the one it is handed.
    IgnoresDevice,
    /// Shows the PIN: in its message, on stderr and as the VERIFY's hex in
    /// a log file.
    ShowsPin,
}

struct Double(Misbehaviour);

const SELECT_JPKI: &str = "00A4040C0AD392F000260100000001";
const SELECT_TEXT: &str = "00A4040C0AD3921000310001010408";

fn apdu(card: &mut dyn CardChannel, hex_text: &str) -> Result<(Vec<u8>, u16), CardError> {
    let bytes = hex::decode(hex_text).expect("test APDUs are hex");
    let mut response = card.transmit(&bytes)?;
    if response.len() < 2 {
        return Err(CardError::Reader("short response".into()));
    }
    let sw = response.split_off(response.len() - 2);
    Ok((response, u16::from_be_bytes([sw[0], sw[1]])))
}

fn verify_hex(pin: &str) -> String {
    format!("0020008004{}", hex::encode_upper(pin.as_bytes()))
}

fn outcome(kind: OutcomeKind, message: &str) -> ClientOutcome {
    ClientOutcome {
        outcome: kind,
        message: message.into(),
        validity: None,
        processing_result_code: None,
        banners: Vec::new(),
        tries_left: None,
        result: None,
    }
}

impl Double {
    fn check(
        &self,
        card: &mut dyn CardChannel,
        setup: &RunSetup<'_>,
    ) -> Result<ClientOutcome, CardError> {
        let inputs = setup.inputs;
        card.connect()?;
        apdu(card, SELECT_JPKI)?;
        apdu(card, "00A4020C02000A")?;
        let head_read = if self.0 == Misbehaviour::SendsExtendedApdus {
            "00B00000000004"
        } else {
            "00B0000004"
        };
        let (head, _) = apdu(card, head_read)?;
        let length = usize::from(u16::from_be_bytes([head[2], head[3]])) + 4;
        let mut certificate = Vec::new();
        while certificate.len() < length {
            let [hi, lo] = u16::try_from(certificate.len()).unwrap().to_be_bytes();
            let want = (length - certificate.len()).min(256) as u8;
            let (chunk, _) = apdu(card, &format!("00B0{hi:02X}{lo:02X}{want:02X}"))?;
            certificate.extend(chunk);
        }
        if self.0 == Misbehaviour::ReadsMyNumber {
            apdu(card, SELECT_TEXT)?;
            apdu(card, "00A4020C020001")?;
            apdu(card, "00B0000010")?;
            apdu(card, SELECT_JPKI)?;
        }
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_millis(inputs.timeout_ms))
            .build()
            .unwrap();
        let mut body = json!({
            "medical_institution_code": inputs.facility,
            "device": if self.0 == Misbehaviour::IgnoresDevice {
                "reception-1"
            } else {
                inputs.device.as_str()
            },
            "method": inputs.method,
            "certificate": BASE64.encode(&certificate),
        });
        if inputs.method == Method::Visual {
            if self.0 == Misbehaviour::VerifiesInVisualMode {
                apdu(card, "00A4020C020018")?;
                apdu(card, &verify_hex("1234"))?;
            }
        } else {
            let Some(pin) = &inputs.pin else {
                return Ok(outcome(OutcomeKind::PinRequired, "no PIN"));
            };
            apdu(card, "00A4020C020018")?;
            let (_, status) = apdu(card, "0020008000")?;
            if status == 0x63C0 && self.0 != Misbehaviour::VerifiesBlockedPin {
                return Ok(ClientOutcome {
                    tries_left: Some(0),
                    ..outcome(OutcomeKind::PinLocked, "locked")
                });
            }
            let (_, mut status) = apdu(card, &verify_hex(pin))?;
            if status & 0xFFF0 == 0x63C0 && self.0 == Misbehaviour::RetriesWrongPin {
                status = apdu(card, &verify_hex(pin))?.1;
            }
            match status {
                0x9000 => {}
                0x63C0 | 0x6983 | 0x6984 => {
                    return Ok(ClientOutcome {
                        tries_left: Some(0),
                        ..outcome(OutcomeKind::PinLocked, "locked")
                    });
                }
                s if s & 0xFFF0 == 0x63C0 => {
                    return Ok(ClientOutcome {
                        tries_left: Some((s & 0x000F) as u8),
                        ..outcome(OutcomeKind::WrongPin, "wrong PIN")
                    });
                }
                s => return Ok(outcome(OutcomeKind::CardError, &format!("VERIFY {s:04X}"))),
            }
            let challenge: Value = match http
                .post(format!("{}/v1/challenges", setup.service_url))
                .send()
                .and_then(|r| r.json())
            {
                Ok(v) => v,
                Err(e) => return Ok(outcome(OutcomeKind::ServiceError, &e.to_string())),
            };
            let nonce = BASE64
                .decode(challenge["challenge"].as_str().unwrap_or_default())
                .unwrap_or_default();
            apdu(card, "00A4020C020017")?;
            let mut digest_info = "3031300D060960864801650304020105000420".to_string();
            digest_info.push_str(&hex::encode_upper(sha256(&nonce)));
            let (signature, _) = apdu(card, &format!("802A008033{digest_info}00"))?;
            body["challenge_id"] = challenge["challenge_id"].clone();
            body["signature"] = BASE64.encode(signature).into();
        }
        card.disconnect();
        let response = http
            .post(format!("{}/v1/confirmations", setup.service_url))
            .json(&body)
            .send();
        let response = match response {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Ok(outcome(OutcomeKind::Timeout, "timed out")),
            Err(e) => return Ok(outcome(OutcomeKind::ServiceError, &e.to_string())),
        };
        if !response.status().is_success() {
            return Ok(outcome(
                OutcomeKind::ServiceError,
                &format!("status {}", response.status()),
            ));
        }
        let result: Value = response.json().unwrap_or(Value::Null);
        let message_body = &result["MessageBody"];
        let validity = message_body["QualificationValidity"]
            .as_str()
            .map(String::from);
        let listed = message_body["ResultList"]
            .as_array()
            .is_some_and(|l| !l.is_empty());
        Ok(ClientOutcome {
            validity: validity.clone(),
            processing_result_code: message_body["ProcessingResultCode"]
                .as_str()
                .map(String::from),
            result: Some(result.clone()),
            ..outcome(
                if validity.is_some() || listed {
                    OutcomeKind::Confirmed
                } else {
                    OutcomeKind::Refused
                },
                "answered",
            )
        })
    }
}

impl ClientUnderTest for Double {
    fn identity(&self) -> String {
        format!("test double ({:?})", self.0)
    }

    fn supports(&self, transport: Transport) -> Result<(), String> {
        match transport {
            Transport::InProcess => Ok(()),
            Transport::Pcsc => Err("the double drives in-process cards only".into()),
        }
    }

    fn run(&self, mut setup: RunSetup<'_>) -> ClientRun {
        let reader = std::mem::replace(
            &mut setup.reader,
            Reader::Pcsc {
                name: String::new(),
            },
        );
        let Reader::InProcess(card) = reader else {
            return ClientRun::of(Err("not in process".into()));
        };
        if self.0 == Misbehaviour::ShowsPin {
            let pin = setup.inputs.pin.clone().unwrap_or_default();
            let mut run = ClientRun::of(Ok(match self.check(card, &setup) {
                Ok(outcome) => ClientOutcome {
                    message: format!("{} (PIN {pin})", outcome.message),
                    ..outcome
                },
                Err(e) => outcome(OutcomeKind::CardError, &e.to_string()),
            }));
            run.stderr = format!("debug: typed {pin}\n");
            run.logs = vec![("apdu.log".into(), format!("> {}\n", verify_hex(&pin)))];
            return run;
        }
        ClientRun::of(Ok(match self.check(card, &setup) {
            Ok(outcome) => outcome,
            Err(CardError::NoCard) => outcome(OutcomeKind::CardError, "no card"),
            Err(CardError::Removed) => {
                if self.0 == Misbehaviour::KeepsSendingAfterRemoval {
                    let _ = apdu(card, SELECT_JPKI);
                }
                outcome(OutcomeKind::CardRemoved, "card removed")
            }
            Err(e) => outcome(OutcomeKind::CardError, &e.to_string()),
        }))
    }
}

fn runner(misbehaviour: Misbehaviour, conformance_profile: bool) -> Runner {
    Runner::new(
        Arc::new(Double(misbehaviour)),
        RunOptions {
            jobs: 4,
            conformance_profile,
            ..RunOptions::default()
        },
    )
    .unwrap()
}

fn scenario(id: &str, text: &str) -> LoadedScenario {
    let path = PathBuf::from(format!("{id}.toml"));
    LoadedScenario {
        id: id.into(),
        scenario: load::parse(text, &path).unwrap_or_else(|e| panic!("{e}")),
        path,
    }
}

/// A PIN check of the valid fixture person, expecting everything that is true of it.
const VALID_PIN: &str = r#"
name = "PIN entered right: a valid qualification"
rule = "manual 000 p.15"
tags = ["pin", "result"]

[card]
person = "valid"

[client]
method = "pin"
pin = "1234"

[expect]
outcome = "confirmed"
validity = "1"
fields = { InsurerNumber = "06139990", InsuredCardSymbol = "1234", NameOfOther = "" }
result_count = 1
card = { auth_tries_left = 3, auth_locked = false }
history_count = 1
conformance = ["never_reads_my_number", "no_pin_retry_without_input"]
"#;

fn failed(report: &ScenarioReport) -> Vec<&str> {
    report
        .failures
        .iter()
        .map(|f| f.expectation.as_str())
        .collect()
}

#[test]
fn a_scenario_passes_with_its_trace_and_outcome() {
    let report = runner(Misbehaviour::None, false).run_one(&scenario("pin/ok", VALID_PIN));
    assert!(report.passed, "{}", report.failure_text());
    assert_eq!(report.folder, "pin");
    assert_eq!(
        report.outcome.as_ref().unwrap().validity.as_deref(),
        Some("1")
    );
    assert!(
        report
            .trace
            .iter()
            .any(|r| r.summary.starts_with("READ BINARY EF 000A"))
    );
    assert!(
        report
            .trace
            .iter()
            .any(|r| r.summary.contains("COMPUTE DIGITAL SIGNATURE")
                || r.command.as_deref().is_some_and(|c| c.starts_with("802A")))
    );
    // The PIN never reaches the report.
    assert_eq!(report.scenario.client.pin.as_deref(), Some("****"));
    assert!(!serde_json::to_string(&report).unwrap().contains("31323334"));
    // Eleven expectations, and the device the service recorded.
    assert_eq!(report.checks.len(), 12);
    assert!(
        report
            .checks
            .iter()
            .any(|c| c.expectation == "device" && c.passed)
    );
}

#[test]
fn every_kind_of_expectation_fails_when_it_should() {
    let mutations: &[(&str, &str, &str)] = &[
        (
            "outcome = \"confirmed\"",
            "outcome = \"refused\"",
            "outcome",
        ),
        ("validity = \"1\"", "validity = \"2\"", "validity"),
        (
            "validity = \"1\"",
            "validity = \"1\"\nprocessing_result_code = \"KZE101\"",
            "processing_result_code",
        ),
        (
            "InsurerNumber = \"06139990\"",
            "InsurerNumber = \"01010016\"",
            "fields.InsurerNumber",
        ),
        (
            "NameOfOther = \"\"",
            "NameOfOther = \"someone\"",
            "fields.NameOfOther",
        ),
        (
            "InsuredCardSymbol = \"1234\"",
            "InsuredCardSymbol = \"\"",
            "fields.InsuredCardSymbol",
        ),
        ("result_count = 1", "result_count = 2", "result_count"),
        (
            "validity = \"1\"",
            "validity = \"1\"\ntries_left = 3",
            "tries_left",
        ),
        (
            "auth_tries_left = 3,",
            "auth_tries_left = 2,",
            "card.auth_tries_left",
        ),
        (
            "auth_locked = false",
            "auth_locked = true",
            "card.auth_locked",
        ),
        ("history_count = 1", "history_count = 0", "history_count"),
        (
            "validity = \"1\"",
            "validity = \"1\"\nbanners = [\"義務教育就学前\"]",
            "banner",
        ),
    ];
    let scenarios: Vec<LoadedScenario> = mutations
        .iter()
        .enumerate()
        .map(|(i, (from, to, _))| {
            assert!(VALID_PIN.contains(from), "{from}");
            scenario(&format!("m{i:02}"), &VALID_PIN.replacen(from, to, 1))
        })
        .collect();
    let reports = runner(Misbehaviour::None, false).run_all(&scenarios, |_| {});
    for ((_, to, expectation), report) in mutations.iter().zip(&reports) {
        assert_eq!(
            failed(report),
            [*expectation],
            "after {to:?}:\n{}",
            report.failure_text()
        );
        assert!(report.failure_text().contains("expected:"));
    }
}

#[test]
fn a_violating_trace_fails_each_conformance_rule() {
    let visual = r#"
name = "visual"
rule = "r"
[card]
person = "valid"
[client]
method = "visual"
[expect]
outcome = "confirmed"
"#;
    let wrong_pin = r#"
name = "wrong"
rule = "r"
[card]
person = "valid"
[client]
method = "pin"
pin = "9999"
[expect]
outcome = "wrong-pin"
"#;
    let removed = visual
        .replace("[client]", "removed_at_apdu = 3\n[client]")
        .replace("confirmed", "card-removed");
    let locked = r#"
name = "locked"
rule = "r"
[card]
person = "valid"
auth_tries_left = 0
[client]
method = "pin"
pin = "1234"
[expect]
outcome = "pin-locked"
"#;
    let cases = [
        (
            Misbehaviour::ReadsMyNumber,
            visual,
            "conformance.never_reads_my_number",
        ),
        (
            Misbehaviour::VerifiesInVisualMode,
            visual,
            "conformance.no_verify_in_visual_mode",
        ),
        (
            Misbehaviour::RetriesWrongPin,
            wrong_pin,
            "conformance.no_pin_retry_without_input",
        ),
        (
            Misbehaviour::VerifiesBlockedPin,
            locked,
            "conformance.no_verify_on_blocked_pin",
        ),
        (
            Misbehaviour::SendsExtendedApdus,
            visual,
            "conformance.short_apdus_only",
        ),
        (
            Misbehaviour::KeepsSendingAfterRemoval,
            &removed,
            "conformance.no_apdu_after_removal",
        ),
    ];
    for (misbehaviour, text, rule) in cases {
        let s = scenario("c", text);
        // A well-behaved client passes under the conformance profile…
        let good = runner(Misbehaviour::None, true).run_one(&s);
        assert!(good.passed, "{}", good.failure_text());
        // …and the misbehaving one fails exactly the rule it breaks.
        let bad = runner(misbehaviour, true).run_one(&s);
        let rules: Vec<&str> = failed(&bad)
            .into_iter()
            .filter(|f| f.starts_with("conformance."))
            .collect();
        assert_eq!(rules, [rule], "{misbehaviour:?}:\n{}", bad.failure_text());
    }
}

#[test]
fn cards_services_and_faults_are_set_up_per_scenario() {
    let wrong_twice = VALID_PIN
        .replace("pin = \"1234\"", "pin = \"9999\"")
        .replace("[expect]", "[expect]\ntries_left = 2");
    let wrong_twice = wrong_twice
        .replace("outcome = \"confirmed\"", "outcome = \"wrong-pin\"")
        .replace("validity = \"1\"\n", "")
        .replace(
            "fields = { InsurerNumber = \"06139990\", InsuredCardSymbol = \"1234\", NameOfOther = \"\" }\n",
            "",
        )
        .replace("result_count = 1", "result_count = 0")
        .replace("auth_tries_left = 3", "auth_tries_left = 2")
        .replace("history_count = 1", "history_count = 0");
    let last_try = wrong_twice
        .replace(
            "[card]\nperson = \"valid\"",
            "[card]\nperson = \"valid\"\nauth_tries_left = 1",
        )
        .replace(
            "auth_tries_left = 2, auth_locked = false",
            "auth_tries_left = 0, auth_locked = true",
        )
        .replace("\ntries_left = 2", "\ntries_left = 0")
        .replace("outcome = \"wrong-pin\"", "outcome = \"pin-locked\"");
    let absent = r#"
name = "no card"
rule = "r"
[card]
person = "valid"
absent = true
[client]
method = "visual"
[expect]
outcome = "card-error"
history_count = 0
"#;
    let removed = absent
        .replace("absent = true", "removed_at_apdu = 3")
        .replace("card-error", "card-removed");
    let unreachable = absent
        .replace("absent = true", "")
        .replace("[client]", "[service]\nunreachable = true\n[client]")
        .replace("card-error", "service-error");
    let maintenance = absent
        .replace("absent = true", "")
        .replace(
            "[client]",
            "[service]\nfaults = { maintenance = true }\n[client]",
        )
        .replace("card-error", "service-error");
    let expired = r#"
name = "beyond grace"
rule = "r"
[card]
person = "valid"
[service]
clock = "2031-01-01T10:00:00+09:00"
[client]
method = "visual"
[expect]
history_count = 0
"#;
    // The same person's card in several scenarios at once: each has its own
    // card and its own service, so a wrong PIN in one leaves the others alone.
    let mut scenarios = vec![
        scenario("a/wrong-1", &wrong_twice),
        scenario("a/wrong-2", &wrong_twice),
        scenario("a/wrong-3", &wrong_twice),
        scenario("b/last-try", &last_try),
        scenario("c/ok", VALID_PIN),
        scenario("d/absent", absent),
        scenario("d/removed", &removed),
        scenario("e/unreachable", &unreachable),
        scenario("e/maintenance", &maintenance),
        scenario("f/expired", expired),
    ];
    scenarios.sort_by(|a, b| a.id.cmp(&b.id));
    let mut seen = 0;
    let reports = runner(Misbehaviour::None, false).run_all(&scenarios, |_| seen += 1);
    assert_eq!(seen, scenarios.len());
    for (s, r) in scenarios.iter().zip(&reports) {
        assert_eq!(s.id, r.id, "reports come back in the scenarios' order");
        assert!(r.passed, "{}", r.failure_text());
    }
    let removed = reports.iter().find(|r| r.id == "d/removed").unwrap();
    let answered: Vec<bool> = removed
        .trace
        .iter()
        .filter(|r| r.event == sim_card::trace::TraceEvent::Apdu)
        .map(|r| r.sw.is_some())
        .collect();
    // The 3rd APDU never reaches the card: it is traced without an answer.
    assert_eq!(answered, [true, true, false]);
    eprintln!(
        "per-scenario times: {:?}",
        reports
            .iter()
            .map(|r| (r.id.as_str(), r.timings.setup, r.timings.client))
            .collect::<Vec<_>>()
    );
}

fn write_suite(dir: &Path, count: usize) {
    let _ = std::fs::remove_dir_all(dir);
    for i in 0..count {
        let folder = dir.join(format!("group{}", i % 3));
        std::fs::create_dir_all(&folder).unwrap();
        let text = VALID_PIN.replace("PIN entered right", &format!("case {i}"));
        // Every third scenario expects something false: it must fail.
        let text = if i % 3 == 0 {
            text.replace("history_count = 1", "history_count = 5")
        } else {
            text
        };
        std::fs::write(folder.join(format!("s{i:02}.toml")), text).unwrap();
    }
}

#[test]
fn shards_partition_the_suite() {
    let dir = std::env::temp_dir().join(format!("kazasu-shards-{}", std::process::id()));
    write_suite(&dir, 10);
    let all = load::load(std::slice::from_ref(&dir)).unwrap();
    assert_eq!(all.len(), 10);
    let mut union: Vec<String> = Vec::new();
    for index in 1..=3 {
        let shard = load::select(all.clone(), None, Some(Shard { index, count: 3 }));
        assert!(!shard.is_empty());
        union.extend(shard.into_iter().map(|s| s.id));
    }
    let mut sorted = union.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), union.len(), "no scenario in two shards");
    assert_eq!(sorted, all.iter().map(|s| s.id.clone()).collect::<Vec<_>>());
    let filtered = load::select(all, Some("GROUP1"), None);
    assert!(filtered.iter().all(|s| s.id.starts_with("group1/")));
    assert_eq!(filtered.len(), 3);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn junit_json_and_html_reports() {
    let dir = std::env::temp_dir().join(format!("kazasu-reports-{}", std::process::id()));
    write_suite(&dir, 6);
    let scenarios = load::load(std::slice::from_ref(&dir)).unwrap();
    let runner = runner(Misbehaviour::None, true);
    let reports = runner.run_all(&scenarios, |_| {});
    let certification = Certification::of(&runner.client_identity(), "2026-12-01", &reports);
    assert_eq!(certification.failed_scenarios, ["group0/s00", "group0/s03"]);
    let report = RunReport::new(
        runner.client_identity(),
        "in-process",
        Some("conformance".into()),
        "2026-12-01T01:00:00Z".into(),
        Duration::from_secs(1),
        reports,
        Some(certification),
    )
    .with_rerun_options("--client './my adapter.sh'".into());
    assert_eq!((report.passed, report.failed), (4, 2));
    assert_eq!(report.summary_line(), "4 passed, 2 failed");

    let xml = report.junit().unwrap();
    let (mut suites, mut cases, mut failures, mut classnames) = (0, 0, 0, Vec::new());
    let mut reader = quick_xml::Reader::from_str(&xml);
    loop {
        match reader.read_event().unwrap() {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                match e.name().as_ref() {
                    b"testsuite" => {
                        suites += 1;
                        let name = e.try_get_attribute("name").unwrap().unwrap();
                        assert_eq!(&*name.value, b"kazasu");
                        let count = e.try_get_attribute("failures").unwrap().unwrap();
                        assert_eq!(&*count.value, b"2");
                    }
                    b"testcase" => {
                        cases += 1;
                        let class = e.try_get_attribute("classname").unwrap().unwrap();
                        classnames.push(String::from_utf8(class.value.to_vec()).unwrap());
                    }
                    b"failure" => failures += 1,
                    _ => {}
                }
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!((suites, cases, failures), (1, 6, 2));
    assert!(
        classnames.iter().all(|c| c.starts_with("group")),
        "{classnames:?}"
    );
    assert!(xml.contains("history_count: expected 5, actual 1"), "{xml}");

    let json: Value = serde_json::from_str(&report.json()).unwrap();
    assert_eq!(json["scenarios"].as_array().unwrap().len(), 6);
    assert_eq!(json["failed"], 2);

    let html = report.html().unwrap();
    assert!(html.contains("READ BINARY EF 000A (auth certificate)"));
    assert!(html.contains("<td class=\"sw\">9000</td>"));
    assert!(html.contains("history_count"));
    assert!(html.contains("Conformance profile") && html.contains("DOES NOT CONFORM"));
    assert!(!html.contains("<link") && !html.contains("<script src"));
    // Each scenario says how to rerun it alone; the page filters and opens
    // without a script.
    let rerun = format!(
        "kazasu run --client &#x27;.&#x2f;my adapter.sh&#x27; {}",
        dir.join("group0/s00.toml").display()
    )
    .replace('/', "&#x2f;");
    assert!(html.contains(&rerun), "{rerun}");
    for control in [
        "href=\"#failures-only\"",
        "href=\"#all-open\"",
        "id=\"group0&#x2f;s00\"",
    ] {
        assert!(html.contains(control), "{control}");
    }
    assert!(!html.contains("<script"));
    // Failures come first.
    let first_failed = html.find("scenario failed").unwrap();
    let first_passed = html.find("scenario passed").unwrap();
    assert!(first_failed < first_passed);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_certification_summary_counts_rules() {
    let s = scenario(
        "v",
        &VALID_PIN.replace("method = \"pin\"", "method = \"visual\""),
    );
    let good = runner(Misbehaviour::None, true).run_one(&s);
    let bad = runner(Misbehaviour::VerifiesInVisualMode, true).run_one(&s);
    let cert = Certification::of("double", "2026-12-01", std::slice::from_ref(&good));
    assert!(cert.conforms, "{}", cert.text());
    let cert = Certification::of("double", "2026-12-01", &[good, bad]);
    assert!(!cert.conforms);
    assert_eq!(cert.failed_scenarios, ["v"]);
    let text = cert.text();
    assert!(
        text.contains("no_verify_in_visual_mode") && text.contains("1 failed (in v)"),
        "{text}"
    );
}

#[test]
fn a_client_that_ignores_the_device_it_is_handed_fails() {
    let report = runner(Misbehaviour::IgnoresDevice, false).run_one(&scenario("pin/ok", VALID_PIN));
    assert_eq!(failed(&report), ["device"]);
    let device = report.failures[0].clone();
    assert_eq!(
        (device.expected.as_str(), device.actual.as_str()),
        ("kazasu-reference", "reception-1")
    );
}

/// A wrong PIN (9999): no service answer carries it, so every occurrence is
/// the client's.
const WRONG_PIN: &str = r#"
name = "A wrong PIN"
rule = "manual 000 p.15"

[card]
person = "valid"

[client]
method = "pin"
pin = "9999"

[expect]
outcome = "wrong-pin"
tries_left = 2
"#;

#[test]
fn a_client_that_shows_the_pin_breaks_the_rule_and_no_report_carries_it() {
    let s = scenario("pin/leaky", WRONG_PIN);
    let honest = runner(Misbehaviour::None, true).run_one(&s);
    assert!(honest.passed, "{}", honest.failure_text());
    let leaky = runner(Misbehaviour::ShowsPin, true).run_one(&s);
    assert_eq!(failed(&leaky), ["conformance.never_reveals_secrets"]);
    let violation = &leaky.failures[0].actual;
    for place in [
        "the PIN in stdout, line 1",
        "the PIN in stderr, line 1",
        "the PIN (as hex bytes) in log file apdu.log, line 1",
    ] {
        assert!(violation.contains(place), "{violation}");
    }
    let cert = Certification::of("double", "2026-12-01", std::slice::from_ref(&leaky));
    assert!(!cert.conforms);
    let report = RunReport::new(
        "double".into(),
        "in-process",
        Some("conformance".into()),
        "2026-12-01T01:00:00Z".into(),
        Duration::from_secs(1),
        vec![leaky.clone()],
        Some(cert),
    );
    let hex = "39393939";
    for (form, text) in [
        ("terminal", leaky.failure_text()),
        ("JUnit", report.junit().unwrap()),
        ("JSON", report.json()),
        ("HTML", report.html().unwrap()),
        ("trace", serde_json::to_string(&leaky.trace).unwrap()),
    ] {
        assert!(
            !text.contains("9999") && !text.contains(hex),
            "{form}: {text}"
        );
    }
    assert!(leaky.client_stderr.contains("typed ****"));
    assert!(leaky.outcome.unwrap().message.ends_with("(PIN ****)"));
}

/// A scenario that prescribes the client's own flow (re-selecting the
/// JPKI-AP before the signature) is skipped for a client that is not the
/// reference client: it has one flow of its own, and the scenario would
/// judge a client it is not. Skipped is neither passed nor failed.
#[test]
fn a_scenario_prescribing_the_flow_is_skipped_for_other_clients() {
    let text = VALID_PIN.replace(
        "pin = \"1234\"",
        "pin = \"1234\"\nreselect_before_sign = true",
    );
    let report = runner(Misbehaviour::None, false).run_one(&scenario("card/reselect", &text));
    assert!(!report.passed);
    assert!(report.failures.is_empty(), "{}", report.failure_text());
    let reason = report.skipped.as_deref().expect("skipped");
    assert!(reason.contains("reselect_before_sign"), "{reason}");
    let passing = runner(Misbehaviour::None, false).run_one(&scenario("pin/ok", VALID_PIN));
    let run = RunReport::new(
        "test double".into(),
        "in-process",
        None,
        "2026-12-07T00:00:00Z".into(),
        Duration::ZERO,
        vec![report, passing],
        None,
    );
    assert_eq!((run.passed, run.failed, run.skipped), (1, 0, 1));
}
