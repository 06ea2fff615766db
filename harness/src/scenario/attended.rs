//! Attended runs (`kazasu run --attended`): the client under test is an
//! application with a screen (most clinic software is a Windows GUI), driven
//! by a tester at the counter instead of an adapter.
//!
//! For each scenario the runner sets up the service and puts the card into
//! the reader as usual; the [`AttendedClient`] then tells the tester what the
//! staff and the patient do ("the patient types the PIN 1234": the tester is
//! the one typing, so the terminal shows it; no report does), waits for
//! Enter, and asks yes or no only about what nothing but the screen shows:
//! the outcome, the result's fields, banners, tries left. Everything the
//! runner can see itself — the APDU trace and its conformance rules, the
//! card's PIN state, the service's history — it judges itself, as in any run.
//!
//! The application talks to one fixed address (`--attended-service`, its
//! service URL is set once), while every scenario has a service of its own:
//! a [`ServiceRelay`] forwards each connection to the current scenario's.
//!
//! The tester's answers come from any line source: the terminal, a pipe or a
//! file (`--answers`), so that attended runs are tested without a person.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use super::contract::{ClientRun, ClientUnderTest, Reader, RunSetup, Transport};
use super::format::{Expectations, Scenario};
use super::load::LoadedScenario;
use super::report::{Check, ScenarioReport};
use super::shown::Shown;
use crate::client::{Method, OutcomeKind};

/// The client's "outcome" in an attended run: there is none to read, the
/// tester's answers stand for it.
const NO_OUTCOME: &str = "attended: the tester judged the screen";

/// Where the tester reads and answers.
pub struct Tester {
    input: Mutex<Box<dyn BufRead + Send>>,
    output: Mutex<Box<dyn Write + Send>>,
}

impl Tester {
    pub fn new(input: Box<dyn BufRead + Send>, output: Box<dyn Write + Send>) -> Self {
        Tester {
            input: Mutex::new(input),
            output: Mutex::new(output),
        }
    }

    fn say(&self, text: &str) {
        let mut out = self.output.lock().unwrap_or_else(PoisonError::into_inner);
        // The terminal gone is the run's end anyway; nothing to report to.
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// One line of input; `None` when the input ended.
    fn line(&self) -> Option<String> {
        let mut line = String::new();
        let mut input = self.input.lock().unwrap_or_else(PoisonError::into_inner);
        match input.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim().to_string()),
        }
    }

    /// Asks until the answer is yes or no; `None` when the input ended.
    fn yes_no(&self, question: &str) -> Option<bool> {
        loop {
            self.say(&format!("  ? {question} [y/n]\n"));
            match self.line()?.to_lowercase().as_str() {
                "y" | "yes" => return Some(true),
                "n" | "no" => return Some(false),
                _ => self.say("    (answer y or n)\n"),
            }
        }
    }
}

/// Forwards every TCP connection on a fixed address to the current
/// scenario's service, so that an application configured once reaches each.
pub struct ServiceRelay {
    address: SocketAddr,
    target: Arc<Mutex<Option<String>>>,
    /// Owns the relay's task; dropping it stops the relay.
    _runtime: tokio::runtime::Runtime,
}

impl ServiceRelay {
    /// Listens on `listen` (`127.0.0.1:8787`; port 0 picks one).
    pub fn start(listen: &str) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("kazasu-attended-relay")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the service relay: {e}"))?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(listen))
            .map_err(|e| format!("cannot listen on {listen} for the application: {e}"))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        let target: Arc<Mutex<Option<String>>> = Arc::default();
        let current = target.clone();
        runtime.spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let to = current
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                // Between scenarios nothing listens: the connection closes,
                // as a service that is down would.
                let Some(to) = to else { continue };
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Ok(ServiceRelay {
            address,
            target,
            _runtime: runtime,
        })
    }

    /// The URL the application is configured with.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Forwards from now on to the service at `service_url`
    /// (`http://127.0.0.1:40123`); `None` forwards nowhere.
    fn point_at(&self, service_url: Option<&str>) {
        let to = service_url.map(|url| {
            url.trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string()
        });
        *self.target.lock().unwrap_or_else(PoisonError::into_inner) = to;
    }
}

