//! `kazasu service --oqs-dir` as a process: a receipt computer drops a
//! request under a temporary name and renames it, the service answers in
//! `res` (Shift_JIS, as the folder is set), and a card confirmation over
//! HTTP drops a face file.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

mod support;
use support::{FOLDER_REQUEST, scratch, start_service, wait_for};

#[test]
fn a_receipt_computer_exchanges_files_with_the_service() {
    let dir = scratch("service-oqs");
    let service = start_service(&dir, &["--oqs-character-code", "1"]);
    let oqs = dir.join("oqs");
    // Written under a temporary name, then renamed: the documented way.
    let temporary = oqs.join("req/OQSsiquc01req_A1.xml.part");
    std::fs::write(&temporary, FOLDER_REQUEST).unwrap();
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
