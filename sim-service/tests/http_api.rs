//! The running service over HTTP: every built-in fixture case through a
//! client that reads the certificate and signs the challenge with the
//! in-process virtual card, in JSON and in XML; the grace-period edges; and
//! every kind of bad input answered with a 4xx and a code.

mod common;

use std::net::TcpListener;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use openssl::sha::sha256;
use serde_json::{Value, json};
use sim_card::card::Card;
use sim_card::personalize;
use sim_card::profile::CertificateSetting;
use sim_card::variant::Variant;
use sim_service::clock::ServiceClock;
use sim_service::fixtures::{self, InsuredPerson, Phone};
use sim_service::http::{self, AppState, ServiceConfig};
use sim_service::store::Store;

const FACILITY: &str = "0110000001";
const REFERENCE_TIME: &str = "2026-12-01T10:00:00+09:00";

/// A service on a loopback port, with its own in-memory store.
struct Service {
    base: String,
    client: reqwest::Client,
    state: AppState,
    persons: Vec<InsuredPerson>,
}

async fn start_with(persons: Vec<InsuredPerson>, config: ServiceConfig) -> Service {
    let (state, base) = common::serve(REFERENCE_TIME, persons.clone(), config).await;
    Service {
        base,
        client: reqwest::Client::new(),
        state,
        persons,
    }
}

async fn start() -> Service {
    start_with(fixtures::built_in().unwrap(), fast_config()).await
}

fn fast_config() -> ServiceConfig {
    ServiceConfig {
        time_factor: 0.001,
        ..ServiceConfig::default()
    }
}

/// The patient's card (or phone), in process, driven by APDUs as a client
/// would.
struct Patient {
    card: Card,
    /// The PIN the patient types (the phone's on Android); none on an iPhone.
    pin: Option<String>,
    method: &'static str,
}

fn apdu(card: &mut Card, bytes: &[u8]) -> Vec<u8> {
    let response = card.process(bytes);
    assert_eq!(
        response.sw.to_u16(),
        0x9000,
        "{} answered {}",
        hex::encode(bytes),
        response.sw
    );
    response.data
}

const SELECT_JPKI: [u8; 15] = [
    0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01,
];

impl Patient {
    /// The person's physical card (PIN method).
    fn new(service: &Service, id: &str) -> Patient {
        let person = fixtures::find(&service.persons, id)
            .unwrap_or_else(|| panic!("no fixture {id}"))
            .clone();
        let pki = personalize::simulated_jpki().unwrap();
        let card = personalize::issue(&person.card.profile, &pki).unwrap().card;
        Patient {
            card,
            pin: Some(person.card.profile.pins.auth.value.clone()),
            method: "pin",
        }
    }

    /// The person's phone `phone`: an Android phone with its PIN, or an
    /// iPhone whose holder has just authenticated (Face ID).
    fn phone(service: &Service, id: &str, phone: &str) -> Patient {
        let person = fixtures::find(&service.persons, id)
            .unwrap_or_else(|| panic!("no fixture {id}"))
            .clone();
        let profile = person.phone_profile(person.phone(phone).unwrap());
        let pki = personalize::simulated_jpki().unwrap();
        let mut card = personalize::issue(&profile, &pki).unwrap().card;
        if profile.variant == Variant::Iphone {
            assert!(card.authenticate_holder(std::time::Instant::now()));
            Patient {
                card,
                pin: None,
                method: "iphone",
            }
        } else {
            Patient {
                card,
                pin: Some(profile.pins.auth.value.clone()),
                method: "android",
            }
        }
    }

    /// SELECT the JPKI-AP and VERIFY the PIN, when there is one to type (the
    /// card's, or the Android phone's: myna reads an Android phone's
    /// certificate only after it). The AP stays selected for what follows:
    /// selecting it again would forget the VERIFY.
    fn verify(&mut self) {
        self.select();
        let Some(pin) = self.pin.clone() else {
            return;
        };
        let card = &mut self.card;
        apdu(card, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18]);
        let mut verify = vec![0x00, 0x20, 0x00, 0x80, pin.len() as u8];
        verify.extend(pin.as_bytes());
        apdu(card, &verify);
    }

    /// SELECT the JPKI-AP.
    fn select(&mut self) {
        apdu(&mut self.card, &SELECT_JPKI);
    }

    /// SELECT EF 000A of the selected JPKI-AP, then read it as OpenSC does.
    fn read_auth_certificate(&mut self) -> Vec<u8> {
        let card = &mut self.card;
        apdu(card, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x0A]);
        let head = apdu(card, &[0x00, 0xB0, 0x00, 0x00, 0x04]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]])) + 4;
        let mut der = Vec::new();
        while der.len() < len {
            let [hi, lo] = (der.len() as u16).to_be_bytes();
            let want = (len - der.len()).min(256) as u8;
            der.extend(apdu(card, &[0x00, 0xB0, hi, lo, want]));
        }
        der
    }

    /// COMPUTE DIGITAL SIGNATURE over the challenge's SHA-256 DigestInfo,
    /// after the VERIFY (an iPhone signs in its Face ID window, with its
    /// P-256 key unless it has an RSA one).
    fn sign(&mut self, challenge: &[u8]) -> Vec<u8> {
        let card = &mut self.card;
        apdu(card, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x17]);
        let mut digest_info = hex::decode("3031300d060960864801650304020105000420").unwrap();
        digest_info.extend(sha256(challenge));
        let mut sign = vec![0x80, 0x2A, 0x00, 0x80, digest_info.len() as u8];
        sign.extend(&digest_info);
        sign.push(0x00);
        apdu(card, &sign)
    }
}

