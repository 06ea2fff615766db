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
//!
//! The parts live in their own modules: the client contract
//! ([`super::contract`]), the scenario's service ([`super::service`]) and
//! card ([`super::card`]), and the expectation checks
//! ([`super::expectations`]). This one runs them in order, on worker threads.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Instant;

use sim_card::reader::SimulatedReader as CardReader;
use sim_card::trace::{SharedTrace, TraceRecord, Traced};

use super::card::{SimulatedSlot, issue_card};
use super::conformance::Rule;
use super::contract::{ClientRun, ClientUnderTest, Reader, RunSetup, Transport};
use super::expectations::{Observed, check_expectations, device_check};
use super::format::Expectations;
use super::load::LoadedScenario;
use super::report::{ScenarioReport, Stamps};
use super::secrets::{Public, Secrets};
use super::service::{ScenarioService, prepare_facility};

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
    /// Over PC/SC: this computer's vpcd slots, or another computer's.
    pub readers: super::pcsc_slot::VpcdReaders,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            transport: Transport::InProcess,
            pcsc_slots: 2,
            conformance_profile: false,
            readers: super::pcsc_slot::VpcdReaders::Local,
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
            // A remote reader: one, named as its PC/SC names it.
            Transport::Pcsc if self.options.readers != super::pcsc_slot::VpcdReaders::Local => 1,
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

    /// Runs one scenario and redacts its report: nothing leaves the runner
    /// with a secret in it.
    fn run_one_in_slot(&self, loaded: &LoadedScenario, slot: u8) -> ScenarioReport {
        let mut report = self.run_checks(loaded, slot);
        report.redact(&Secrets::of_scenario(&loaded.scenario));
        report
    }

    fn run_checks(&self, loaded: &LoadedScenario, slot: u8) -> ScenarioReport {
        // A story's holds take the same `[client]` inputs: skipped alike.
        if loaded.scenario.client.reselect_before_sign && !self.client.reselects_on_request() {
            return ScenarioReport::new(loaded).skip(
                "the scenario prescribes the client's flow (reselect_before_sign), \
                 which only the reference client takes"
                    .into(),
            );
        }
        if !loaded.scenario.steps.is_empty() {
            return super::steps::run_story(
                loaded,
                &super::steps::StoryContext {
                    runtime: &self.runtime,
                    transport: self.options.transport,
                    slot,
                    readers: &self.options.readers,
                    rules_for: &|expect| self.rules_for(expect),
                    call_client: &|setup| self.call_client(setup),
                },
            );
        }
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
                    &self.options.readers,
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
        let devices = service.history_devices(&inputs.facility);
        let xml = match scenario.expect.xml {
            Some(_) => service.xml_since(&inputs.facility, 0),
            None => Err("not asked".into()),
        };
        drop(service);
        let observed = Observed {
            outcome: run.outcome.as_ref().map_err(String::as_str),
            trace: &records,
            auth_tries_left: card_after,
            history_count: history,
            history_searches,
            method: inputs.method,
            leaks: &run.leaks,
            xml,
        };
        let mut checks = check_expectations(&scenario.expect, &rules, &observed);
        checks.extend(device_check(&recorded_device(scenario), &devices));
        report.finish(
            run,
            records,
            checks,
            Stamps {
                started,
                setup_done,
                client_done,
            },
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

    /// Runs the client, then looks for the secrets it was handed in what it
    /// wrote; a panic in an in-process client is that scenario's failure,
    /// not the run's end.
    fn call_client(&self, setup: RunSetup<'_>) -> ClientRun {
        let secrets = Secrets::handed(setup.inputs, setup.app);
        let mut run = match std::panic::catch_unwind(AssertUnwindSafe(|| self.client.run(setup))) {
            Ok(run) => run,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(no message)".into());
                ClientRun::of(Err(format!("the client panicked: {message}")))
            }
        };
        run.leaks = leaks(&secrets, &run);
        run
    }
}

/// The device the service records for the scenario's confirmations: the
/// device the client was handed (`KAZASU_DEVICE`), or on the app channel
/// the activation code's memo, which the service records instead (and
/// which is the device's name unless the scenario sets its own memo).
fn recorded_device(scenario: &super::format::Scenario) -> String {
    scenario
        .facility
        .as_ref()
        .and_then(|f| f.memo.clone())
        .unwrap_or_else(|| scenario.client.device.clone())
}

/// Where a client run showed a secret it was handed: its stdout (for a
/// client in this process, the outcome it handed over, as it would print
/// it), its stderr, its log files. A secret that is also a value of the
/// service's answer counts only where labelled (see [`super::secrets`]).
fn leaks(secrets: &Secrets, run: &ClientRun) -> Vec<String> {
    if secrets.is_empty() {
        return Vec::new();
    }
    let outcome = run.outcome.as_ref().ok();
    let public = Public::of_json(outcome.and_then(|o| o.result.as_ref()));
    let stdout = match (&run.stdout, outcome) {
        (printed, _) if !printed.is_empty() => printed.clone(),
        (_, Some(outcome)) => serde_json::to_string(outcome).unwrap_or_default(),
        (_, None) => String::new(),
    };
    let mut found = secrets.leaks_in("stdout", &stdout, &public);
    // An in-process client's error is what it would have printed; an
    // external one's quotes its stdout and stderr, already looked at.
    if let Err(error) = &run.outcome
        && run.stdout.is_empty()
        && run.stderr.is_empty()
    {
        found.extend(secrets.leaks_in("its error", error, &public));
    }
    found.extend(secrets.leaks_in("stderr", &run.stderr, &public));
    for (name, text) in &run.logs {
        found.extend(secrets.leaks_in(&format!("log file {name}"), text, &public));
    }
    found
}
