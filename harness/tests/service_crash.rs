//! No crash loses an acknowledged confirmation.
//!
//! A facility's result search (`GET /v1/history`) is where a clinic looks
//! when its front desk is unsure a confirmation went through; a confirmation
//! the service acknowledged and then forgot would be a lie told to a patient.
//! The store promises that every acknowledged write is committed to SQLite's
//! write-ahead log before the answer leaves, so a SIGKILL loses nothing that
//! was acknowledged. This test holds it to that through the real process:
//! `kazasu service` on a temporary database, a few clients confirming
//! concurrently (a PIN client driving the in-process card as a reader would,
//! visual clients with the certificate only), SIGKILL while requests are in
//! flight, then a restart on the same database and a look at the history;
//! several such cycles on one database (`KAZASU_CRASH_CYCLES`, default 3),
//! each restart checking every confirmation acknowledged in any cycle.
//!
//! Loopback only; every loop is bounded in requests and every wait has a
//! limit, so the test ends by itself even when the service misbehaves.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use sim_card::card::Card;
use sim_card::iso7816::{compute_digital_signature, read_binary, select_aid, select_ef, verify};
use sim_card::mynumber::{
    EF_AUTH_CERTIFICATE, EF_AUTH_KEY, EF_AUTH_PIN, JPKI_AID, sha256_digest_info,
};
use sim_card::personalize;
use sim_service::fixtures;

const FACILITY: &str = "0110000001";
/// The built-in fixtures are designed around this day: every person used
/// here has a qualification shown on it, so each confirmation is listed.
const CLOCK: &str = "2026-12-01T10:00:00+09:00";
/// Concurrent client threads: the PIN client and the visual ones.
const VISUAL_PERSONS: &[&str] = &["preschool", "elderly-recipient", "late-elderly"];
/// Acknowledged confirmations to see before the kill: enough that the
/// write-ahead log holds hundreds of transactions and a checkpoint has
/// likely run, so both the log and the main file are exercised.
const ACKED_BEFORE_KILL: usize = 400;
/// Upper bound on what one client sends, whatever happens.
const MAX_REQUESTS_PER_CLIENT: usize = 5_000;
/// Limits on waits. They are not measurements: they only keep a broken
/// service from hanging the test, so they are generous for debug builds on
/// a loaded two-core machine.
const STARTUP_LIMIT: Duration = Duration::from_secs(180);
const RUN_LIMIT: Duration = Duration::from_secs(300);
const REQUEST_LIMIT: Duration = Duration::from_secs(60);

/// A `kazasu service` process; killed on drop so a failing test leaves none
/// behind.
struct Service {
    child: Child,
    base: String,
}

impl Service {
    /// Starts the service on `db` and waits for its "listening on" line.
    /// Port 0 lets the kernel pick a free port; the line says which.
    fn start(db: &Path) -> Service {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kazasu"))
            .args(["service", "--listen", "127.0.0.1:0", "--clock", CLOCK])
            .arg("--db")
            .arg(db)
            .env_remove("KAZASU_ADMIN_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start kazasu service");
        let lines = forward_lines(child.stdout.take().expect("piped stdout"));
        let deadline = Instant::now() + STARTUP_LIMIT;
        let base = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.split("listening on ").nth(1) {
                        let url = rest.split_whitespace().next().unwrap_or_default();
                        break url.trim_end_matches('/').to_string();
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    let status = child.wait();
                    panic!("kazasu service never said it was listening ({e}); exit: {status:?}");
                }
            }
        };
        Service { child, base }
    }

    /// SIGKILL: no handler runs, no connection is closed politely, nothing
    /// is flushed that was not already.
    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL the service");
        self.child.wait().expect("reap the service");
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads the child's stdout on a thread, so that waiting for a line can
/// have a limit and the pipe never fills up.
fn forward_lines(stdout: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                // Nobody listens any more; keep draining so the child never
                // blocks on a full pipe.
                continue;
            }
        }
    });
    rx
}

/// A temporary directory removed on drop (when the test passed or failed).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let path = std::env::temp_dir().join(format!(
            "kazasu-service-crash-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).expect("create the temporary directory");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn http_client() -> Client {
    // No proxy: the service is on loopback, and a proxy from the
    // environment must never see (or swallow) this traffic.
    Client::builder()
        .no_proxy()
        .timeout(REQUEST_LIMIT)
        .build()
        .expect("HTTP client")
}

/// The in-process card of a fixture person, driven with APDUs as a reader
/// client drives a real one: what the service receives is exactly what a
/// card would have produced.
struct CardReader {
    card: Card,
}