impl Service {
    async fn challenge(&self) -> (String, Vec<u8>) {
        let r: Value = self
            .client
            .post(format!("{}/v1/challenges", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let nonce = BASE64.decode(r["challenge"].as_str().unwrap()).unwrap();
        (r["challenge_id"].as_str().unwrap().to_string(), nonce)
    }

    /// A signed presentation of the patient's card, as the client sends it.
    async fn presentation(&self, patient: &mut Patient) -> Value {
        let (id, nonce) = self.challenge().await;
        patient.verify();
        let certificate = patient.read_auth_certificate();
        let signature = patient.sign(&nonce);
        json!({
            "medical_institution_code": FACILITY,
            "device": "reception-1",
            "method": patient.method,
            "certificate": BASE64.encode(certificate),
            "challenge_id": id,
            "signature": BASE64.encode(signature),
        })
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn confirm(&self, id: &str) -> Value {
        self.confirm_with(id, Patient::new(self, id)).await
    }

    /// Confirms with the person's phone `phone`.
    async fn confirm_phone(&self, id: &str, phone: &str) -> Value {
        self.confirm_with(id, Patient::phone(self, id, phone)).await
    }

    async fn confirm_with(&self, id: &str, mut patient: Patient) -> Value {
        let body = self.presentation(&mut patient).await;
        let (status, outcome) = self.post("/v1/confirmations", &body).await;
        assert_eq!(status, 200, "{id}: {outcome}");
        outcome
    }

    async fn set_clock(&self, now: &str) {
        let r = self
            .client
            .put(format!("{}/admin/v1/clock", self.base))
            .json(&json!({ "now": now }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
}

fn validity(outcome: &Value) -> &str {
    outcome["MessageBody"]["QualificationValidity"]
        .as_str()
        .unwrap_or("")
}

fn code(outcome: &Value) -> &str {
    outcome["MessageBody"]["ProcessingResultCode"]
        .as_str()
        .unwrap_or("")
}

fn results(outcome: &Value) -> &Vec<Value> {
    static EMPTY: Vec<Value> = Vec::new();
    outcome["MessageBody"]["ResultList"]
        .as_array()
        .unwrap_or(&EMPTY)
}

#[tokio::test]
async fn every_result_case_through_the_virtual_card() {
    let service = start().await;
    // (person, QualificationValidity or "" for a refusal, ProcessingResultCode or "")
    let cases = [
        ("valid", "1", ""),
        ("preschool", "1", ""),
        ("expiring-soon", "1", "KZN001"),
        ("back-side", "1", ""),
        ("elderly-recipient", "1", ""),
        ("late-elderly", "1", ""),
        ("invalid-job-change", "2", ""),
        ("invalid-newer", "3", ""),
        ("no-qualification", "4", ""),
        ("several", "5", ""),
        ("disclosure-restricted", "1", ""),
        ("medical-assistance", "6", ""),
        ("medical-assistance-and-insurance", "1", ""),
        ("self-defense-forces", "1", ""),
        ("special-medical-expenses", "1", ""),
        ("not-registered", "", "KZE110"),
        ("certificate-revoked", "", "KZE101"),
        ("expired-in-grace", "1", "KZN002"),
        ("expired-beyond-grace", "", "KZE102"),
        ("phone-expired", "1", ""),
        ("phone-expired/android", "", "KZE103"),
        ("national-health-insurance", "1", ""),
        ("jis-level-3", "1", ""),
        ("iphone", "1", ""),
        ("iphone/iphone", "1", ""),
        ("android/android", "1", ""),
        ("phone-replaced", "1", ""),
        ("phone-replaced/old-android", "", "KZE107"),
        ("phone-replaced/new-iphone", "1", ""),
        ("iphone-rsa/iphone", "1", ""),
        ("junior", "1", ""),
    ];
    for (id, expected_validity, expected_code) in cases {
        // `person/phone` confirms with that phone, `person` with the card.
        let outcome = match id.split_once('/') {
            Some((person, phone)) => service.confirm_phone(person, phone).await,
            None => service.confirm(id).await,
        };
        assert_eq!(validity(&outcome), expected_validity, "{id}: {outcome}");
        assert_eq!(code(&outcome), expected_code, "{id}: {outcome}");
        let status = outcome["MessageBody"]["ProcessingResultStatus"]
            .as_str()
            .unwrap();
        assert_eq!(
            status,
            if expected_validity.is_empty() {
                "2"
            } else {
                "1"
            },
            "{id}"
        );
        assert_eq!(outcome["MessageHeader"]["SegmentOfResult"], "1", "{id}");
        assert_eq!(outcome["MessageHeader"]["MedicalInstitutionCode"], FACILITY);
        assert_eq!(
            outcome["MessageHeader"]["QualificationConfirmationDate"],
            "20261201"
        );
        assert_eq!(outcome["MessageHeader"]["ReferenceClassification"], "1");
    }
}

#[tokio::test]
async fn result_fields_carry_the_official_codes() {
    let service = start().await;
    let valid = service.confirm("valid").await;
    let r = &results(&valid)[0];
    assert_eq!(r["InsuredCardClassification"], "01");
    assert_eq!(r["Sex1"], "1");
    assert_eq!(r["InsuredBranchNumber"].as_str().unwrap().len(), 2);
    assert!(
        r["NameKana"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| !('ァ'..='ヶ').contains(&c)),
        "half-width kana: {r}"
    );
    assert_eq!(r["ReferenceNumber"], "K0001", "the facility's 照会番号");

    let preschool = service.confirm("preschool").await;
    assert_eq!(results(&preschool)[0]["PreschoolClassification"], "1");
    assert!(results(&valid)[0].get("PreschoolClassification").is_none());

    let elderly = service.confirm("elderly-recipient").await;
    let info = &results(&elderly)[0]["ElderlyRecipientCertificateInfo"];
    assert_eq!(info["ElderlyRecipientContributionRatio"], "020");

    let late = service.confirm("late-elderly").await;
    assert_eq!(results(&late)[0]["InsuredPartialContributionRatio"], "010");
    assert!(results(&late)[0].get("InsuredBranchNumber").is_none());

    let nhi = service.confirm("national-health-insurance").await;
    let insurer = results(&nhi)[0]["InsurerNumber"].as_str().unwrap();
    assert_eq!((insurer.len(), &insurer[..2]), (8, "  "));

    let sdf = service.confirm("self-defense-forces").await;
    assert_eq!(results(&sdf)[0]["InsuredCardClassification"], "07");
    let special = service.confirm("special-medical-expenses").await;
    assert_eq!(results(&special)[0]["InsuredCardClassification"], "05");

    let hidden = service.confirm("disclosure-restricted").await;
    assert!(results(&hidden)[0].get("InsuredName").is_none());

    let back = service.confirm("back-side").await;
    assert!(results(&back)[0].get("NameOfOther").is_some());
    assert!(results(&back)[0].get("Sex2").is_some());

    let welfare = service.confirm("medical-assistance").await;
    let w = &results(&welfare)[0];
    assert_eq!(w["InsuredCardClassification"], "A1");
    assert!(
        w.get("InsuredIdentificationNumber").is_none(),
        "welfare shows six fields: {w}"
    );

    let both = service.confirm("medical-assistance-and-insurance").await;
    let classes: Vec<&str> = results(&both)
        .iter()
        .map(|r| r["InsuredCardClassification"].as_str().unwrap())
        .collect();
    assert!(classes.contains(&"A1") && classes.len() == 2, "{classes:?}");

    let several = service.confirm("several").await;
    assert!(results(&several).len() >= 2);
}

#[tokio::test]
async fn xml_matches_json_in_utf8_and_shift_jis() {
    let service = start().await;
    for (id, character_code) in [
        ("valid", "0"),
        ("jis-level-3", "1"),
        ("elderly-recipient", "1"),
    ] {
        let mut patient = Patient::new(&service, id);
        let mut body = service.presentation(&mut patient).await;
        body["character_code_identifier"] = json!(character_code);
        let response = service
            .client
            .post(format!("{}/v1/confirmations", service.base))
            .header("accept", "application/xml")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        let bytes = response.bytes().await.unwrap();
        let (encoding, declared) = if character_code == "1" {
            (encoding_rs::SHIFT_JIS, "Shift_JIS")
        } else {
            (encoding_rs::UTF_8, "UTF-8")
        };
        assert!(
            content_type
                .to_lowercase()
                .contains(&declared.to_lowercase()),
            "{content_type}"
        );
        let (text, _, malformed) = encoding.decode(&bytes);
        assert!(!malformed, "{id}: the XML is valid {declared}");
        assert!(
            text.starts_with(&format!(
                "<?xml version=\"1.0\" encoding=\"{declared}\" standalone=\"no\"?>"
            )),
            "{text}"
        );
        assert!(
            text.contains("<QualificationValidity>1</QualificationValidity>"),
            "{text}"
        );
        let outcome = sim_service::xml::parse_response(&bytes).unwrap();
        assert_eq!(
            outcome.message_header.character_code_identifier.code(),
            character_code
        );
        if id == "jis-level-3" {
            assert!(
                text.contains("高崎"),
                "level-3 kanji become level-1/2 for Shift_JIS: {text}"
            );
            assert!(!text.contains('髙'));
        }
    }
}

#[tokio::test]
async fn registration_with_consent_then_confirmation() {
    let service = start().await;
    let outcome = service.confirm("not-registered").await;
    assert_eq!(code(&outcome), "KZE110");

    let mut patient = Patient::new(&service, "not-registered");
    let body = service.presentation(&mut patient).await;
    let (status, error) = service.post("/v1/registrations", &body).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("consent_required"))
    );

    // 03:00-06:00 JST: maintenance.
    service.set_clock("2026-12-01T03:30:00+09:00").await;
    let mut body = service.presentation(&mut patient).await;
    body["consent"] = json!(true);
    let (status, error) = service.post("/v1/registrations", &body).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (503, Some("registration_unavailable"))
    );

    service.set_clock("2026-12-01T06:00:00+09:00").await;
    let mut body = service.presentation(&mut patient).await;
    body["consent"] = json!(true);
    let (status, registration) = service.post("/v1/registrations", &body).await;
    assert_eq!(
        (status, registration["status"].as_str()),
        (200, Some("registered")),
        "{registration}"
    );
    let id = registration["registration_id"].as_str().unwrap();
    // The clock is frozen: advance past the (scaled) processing time.
    service
        .state
        .clock
        .advance(time::Duration::seconds(1))
        .unwrap();
    let status: Value = service
        .client
        .get(format!("{}/v1/registrations/{id}", service.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "registered");
    let outcome = service.confirm("not-registered").await;
    assert_eq!(validity(&outcome), "1", "{outcome}");
}

#[tokio::test]
async fn registration_over_25_seconds_completes_in_the_background() {
    let config = ServiceConfig {
        registration_processing: time::Duration::seconds(40),
        ..fast_config()
    };
    let service = start_with(fixtures::built_in().unwrap(), config).await;
    let mut patient = Patient::new(&service, "not-registered");
    let mut body = service.presentation(&mut patient).await;
    body["consent"] = json!(true);
    let (status, registration) = service.post("/v1/registrations", &body).await;
    assert_eq!(
        (status, registration["status"].as_str()),
        (202, Some("accepted"))
    );
    let outcome = service.confirm("not-registered").await;
    assert_eq!(code(&outcome), "KZE110", "not yet in effect");
    service
        .state
        .clock
        .advance(time::Duration::seconds(1))
        .unwrap();
    let outcome = service.confirm("not-registered").await;
    assert_eq!(validity(&outcome), "1", "in effect after the (scaled) 40 s");
}

/// A physical card whose certificate expired 2026-02-10 and a phone whose
/// certificate expires 2026-02-10, as one fixture file.
fn expiry_fixtures() -> Vec<InsuredPerson> {
    let mut persons = fixtures::built_in().unwrap();
    let template = fixtures::find(&persons, "valid").unwrap().clone();
    let mut card = template.clone();
    card.id = "card-expiring-0210".into();
    card.card.built_in = None;
    card.card.profile.seed = "kazasu-test-card-expiring-0210".into();
    card.card.profile.certificates.auth.not_before = time::macros::date!(2021 - 02 - 10);
    card.card.profile.certificates.auth.not_after = time::macros::date!(2026 - 02 - 10);
    card.reference_numbers.clear();
    let mut phone = template;
    phone.id = "phone-expiring-0210".into();
    phone.card.built_in = None;
    phone.card.profile.seed = "kazasu-test-phone-expiring-0210".into();
    phone.phones = vec![Phone {
        id: "android".into(),
        variant: Variant::Android,
        added: time::macros::date!(2021 - 02 - 10),
        certificate: CertificateSetting {
            not_before: time::macros::date!(2021 - 02 - 10),
            not_after: time::macros::date!(2026 - 02 - 10),
            revoked: false,
        },
        pin: None,
        authentication_window_seconds: None,
        iphone_key: None,
    }];
    phone.reference_numbers.clear();
    persons.extend([card, phone]);
    persons
}

#[tokio::test]
async fn grace_period_edges() {
    let service = start_with(expiry_fixtures(), fast_config()).await;
    // Physical card: usable through the last day of the third month after expiry.
    service.set_clock("2026-05-31T23:59:59+09:00").await;
    let outcome = service.confirm("card-expiring-0210").await;
    assert_eq!(
        (validity(&outcome), code(&outcome)),
        ("1", "KZN002"),
        "{outcome}"
    );
    service.set_clock("2026-06-01T00:00:00+09:00").await;
    let outcome = service.confirm("card-expiring-0210").await;
    assert_eq!(
        (validity(&outcome), code(&outcome)),
        ("", "KZE102"),
        "{outcome}"
    );
    // Smartphone: no grace. The expiry day still works, the next day fails.
    service.set_clock("2026-02-10T23:59:59+09:00").await;
    let outcome = service
        .confirm_phone("phone-expiring-0210", "android")
        .await;
    assert_eq!(validity(&outcome), "1", "{outcome}");
    assert_eq!(
        code(&outcome),
        "KZN001",
        "the expiry warning on its last day"
    );
    service.set_clock("2026-02-11T00:00:00+09:00").await;
    let outcome = service
        .confirm_phone("phone-expiring-0210", "android")
        .await;
    assert_eq!(
        (validity(&outcome), code(&outcome)),
        ("", "KZE103"),
        "{outcome}"
    );
}

#[tokio::test]
async fn tampered_signatures_and_certificates_are_refused() {
    let service = start().await;
    let mut patient = Patient::new(&service, "valid");

    let mut body = service.presentation(&mut patient).await;
    let mut signature = BASE64.decode(body["signature"].as_str().unwrap()).unwrap();
    signature[10] ^= 0x01;
    body["signature"] = json!(BASE64.encode(&signature));
    let (status, error) = service.post("/v1/confirmations", &body).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("signature_invalid"))
    );

    let mut body = service.presentation(&mut patient).await;
    let mut certificate = BASE64
        .decode(body["certificate"].as_str().unwrap())
        .unwrap();
    let last = certificate.len() - 1;
    certificate[last] ^= 0x01; // inside the CA's signature
    body["certificate"] = json!(BASE64.encode(&certificate));
    let (status, error) = service.post("/v1/confirmations", &body).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("certificate_untrusted"))
    );

