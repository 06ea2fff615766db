//! The reference client against the real mock service (in process, on a
//! loopback port) and an in-process card per fixture person, every APDU
//! traced; then against a fake service (wiremock, raw sockets) that answers
//! badly, slowly or not at all.
//!
//! What is checked is what the manual asks of the app: the outcome the staff
//! sees, and what the client did (and did not do) to the card.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use kazasu::client::flow::check;
use kazasu::client::in_process::InProcessChannel;
use kazasu::client::service::ServiceClient;
use kazasu::client::{
    CheckInputs, ClientOutcome, Method, OutcomeKind, default_facility, misbehave,
};
use sim_card::card::Card;
use sim_card::personalize;
use sim_card::trace::{SharedTrace, TraceEvent, Traced};
use sim_service::clock::ServiceClock;
use sim_service::fixtures::{self, InsuredPerson};
use sim_service::http::{self, AppState, FaultSet, ServiceConfig};
use sim_service::store::Store;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const REFERENCE_TIME: &str = "2026-12-01T10:00:00+09:00";

/// The mock service on a loopback port, served by its own runtime: the
/// client under test is blocking.
struct Service {
    base: String,
    state: AppState,
    persons: Vec<InsuredPerson>,
    _runtime: tokio::runtime::Runtime,
}

fn start() -> Service {
    start_with(ServiceConfig {
        time_factor: 0.001,
        ..ServiceConfig::default()
    })
}

fn start_with(config: ServiceConfig) -> Service {
    start_with_persons(fixtures::built_in().unwrap(), config)
}

fn start_with_persons(persons: Vec<InsuredPerson>, config: ServiceConfig) -> Service {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let clock = ServiceClock::frozen_at(OffsetDateTime::parse(REFERENCE_TIME, &Rfc3339).unwrap());
    let state = AppState::new(Store::in_memory().unwrap(), clock, config).unwrap();
    state.install_fixtures(&persons).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = http::router(state.clone());
    runtime.spawn(http::serve(listener, app, None, std::future::pending()));
    Service {
        base,
        state,
        persons,
        _runtime: runtime,
    }
}

type TracedCard = InProcessChannel<Traced<Card, SharedTrace>>;

impl Service {
    fn person(&self, id: &str) -> InsuredPerson {
        fixtures::find(&self.persons, id)
            .unwrap_or_else(|| panic!("no fixture {id}"))
            .clone()
    }

    fn client(&self) -> ServiceClient {
        ServiceClient::new(&self.base).unwrap()
    }
}

/// The person's card in an in-process reader, traced.
fn card_of(person: &InsuredPerson) -> (TracedCard, SharedTrace) {
    let pki = personalize::simulated_jpki().unwrap();
    let card = personalize::issue(&person.card.profile, &pki).unwrap().card;
    let trace = SharedTrace::default();
    (
        InProcessChannel::new(Traced::new(card, trace.clone())),
        trace,
    )
}

/// The person's phone `id` in an in-process reader, traced.
fn phone_of(person: &InsuredPerson, id: &str) -> (TracedCard, SharedTrace) {
    let pki = personalize::simulated_jpki().unwrap();
    let profile = person.phone_profile(person.phone(id).unwrap());
    let card = personalize::issue(&profile, &pki).unwrap().card;
    let trace = SharedTrace::default();
    (
        InProcessChannel::new(Traced::new(card, trace.clone())),
        trace,
    )
}

fn auth_pin(person: &InsuredPerson) -> String {
    person.card.profile.pins.auth.value.clone()
}

fn inputs(method: Method, pin: Option<&str>) -> CheckInputs {
    CheckInputs {
        method,
        pin: pin.map(str::to_string),
        consent_to_register: false,
        card_has_photo: true,
        facility: default_facility(),
        device: "reception-1".into(),
        timeout_ms: 5_000,
        card_timeout_ms: 5_000,
        reselect_before_sign: false,
    }
}

