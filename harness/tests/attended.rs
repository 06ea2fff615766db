//! `kazasu run --attended` driven through its standard input, as a tester
//! at a GUI application would drive it: the test reads the instructions,
//! plays the application (the reference client, `kazasu check --adapter`,
//! pointed at the relayed service URL and the reader named), presses Enter
//! and answers yes to every question about the screen.
//!
//! In `pin/right-pin` the application does its check: the scenario passes.
//! In `pin/wrong-once` the tester answers yes without the application ever
//! touching the card: the runner's own checks (the card's PIN counter)
//! still fail it, since what the runner can observe is never the tester's
//! to judge.
//!
//! Needs pcscd with Debian's vpcd (`bash .ci/setup`) and, on a shared
//! machine, `flock /tmp/kazasu-pcscd.lock`; without pcscd it says so and
//! passes, unless `CI` is set.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

#[test]
fn a_tester_plays_the_application_and_the_runner_judges_what_it_sees() {
    if !support::pcscd_ready() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("kazasu-attended-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let suite = dir.join("suite");
    std::fs::create_dir_all(suite.join("pin")).unwrap();
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    for file in ["pin/right-pin.toml", "pin/wrong-once.toml"] {
        std::fs::copy(scenarios.join(file), suite.join(file)).unwrap();
    }
    let json = dir.join("report.json");

    let mut run = Command::new(env!("CARGO_BIN_EXE_kazasu"))
        .args([
            "run",
            "--attended",
            "--attended-service",
            "127.0.0.1:0",
            "--json",
        ])
        .arg(&json)
        .arg(&suite)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut tester = run.stdin.take().unwrap();
    let screen = BufReader::new(run.stdout.take().unwrap());

    let mut terminal = String::new();
    let (mut service_url, mut scenario, mut pin) = (String::new(), String::new(), None);
    let mut questions = 0;
    for line in screen.lines() {
        let line = line.unwrap();
        terminal.push_str(&line);
        terminal.push('\n');
        if let Some(url) = line.trim().strip_prefix("service URL: ") {
            service_url = url.to_string();
        } else if let Some(title) = line.strip_prefix("── ") {
            scenario = title.split(' ').nth(1).unwrap_or_default().to_string();
            pin = None;
        } else if let Some(typed) = line.trim().strip_prefix("patient: types the PIN ") {
            pin = Some(typed.to_string());
        } else if line.contains("Press Enter") {
            if scenario == "pin/right-pin" {
                // The application's part, through the reader named.
                let app = Command::new(env!("CARGO_BIN_EXE_kazasu"))
                    .args(["check", "--adapter"])
                    .env("KAZASU_READER", "Virtual PCD 00 00")
                    .env("KAZASU_SERVICE_URL", &service_url)
                    .env("KAZASU_METHOD", "pin")
                    .env("KAZASU_PIN", pin.as_deref().expect("the PIN is told"))
                    .output()
                    .unwrap();
                let outcome = String::from_utf8_lossy(&app.stdout);
                assert!(outcome.contains("\"confirmed\""), "{outcome}");
            }
            writeln!(tester,).unwrap();
        } else if line.trim_start().starts_with("? ") {
            questions += 1;
            writeln!(tester, "y").unwrap();
        }
    }
    let status = run.wait().unwrap();
    assert!(!status.success(), "wrong-once must fail:\n{terminal}");
    assert!(
        terminal.contains("patient: types the PIN 1234"),
        "{terminal}"
    );
    assert!(terminal.contains("Does the screen tell the staff: the PIN was wrong?"));
    // right-pin: outcome and validity; wrong-once: outcome and tries left.
    assert_eq!(questions, 4, "{terminal}");

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let scenario = |id: &str| {
        report["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap()
            .clone()
    };
    let right = scenario("pin/right-pin");
    assert_eq!(right["passed"], true, "{right:#}");
    assert!(
        right["trace"].as_array().unwrap().len() > 5,
        "the app's APDUs are in the trace"
    );
    assert_eq!(right["scenario"]["client"]["pin"], "****");
    let wrong = scenario("pin/wrong-once");
    assert_eq!(wrong["passed"], false);
    let failed: Vec<&str> = wrong["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["expectation"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["card.auth_tries_left"], "{wrong:#}");
    assert!(
        wrong["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["expectation"]
                .as_str()
                .unwrap()
                .starts_with("screen.tries_left")),
        "{wrong:#}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
