//! `kazasu up`: the lab's control API, through the real process.
//!
//! The lab runs on free ports (`127.0.0.1:0`, read back from the banner). The
//! control API tests need no pcscd: the card's vpcd link points at a port
//! nobody listens on and keeps retrying, which the control API does not care
//! about. One test puts the card into pcscd through vpcd slot 1 (never slot
//! 0, which a developer's own lab uses), only where pcscd runs and the slot
//! is free, or always in CI.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{Value, json};

/// Limits on waits, generous for debug builds on a loaded machine.
const STARTUP_LIMIT: Duration = Duration::from_secs(120);
const REQUEST_LIMIT: Duration = Duration::from_secs(60);

/// A `kazasu up` process; interrupted (then killed) on drop so a failing
/// test leaves none behind.
struct Lab {
    child: Child,
    control: String,
    service: String,
    lines: mpsc::Receiver<String>,
}

impl Lab {
    fn start(vpcd: &str) -> Lab {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kazasu"))
            .args([
                "up",
                "--service-listen",
                "127.0.0.1:0",
                "--control-listen",
                "127.0.0.1:0",
                "--vpcd",
                vpcd,
                "--clock",
                "2026-12-01T10:00:00+09:00",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kazasu up starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lab = Lab {
            child,
            control: String::new(),
            service: String::new(),
            lines,
        };
        let deadline = Instant::now() + STARTUP_LIMIT;
        while lab.control.is_empty() || lab.service.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lab
                .lines
                .recv_timeout(left)
                .expect("the banner within the startup limit");
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some("service"), Some(url)) => lab.service = url.to_string(),
                (Some("control"), Some(url)) => {
                    lab.control = url.trim_end_matches("/lab").to_string()
                }
                _ => {}
            }
        }
        lab
    }

    /// `kazasu up` with its stdout closed before it prints anything (a
    /// reader that went away), on ports chosen here; nothing is read.
    fn start_unread(vpcd: &str) -> Lab {
        let (service, control) = (unused_port(), unused_port());
        let mut child = Command::new(env!("CARGO_BIN_EXE_kazasu"))
            .args(["up", "--service-listen", &service])
            .args(["--control-listen", &control, "--vpcd", vpcd])
            .args(["--clock", "2026-12-01T10:00:00+09:00"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kazasu up starts");
        drop(child.stdout.take());
        Lab {
            child,
            control: format!("http://{control}"),
            service: format!("http://{service}"),
            lines: mpsc::channel().1,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.control)
    }

    /// Sends SIGINT, as Ctrl-C does, and waits for a clean exit.
    fn interrupt(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-INT", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -INT {pid}");
        let deadline = Instant::now() + REQUEST_LIMIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the lab did not stop on SIGINT");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> Client {
    Client::builder()
        .timeout(REQUEST_LIMIT)
        .build()
        .expect("a client")
}

/// A loopback port nobody listens on: bound, then let go.
fn unused_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    addr.to_string()
}

fn get_lab(lab: &Lab) -> Value {
    let response = client().get(lab.url("/lab")).send().expect("GET /lab");
    assert!(response.status().is_success(), "{}", response.status());
    response.json().expect("JSON")
}

fn put(lab: &Lab, path: &str, body: Value) -> (u16, Value) {
    let response = client()
        .put(lab.url(path))
        .json(&body)
        .send()
        .unwrap_or_else(|e| panic!("PUT {path}: {e}"));
    let status = response.status().as_u16();
    (status, response.json().expect("JSON"))
}

