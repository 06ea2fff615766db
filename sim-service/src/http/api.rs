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

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use time::Date;

use super::error::ApiError;
use super::facility::Channel;
use super::json::ApiJson;
use super::{AppState, rfc3339};
use crate::after_confirmation::history::HistoryEntry;
use crate::model::{CharacterCodeIdentifier, ConfirmationOutcome, MedicalInstitutionCode};
use crate::rules::IdentityCheck;
use crate::service::confirm::Period;
use crate::service::{CardPresentation, RegistrationState};

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
    let challenge = state.issue_challenge()?;
    let body = ChallengeIssued {
        challenge_id: challenge.id,
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

impl Presentation {
    /// The body decoded into the core's terms: the facility code checked,
    /// base64 undone.
    fn decode(&self) -> Result<CardPresentation, ApiError> {
        let facility =
            MedicalInstitutionCode::new(&self.medical_institution_code).map_err(|e| {
                ApiError::unprocessable("invalid_field", format!("medical_institution_code: {e}"))
            })?;
        Ok(CardPresentation {
            facility,
            device: self.device.clone(),
            method: IdentityCheck::from(self.method),
            certificate: decode_base64("certificate", &self.certificate)?,
            challenge_id: self.challenge_id.clone(),
            signature: self
                .signature
                .as_deref()
                .map(|s| decode_base64("signature", s))
                .transpose()?,
        })
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
    let presentation = request.decode()?;
    let session = channel.map(|axum::Extension(session)| session);
    let confirmed = state
        .blocking(move |service| {
            service.confirm_card(
                &presentation,
                session.as_ref(),
                request.arbitrary_file_identifier,
                request.character_code_identifier,
            )
        })
        .await?;
    render(
        &confirmed.outcome,
        wants_xml(&headers),
        confirmed.confirmation_id,
    )
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

fn status_name(state: RegistrationState) -> &'static str {
    match state {
        RegistrationState::Registered => "registered",
        RegistrationState::Accepted => "accepted",
    }
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
    let consent = request.consent == Some(true);
    let presentation = request.decode()?;
    let session = channel.map(|axum::Extension(session)| session);
    let accepted = state
        .blocking(move |service| service.register(&presentation, consent, session.as_ref()))
        .await?;
    tokio::time::sleep(accepted.respond_after).await;
    let code = match accepted.state {
        RegistrationState::Accepted => StatusCode::ACCEPTED,
        RegistrationState::Registered => StatusCode::OK,
    };
    let view = RegistrationView {
        registration_id: accepted.id,
        status: status_name(accepted.state),
        completes_at: rfc3339(accepted.completes_at),
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
    let (status, completes_at) = state.registration_status(&id)?;
    Ok(Json(RegistrationView {
        registration_id: id,
        status: status_name(status),
        completes_at: rfc3339(completes_at),
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

/// A period from a query's optional `from` and `to` (the core fills in the
/// defaults).
pub(super) fn period(from: Option<&str>, to: Option<&str>) -> Result<Period, ApiError> {
    Ok(Period {
        from: from.map(|d| parse_day("from", d)).transpose()?,
        to: to.map(|d| parse_day("to", d)).transpose()?,
    })
}

/// The result search: see [`crate::after_confirmation::history`].
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
    let period = period(q.from.as_deref(), q.to.as_deref())?;
    let session = channel.map(|axum::Extension(session)| session);
    let confirmations = state.search_history(&facility, period, q.device, session.as_ref())?;
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
    let (id, outcome) = state
        .blocking(move |service| {
            service.confirm_by_insurance_card(&request, query.character_code_identifier)
        })
        .await?;
    render(&outcome, true, id)
}
