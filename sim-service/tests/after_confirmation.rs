//! The exchange over HTTP and through the folder: the result search's
//! filters, 照会番号 carried on later confirmations (across an insurer
//! change, and not to another facility), the receipt-computer login with
//! TOTP on the service clock and the XmlMsg download, and the `req`/`res`/
//! `face` folder with friendly and hostile files.
//!
//! Card confirmations here use the visual method (the certificate only):
//! the signature path is http_api.rs's business.

mod common;

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use sim_card::personalize;
use sim_service::after_confirmation::folder::OqsFolder;
use sim_service::fixtures::{self, InsuredPerson};
use sim_service::http::{AppState, ServiceConfig};
use sim_service::model::{CharacterCodeIdentifier, MedicalInstitutionCode};
use sim_service::oqs_dir::{Handled, Watcher};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const FACILITY: &str = "0110000001";
const OTHER_FACILITY: &str = "0110000002";

fn at(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap()
}

struct Service {
    base: String,
    client: reqwest::Client,
    state: AppState,
    persons: Vec<InsuredPerson>,
}

async fn start_with(config: ServiceConfig) -> Service {
    let persons = fixtures::built_in().unwrap();
    let (state, base) = common::serve("2026-12-01T10:00:00+09:00", persons.clone(), config).await;
    Service {
        base,
        client: reqwest::Client::new(),
        state,
        persons,
    }
}

async fn start() -> Service {
    start_with(ServiceConfig::default()).await
}