/// The command APDUs of a trace, hex (PINs masked).
fn commands(trace: &SharedTrace) -> Vec<String> {
    trace
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.event == TraceEvent::Apdu)
        .filter_map(|r| r.command.clone())
        .collect()
}

/// VERIFY commands that carry a PIN (not the empty status query).
fn verifies_with_data(trace: &SharedTrace) -> usize {
    commands(trace)
        .iter()
        .filter(|c| c.starts_with("0020") && c.len() > 8)
        .count()
}

fn all_verifies(trace: &SharedTrace) -> usize {
    commands(trace)
        .iter()
        .filter(|c| c.starts_with("0020"))
        .count()
}

fn signatures(trace: &SharedTrace) -> usize {
    commands(trace)
        .iter()
        .filter(|c| c.starts_with("802A"))
        .count()
}

fn assert_conforming_reads(trace: &SharedTrace) {
    for c in commands(trace) {
        // Never the text AP (the My Number), never an extended APDU.
        assert!(!c.contains("D3921000310001010408"), "text AP selected: {c}");
        if c.starts_with("00B0") {
            assert_eq!(c.len(), 10, "not a short READ BINARY: {c}");
        }
    }
}

/// The PIN is nowhere in what the client says (the service's result is
/// the service's: a 4-digit 記号 may well equal a PIN).
fn assert_no_pin(outcome: &ClientOutcome, pin: &str) {
    let mut own = outcome.clone();
    own.result = None;
    let json = serde_json::to_string(&own).unwrap();
    assert!(!json.contains(pin), "the PIN leaked: {json}");
}

#[test]
fn the_right_pin_confirms_with_one_verify() {
    let service = start();
    let person = service.person("valid");
    let pin = auth_pin(&person);
    let (mut card, trace) = card_of(&person);
    let outcome = check(
        &mut card,
        &service.client(),
        &inputs(Method::Pin, Some(&pin)),
    );
    assert_eq!(outcome.outcome, OutcomeKind::Confirmed, "{outcome:?}");
    assert_eq!(outcome.validity.as_deref(), Some("1"));
    assert!(outcome.banners.is_empty(), "{:?}", outcome.banners);
    assert!(outcome.result.is_some());
    assert_eq!(verifies_with_data(&trace), 1);
    assert_eq!(signatures(&trace), 1);
    assert_conforming_reads(&trace);
    assert_no_pin(&outcome, &pin);
    // The card is let go at the end.
    let last = trace.lock().unwrap().last().map(|r| r.event);
    assert_eq!(last, Some(TraceEvent::PowerOff));
}

#[test]
fn a_wrong_pin_is_reported_once_and_never_retried() {
    let service = start();
    let person = service.person("valid");
    let wrong = if auth_pin(&person) == "9999" {
        "0000"
    } else {
        "9999"
    };
    let (mut card, trace) = card_of(&person);
    let outcome = check(
        &mut card,
        &service.client(),
        &inputs(Method::Pin, Some(wrong)),
    );
    assert_eq!(outcome.outcome, OutcomeKind::WrongPin, "{outcome:?}");
    assert_eq!(outcome.tries_left, Some(2));
    assert!(outcome.message.contains('2'), "{}", outcome.message);
    assert_eq!(verifies_with_data(&trace), 1);
    assert_eq!(signatures(&trace), 0);
    assert_no_pin(&outcome, wrong);
}

#[test]
fn a_locked_pin_is_never_tried() {
    let service = start();
    let mut person = service.person("valid");
    person.card.profile.pins.auth.tries_left = Some(0);
    let pin = auth_pin(&person);
    let (mut card, trace) = card_of(&person);
    let outcome = check(
        &mut card,
        &service.client(),
        &inputs(Method::Pin, Some(&pin)),
    );
    assert_eq!(outcome.outcome, OutcomeKind::PinLocked, "{outcome:?}");
    assert_eq!(outcome.tries_left, Some(0));
    assert!(outcome.message.contains("目視"), "{}", outcome.message);
    assert!(outcome.message.contains("市区町村"), "{}", outcome.message);
    assert_eq!(verifies_with_data(&trace), 0);
    assert_eq!(all_verifies(&trace), 1, "one empty VERIFY reads the tries");
}

