//! The client API: challenges, confirmations, registrations for
//! health-insurance use, and the facility's result search.
//!
//! Every answer is JSON, except a confirmation asked for with
//! `Accept: application/xml`, which comes as the official XmlMsg in the
//! facility's encoding. Business outcomes (a revoked certificate, an
//! unregistered card, no qualification) are 200 with the outcome saying so,
//! as the real service answers; requests that cannot be a card's answer
//! (bad base64, a certificate from another CA, a wrong signature, a replayed
//! challenge) are 4xx with an error code.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use super::error::ApiError;
use super::facility::{Channel, check_facility};
use super::json::ApiJson;
use super::{AppState, rfc3339};
use crate::caches::VerifiedCertificate;
use crate::clock::{JST, jst_date};
use crate::confirmation::{self, Holder, Presented, Rejection};
use crate::exchange::history::{self, HistoryEntry, HistoryError, HistoryQuery};
use crate::exchange::insurance_card::{self, ExchangeError};
use crate::exchange::{folder, reference_number};
use crate::fixtures::InsuredPerson;
use crate::model::{
    CharacterCodeIdentifier, ConfirmationOutcome, MedicalInstitutionCode, ReferenceClassification,
    ResponseContext,
};
use crate::rules::certificate::CertificateError;
use crate::rules::challenge::{self, Challenge, ChallengeError, ChallengeId};
use crate::rules::registration::{self, TimeFactor};
use crate::rules::{IdentityCheck, maintenance};
use crate::store::{NewConfirmation, Registration, StoredChallenge};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/challenges", routing::post(issue_challenge))
        .route("/v1/confirmations", routing::post(confirm))
        .route(
            "/v1/insurance-card-confirmations",
            routing::post(confirm_by_insurance_card),
        )
        .route("/v1/registrations", routing::post(register))
        .route("/v1/registrations/{id}", routing::get(registration_status))
        .route("/v1/history", routing::get(history))
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Challenge)]
struct ChallengeIssued {
    challenge_id: String,
    /// The bytes to sign, base64.
    challenge: String,
    expires_at: String,
}

/// Issues a single-use challenge for a card or phone to sign.
#[utoipa::path(
    post,
    path = "/v1/challenges",
    tag = "client",
    responses(
        (status = 201, description = "The challenge", body = ChallengeIssued),
        (status = 401, description = "App channel: the session is unknown or expired (`KZA017`)", body = ApiError),
    )
)]
async fn issue_challenge(State(state): State<AppState>) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let challenge =
        Challenge::issue(now, state.config.challenge_lifetime).map_err(ApiError::internal)?;
    state.store.insert_challenge(&StoredChallenge {
        id: challenge.id.to_string(),
        nonce: challenge.nonce.to_vec(),
        issued_at: challenge.issued_at,
        expires_at: challenge.expires_at,
        used: false,
    })?;
    let body = ChallengeIssued {
        challenge_id: challenge.id.to_string(),
        challenge: BASE64.encode(challenge.nonce),
        expires_at: rfc3339(challenge.expires_at),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// The identity check, as the API names it.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
enum Method {
    Visual,
    Pin,
    Iphone,
    Android,
}

impl From<Method> for IdentityCheck {
    fn from(m: Method) -> Self {
        match m {
            Method::Visual => IdentityCheck::Visual,
            Method::Pin => IdentityCheck::Pin,
            Method::Iphone => IdentityCheck::Iphone,
            Method::Android => IdentityCheck::Android,
        }
    }
}

/// What a client presents: the same for a confirmation and a registration.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Presentation {
    /// 医療機関等コード of the facility (10 digits).
    medical_institution_code: String,
    /// The confirming device, as the facility names it.
    #[serde(default)]
    device: String,
    method: Method,
    /// The user-authentication certificate read from the card, base64 DER.
    certificate: String,
    /// From POST /v1/challenges (PIN, iPhone and Android methods).
    #[serde(default)]
    challenge_id: Option<String>,
    /// The card's signature over the challenge, base64.
    #[serde(default)]
    signature: Option<String>,
    /// Confirmations: 0 UTF-8, 1 Shift_JIS (the facility's setting).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "0")]
    character_code_identifier: Option<CharacterCodeIdentifier>,
    /// Confirmations: echoed in the response header.
    #[serde(default)]
    arbitrary_file_identifier: Option<String>,
    /// Registrations: the patient agreed to register the card for
    /// health-insurance use.
    #[serde(default)]
    consent: Option<bool>,
}

