//! The confirmation operations: a challenge, a card's confirmation, a
//! confirmation by insurance card number, registration for health-insurance
//! use and its status, and the facility's result search.

use std::sync::Arc;

use time::{Date, OffsetDateTime};

use super::{ContextRequest, Service, ServiceError};
use crate::after_confirmation::history::{self, HistoryEntry, HistoryError, HistoryQuery};
use crate::after_confirmation::{folder, reference_number};
use crate::caches::VerifiedCertificate;
use crate::clock::jst_date;
use crate::confirmation::{self, CardHolder, Presented, Rejection};
use crate::facility::{AppSession, FacilityError};
use crate::fixtures::InsuredPerson;
use crate::model::{
    CharacterCodeIdentifier, ConfirmationOutcome, MedicalInstitutionCode,
    QualificationConfirmationRequest, ReferenceClassification,
};
use crate::rules::challenge::{self, Challenge, ChallengeId};
use crate::rules::registration::{self, TimeFactor};
use crate::rules::{IdentityCheck, maintenance};
use crate::store::{NewConfirmation, Registration, StoredChallenge};

/// A challenge to sign, as issued.
#[derive(Debug, Clone)]
pub struct IssuedChallenge {
    pub id: String,
    /// The bytes to sign.
    pub nonce: [u8; 32],
    pub expires_at: OffsetDateTime,
}

/// What a client presents for a confirmation or a registration, decoded.
#[derive(Debug, Clone)]
pub struct CardPresentation {
    /// 医療機関等コード of the facility.
    pub facility: MedicalInstitutionCode,
    /// The confirming device, as the facility names it (on the app channel
    /// the session's device is recorded instead).
    pub device: String,
    pub method: IdentityCheck,
    /// The user-authentication certificate read from the card, DER.
    pub certificate: Vec<u8>,
    /// The challenge signed (PIN, iPhone and Android methods).
    pub challenge_id: Option<String>,
    /// The card's signature over the challenge.
    pub signature: Option<Vec<u8>>,
}

/// A card confirmation's answer: the outcome and the history entry it was
/// recorded as.
#[derive(Debug, Clone)]
pub struct ConfirmedCard {
    pub confirmation_id: i64,
    pub outcome: ConfirmationOutcome,
}

/// Whether a registration is in effect yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationState {
    /// In effect.
    Registered,
    /// Accepted; completes in the background.
    Accepted,
}

/// A registration as the service took it.
#[derive(Debug, Clone)]
pub struct RegistrationAccepted {
    pub id: String,
    pub state: RegistrationState,
    pub completes_at: OffsetDateTime,
    /// How long the answer takes (the scaled processing time the app waits
    /// for); the edge waits it out without holding a thread.
    pub respond_after: std::time::Duration,
}

/// A presentation checked: the certificate trusted, the signature verified,
/// the holder looked up.
struct Authenticated {
    device: String,
    verified: Arc<VerifiedCertificate>,
    holder: Option<CardHolder>,
}

impl Service {
    /// Issues a single-use challenge, kept in memory for its lifetime.
    pub fn issue_challenge(&self) -> Result<IssuedChallenge, ServiceError> {
        let now = self.clock.now();
        let challenge = Challenge::issue(now, self.config.challenge_lifetime)
            .map_err(ServiceError::internal)?;
        self.store.insert_challenge(&StoredChallenge {
            id: challenge.id.to_string(),
            nonce: challenge.nonce.to_vec(),
            issued_at: challenge.issued_at,
            expires_at: challenge.expires_at,
            used: false,
        })?;
        Ok(IssuedChallenge {
            id: challenge.id.to_string(),
            nonce: challenge.nonce,
            expires_at: challenge.expires_at,
        })
    }

    /// Confirms a presented card: the challenge redeemed, the certificate
    /// and signature checked, the rules applied in order
    /// ([`confirmation::decide`]), the history row committed; then the face
    /// file of the facility's folder, if it has one. On the app channel
    /// (`session`) the facility must be the session's and the device
    /// recorded is the session's.
    pub fn confirm_card(
        &self,
        presentation: &CardPresentation,
        session: Option<&AppSession>,
        arbitrary_file_identifier: Option<String>,
        character_code: Option<CharacterCodeIdentifier>,
    ) -> Result<ConfirmedCard, ServiceError> {
        let now = self.clock.now();
        let a = self.authenticate(presentation, session, now)?;
        let context = self.response_context(
            now,
            ContextRequest {
                facility: presentation.facility.clone(),
                classification: ReferenceClassification::MyNumberCard,
                confirmation_date: None,
                arbitrary_file_identifier,
                character_code,
            },
        );
        let presented = Presented {
            method: presentation.method,
            certificate: &presentation.certificate,
            signature: None,
            challenge: None,
        };
        let decision = confirmation::decide(
            &presented,
            &a.verified.summary,
            a.holder.as_ref(),
            &context,
            now,
        )
        .map_err(ServiceError::Rejected)?;
        let result = serde_json::to_value(&decision.outcome).map_err(ServiceError::internal)?;
        let id = self.store.record_confirmation(&NewConfirmation {
            confirmed_at: now,
            facility: presentation.facility.as_str().to_string(),
            device: a.device,
            method: method_name(presentation.method).to_string(),
            person: decision.person,
            shows_qualification: decision.shows_qualification,
            result,
        })?;
        // The face file of the facility's folder (`--oqs-dir`): written after
        // the row is committed; a failure is logged, the confirmation stands.
        if let Some(folder) = &self.config.oqs_folder
            && folder.facility == presentation.facility
            && let Err(e) = folder::write_face(folder, &decision.outcome, id, now)
        {
            tracing::warn!(
                "cannot write the face file in {}: {e}",
                folder.dir.display()
            );
        }
        Ok(ConfirmedCard {
            confirmation_id: id,
            outcome: decision.outcome,
        })
    }