impl CardReader {
    fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        let response = self.card.process(apdu);
        assert_eq!(
            response.sw.to_u16(),
            0x9000,
            "the card refused {}",
            hex::encode(apdu)
        );
        response.data
    }

    /// The user-authentication certificate (EF 000A), read the way OpenSC
    /// does: its DER header for the length, then the whole file.
    fn auth_certificate(&mut self) -> Vec<u8> {
        self.transmit(&select_aid(JPKI_AID));
        self.transmit(&select_ef(EF_AUTH_CERTIFICATE));
        let header = self.transmit(&read_binary(0, 4));
        let len = usize::from(u16::from_be_bytes([header[2], header[3]])) + 4;
        let mut der = Vec::with_capacity(len);
        while der.len() < len {
            let offset = u16::try_from(der.len()).expect("certificate under 32 KiB");
            let chunk = (len - der.len()).min(0xFF);
            der.extend(self.transmit(&read_binary(offset, chunk)));
        }
        der
    }

    /// VERIFY of the auth PIN, then COMPUTE DIGITAL SIGNATURE over the
    /// SHA-256 DigestInfo of the challenge: a confirmation by PIN.
    fn sign_challenge(&mut self, challenge: &[u8], pin: &str) -> Vec<u8> {
        self.transmit(&select_aid(JPKI_AID));
        self.transmit(&select_ef(EF_AUTH_PIN));
        self.transmit(&verify(pin));
        self.transmit(&select_ef(EF_AUTH_KEY));
        let digest_info = sha256_digest_info(&openssl::sha::sha256(challenge));
        self.transmit(&compute_digital_signature(&digest_info))
    }
}

/// How one client confirms: the person's certificate, and the card when the
/// method signs a challenge.
struct Patient {
    person: &'static str,
    certificate: String,
    reader: Option<CardReader>,
    pin: String,
}

fn patients() -> Vec<Patient> {
    let persons = fixtures::built_in().expect("built-in fixtures");
    let pki = personalize::simulated_jpki().expect("simulated JPKI");
    let find = |id: &str| {
        fixtures::find(&persons, id)
            .unwrap_or_else(|| panic!("no built-in person {id}"))
            .clone()
    };
    let valid = find("valid");
    let issued = personalize::issue(&valid.card.profile, &pki).expect("issue valid's card");
    let mut reader = CardReader { card: issued.card };
    let certificate = reader.auth_certificate();
    assert_eq!(
        certificate, issued.auth_certificate,
        "EF 000A holds the issued auth certificate"
    );
    let mut all = vec![Patient {
        person: "valid",
        certificate: BASE64.encode(&certificate),
        reader: Some(reader),
        pin: valid.card.profile.pins.auth.value.clone(),
    }];
    for id in VISUAL_PERSONS {
        let person = find(id);
        let der = personalize::auth_certificate(&person.card.profile, &pki)
            .unwrap_or_else(|e| panic!("{id}'s certificate: {e}"));
        all.push(Patient {
            person: id,
            certificate: BASE64.encode(der),
            reader: None,
            pin: String::new(),
        });
    }
    all
}

/// Why a confirmation did not come back acknowledged.
#[derive(Debug)]
enum Failure {
    /// No HTTP answer: refused, reset or cut (what a killed service gives).
    Transport(String),
    /// An HTTP answer that is not an acknowledgment: the service is wrong.
    Refused { status: u16, body: String },
}

impl From<reqwest::Error> for Failure {
    fn from(e: reqwest::Error) -> Self {
        Failure::Transport(e.to_string())
    }
}

/// An acknowledged confirmation: its id from the header, and the outcome
/// body when it could be read whole (a kill may cut the body after the
/// headers; the header alone already acknowledges the confirmation).
struct Acked {
    id: i64,
    outcome: Option<Value>,
}

fn refused(response: reqwest::blocking::Response) -> Failure {
    let status = response.status().as_u16();
    let body = response.text().unwrap_or_default();
    Failure::Refused { status, body }
}

fn confirm(client: &Client, base: &str, patient: &mut Patient) -> Result<Acked, Failure> {
    let mut body = json!({
        "medical_institution_code": FACILITY,
        "device": format!("crash-test-{}", patient.person),
        "method": if patient.reader.is_some() { "pin" } else { "visual" },
        "certificate": patient.certificate,
    });
    if let Some(reader) = patient.reader.as_mut() {
        let response = client.post(format!("{base}/v1/challenges")).send()?;
        if !response.status().is_success() {
            return Err(refused(response));
        }
        let issued: Value = response.json()?;
        let challenge = issued["challenge"]
            .as_str()
            .and_then(|c| BASE64.decode(c).ok())
            .ok_or_else(|| Failure::Refused {
                status: 201,
                body: issued.to_string(),
            })?;
        let signature = reader.sign_challenge(&challenge, &patient.pin);
        body["challenge_id"] = issued["challenge_id"].clone();
        body["signature"] = Value::String(BASE64.encode(signature));
    }
    let response = client
        .post(format!("{base}/v1/confirmations"))
        .json(&body)
        .send()?;
    if response.status().as_u16() != 200 {
        return Err(refused(response));
    }
    let id = response
        .headers()
        .get("x-kazasu-confirmation-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let Some(id) = id else {
        return Err(Failure::Refused {
            status: 200,
            body: "no x-kazasu-confirmation-id header".into(),
        });
    };
    Ok(Acked {
        id,
        outcome: response.json::<Value>().ok(),
    })
}