fn decode_base64(field: &str, text: &str) -> Result<Vec<u8>, ApiError> {
    BASE64
        .decode(text.trim())
        .map_err(|e| ApiError::bad_request("invalid_base64", format!("{field}: not base64: {e}")))
}

fn rejection(r: Rejection) -> ApiError {
    let code = match &r {
        Rejection::Certificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        ) => "certificate_untrusted",
        Rejection::Certificate(_) => "certificate_malformed",
        Rejection::Signature(_) => "signature_invalid",
        Rejection::MissingSignature { .. } => "signature_required",
        Rejection::MethodMismatch { .. } => "method_mismatch",
    };
    ApiError::unprocessable(code, r.to_string())
}

/// Redeems a challenge: once, and only within its lifetime.
fn redeem(state: &AppState, id: &str, now: OffsetDateTime) -> Result<Vec<u8>, ApiError> {
    let stored = state.store.take_challenge(id)?;
    let mut challenge = match stored {
        Some(s) => Some(Challenge {
            id: ChallengeId::new(s.id),
            nonce: s
                .nonce
                .as_slice()
                .try_into()
                .map_err(|_| ApiError::internal("a stored challenge has the wrong length"))?,
            issued_at: s.issued_at,
            expires_at: s.expires_at,
            used: s.used,
        }),
        None => None,
    };
    challenge::redeem(challenge.as_mut(), now).map_err(|e| match e {
        ChallengeError::Unknown => ApiError::not_found(
            "challenge_unknown",
            "no such challenge; ask POST /v1/challenges for one",
        ),
        ChallengeError::AlreadyUsed => ApiError::new(
            StatusCode::CONFLICT,
            "challenge_used",
            "the challenge was already used; each is good for one confirmation",
        ),
        ChallengeError::Expired => ApiError::new(
            StatusCode::GONE,
            "challenge_expired",
            "the challenge expired; ask for a new one",
        ),
    })?;
    Ok(challenge.map(|c| c.nonce.to_vec()).unwrap_or_default())
}

/// A presentation checked: the certificate trusted, the signature verified,
/// the holder looked up.
struct Authenticated {
    facility: MedicalInstitutionCode,
    device: String,
    method: IdentityCheck,
    certificate: Vec<u8>,
    verified: Arc<VerifiedCertificate>,
    holder: Option<Holder>,
}