    /// Confirms by insurance card number (OQSsiquc01req), as the HTTP API
    /// and the folder both receive it: the persons with the 照会番号
    /// registered since, [`confirmation::by_insurance_card`], the history
    /// row. Answered in `character_code` (the facility's setting).
    pub fn confirm_by_insurance_card(
        &self,
        request: &QualificationConfirmationRequest,
        character_code: Option<CharacterCodeIdentifier>,
    ) -> Result<(i64, ConfirmationOutcome), ServiceError> {
        let now = self.clock.now();
        let persons = self.persons_with_reference_numbers()?;
        let header = &request.message_header;
        let context = self.response_context(
            now,
            ContextRequest {
                facility: header.medical_institution_code.clone(),
                classification: ReferenceClassification::InsuredCardInfo,
                confirmation_date: Some(header.qualification_confirmation_date),
                arbitrary_file_identifier: header.arbitrary_file_identifier.clone(),
                character_code,
            },
        );
        let decision = confirmation::by_insurance_card(
            &persons,
            &request.qualification_confirm_search_info,
            &context,
        );
        let id = self.store.record_confirmation(&NewConfirmation {
            confirmed_at: now,
            facility: context.medical_institution_code.as_str().to_string(),
            device: String::new(),
            method: "insurance-card-number".into(),
            person: decision.person,
            shows_qualification: decision.shows_qualification,
            result: serde_json::to_value(&decision.outcome).map_err(ServiceError::internal)?,
        })?;
        Ok((id, decision.outcome))
    }

    /// Registers the presented card for health-insurance use, with the
    /// patient's consent, outside the nightly maintenance. A registration
    /// the app waits for is in effect when it is answered, whatever the
    /// service clock says (a frozen clock must not leave it pending); one
    /// that went to the background takes effect after the scaled processing
    /// time on the service clock.
    pub fn register(
        &self,
        presentation: &CardPresentation,
        consent: bool,
        session: Option<&AppSession>,
    ) -> Result<RegistrationAccepted, ServiceError> {
        if !consent {
            return Err(ServiceError::ConsentRequired);
        }
        let now = self.clock.now();
        if !maintenance::registration_available(now) {
            return Err(ServiceError::RegistrationUnavailable);
        }
        let a = self.authenticate(presentation, session, now)?;
        let holder = a.holder.ok_or(ServiceError::UnknownCard)?;
        let factor = TimeFactor::new(self.config.time_factor).map_err(ServiceError::internal)?;
        let outcome = registration::decide(self.config.registration_processing, factor);
        let id = ChallengeId::random()
            .map_err(ServiceError::internal)?
            .to_string();
        let (state, completes_at) = if outcome.is_background() {
            (RegistrationState::Accepted, now + outcome.completes_after())
        } else {
            (RegistrationState::Registered, now)
        };
        self.store.insert_registration(&Registration {
            id: id.clone(),
            person: holder.person.id.clone(),
            requested_at: now,
            completes_at,
        })?;
        Ok(RegistrationAccepted {
            id,
            state,
            completes_at,
            respond_after: std::time::Duration::try_from(outcome.respond_after())
                .unwrap_or_default(),
        })
    }

    /// A registration's state now.
    pub fn registration_status(
        &self,
        id: &str,
    ) -> Result<(RegistrationState, OffsetDateTime), ServiceError> {
        let registration = self
            .store
            .registration(id)?
            .ok_or(ServiceError::UnknownRegistration)?;
        let state = if registration.completes_at <= self.clock.now() {
            RegistrationState::Registered
        } else {
            RegistrationState::Accepted
        };
        Ok((state, registration.completes_at))
    }