#[test]
fn the_third_wrong_pin_locks_now() {
    let service = start();
    let mut person = service.person("valid");
    person.card.profile.pins.auth.tries_left = Some(1);
    let (mut card, trace) = card_of(&person);
    let outcome = check(
        &mut card,
        &service.client(),
        &inputs(Method::Pin, Some("0000")),
    );
    assert_eq!(outcome.outcome, OutcomeKind::PinLocked, "{outcome:?}");
    assert!(
        outcome.message.contains("locked now"),
        "{}",
        outcome.message
    );
    assert_eq!(verifies_with_data(&trace), 1);
}

#[test]
fn visual_confirmation_sends_no_verify() {
    let service = start();
    let person = service.person("valid");
    let (mut card, trace) = card_of(&person);
    let outcome = check(&mut card, &service.client(), &inputs(Method::Visual, None));
    assert_eq!(outcome.outcome, OutcomeKind::Confirmed, "{outcome:?}");
    assert_eq!(outcome.validity.as_deref(), Some("1"));
    assert_eq!(all_verifies(&trace), 0);
    assert_eq!(signatures(&trace), 0);
    assert_conforming_reads(&trace);
}

#[test]
fn visual_confirmation_ignores_a_typed_pin() {
    let service = start();
    let person = service.person("valid");
    let pin = auth_pin(&person);
    let (mut card, trace) = card_of(&person);
    let outcome = check(
        &mut card,
        &service.client(),
        &inputs(Method::Visual, Some(&pin)),
    );
    assert_eq!(outcome.outcome, OutcomeKind::Confirmed, "{outcome:?}");
    assert_eq!(all_verifies(&trace), 0);
}

#[test]
fn a_card_without_photo_is_not_confirmed_visually_and_not_touched() {
    let service = start();
    let person = service.person("valid");
    let (mut card, trace) = card_of(&person);
    let mut no_photo = inputs(Method::Visual, None);
    no_photo.card_has_photo = false;
    let outcome = check(&mut card, &service.client(), &no_photo);
    assert_eq!(outcome.outcome, OutcomeKind::VisualNotPossible);
    assert_eq!(
        outcome.message,
        "顔写真のないカードは目視確認できません。暗証番号で確認してください。"
    );
    assert!(trace.lock().unwrap().is_empty(), "the card was touched");
}

#[test]
fn no_pin_typed_is_asked_for_without_touching_the_card() {
    let service = start();
    let person = service.person("valid");
    let (mut card, trace) = card_of(&person);
    let outcome = check(&mut card, &service.client(), &inputs(Method::Pin, None));
    assert_eq!(outcome.outcome, OutcomeKind::PinRequired);
    assert!(trace.lock().unwrap().is_empty());
}

#[test]
fn an_unregistered_card_is_registered_with_consent_without_a_second_verify() {
    let service = start();
    // Registration takes effect a (scaled) moment after it is asked for:
    // the clock must tick for the confirmation that follows to see it.
    service.state.clock.resume();
    let person = service.person("not-registered");
    let pin = auth_pin(&person);
    let (mut card, trace) = card_of(&person);
    let mut consenting = inputs(Method::Pin, Some(&pin));
    consenting.consent_to_register = true;
    let outcome = check(&mut card, &service.client(), &consenting);
    assert_eq!(outcome.outcome, OutcomeKind::Registered, "{outcome:?}");
    assert_eq!(outcome.validity.as_deref(), Some("1"));
    assert_eq!(verifies_with_data(&trace), 1, "the PIN is sent once");
    // Confirmation, registration, confirmation again: one signature each.
    assert_eq!(signatures(&trace), 3);
}