    // A certificate from another CA with the very same name.
    let other = sim_card::pki::Jpki::derive("not-the-jpki", "JPKI-TEST").unwrap();
    let valid = fixtures::find(&service.persons, "valid").unwrap();
    let forged = personalize::auth_certificate(&valid.card.profile, &other).unwrap();
    let mut body = service.presentation(&mut patient).await;
    body["certificate"] = json!(BASE64.encode(&forged));
    let (status, error) = service.post("/v1/confirmations", &body).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("certificate_untrusted"))
    );

    // Someone else's certificate with this card's signature.
    let mut other_patient = Patient::new(&service, "preschool");
    other_patient.select();
    let mut body = service.presentation(&mut patient).await;
    body["certificate"] = json!(BASE64.encode(other_patient.read_auth_certificate()));
    let (status, error) = service.post("/v1/confirmations", &body).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("signature_invalid"))
    );

    // Not DER at all.
    let mut body = service.presentation(&mut patient).await;
    body["certificate"] = json!(BASE64.encode(b"not a certificate"));
    let (status, error) = service.post("/v1/confirmations", &body).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("certificate_malformed"))
    );
}

/// The iPhone's certificate certifies a P-256 key and chains to the
/// simulated JPKI auth CA (whose RSA key signed it); the phone's DER ECDSA
/// signature verifies, a tampered one does not, and the phone cannot pose as
/// an Android phone or a card.
#[tokio::test]
async fn an_iphone_signs_with_its_p256_key_under_the_jpki_ca() {
    use sim_service::rules::certificate::KeyType;
    let service = start().await;
    let mut patient = Patient::phone(&service, "iphone", "iphone");
    let body = service.presentation(&mut patient).await;
    let certificate = BASE64
        .decode(body["certificate"].as_str().unwrap())
        .unwrap();
    let summary = service.state.anchors.verify(&certificate).unwrap();
    assert_eq!(summary.key_type, KeyType::EcP256);
    let signature = BASE64.decode(body["signature"].as_str().unwrap()).unwrap();
    assert_eq!(signature[0], 0x30, "a DER ECDSA-Sig-Value");
    assert!(signature.len() <= 72, "not an RSA signature");
    let (status, outcome) = service.post("/v1/confirmations", &body).await;
    assert_eq!((status, validity(&outcome)), (200, "1"), "{outcome}");

    let mut body = service.presentation(&mut patient).await;
    let mut signature = BASE64.decode(body["signature"].as_str().unwrap()).unwrap();
    let last = signature.len() - 1;
    signature[last] ^= 0x01;
    body["signature"] = json!(BASE64.encode(&signature));
    let (status, error) = service.post("/v1/confirmations", &body).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("signature_invalid"))
    );

    for method in ["android", "pin"] {
        let mut body = service.presentation(&mut patient).await;
        body["method"] = json!(method);
        let (status, error) = service.post("/v1/confirmations", &body).await;
        assert_eq!(status, 422, "{method}: {error}");
    }
    assert_eq!(service.state.store.confirmation_count().unwrap(), 1);
}

