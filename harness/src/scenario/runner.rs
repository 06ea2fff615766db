//! The scenario runner: sets up a service and a card for one scenario, lets
//! the client under test do its check, and compares what happened with what
//! the scenario expects.
//!
//! Every scenario runs in isolation: its own in-memory service (fixtures,
//! frozen clock, faults, all fresh), its own card issued from the fixture
//! person's profile, its own APDU trace. Nothing a client does in one
//! scenario (lock a PIN, add to the history) can leak into another, which is
//! what makes the scenarios safe to run in parallel and in any shard.
//!
//! The client is anything that implements [`ClientUnderTest`]: the
//! reference client in this process, or a vendor's client run as a command
//! ([`super::external::ExternalCommand`]) that reaches the card through the
//! real pcscd.

use std::net::TcpListener;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Instant;

use serde_json::Value;
use sim_card::card::Card;
use sim_card::personalize::{self, AUTH_PIN};
use sim_card::profile::{CardProfile, Variant};
use sim_card::reader::SimulatedReader as CardReader;
use sim_card::trace::{SharedTrace, TraceRecord, Traced};
use sim_card::transport::in_process::InProcessReader;
use sim_service::clock::{ServiceClock, jst_date};
use sim_service::exchange::history::{HistoryQuery, search_history};
use sim_service::exchange::insurance_card::persons_with_reference_numbers;
use sim_service::exchange::reference_number::{
    self, ReferenceNumberRegistration, ReferenceNumberRegistrationInfo,
};
use sim_service::fixtures::InsuredPerson;
use sim_service::http::{self, AppState, FaultSet, ServiceConfig};
use sim_service::model::{InsurerNumber, MedicalInstitutionCode};
use sim_service::store::{CertificateEntry, Store, StoredPerson};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::conformance::Rule;
use super::format::{
    CardSetup, DeviceSetup, Expectations, FacilitySetup, HistorySearch, ReferenceNumberSetup,
    Scenario,
};
use super::load::{LoadedScenario, built_in_persons};
use super::report::{Check, ScenarioReport, Timings};
use crate::client::app::AppLogin;
use crate::client::{CardChannel, CardError, CheckInputs, ClientOutcome, Method, OutcomeKind};

/// The service clock when a scenario does not set one: the instant the
/// built-in fixtures are designed around.
pub const REFERENCE_TIME: &str = "2026-12-01T10:00:00+09:00";

/// Registration times are scaled by this: the service's ~15 s become 15 ms,
/// so a registration scenario does not wait for real.
pub const TIME_FACTOR: f64 = 0.001;

/// How the client reaches the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A function call away, through [`CardChannel`]: fast, parallel, and
    /// only for a client living in this process.
    InProcess,
    /// Through the real pcscd: the card is attached to vpcd's slot N and the
    /// client opens the reader `Virtual PCD 00 0N`, as it would a real one.
    Pcsc,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::InProcess => "in-process",
            Transport::Pcsc => "pcsc",
        }
    }
}

/// Where the client finds the card.
pub enum Reader<'a> {
    /// The scenario's card slot, in process (`absent` scenarios answer
    /// [`CardError::NoCard`] on connect).
    InProcess(&'a mut dyn CardChannel),
    /// A PC/SC reader, by the name pcscd gives it.
    Pcsc { name: String },
}

/// Everything a client needs for one check.
pub struct RunSetup<'a> {
    /// The scenario's id, for a client's own logs.
    pub id: &'a str,
    pub inputs: &'a CheckInputs,
    /// The service's base URL, e.g. `http://127.0.0.1:40123`.
    pub service_url: &'a str,
    pub reader: Reader<'a>,
    /// The staff's app login, when the scenario is on the app channel
    /// (`[facility]`); `None` on the confirmation terminal's channel.
    pub app: Option<&'a AppLogin>,
}

/// What a client run left: its outcome (or why there is none) and what it
/// said on stderr, kept for the report.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientRun {
    pub outcome: Result<ClientOutcome, String>,
    pub stderr: String,
}

impl ClientRun {
    pub fn of(outcome: Result<ClientOutcome, String>) -> Self {
        ClientRun {
            outcome,
            stderr: String::new(),
        }
    }
}

/// The client under test.
pub trait ClientUnderTest: Send + Sync {
    /// Who the client is, for reports and the certification summary.
    fn identity(&self) -> String;
    /// Which transports it can use.
    fn supports(&self, transport: Transport) -> Result<(), String>;
    /// Does one check. Must return (a client that hangs is the client's
    /// implementation's to bound, e.g. with a time-out).
    fn run(&self, setup: RunSetup<'_>) -> ClientRun;
}

/// How a run goes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Scenarios run at the same time (at most one per slot over PC/SC).
    pub jobs: usize,
    pub transport: Transport,
    /// vpcd slots to use over PC/SC (Debian's vpcd has 2).
    pub pcsc_slots: u8,
    /// Check every conformance rule in every scenario.
    pub conformance_profile: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            transport: Transport::InProcess,
            pcsc_slots: 2,
            conformance_profile: false,
        }
    }
}

/// Runs scenarios against one client.
pub struct Runner {
    client: Arc<dyn ClientUnderTest>,
    options: RunOptions,
    /// Serves every scenario's service (and, over PC/SC, the vpcd links).
    /// Clients run on the runner's own threads, never on this runtime, so a
    /// blocking client cannot starve a service.
    runtime: tokio::runtime::Runtime,
}

