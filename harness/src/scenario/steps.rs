//! Runs a story (`[[step]]`): one service, one reader and one card for the
//! whole story, each step's action done on them in order and its
//! expectations checked right after it.
//!
//! What a step did is said in terms of the step: every check is named
//! `step N (action): expectation`, so the terminal, JUnit and HTML reports,
//! which show failures by name, say which step failed, what was expected and
//! what was seen. A step whose action cannot be done (a card to put back
//! when none was taken out, an answer file that never came) fails with a
//! check of its own and ends the story: later steps would check a world the
//! story did not mean.

use std::time::Instant;

use sim_card::card::Card;
use sim_card::personalize::AUTH_PIN;
use sim_card::reader::SimulatedReader as CardReader;
use sim_card::trace::{SharedTrace, TraceRecord, Traced};
use sim_service::after_confirmation::folder::OqsFolder;
use sim_service::model::MedicalInstitutionCode;
use sim_service::oqs_dir::{Handled, Watcher};

use super::card::{ScenarioCard, SimulatedSlot, issue_card};
use super::conformance::Rule;
use super::contract::{ClientRun, Reader, RunSetup, Transport};
use super::expectations::{Observed, check_expectations};
use super::format::{Expectations, Scenario};
use super::load::LoadedScenario;
use super::pcsc_slot::PcscSlot;
use super::report::{Check, ScenarioReport, Stamps};
use super::service::{ScenarioService, prepare_facility, register_reference_numbers};
use super::story::{Action, Step, character_code, parse_day};
use crate::client::CheckInputs;
use crate::client::app::AppLogin;

/// What the runner lends a story: its I/O runtime, how the client reaches
/// the card, the rules to check and the client itself.
pub(super) struct StoryContext<'a> {
    pub runtime: &'a tokio::runtime::Runtime,
    pub transport: Transport,
    /// The vpcd slot over PC/SC.
    pub slot: u8,
    /// Whose vpcd the slot is: the local pcscd's or another computer's.
    pub readers: &'a super::pcsc_slot::VpcdReaders,
    pub rules_for: &'a dyn Fn(&Expectations) -> Vec<Rule>,
    pub call_client: &'a dyn Fn(RunSetup<'_>) -> ClientRun,
}

/// Where the story's card is: in the reader (in process or on vpcd), or out
/// of it in the lab's hands.
enum Holder {
    InProcess(SimulatedSlot),
    Pcsc(PcscSlot),
    /// Taken out (`remove-card`), or never there (`card.absent`).
    Out(Option<ScenarioCard>),
}

/// The story's reader and card.
struct StoryCard {
    holder: Holder,
    trace: SharedTrace,
    /// The fixture person whose card is held (for the receipt computer).
    person: String,
}

impl StoryCard {
    fn wrap(&self, card: Card, scenario: &Scenario) -> ScenarioCard {
        Traced::new(
            CardReader::new(card, scenario.card.reader.clone()),
            self.trace.clone(),
        )
    }

    /// Puts `card` into the reader (or makes sure it is empty).
    fn insert(
        &mut self,
        card: Option<ScenarioCard>,
        context: &StoryContext<'_>,
        removed_at_apdu: Option<usize>,
    ) -> Result<(), String> {
        self.holder = match context.transport {
            Transport::InProcess => match card {
                Some(card) => Holder::InProcess(SimulatedSlot::new(Some(card), removed_at_apdu)),
                None => Holder::Out(None),
            },
            Transport::Pcsc => match card {
                Some(card) => Holder::Pcsc(PcscSlot::insert(
                    context.runtime,
                    context.slot,
                    Some(card),
                    removed_at_apdu,
                    context.readers,
                )?),
                None => {
                    // The reader stays, empty: pcscd must see no card.
                    drop(PcscSlot::insert(
                        context.runtime,
                        context.slot,
                        None,
                        None,
                        context.readers,
                    )?);
                    Holder::Out(None)
                }
            },
        };
        Ok(())
    }

    /// Takes the card out of the reader; the card as it is then.
    fn take_out(&mut self, context: &StoryContext<'_>) -> Option<ScenarioCard> {
        match std::mem::replace(&mut self.holder, Holder::Out(None)) {
            Holder::InProcess(slot) => slot.into_card(),
            Holder::Pcsc(mut slot) => slot.take_out(context.runtime),
            Holder::Out(card) => card,
        }
    }