/// The application under test, with a tester at its screen.
pub struct AttendedClient {
    scenarios: HashMap<String, Scenario>,
    tester: Tester,
    relay: ServiceRelay,
    /// The tester's answers, by scenario id, as checks.
    answers: Mutex<HashMap<String, Vec<Check>>>,
    done: Mutex<usize>,
}

impl AttendedClient {
    /// For the scenarios about to run (stories are not attended: see
    /// [`attendable`]).
    pub fn new(scenarios: &[LoadedScenario], tester: Tester, relay: ServiceRelay) -> Self {
        AttendedClient {
            scenarios: scenarios
                .iter()
                .map(|s| (s.id.clone(), s.scenario.clone()))
                .collect(),
            tester,
            relay,
            answers: Mutex::default(),
            done: Mutex::new(0),
        }
    }

    /// Tells the tester where the application must look, once.
    pub fn greet(&self, reader: &str) {
        self.tester.say(&format!(
            "attended run: {} scenario(s). Point the application at\n  service URL: {}\n  \
             reader:      {reader}\n\
             For each scenario: do at the counter what it says, press Enter when the \
             screen shows the result, then answer what the screen shows.\n",
            self.scenarios.len(),
            self.relay.url(),
        ));
    }

    /// `report` judged as the tester saw it: the checks only the screen
    /// could answer (and the runner's "no outcome") replaced by the
    /// tester's answers; the runner's own checks kept, but for the device
    /// name: an application's device name is set once in its settings, not
    /// per scenario, so an attended run does not hold it to each
    /// scenario's.
    pub fn judged(&self, report: &ScenarioReport) -> ScenarioReport {
        let mut report = report.clone();
        let answers = self
            .answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&report.id)
            .cloned();
        if let Some(answers) = answers {
            report
                .checks
                .retain(|c| !on_screen(&c.expectation) && c.expectation != "device");
            report.checks.extend(answers);
            if report.client_error.as_deref() == Some(NO_OUTCOME) {
                report.client_error = None;
            }
            report.settle();
        }
        report
    }
}

/// Whether a check is about what the screen showed: the runner cannot see
/// it in an attended run, the tester answers for it.
fn on_screen(expectation: &str) -> bool {
    matches!(
        expectation,
        "client"
            | "outcome"
            | "validity"
            | "processing_result_code"
            | "banner"
            | "tries_left"
            | "result_count"
    ) || ["fields.", "results", "absent."]
        .iter()
        .any(|prefix| expectation.starts_with(prefix))
}

/// Scenarios a tester can play: one check each (a story's steps move the
/// clock and swap cards between holds, which an attended run does not do).
pub fn attendable(scenarios: Vec<LoadedScenario>) -> (Vec<LoadedScenario>, usize) {
    let (stories, single): (Vec<_>, Vec<_>) = scenarios
        .into_iter()
        .partition(|s| !s.scenario.steps.is_empty());
    (single, stories.len())
}

impl ClientUnderTest for AttendedClient {
    fn identity(&self) -> String {
        "attended: an application judged by a tester at its screen".into()
    }

    fn supports(&self, transport: Transport) -> Result<(), String> {
        match transport {
            Transport::Pcsc => Ok(()),
            Transport::InProcess => {
                Err("--attended puts the card into a PC/SC reader: use --transport pcsc".into())
            }
        }
    }

    fn run(&self, setup: RunSetup<'_>) -> ClientRun {
        let Some(scenario) = self.scenarios.get(setup.id) else {
            return ClientRun::of(Err(format!("no scenario {} to attend", setup.id)));
        };
        let reader = match &setup.reader {
            Reader::Pcsc { name } => name.clone(),
            Reader::InProcess(_) => {
                return ClientRun::of(Err(self.supports(Transport::InProcess).unwrap_err()));
            }
        };
        let number = {
            let mut done = self.done.lock().unwrap_or_else(PoisonError::into_inner);
            *done += 1;
            *done
        };
        let unreachable = scenario.service.unreachable;
        self.relay
            .point_at((!unreachable).then_some(setup.service_url));
        self.tester.say(&format!(
            "\n── {number}/{}: {} — {}\n",
            self.scenarios.len(),
            setup.id,
            scenario.name
        ));
        self.tester
            .say(&instructions(scenario, &setup, &reader, &self.relay.url()));
        self.tester
            .say("  Press Enter when the screen shows the result.\n");
        let answers = match self.tester.line() {
            None => vec![Check::new(
                "screen",
                "the tester's answers",
                "the tester's input ended",
            )],
            Some(_) => questions(&scenario.expect)
                .into_iter()
                .map(|(name, question)| {
                    let answer = match self.tester.yes_no(&question) {
                        Some(true) => "yes",
                        Some(false) => "no",
                        None => "no answer (the tester's input ended)",
                    };
                    Check::new(&format!("screen.{name}: {question}"), "yes", answer)
                })
                .collect(),
        };
        self.relay.point_at(None);
        self.answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(setup.id.to_string(), answers);
        ClientRun {
            outcome_from_tester: true,
            ..ClientRun::of(Err(NO_OUTCOME.into()))
        }
    }
}