/// Checks a presentation. On the app channel the facility must be the
/// session's, and the device recorded is the session's device (its memo),
/// whatever the body says.
fn authenticate(
    state: &AppState,
    p: &Presentation,
    channel: &Channel,
    now: OffsetDateTime,
) -> Result<Authenticated, ApiError> {
    let facility = MedicalInstitutionCode::new(&p.medical_institution_code).map_err(|e| {
        ApiError::unprocessable("invalid_field", format!("medical_institution_code: {e}"))
    })?;
    check_facility(channel, &facility)?;
    let device = match channel {
        Some(axum::Extension(session)) => session.device_memo.clone(),
        None => p.device.clone(),
    };
    let method = IdentityCheck::from(p.method);
    let certificate = decode_base64("certificate", &p.certificate)?;
    let signature = p
        .signature
        .as_deref()
        .map(|s| decode_base64("signature", s))
        .transpose()?;
    let challenge = match (&p.challenge_id, method.signature_scheme()) {
        (Some(id), Some(_)) => Some(redeem(state, id, now)?),
        (None, Some(_)) => {
            return Err(ApiError::unprocessable(
                "challenge_required",
                "this method signs a challenge: send challenge_id and signature",
            ));
        }
        (_, None) => None,
    };
    let presented = Presented {
        method,
        certificate: &certificate,
        signature: signature.as_deref(),
        challenge: challenge.as_deref(),
    };
    // Verified once per distinct certificate (see crate::caches); the
    // signature is checked every time.
    let sha256 = openssl::sha::sha256(&certificate);
    let verified = state
        .caches
        .certificates
        .verify(&certificate, sha256)
        .map_err(|e| rejection(Rejection::Certificate(e)))?;
    confirmation::authenticate_verified(&presented, &verified).map_err(rejection)?;
    let holder = match state.store.certificate(&hex::encode(sha256))? {
        Some((entry, stored)) => {
            let person =
                state.caches.persons.get(&stored).map_err(|e| {
                    ApiError::internal(format!("stored fixture {}: {e}", stored.id))
                })?;
            let mut person = InsuredPerson::clone(&person);
            let registered = state.store.reference_numbers_of(&person.id)?;
            reference_number::overlay(&mut person, registered);
            let registered = person.registered || state.store.is_registered_by(&person.id, now)?;
            Some(Holder {
                person,
                phone: entry.phone,
                revoked: entry.revoked,
                registered,
            })
        }
        None => None,
    };
    Ok(Authenticated {
        facility,
        device,
        method,
        certificate,
        verified,
        holder,
    })
}

fn method_name(method: IdentityCheck) -> &'static str {
    match method {
        IdentityCheck::Visual => "visual",
        IdentityCheck::Pin => "pin",
        IdentityCheck::Iphone => "iphone",
        IdentityCheck::Android => "android",
    }
}

fn wants_xml(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("xml"))
}

/// Confirms eligibility with the certificate read from the card.
///
/// visual: certificate only. pin, android: RSA-2048 PKCS#1 v1.5 SHA-256
/// signature over the challenge bytes. iphone: ECDSA P-256 SHA-256 (DER).
/// Send `Accept: application/xml` for the official XmlMsg in the facility's
/// encoding. A business outcome (revoked or expired certificate,
/// unregistered card, no qualification) is a 200 whose body says so.
#[utoipa::path(
    post,
    path = "/v1/confirmations",
    tag = "client",
    request_body = Presentation,
    responses(
        (status = 200, description = "The outcome (XmlMsg)",
            headers(("x-kazasu-confirmation-id" = i64, description = "The history entry the confirmation was recorded as")),
            content((ConfirmationOutcome = "application/json"), (String = "application/xml"))),
        (status = 400, description = "`invalid_base64`, `malformed_json`", body = ApiError),
        (status = 401, description = "App channel: the session is unknown or expired (`KZA017`)", body = ApiError),
        (status = 403, description = "App channel: the request names another facility than the session's (`KZA018`)", body = ApiError),
        (status = 404, description = "`challenge_unknown`", body = ApiError),
        (status = 409, description = "`challenge_used`", body = ApiError),
        (status = 410, description = "`challenge_expired`", body = ApiError),
        (status = 422, description = "`invalid_field`, `challenge_required`, `certificate_untrusted`, `certificate_malformed`, `signature_invalid`, `signature_required`, `method_mismatch`", body = ApiError),
    )
)]
async fn confirm(
    State(state): State<AppState>,
    channel: Channel,
    headers: HeaderMap,
    ApiJson(request): ApiJson<Presentation>,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let state2 = state.clone();
    // Certificate and signature checks and SQLite: blocking work, off the
    // async threads, a bounded number at a time (see `blocking_slots`).
    let slot = state
        .blocking
        .clone()
        .acquire_owned()
        .await
        .map_err(ApiError::internal)?;
    let (confirmation_id, outcome) = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let state = state2;
        let a = authenticate(&state, &request, &channel, now)?;
        let jst = now.to_offset(JST);
        let context = ResponseContext {
            process_execution_time: PrimitiveDateTime::new(jst.date(), jst.time()),
            qualification_confirmation_date: jst_date(now),
            medical_institution_code: a.facility.clone(),
            arbitrary_file_identifier: request.arbitrary_file_identifier.clone(),
            reference_classification: ReferenceClassification::MyNumberCard,
            character_code_identifier: request
                .character_code_identifier
                .unwrap_or(state.config.default_character_code),
        };
        let presented = Presented {
            method: a.method,
            certificate: &a.certificate,
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
        .map_err(rejection)?;
        let result = serde_json::to_value(&decision.outcome).map_err(ApiError::internal)?;
        let id = state.store.record_confirmation(&NewConfirmation {
            confirmed_at: now,
            facility: a.facility.as_str().to_string(),
            device: a.device,
            method: method_name(a.method).to_string(),
            person: decision.person,
            shows_qualification: decision.shows_qualification,
            result,
        })?;
        // The face file of the facility's folder (`--oqs-dir`): written after
        // the row is committed; a failure is logged, the confirmation stands.
        if let Some(folder) = &state.config.oqs_folder
            && folder.facility == a.facility
            && let Err(e) = folder::write_face(folder, &decision.outcome, id, now)
        {
            tracing::warn!(
                "cannot write the face file in {}: {e}",
                folder.dir.display()
            );
        }
        Ok::<_, ApiError>((id, decision.outcome))
    })
    .await
    .map_err(ApiError::internal)??;
    render(&outcome, wants_xml(&headers), confirmation_id)
}