/// Adding the card to a new phone at runtime: the new phone confirms, the
/// old one is refused KZE107, the physical card is untouched; bad requests
/// are 4xx with a reason.
#[tokio::test]
async fn adding_the_card_to_a_new_phone_replaces_the_old_phones_certificate() {
    let service = start().await;
    let outcome = service.confirm_phone("android", "android").await;
    assert_eq!(validity(&outcome), "1", "{outcome}");

    let (status, added) = service
        .post(
            "/admin/v1/persons/android/phones",
            &json!({"variant": "iphone", "not_before": "2026-12-01", "not_after": "2029-03-03"}),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["phone"], "iphone-1");
    assert_eq!(added["added"], "2026-12-01");
    assert_eq!(added["replaced"], json!(["android"]));

    let outcome = service.confirm_phone("android", "android").await;
    assert_eq!(code(&outcome), "KZE107", "{outcome}");
    // The service's record now has the iPhone: issue it from there.
    let stored = service.state.store.person("android").unwrap().unwrap();
    let person: InsuredPerson = toml::from_str(&stored.fixture).unwrap();
    let service_with_phone = Service {
        persons: vec![person],
        base: service.base.clone(),
        client: service.client.clone(),
        state: service.state.clone(),
    };
    let outcome = service_with_phone
        .confirm_phone("android", "iphone-1")
        .await;
    assert_eq!(validity(&outcome), "1", "{outcome}");
    assert_eq!(validity(&service.confirm("android").await), "1");

    for (path, body, status, error) in [
        (
            "/admin/v1/persons/nobody/phones",
            json!({"variant": "android", "not_before": "2026-12-01", "not_after": "2029-01-01"}),
            404,
            "unknown_person",
        ),
        (
            "/admin/v1/persons/junior/phones",
            json!({"variant": "android", "not_before": "2026-12-01", "not_after": "2029-01-01"}),
            422,
            "invalid_phone",
        ),
        (
            "/admin/v1/persons/valid/phones",
            json!({"variant": "physical-contact", "not_before": "2026-12-01", "not_after": "2029-01-01"}),
            422,
            "invalid_phone",
        ),
        (
            "/admin/v1/persons/valid/phones",
            json!({"variant": "android", "not_before": "2026-13-01", "not_after": "2029-01-01"}),
            422,
            "invalid_field",
        ),
        (
            "/admin/v1/persons/android/phones",
            json!({"variant": "android", "id": "iphone-1", "not_before": "2026-12-01", "not_after": "2029-01-01"}),
            422,
            "invalid_phone",
        ),
    ] {
        let (got, answer) = service.post(path, &body).await;
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(error)),
            "{body}: {answer}"
        );
    }
}