/// What the tester is told to do: the card, the service, the staff's and
/// the patient's part. Shown in the terminal only (it may hold the PIN and
/// the staff's password, which the tester types).
fn instructions(scenario: &Scenario, setup: &RunSetup<'_>, reader: &str, url: &str) -> String {
    let card = &scenario.card;
    let inputs = setup.inputs;
    let mut lines = Vec::new();
    if card.absent {
        lines.push(format!("card:    none in \"{reader}\" (leave it empty)"));
    } else {
        let carrier = match card.variant.map(|v| v.name()) {
            Some("android") => "Android phone",
            Some("iphone") => "iPhone",
            _ => "My Number card",
        };
        lines.push(format!(
            "card:    {}'s {carrier} is held to \"{reader}\"",
            card.person
        ));
        if let Some(n) = card.removed_at_apdu {
            lines.push(format!(
                "         (it leaves the reader by itself at the application's APDU {n})"
            ));
        }
        if let Some(seconds) = card.face_id_seconds_before_hold {
            lines.push(format!(
                "         (the patient authenticated with Face ID {seconds} s before)"
            ));
        }
    }
    let service = &scenario.service;
    let mut state = vec![format!(
        "clock {}",
        service
            .clock
            .as_deref()
            .unwrap_or("2026-12-01T10:00:00+09:00")
    )];
    if service.unreachable {
        state.push("down: nothing answers".into());
    }
    if let Some(faults) = &service.faults {
        state.push(format!("faults {faults}"));
    }
    lines.push(format!("service: {url} ({})", state.join(", ")));
    let method = serde_json::to_value(inputs.method)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    lines.push(format!(
        "staff:   facility {}, device {:?}: confirm by {method}",
        inputs.facility, inputs.device
    ));
    if !inputs.card_has_photo {
        lines.push("staff:   the card has no photo".into());
    }
    match (&inputs.pin, inputs.method) {
        (Some(pin), _) => lines.push(format!("patient: types the PIN {pin}")),
        (None, Method::Pin | Method::Android) => {
            lines.push("patient: types no PIN (leave it empty)".into())
        }
        (None, _) => {}
    }
    lines.push(if inputs.consent_to_register {
        "patient: consents to registering the card for health insurance, if asked".into()
    } else {
        "patient: declines registering the card, if asked".into()
    });
    if let Some(login) = setup.app {
        lines.push(format!(
            "app:     log in as {} with the password {}",
            login.user_id, login.password
        ));
        if let Some(code) = &login.activation_code {
            lines.push(format!("app:     register the device with the code {code}"));
        }
        if let Some(token) = &login.device_token {
            lines.push(format!(
                "app:     the device is registered; its token is {token}"
            ));
        }
    }
    lines
        .into_iter()
        .map(|line| format!("  {line}\n"))
        .collect()
}