/// The outcome as JSON, or as XmlMsg in the facility's encoding, with the
/// history entry it was recorded as in `x-kazasu-confirmation-id`.
fn render(
    outcome: &ConfirmationOutcome,
    xml: bool,
    confirmation_id: i64,
) -> Result<Response, ApiError> {
    let mut response = if xml {
        let identifier = outcome.message_header.character_code_identifier;
        let bytes = crate::xml::render(outcome).map_err(ApiError::internal)?;
        let content_type = format!(
            "application/xml; charset={}",
            identifier.xml_encoding_name()
        );
        ([(header::CONTENT_TYPE, content_type)], bytes).into_response()
    } else {
        Json(outcome).into_response()
    };
    response.headers_mut().insert(
        "x-kazasu-confirmation-id",
        HeaderValue::from(confirmation_id),
    );
    Ok(response)
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Registration)]
struct RegistrationView {
    registration_id: String,
    /// `registered` (in effect) or `accepted` (completes in the background).
    status: &'static str,
    completes_at: String,
}

/// Registers the card for health-insurance use (健康保険証利用登録), with
/// the patient's consent.
///
/// About 15 s (scaled by the service's time factor); 25 s or more completes
/// in the background (202). Refused 03:00-06:00 JST.
#[utoipa::path(
    post,
    path = "/v1/registrations",
    tag = "client",
    request_body = Presentation,
    responses(
        (status = 200, description = "Registered", body = RegistrationView),
        (status = 202, description = "Accepted; completes in the background", body = RegistrationView),
        (status = 400, description = "`invalid_base64`, `malformed_json`", body = ApiError),
        (status = 401, description = "App channel: the session is unknown or expired (`KZA017`)", body = ApiError),
        (status = 403, description = "App channel: the request names another facility than the session's (`KZA018`)", body = ApiError),
        (status = 404, description = "`challenge_unknown`", body = ApiError),
        (status = 409, description = "`challenge_used`", body = ApiError),
        (status = 410, description = "`challenge_expired`", body = ApiError),
        (status = 422, description = "`consent_required`, `unknown_card`, and the confirmation's certificate and signature refusals", body = ApiError),
        (status = 503, description = "`registration_unavailable` (03:00-06:00 JST), or `maintenance`", body = ApiError),
    )
)]
async fn register(
    State(state): State<AppState>,
    channel: Channel,
    ApiJson(request): ApiJson<Presentation>,
) -> Result<Response, ApiError> {
    if request.consent != Some(true) {
        return Err(ApiError::unprocessable(
            "consent_required",
            "registration for health-insurance use needs the patient's consent",
        ));
    }
    let now = state.clock.now();
    if !maintenance::registration_available(now) {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "registration_unavailable",
            "registration for health-insurance use is unavailable 03:00-06:00 (maintenance); try again later",
        ));
    }
    let state2 = state.clone();
    let a = tokio::task::spawn_blocking(move || authenticate(&state2, &request, &channel, now))
        .await
        .map_err(ApiError::internal)??;
    let Some(holder) = a.holder else {
        return Err(ApiError::unprocessable(
            "unknown_card",
            "the service has no record of this card's holder",
        ));
    };
    let factor =
        TimeFactor::new(state.config.time_factor).map_err(|e| ApiError::internal(e.to_string()))?;
    let outcome = registration::decide(state.config.registration_processing, factor);
    let id = ChallengeId::random()
        .map_err(ApiError::internal)?
        .to_string();
    // A registration the app waited for is in effect when it is answered,
    // whatever the service clock says (a frozen clock must not leave it
    // pending); one that went to the background takes effect after the
    // scaled processing time on the service clock.
    let completes_at = if outcome.is_background() {
        now + outcome.completes_after()
    } else {
        now
    };
    state.store.insert_registration(&Registration {
        id: id.clone(),
        person: holder.person.id.clone(),
        requested_at: now,
        completes_at,
    })?;
    let wait = std::time::Duration::try_from(outcome.respond_after()).unwrap_or_default();
    tokio::time::sleep(wait).await;
    let (status, code) = if outcome.is_background() {
        ("accepted", StatusCode::ACCEPTED)
    } else {
        ("registered", StatusCode::OK)
    };
    let view = RegistrationView {
        registration_id: id,
        status,
        completes_at: rfc3339(completes_at),
    };
    Ok((code, Json(view)).into_response())
}