impl Runner {
    pub fn new(client: Arc<dyn ClientUnderTest>, options: RunOptions) -> Result<Self, String> {
        client.supports(options.transport)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kazasu-runner-io")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the runner's I/O threads: {e}"))?;
        Ok(Runner {
            client,
            options,
            runtime,
        })
    }

    pub fn client_identity(&self) -> String {
        self.client.identity()
    }

    pub fn options(&self) -> &RunOptions {
        &self.options
    }

    /// How many scenarios run at once.
    pub fn parallelism(&self) -> usize {
        let jobs = self.options.jobs.max(1);
        match self.options.transport {
            Transport::InProcess => jobs,
            Transport::Pcsc => jobs.min(usize::from(self.options.pcsc_slots.max(1))),
        }
    }

    /// Runs every scenario, `parallelism()` at a time, calling `done` as
    /// each finishes (in completion order, on the caller's thread); returns
    /// the reports in the scenarios' order.
    pub fn run_all(
        &self,
        scenarios: &[LoadedScenario],
        mut done: impl FnMut(&ScenarioReport),
    ) -> Vec<ScenarioReport> {
        let workers = self.parallelism().min(scenarios.len().max(1));
        let next = AtomicUsize::new(0);
        let (sender, receiver) = mpsc::channel::<(usize, ScenarioReport)>();
        let mut reports: Vec<Option<ScenarioReport>> = vec![None; scenarios.len()];
        std::thread::scope(|scope| {
            for worker in 0..workers {
                let sender = sender.clone();
                let next = &next;
                // Over PC/SC each worker owns one vpcd slot for the whole run:
                // one card per reader at a time, as in a real reader.
                let slot = u8::try_from(worker).unwrap_or(u8::MAX);
                scope.spawn(move || {
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(scenario) = scenarios.get(index) else {
                            break;
                        };
                        let report = self.run_one_in_slot(scenario, slot);
                        if sender.send((index, report)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(sender);
            for (index, report) in receiver {
                done(&report);
                reports[index] = Some(report);
            }
        });
        reports.into_iter().flatten().collect()
    }

    /// Runs one scenario (over PC/SC, in slot 0).
    pub fn run_one(&self, scenario: &LoadedScenario) -> ScenarioReport {
        self.run_one_in_slot(scenario, 0)
    }

    fn run_one_in_slot(&self, loaded: &LoadedScenario, slot: u8) -> ScenarioReport {
        let started = Instant::now();
        let scenario = &loaded.scenario;
        let mut report = ScenarioReport::new(loaded);
        let rules = self.rules_for(&scenario.expect);

        let service = match ScenarioService::start(scenario, &self.runtime) {
            Ok(service) => service,
            Err(e) => return report.setup_failed(e, started),
        };
        let app = match &scenario.facility {
            Some(setup) => match prepare_facility(&service.state, setup, &scenario.client) {
                Ok(login) => Some(login),
                Err(e) => return report.setup_failed(e, started),
            },
            None => None,
        };
        let trace = SharedTrace::default();
        let card = match issue_card(scenario) {
            // The card as the client meets it: behind the scenario's reader,
            // traced on the client's side of the reader (GET RESPONSEs, 6Cxx
            // and refused extended APDUs are in the trace).
            Ok(card) => card.map(|c| {
                Traced::new(
                    CardReader::new(c, scenario.card.reader.clone()),
                    trace.clone(),
                )
            }),
            Err(e) => return report.setup_failed(e, started),
        };
        let setup_done = Instant::now();

        let inputs = &scenario.client;
        let (run, card_after) = match self.options.transport {
            Transport::InProcess => {
                let mut slot = SimulatedSlot::new(card, scenario.card.removed_at_apdu);
                let run = self.call_client(RunSetup {
                    id: &loaded.id,
                    inputs,
                    service_url: &service.url,
                    reader: Reader::InProcess(&mut slot),
                    app: app.as_ref(),
                });
                (run, slot.auth_tries_left())
            }
            Transport::Pcsc => {
                match super::pcsc_slot::PcscSlot::insert(
                    &self.runtime,
                    slot,
                    card,
                    scenario.card.removed_at_apdu,
                ) {
                    Ok(mut attached) => {
                        let run = self.call_client(RunSetup {
                            id: &loaded.id,
                            inputs,
                            service_url: &service.url,
                            reader: Reader::Pcsc {
                                name: attached.reader_name(),
                            },
                            app: app.as_ref(),
                        });
                        let tries = attached.remove(&self.runtime);
                        (run, tries)
                    }
                    Err(e) => return report.setup_failed(e, started),
                }
            }
        };
        let client_done = Instant::now();

        let records: Vec<TraceRecord> = trace.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let history = service.history_count(&inputs.facility);
        let history_searches = service.history_searches(&scenario.expect.history_search, inputs);
        drop(service);
        let observed = Observed {
            outcome: run.outcome.as_ref().map_err(String::as_str),
            trace: &records,
            auth_tries_left: card_after,
            history_count: history,
            history_searches,
            method: inputs.method,
        };
        let checks = check_expectations(&scenario.expect, &rules, &observed);
        report.finish(
            run,
            records,
            checks,
            Timings {
                setup: setup_done - started,
                client: client_done - setup_done,
                checks: client_done.elapsed(),
            },
            started.elapsed(),
        );
        report
    }

    /// The scenario's rules, and every rule under the conformance profile.
    fn rules_for(&self, expect: &Expectations) -> Vec<Rule> {
        let mut rules = expect.conformance.clone();
        if self.options.conformance_profile {
            for rule in Rule::ALL {
                if !rules.contains(rule) {
                    rules.push(*rule);
                }
            }
        }
        rules
    }

    /// Runs the client; a panic in an in-process client is that scenario's
    /// failure, not the run's end.
    fn call_client(&self, setup: RunSetup<'_>) -> ClientRun {
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.client.run(setup))) {
            Ok(run) => run,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(no message)".into());
                ClientRun::of(Err(format!("the client panicked: {message}")))
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The service of one scenario
// ---------------------------------------------------------------------------

/// One scenario's service: an in-memory store, its own clock and faults,
/// served on a loopback port until dropped.
struct ScenarioService {
    state: AppState,
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl ScenarioService {
    fn start(scenario: &Scenario, runtime: &tokio::runtime::Runtime) -> Result<Self, String> {
        let setup = &scenario.service;
        let clock_text = setup.clock.as_deref().unwrap_or(REFERENCE_TIME);
        let clock = OffsetDateTime::parse(clock_text, &Rfc3339)
            .map_err(|e| format!("service.clock {clock_text:?}: {e}"))?;
        let mut config = ServiceConfig {
            time_factor: TIME_FACTOR,
            ..ServiceConfig::default()
        };
        if let Some(seconds) = setup.registration_seconds {
            config.registration_processing = time::Duration::seconds(i64::from(seconds));
        }
        let store = Store::in_memory().map_err(|e| format!("service store: {e}"))?;
        let state = AppState::new(store, ServiceClock::frozen_at(clock), config)?;
        let (persons, certificates) = fixture_rows()?;
        state
            .store
            .replace_fixtures(persons, certificates)
            .map_err(|e| format!("service fixtures: {e}"))?;
        register_reference_numbers(&state, &setup.reference_numbers, clock)?;
        if let Some(faults) = &setup.faults {
            let faults: FaultSet = serde_json::from_value(faults.clone())
                .map_err(|e| format!("service.faults: {e}"))?;
            faults
                .validate()
                .map_err(|e| format!("service.faults: {e}"))?;
            state.faults.set(faults);
        }

        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| format!("cannot bind a loopback port: {e}"))?;
        let address = listener
            .local_addr()
            .map_err(|e| format!("cannot read the service's port: {e}"))?;
        let url = format!("http://{address}");
        if setup.unreachable {
            // Nothing listens once the listener is dropped: connections are
            // refused, as with a service that is down. (The port is the
            // system's again, and could in principle be taken by another
            // process in the moment the client connects.)
            drop(listener);
            return Ok(ScenarioService {
                state,
                url,
                stop: None,
            });
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = http::router(state.clone());
        runtime.spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = http::serve(listener, app, None, shutdown).await {
                tracing::warn!("scenario service: {e}");
            }
        });
        Ok(ScenarioService {
            state,
            url,
            stop: Some(stop),
        })
    }

    /// Confirmations in the history that showed qualification information,
    /// as the facility's result search lists them.
    fn history_count(&self, facility: &str) -> Result<usize, String> {
        let rows = self
            .state
            .store
            .confirmations(
                facility,
                OffsetDateTime::UNIX_EPOCH,
                time::macros::datetime!(9999-12-31 00:00 UTC),
                None,
            )
            .map_err(|e| format!("cannot read the history: {e}"))?;
        Ok(rows.iter().filter(|r| r.shows_qualification).count())
    }
}

impl ScenarioService {
    /// The scenario's result searches, each at its own clock, in order:
    /// how many entries each lists.
    fn history_searches(
        &self,
        searches: &[HistorySearch],
        inputs: &CheckInputs,
    ) -> Vec<Result<usize, String>> {
        searches
            .iter()
            .map(|search| {
                if let Some(text) = &search.at {
                    let at = OffsetDateTime::parse(text, &Rfc3339)
                        .map_err(|e| format!("history_search.at {text:?}: {e}"))?;
                    self.state.clock.freeze(at);
                }
                let now = self.state.clock.now();
                let day = |field: &str, text: &Option<String>| {
                    text.as_deref()
                        .map(|t| {
                            time::Date::parse(
                                t,
                                time::macros::format_description!("[year]-[month]-[day]"),
                            )
                            .map_err(|e| format!("history_search.{field} {t:?}: {e}"))
                        })
                        .transpose()
                };
                let visible = HistoryQuery::visible_on(jst_date(now));
                let from = day("from", &search.from)?.unwrap_or(visible.from);
                let query = HistoryQuery {
                    from,
                    to: day("to", &search.to)?.unwrap_or(visible.to.max(from)),
                    device: search.this_device.then(|| inputs.device.clone()),
                };
                let facility = MedicalInstitutionCode::new(&inputs.facility)
                    .map_err(|e| format!("client.facility: {e}"))?;
                search_history(&self.state.store, &facility, &query, now)
                    .map(|entries| entries.len())
                    .map_err(|e| format!("result search: {e}"))
            })
            .collect()
    }
}

/// Prepares the facility as its administrator would (`[facility]`) and
/// returns the staff's app login: the environment setting, an account that
/// logged in to the system, one activation code, the notices; then the
/// clock moves `wait_seconds`, the device is put in its state, and the wrong
/// passwords are typed.
fn prepare_facility(
    state: &AppState,
    setup: &FacilitySetup,
    inputs: &CheckInputs,
) -> Result<AppLogin, String> {
    use sim_service::facility::{
        FacilityError, NewAccount, NewNotice, Role, account, admin, device,
    };
    let failed = |what: &'static str| move |e: FacilityError| format!("facility: {what}: {e}");
    let facility = MedicalInstitutionCode::new(&inputs.facility)
        .map_err(|e| format!("client.facility: {e}"))?;
    let store = &state.store;
    let now = state.clock.now();
    // On while the runner registers the device; as the scenario says after.
    admin::set_outpatient_flow(store, &facility, true).map_err(failed("environment"))?;
    let start_date = match &setup.start_date {
        Some(text) => time::Date::parse(
            text,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_err(|e| format!("facility.start_date {text:?}: {e}"))?,
        None => jst_date(now),
    };
    let new = NewAccount {
        role: Role::General,
        user_id: setup.user_id.clone(),
        name: "資格確認 担当".into(),
        kana: "シカクカクニン タントウ".into(),
        start_date,
        password: setup.password.clone(),
    };
    admin::register_account(store, &facility, new, now).map_err(failed("account"))?;
    if setup.system_login {
        account::system_login(store, &facility, &setup.user_id, &setup.password, None, now)
            .map_err(failed("system login"))?;
    }
    let memo = setup.memo.clone().unwrap_or_else(|| inputs.device.clone());
    let code = admin::issue_activation_code(store, &facility, &memo, now)
        .map_err(failed("activation code"))?;
    for title in &setup.notices {
        let notice = NewNotice {
            title: title.clone(),
            link: String::new(),
            outage: false,
        };
        admin::publish_notice(store, notice, now).map_err(failed("notice"))?;
    }
    state
        .clock
        .advance(time::Duration::seconds(i64::from(setup.wait_seconds)))
        .map_err(|e| format!("facility.wait_seconds: {e}"))?;
    let now = state.clock.now();
    let mut login = AppLogin {
        user_id: setup.user_id.clone(),
        password: setup.password.clone(),
        activation_code: Some(code.code.clone()),
        device_token: None,
    };
    if setup.device != DeviceSetup::Unregistered {
        let registered = device::register(
            store,
            &facility,
            &setup.user_id,
            &setup.password,
            &code.code,
            now,
        )
        .map_err(failed("device registration"))?;
        match setup.device {
            DeviceSetup::Invalidated => {
                admin::invalidate_activation_code(store, &facility, &code.code)
                    .map_err(failed("invalidation"))?;
            }
            DeviceSetup::Deregistered => {
                device::deregister(store, &registered.device_id, now)
                    .map_err(failed("deregistration"))?;
            }
            DeviceSetup::Registered | DeviceSetup::Unregistered => {}
        }
        login.activation_code = None;
        login.device_token = Some(registered.device_token);
    }
    for _ in 0..setup.wrong_passwords {
        match account::authenticate(store, &facility, &setup.user_id, "Wr0ng-password", now) {
            Err(FacilityError::BadCredentials | FacilityError::AccountLocked { .. }) => {}
            Ok(_) => return Err("facility: the wrong password was accepted".into()),
            Err(e) => return Err(format!("facility: wrong passwords: {e}")),
        }
    }
    admin::set_outpatient_flow(store, &facility, setup.outpatient_flow)
        .map_err(failed("environment"))?;
    Ok(login)
}

/// Registers the scenario's 照会番号 as a receipt computer would.
fn register_reference_numbers(
    state: &AppState,
    setups: &[ReferenceNumberSetup],
    now: OffsetDateTime,
) -> Result<(), String> {
    if setups.is_empty() {
        return Ok(());
    }
    let persons = persons_with_reference_numbers(&state.store).map_err(|e| e.to_string())?;
    for (i, setup) in setups.iter().enumerate() {
        let field = format!("service.reference_numbers[{i}]");
        let registration = ReferenceNumberRegistration {
            medical_institution_code: MedicalInstitutionCode::new(&setup.facility)
                .map_err(|e| format!("{field}.facility: {e}"))?,
            arbitrary_file_identifier: None,
            info: ReferenceNumberRegistrationInfo {
                reference_number: setup.reference_number.clone(),
                insurer_number: InsurerNumber::new(&setup.insurer_number)
                    .map_err(|e| format!("{field}.InsurerNumber: {e}"))?,
                insured_card_symbol: setup.insured_card_symbol.clone(),
                insured_identification_number: setup.insured_identification_number.clone(),
                insured_branch_number: setup.insured_branch_number.clone(),
            },
        };
        registration
            .info
            .check()
            .map_err(|e| format!("{field}: {e}"))?;
        match reference_number::register(&state.store, &persons, &registration, now) {
            Ok(Ok(_)) => {}
            Ok(Err(refusal)) => {
                return Err(format!("{field}: refused: {}", refusal.code().meaning));
            }
            Err(e) => return Err(format!("{field}: {e}")),
        }
    }
    Ok(())
}

impl Drop for ScenarioService {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The built-in fixtures as the store holds them, computed once per process.
///
/// `http::install_fixtures` issues every person's certificate (~24 RSA
/// signatures) for each service it fills; the rows are the same every time,
/// so they are made once and copied into each scenario's store.
fn fixture_rows() -> Result<(&'static [StoredPerson], &'static [CertificateEntry]), String> {
    type Rows = (Vec<StoredPerson>, Vec<CertificateEntry>);
    static ROWS: OnceLock<Result<Rows, String>> = OnceLock::new();
    let rows = ROWS.get_or_init(|| {
        // Made by the service's own installer into a scratch store, then
        // read back, so the rows are exactly what the service would hold.
        let scratch = AppState::new(
            Store::in_memory().map_err(|e| e.to_string())?,
            ServiceClock::frozen_at(OffsetDateTime::UNIX_EPOCH),
            ServiceConfig::default(),
        )?;
        let persons = built_in_persons()?;
        http::install_fixtures(&scratch, persons).map_err(|e| format!("fixtures: {e:?}"))?;
        let stored = scratch.store.persons().map_err(|e| e.to_string())?;
        let pki = personalize::simulated_jpki().map_err(|e| e.to_string())?;
        let mut certificates = Vec::with_capacity(persons.len());
        for person in persons {
            for certificate in certificates_of(person, &pki)? {
                let fingerprint = sim_service::confirmation::fingerprint(&certificate);
                let (entry, _) = scratch
                    .store
                    .certificate(&fingerprint)
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("{}: the installer stored no certificate", person.id))?;
                certificates.push(entry);
            }
        }
        Ok((stored, certificates))
    });
    match rows {
        Ok((persons, certificates)) => Ok((persons, certificates)),
        Err(e) => Err(e.clone()),
    }
}

/// The certificates the service knows a person by: the physical card's and
/// each phone's.
fn certificates_of(
    person: &sim_service::fixtures::InsuredPerson,
    pki: &sim_card::pki::Jpki,
) -> Result<Vec<Vec<u8>>, String> {
    let profiles = std::iter::once(person.card.profile.clone())
        .chain(person.phones.iter().map(|p| person.phone_profile(p)));
    profiles
        .map(|profile| {
            personalize::auth_certificate(&profile, pki).map_err(|e| format!("{}: {e}", person.id))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The card of one scenario
// ---------------------------------------------------------------------------

/// The fixture person's card (or phone) as issued, with the scenario's
/// overrides; `None` when the reader is to stay empty.
///
/// Issued cards are kept per person and carrier for the process: issuing
/// signs two certificates and draws the card face, the same bytes every
/// time. Each scenario gets its own copy, so a PIN locked in one is not
/// locked in another.
fn issue_card(scenario: &Scenario) -> Result<Option<Card>, String> {
    if scenario.card.absent {
        return Ok(None);
    }
    static ISSUED: OnceLock<Mutex<std::collections::HashMap<String, Card>>> = OnceLock::new();
    let persons = built_in_persons()?;
    let held = held_card(&scenario.card, persons)?;
    let cache = ISSUED.get_or_init(Default::default);
    let cached = cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&held.key)
        .cloned();
    let mut card = match cached {
        Some(card) => card,
        None => {
            let card = match &held.profile {
                Some(profile) => {
                    let pki = personalize::simulated_jpki().map_err(|e| e.to_string())?;
                    personalize::issue(profile, &pki)
                        .map_err(|e| format!("cannot issue {}: {e}", held.key))?
                        .card
                }
                None => {
                    let atr = held.variant.atr().bytes().map_err(|e| e.to_string())?;
                    Card::new(atr, Vec::new())
                }
            };
            cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(held.key.clone(), card.clone());
            card
        }
    };
    if let Some(tries) = scenario.card.auth_tries_left
        && !card.set_pin_tries_left(AUTH_PIN, tries)
    {
        return Err("the card has no auth PIN to set tries on".into());
    }
    if let Some(seconds) = scenario.card.face_id_seconds_before_hold {
        let at = Instant::now()
            .checked_sub(std::time::Duration::from_secs(seconds))
            .ok_or("card.face_id_seconds_before_hold: further back than this machine's clock")?;
        if !card.authenticate_holder(at) {
            return Err(
                "card.face_id_seconds_before_hold: only an iPhone authenticates its holder".into(),
            );
        }
    }
    Ok(Some(card))
}

/// What a scenario's `[card]` holds to the reader, resolved against the
/// fixtures: a name for the cache, and the profile to issue.
struct HeldCard {
    key: String,
    /// `None`: a phone without the card (see [`phone_without_card`]).
    profile: Option<CardProfile>,
    variant: Variant,
}

/// The person's physical card (in the variant asked for), or one of their
/// phones: by id, or the newest of the variant asked for.
fn held_card(setup: &CardSetup, persons: &[InsuredPerson]) -> Result<HeldCard, String> {
    let person_id = &setup.person;
    let person = sim_service::fixtures::find(persons, person_id)
        .ok_or_else(|| format!("card.person: no fixture person {person_id:?}"))?;
    let phone = match (&setup.phone, setup.variant) {
        (Some(id), variant) => {
            let phone = person.phone(id).ok_or_else(|| {
                let ids: Vec<_> = person.phones.iter().map(|p| p.id.as_str()).collect();
                format!("card.phone: {person_id} has no phone {id:?} (phones: {ids:?})")
            })?;
            if variant.is_some_and(|v| v != phone.variant) {
                return Err(format!(
                    "card.variant: {person_id}'s phone {id:?} is an {}",
                    phone.variant
                ));
            }
            Some(phone)
        }
        (None, Some(variant)) if variant.is_smartphone() => {
            let newest = person
                .phones
                .iter()
                .enumerate()
                .filter(|(_, p)| p.variant == variant)
                .max_by_key(|(index, p)| (p.added, *index))
                .map(|(_, p)| p);
            match newest {
                Some(phone) => Some(phone),
                None => return phone_without_card(setup, variant),
            }
        }
        _ => None,
    };
    let (key, mut profile) = match phone {
        Some(phone) => (
            format!("{person_id}'s phone {}", phone.id),
            person.phone_profile(phone),
        ),
        None => {
            let variant = setup.variant.unwrap_or(person.card.profile.variant);
            (
                format!("{person_id}'s card ({variant})"),
                person.card.profile.with_variant(variant),
            )
        }
    };
    let iphone = profile.variant == Variant::Iphone;
    if setup.face_id_seconds_before_hold.is_some() && !iphone {
        return Err("card.face_id_seconds_before_hold: only for an iPhone".into());
    }
    if let Some(opened) = setup.wallet_opened {
        if !iphone {
            return Err("card.wallet_opened: only for an iPhone".into());
        }
        profile.phone.wallet_opened = opened;
    }
    Ok(HeldCard {
        key: format!("{key}, wallet opened {}", profile.phone.wallet_opened),
        variant: profile.variant,
        profile: Some(profile),
    })
}

/// A phone the person never added the card to (or could not: no smartphone
/// certificate is issued under 15): it answers as a phone, with no JPKI
/// applet at all, so a SELECT finds nothing (6A82).
fn phone_without_card(setup: &CardSetup, variant: Variant) -> Result<HeldCard, String> {
    if setup.face_id_seconds_before_hold.is_some() || setup.wallet_opened.is_some() {
        return Err(format!(
            "card: {} has no {variant} phone with the card to authenticate on or open in Wallet",
            setup.person
        ));
    }
    Ok(HeldCard {
        key: format!("an {variant} phone without the card"),
        profile: None,
        variant,
    })
}

/// The scenario's card behind its reader, traced, as the runner holds it.
pub type ScenarioCard = Traced<CardReader<Card>, SharedTrace>;

/// The in-process reader slot of one scenario: the card (or none), and the
/// moment it is pulled out.
pub struct SimulatedSlot {
    reader: Option<InProcessReader<ScenarioCard>>,
    removed_at_apdu: Option<usize>,
    sent: usize,
    removed: bool,
}

impl SimulatedSlot {
    pub fn new(card: Option<ScenarioCard>, removed_at_apdu: Option<usize>) -> Self {
        SimulatedSlot {
            reader: card.map(InProcessReader::new),
            removed_at_apdu,
            sent: 0,
            removed: false,
        }
    }

    /// The card's auth PIN tries left now (`None` without a card).
    pub fn auth_tries_left(&self) -> Option<u8> {
        self.reader
            .as_ref()
            .and_then(|r| r.card().card().card().pin_tries_left(AUTH_PIN))
    }
}

impl CardChannel for SimulatedSlot {
    fn connect(&mut self) -> Result<Vec<u8>, CardError> {
        match &mut self.reader {
            Some(reader) if !self.removed => Ok(reader.connect()),
            _ => Err(CardError::NoCard),
        }
    }

    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, CardError> {
        let reader = self.reader.as_mut().ok_or(CardError::NoCard)?;
        if self.removed {
            // Sent to a card that is gone: the trace keeps it (without an
            // answer), so `no_apdu_after_removal` can see it.
            reader.card_mut().record_unanswered(command, Instant::now());
            return Err(CardError::Removed);
        }
        self.sent += 1;
        if self.removed_at_apdu == Some(self.sent) {
            // Pulled out as the command goes: the card never sees it, and
            // loses power (the trace shows the unanswered command and the
            // power-off).
            self.removed = true;
            reader.card_mut().record_unanswered(command, Instant::now());
            reader.disconnect();
            return Err(CardError::Removed);
        }
        let response = reader
            .transmit(command)
            .map_err(|e| CardError::Reader(e.to_string()))?;
        if response.is_empty() {
            // The card left the field during the command (the reader has
            // already cut its power).
            self.removed = true;
            return Err(CardError::Removed);
        }
        Ok(response)
    }

    fn disconnect(&mut self) {
        if let Some(reader) = &mut self.reader
            && !self.removed
        {
            reader.disconnect();
        }
    }
}

// ---------------------------------------------------------------------------
// Expectations
// ---------------------------------------------------------------------------

/// What a run left, for the expectations to be checked against.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    /// The client's outcome, or why it gave none.
    pub outcome: Result<&'a ClientOutcome, &'a str>,
    pub trace: &'a [TraceRecord],
    /// The card's auth PIN tries left afterwards (`None`: no card).
    pub auth_tries_left: Option<u8>,
    /// Confirmations in the history that showed qualification information.
    pub history_count: Result<usize, String>,
    /// What each of the scenario's result searches listed.
    pub history_searches: Vec<Result<usize, String>>,
    pub method: Method,
}

/// Checks every expectation (and the given conformance rules), one
/// [`Check`] each, in the order the format lists them. A client that gave
/// no outcome at all fails a `client` check, whatever else is expected.
pub fn check_expectations(
    expect: &Expectations,
    rules: &[Rule],
    observed: &Observed<'_>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let outcome = observed.outcome.ok();
    let no_outcome = || match observed.outcome {
        Ok(_) => String::new(),
        Err(e) => format!("no outcome ({e})"),
    };
    if let Err(e) = observed.outcome {
        checks.push(Check::new(
            "client",
            "an outcome",
            format!("no outcome ({e})"),
        ));
    }
    // Compares an optional text the outcome carries with the expected one.
    let compare = |name: &str, expected: &str, actual: Option<Option<String>>| {
        let actual = match actual {
            None => no_outcome(),
            Some(None) => "(none)".to_string(),
            Some(Some(value)) => value,
        };
        Check::new(name, expected, actual)
    };
    if let Some(kind) = expect.outcome {
        checks.push(compare(
            "outcome",
            &outcome_name(kind),
            outcome.map(|o| Some(outcome_name(o.outcome))),
        ));
    }
    if let Some(validity) = &expect.validity {
        checks.push(compare(
            "validity",
            validity,
            outcome.map(|o| o.validity.clone()),
        ));
    }
    if let Some(code) = &expect.processing_result_code {
        checks.push(compare(
            "processing_result_code",
            code,
            outcome.map(|o| o.processing_result_code.clone()),
        ));
    }
    for banner in &expect.banners {
        let shown = outcome.map(|o| o.banners.clone());
        let check = match &shown {
            Some(list) if list.contains(banner) => Check::pass("banner", banner, banner),
            Some(list) => Check::new(
                "banner",
                banner,
                if list.is_empty() {
                    "(no banners)".to_string()
                } else {
                    format!("only {}", list.join(", "))
                },
            ),
            None => Check::new("banner", banner, no_outcome()),
        };
        checks.push(check);
    }
    if let Some(tries) = expect.tries_left {
        checks.push(compare(
            "tries_left",
            &tries.to_string(),
            outcome.map(|o| o.tries_left.map(|t| t.to_string())),
        ));
    }
    let result = outcome.map(|o| o.result.as_ref());
    for (field, expected) in &expect.fields {
        let name = format!("fields.{field}");
        let actual = match result {
            None => no_outcome(),
            Some(None) => "(no result)".to_string(),
            Some(Some(result)) => match first_result(result) {
                None => "(no results in the list)".to_string(),
                Some(first) => find_field(first, field)
                    .map(display_value)
                    .unwrap_or_default(),
            },
        };
        let check = if expected.is_empty() {
            // `""` means the field must be absent.
            let shown = if actual.is_empty() {
                "(absent)".to_string()
            } else {
                actual.clone()
            };
            Check {
                passed: actual.is_empty() || actual.starts_with('('),
                ..Check::new(&name, "(absent)", shown)
            }
        } else {
            Check::new(
                &name,
                expected,
                if actual.is_empty() {
                    "(absent)".into()
                } else {
                    actual
                },
            )
        };
        checks.push(check);
    }
    if let Some(count) = expect.result_count {
        let actual = match result {
            None => no_outcome(),
            Some(result) => result
                .and_then(result_list)
                .map_or(0, <[Value]>::len)
                .to_string(),
        };
        checks.push(Check::new("result_count", count.to_string(), actual));
    }
    if let Some(card) = &expect.card {
        let tries = observed.auth_tries_left;
        let show = |t: Option<u8>| t.map_or("(no card)".to_string(), |t| t.to_string());
        if let Some(expected) = card.auth_tries_left {
            checks.push(Check::new(
                "card.auth_tries_left",
                expected.to_string(),
                show(tries),
            ));
        }
        if let Some(locked) = card.auth_locked {
            let actual = tries.map_or("(no card)".to_string(), |t| (t == 0).to_string());
            checks.push(Check::new("card.auth_locked", locked.to_string(), actual));
        }
    }
    if let Some(count) = expect.history_count {
        let actual = match &observed.history_count {
            Ok(n) => n.to_string(),
            Err(e) => e.clone(),
        };
        checks.push(Check::new("history_count", count.to_string(), actual));
    }
    for (i, search) in expect.history_search.iter().enumerate() {
        let actual = match observed.history_searches.get(i) {
            Some(Ok(n)) => n.to_string(),
            Some(Err(e)) => e.clone(),
            None => "(not searched)".to_string(),
        };
        checks.push(Check::new(
            &format!("history_search[{i}]"),
            search.count.to_string(),
            actual,
        ));
    }
    for rule in rules {
        let name = format!("conformance.{}", rule.name());
        checks.push(match rule.check(observed.trace, observed.method) {
            Ok(()) => Check::pass(&name, "no violation", "no violation"),
            Err(violation) => Check::new(&name, "no violation", violation),
        });
    }
    checks
}

/// An outcome kind as scenario files write it (`wrong-pin`).
pub fn outcome_name(kind: OutcomeKind) -> String {
    match serde_json::to_value(kind) {
        Ok(Value::String(name)) => name,
        _ => format!("{kind:?}"),
    }
}

/// The result list of a service outcome (`MessageBody.ResultList`).
fn result_list(result: &Value) -> Option<&[Value]> {
    result
        .get("MessageBody")
        .unwrap_or(result)
        .get("ResultList")?
        .as_array()
        .map(Vec::as_slice)
}

fn first_result(result: &Value) -> Option<&Value> {
    result_list(result)?.first()
}

/// A field by official element name, in the result or any group nested in it
/// (depth first), so `ElderlyRecipientContributionRatio` is found wherever
/// the result groups it.
fn find_field<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    match value {
        Value::Object(map) => map
            .get(name)
            .or_else(|| map.values().find_map(|v| find_field(v, name))),
        Value::Array(items) => items.iter().find_map(|v| find_field(v, name)),
        _ => None,
    }
}

/// A field's value as a scenario writes it: text as is, `null` as absent,
/// anything else as JSON.
fn display_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outcome() -> ClientOutcome {
        ClientOutcome {
            outcome: OutcomeKind::Confirmed,
            message: "ok".into(),
            validity: Some("1".into()),
            processing_result_code: None,
            banners: vec!["義務教育就学前".into()],
            tries_left: Some(3),
            result: Some(json!({
                "MessageHeader": {},
                "MessageBody": {
                    "QualificationValidity": "1",
                    "ResultList": [
                        {"InsurerNumber": "06139990", "ElderlyRecipient": {"Ratio": 2}},
                        {"InsurerNumber": "01010016"}
                    ]
                }
            })),
        }
    }

    fn observed(outcome: &ClientOutcome) -> Observed<'_> {
        Observed {
            outcome: Ok(outcome),
            trace: &[],
            auth_tries_left: Some(3),
            history_count: Ok(1),
            history_searches: Vec::new(),
            method: Method::Pin,
        }
    }

    fn failed(checks: &[Check]) -> Vec<&str> {
        checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.expectation.as_str())
            .collect()
    }

    #[test]
    fn fields_are_found_nested_and_absence_is_expressible() {
        let o = outcome();
        let expect = Expectations {
            fields: [
                ("InsurerNumber".to_string(), "06139990".to_string()),
                ("Ratio".to_string(), "2".to_string()),
                ("NameOfOther".to_string(), String::new()),
            ]
            .into(),
            result_count: Some(2),
            ..Expectations::default()
        };
        let checks = check_expectations(&expect, &[], &observed(&o));
        assert_eq!(failed(&checks), Vec::<&str>::new(), "{checks:?}");
        let expect = Expectations {
            fields: [("InsurerNumber".to_string(), String::new())].into(),
            ..Expectations::default()
        };
        let checks = check_expectations(&expect, &[], &observed(&o));
        assert_eq!(failed(&checks), ["fields.InsurerNumber"]);
        assert_eq!(checks[0].actual, "06139990");
    }

    #[test]
    fn no_outcome_fails_the_client_check_and_every_outcome_expectation() {
        let expect = Expectations {
            outcome: Some(OutcomeKind::Confirmed),
            tries_left: Some(3),
            ..Expectations::default()
        };
        let o = outcome();
        let mut seen = observed(&o);
        seen.outcome = Err("exit status 1");
        let checks = check_expectations(&expect, &[], &seen);
        assert_eq!(failed(&checks), ["client", "outcome", "tries_left"]);
        assert!(checks[1].actual.contains("exit status 1"));
    }

    fn setup(person: &str) -> CardSetup {
        CardSetup {
            person: person.into(),
            auth_tries_left: None,
            removed_at_apdu: None,
            absent: false,
            variant: None,
            phone: None,
            face_id_seconds_before_hold: None,
            wallet_opened: None,
            reader: Default::default(),
        }
    }

    #[test]
    fn the_card_setup_picks_the_physical_card_or_a_phone() {
        let persons = built_in_persons().unwrap();
        let held = |s: &CardSetup| held_card(s, persons);
        // The physical card by default, or in the variant asked for.
        let card = held(&setup("phone-replaced")).unwrap();
        assert_eq!(card.profile.unwrap().variant, Variant::PhysicalContact);
        let contactless = held(&CardSetup {
            variant: Some(Variant::PhysicalContactless),
            ..setup("valid")
        })
        .unwrap();
        assert_eq!(contactless.variant, Variant::PhysicalContactless);
        // A phone by variant is the newest of that kind; by id, that one.
        let iphone = held(&CardSetup {
            variant: Some(Variant::Iphone),
            ..setup("phone-replaced")
        })
        .unwrap();
        assert!(iphone.key.contains("new-iphone"), "{}", iphone.key);
        let old = held(&CardSetup {
            phone: Some("old-android".into()),
            ..setup("phone-replaced")
        })
        .unwrap();
        assert_eq!(old.variant, Variant::Android);
        // Wallet closed.
        let closed = held(&CardSetup {
            variant: Some(Variant::Iphone),
            wallet_opened: Some(false),
            ..setup("iphone")
        })
        .unwrap();
        assert!(!closed.profile.unwrap().phone.wallet_opened);
        // A person without an iPhone holds one without the card.
        let without = held(&CardSetup {
            variant: Some(Variant::Iphone),
            ..setup("junior")
        })
        .unwrap();
        assert!(without.profile.is_none());
        // What does not fit is a setup error that says why.
        let errors = [
            (
                CardSetup {
                    phone: Some("nope".into()),
                    ..setup("phone-replaced")
                },
                "card.phone",
            ),
            (
                CardSetup {
                    phone: Some("old-android".into()),
                    variant: Some(Variant::Iphone),
                    ..setup("phone-replaced")
                },
                "card.variant",
            ),
            (
                CardSetup {
                    face_id_seconds_before_hold: Some(5),
                    ..setup("valid")
                },
                "only for an iPhone",
            ),
            (
                CardSetup {
                    wallet_opened: Some(false),
                    variant: Some(Variant::Android),
                    ..setup("android")
                },
                "only for an iPhone",
            ),
            (
                CardSetup {
                    variant: Some(Variant::Iphone),
                    face_id_seconds_before_hold: Some(5),
                    ..setup("junior")
                },
                "no iphone phone",
            ),
            (setup("nobody"), "no fixture person"),
        ];
        for (bad, expected) in errors {
            let error = held(&bad).err().unwrap();
            assert!(error.contains(expected), "{bad:?}: {error}");
        }
    }

    #[test]
    fn face_id_before_the_hold_opens_the_iphones_window() {
        let scenario = |seconds: u64| -> Scenario {
            let text = format!(
                "name = \"x\"\nrule = \"x\"\n[card]\nperson = \"iphone\"\nvariant = \"iphone\"\nface_id_seconds_before_hold = {seconds}\n[client]\nmethod = \"iphone\"\n[expect]\n"
            );
            toml::from_str(&text).unwrap()
        };
        let now = Instant::now();
        let fresh = issue_card(&scenario(5)).unwrap().unwrap();
        assert!(fresh.holder_authenticated(now));
        let stale = issue_card(&scenario(90)).unwrap().unwrap();
        assert!(!stale.holder_authenticated(now), "past the 60 s window");
    }

    #[test]
    fn a_card_leaving_the_field_is_a_removal_and_later_commands_are_caught() {
        use sim_card::reader::{Field, FlakyField, ReaderProfile};
        let persons = built_in_persons().unwrap();
        let person = sim_service::fixtures::find(persons, "valid").unwrap();
        let pki = personalize::simulated_jpki().unwrap();
        let card = personalize::issue(&person.card.profile, &pki).unwrap().card;
        let profile = ReaderProfile {
            field: Field::Flaky(FlakyField {
                seed: 1,
                drop_percent: 100,
            }),
            ..ReaderProfile::default()
        };
        let trace = SharedTrace::default();
        let mut slot = SimulatedSlot::new(
            Some(Traced::new(CardReader::new(card, profile), trace.clone())),
            None,
        );
        slot.connect().unwrap();
        let select = hex::decode("00A4040C0AD392F000260100000001").unwrap();
        assert_eq!(slot.transmit(&select), Err(CardError::Removed));
        let records = trace.lock().unwrap().clone();
        assert!(
            Rule::NoApduAfterRemoval
                .check(&records, Method::Pin)
                .is_ok()
        );
        // A client that keeps sending is seen doing it.
        assert_eq!(slot.transmit(&select), Err(CardError::Removed));
        assert_eq!(slot.connect(), Err(CardError::NoCard));
        let records = trace.lock().unwrap().clone();
        assert!(
            Rule::NoApduAfterRemoval
                .check(&records, Method::Pin)
                .is_err()
        );
    }

    #[test]
    fn the_slot_removes_the_card_at_the_nth_apdu() {
        let persons = built_in_persons().unwrap();
        let person = sim_service::fixtures::find(persons, "valid").unwrap();
        let pki = personalize::simulated_jpki().unwrap();
        let card = personalize::issue(&person.card.profile, &pki).unwrap().card;
        let trace = SharedTrace::default();
        let mut slot = SimulatedSlot::new(
            Some(Traced::new(
                CardReader::new(card, Default::default()),
                trace.clone(),
            )),
            Some(2),
        );
        slot.connect().unwrap();
        let select = hex::decode("00A4040C0AD392F000260100000001").unwrap();
        assert!(slot.transmit(&select).is_ok());
        assert_eq!(slot.transmit(&select), Err(CardError::Removed));
        assert_eq!(slot.transmit(&select), Err(CardError::Removed));
        assert_eq!(slot.connect(), Err(CardError::NoCard));
        let records = trace.lock().unwrap();
        let apdus: Vec<_> = records
            .iter()
            .filter(|r| r.event == sim_card::trace::TraceEvent::Apdu)
            .collect();
        // One answered; the one pulled out and the one after have no answer.
        let answered: Vec<_> = apdus.iter().map(|r| r.sw.is_some()).collect();
        assert_eq!(answered, [true, false, false]);
        drop(records);
        let mut empty = SimulatedSlot::new(None, None);
        assert_eq!(empty.connect(), Err(CardError::NoCard));
    }
}