#[test]
fn an_unregistered_card_is_registered_after_visual_confirmation() {
    let service = start();
    service.state.clock.resume();
    let person = service.person("not-registered");
    let (mut card, trace) = card_of(&person);
    let mut consenting = inputs(Method::Visual, None);
    consenting.consent_to_register = true;
    let outcome = check(&mut card, &service.client(), &consenting);
    assert_eq!(outcome.outcome, OutcomeKind::Registered, "{outcome:?}");
    assert_eq!(all_verifies(&trace), 0);
}

#[test]
fn an_unregistered_card_without_consent_is_offered_registration() {
    let service = start();
    let person = service.person("not-registered");
    let pin = auth_pin(&person);
    let (mut card, _) = card_of(&person);
    let outcome = check(
        &mut card,
        &service.client(),
        &inputs(Method::Pin, Some(&pin)),
    );
    assert_eq!(outcome.outcome, OutcomeKind::NotRegistered, "{outcome:?}");
    assert_eq!(outcome.processing_result_code.as_deref(), Some("KZE110"));
    assert!(outcome.message.contains("同意"), "{}", outcome.message);
}

#[test]
fn a_registration_answered_in_time_is_in_effect_even_on_a_frozen_clock() {
    // The app waited for it: the service puts it in effect when it answers.
    let service = start();
    let person = service.person("not-registered");
    let (mut card, _) = card_of(&person);
    let mut consenting = inputs(Method::Visual, None);
    consenting.consent_to_register = true;
    let outcome = check(&mut card, &service.client(), &consenting);
    assert_eq!(outcome.outcome, OutcomeKind::Registered, "{outcome:?}");
    assert_eq!(outcome.validity.as_deref(), Some("1"));
}

#[test]
fn a_slow_registration_completes_in_the_background() {
    // 30 s of processing: past the 25 s the service waits, so 202.
    let service = start_with(ServiceConfig {
        time_factor: 0.001,
        registration_processing: time::Duration::seconds(30),
        ..ServiceConfig::default()
    });
    let person = service.person("not-registered");
    let pin = auth_pin(&person);
    let (mut card, _) = card_of(&person);
    let mut consenting = inputs(Method::Pin, Some(&pin));
    consenting.consent_to_register = true;
    let outcome = check(&mut card, &service.client(), &consenting);
    assert_eq!(
        outcome.outcome,
        OutcomeKind::RegistrationPending,
        "{outcome:?}"
    );
    assert!(outcome.message.contains("数分"), "{}", outcome.message);
}

#[test]
fn a_phone_is_sent_to_mynaportal_to_register() {
    let mut persons = fixtures::built_in().unwrap();
    let mut phone = fixtures::find(&persons, "not-registered").unwrap().clone();
    phone.id = "not-registered-android".into();
    phone.card.built_in = None;
    phone.card.profile.seed = format!("{}-android", phone.card.profile.seed);
    phone.phones = fixtures::find(&persons, "android").unwrap().phones.clone();
    persons.push(phone.clone());
    let service = start_with_persons(persons, ServiceConfig::default());
    let pin = phone.phones[0].pin.clone().unwrap();
    let (mut card, trace) = phone_of(&phone, "android");
    let mut consenting = inputs(Method::Android, Some(&pin));
    consenting.consent_to_register = true;
    let outcome = check(&mut card, &service.client(), &consenting);
    assert_eq!(outcome.outcome, OutcomeKind::NotRegistered, "{outcome:?}");
    assert!(
        outcome.message.contains("マイナポータル"),
        "{}",
        outcome.message
    );
    assert_eq!(signatures(&trace), 1, "no registration signature");
}

#[test]
fn registration_during_maintenance_hours_is_maintenance() {
    let service = start();
    service
        .state
        .clock
        .set(OffsetDateTime::parse("2026-12-01T03:30:00+09:00", &Rfc3339).unwrap());
    let person = service.person("not-registered");
    let (mut card, _) = card_of(&person);
    let mut consenting = inputs(Method::Visual, None);
    consenting.consent_to_register = true;
    let outcome = check(&mut card, &service.client(), &consenting);
    assert_eq!(outcome.outcome, OutcomeKind::Maintenance, "{outcome:?}");
}