/// The state of a registration for health-insurance use.
#[utoipa::path(
    get,
    path = "/v1/registrations/{id}",
    tag = "client",
    params(("id" = String, Path, description = "The registration_id a registration answered")),
    responses(
        (status = 200, description = "The registration", body = RegistrationView),
        (status = 401, description = "App channel: the session is unknown or expired (`KZA017`)", body = ApiError),
        (status = 404, description = "`registration_unknown`", body = ApiError),
    )
)]
async fn registration_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RegistrationView>, ApiError> {
    let registration = state
        .store
        .registration(&id)?
        .ok_or_else(|| ApiError::not_found("registration_unknown", "no such registration"))?;
    let status = if registration.completes_at <= state.clock.now() {
        "registered"
    } else {
        "accepted"
    };
    Ok(Json(RegistrationView {
        registration_id: registration.id,
        status,
        completes_at: rfc3339(registration.completes_at),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct HistoryParams {
    medical_institution_code: String,
    /// First day (JST, `YYYY-MM-DD`), inclusive (default: the first day of
    /// the previous month, the oldest still kept).
    #[serde(default)]
    from: Option<String>,
    /// Last day (JST, `YYYY-MM-DD`), inclusive (default: today).
    #[serde(default)]
    to: Option<String>,
    /// Only this device's confirmations ("this device only").
    #[serde(default)]
    device: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = History)]
struct HistoryView {
    confirmations: Vec<HistoryEntry>,
}

pub(super) fn parse_day(field: &str, text: &str) -> Result<Date, ApiError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, format).map_err(|e| {
        ApiError::bad_request("invalid_query", format!("{field}: not YYYY-MM-DD: {e}"))
    })
}

/// A period from the query's optional `from` and `to`, defaulting to what is
/// still visible today; `to` before `from` is a 400.
pub(super) fn period(
    from: Option<&str>,
    to: Option<&str>,
    device: Option<String>,
    today: Date,
) -> Result<HistoryQuery, ApiError> {
    let visible = HistoryQuery::visible_on(today);
    let from = from
        .map(|d| parse_day("from", d))
        .transpose()?
        .unwrap_or(visible.from);
    let query = HistoryQuery {
        from,
        // A period starting after today, with no end given, is that one day.
        to: to
            .map(|d| parse_day("to", d))
            .transpose()?
            .unwrap_or(visible.to.max(from)),
        device,
    };
    if query.from > query.to {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("to ({}) is before from ({})", query.to, query.from),
        ));
    }
    Ok(query)
}