impl Service {
    fn set_clock(&self, now: &str) {
        self.state.clock.freeze(at(now));
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (u16, Vec<u8>) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let r = request.send().await.unwrap();
        (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
    }

    /// A visual confirmation of the person's card at a facility, from a device.
    async fn confirm(&self, id: &str, facility: &str, device: &str) -> Value {
        let person = fixtures::find(&self.persons, id).unwrap();
        let pki = personalize::simulated_jpki().unwrap();
        let certificate = personalize::auth_certificate(&person.card.profile, &pki).unwrap();
        let (status, outcome) = self
            .post(
                "/v1/confirmations",
                &json!({
                    "medical_institution_code": facility,
                    "device": device,
                    "method": "visual",
                    "certificate": BASE64.encode(certificate),
                }),
            )
            .await;
        assert_eq!(status, 200, "{outcome}");
        outcome
    }

    async fn history(&self, query: &str) -> (u16, Vec<i64>) {
        let (status, body) = self
            .get(
                &format!("/v1/history?medical_institution_code={FACILITY}{query}"),
                None,
            )
            .await;
        let v: Value = serde_json::from_slice(&body).unwrap();
        let ids = v["confirmations"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["confirmation_id"].as_i64().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        (status, ids)
    }
}

fn first_result(outcome: &Value) -> &Value {
    &outcome["MessageBody"]["ResultList"][0]
}

fn insurance_card_request(person: &InsuredPerson, record: usize, encoding: &str) -> String {
    let q = &person.qualifications[record];
    let birth = q.birth_date.unwrap_or(person.persona().birth_date);
    format!(
        r#"<?xml version="1.0" encoding="{encoding}" standalone="no"?>
<XmlMsg><MessageHeader><QualificationConfirmationDate>20261201</QualificationConfirmationDate>
<MedicalInstitutionCode>{FACILITY}</MedicalInstitutionCode><ArbitraryFileIdentifier>受付-1</ArbitraryFileIdentifier></MessageHeader>
<MessageBody><QualificationConfirmSearchInfo><InsurerNumber>{}</InsurerNumber><InsuredCardSymbol>{}</InsuredCardSymbol><InsuredIdentificationNumber>{}</InsuredIdentificationNumber>
<Birthdate>{}</Birthdate><LimitApplicationCertificateRelatedConsFlg>0</LimitApplicationCertificateRelatedConsFlg></QualificationConfirmSearchInfo></MessageBody></XmlMsg>"#,
        q.insurer_number.digits(),
        q.symbol.as_deref().unwrap_or(""),
        q.number,
        sim_service::model::dates::format_yyyymmdd(birth),
    )
}

fn registration_request(number: &str, insurer: &str, symbol: &str, id: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<XmlMsg><MessageHeader><MedicalInstitutionCode>{FACILITY}</MedicalInstitutionCode><ArbitraryFileIdentifier>imm-1</ArbitraryFileIdentifier></MessageHeader>
<MessageBody><ReferenceNumberRegistrationInfo><ReferenceNumber>{number}</ReferenceNumber><InsurerNumber>{insurer}</InsurerNumber>
<InsuredCardSymbol>{symbol}</InsuredCardSymbol><InsuredIdentificationNumber>{id}</InsuredIdentificationNumber><InsuredBranchNumber>00</InsuredBranchNumber></ReferenceNumberRegistrationInfo></MessageBody></XmlMsg>"#
    )
}

// ------------------------------------------------------------------ history

#[tokio::test]
async fn history_filters_by_range_and_device_and_lists_only_shown_qualifications() {
    let service = start().await;
    service.set_clock("2026-11-05T10:00:00+09:00");
    service.confirm("valid", FACILITY, "reception-1").await;
    service.set_clock("2026-11-20T10:00:00+09:00");
    service
        .confirm("invalid-job-change", FACILITY, "reception-2")
        .await;
    service
        .confirm("not-registered", FACILITY, "reception-1")
        .await; // refused
    service
        .confirm("no-qualification", FACILITY, "reception-1")
        .await; // 該当資格なし
    service.set_clock("2026-12-01T10:00:00+09:00");
    let (status, all) = service.history("&from=2026-11-01&to=2026-12-01").await;
    assert_eq!(status, 200);
    assert_eq!(all.len(), 2, "refusals and 該当資格なし are not listed");
    let (_, one_day) = service.history("&from=2026-11-20&to=2026-11-20").await;
    assert_eq!(one_day, vec![all[1]]);
    let (_, device) = service.history("&device=reception-1").await;
    assert_eq!(device, vec![all[0]]);
    // The old parameters alone still work (everything still kept).
    assert_eq!(service.history("").await.1, all);
    assert_eq!(
        service.history("&from=2026-12-02&to=2026-12-01").await.0,
        400
    );
    assert_eq!(service.history("&from=2026-12-02").await, (200, vec![]));
    assert_eq!(service.history("&from=2026-13-01").await.0, 400);
    // Retention: the 11-05 and 11-20 results are gone on 2027-01-01.
    service.set_clock("2026-12-31T23:59:59+09:00");
    assert_eq!(service.history("&from=2026-11-01").await.1.len(), 2);
    service.set_clock("2027-01-01T00:00:00+09:00");
    assert_eq!(service.history("&from=2026-11-01").await.1.len(), 0);
}

// -------------------------------------------------------- reference numbers

#[tokio::test]
async fn reference_numbers_follow_the_person_across_an_insurer_change() {
    let service = start().await;
    let newer = fixtures::find(&service.persons, "invalid-newer")
        .unwrap()
        .clone();
    let old = &newer.qualifications[0];
    assert!(
        old.lost_on.is_some(),
        "the fixture's first record is the old one"
    );
    let body = json!({
        "medical_institution_code": FACILITY,
        "ReferenceNumberRegistrationInfo": {
            "ReferenceNumber": "R-77",
            "InsurerNumber": old.insurer_number.as_str(),
            "InsuredCardSymbol": old.symbol,
            "InsuredIdentificationNumber": old.number,
        }
    });
    let (status, answer) = service.post("/v1/reference-numbers", &body).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["person"], "invalid-newer");

