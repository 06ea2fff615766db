//! `kazasu run --transport pcsc --client CMD` end to end: the scenario's card
//! goes into vpcd, pcscd offers it to a separate process (a shell adapter
//! around OpenSC's `opensc-tool`), and the trace, the card's state and the
//! adapter's outcome come back into the reports.
//!
//! Needs pcscd with Debian's vpcd (`bash .ci/setup`); without it the test
//! says so and passes, unless `CI` is set.

mod support;

use std::process::Command;

use serde_json::Value;

/// The adapter: asks the card for its auth PIN's tries left (an empty
/// VERIFY) through pcscd and reports them as a wrong-PIN outcome; no card
/// is a card error.
const ADAPTER: &str = r#"
out=$(opensc-tool --reader "$KAZASU_READER" -s 00A4040C0AD392F000260100000001 -s 00A4020C020018 -s 0020008000 2>&1)
echo "$out" >&2
sw=$(printf '%s\n' "$out" | sed -n 's/.*SW1=0x63, SW2=0xc\([0-9]\).*/\1/ip' | tail -1)
if [ -n "$sw" ]; then
  printf '{"outcome":"wrong-pin","message":"%s via %s","tries_left":%s}\n' "$KAZASU_METHOD" "$KAZASU_READER" "$sw"
else
  printf '{"outcome":"card-error","message":"no card in %s"}\n' "$KAZASU_READER"
fi
"#;

const TRIES: &str = r#"
name = "tries left read through pcscd"
rule = "runner pcsc transport"
[card]
person = "valid"
auth_tries_left = 2
[client]
method = "pin"
pin = "1234"
[expect]
outcome = "wrong-pin"
tries_left = 2
card = { auth_tries_left = 2 }
history_count = 0
conformance = ["never_reads_my_number", "no_verify_on_blocked_pin"]
"#;

const ABSENT: &str = r#"
name = "no card in the reader"
rule = "runner pcsc transport"
[card]
person = "valid"
absent = true
[client]
method = "visual"
[expect]
outcome = "card-error"
"#;

#[test]
fn an_external_client_reaches_the_card_through_pcscd() {
    if !support::pcscd_ready() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("kazasu-run-pcsc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("suite/pcsc")).unwrap();
    std::fs::write(dir.join("suite/pcsc/tries.toml"), TRIES).unwrap();
    std::fs::write(dir.join("suite/pcsc/tries-again.toml"), TRIES).unwrap();
    std::fs::write(dir.join("suite/pcsc/absent.toml"), ABSENT).unwrap();
    // Pulled out at the 3rd APDU: pcscd reports the card gone mid-probe.
    std::fs::write(
        dir.join("suite/pcsc/removed.toml"),
        ABSENT.replace("absent = true", "removed_at_apdu = 3"),
    )
    .unwrap();
    std::fs::write(dir.join("adapter.sh"), ADAPTER).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_kazasu"))
        .arg("run")
        .arg(dir.join("suite"))
        .arg("--client")
        .arg(format!("sh {}", dir.join("adapter.sh").display()))
        .args(["--jobs", "2"])
        .arg("--json")
        .arg(dir.join("report.json"))
        .arg("--junit")
        .arg(dir.join("junit.xml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        stdout.lines().last(),
        Some("4 passed, 0 failed"),
        "{stdout}"
    );

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["transport"], "pcsc");
    let scenarios = report["scenarios"].as_array().unwrap();
    let tries = scenarios.iter().find(|s| s["id"] == "pcsc/tries").unwrap();
    let message = tries["outcome"]["message"].as_str().unwrap();
    assert!(message.starts_with("pin via Virtual PCD 00 0"), "{message}");
    let summaries: Vec<&str> = tries["trace"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["summary"].as_str())
        .collect();
    assert!(
        summaries
            .iter()
            .any(|s| s.starts_with("VERIFY EF 0018 (auth PIN) (status query) → 63C2")),
        "{summaries:#?}"
    );
    assert!(
        tries["client_stderr"]
            .as_str()
            .unwrap()
            .contains("SW1=0x63")
    );
    std::fs::remove_dir_all(dir).unwrap();
}