/// The result search: see [`crate::exchange::history`].
#[utoipa::path(
    get,
    path = "/v1/history",
    tag = "client",
    params(HistoryParams),
    responses(
        (status = 200, description = "The facility's confirmations in the period, newest first", body = HistoryView),
        (status = 400, description = "`invalid_query`", body = ApiError),
        (status = 401, description = "App channel: the session is unknown or expired (`KZA017`)", body = ApiError),
        (status = 403, description = "App channel: the request names another facility than the session's (`KZA018`)", body = ApiError),
    )
)]
async fn history(
    State(state): State<AppState>,
    channel: Channel,
    query: Result<Query<HistoryParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<HistoryView>, ApiError> {
    let Query(q) = query?;
    let facility = MedicalInstitutionCode::new(&q.medical_institution_code).map_err(|e| {
        ApiError::bad_request("invalid_query", format!("medical_institution_code: {e}"))
    })?;
    check_facility(&channel, &facility)?;
    let now = state.clock.now();
    let query = period(q.from.as_deref(), q.to.as_deref(), q.device, jst_date(now))?;
    let confirmations =
        history::search_history(&state.store, &facility, &query, now).map_err(|e| match e {
            HistoryError::Store(e) => ApiError::from(e),
            other => ApiError::bad_request("invalid_query", other.to_string()),
        })?;
    Ok(Json(HistoryView { confirmations }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct XmlQuery {
    /// 0 UTF-8 (default), 1 Shift_JIS: the facility's setting.
    #[serde(default)]
    #[param(value_type = Option<String>)]
    character_code_identifier: Option<CharacterCodeIdentifier>,
}

/// A request by insurance card number as the XML interface carries it
/// (OQSsiquc01req), answered with XmlMsg. The XML is read by a guarded
/// parser: no DTD, no entities beyond the predefined ones, bounded size.
#[utoipa::path(
    post,
    path = "/v1/insurance-card-confirmations",
    tag = "client",
    params(XmlQuery),
    request_body(content = String, content_type = "application/xml", description = "OQSsiquc01req"),
    responses(
        (status = 200, description = "The outcome as XmlMsg, in the facility's encoding",
            headers(("x-kazasu-confirmation-id" = i64, description = "The history entry the confirmation was recorded as")),
            content((String = "application/xml"))),
        (status = 400, description = "`malformed_xml`, `invalid_query`", body = ApiError),
        (status = 401, description = "App channel: the session is unknown or expired (`KZA017`)", body = ApiError),
    )
)]
async fn confirm_by_insurance_card(
    State(state): State<AppState>,
    query: Result<Query<XmlQuery>, axum::extract::rejection::QueryRejection>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let request = crate::xml::parse_request(&body)
        .map_err(|e| ApiError::bad_request("malformed_xml", e.to_string()))?;
    let now = state.clock.now();
    let character_code = query
        .character_code_identifier
        .unwrap_or(state.config.default_character_code);
    let store = state.store.clone();
    let (id, outcome) = tokio::task::spawn_blocking(move || {
        insurance_card::confirm(&store, &request, character_code, now)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| match e {
        ExchangeError::Store(e) => ApiError::from(e),
        other => ApiError::internal(other),
    })?;
    render(&outcome, true, id)
}