#[test]
fn control_api_locks_pins_swaps_persons_and_reaches_the_service() {
    let lab = Lab::start(&unused_port());
    let state = get_lab(&lab);
    assert_eq!(state["person"], "valid");
    assert_eq!(state["inserted"], true);
    assert_eq!(state["pins"]["auth"], 3);
    assert_eq!(state["service"], lab.service.as_str());
    assert_eq!(state["clock"]["mode"], "frozen");

    // Lock the auth PIN: what the app must then show is the lock guidance.
    let (status, body) = put(
        &lab,
        "/lab/card/pin",
        json!({"pin": "auth", "tries_left": 0}),
    );
    assert_eq!(status, 200, "{body}");
    let state = get_lab(&lab);
    assert_eq!(state["pins"]["auth"], 0);
    assert_eq!(state["pins"]["sign"], 5, "only the auth PIN changes");

    // Unlock it again: tries above the maximum are the maximum.
    let (status, body) = put(
        &lab,
        "/lab/card/pin",
        json!({"pin": "auth", "tries_left": 9}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pins"]["auth"], 3);

    // Another person's card, freshly issued: their PINs are untouched.
    put(
        &lab,
        "/lab/card/pin",
        json!({"pin": "auth", "tries_left": 0}),
    );
    let (status, body) = put(&lab, "/lab/card", json!({"person": "preschool"}));
    assert_eq!(status, 200, "{body}");
    let state = get_lab(&lab);
    assert_eq!(state["person"], "preschool");
    assert_eq!(state["inserted"], true);
    assert_eq!(state["pins"]["auth"], 3);

    // Bad input is an error answer, never a crash.
    let (status, body) = put(&lab, "/lab/card", json!({"person": "nobody"}));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_person"))
    );
    let (status, body) = put(
        &lab,
        "/lab/card/pin",
        json!({"pin": "puk", "tries_left": 0}),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("unknown_pin"))
    );
    let (status, _) = put(
        &lab,
        "/lab/card/pin",
        json!({"pin": "auth", "tries_left": -1}),
    );
    assert_eq!(status, 422);
    assert_eq!(get_lab(&lab)["person"], "preschool");

    // A phone in the reader: the card on a person's iPhone, Face ID on it.
    let (status, body) = put(
        &lab,
        "/lab/card",
        json!({"person": "iphone", "phone": "iphone"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["phone"].as_str(), body["variant"].as_str()),
        (Some("iphone"), Some("iphone"))
    );
    let face_id = |body: Value| {
        client()
            .post(lab.url("/lab/card/face-id"))
            .json(&body)
            .send()
            .expect("face-id")
            .status()
            .as_u16()
    };
    assert_eq!(face_id(json!({})), 200);
    let (status, body) = put(
        &lab,
        "/lab/card",
        json!({"person": "iphone", "phone": "nope"}),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_phone"))
    );
    let (status, body) = put(&lab, "/lab/card", json!({"person": "preschool"}));
    assert_eq!(
        (status, body["variant"].as_str()),
        (200, Some("physical-contact"))
    );
    assert_eq!(face_id(json!({"seconds_ago": 5})), 422, "not an iPhone");

    // Remove and insert.
    let removed: Value = client()
        .post(lab.url("/lab/card/remove"))
        .header("content-type", "application/json")
        .send()
        .and_then(|r| r.json())
        .expect("remove");
    assert_eq!(removed["inserted"], false);
    // Another card handed over while the reader is empty waits in the
    // tester's hand: the reader stays empty until the insert.
    let swapped: Value = client()
        .put(lab.url("/lab/card"))
        .json(&json!({"person": "preschool"}))
        .send()
        .and_then(|r| r.json())
        .expect("swap");
    assert_eq!(
        (&swapped["person"], &swapped["inserted"]),
        (&json!("preschool"), &json!(false))
    );
    let inserted: Value = client()
        .post(lab.url("/lab/card/insert"))
        .header("content-type", "application/json")
        .send()
        .and_then(|r| r.json())
        .expect("insert");
    assert_eq!(
        (&inserted["person"], &inserted["inserted"]),
        (&json!("preschool"), &json!(true))
    );

    // The service's own admin API moves the clock and sets faults; the lab shows both.
    let clock = client()
        .put(format!("{}/admin/v1/clock", lab.service))
        .json(&json!({"now": "2027-02-01T09:00:00+09:00"}))
        .send()
        .expect("PUT clock");
    assert!(clock.status().is_success());
    let faults = client()
        .put(format!("{}/admin/v1/faults", lab.service))
        .json(&json!({"endpoints": {"confirmations": {"status": 503}}}))
        .send()
        .expect("PUT faults");
    assert!(faults.status().is_success());
    let state = get_lab(&lab);
    assert_eq!(state["clock"]["now_jst"], "2027-02-01T09:00:00+09:00");
    assert_eq!(state["faults"]["endpoints"]["confirmations"]["status"], 503);

    // And the lab's shortcuts do the same.
    let (status, body) = put(
        &lab,
        "/lab/clock",
        json!({"now": "2026-12-01T10:00:00+09:00"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["clock"]["now_jst"], "2026-12-01T10:00:00+09:00");
    let (status, body) = put(&lab, "/lab/faults", json!({"maintenance": true}));
    assert_eq!(status, 200, "{body}");
    let challenge = client()
        .post(format!("{}/v1/challenges", lab.service))
        .json(&json!({}))
        .send()
        .expect("POST challenge");
    assert_eq!(challenge.status().as_u16(), 503, "maintenance is on");
    let (status, _) = put(&lab, "/lab/faults", json!({"endpoints": {"nowhere": {}}}));
    assert_eq!(status, 422);

    assert!(lab.interrupt().success(), "Ctrl-C ends the lab cleanly");
}

/// Whether pcscd with vpcd listens on slot 1; outside CI, a missing pcscd
/// skips the test (`bash .ci/setup` starts it), in CI it fails it.
/// What a page on another origin sends: a foreign `Origin`, a rebinding
/// `Host`, or a form post (no JSON type). Nothing of the lab changes or is
/// read; the same request from a program works.
#[test]
fn pages_of_other_origins_neither_change_nor_read_the_lab() {
    let lab = Lab::start(&format!("127.0.0.1:{}", unused_port()));
    let port = lab.control.rsplit(':').next().unwrap().to_string();
    let service_port = lab.service.rsplit(':').next().unwrap().to_string();
    let foreign = |request: reqwest::blocking::RequestBuilder| {
        let r = request.send().expect("an answer");
        let status = r.status().as_u16();
        let body: Value = r.json().expect("the error shape");
        (
            status,
            body["error"]["code"].as_str().unwrap_or("").to_string(),
        )
    };
    let evil_host = format!("evil.example:{port}");
    // A rebinding page reads nothing and changes nothing.
    assert_eq!(
        foreign(client().get(lab.url("/lab")).header("host", &evil_host)),
        (403, "host_not_allowed".into())
    );
    assert_eq!(
        foreign(
            client()
                .post(lab.url("/lab/card/remove"))
                .header("host", &evil_host)
                .header("content-type", "application/json")
        ),
        (403, "host_not_allowed".into())
    );
    // A page of another origin: refused by its Origin, or by its form type.
    assert_eq!(
        foreign(
            client()
                .post(lab.url("/lab/card/remove"))
                .header("origin", "https://evil.example")
                .header("content-type", "application/json")
        ),
        (403, "cross_origin_refused".into())
    );
    assert_eq!(
        foreign(
            client()
                .post(lab.url("/lab/card/remove"))
                .header("content-type", "application/x-www-form-urlencoded")
        ),
        (415, "content_type_required".into())
    );
    assert_eq!(
        foreign(client().post(lab.url("/lab/card/remove"))),
        (415, "content_type_required".into())
    );
    assert_eq!(get_lab(&lab)["inserted"], true, "the card is still in");
    // The lab's service: its admin API and the client API refuse the rebinding name too.
    let evil_service = format!("evil.example:{service_port}");
    for path in ["/admin/v1/fixtures", "/v1/challenges"] {
        assert_eq!(
            foreign(
                client()
                    .get(format!("{}{path}", lab.service))
                    .header("host", &evil_service)
            ),
            (403, "host_not_allowed".into()),
            "{path}"
        );
    }
    assert_eq!(
        foreign(
            client()
                .post(format!("{}/admin/v1/reset", lab.service))
                .header("content-type", "text/plain")
        ),
        (415, "content_type_required".into())
    );
    // The same from a program (no Origin, loopback Host, JSON) works.
    let removed: Value = client()
        .post(lab.url("/lab/card/remove"))
        .header("content-type", "application/json")
        .send()
        .and_then(|r| r.json())
        .expect("remove");
    assert_eq!(removed["inserted"], false);
}

const SLOT1_ADDR: &str = "127.0.0.1:35964";
const SLOT1_READER: &str = "Virtual PCD 00 01";

/// The ATR pcscd reports for the slot-1 reader, if a card is in it.
fn atr_in_slot1(ctx: &pcsc::Context) -> Option<Vec<u8>> {
    let reader = std::ffi::CString::new(SLOT1_READER).ok()?;
    let mut states = [pcsc::ReaderState::new(reader, pcsc::State::UNAWARE)];
    ctx.get_status_change(Duration::from_millis(0), &mut states)
        .ok()?;
    let state = &states[0];
    state
        .event_state()
        .contains(pcsc::State::PRESENT)
        .then(|| state.atr().to_vec())
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A visual confirmation of the fixture person's physical card; the id of
/// its history entry.
fn confirm_visually(lab: &Lab, person: &str) -> i64 {
    use base64::Engine;
    let persons = sim_service::fixtures::built_in().expect("built-in fixtures");
    let person = sim_service::fixtures::find(&persons, person).expect("a fixture person");
    let pki = sim_card::personalize::simulated_jpki().expect("the simulated JPKI");
    let certificate = sim_card::personalize::auth_certificate(&person.card.profile, &pki)
        .expect("the person's certificate");
    let response = client()
        .post(format!("{}/v1/confirmations", lab.service))
        .json(&json!({
            "medical_institution_code": "0110000001",
            "method": "visual",
            "certificate": base64::engine::general_purpose::STANDARD.encode(certificate),
        }))
        .send()
        .expect("a confirmation");
    assert!(response.status().is_success(), "{}", response.status());
    response.headers()["x-kazasu-confirmation-id"]
        .to_str()
        .expect("an id")
        .parse()
        .expect("a number")
}

#[test]
fn pcscd_sees_the_card_and_a_new_card_after_a_swap() {
    if !support::pcscd_ready() {
        return;
    }
    let ctx = pcsc::Context::establish(pcsc::Scope::User).expect("pcscd answers");
    if atr_in_slot1(&ctx).is_some() {
        assert!(
            std::env::var_os("CI").is_none(),
            "vpcd slot 1 is busy in CI"
        );
        eprintln!("skipped: a card is already in {SLOT1_READER}");
        return;
    }
    let lab = Lab::start(SLOT1_ADDR);
    wait_until("pcscd sees the card", || atr_in_slot1(&ctx).is_some());
    assert_eq!(get_lab(&lab)["link"], "in the reader");
    let reader = std::ffi::CString::new(SLOT1_READER).expect("a reader name");
    let old_card = ctx
        .connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        .expect("connect to the first card");

    let (status, body) = put(&lab, "/lab/card", json!({"person": "preschool"}));
    assert_eq!(status, 200, "{body}");
    // A new card: a handle on the old one is told the card went away, and
    // the reader holds a card again.
    let select_mf = [0x00, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00];
    let mut buffer = [0u8; 258];
    wait_until("the old card's handle sees it gone", || {
        matches!(
            old_card.transmit(&select_mf, &mut buffer),
            Err(pcsc::Error::RemovedCard | pcsc::Error::ResetCard | pcsc::Error::NoSmartcard)
        )
    });
    wait_until("a new card is in the reader", || {
        ctx.connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
            .is_ok()
    });
    wait_until("the lab reports the card in the reader", || {
        get_lab(&lab)["link"] == "in the reader"
    });
    assert_eq!(get_lab(&lab)["person"], "preschool");
    drop(old_card);

    // The card's APDUs since the last confirmation become the next
    // confirmation's APDU trace.
    let card = ctx
        .connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        .expect("connect to the new card");
    let answer = card.transmit(&select_mf, &mut buffer).expect("SELECT MF");
    assert_eq!(answer.len(), 2, "a status word");
    drop(card);
    let id = confirm_visually(&lab, "preschool");
    let trace: Value = client()
        .get(format!("{}/admin/v1/confirmations/{id}/trace", lab.service))
        .send()
        .expect("the trace")
        .json()
        .expect("JSON");
    let commands: Vec<&str> = trace["apdu"]
        .as_array()
        .unwrap_or_else(|| panic!("an APDU trace: {trace}"))
        .iter()
        .filter_map(|r| r["command"].as_str())
        .collect();
    assert!(
        commands
            .iter()
            .any(|c| c.eq_ignore_ascii_case("00A40000023F00")),
        "{commands:?}"
    );
    assert_eq!(trace["http"]["request"]["body"]["method"], "visual");

    let removed = client()
        .post(lab.url("/lab/card/remove"))
        .header("content-type", "application/json")
        .send()
        .expect("remove");
    assert!(removed.status().is_success());
    wait_until("the reader is empty", || atr_in_slot1(&ctx).is_none());
    drop(lab);
}

/// A reader that goes away is no reason to stop: the lab started with its
/// stdout already closed (the banner and every status line meet a broken
/// pipe) serves its control API, and stops cleanly on Ctrl-C.
#[test]
fn the_lab_goes_on_when_its_stdout_is_closed() {
    let mut lab = Lab::start_unread(&unused_port());
    let deadline = Instant::now() + STARTUP_LIMIT;
    let answers = |lab: &Lab| {
        client()
            .get(lab.url("/lab"))
            .send()
            .is_ok_and(|r| r.status().is_success())
    };
    while !answers(&lab) {
        if let Some(status) = lab.child.try_wait().expect("try_wait") {
            panic!("kazasu up ended ({status}) on its closed stdout");
        }
        assert!(Instant::now() < deadline, "kazasu up never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(get_lab(&lab)["person"], "valid");
    let status = lab.interrupt();
    assert!(status.success(), "kazasu up stopped with {status}");
}
