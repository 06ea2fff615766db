//! `kazasu service --oqs-dir` as a process: a receipt computer drops a
//! request under a temporary name and renames it, the service answers in
//! `res` (Shift_JIS, as the folder is set), and a card confirmation over
//! HTTP drops a face file.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

struct Running {
    child: Child,
    base: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kazasu"))
        .args(["service", "--listen", "127.0.0.1:0", "--clock"])
        .arg("2026-12-01T10:00:00+09:00")
        .arg("--db")
        .arg(dir.join("service.db"))
        .arg("--oqs-dir")
        .arg(dir.join("oqs"))
        .args(["--oqs-character-code", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut base = None;
    for line in stdout.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            base = rest.split_whitespace().next().map(str::to_string);
            break;
        }
    }
    // Keep reading what the service prints after that line (the console's
    // address): a closed pipe would make its next print fail and end it.
    std::thread::spawn(move || stdout.for_each(drop));
    Running {
        child,
        base: base.expect("kazasu service never said it was listening"),
    }
}

/// Waits (up to 20 s) for a file to appear; the watcher polls every 200 ms.
fn wait_for(path: &Path) -> Vec<u8> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if let Ok(bytes) = std::fs::read(path) {
            return bytes;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} never appeared", path.display());
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kazasu-service-oqs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_receipt_computer_exchanges_files_with_the_service() {
    let dir = scratch();
    let service = start(&dir);
    let oqs = dir.join("oqs");
    let request = r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<XmlMsg><MessageHeader><QualificationConfirmationDate>20261201</QualificationConfirmationDate>
<MedicalInstitutionCode>0110000001</MedicalInstitutionCode></MessageHeader>
<MessageBody><QualificationConfirmSearchInfo><InsurerNumber>06139990</InsurerNumber>
<InsuredCardSymbol>1234</InsuredCardSymbol><InsuredIdentificationNumber>5678</InsuredIdentificationNumber>
<InsuredBranchNumber>00</InsuredBranchNumber><Birthdate>19850412</Birthdate>
<LimitApplicationCertificateRelatedConsFlg>0</LimitApplicationCertificateRelatedConsFlg>
</QualificationConfirmSearchInfo></MessageBody></XmlMsg>"#;
    // Written under a temporary name, then renamed: the documented way.
    let temporary = oqs.join("req/OQSsiquc01req_A1.xml.part");
    std::fs::write(&temporary, request).unwrap();
    std::fs::rename(&temporary, oqs.join("req/OQSsiquc01req_A1.xml")).unwrap();
    let response = wait_for(&oqs.join("res/OQSsiquc01res_A1.xml"));
    assert!(response.starts_with(br#"<?xml version="1.0" encoding="Shift_JIS""#));
    let outcome = sim_service::xml::parse_response(&response).unwrap();
    assert_eq!(
        outcome.message_body.result_list[0].name.as_deref(),
        Some("資格　太郎")
    );

    // A card confirmation of the folder's facility drops a face file.
    let persons = sim_service::fixtures::built_in().unwrap();
    let valid = sim_service::fixtures::find(&persons, "valid").unwrap();
    let pki = sim_card::personalize::simulated_jpki().unwrap();
    let certificate = sim_card::personalize::auth_certificate(&valid.card.profile, &pki).unwrap();
    let answer = reqwest::blocking::Client::new()
        .post(format!("{}/v1/confirmations", service.base))
        .json(&serde_json::json!({
            "medical_institution_code": "0110000001",
            "method": "visual",
            "certificate": BASE64.encode(certificate),
        }))
        .send()
        .unwrap();
    assert_eq!(answer.status(), 200);
    let id = answer.headers()["x-kazasu-confirmation-id"]
        .to_str()
        .unwrap()
        .to_string();
    let face = wait_for(&oqs.join(format!("face/OQSsiquc01res_face_{id}_20261201100000.xml")));
    let outcome = sim_service::xml::parse_response(&face).unwrap();
    assert_eq!(outcome.message_header.reference_classification.code(), "1");
    drop(service);
    std::fs::remove_dir_all(&dir).unwrap();
}