/// Revoking a certificate after the fixtures are installed: the next
/// confirmation with it is refused KZE101; the person's other carriers are
/// untouched; bad requests are 4xx with a reason.
#[tokio::test]
async fn a_certificate_revoked_at_runtime_is_refused_from_then_on() {
    let service = start().await;
    assert_eq!(validity(&service.confirm("android").await), "1");
    let (status, revoked) = service
        .post("/admin/v1/persons/android/revocations", &json!({}))
        .await;
    assert_eq!(status, 201, "{revoked}");
    assert_eq!(revoked, json!({"person": "android"}));
    assert_eq!(code(&service.confirm("android").await), "KZE101");
    // The phone carries a certificate of its own, still valid.
    let outcome = service.confirm_phone("android", "android").await;
    assert_eq!(validity(&outcome), "1", "{outcome}");
    let (status, _) = service
        .post(
            "/admin/v1/persons/android/revocations",
            &json!({"phone": "android"}),
        )
        .await;
    assert_eq!(status, 201);
    let outcome = service.confirm_phone("android", "android").await;
    assert_eq!(code(&outcome), "KZE101", "{outcome}");
    // The fixture says so too.
    let stored = service.state.store.person("android").unwrap().unwrap();
    let person: InsuredPerson = toml::from_str(&stored.fixture).unwrap();
    assert!(person.card.profile.certificates.auth.revoked);
    assert!(person.phones[0].certificate.revoked);

    for (path, body, status, error) in [
        (
            "/admin/v1/persons/nobody/revocations",
            json!({}),
            404,
            "unknown_person",
        ),
        (
            "/admin/v1/persons/valid/revocations",
            json!({"phone": "android"}),
            422,
            "invalid_phone",
        ),
        (
            "/admin/v1/persons/valid/revocations",
            json!({"card": "physical"}),
            422,
            "invalid_field",
        ),
    ] {
        let (got, answer) = service.post(path, &body).await;
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(error)),
            "{body}: {answer}"
        );
    }
}