#[test]
fn an_expired_certificate_beyond_grace_is_refused_with_advice() {
    let service = start();
    let person = service.person("expired-beyond-grace");
    let pin = auth_pin(&person);
    let (mut card, _) = card_of(&person);
    let outcome = check(
        &mut card,
        &service.client(),
        &inputs(Method::Pin, Some(&pin)),
    );
    assert_eq!(outcome.outcome, OutcomeKind::Refused, "{outcome:?}");
    assert_eq!(outcome.processing_result_code.as_deref(), Some("KZE102"));
    assert!(outcome.message.contains("更新"), "{}", outcome.message);
    assert!(
        outcome.message.contains("資格確認書"),
        "{}",
        outcome.message
    );
}

#[test]
fn an_expired_phone_certificate_sends_the_patient_to_the_card() {
    let service = start();
    let person = service.person("phone-expired");
    let pin = auth_pin(&person);
    let (mut card, _) = phone_of(&person, "android");
    let outcome = check(
        &mut card,
        &service.client(),
        &inputs(Method::Android, Some(&pin)),
    );
    assert_eq!(outcome.outcome, OutcomeKind::Refused, "{outcome:?}");
    assert_eq!(outcome.processing_result_code.as_deref(), Some("KZE103"));
    assert!(
        outcome.message.contains("カード本体"),
        "{}",
        outcome.message
    );
}

#[test]
fn result_banners_follow_the_result() {
    let service = start();
    let cases: [(&str, &str, &[&str]); 6] = [
        ("preschool", "1", &["義務教育就学前"]),
        ("expiring-soon", "1", &["3か月以内に証明書が失効します"]),
        ("invalid-job-change", "2", &["この資格は無効です"]),
        ("invalid-newer", "3", &["この資格は無効です"]),
        ("no-qualification", "4", &["該当資格なし"]),
        ("several", "5", &["複数該当"]),
    ];
    for (id, validity, banners) in cases {
        let person = service.person(id);
        let pin = auth_pin(&person);
        let (mut card, _) = card_of(&person);
        let outcome = check(
            &mut card,
            &service.client(),
            &inputs(Method::Pin, Some(&pin)),
        );
        assert_eq!(outcome.outcome, OutcomeKind::Confirmed, "{id}: {outcome:?}");
        assert_eq!(outcome.validity.as_deref(), Some(validity), "{id}");
        assert_eq!(outcome.banners, banners, "{id}");
    }
    let person = service.person("expired-in-grace");
    let (mut card, _) = card_of(&person);
    let outcome = check(&mut card, &service.client(), &inputs(Method::Visual, None));
    assert_eq!(outcome.outcome, OutcomeKind::Confirmed, "{outcome:?}");
    assert_eq!(outcome.processing_result_code.as_deref(), Some("KZN002"));
    assert_eq!(outcome.banners.len(), 1, "{:?}", outcome.banners);
}

#[test]
fn a_revoked_certificate_is_refused() {
    let service = start();
    let person = service.person("certificate-revoked");
    let (mut card, _) = card_of(&person);
    let outcome = check(&mut card, &service.client(), &inputs(Method::Visual, None));
    assert_eq!(outcome.outcome, OutcomeKind::Refused, "{outcome:?}");
    assert_eq!(outcome.processing_result_code.as_deref(), Some("KZE101"));
}

#[test]
fn a_card_removed_mid_read_is_reported_at_every_step() {
    let service = start();
    let person = service.person("valid");
    let pin = auth_pin(&person);
    // PIN flow: SELECT AID, SELECT 0018, VERIFY (empty), VERIFY, SELECT 0017,
    // SIGN, SELECT 000A, READ×7: removal before each of them.
    for n in 0..12 {
        let (card, _) = card_of(&person);
        let mut card = card.remove_after(n);
        let started = Instant::now();
        let outcome = check(
            &mut card,
            &service.client(),
            &inputs(Method::Pin, Some(&pin)),
        );
        assert_eq!(
            outcome.outcome,
            OutcomeKind::CardRemoved,
            "after {n}: {outcome:?}"
        );
        assert_eq!(
            outcome.message,
            "カードが読み取り中に離されました。もう一度かざしてください。"
        );
        assert!(started.elapsed() < Duration::from_secs(5), "hung");
    }
}

