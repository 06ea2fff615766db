//! A confirmation by insurance card number (OQSsiquc01req), decided and
//! recorded: what the HTTP endpoint and the folder exchange both do with a
//! parsed request. The rules are [`crate::confirmation::by_insurance_card`];
//! this adds the store: the persons, the 照会番号 the facility registered,
//! and the history row.

use std::collections::BTreeMap;

use time::{OffsetDateTime, PrimitiveDateTime};

use crate::clock::JST;
use crate::confirmation;
use crate::fixtures::InsuredPerson;
use crate::model::{
    CharacterCodeIdentifier, ConfirmationOutcome, QualificationConfirmationRequest,
    ReferenceClassification, ResponseContext,
};
use crate::store::{NewConfirmation, Store, StoreError};

/// Why a request could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a stored fixture does not parse: {0}")]
    Fixture(String),
    #[error("cannot encode the result: {0}")]
    Encode(String),
}

/// Every fixture person, with the 照会番号 registered through the service
/// put over the fixtures' own.
pub fn persons_with_reference_numbers(store: &Store) -> Result<Vec<InsuredPerson>, ExchangeError> {
    let mut registered: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (person, facility, number) in store.all_reference_numbers()? {
        registered
            .entry(person)
            .or_default()
            .push((facility, number));
    }
    store
        .persons()?
        .into_iter()
        .map(|p| {
            let mut person: InsuredPerson = toml::from_str(&p.fixture)
                .map_err(|e| ExchangeError::Fixture(format!("{}: {e}", p.id)))?;
            if let Some(numbers) = registered.remove(&person.id) {
                super::reference_number::overlay(&mut person, numbers);
            }
            Ok(person)
        })
        .collect()
}

/// Decides and records one request; returns the history id and the outcome
/// (to be rendered in `character_code`, the facility's setting).
pub fn confirm(
    store: &Store,
    request: &QualificationConfirmationRequest,
    character_code: CharacterCodeIdentifier,
    now: OffsetDateTime,
) -> Result<(i64, ConfirmationOutcome), ExchangeError> {
    let persons = persons_with_reference_numbers(store)?;
    let header = &request.message_header;
    let jst = now.to_offset(JST);
    let context = ResponseContext {
        process_execution_time: PrimitiveDateTime::new(jst.date(), jst.time()),
        qualification_confirmation_date: header.qualification_confirmation_date,
        medical_institution_code: header.medical_institution_code.clone(),
        arbitrary_file_identifier: header.arbitrary_file_identifier.clone(),
        reference_classification: ReferenceClassification::InsuredCardInfo,
        character_code_identifier: character_code,
    };
    let decision = confirmation::by_insurance_card(
        &persons,
        &request.qualification_confirm_search_info,
        &context,
    );
    let id = store.record_confirmation(&NewConfirmation {
        confirmed_at: now,
        facility: context.medical_institution_code.as_str().to_string(),
        device: String::new(),
        method: "insurance-card-number".into(),
        person: decision.person,
        shows_qualification: decision.shows_qualification,
        result: serde_json::to_value(&decision.outcome)
            .map_err(|e| ExchangeError::Encode(e.to_string()))?,
    })?;
    Ok((id, decision.outcome))
}