#[tokio::test]
async fn challenges_are_single_use_and_short_lived() {
    let service = start().await;
    let mut patient = Patient::new(&service, "valid");
    let body = service.presentation(&mut patient).await;
    assert_eq!(service.post("/v1/confirmations", &body).await.0, 200);
    let (status, error) = service.post("/v1/confirmations", &body).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("challenge_used"))
    );

    let body = service.presentation(&mut patient).await;
    service
        .state
        .clock
        .advance(time::Duration::minutes(3))
        .unwrap();
    let (status, error) = service.post("/v1/confirmations", &body).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (410, Some("challenge_expired"))
    );

    let mut body = service.presentation(&mut patient).await;
    body["challenge_id"] = json!("0000");
    let (status, error) = service.post("/v1/confirmations", &body).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (404, Some("challenge_unknown"))
    );

    let mut body = service.presentation(&mut patient).await;
    body.as_object_mut().unwrap().remove("challenge_id");
    let (status, error) = service.post("/v1/confirmations", &body).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("challenge_required"))
    );
}

#[tokio::test]
async fn malformed_requests_get_a_4xx_with_a_reason() {
    let service = start().await;
    let url = format!("{}/v1/confirmations", service.base);
    let send = |body: Vec<u8>, content_type: &'static str| {
        let request = service
            .client
            .post(&url)
            .header("content-type", content_type)
            .body(body);
        async move {
            let r = request.send().await.unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            (
                status,
                body["error"]["code"].as_str().unwrap_or("").to_string(),
                body["error"]["message"].as_str().unwrap_or("").to_string(),
            )
        }
    };
    let (status, code, message) = send(b"{\"medical".to_vec(), "application/json").await;
    assert_eq!((status, code.as_str()), (400, "malformed_json"));
    assert!(!message.is_empty());
    let (status, code, _) = send(
        br#"{"medical_institution_code": 1, "method": "pin", "certificate": ""}"#.to_vec(),
        "application/json",
    )
    .await;
    assert_eq!((status, code.as_str()), (422, "invalid_field"));
    let (status, code, _) = send(
        br#"{"medical_institution_code": "0110000001", "method": "telepathy", "certificate": ""}"#
            .to_vec(),
        "application/json",
    )
    .await;
    assert_eq!((status, code.as_str()), (422, "invalid_field"));
    let (status, code, _) = send(br#"{"medical_institution_code": "0110000001", "method": "visual", "certificate": "AAAA", "extra": 1}"#.to_vec(), "application/json").await;
    assert_eq!(
        (status, code.as_str()),
        (422, "invalid_field"),
        "unknown fields are errors"
    );
    let (status, code, _) = send(b"{}".to_vec(), "text/plain").await;
    assert_eq!((status, code.as_str()), (415, "not_json"));
    let (status, code, _) = send(vec![b' '; 100 * 1024], "application/json").await;
    assert_eq!((status, code.as_str()), (413, "body_too_large"));
    let (status, code, _) = send(
        br#"{"medical_institution_code": "0110000001", "method": "visual", "certificate": "%%%"}"#
            .to_vec(),
        "application/json",
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "invalid_base64"));
    let (status, code, _) = send(
        br#"{"medical_institution_code": "12", "method": "visual", "certificate": "AAAA"}"#
            .to_vec(),
        "application/json",
    )
    .await;
    assert_eq!((status, code.as_str()), (422, "invalid_field"));
    // None of it reached the history, and the service still works.
    assert_eq!(service.state.store.confirmation_count().unwrap(), 0);
    assert_eq!(validity(&service.confirm("valid").await), "1");
}