#[test]
fn maintenance_is_reported_as_such() {
    let service = start();
    service.state.faults.set(FaultSet {
        maintenance: true,
        ..FaultSet::default()
    });
    let person = service.person("valid");
    let pin = auth_pin(&person);
    let (mut card, trace) = card_of(&person);
    let outcome = check(
        &mut card,
        &service.client(),
        &inputs(Method::Pin, Some(&pin)),
    );
    assert_eq!(outcome.outcome, OutcomeKind::Maintenance, "{outcome:?}");
    assert_eq!(
        verifies_with_data(&trace),
        0,
        "no PIN try is spent when the service cannot answer"
    );
}

#[test]
fn an_iphone_gets_no_verify_and_signs_after_face_id() {
    let service = start();
    let person = service.person("iphone");
    // Not authenticated on the phone: it refuses to sign (6982).
    let (mut phone, trace) = phone_of(&person, "iphone");
    let outcome = check(&mut phone, &service.client(), &inputs(Method::Iphone, None));
    assert_eq!(
        outcome.outcome,
        OutcomeKind::AuthenticateOnPhone,
        "{outcome:?}"
    );
    assert_eq!(all_verifies(&trace), 0);
    // Face ID a moment ago: the P-256 signature and certificate confirm.
    let (mut phone, trace) = phone_of(&person, "iphone");
    let just_now = std::time::Instant::now()
        .checked_sub(std::time::Duration::from_secs(2))
        .unwrap();
    assert!(phone.card_mut().card_mut().authenticate_holder(just_now));
    let outcome = check(&mut phone, &service.client(), &inputs(Method::Iphone, None));
    assert_eq!(outcome.outcome, OutcomeKind::Confirmed, "{outcome:?}");
    assert_eq!(outcome.validity.as_deref(), Some("1"));
    assert_eq!(all_verifies(&trace), 0);
    assert_eq!(signatures(&trace), 1);
}

#[test]
fn android_verifies_the_phone_pin_before_reading_the_certificate() {
    let service = start();
    let person = service.person("android");
    let phone_pin = person.phones[0].pin.clone().unwrap();
    assert_ne!(
        phone_pin,
        auth_pin(&person),
        "the fixture's two PINs differ"
    );
    let (mut phone, trace) = phone_of(&person, "android");
    let outcome = check(
        &mut phone,
        &service.client(),
        &inputs(Method::Android, Some(&phone_pin)),
    );
    assert_eq!(outcome.outcome, OutcomeKind::Confirmed, "{outcome:?}");
    let sent = commands(&trace);
    let verify = sent
        .iter()
        .position(|c| c.starts_with("0020") && c.len() > 8)
        .unwrap();
    let certificate = sent.iter().position(|c| c == "00A4020C02000A").unwrap();
    assert!(verify < certificate, "{sent:?}");
    // The card's PIN is not the phone's.
    let (mut phone, _) = phone_of(&person, "android");
    let outcome = check(
        &mut phone,
        &service.client(),
        &inputs(Method::Android, Some(&auth_pin(&person))),
    );
    assert_eq!(
        (outcome.outcome, outcome.tries_left),
        (OutcomeKind::WrongPin, Some(2))
    );
}

/// A card without the JPKI-AP (an iPhone whose card is not opened in Wallet).
struct NoApplet;

impl kazasu::client::CardChannel for NoApplet {
    fn connect(&mut self) -> Result<Vec<u8>, kazasu::client::CardError> {
        Ok(vec![0x3B, 0x00])
    }
    fn transmit(&mut self, _: &[u8]) -> Result<Vec<u8>, kazasu::client::CardError> {
        Ok(vec![0x6A, 0x82])
    }
    fn disconnect(&mut self) {}
}