    // A card read now shows the old qualification (validity 3) with R-77.
    let outcome = service.confirm("invalid-newer", FACILITY, "d").await;
    assert_eq!(outcome["MessageBody"]["QualificationValidity"], "3");
    assert_eq!(first_result(&outcome)["ReferenceNumber"], "R-77");
    // So does a confirmation by the old card's number.
    let r = service
        .client
        .post(format!("{}/v1/insurance-card-confirmations", service.base))
        .body(insurance_card_request(&newer, 0, "UTF-8"))
        .send()
        .await
        .unwrap();
    let outcome = sim_service::xml::parse_response(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(
        outcome.message_body.result_list[0]
            .reference_number
            .as_deref(),
        Some("R-77")
    );
    // After the new insurer's qualification starts: another insurer, the same number.
    service.set_clock("2026-12-16T10:00:00+09:00");
    let outcome = service.confirm("invalid-newer", FACILITY, "d").await;
    assert_eq!(outcome["MessageBody"]["QualificationValidity"], "1");
    assert_eq!(first_result(&outcome)["InsurerNumber"], "01139995");
    assert_eq!(first_result(&outcome)["ReferenceNumber"], "R-77");
    // Another facility does not see it.
    let outcome = service.confirm("invalid-newer", OTHER_FACILITY, "d").await;
    assert!(first_result(&outcome).get("ReferenceNumber").is_none());

    // Refusals: nobody holds the qualification; the number is taken.
    let mut unknown = body.clone();
    unknown["ReferenceNumberRegistrationInfo"]["InsuredIdentificationNumber"] = json!("99999");
    let (status, answer) = service.post("/v1/reference-numbers", &unknown).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (422, Some("qualification_unknown"))
    );
    let valid = fixtures::find(&service.persons, "valid").unwrap();
    let taken = json!({
        "medical_institution_code": FACILITY,
        "ReferenceNumberRegistrationInfo": {
            "ReferenceNumber": "R-77",
            "InsurerNumber": valid.qualifications[0].insurer_number.as_str(),
            "InsuredCardSymbol": valid.qualifications[0].symbol,
            "InsuredIdentificationNumber": valid.qualifications[0].number,
            "InsuredBranchNumber": valid.qualifications[0].branch,
        }
    });
    // Without 枝番 the family under 1234/5678 is ambiguous.
    let mut family = taken.clone();
    family["ReferenceNumberRegistrationInfo"]
        .as_object_mut()
        .unwrap()
        .remove("InsuredBranchNumber");
    let (status, answer) = service.post("/v1/reference-numbers", &family).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (422, Some("qualification_ambiguous"))
    );
    let (status, answer) = service.post("/v1/reference-numbers", &taken).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (422, Some("reference_number_in_use"))
    );
    let mut bad = body.clone();
    bad["ReferenceNumberRegistrationInfo"]["ReferenceNumber"] = json!("照会");
    assert_eq!(service.post("/v1/reference-numbers", &bad).await.0, 422);
}

