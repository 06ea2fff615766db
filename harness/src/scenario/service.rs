//! The service of one scenario: an in-memory store filled with the built-in
//! fixtures and the scenario's own persons, the scenario's clock, faults and 照会番号, served on a loopback
//! port; the facility prepared as its administrator would; and what the
//! service holds afterwards (history, result searches) for the
//! expectations.

use std::net::TcpListener;
use std::sync::OnceLock;

use sim_service::after_confirmation::reference_number::{
    ReferenceNumberRegistration, ReferenceNumberRegistrationInfo, RegistrationAnswer,
};
use sim_service::clock::{ServiceClock, jst_date};
use sim_service::http::{self, AppState, FaultSet, ServiceConfig};
use sim_service::model::{InsurerNumber, MedicalInstitutionCode};
use sim_service::service::confirm::Period;
use sim_service::store::{CertificateEntry, Store, StoredPerson};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::format::{DeviceSetup, FacilitySetup, HistorySearch, ReferenceNumberSetup, Scenario};
use super::load::built_in_persons;
use crate::client::CheckInputs;
use crate::client::app::AppLogin;

/// The service clock when a scenario does not set one: the instant the
/// built-in fixtures are designed around.
pub const REFERENCE_TIME: &str = "2026-12-01T10:00:00+09:00";