#[tokio::test]
async fn visual_confirmation_needs_no_signature_but_the_method_must_fit_the_card() {
    let service = start().await;
    let mut patient = Patient::new(&service, "valid");
    patient.select();
    let body = json!({
        "medical_institution_code": FACILITY,
        "method": "visual",
        "certificate": BASE64.encode(patient.read_auth_certificate()),
    });
    let (status, outcome) = service.post("/v1/confirmations", &body).await;
    assert_eq!((status, validity(&outcome)), (200, "1"));
    let mut body = service.presentation(&mut patient).await;
    body["method"] = json!("android");
    let (status, error) = service.post("/v1/confirmations", &body).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("method_mismatch"))
    );
}

#[tokio::test]
async fn history_keeps_results_to_the_end_of_the_following_month() {
    let service = start().await;
    service.set_clock("2026-11-05T10:00:00+09:00").await;
    service.confirm("valid").await;
    service.confirm("not-registered").await; // no qualification shown: not listed
    let history = |service: &Service| {
        let url = format!(
            "{}/v1/history?medical_institution_code={FACILITY}",
            service.base
        );
        let client = service.client.clone();
        async move {
            let v: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            v["confirmations"].as_array().unwrap().len()
        }
    };
    assert_eq!(history(&service).await, 1);
    service.set_clock("2026-12-31T23:59:59+09:00").await;
    assert_eq!(history(&service).await, 1);
    service.set_clock("2027-01-01T00:00:00+09:00").await;
    assert_eq!(history(&service).await, 0);
    let url = format!("{}/v1/history?medical_institution_code=x", service.base);
    assert_eq!(service.client.get(url).send().await.unwrap().status(), 400);
}