/// What the clients share with the test's main thread.
#[derive(Default)]
struct Shared {
    acked: Mutex<Vec<Acked>>,
    acked_count: AtomicUsize,
    in_flight: AtomicUsize,
    stop: AtomicBool,
}

/// How a client's loop ended.
enum Ending {
    /// The service went away under it: expected after the kill.
    Transport(String),
    /// The service answered something other than an acknowledgment.
    Refused { status: u16, body: String },
    /// It sent its share without the service going away.
    Exhausted,
    /// The test asked it to stop.
    Stopped,
}

impl Ending {
    fn describe(&self) -> String {
        match self {
            Ending::Transport(e) => format!("cut off ({e})"),
            Ending::Refused { status, body } => format!("refused with {status}: {body}"),
            Ending::Exhausted => "sent its share".into(),
            Ending::Stopped => "stopped".into(),
        }
    }
}

fn run_client(base: String, mut patient: Patient, shared: Arc<Shared>) -> Ending {
    let client = http_client();
    for _ in 0..MAX_REQUESTS_PER_CLIENT {
        if shared.stop.load(Ordering::SeqCst) {
            return Ending::Stopped;
        }
        shared.in_flight.fetch_add(1, Ordering::SeqCst);
        let result = confirm(&client, &base, &mut patient);
        shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        match result {
            Ok(acked) => {
                shared.acked.lock().unwrap().push(acked);
                shared.acked_count.fetch_add(1, Ordering::SeqCst);
            }
            Err(Failure::Transport(e)) => return Ending::Transport(e),
            Err(Failure::Refused { status, body }) => return Ending::Refused { status, body },
        }
    }
    Ending::Exhausted
}

fn history(client: &Client, base: &str) -> Vec<Value> {
    let response = client
        .get(format!("{base}/v1/history"))
        .query(&[("medical_institution_code", FACILITY)])
        .send()
        .expect("GET /v1/history after the restart");
    assert_eq!(response.status().as_u16(), 200, "history answers 200");
    let view: Value = response
        .json()
        .expect("the history is JSON after the restart");
    view["confirmations"]
        .as_array()
        .expect("history has a confirmations array")
        .clone()
}

/// SQLite's own check of every page and index of the database file (with
/// the write-ahead log the restarted service recovered).
fn integrity_check(db: &Path) -> (String, i64) {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the database read-only");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    let count: i64 = conn
        .query_row("SELECT COUNT(*) FROM confirmations", [], |r| r.get(0))
        .expect("count confirmations");
    (check, count)
}

/// What one kill cycle saw.
struct Cycle {
    acked: Vec<Acked>,
    in_flight_at_kill: usize,
}

