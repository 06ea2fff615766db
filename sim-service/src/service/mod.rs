//! The service core: one [`Service`] whose methods are the service's
//! operations, with no transport in sight.
//!
//! Every edge — the HTTP API and admin API, the app channel, the console, the
//! `--oqs-dir` folder, the scenario runner and the benchmarks — decodes what
//! it received, calls one method here, and encodes what it returns. A method
//! reads the clock once, calls the pure rules ([`crate::confirmation`],
//! [`crate::rules`], [`crate::facility`], [`crate::after_confirmation`]) and the store,
//! and answers a domain result or a [`ServiceError`]; which status code or
//! file that becomes is the edge's business. So a confirmation is the same
//! code whether it came over HTTP, from a benchmark loop or from a test.
//!
//! The methods block (SQLite, argon2, RSA): async edges call them off their
//! async threads.
//!
//! - [`confirm`]: challenges, card confirmations, confirmations by insurance
//!   card number, registration for health-insurance use, the result search;
//! - [`receipt_computer`]: 照会番号 and the receipt-computer download;
//! - [`facility`]: the facility's app administration and the app's calls;
//! - [`admin`]: what a tester changes: clock, fixtures, phones, reset, and
//!   what the console reads.

use std::sync::Arc;

use time::{Date, OffsetDateTime, PrimitiveDateTime};

use crate::after_confirmation::folder::OqsFolder;
use crate::after_confirmation::receipt_download::DownloadError;
use crate::caches::Caches;
use crate::clock::{JST, ServiceClock, jst_date};
use crate::confirmation::Rejection;
use crate::facility::FacilityError;
use crate::model::{
    CharacterCodeIdentifier, MedicalInstitutionCode, ReferenceClassification, ResponseContext,
};
use crate::rules::certificate::TrustAnchors;
use crate::rules::challenge::ChallengeError;
use crate::store::{Store, StoreError};

pub mod admin;
pub mod confirm;
pub mod facility;
pub mod receipt_computer;

pub use admin::{AddedPhone, ClockView, PhoneToAdd, RevokedCertificate};
pub use confirm::{
    CardPresentation, ConfirmedCard, IssuedChallenge, RegistrationAccepted, RegistrationState,
};

/// How the service behaves, fixed at start.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The admin API's bearer token; `None` leaves the admin API open, which
    /// is only allowed on loopback.
    pub admin_token: Option<String>,
    /// The admin console's password when there is no admin token (which
    /// the console accepts otherwise); with neither, nobody can log in.
    pub console_password: Option<String>,
    /// How long a challenge may be redeemed after it is issued.
    pub challenge_lifetime: time::Duration,
    /// Scales registration times (1.0 real time; 0.001 turns 15 s into 15 ms).
    pub time_factor: f64,
    /// The simulated processing time of a registration (typically ~15 s).
    pub registration_processing: time::Duration,
    /// The encoding and character rules of responses when a request does not say.
    pub default_character_code: CharacterCodeIdentifier,
    /// The facility folder of `--oqs-dir`: its card confirmations drop a
    /// face file there (see [`crate::after_confirmation::folder`]).
    pub oqs_folder: Option<OqsFolder>,
    /// Host names a service without an admin token answers to besides
    /// loopback ones (see `http::guard`).
    pub allowed_hosts: Vec<String>,
    /// Served over HTTPS: the console's cookies are `Secure`.
    pub https: bool,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            admin_token: None,
            console_password: None,
            challenge_lifetime: crate::rules::challenge::DEFAULT_LIFETIME,
            time_factor: 1.0,
            registration_processing: time::Duration::seconds(15),
            default_character_code: CharacterCodeIdentifier::Utf8,
            oqs_folder: None,
            allowed_hosts: Vec::new(),
            https: false,
        }
    }
}

/// The service: its store, clock, trust anchors, caches and configuration.
/// Cheap to clone (every part is shared).
#[derive(Clone)]
pub struct Service {
    pub store: Arc<Store>,
    pub clock: ServiceClock,
    pub anchors: Arc<TrustAnchors>,
    pub config: Arc<ServiceConfig>,
    /// Certificate verifications and parsed fixtures (see [`crate::caches`]).
    pub caches: Arc<Caches>,
}

/// Why an operation was not carried out. Business outcomes (a revoked
/// certificate, no qualification, a refused 照会番号) are results, not
/// errors; these are requests that cannot be answered as asked.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A field that does not hold what it must.
    #[error("{field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("this method signs a challenge: send challenge_id and signature")]
    ChallengeRequired,
    #[error("challenge: {0}")]
    Challenge(ChallengeError),
    #[error(transparent)]
    Rejected(Rejection),
    #[error("registration for health-insurance use needs the patient's consent")]
    ConsentRequired,
    #[error(
        "registration for health-insurance use is unavailable 03:00-06:00 (maintenance); try again later"
    )]
    RegistrationUnavailable,
    #[error("the service has no record of this card's holder")]
    UnknownCard,
    #[error("no such registration")]
    UnknownRegistration,
    /// A period that cannot be searched (the end before the start).
    #[error("{0}")]
    InvalidPeriod(String),
    #[error(transparent)]
    Facility(#[from] FacilityError),
    #[error(transparent)]
    Download(#[from] DownloadError),
    #[error("{0}")]
    InvalidFixtures(String),
    #[error("{0}")]
    InvalidPhone(String),
    #[error("no person {0:?}")]
    UnknownPerson(String),
    #[error("{0}")]
    InvalidTime(String),
    #[error("no confirmation {0}")]
    UnknownConfirmation(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A failure of the service itself; the detail is for the log.
    #[error("{0}")]
    Internal(String),
}

impl ServiceError {
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        ServiceError::Internal(detail.to_string())
    }
}

impl Service {
    /// A service trusting the simulated JPKI's user-authentication CA, with
    /// no fixtures yet.
    pub fn new(store: Store, clock: ServiceClock, config: ServiceConfig) -> Result<Self, String> {
        let pki = sim_card::personalize::simulated_jpki().map_err(|e| e.to_string())?;
        let mut anchors = TrustAnchors::new();
        anchors
            .add_der(pki.ca_certificate_der(sim_card::pki::Purpose::UserAuthentication))
            .map_err(|e| e.to_string())?;
        let anchors = Arc::new(anchors);
        Ok(Service {
            store: Arc::new(store),
            clock,
            caches: Arc::new(Caches::new(anchors.clone())),
            anchors,
            config: Arc::new(config),
        })
    }

    /// The response header's context, for every answer that carries one
    /// (card confirmations, confirmations by insurance card number): the
    /// processing time in Japan, and the facility's encoding unless the
    /// request chose one.
    fn response_context(&self, now: OffsetDateTime, request: ContextRequest) -> ResponseContext {
        let jst = now.to_offset(JST);
        ResponseContext {
            process_execution_time: PrimitiveDateTime::new(jst.date(), jst.time()),
            qualification_confirmation_date: request
                .confirmation_date
                .unwrap_or_else(|| jst_date(now)),
            medical_institution_code: request.facility,
            arbitrary_file_identifier: request.arbitrary_file_identifier,
            reference_classification: request.classification,
            character_code_identifier: request
                .character_code
                .unwrap_or(self.config.default_character_code),
        }
    }
}

/// What a request says about the header of its answer.
struct ContextRequest {
    facility: MedicalInstitutionCode,
    classification: ReferenceClassification,
    /// The date the request asks about (today in Japan when it does not say).
    confirmation_date: Option<Date>,
    arbitrary_file_identifier: Option<String>,
    character_code: Option<CharacterCodeIdentifier>,
}