#[tokio::test]
async fn faults_slow_fail_drop_and_maintenance() {
    let service = start().await;
    let faults = |body: Value| {
        let request = service
            .client
            .put(format!("{}/admin/v1/faults", service.base))
            .json(&body);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(
        faults(json!({"endpoints": {"challenges": {"status": 503}}})).await,
        200
    );
    let r = service
        .client
        .post(format!("{}/v1/challenges", service.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "injected_fault");

    assert_eq!(
        faults(json!({"endpoints": {"*": {"drop_connection": true}}})).await,
        200
    );
    let r = service
        .client
        .post(format!("{}/v1/challenges", service.base))
        .send()
        .await;
    let broken = match r {
        Err(_) => true,
        Ok(r) => r.bytes().await.is_err(),
    };
    assert!(broken, "the connection breaks mid-response");

    assert_eq!(faults(json!({"maintenance": true})).await, 200);
    let r = service
        .client
        .post(format!("{}/v1/challenges", service.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    // The admin API is never faulted.
    let r = service
        .client
        .get(format!("{}/admin/v1/faults", service.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    assert_eq!(faults(json!({"endpoints": {"nope": {}}})).await, 422);
    assert_eq!(
        service
            .client
            .delete(format!("{}/admin/v1/faults", service.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(validity(&service.confirm("valid").await), "1");
}

#[tokio::test]
async fn admin_token_guards_the_admin_api_only() {
    let config = ServiceConfig {
        admin_token: Some("s3cret".into()),
        ..fast_config()
    };
    let service = start_with(fixtures::built_in().unwrap(), config).await;
    let url = format!("{}/admin/v1/clock", service.base);
    assert_eq!(service.client.get(&url).send().await.unwrap().status(), 401);
    let r = service
        .client
        .get(&url)
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = service
        .client
        .get(&url)
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        validity(&service.confirm("valid").await),
        "1",
        "the client API needs no token"
    );
}

#[tokio::test]
async fn fixtures_can_be_replaced_through_the_admin_api() {
    let service = start().await;
    let text = include_str!("../fixtures/valid.toml");
    let r = service
        .client
        .put(format!("{}/admin/v1/fixtures", service.base))
        .header("content-type", "application/toml")
        .body(text)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let summary: Value = r.json().await.unwrap();
    assert!(
        summary["persons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "valid")
    );
    let r = service
        .client
        .put(format!("{}/admin/v1/fixtures", service.base))
        .header("content-type", "application/toml")
        .body("[[person]]\nid = 3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let openapi: Value = service
        .client
        .get(format!("{}/openapi.json", service.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(openapi["paths"]["/v1/confirmations"]["post"].is_object());
}

/// `/openapi.json` as served: JSON, every client API operation answering 503
/// in the one error shape, and that shape the one a real error comes in.
#[tokio::test]
async fn the_served_api_description_has_the_error_answers() {
    let service = start().await;
    let r = service
        .client
        .get(format!("{}/openapi.json", service.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let openapi: Value = r.json().await.unwrap();
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3."));
    let paths = openapi["paths"].as_object().unwrap();
    assert!(paths.contains_key("/v1/insurance-card-confirmations"));
    assert!(paths.contains_key("/admin/v1/confirmations/{id}/trace"));
    for (path, item) in paths.iter().filter(|(p, _)| p.starts_with("/v1/")) {
        for (method, operation) in item.as_object().unwrap() {
            assert_eq!(
                operation["responses"]["503"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/Error",
                "{method} {path}"
            );
        }
    }
    let presentation = &openapi["components"]["schemas"]["Presentation"];
    assert!(
        presentation["required"]
            .as_array()
            .unwrap()
            .contains(&json!("certificate"))
    );
    // A real error answer has the documented fields.
    let error: Value = service
        .client
        .post(format!("{}/v1/confirmations", service.base))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schema = &openapi["components"]["schemas"]["Error"]["properties"]["error"];
    for field in schema["required"].as_array().unwrap() {
        assert!(
            error["error"][field.as_str().unwrap()].is_string(),
            "{field}"
        );
    }
}

#[tokio::test]
async fn https_with_the_generated_ca() {
    let tls = sim_service::tls::server_tls("kazasu-test", &["localhost".to_string()]).unwrap();
    let state = AppState::new(
        Store::in_memory().unwrap(),
        ServiceClock::wall(),
        fast_config(),
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let ca = reqwest::Certificate::from_pem(tls.ca_certificate_pem.as_bytes()).unwrap();
    let app = http::router(state);
    tokio::spawn(
        async move { http::serve(listener, app, Some(&tls), std::future::pending()).await },
    );
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap();
    let body = client
        .get(format!("https://localhost:{port}/health"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "ok");
    let untrusting = reqwest::Client::new();
    assert!(
        untrusting
            .get(format!("https://localhost:{port}/health"))
            .send()
            .await
            .is_err()
    );
}

fn insurance_card_request(person: &InsuredPerson, record: usize) -> String {
    let q = &person.qualifications[record];
    let birth = q.birth_date.unwrap_or(person.persona().birth_date);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<XmlMsg><MessageHeader><QualificationConfirmationDate>20261201</QualificationConfirmationDate>
<MedicalInstitutionCode>{FACILITY}</MedicalInstitutionCode><ArbitraryFileIdentifier>REQ-1</ArbitraryFileIdentifier></MessageHeader>
<MessageBody><QualificationConfirmSearchInfo><InsurerNumber>{}</InsurerNumber>{}<InsuredIdentificationNumber>{}</InsuredIdentificationNumber>{}
<Birthdate>{}</Birthdate><LimitApplicationCertificateRelatedConsFlg>0</LimitApplicationCertificateRelatedConsFlg></QualificationConfirmSearchInfo></MessageBody></XmlMsg>"#,
        q.insurer_number.digits(),
        q.symbol
            .as_ref()
            .map(|s| format!("<InsuredCardSymbol>{s}</InsuredCardSymbol>"))
            .unwrap_or_default(),
        q.number,
        q.branch
            .as_ref()
            .map(|b| format!("<InsuredBranchNumber>{b}</InsuredBranchNumber>"))
            .unwrap_or_default(),
        sim_service::model::dates::format_yyyymmdd(birth),
    )
}

#[tokio::test]
async fn confirmation_by_insurance_card_number_in_xml() {
    let service = start().await;
    let post = |xml: String| {
        let request = service
            .client
            .post(format!("{}/v1/insurance-card-confirmations", service.base))
            .header("content-type", "application/xml")
            .body(xml);
        async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
        }
    };
    let valid = fixtures::find(&service.persons, "valid").unwrap();
    let (status, bytes) = post(insurance_card_request(valid, 0)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let outcome = sim_service::xml::parse_response(&bytes).unwrap();
    assert_eq!(
        outcome.message_body.qualification_validity.unwrap().code(),
        "1"
    );
    assert_eq!(outcome.message_header.reference_classification.code(), "2");
    assert_eq!(
        outcome.message_header.arbitrary_file_identifier.as_deref(),
        Some("REQ-1")
    );
    assert!(
        outcome
            .message_body
            .qualification_confirm_search_info
            .is_some(),
        "the search is echoed"
    );

    // The old card of someone who has moved on to a new insurer.
    let moved = fixtures::find(&service.persons, "invalid-newer").unwrap();
    let old = moved
        .qualifications
        .iter()
        .position(|q| q.lost_on.is_some())
        .unwrap();
    let (_, bytes) = post(insurance_card_request(moved, old)).await;
    let outcome = sim_service::xml::parse_response(&bytes).unwrap();
    assert_eq!(
        outcome.message_body.qualification_validity.unwrap().code(),
        "3"
    );

    let mut nobody = valid.clone();
    nobody.qualifications[0].number = "99999999".into();
    let (_, bytes) = post(insurance_card_request(&nobody, 0)).await;
    let outcome = sim_service::xml::parse_response(&bytes).unwrap();
    assert_eq!(
        outcome.message_body.qualification_validity.unwrap().code(),
        "4"
    );

    let bomb = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><XmlMsg>&b;</XmlMsg>"#;
    let (status, body) = post(bomb.to_string()).await;
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (400, Some("malformed_xml"))
    );
    let external = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><XmlMsg>&e;</XmlMsg>"#;
    assert_eq!(post(external.to_string()).await.0, 400);
    assert_eq!(post("<XmlMsg><MessageHeader>".to_string()).await.0, 400);
}