/// The yes/no questions for what only the screen shows, with the name of
/// the expectation each stands for.
fn questions(expect: &Expectations) -> Vec<(String, String)> {
    let mut asked = Vec::new();
    let mut ask = |name: &str, question: String| asked.push((name.to_string(), question));
    if let Some(kind) = expect.outcome {
        ask(
            "outcome",
            format!("Does the screen tell the staff: {}?", outcome_text(kind)),
        );
    }
    if let Some(validity) = &expect.validity {
        ask(
            "validity",
            format!(
                "Does it show the qualification as {} (QualificationValidity {validity})?",
                validity_label(validity)
            ),
        );
    }
    if let Some(code) = &expect.processing_result_code {
        ask(
            "processing_result_code",
            format!("Does it show the code {code} or its message?"),
        );
    }
    for banner in &expect.banners {
        ask("banner", format!("Does it show the banner 「{banner}」?"));
    }
    if let Some(tries) = expect.tries_left {
        ask(
            "tries_left",
            format!("Does it say {tries} PIN tries are left?"),
        );
    }
    for (field, value) in &expect.fields {
        ask("fields", field_question(field, value, None));
    }
    if let Some(count) = expect.result_count {
        ask(
            "result_count",
            format!("Does it list {count} qualification(s)?"),
        );
    }
    if !expect.results.is_empty() {
        ask(
            "results",
            format!("Does it list {} qualification(s)?", expect.results.len()),
        );
        for (i, fields) in expect.results.iter().enumerate() {
            for (field, value) in fields {
                ask("results", field_question(field, value, Some(i)));
            }
        }
    }
    for item in &expect.absent {
        let what = match item {
            Shown::ProcessingResultCode => "no result code or notice",
            Shown::Validity => "no qualification status",
            Shown::Banners => "no banner at all",
            Shown::Result => "no result from the service",
            Shown::TriesLeft => "no count of PIN tries left",
        };
        ask("absent", format!("Does the screen show {what}?"));
    }
    asked
}

fn field_question(field: &str, value: &str, result: Option<usize>) -> String {
    let place = match result {
        Some(i) => format!("In qualification {} of the list, does", i + 1),
        None => "Does".into(),
    };
    if value.is_empty() {
        format!("{place} the screen show no {field}?")
    } else {
        format!("{place} the screen show {field}: {value}?")
    }
}

/// What the screen tells the staff for each outcome (harness/ADAPTER.md).
fn outcome_text(kind: OutcomeKind) -> &'static str {
    match kind {
        OutcomeKind::Confirmed => "the patient's qualification (a result from the service)",
        OutcomeKind::Refused => "the service refused the card (revoked, expired, …)",
        OutcomeKind::WrongPin => "the PIN was wrong",
        OutcomeKind::PinLocked => {
            "the PIN is locked: confirm visually or otherwise (only the municipality unlocks it)"
        }
        OutcomeKind::VisualNotPossible => {
            "visual confirmation is not possible: the card has no photo"
        }
        OutcomeKind::PinRequired => "a PIN must be typed first",
        OutcomeKind::NotRegistered => "the card is not registered for health insurance",
        OutcomeKind::Registered => "the card was registered, and the qualification",
        OutcomeKind::RegistrationPending => "the registration was accepted and completes later",
        OutcomeKind::Maintenance => "the service is under maintenance",
        OutcomeKind::ServiceError => "the service could not be reached or answered an error",
        OutcomeKind::Timeout => "the service did not answer in time",
        OutcomeKind::CardRemoved => "the card left the reader: hold it again",
        OutcomeKind::CardError => "the card could not be read",
        OutcomeKind::AuthenticateOnPhone => "the patient must authenticate on the phone (Face ID)",
        OutcomeKind::AppRefused => "the app's sign-in was refused",
        OutcomeKind::CardNotOnPhone => "the card is not on this phone",
    }
}