    /// The result search (see [`crate::after_confirmation::history`]) over a period
    /// from optional days, defaulting to what is still visible today; on
    /// the app channel, only the session's facility.
    pub fn search_history(
        &self,
        facility: &MedicalInstitutionCode,
        period: Period,
        device: Option<String>,
        session: Option<&AppSession>,
    ) -> Result<Vec<HistoryEntry>, ServiceError> {
        check_facility(session, facility)?;
        let now = self.clock.now();
        let query = self.history_query(period, device, now)?;
        history::search_history(&self.store, facility, &query, now).map_err(|e| match e {
            HistoryError::Store(e) => ServiceError::Store(e),
            other => ServiceError::InvalidPeriod(other.to_string()),
        })
    }

    /// A period with its defaults filled in at `now`: from the first day
    /// still kept, to today (a period starting after today, with no end
    /// given, is that one day). The end before the start is refused.
    pub fn history_query(
        &self,
        period: Period,
        device: Option<String>,
        now: OffsetDateTime,
    ) -> Result<HistoryQuery, ServiceError> {
        let visible = HistoryQuery::visible_on(jst_date(now));
        let from = period.from.unwrap_or(visible.from);
        let query = HistoryQuery {
            from,
            to: period.to.unwrap_or(visible.to.max(from)),
            device,
        };
        if query.from > query.to {
            return Err(ServiceError::InvalidPeriod(format!(
                "to ({}) is before from ({})",
                query.to, query.from
            )));
        }
        Ok(query)
    }

    /// Redeems a challenge: once, and only within its lifetime.
    fn redeem(&self, id: &str, now: OffsetDateTime) -> Result<Vec<u8>, ServiceError> {
        let mut challenge = match self.store.take_challenge(id)? {
            Some(s) => Some(Challenge {
                id: ChallengeId::new(s.id),
                nonce: s.nonce.as_slice().try_into().map_err(|_| {
                    ServiceError::internal("a stored challenge has the wrong length")
                })?,
                issued_at: s.issued_at,
                expires_at: s.expires_at,
                used: s.used,
            }),
            None => None,
        };
        challenge::redeem(challenge.as_mut(), now).map_err(ServiceError::Challenge)?;
        Ok(challenge.map(|c| c.nonce.to_vec()).unwrap_or_default())
    }

    /// Checks a presentation: the facility against the session, the
    /// challenge, the certificate (verified once per distinct certificate,
    /// see [`crate::caches`]) and the signature (every time); then finds
    /// the holder.
    fn authenticate(
        &self,
        p: &CardPresentation,
        session: Option<&AppSession>,
        now: OffsetDateTime,
    ) -> Result<Authenticated, ServiceError> {
        check_facility(session, &p.facility)?;
        let device = match session {
            Some(session) => session.device_memo.clone(),
            None => p.device.clone(),
        };
        let challenge = match (&p.challenge_id, p.method.signature_scheme()) {
            (Some(id), Some(_)) => Some(self.redeem(id, now)?),
            (None, Some(_)) => return Err(ServiceError::ChallengeRequired),
            (_, None) => None,
        };
        let presented = Presented {
            method: p.method,
            certificate: &p.certificate,
            signature: p.signature.as_deref(),
            challenge: challenge.as_deref(),
        };
        let sha256 = openssl::sha::sha256(&p.certificate);
        let verified = self
            .caches
            .certificates
            .verify(&p.certificate, sha256)
            .map_err(|e| ServiceError::Rejected(Rejection::Certificate(e)))?;
        confirmation::authenticate_verified(&presented, &verified)
            .map_err(ServiceError::Rejected)?;
        let holder = match self.store.certificate(&hex::encode(sha256))? {
            Some((entry, stored)) => {
                let person = self.caches.persons.get(&stored).map_err(|e| {
                    ServiceError::internal(format!("stored fixture {}: {e}", stored.id))
                })?;
                let mut person = InsuredPerson::clone(&person);
                let registered = self.store.reference_numbers_of(&person.id)?;
                reference_number::overlay(&mut person, registered);
                let registered =
                    person.registered || self.store.is_registered_by(&person.id, now)?;
                Some(CardHolder {
                    person,
                    phone: entry.phone,
                    revoked: entry.revoked,
                    registered,
                })
            }
            None => None,
        };
        Ok(Authenticated {
            device,
            verified,
            holder,
        })
    }
}

/// The days a search asks for; either end may be left to the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct Period {
    pub from: Option<Date>,
    pub to: Option<Date>,
}

/// On the app channel, the request must name the session's facility.
pub fn check_facility(
    session: Option<&AppSession>,
    facility: &MedicalInstitutionCode,
) -> Result<(), FacilityError> {
    match session {
        Some(session) if session.facility != *facility => Err(FacilityError::FacilityMismatch {
            session: session.facility.to_string(),
            requested: facility.to_string(),
        }),
        _ => Ok(()),
    }
}

/// The identity check as the history records it.
fn method_name(method: IdentityCheck) -> &'static str {
    match method {
        IdentityCheck::Visual => "visual",
        IdentityCheck::Pin => "pin",
        IdentityCheck::Iphone => "iphone",
        IdentityCheck::Android => "android",
    }
}