/// Runs the clients against `service` until `target` more confirmations
/// are acknowledged, kills the service while a request is in flight, and
/// returns what the clients were told.
fn confirm_then_kill(service: &mut Service, target: usize) -> Cycle {
    let shared = Arc::new(Shared::default());
    let clients: Vec<_> = patients()
        .into_iter()
        .map(|patient| {
            let base = service.base.clone();
            let shared = shared.clone();
            std::thread::spawn(move || run_client(base, patient, shared))
        })
        .collect();

    // Wait for enough acknowledgments, then for a moment when at least one
    // request is in flight, and kill the service right then.
    let deadline = Instant::now() + RUN_LIMIT;
    while shared.acked_count.load(Ordering::SeqCst) < target {
        let all_ended = clients.iter().all(|c| c.is_finished());
        if all_ended || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    while shared.in_flight.load(Ordering::SeqCst) == 0
        && Instant::now() < deadline
        && !clients.iter().all(|c| c.is_finished())
    {
        std::hint::spin_loop();
    }
    let in_flight_at_kill = shared.in_flight.load(Ordering::SeqCst);
    service.kill();
    shared.stop.store(true, Ordering::SeqCst);
    let endings: Vec<Ending> = clients
        .into_iter()
        .map(|c| c.join().expect("client thread"))
        .collect();

    let acked = std::mem::take(&mut *shared.acked.lock().unwrap());
    let endings_text: Vec<String> = endings.iter().map(Ending::describe).collect();
    eprintln!(
        "{} confirmations acknowledged before SIGKILL, {in_flight_at_kill} in flight at the kill; clients: {endings_text:?}",
        acked.len()
    );
    for ending in &endings {
        assert!(
            !matches!(ending, Ending::Refused { .. }),
            "the service refused a confirmation before it was killed: {}",
            ending.describe()
        );
    }
    assert!(
        acked.len() >= target,
        "only {} confirmations acknowledged before the run limit",
        acked.len()
    );
    assert!(
        in_flight_at_kill > 0,
        "the kill must land while requests are in flight"
    );
    assert!(
        endings.iter().any(|e| matches!(e, Ending::Transport(_))),
        "a client must have been cut off by the kill: {endings_text:?}"
    );
    Cycle {
        acked,
        in_flight_at_kill,
    }
}

/// Checks that the restarted service's history holds every confirmation
/// acknowledged in any cycle so far, exactly as its client received it;
/// returns how many outcomes were compared.
fn every_acknowledged_is_listed(client: &Client, base: &str, acked: &[Acked]) -> usize {
    let listed = history(client, base);
    let mut by_id: HashMap<i64, &Value> = HashMap::new();
    for entry in &listed {
        let id = entry["confirmation_id"]
            .as_i64()
            .unwrap_or_else(|| panic!("a history entry without an id: {entry}"));
        assert!(
            entry["outcome"]["MessageHeader"].is_object()
                && entry["outcome"]["MessageBody"]["QualificationValidity"].is_string(),
            "a history entry that is not a whole outcome: {entry}"
        );
        assert!(
            by_id.insert(id, &entry["outcome"]).is_none(),
            "confirmation {id} listed twice"
        );
    }
    let missing: Vec<i64> = acked
        .iter()
        .map(|a| a.id)
        .filter(|id| !by_id.contains_key(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged confirmations are missing after the crash: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(20)]
    );
    let mut compared = 0;
    for a in acked {
        if let Some(outcome) = &a.outcome {
            assert_eq!(
                by_id[&a.id], outcome,
                "confirmation {} is kept as the client received it",
                a.id
            );
            compared += 1;
        }
    }
    compared
}

/// `KAZASU_CRASH_CYCLES` kill/restart cycles (default 3) on one database;
/// after every restart, every confirmation acknowledged in any cycle before
/// is checked.
#[test]
fn sigkill_loses_no_acknowledged_confirmation() {
    let cycles: usize = std::env::var("KAZASU_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let dir = TempDir::new();
    let db = dir.0.join("service.db");
    let client = http_client();

    let mut service = Service::start(&db);
    let mut acked: Vec<Acked> = Vec::new();
    let mut in_flight_at_kills = 0;
    let mut compared = 0;
    for cycle in 1..=cycles {
        let Cycle {
            acked: new,
            in_flight_at_kill,
        } = confirm_then_kill(&mut service, ACKED_BEFORE_KILL);
        in_flight_at_kills += in_flight_at_kill;
        acked.extend(new);
        let ids: HashSet<i64> = acked.iter().map(|a| a.id).collect();
        assert_eq!(
            ids.len(),
            acked.len(),
            "each acknowledgment names its own confirmation, across restarts"
        );
        // Restart on the same database: the history must hold every
        // acknowledged confirmation, exactly as the client was told.
        service = Service::start(&db);
        compared = every_acknowledged_is_listed(&client, &service.base, &acked);
        eprintln!(
            "crash cycle {cycle}/{cycles}: all {} acknowledged confirmations present after the restart, {compared} outcomes equal to what the client received",
            acked.len()
        );
    }

    // The restarted service goes on: a new confirmation gets an id no
    // acknowledged one had (ids are never reused, even after a crash) and
    // is listed too.
    let mut again = self::patients()
        .into_iter()
        .find(|p| p.reader.is_some())
        .expect("the PIN patient");
    let fresh = confirm(&client, &service.base, &mut again).expect("a confirmation after restart");
    let highest = acked.iter().map(|a| a.id).max().unwrap_or_default();
    assert!(
        fresh.id > highest,
        "id {} reused after the crash (highest acknowledged {highest})",
        fresh.id
    );
    assert!(
        history(&client, &service.base)
            .iter()
            .any(|e| e["confirmation_id"].as_i64() == Some(fresh.id)),
        "the confirmation after the restart is listed"
    );

    let (check, count) = integrity_check(&db);
    assert_eq!(check, "ok", "SQLite integrity_check after the crashes");
    assert!(
        count >= i64::try_from(acked.len()).unwrap_or(i64::MAX),
        "the table holds at least the acknowledged confirmations"
    );
    drop(service);
    // Written to the process's stderr directly, which the test harness
    // does not capture: CI's log shows how much was checked.
    writeln!(
        std::io::stderr(),
        "service crash: {cycles} SIGKILL/restart cycles, {} acknowledged confirmations all kept ({compared} outcomes compared, {in_flight_at_kills} requests in flight at the kills)",
        acked.len()
    )
    .unwrap();
}