/// Registration times are scaled by this: the service's ~15 s become 15 ms,
/// so a registration scenario does not wait for real.
pub const TIME_FACTOR: f64 = 0.001;
/// One scenario's service: an in-memory store, its own clock and faults,
/// served on a loopback port until dropped.
pub(super) struct ScenarioService {
    pub(super) state: AppState,
    pub(super) url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl ScenarioService {
    pub(super) fn start(
        scenario: &Scenario,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<Self, String> {
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
        if scenario.persons.is_empty() {
            state.install_fixture_rows(persons, certificates)
        } else {
            // The scenario's own persons beside the built-in ones, in this
            // scenario's service only.
            let (own, own_certificates) = super::persons::rows(&scenario.persons)?;
            state.install_fixture_rows(
                &[persons, &own].concat(),
                &[certificates, &own_certificates].concat(),
            )
        }
        .map_err(|e| format!("service fixtures: {e}"))?;
        register_reference_numbers(&state, &setup.reference_numbers)?;
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
    pub(super) fn history_count(&self, facility: &str) -> Result<usize, String> {
        Ok(self
            .confirmations(facility)?
            .iter()
            .filter(|r| r.shows_qualification)
            .count())
    }

    /// The device each confirmation in the facility's history names, oldest
    /// first: whether the client sent the device it was handed.
    pub(super) fn history_devices(&self, facility: &str) -> Result<Vec<String>, String> {
        Ok(self
            .confirmations(facility)?
            .into_iter()
            .map(|r| r.device)
            .collect())
    }
}

impl ScenarioService {
    /// The newest confirmation the history holds at `facility` (0: none).
    pub(super) fn newest_confirmation(&self, facility: &str) -> Result<i64, String> {
        Ok(self.confirmations(facility)?.last().map_or(0, |c| c.id))
    }

    /// The XmlMsg of every confirmation at `facility` recorded after the
    /// confirmation `after`, oldest first, as the facility received each
    /// (its character code, its substitutions).
    pub(super) fn xml_since(&self, facility: &str, after: i64) -> Result<Vec<Vec<u8>>, String> {
        self.confirmations(facility)?
            .iter()
            .filter(|c| c.id > after)
            .map(|c| {
                self.state
                    .confirmation_xml(c.id)
                    .map_err(|e| format!("the XmlMsg of confirmation {}: {e}", c.id))
            })
            .collect()
    }

    /// Every confirmation at `facility`, oldest first.
    fn confirmations(
        &self,
        facility: &str,
    ) -> Result<Vec<sim_service::store::Confirmation>, String> {
        let mut rows = self
            .state
            .store
            .confirmations(
                facility,
                OffsetDateTime::UNIX_EPOCH,
                time::macros::datetime!(9999-12-31 00:00 UTC),
                None,
            )
            .map_err(|e| format!("cannot read the history: {e}"))?;
        rows.sort_by_key(|c| c.id);
        Ok(rows)
    }
}

impl ScenarioService {
    /// The scenario's result searches, each at its own clock, in order:
    /// how many entries each lists.
    pub(super) fn history_searches(
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
                let period = Period {
                    from: day("from", &search.from)?,
                    to: day("to", &search.to)?,
                };
                let device = search.this_device.then(|| inputs.device.clone());
                let facility = MedicalInstitutionCode::new(&inputs.facility)
                    .map_err(|e| format!("client.facility: {e}"))?;
                self.state
                    .search_history(&facility, period, device, None)
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
pub(super) fn prepare_facility(
    state: &AppState,
    setup: &FacilitySetup,
    inputs: &CheckInputs,
) -> Result<AppLogin, String> {
    use sim_service::facility::{FacilityError, NewAccount, NewNotice, Role};
    use sim_service::service::facility::EnvironmentChange;
    let failed = |what: &'static str| move |e: FacilityError| format!("facility: {what}: {e}");
    let facility = MedicalInstitutionCode::new(&inputs.facility)
        .map_err(|e| format!("client.facility: {e}"))?;
    let outpatient_flow = |on: bool| EnvironmentChange {
        outpatient_flow: Some(on),
        activation_delay_seconds: None,
    };
    let now = state.clock.now();
    // On while the runner registers the device; as the scenario says after.
    state
        .change_environment(&facility, outpatient_flow(true))
        .map_err(failed("environment"))?;
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
    state
        .register_account(&facility, new)
        .map_err(failed("account"))?;
    if setup.system_login {
        state
            .system_login(&facility, &setup.user_id, &setup.password, None)
            .map_err(failed("system login"))?;
    }
    let memo = setup.memo.clone().unwrap_or_else(|| inputs.device.clone());
    let code = state
        .issue_activation_code(&facility, &memo)
        .map_err(failed("activation code"))?;
    for title in &setup.notices {
        let notice = NewNotice {
            title: title.clone(),
            link: String::new(),
            outage: false,
        };
        state.publish_notice(notice).map_err(failed("notice"))?;
    }
    state
        .advance_clock(time::Duration::seconds(i64::from(setup.wait_seconds)))
        .map_err(|e| format!("facility.wait_seconds: {e}"))?;
    let mut login = AppLogin {
        user_id: setup.user_id.clone(),
        password: setup.password.clone(),
        activation_code: Some(code.code.clone()),
        device_token: None,
    };
    if setup.device != DeviceSetup::Unregistered {
        let registered = state
            .register_device(&facility, &setup.user_id, &setup.password, &code.code)
            .map_err(failed("device registration"))?;
        match setup.device {
            DeviceSetup::Invalidated => {
                state
                    .invalidate_activation_code(&facility, &code.code)
                    .map_err(failed("invalidation"))?;
            }
            DeviceSetup::Deregistered => {
                state
                    .deregister_device(&registered.device_id)
                    .map_err(failed("deregistration"))?;
            }
            DeviceSetup::Registered | DeviceSetup::Unregistered => {}
        }
        login.activation_code = None;
        login.device_token = Some(registered.device_token);
    }
    for _ in 0..setup.wrong_passwords {
        match state.check_password(&facility, &setup.user_id, "Wr0ng-password") {
            Err(FacilityError::BadCredentials | FacilityError::AccountLocked { .. }) => {}
            Ok(_) => return Err("facility: the wrong password was accepted".into()),
            Err(e) => return Err(format!("facility: wrong passwords: {e}")),
        }
    }
    state
        .change_environment(&facility, outpatient_flow(setup.outpatient_flow))
        .map_err(failed("environment"))?;
    Ok(login)
}

/// Registers the scenario's 照会番号 as a receipt computer would.
pub(super) fn register_reference_numbers(
    state: &AppState,
    setups: &[ReferenceNumberSetup],
) -> Result<(), String> {
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
        let answer = state
            .register_reference_number(registration, None)
            .map_err(|e| format!("{field}: {e}"))?;
        if let RegistrationAnswer::Refused(_, refusal) = answer.response.answer {
            return Err(format!("{field}: refused: {}", refusal.code().meaning));
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
/// Installing fixtures issues every person's certificate (~24 RSA
/// signatures); the rows are the same every time, so they are made once by
/// the service's own pure function and copied into each scenario's store.
fn fixture_rows() -> Result<(&'static [StoredPerson], &'static [CertificateEntry]), String> {
    type Rows = (Vec<StoredPerson>, Vec<CertificateEntry>);
    static ROWS: OnceLock<Result<Rows, String>> = OnceLock::new();
    let rows = ROWS.get_or_init(|| {
        sim_service::fixtures::rows(built_in_persons()?, super::persons::jpki()?)
            .map_err(|e| format!("fixtures: {e}"))
    });
    match rows {
        Ok((persons, certificates)) => Ok((persons, certificates)),
        Err(e) => Err(e.clone()),
    }
}