/// QualificationValidity's labels (docs/service-rules.md).
fn validity_label(code: &str) -> &'static str {
    match code {
        "1" => "有効 (valid)",
        "2" => "無効 (invalid)",
        "3" => "無効（新しい資格あり） (invalid, a newer qualification exists)",
        "4" => "該当資格なし (no qualification found)",
        "5" => "複数該当 (several qualifications)",
        "6" => "有効（医療扶助） (valid: medical assistance)",
        _ => "the code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::CheckInputs;
    use std::io::Cursor;

    /// Output the test can read after the client wrote it.
    #[derive(Clone, Default)]
    struct Screen(Arc<Mutex<Vec<u8>>>);

    impl Write for Screen {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn loaded(text: &str) -> LoadedScenario {
        LoadedScenario {
            id: "pin/wrong-once".into(),
            scenario: toml::from_str(text).unwrap(),
            path: "pin/wrong-once.toml".into(),
        }
    }

    const WRONG_ONCE: &str = r#"
name = "PIN entered wrong once"
rule = "r"
[card]
person = "valid"
[client]
method = "pin"
pin = "9999"
[expect]
outcome = "wrong-pin"
tries_left = 2
banners = ["義務教育就学前"]
fields = { InsurerNumber = "06139990" }
absent = ["validity"]
card = { auth_tries_left = 2 }
history_count = 0
"#;

    fn attend(answers: &str) -> (AttendedClient, Screen, ClientRun, LoadedScenario) {
        let scenario = loaded(WRONG_ONCE);
        let screen = Screen::default();
        let client = AttendedClient::new(
            std::slice::from_ref(&scenario),
            Tester::new(
                Box::new(Cursor::new(answers.to_string())),
                Box::new(screen.clone()),
            ),
            ServiceRelay::start("127.0.0.1:0").unwrap(),
        );
        let inputs: CheckInputs = scenario.scenario.client.clone();
        let run = client.run(RunSetup {
            id: &scenario.id,
            inputs: &inputs,
            service_url: "http://127.0.0.1:9",
            reader: Reader::Pcsc {
                name: "Virtual PCD 00 00".into(),
            },
            app: None,
        });
        (client, screen, run, scenario)
    }

    #[test]
    fn the_tester_is_told_the_patients_part_and_asked_only_about_the_screen() {
        let (_, screen, run, _) = attend("\ny\nmaybe\ny\ny\ny\ny\ny\n");
        let text = String::from_utf8(screen.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("patient: types the PIN 9999"), "{text}");
        assert!(text.contains("valid's My Number card is held to \"Virtual PCD 00 00\""));
        assert!(text.contains("Does the screen tell the staff: the PIN was wrong?"));
        assert!(text.contains("Does it say 2 PIN tries are left?"));
        assert!(
            text.contains("(answer y or n)"),
            "a bad answer is asked again"
        );
        // The card's tries and the history are the runner's to judge.
        assert!(!text.contains("history") && !text.contains("tries left on the card"));
        assert_eq!(run.outcome, Err(NO_OUTCOME.to_string()));
    }

    #[test]
    fn answers_replace_the_screen_checks_and_the_runners_own_stay() {
        let (client, _, _, scenario) = attend("\ny\nn\ny\ny\ny\n");
        let mut report = ScenarioReport::new(&scenario);
        report.client_error = Some(NO_OUTCOME.into());
        report.checks = vec![
            Check::new("client", "an outcome", "no outcome"),
            Check::new("outcome", "wrong-pin", "no outcome"),
            Check::new("tries_left", "2", "no outcome"),
            Check::new("fields.InsurerNumber", "06139990", "no outcome"),
            Check::new("absent.validity", "(absent)", "no outcome"),
            Check::new("card.auth_tries_left", "2", "2"),
            Check::new("history_count", "0", "1"),
        ];
        let judged = client.judged(&report);
        let names: Vec<&str> = judged
            .checks
            .iter()
            .map(|c| c.expectation.as_str())
            .collect();
        assert!(names.contains(&"card.auth_tries_left") && names.contains(&"history_count"));
        assert!(!names.contains(&"client") && !names.contains(&"outcome"));
        assert_eq!(judged.client_error, None);
        let failed: Vec<&str> = judged
            .failures
            .iter()
            .map(|f| f.expectation.as_str())
            .collect();
        // The banner answered no; the history is the runner's own failure.
        assert_eq!(failed.len(), 2, "{failed:?}");
        assert!(failed.contains(&"history_count"));
        assert!(failed.iter().any(|f| f.starts_with("screen.banner: Does it show the banner 「義務教育就学前」")));
        assert!(!judged.passed);
        // No answer is the tester's PIN: nothing of it in the report.
        assert!(!serde_json::to_string(&judged).unwrap().contains("9999"));
    }

    #[test]
    fn input_that_ends_fails_the_scenario_with_a_reason() {
        let (client, _, _, scenario) = attend("");
        let judged = client.judged(&ScenarioReport::new(&scenario));
        assert_eq!(judged.failures[0].actual, "the tester's input ended");
    }

    #[test]
    fn the_relay_forwards_to_the_current_service() {
        use std::io::Read;
        let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = upstream.local_addr().unwrap().port();
        let relay = ServiceRelay::start("127.0.0.1:0").unwrap();
        relay.point_at(Some(&format!("http://127.0.0.1:{port}/")));
        let mut client =
            std::net::TcpStream::connect(relay.url().trim_start_matches("http://")).unwrap();
        client.write_all(b"ping").unwrap();
        let (mut served, _) = upstream.accept().unwrap();
        let mut got = [0u8; 4];
        served.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");
        served.write_all(b"pong").unwrap();
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"pong");
    }
}