#[test]
fn no_jpki_applet_tells_to_open_wallet() {
    let service = start();
    let outcome = check(
        &mut NoApplet,
        &service.client(),
        &inputs(Method::Iphone, None),
    );
    assert_eq!(outcome.outcome, OutcomeKind::CardNotOnPhone, "{outcome:?}");
    assert!(
        outcome.message.contains("ウォレット"),
        "{}",
        outcome.message
    );
    // The plastic card without the applet is a card error.
    let outcome = check(
        &mut NoApplet,
        &service.client(),
        &inputs(Method::Visual, None),
    );
    assert_eq!(outcome.outcome, OutcomeKind::CardError, "{outcome:?}");
}

#[test]
fn the_misbehaving_client_does_what_it_says() {
    let service = start();
    let person = service.person("valid");
    let pin = auth_pin(&person);

    let (mut card, trace) = card_of(&person);
    misbehave::check(
        &mut card,
        &service.client(),
        &inputs(Method::Pin, Some(&pin)),
        misbehave::Misbehaviour::ReadMyNumber,
    );
    assert!(
        commands(&trace)
            .iter()
            .any(|c| c == "00A4020C020001" || c.starts_with("00B00000")),
        "{:?}",
        commands(&trace)
    );
    assert!(
        commands(&trace)
            .iter()
            .any(|c| c.contains("D3921000310001010408"))
    );

    let (mut card, trace) = card_of(&person);
    misbehave::check(
        &mut card,
        &service.client(),
        &inputs(Method::Visual, Some(&pin)),
        misbehave::Misbehaviour::VerifyInVisual,
    );
    assert_eq!(verifies_with_data(&trace), 1);

    let (mut card, trace) = card_of(&person);
    let outcome = misbehave::check(
        &mut card,
        &service.client(),
        &inputs(Method::Pin, Some("0000")),
        misbehave::Misbehaviour::RetryPin,
    );
    assert_eq!(outcome.tries_left, Some(1));
    assert_eq!(verifies_with_data(&trace), 2);

    let mut locked = person.clone();
    locked.card.profile.pins.auth.tries_left = Some(0);
    let (mut card, trace) = card_of(&locked);
    misbehave::check(
        &mut card,
        &service.client(),
        &inputs(Method::Pin, Some(&pin)),
        misbehave::Misbehaviour::VerifyBlocked,
    );
    assert_eq!(verifies_with_data(&trace), 1);
}

// ---- a service that answers badly ----

/// A fake service, with its runtime.
struct Fake {
    runtime: tokio::runtime::Runtime,
    server: wiremock::MockServer,
}

fn fake() -> Fake {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(wiremock::MockServer::start());
    Fake { runtime, server }
}

impl Fake {
    fn answer(&self, path: &str, response: wiremock::ResponseTemplate) {
        use wiremock::matchers;
        self.runtime.block_on(
            wiremock::Mock::given(matchers::method("POST"))
                .and(matchers::path(path))
                .respond_with(response)
                .mount(&self.server),
        );
    }

    fn client(&self) -> ServiceClient {
        ServiceClient::new(&self.server.uri()).unwrap()
    }
}

/// The default card, checked visually against `service`.
fn visual_check(service: &ServiceClient, timeout_ms: u64) -> ClientOutcome {
    let pki = personalize::simulated_jpki().unwrap();
    let profile = sim_card::profile::CardProfile::built_in("default").unwrap();
    let card = personalize::issue(&profile, &pki).unwrap().card;
    let mut channel = InProcessChannel::new(card);
    let mut visual = inputs(Method::Visual, None);
    visual.timeout_ms = timeout_ms;
    check(&mut channel, service, &visual)
}

#[test]
fn malformed_json_is_a_service_error() {
    let fake = fake();
    fake.answer(
        "/v1/confirmations",
        wiremock::ResponseTemplate::new(200)
            .set_body_raw("{\"MessageBody\": {", "application/json"),
    );
    let outcome = visual_check(&fake.client(), 2_000);
    assert_eq!(outcome.outcome, OutcomeKind::ServiceError, "{outcome:?}");
}

