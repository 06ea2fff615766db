//! What a receipt computer asks of the service: 照会番号 registration
//! (OQSsiimm01req/res, over HTTP or the folder) and the limited-type
//! download (login with password and TOTP, then a period's results).

use std::collections::BTreeMap;

use time::PrimitiveDateTime;

use super::confirm::Period;
use super::{ContextRequest, Service, ServiceError};
use crate::after_confirmation::history::HistoryEntry;
use crate::after_confirmation::receipt_download::{self, DownloadSession, Enrolment};
use crate::after_confirmation::reference_number::{
    self, ReferenceNumberRegistration, RegistrationAnswer, RegistrationResponse,
};
use crate::clock::JST;
use crate::codes::ResultCode;
use crate::fixtures::InsuredPerson;
use crate::model::{
    CharacterCodeIdentifier, ConfirmationOutcome, MedicalInstitutionCode, ReferenceClassification,
};

/// A 照会番号 registration answered: the OQSsiimm01res, and the person the
/// number is now linked to when it was registered.
#[derive(Debug, Clone)]
pub struct ReferenceNumberAnswer {
    pub response: RegistrationResponse,
    pub person: Option<String>,
}

/// The results of a period, with the period searched.
#[derive(Debug, Clone)]
pub struct PeriodResults {
    pub from: time::Date,
    pub to: time::Date,
    pub entries: Vec<HistoryEntry>,
}

impl Service {
    /// Every fixture person, with the 照会番号 registered through the service
    /// put over the fixtures' own.
    pub fn persons_with_reference_numbers(&self) -> Result<Vec<InsuredPerson>, ServiceError> {
        let mut registered: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for (person, facility, number) in self.store.all_reference_numbers()? {
            registered
                .entry(person)
                .or_default()
                .push((facility, number));
        }
        self.store
            .persons()?
            .into_iter()
            .map(|p| {
                let mut person: InsuredPerson = toml::from_str(&p.fixture).map_err(|e| {
                    ServiceError::internal(format!(
                        "a stored fixture does not parse: {}: {e}",
                        p.id
                    ))
                })?;
                if let Some(numbers) = registered.remove(&person.id) {
                    reference_number::overlay(&mut person, numbers);
                }
                Ok(person)
            })
            .collect()
    }

    /// Registers a 照会番号 against the person found through the registered
    /// qualification; a refusal is an answer (in the response), not an
    /// error.
    pub fn register_reference_number(
        &self,
        registration: ReferenceNumberRegistration,
        character_code: Option<CharacterCodeIdentifier>,
    ) -> Result<ReferenceNumberAnswer, ServiceError> {
        let now = self.clock.now();
        let persons = self.persons_with_reference_numbers()?;
        let answer = reference_number::register(&self.store, &persons, &registration, now)?;
        let mut response = self.registration_response(
            now,
            registration.medical_institution_code,
            character_code,
            RegistrationAnswer::Failed(&crate::codes::MALFORMED_REQUEST),
        );
        response.arbitrary_file_identifier = registration.arbitrary_file_identifier;
        let (answer, person) = match answer {
            Ok(person) => (
                RegistrationAnswer::Registered(registration.info),
                Some(person),
            ),
            Err(refusal) => (
                RegistrationAnswer::Refused(registration.info, refusal),
                None,
            ),
        };
        response.answer = answer;
        Ok(ReferenceNumberAnswer { response, person })
    }

    /// The OQSsiimm01res of a request that could not be read (SegmentOfResult
    /// 9 with `code`), for the facility that sent it.
    pub fn unreadable_registration(
        &self,
        facility: MedicalInstitutionCode,
        character_code: CharacterCodeIdentifier,
        code: &'static ResultCode,
    ) -> RegistrationResponse {
        self.registration_response(
            self.clock.now(),
            facility,
            Some(character_code),
            RegistrationAnswer::Failed(code),
        )
    }

    /// The OQSsiquc01res of a request that could not be read.
    pub fn unreadable_confirmation(
        &self,
        facility: MedicalInstitutionCode,
        character_code: CharacterCodeIdentifier,
        code: &'static ResultCode,
    ) -> Result<ConfirmationOutcome, ServiceError> {
        let context = self.response_context(
            self.clock.now(),
            ContextRequest {
                facility,
                classification: ReferenceClassification::InsuredCardInfo,
                confirmation_date: None,
                arbitrary_file_identifier: None,
                character_code: Some(character_code),
            },
        );
        ConfirmationOutcome::failed(&context, code).map_err(ServiceError::internal)
    }

    fn registration_response(
        &self,
        now: time::OffsetDateTime,
        facility: MedicalInstitutionCode,
        character_code: Option<CharacterCodeIdentifier>,
        answer: RegistrationAnswer,
    ) -> RegistrationResponse {
        let jst = now.to_offset(JST);
        RegistrationResponse {
            process_execution_time: PrimitiveDateTime::new(jst.date(), jst.time()),
            medical_institution_code: facility,
            arbitrary_file_identifier: None,
            character_code_identifier: character_code.unwrap_or(self.config.default_character_code),
            answer,
        }
    }

    /// Enrols the facility's receipt computer (argon2: slow).
    pub fn enrol_receipt_computer(
        &self,
        facility: &MedicalInstitutionCode,
        password: &str,
    ) -> Result<Enrolment, ServiceError> {
        Ok(receipt_download::enrol(
            &self.store,
            facility,
            password,
            self.clock.now(),
        )?)
    }

    /// Logs a receipt computer in with its password and a TOTP code
    /// (argon2: slow).
    pub fn receipt_login(
        &self,
        facility: &MedicalInstitutionCode,
        password: &str,
        one_time_code: &str,
    ) -> Result<DownloadSession, ServiceError> {
        Ok(receipt_download::login(
            &self.store,
            facility,
            password,
            one_time_code,
            self.clock.now(),
        )?)
    }

    /// The facility a live download session belongs to.
    pub fn receipt_session(&self, token: &str) -> Result<MedicalInstitutionCode, ServiceError> {
        Ok(receipt_download::session_facility(
            &self.store,
            token,
            self.clock.now(),
        )?)
    }

    /// Ends a live download session.
    pub fn receipt_logout(&self, token: &str) -> Result<(), ServiceError> {
        self.receipt_session(token)?;
        Ok(receipt_download::logout(&self.store, token)?)
    }

    /// A live session's results over a period (件数 and 一覧).
    pub fn receipt_results(
        &self,
        token: &str,
        period: Period,
    ) -> Result<PeriodResults, ServiceError> {
        let facility = self.receipt_session(token)?;
        let now = self.clock.now();
        let query = self.history_query(period, None, now)?;
        let entries = receipt_download::results(&self.store, &facility, &query, now)?;
        Ok(PeriodResults {
            from: query.from,
            to: query.to,
            entries,
        })
    }

    /// One result of a live session's facility as XmlMsg, in the encoding
    /// it was given in.
    pub fn receipt_result(&self, token: &str, id: i64) -> Result<Vec<u8>, ServiceError> {
        let facility = self.receipt_session(token)?;
        Ok(receipt_download::result_xml(
            &self.store,
            &facility,
            id,
            self.clock.now(),
        )?)
    }
}
