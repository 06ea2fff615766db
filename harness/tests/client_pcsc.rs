//! The reference client through the real PC/SC stack: `kazasu card` on vpcd
//! slot 1, pcscd, and [`PcscChannel`](kazasu::client::pcsc::PcscChannel), against the mock service in process.
//!
//! Needs pcscd with Debian's vpcd (`bash .ci/setup`). Without them the test
//! says so and passes, unless `CI` is set. Slot 1 ("Virtual PCD 00 01") keeps
//! it out of the way of the OpenSC tests, which use slot 0.

mod support;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kazasu::client::flow::check;
use kazasu::client::pcsc::PcscChannel;
use kazasu::client::service::ServiceClient;
use kazasu::client::{CardChannel, CheckInputs, Method, OutcomeKind, default_facility};
use sim_service::clock::ServiceClock;
use sim_service::fixtures;
use sim_service::http::{self, AppState, ServiceConfig};
use sim_service::store::Store;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const VPCD: &str = "127.0.0.1:35964";
const READER: &str = "Virtual PCD 00 01";

#[test]
fn a_pin_check_through_pcscd() {
    if !support::pcscd_ready() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let clock = ServiceClock::frozen_at(
        OffsetDateTime::parse("2026-12-01T10:00:00+09:00", &Rfc3339).unwrap(),
    );
    let state =
        AppState::new(Store::in_memory().unwrap(), clock, ServiceConfig::default()).unwrap();
    let persons = fixtures::built_in().unwrap();
    state.install_fixtures(&persons).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(http::serve(
        listener,
        http::router(state),
        None,
        std::future::pending(),
    ));

    let person = fixtures::find(&persons, "valid").unwrap();
    let dir = std::env::temp_dir().join(format!("kazasu-client-pcsc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let profile = dir.join("valid.toml");
    std::fs::write(&profile, toml::to_string(&person.card.profile).unwrap()).unwrap();
    let trace = dir.join("trace.jsonl");
    let mut card = Command::new(env!("CARGO_BIN_EXE_kazasu"))
        .args(["card", "--vpcd", VPCD, "--profile"])
        .arg(&profile)
        .arg("--trace")
        .arg(&trace)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(card.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("inserted"), "kazasu card said {line:?}");

    let mut channel = PcscChannel::new(READER);
    let deadline = Instant::now() + Duration::from_secs(10);
    while channel.connect().is_err() {
        assert!(Instant::now() < deadline, "pcscd never saw the card");
        std::thread::sleep(Duration::from_millis(100));
    }
    channel.disconnect();

    let inputs = CheckInputs {
        method: Method::Pin,
        pin: Some(person.card.profile.pins.auth.value.clone()),
        consent_to_register: false,
        card_has_photo: true,
        facility: default_facility(),
        device: "pcsc-test".into(),
        timeout_ms: 5_000,
        card_timeout_ms: 5_000,
        character_code_identifier: Default::default(),
        reselect_before_sign: false,
    };
    let outcome = check(&mut channel, &ServiceClient::new(&base).unwrap(), &inputs);
    let _ = card.kill();
    let _ = card.wait();
    let lines = std::fs::read_to_string(&trace).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);

    assert_eq!(outcome.outcome, OutcomeKind::Confirmed, "{outcome:?}");
    assert_eq!(outcome.validity.as_deref(), Some("1"));
    let verifies = lines
        .lines()
        .filter(|l| l.contains("\"command\":\"0020008004"))
        .count();
    assert_eq!(verifies, 1, "{lines}");
}