#[tokio::test]
async fn a_registered_number_wins_over_the_fixtures_and_the_xml_form_answers_in_xml() {
    let service = start().await;
    let valid = fixtures::find(&service.persons, "valid").unwrap();
    let q = &valid.qualifications[0];
    assert_eq!(
        first_result(&service.confirm("valid", FACILITY, "d").await)["ReferenceNumber"],
        "K0001"
    );
    let r = service
        .client
        .post(format!(
            "{}/v1/reference-numbers?character_code_identifier=1",
            service.base
        ))
        .header("content-type", "application/xml")
        .body(registration_request(
            "K0002",
            q.insurer_number.as_str(),
            q.symbol.as_deref().unwrap(),
            &q.number,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let root = sim_service::xml::parse_document(&r.bytes().await.unwrap()).unwrap();
    let body = root.required("MessageBody", "XmlMsg").unwrap();
    assert_eq!(
        body.required("ProcessingResultStatus", "").unwrap().text,
        "1"
    );
    let header = root.required("MessageHeader", "XmlMsg").unwrap();
    assert_eq!(
        header.required("CharacterCodeIdentifier", "").unwrap().text,
        "1"
    );
    assert_eq!(
        first_result(&service.confirm("valid", FACILITY, "d").await)["ReferenceNumber"],
        "K0002"
    );
    // An entity bomb is a 400, not a registration.
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><XmlMsg>&b;</XmlMsg>"#;
    let r = service
        .client
        .post(format!("{}/v1/reference-numbers", service.base))
        .header("content-type", "application/xml")
        .body(bomb)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

// --------------------------------------------------- receipt-computer download

async fn enrol(service: &Service) -> totp_rs::TOTP {
    let (status, enrolment) = service
        .post(
            &format!("/admin/v1/facilities/{FACILITY}/receipt-computer"),
            &json!({ "password": "receipt-pass-1" }),
        )
        .await;
    assert_eq!(status, 201, "{enrolment}");
    totp_rs::TOTP::from_url(enrolment["otpauth_uri"].as_str().unwrap()).unwrap()
}

fn code_at(app: &totp_rs::TOTP, now: &str) -> String {
    app.generate(u64::try_from(at(now).unix_timestamp()).unwrap())
}

#[tokio::test]
async fn receipt_computer_login_with_totp_on_the_service_clock() {
    let service = start().await;
    let app = enrol(&service).await;
    let login = |code: String, password: &'static str| {
        let body = json!({
            "medical_institution_code": FACILITY,
            "password": password,
            "one_time_code": code,
        });
        let service = &service;
        async move {
            let (status, v) = service.post("/v1/receipt-computer/sessions", &body).await;
            (
                status,
                v["error"]["code"].as_str().unwrap_or("").to_string(),
                v,
            )
        }
    };
    let now = "2026-12-01T10:00:00+09:00";
    // Two windows away, either way: wrong.
    for away in ["2026-12-01T10:01:00+09:00", "2026-12-01T09:59:00+09:00"] {
        let (status, code, _) = login(code_at(&app, away), "receipt-pass-1").await;
        assert_eq!((status, code.as_str()), (401, "one_time_code_wrong"));
    }
    // Right code, wrong password.
    let (status, code, _) = login(code_at(&app, now), "wrong-password").await;
    assert_eq!((status, code.as_str()), (401, "invalid_credentials"));
    // The previous window's code, then the current one, then the current again.
    let (status, _, _) = login(code_at(&app, "2026-12-01T09:59:30+09:00"), "receipt-pass-1").await;
    assert_eq!(status, 201);
    let (status, _, session) = login(code_at(&app, now), "receipt-pass-1").await;
    assert_eq!(status, 201);
    let (status, code, _) = login(code_at(&app, now), "receipt-pass-1").await;
    assert_eq!((status, code.as_str()), (401, "one_time_code_used"));
    // The next window's code works, seconds later on the service clock.
    service.set_clock("2026-12-01T10:00:20+09:00");
    let (status, _, _) = login(code_at(&app, "2026-12-01T10:00:30+09:00"), "receipt-pass-1").await;
    assert_eq!(status, 201);
    let token = session["token"].as_str().unwrap();
    assert_eq!(
        service
            .get("/v1/receipt-computer/results", Some(token))
            .await
            .0,
        200
    );
    assert_eq!(
        service.get("/v1/receipt-computer/results", None).await.0,
        401
    );
    assert_eq!(
        service
            .get("/v1/receipt-computer/results", Some("nope"))
            .await
            .0,
        401
    );
    // The session ends after its lifetime on the service clock.
    service.set_clock("2026-12-01T10:31:00+09:00");
    assert_eq!(
        service
            .get("/v1/receipt-computer/results", Some(token))
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn receipt_computer_downloads_a_period_as_xmlmsg() {
    let service = start().await;
    service.set_clock("2026-11-05T10:00:00+09:00");
    service.confirm("valid", FACILITY, "d").await;
    service.confirm("not-registered", FACILITY, "d").await;
    service.confirm("valid", OTHER_FACILITY, "d").await;
    service.set_clock("2026-12-10T10:00:00+09:00");
    service.confirm("jis-level-3", FACILITY, "d").await;
    let app = enrol(&service).await;
    let (status, session) = service
        .post(
            "/v1/receipt-computer/sessions",
            &json!({
                "medical_institution_code": FACILITY,
                "password": "receipt-pass-1",
                "one_time_code": code_at(&app, "2026-12-10T10:00:00+09:00"),
            }),
        )
        .await;
    assert_eq!(status, 201, "{session}");
    let token = session["token"].as_str().unwrap();
    let (status, body) = service
        .get(
            "/v1/receipt-computer/results?from=2026-11-01&to=2026-12-10",
            Some(token),
        )
        .await;
    assert_eq!(status, 200);
    let list: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(list["count"], 2, "{list}");
    for entry in list["results"].as_array().unwrap() {
        let (status, xml) = service
            .get(entry["href"].as_str().unwrap(), Some(token))
            .await;
        assert_eq!(status, 200);
        let outcome = sim_service::xml::parse_response(&xml).unwrap();
        assert_eq!(
            outcome.message_header.medical_institution_code.as_str(),
            FACILITY
        );
        assert_eq!(
            outcome.message_body.result_list[0].name.as_deref(),
            entry["name"].as_str()
        );
    }
    // Beyond retention: October is gone on December 10.
    let (status, body) = service
        .get("/v1/receipt-computer/results?from=2026-10-31", Some(token))
        .await;
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("period_beyond_retention"))
    );
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2026-11-01")
    );
    // Another facility's result is not downloadable with this session.
    let others = service
        .state
        .store
        .confirmations(
            OTHER_FACILITY,
            at("2026-01-01T00:00:00Z"),
            at("2027-01-01T00:00:00Z"),
            None,
        )
        .unwrap();
    let (status, _) = service
        .get(
            &format!("/v1/receipt-computer/results/{}", others[0].id),
            Some(token),
        )
        .await;
    assert_eq!(status, 404);
    // Logout ends the session.
    let r = service
        .client
        .delete(format!("{}/v1/receipt-computer/sessions", service.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        service
            .get("/v1/receipt-computer/results", Some(token))
            .await
            .0,
        401
    );
}

// ------------------------------------------------------------------- folder

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kazasu-oqs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn folder(dir: &Path, character_code: CharacterCodeIdentifier) -> OqsFolder {
    OqsFolder {
        dir: dir.to_path_buf(),
        facility: MedicalInstitutionCode::new(FACILITY).unwrap(),
        character_code,
    }
}

/// Polls until nothing more happens (a file is read on its second sighting).
fn settle(watcher: &mut Watcher) -> Vec<Handled> {
    let mut all = Vec::new();
    for _ in 0..3 {
        all.extend(watcher.poll());
    }
    all
}

fn answered(handled: &[Handled]) -> Vec<String> {
    handled
        .iter()
        .filter_map(|h| match h {
            Handled::Answered { request, .. } => Some(request.clone()),
            Handled::Skipped { .. } => None,
        })
        .collect()
}

fn skipped(handled: &[Handled]) -> Vec<String> {
    handled
        .iter()
        .filter_map(|h| match h {
            Handled::Skipped { name, .. } => Some(name.clone()),
            Handled::Answered { .. } => None,
        })
        .collect()
}

#[tokio::test]
async fn folder_round_trips_in_utf8_and_shift_jis() {
    let service = start().await;
    let valid = fixtures::find(&service.persons, "valid").unwrap().clone();
    for (encoding, identifier) in [
        ("UTF-8", CharacterCodeIdentifier::Utf8),
        ("Shift_JIS", CharacterCodeIdentifier::ShiftJis),
    ] {
        let dir = scratch(&format!("round-{encoding}"));
        let mut watcher =
            Watcher::new(folder(&dir, identifier), service.state.service.clone()).unwrap();
        let text = insurance_card_request(&valid, 0, encoding);
        let bytes = match identifier {
            CharacterCodeIdentifier::Utf8 => text.into_bytes(),
            CharacterCodeIdentifier::ShiftJis => {
                encoding_rs::SHIFT_JIS.encode(&text).0.into_owned()
            }
        };
        let request = dir.join("req/OQSsiquc01req_0001.xml");
        std::fs::write(&request, &bytes).unwrap();
        // First sighting: not read yet (it may still be being written).
        assert!(watcher.poll().is_empty());
        assert_eq!(answered(&watcher.poll()), vec!["OQSsiquc01req_0001.xml"]);
        assert!(!request.exists(), "answered requests are removed");
        let response = std::fs::read(dir.join("res/OQSsiquc01res_0001.xml")).unwrap();
        let declared = format!("encoding=\"{encoding}\"");
        assert!(String::from_utf8_lossy(&response[..60]).contains(&declared));
        let outcome = sim_service::xml::parse_response(&response).unwrap();
        assert_eq!(outcome.message_header.character_code_identifier, identifier);
        assert_eq!(
            outcome.message_header.arbitrary_file_identifier.as_deref(),
            Some("受付-1")
        );
        assert_eq!(
            outcome.message_body.result_list[0].name.as_deref(),
            Some("資格　太郎")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[tokio::test]
async fn folder_registers_reference_numbers_and_drops_face_files() {
    let dir = scratch("imm-face");
    let oqs = folder(&dir, CharacterCodeIdentifier::ShiftJis);
    let service = start_with(ServiceConfig {
        oqs_folder: Some(oqs.clone()),
        ..ServiceConfig::default()
    })
    .await;
    let mut watcher = Watcher::new(oqs, service.state.service.clone()).unwrap();
    std::fs::write(
        dir.join("req/OQSsiimm01req_r1.xml"),
        registration_request("C-123", "06139990", "1234", "8102"),
    )
    .unwrap();
    assert_eq!(
        answered(&settle(&mut watcher)),
        vec!["OQSsiimm01req_r1.xml"]
    );
    let response = std::fs::read(dir.join("res/OQSsiimm01res_r1.xml")).unwrap();
    let root = sim_service::xml::parse_document(&response).unwrap();
    let body = root.required("MessageBody", "XmlMsg").unwrap();
    assert_eq!(
        body.required("ProcessingResultStatus", "").unwrap().text,
        "1"
    );

    // A card confirmation at the folder's facility: a face file, Shift_JIS,
    // named with the service clock's time, carrying the new 照会番号.
    let outcome = service.confirm("invalid-newer", FACILITY, "d").await;
    assert_eq!(first_result(&outcome)["ReferenceNumber"], "C-123");
    let faces: Vec<_> = std::fs::read_dir(dir.join("face"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(faces.len(), 1, "{faces:?}");
    assert!(faces[0].starts_with("OQSsiquc01res_face_"));
    assert!(faces[0].ends_with("_20261201100000.xml"), "{}", faces[0]);
    let face = std::fs::read(dir.join("face").join(&faces[0])).unwrap();
    let outcome = sim_service::xml::parse_response(&face).unwrap();
    assert_eq!(
        outcome.message_header.character_code_identifier,
        CharacterCodeIdentifier::ShiftJis
    );
    assert_eq!(outcome.message_header.reference_classification.code(), "1");
    assert_eq!(
        outcome.message_body.result_list[0]
            .reference_number
            .as_deref(),
        Some("C-123")
    );
    // Another facility's confirmation drops nothing here.
    service.confirm("valid", OTHER_FACILITY, "d").await;
    assert_eq!(std::fs::read_dir(dir.join("face")).unwrap().count(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn error_code(response: &[u8]) -> (String, String) {
    let outcome = sim_service::xml::parse_response(response).unwrap();
    assert_eq!(outcome.message_header.segment_of_result.code(), "9");
    (
        outcome.message_header.error_code.unwrap(),
        outcome.message_header.error_message.unwrap(),
    )
}

#[tokio::test]
async fn hostile_files_get_error_responses_or_are_skipped() {
    let service = start().await;
    let dir = scratch("hostile");
    let outside = scratch("hostile-outside");
    let secret = outside.join("secret.xml");
    std::fs::write(&secret, "do not touch").unwrap();
    let mut watcher = Watcher::new(
        folder(&dir, CharacterCodeIdentifier::Utf8),
        service.state.service.clone(),
    )
    .unwrap();
    let req = dir.join("req");
    std::fs::write(req.join("OQSsiquc01req_bad.xml"), "<XmlMsg><MessageHeader>").unwrap();
    std::fs::write(
        req.join("OQSsiquc01req_bomb.xml"),
        r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><XmlMsg>&lol2;</XmlMsg>"#,
    )
    .unwrap();
    std::fs::write(
        req.join("OQSsiquc01req_huge.xml"),
        vec![b' '; sim_service::xml::MAX_DOCUMENT_BYTES + 1],
    )
    .unwrap();
    std::fs::write(req.join("OQSsiimm01req_bad.xml"), [0xff, 0xfe, 0x00]).unwrap();
    std::os::unix::fs::symlink(&secret, req.join("OQSsiquc01req_link.xml")).unwrap();
    std::fs::write(req.join("OQSsiquc01req_..xml"), "x").unwrap();
    std::fs::write(req.join("OQSsiquc01req_7.xml.tmp"), "half a fi").unwrap();
    std::fs::create_dir(req.join("OQSsiquc01req_dir.xml")).unwrap();

    let handled = settle(&mut watcher);
    let mut done = answered(&handled);
    done.sort();
    assert_eq!(
        done,
        vec![
            "OQSsiimm01req_bad.xml",
            "OQSsiquc01req_bad.xml",
            "OQSsiquc01req_bomb.xml",
            "OQSsiquc01req_huge.xml",
        ]
    );
    let res = dir.join("res");
    assert_eq!(
        error_code(&std::fs::read(res.join("OQSsiquc01res_bad.xml")).unwrap()).0,
        "KZF901"
    );
    assert_eq!(
        error_code(&std::fs::read(res.join("OQSsiquc01res_bomb.xml")).unwrap()).0,
        "KZF901"
    );
    assert_eq!(
        error_code(&std::fs::read(res.join("OQSsiquc01res_huge.xml")).unwrap()).0,
        "KZF904"
    );
    let imm = std::fs::read(res.join("OQSsiimm01res_bad.xml")).unwrap();
    let root = sim_service::xml::parse_document(&imm).unwrap();
    let header = root.required("MessageHeader", "XmlMsg").unwrap();
    assert_eq!(header.required("SegmentOfResult", "").unwrap().text, "9");
    assert_eq!(header.required("ErrorCode", "").unwrap().text, "KZF901");

    let mut left = skipped(&handled);
    left.sort();
    assert_eq!(
        left,
        vec![
            "OQSsiquc01req_..xml",
            "OQSsiquc01req_7.xml.tmp",
            "OQSsiquc01req_dir.xml",
            "OQSsiquc01req_link.xml",
        ]
    );
    // Skipped files stay, are reported once, and nothing outside DIR changed.
    assert!(settle(&mut watcher).is_empty());
    assert!(req.join("OQSsiquc01req_link.xml").exists());
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "do not touch");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
    assert_eq!(
        std::fs::read_dir(&res).unwrap().count(),
        4,
        "no response for skipped files"
    );
    // No history row came of any of it.
    assert_eq!(service.state.store.confirmation_count().unwrap(), 0);

    // A file still growing is read only once it stops changing.
    let growing = req.join("OQSsiquc01req_grow.xml");
    std::fs::write(&growing, "<XmlMsg>").unwrap();
    assert!(watcher.poll().is_empty());
    std::fs::write(&growing, "<XmlMsg><MessageHeader/>").unwrap();
    assert!(
        answered(&watcher.poll()).is_empty(),
        "changed since the last poll"
    );
    assert_eq!(answered(&watcher.poll()), vec!["OQSsiquc01req_grow.xml"]);

    // A link in place of `res` stops the watcher from starting.
    let linked = scratch("hostile-linked");
    std::fs::create_dir(linked.join("req")).unwrap();
    std::os::unix::fs::symlink(&outside, linked.join("res")).unwrap();
    assert!(
        Watcher::new(
            folder(&linked, CharacterCodeIdentifier::Utf8),
            service.state.service.clone(),
        )
        .is_err()
    );
    for d in [dir, outside, linked] {
        std::fs::remove_dir_all(d).unwrap();
    }
}
