//! The certificate of conformance end to end, as a vendor and a customer
//! use it: `kazasu keygen`, `kazasu run --profile conformance --certificate`,
//! then `kazasu verify-report` on the untouched certificate, on one with a
//! verdict changed, against a suite edited since, and with another key.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kazasu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kazasu"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("kazasu runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A small suite of two of the repository's scenarios.
fn suite(dir: &Path) -> PathBuf {
    let suite = dir.join("suite");
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    for file in ["card/no-card-visual.toml", "pin/wrong-once.toml"] {
        let to = suite.join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(scenarios.join(file), to).unwrap();
    }
    suite
}

#[test]
fn a_certificate_verifies_untouched_and_is_refused_when_changed() {
    let dir = std::env::temp_dir().join(format!("kazasu-certificate-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let suite = suite(&dir);
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();

    let keygen = kazasu(&["keygen", "--out", &path("vendor.pem")]);
    assert!(keygen.status.success(), "{}", text(&keygen));
    assert!(text(&keygen).contains("fingerprint: SHA256:"));
    let again = kazasu(&["keygen", "--out", &path("vendor.pem")]);
    assert!(!again.status.success() && text(&again).contains("never overwrites"));
    assert!(
        kazasu(&["keygen", "--out", &path("other.pem")])
            .status
            .success()
    );

    // Without --profile conformance there is nothing to certify.
    let refused = kazasu(&[
        "run",
        "--certificate",
        &path("c.json"),
        "--signing-key",
        &path("vendor.pem"),
        suite.to_str().unwrap(),
    ]);
    assert!(!refused.status.success() && text(&refused).contains("--profile"));

    let run = kazasu(&[
        "run",
        "--profile",
        "conformance",
        "--certificate",
        &path("c.json"),
        "--signing-key",
        &path("vendor.pem"),
        suite.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", text(&run));
    let certificate = std::fs::read_to_string(path("c.json")).unwrap();
    assert!(certificate.contains("\"pin/wrong-once\""), "{certificate}");
    assert!(!certificate.contains("1234"), "no PIN in a certificate");

    let verify = |file: &str, key: Option<&str>| {
        let mut args = vec![
            "verify-report".to_string(),
            path(file),
            "--scenarios".into(),
            suite.to_string_lossy().into_owned(),
        ];
        if let Some(key) = key {
            args.extend(["--public-key".into(), path(key)]);
        }
        kazasu(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let ok = verify("c.json", Some("vendor.pub.pem"));
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("CONFORMS") && text(&ok).contains("by the key you gave"));
    let unpinned = verify("c.json", None);
    assert!(unpinned.status.success() && text(&unpinned).contains("pass --public-key"));

    let changed = certificate.replacen("\"verdict\": \"passed\"", "\"verdict\": \"failed\"", 1);
    assert_ne!(changed, certificate);
    std::fs::write(path("changed.json"), changed).unwrap();
    let refused = verify("changed.json", Some("vendor.pub.pem"));
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("changed after it was signed"),
        "{}",
        text(&refused)
    );

    let wrong_key = verify("c.json", Some("other.pub.pem"));
    assert!(!wrong_key.status.success());
    assert!(
        text(&wrong_key).contains("signed by another key"),
        "{}",
        text(&wrong_key)
    );

    std::fs::write(
        suite.join("pin/wrong-once.toml"),
        std::fs::read_to_string(suite.join("pin/wrong-once.toml")).unwrap() + "\n# easier\n",
    )
    .unwrap();
    let edited = verify("c.json", Some("vendor.pub.pem"));
    assert!(!edited.status.success());
    assert!(
        text(&edited).contains("another suite")
            && text(&edited).contains("pin/wrong-once.toml changed"),
        "{}",
        text(&edited)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