#[test]
fn a_500_is_a_service_error_with_its_code() {
    let fake = fake();
    fake.answer(
        "/v1/confirmations",
        wiremock::ResponseTemplate::new(500).set_body_json(serde_json::json!(
            {"error": {"code": "internal_error", "message": "the service failed"}}
        )),
    );
    let outcome = visual_check(&fake.client(), 2_000);
    assert_eq!(outcome.outcome, OutcomeKind::ServiceError, "{outcome:?}");
    assert!(
        outcome.message.contains("internal_error"),
        "{}",
        outcome.message
    );
}

#[test]
fn a_503_maintenance_is_maintenance() {
    let fake = fake();
    fake.answer(
        "/v1/confirmations",
        wiremock::ResponseTemplate::new(503).set_body_json(serde_json::json!(
            {"error": {"code": "maintenance", "message": "under maintenance"}}
        )),
    );
    let outcome = visual_check(&fake.client(), 2_000);
    assert_eq!(outcome.outcome, OutcomeKind::Maintenance, "{outcome:?}");
}

#[test]
fn a_slow_answer_is_a_timeout() {
    let fake = fake();
    fake.answer(
        "/v1/confirmations",
        wiremock::ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({}))
            .set_delay(Duration::from_secs(3)),
    );
    let started = Instant::now();
    let outcome = visual_check(&fake.client(), 300);
    assert_eq!(outcome.outcome, OutcomeKind::Timeout, "{outcome:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn a_slow_challenge_costs_no_pin_try() {
    let fake = fake();
    fake.answer(
        "/v1/challenges",
        wiremock::ResponseTemplate::new(201)
            .set_body_json(serde_json::json!({"challenge_id": "x", "challenge": "AAAA"}))
            .set_delay(Duration::from_secs(3)),
    );
    let pki = personalize::simulated_jpki().unwrap();
    let profile = sim_card::profile::CardProfile::built_in("default").unwrap();
    let card = personalize::issue(&profile, &pki).unwrap().card;
    let trace = SharedTrace::default();
    let mut channel = InProcessChannel::new(Traced::new(card, trace.clone()));
    let mut pin = inputs(Method::Pin, Some(&profile.pins.auth.value));
    pin.timeout_ms = 300;
    let outcome = check(&mut channel, &fake.client(), &pin);
    assert_eq!(outcome.outcome, OutcomeKind::Timeout, "{outcome:?}");
    assert_eq!(verifies_with_data(&trace), 0);
}

/// A server that accepts connections and hangs up on every one of them.
fn hanging_up() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut buffer = [0u8; 1024];
            let _ = std::io::Read::read(&mut &stream, &mut buffer);
            drop(stream);
        }
    });
    base
}

#[test]
fn a_dropped_connection_is_a_service_error() {
    let base = hanging_up();
    let outcome = visual_check(&ServiceClient::new(&base).unwrap(), 2_000);
    assert_eq!(outcome.outcome, OutcomeKind::ServiceError, "{outcome:?}");
}

#[test]
fn a_service_that_drops_mid_body_is_a_service_error() {
    let service = start();
    let mut endpoints = std::collections::BTreeMap::new();
    endpoints.insert(
        "confirmations".to_string(),
        http::Fault {
            drop_connection: true,
            ..http::Fault::default()
        },
    );
    service.state.faults.set(FaultSet {
        endpoints,
        ..FaultSet::default()
    });
    let person = service.person("valid");
    let (mut card, _) = card_of(&person);
    let outcome = check(&mut card, &service.client(), &inputs(Method::Visual, None));
    assert_eq!(outcome.outcome, OutcomeKind::ServiceError, "{outcome:?}");
}

#[test]
fn a_refused_connection_is_a_service_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = ServiceClient::new(&format!("http://127.0.0.1:{port}")).unwrap();
    let outcome = visual_check(&client, 2_000);
    assert_eq!(outcome.outcome, OutcomeKind::ServiceError, "{outcome:?}");
}