    /// Does something to the card itself, wherever it is.
    fn with_card<R>(&mut self, f: impl FnOnce(&mut Card) -> R) -> Option<R> {
        match &mut self.holder {
            Holder::InProcess(slot) => slot.card_mut().map(f),
            Holder::Pcsc(slot) => slot.with_card(|c| f(c.card_mut().card_mut())),
            Holder::Out(card) => card.as_mut().map(|c| f(c.card_mut().card_mut())),
        }
    }

    fn auth_tries_left(&mut self) -> Option<u8> {
        self.with_card(|card| card.pin_tries_left(AUTH_PIN))
            .flatten()
    }
}

/// Runs a story and reports it as one scenario.
pub(super) fn run_story(loaded: &LoadedScenario, context: &StoryContext<'_>) -> ScenarioReport {
    let started = Instant::now();
    let scenario = &loaded.scenario;
    let mut report = ScenarioReport::new(loaded);
    let service = match ScenarioService::start(scenario, context.runtime) {
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
    let mut world = World {
        app,
        passwords: Default::default(),
        changed: Vec::new(),
    };
    let trace = SharedTrace::default();
    let mut card = StoryCard {
        holder: Holder::Out(None),
        trace: trace.clone(),
        person: scenario.card.person.clone(),
    };
    let issued = match issue_card(scenario) {
        Ok(issued) => issued.map(|c| card.wrap(c, scenario)),
        Err(e) => return report.setup_failed(e, started),
    };
    if let Err(e) = card.insert(issued, context, scenario.card.removed_at_apdu) {
        return report.setup_failed(e, started);
    }
    let setup_done = Instant::now();

    let mut checks = Vec::new();
    let mut last_run = None;
    for (index, step) in scenario.steps.iter().enumerate() {
        let label = format!("step {} ({})", index + 1, step.action.name());
        let from = trace.lock().unwrap_or_else(|e| e.into_inner()).len();
        let mut story = Story {
            scenario,
            service: &service,
            world: &mut world,
            card: &mut card,
            context,
            id: &loaded.id,
        };
        let done = story.act(step);
        let records: Vec<TraceRecord> =
            trace.lock().unwrap_or_else(|e| e.into_inner())[from..].to_vec();
        let step_checks = match done {
            Err(e) => {
                checks.push(Check::new(&label, "done", e));
                break;
            }
            Ok(done) => story.check(step, done, &records, &mut last_run),
        };
        checks.extend(step_checks.into_iter().map(|mut check| {
            check.expectation = format!("{label}: {}", check.expectation);
            check
        }));
    }
    let client_done = Instant::now();
    if let Holder::Pcsc(slot) = &mut card.holder {
        slot.remove(context.runtime);
    }
    drop(service);
    let records = trace.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let run = last_run.unwrap_or_else(|| ClientRun::of(Err("no step held the card".into())));
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

/// What a step's action left for its checks.
enum Done {
    /// The client ran; the newest confirmation before it (its XmlMsg are
    /// those recorded after).
    Held(Box<(ClientRun, CheckInputs)>, i64),
    /// The XmlMsg documents the receipt computer received, as written.
    Xml(Vec<Vec<u8>>),
    /// Anything else: only the card and the history can be checked.
    Acted,
}

/// What the steps change besides the service and the card.
struct World {
    /// The staff's app login as the device holds it now.
    app: Option<AppLogin>,
    /// The passwords of the accounts `create-account` made, by user ID.
    passwords: std::collections::HashMap<String, String>,
    /// Persons as the service holds them after a step changed them (a
    /// phone added): cards are issued from these from then on.
    changed: Vec<sim_service::fixtures::InsuredPerson>,
}

/// One step's view of the story's world.
struct Story<'s, 'c> {
    scenario: &'s Scenario,
    service: &'s ScenarioService,
    world: &'s mut World,
    card: &'s mut StoryCard,
    context: &'s StoryContext<'c>,
    id: &'s str,
}

impl Story<'_, '_> {
    fn facility(&self) -> Result<MedicalInstitutionCode, String> {
        MedicalInstitutionCode::new(&self.scenario.client.facility)
            .map_err(|e| format!("client.facility: {e}"))
    }

    /// The account a step acts on: its own `user_id`, or the facility's.
    fn user_id(&self, step: &Step) -> Result<String, String> {
        if let Some(user) = &step.user_id {
            return Ok(user.clone());
        }
        self.scenario
            .facility
            .as_ref()
            .map(|f| f.user_id.clone())
            .ok_or_else(|| "needs a [facility]".to_string())
    }

    /// The scenario as the story has changed it: the persons changed in
    /// earlier steps first, so cards are issued as the service now knows
    /// them.
    fn as_changed(&self) -> Scenario {
        let mut scenario = self.scenario.clone();
        scenario
            .persons
            .retain(|p| !self.world.changed.iter().any(|c| c.id == p.id));
        scenario
            .persons
            .splice(0..0, self.world.changed.iter().cloned());
        scenario
    }

    /// Holds `other`'s card from now on, in place of the one held.
    fn hold_instead(&mut self, other: &Scenario) -> Result<(), String> {
        let issued = issue_card(other)?.ok_or("no card to hold")?;
        let wrapped = self.card.wrap(issued, other);
        drop(self.card.take_out(self.context));
        self.card.insert(Some(wrapped), self.context, None)?;
        self.card.person = other.card.person.clone();
        Ok(())
    }

    /// The client's device memo (端末識別メモ情報).
    fn device_memo(&self) -> String {
        self.scenario
            .facility
            .as_ref()
            .and_then(|f| f.memo.clone())
            .unwrap_or_else(|| self.scenario.client.device.clone())
    }

    /// Does the step's action.
    fn act(&mut self, step: &Step) -> Result<Done, String> {
        let state = &self.service.state;
        let missing = |field: &str| format!("{field}: required");
        match step.action {
            Action::Hold => {
                let mut inputs = self.scenario.client.clone();
                if let Some(pin) = &step.pin {
                    inputs.pin = Some(pin.clone());
                }
                if let Some(method) = step.method {
                    inputs.method = method;
                }
                if let Some(consent) = step.consent_to_register {
                    inputs.consent_to_register = consent;
                }
                let mut app = self.world.app.clone();
                if let Some(login) = &mut app {
                    if let Some(user) = &step.user_id {
                        login.user_id = user.clone();
                        if let Some(password) = self.world.passwords.get(user) {
                            login.password = password.clone();
                        }
                    }
                    if let Some(password) = &step.password {
                        login.password = password.clone();
                    }
                }
                // Its XmlMsg are those recorded after the newest before it
                // (looked up only when the step checks them).
                let before = match step.expect.xml {
                    Some(_) => self
                        .service
                        .newest_confirmation(&self.scenario.client.facility)?,
                    None => 0,
                };
                let run = self.hold(&inputs, app.as_ref());
                Ok(Done::Held(Box::new((run, inputs)), before))
            }
            Action::SetClock => {
                let text = step.at.as_deref().ok_or_else(|| missing("at"))?;
                let at = time::OffsetDateTime::parse(
                    text,
                    &time::format_description::well_known::Rfc3339,
                )
                .map_err(|e| format!("at {text:?}: {e}"))?;
                state.set_clock(at, true);
                Ok(Done::Acted)
            }
            Action::AdvanceClock => {
                let seconds = step.seconds.ok_or_else(|| missing("seconds"))?;
                state
                    .advance_clock(time::Duration::seconds(i64::from(seconds)))
                    .map_err(|e| format!("seconds: {e}"))?;
                Ok(Done::Acted)
            }
            Action::RemoveCard => {
                if matches!(self.card.holder, Holder::Out(_)) {
                    return Err("no card in the reader to take out".into());
                }
                let taken = self.card.take_out(self.context);
                self.card.holder = Holder::Out(taken);
                if self.context.transport == Transport::Pcsc {
                    // Make sure pcscd sees the reader empty.
                    drop(PcscSlot::insert(
                        self.context.runtime,
                        self.context.slot,
                        None,
                        None,
                        self.context.readers,
                    )?);
                }
                Ok(Done::Acted)
            }
            Action::InsertCard => {
                let Holder::Out(taken) = &mut self.card.holder else {
                    return Err("a card is already in the reader".into());
                };
                let card = taken
                    .take()
                    .ok_or("no card was taken out to put back (swap-card holds another)")?;
                self.card.insert(Some(card), self.context, None)?;
                Ok(Done::Acted)
            }
            Action::SwapCard => {
                let mut other = self.as_changed();
                if let Some(person) = &step.person {
                    other.card.person = person.clone();
                    other.card.phone = None;
                    other.card.variant = None;
                }
                if step.variant.is_some() {
                    other.card.variant = step.variant;
                    other.card.phone = None;
                }
                if step.phone.is_some() {
                    other.card.phone = step.phone.clone();
                }
                other.card.auth_tries_left = None;
                other.card.face_id_seconds_before_hold = None;
                other.card.removed_at_apdu = None;
                other.card.absent = false;
                self.hold_instead(&other)?;
                Ok(Done::Acted)
            }
            Action::RevokeCertificate => {
                let person = step.person.as_ref().unwrap_or(&self.card.person);
                state
                    .revoke_certificate(person, step.phone.as_deref())
                    .map_err(|e| format!("revocation: {e}"))?;
                Ok(Done::Acted)
            }
            Action::AddPhone => self.add_phone(step).map(|()| Done::Acted),
            Action::LockPin | Action::ResetPin => {
                let tries = if step.action == Action::LockPin { 0 } else { 3 };
                match self
                    .card
                    .with_card(|card| card.set_pin_tries_left(AUTH_PIN, tries))
                {
                    Some(true) => Ok(Done::Acted),
                    Some(false) => Err("the card has no auth PIN".into()),
                    None => Err("no card".into()),
                }
            }
            Action::FaceId => match self
                .card
                .with_card(|card| card.authenticate_holder(Instant::now()))
            {
                Some(true) => Ok(Done::Acted),
                Some(false) => Err("only an iPhone authenticates its holder".into()),
                None => Err("no card".into()),
            },
            Action::WrongPasswords => {
                use sim_service::facility::FacilityError;
                let facility = self.facility()?;
                let user = self.user_id(step)?;
                for _ in 0..step.count.ok_or_else(|| missing("count"))? {
                    match state.check_password(&facility, &user, "Wr0ng-password") {
                        Err(
                            FacilityError::BadCredentials | FacilityError::AccountLocked { .. },
                        ) => {}
                        Ok(_) => return Err("the wrong password was accepted".into()),
                        Err(e) => return Err(format!("wrong password: {e}")),
                    }
                }
                Ok(Done::Acted)
            }
            Action::LockAccount => {
                let facility = self.facility()?;
                let user = self.user_id(step)?;
                state
                    .lock_account(&facility, &user)
                    .map_err(|e| format!("lock: {e}"))?;
                Ok(Done::Acted)
            }
            Action::CreateAccount => {
                use sim_service::facility::{NewAccount, Role};
                let facility = self.facility()?;
                let user = self.user_id(step)?;
                let password = step.password.clone().ok_or_else(|| missing("password"))?;
                let new = NewAccount {
                    role: Role::General,
                    user_id: user.clone(),
                    name: "資格確認 担当".into(),
                    kana: "シカクカクニン タントウ".into(),
                    start_date: sim_service::clock::jst_date(state.clock.now()),
                    password: password.clone(),
                };
                state
                    .register_account(&facility, new)
                    .map_err(|e| format!("account: {e}"))?;
                if step.system_login.unwrap_or(true) {
                    state
                        .system_login(&facility, &user, &password, None)
                        .map_err(|e| format!("system login: {e}"))?;
                }
                self.world.passwords.insert(user, password);
                Ok(Done::Acted)
            }
            Action::IssueActivationCode => {
                let facility = self.facility()?;
                let memo = step.memo.clone().unwrap_or_else(|| self.device_memo());
                let code = state
                    .issue_activation_code(&facility, &memo)
                    .map_err(|e| format!("activation code: {e}"))?;
                if memo == self.device_memo()
                    && let Some(login) = &mut self.world.app
                {
                    // The device is set up again: its next start registers
                    // with the new code.
                    login.activation_code = Some(code.code);
                    login.device_token = None;
                }
                Ok(Done::Acted)
            }
            Action::UnlockAccount => {
                let facility = self.facility()?;
                let user = self.user_id(step)?;
                let update = sim_service::facility::AccountUpdate {
                    unlock: true,
                    ..Default::default()
                };
                state
                    .update_account(&facility, &user, update)
                    .map_err(|e| format!("unlock: {e}"))?;
                Ok(Done::Acted)
            }
            Action::Environment => {
                let facility = self.facility()?;
                let change = sim_service::service::facility::EnvironmentChange {
                    outpatient_flow: step.outpatient_flow,
                    activation_delay_seconds: None,
                };
                state
                    .change_environment(&facility, change)
                    .map_err(|e| format!("environment: {e}"))?;
                Ok(Done::Acted)
            }
            Action::InvalidateActivationCode => {
                let facility = self.facility()?;
                let memo = self.device_memo();
                let codes = state
                    .activation_codes(&facility)
                    .map_err(|e| format!("activation codes: {e}"))?;
                let mine: Vec<_> = codes.into_iter().filter(|c| c.memo == memo).collect();
                if mine.is_empty() {
                    return Err(format!("no activation code with the memo {memo:?}"));
                }
                for code in mine {
                    state
                        .invalidate_activation_code(&facility, &code.code)
                        .map_err(|e| format!("invalidation: {e}"))?;
                }
                Ok(Done::Acted)
            }
            Action::Notice => {
                let notice = sim_service::facility::NewNotice {
                    title: step.title.clone().ok_or_else(|| missing("title"))?,
                    link: String::new(),
                    outage: false,
                };
                state
                    .publish_notice(notice)
                    .map_err(|e| format!("notice: {e}"))?;
                Ok(Done::Acted)
            }
            Action::ReceiptRequest => self
                .receipt_request(step)
                .map(|answer| Done::Xml(vec![answer])),
            Action::ReceiptDownload => self.receipt_download().map(Done::Xml),
            Action::RegisterReferenceNumber => {
                let setup = step
                    .reference_number
                    .clone()
                    .ok_or_else(|| missing("reference_number"))?;
                register_reference_numbers(state, &[setup])?;
                Ok(Done::Acted)
            }
            Action::FaultsOn => {
                let faults = step.faults.clone().ok_or_else(|| missing("faults"))?;
                let faults: sim_service::http::FaultSet =
                    serde_json::from_value(faults).map_err(|e| format!("faults: {e}"))?;
                faults.validate().map_err(|e| format!("faults: {e}"))?;
                state.faults.set(faults);
                Ok(Done::Acted)
            }
            Action::FaultsOff => {
                state.faults.set(Default::default());
                Ok(Done::Acted)
            }
        }
    }

    /// The client checks the card in the reader now.
    fn hold(&mut self, inputs: &CheckInputs, app: Option<&AppLogin>) -> ClientRun {
        let context = self.context;
        let setup = |reader| RunSetup {
            id: self.id,
            inputs,
            service_url: &self.service.url,
            reader,
            app,
        };
        match &mut self.card.holder {
            Holder::InProcess(slot) => (context.call_client)(setup(Reader::InProcess(slot))),
            Holder::Out(_) if context.transport == Transport::InProcess => {
                let mut empty = SimulatedSlot::new(None, None);
                (context.call_client)(setup(Reader::InProcess(&mut empty)))
            }
            Holder::Pcsc(_) | Holder::Out(_) => {
                let name = context.readers.reader_name(context.slot);
                (context.call_client)(setup(Reader::Pcsc { name }))
            }
        }
    }

    /// The patient adds their card to a new phone, through the service as
    /// the phone's enrolment would, and holds that phone from now on.
    fn add_phone(&mut self, step: &Step) -> Result<(), String> {
        let state = &self.service.state;
        let person_id = step
            .person
            .clone()
            .unwrap_or_else(|| self.card.person.clone());
        let variant = step.variant.ok_or("variant: required")?;
        let known = super::persons::find(&self.as_changed(), &person_id)?
            .ok_or_else(|| format!("no person {person_id:?}"))?
            .clone();
        let not_after = match &step.not_after {
            Some(day) => parse_day(day)?,
            None => known.card.profile.certificates.auth.not_after,
        };
        let added = state
            .add_phone(
                &person_id,
                sim_service::service::PhoneToAdd {
                    variant,
                    not_before: state.clock.now_jst().date(),
                    not_after,
                    id: step.phone.clone(),
                    added: None,
                    pin: step.pin.clone(),
                },
            )
            .map_err(|e| format!("add-phone: {e}"))?;
        // The person as the service holds them now, new phone included.
        let stored = state
            .store
            .person(&person_id)
            .map_err(|e| format!("add-phone: {e}"))?
            .ok_or_else(|| format!("add-phone: the service lost {person_id:?}"))?;
        let person: sim_service::fixtures::InsuredPerson = toml::from_str(&stored.fixture)
            .map_err(|e| format!("add-phone: the stored person: {e}"))?;
        self.world.changed.retain(|p| p.id != person.id);
        self.world.changed.push(person);
        let mut other = self.as_changed();
        other.card.person = person_id;
        other.card.variant = None;
        other.card.phone = Some(added.phone);
        other.card.auth_tries_left = None;
        other.card.face_id_seconds_before_hold = None;
        other.card.wallet_opened = None;
        other.card.removed_at_apdu = None;
        other.card.absent = false;
        self.hold_instead(&other)
    }

    /// The receipt computer downloads the facility's results: enrolled
    /// (its password and TOTP secret), it logs in with the code its
    /// authenticator app shows at the service clock, lists the results of
    /// the default period and downloads each as XmlMsg, oldest first.
    fn receipt_download(&self) -> Result<Vec<Vec<u8>>, String> {
        let state = &self.service.state;
        let facility = self.facility()?;
        // The receipt computer's own credential, made for this step only.
        let password = "Receipt-computer-1";
        let enrolment = state
            .enrol_receipt_computer(&facility, password)
            .map_err(|e| format!("enrolment: {e}"))?;
        let app = totp_rs::TOTP::from_url(&enrolment.otpauth_uri)
            .map_err(|e| format!("the otpauth URI: {e}"))?;
        let now = u64::try_from(state.clock.now().unix_timestamp())
            .map_err(|_| "the service clock is before 1970")?;
        let session = state
            .receipt_login(&facility, password, &app.generate(now))
            .map_err(|e| format!("login: {e}"))?;
        let results = state
            .receipt_results(&session.token, Default::default())
            .map_err(|e| format!("results: {e}"))?;
        let mut documents: Vec<_> = results.entries.iter().collect();
        documents.sort_by_key(|entry| entry.confirmation_id);
        let documents = documents
            .into_iter()
            .map(|entry| {
                state
                    .receipt_result(&session.token, entry.confirmation_id)
                    .map_err(|e| format!("result {}: {e}", entry.confirmation_id))
            })
            .collect();
        let _ = state.receipt_logout(&session.token);
        documents
    }

    /// The receipt computer drops an `OQSsiquc01req` for a person (`about`,
    /// default the held card's) in a folder of the facility's character
    /// code, and reads the answer file the service writes.
    fn receipt_request(&self, step: &Step) -> Result<Vec<u8>, String> {
        let code = character_code(step.character_code.as_deref().unwrap_or("UTF-8"))?;
        let about = step.about.as_ref().unwrap_or(&self.card.person);
        let changed = self.as_changed();
        let person =
            super::persons::find(&changed, about)?.ok_or_else(|| format!("no person {about:?}"))?;
        let q = person
            .qualifications
            .first()
            .ok_or_else(|| format!("{} has no qualification to ask for", person.id))?;
        let birth = q.birth_date.unwrap_or(person.persona().birth_date);
        let today = sim_service::clock::jst_date(self.service.state.clock.now());
        let dates = sim_service::model::dates::format_yyyymmdd;
        let encoding = code.xml_encoding_name();
        let text = format!(
            "<?xml version=\"1.0\" encoding=\"{encoding}\" standalone=\"no\"?>\n<XmlMsg><MessageHeader><QualificationConfirmationDate>{}</QualificationConfirmationDate><MedicalInstitutionCode>{}</MedicalInstitutionCode><ArbitraryFileIdentifier>story</ArbitraryFileIdentifier></MessageHeader><MessageBody><QualificationConfirmSearchInfo><InsurerNumber>{}</InsurerNumber><InsuredCardSymbol>{}</InsuredCardSymbol><InsuredIdentificationNumber>{}</InsuredIdentificationNumber><Birthdate>{}</Birthdate><LimitApplicationCertificateRelatedConsFlg>0</LimitApplicationCertificateRelatedConsFlg></QualificationConfirmSearchInfo></MessageBody></XmlMsg>",
            dates(today),
            self.scenario.client.facility,
            q.insurer_number.digits(),
            q.symbol.as_deref().unwrap_or(""),
            q.number,
            dates(birth),
        );
        let bytes = match code {
            sim_service::model::CharacterCodeIdentifier::Utf8 => text.into_bytes(),
            sim_service::model::CharacterCodeIdentifier::ShiftJis => {
                encoding_rs::SHIFT_JIS.encode(&text).0.into_owned()
            }
        };
        let dir = std::env::temp_dir().join(format!(
            "kazasu-story-{}-{}",
            std::process::id(),
            self.id.replace('/', "-")
        ));
        let folder = OqsFolder {
            dir: dir.clone(),
            facility: self.facility()?,
            character_code: code,
        };
        let answer = (|| {
            let mut watcher = Watcher::new(folder.clone(), self.service.state.service.clone())
                .map_err(|e| format!("the folder {}: {e}", dir.display()))?;
            let request = folder.req().join("OQSsiquc01req_story.xml");
            std::fs::write(&request, &bytes)
                .map_err(|e| format!("cannot write {}: {e}", request.display()))?;
            // A request is read once it has held still for two polls.
            for _ in 0..4 {
                if let Some(handled) = watcher.poll().into_iter().next() {
                    match handled {
                        Handled::Answered { response, .. } => {
                            return std::fs::read(&response)
                                .map_err(|e| format!("cannot read {}: {e}", response.display()));
                        }
                        Handled::Skipped { name, reason } => {
                            return Err(format!("the folder skipped {name}: {reason}"));
                        }
                    }
                }
            }
            Err("no answer file after four polls".to_string())
        })();
        let _ = std::fs::remove_dir_all(&dir);
        answer
    }

    /// The step's checks: its expectations against what it showed.
    fn check(
        &mut self,
        step: &Step,
        done: Done,
        records: &[TraceRecord],
        last_run: &mut Option<ClientRun>,
    ) -> Vec<Check> {
        let tries = self.card.auth_tries_left();
        let history = self.service.history_count(&self.scenario.client.facility);
        // A search at its own clock leaves the story's clock where it was.
        let clock = self.service.state.clock.now();
        let searches = self
            .service
            .history_searches(&step.expect.history_search, &self.scenario.client);
        self.service.state.clock.freeze(clock);
        let no_outcome = "this step is not a hold";
        let (run, method) = match &done {
            Done::Held(held, _) => (Some(&held.0), held.1.method),
            Done::Xml(_) | Done::Acted => (None, self.scenario.client.method),
        };
        let xml = match (&done, &step.expect.xml) {
            (_, None) => Err("not asked".to_string()),
            (Done::Held(_, before), Some(_)) => self
                .service
                .xml_since(&self.scenario.client.facility, *before),
            (Done::Xml(documents), Some(_)) => Ok(documents.clone()),
            (Done::Acted, Some(_)) => Err("this step receives no XmlMsg".to_string()),
        };
        let observed = Observed {
            outcome: match run {
                Some(run) => run.outcome.as_ref().map_err(String::as_str),
                None => Err(no_outcome),
            },
            trace: records,
            auth_tries_left: tries,
            history_count: history,
            history_searches: searches,
            method,
            leaks: run.map_or(&[], |run| run.leaks.as_slice()),
            xml,
        };
        let rules = (self.context.rules_for)(&step.expect);
        let rules = if run.is_some() { rules } else { Vec::new() };
        let mut checks = check_expectations(&step.expect, &rules, &observed);
        if run.is_none() {
            // Only the card and the history are checked after a step that
            // shows no client outcome (the loader refuses the rest).
            checks.retain(|c| c.expectation != "client");
        }
        if let Done::Held(held, _) = done {
            *last_run = Some(held.0);
        }
        checks
    }
}
