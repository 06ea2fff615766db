//! The HTTP routes of what facilities do after a confirmation (see
//! [`crate::after_confirmation`]): 照会番号 registration, the
//! receipt-computer login and download, and the admin enrolment of a
//! receipt computer. The result search stays at
//! `GET /v1/history` with the other client routes.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing};
use serde::{Deserialize, Serialize};

use super::api::period;
use super::error::ApiError;
use super::json::ApiJson;
use super::{AppState, rfc3339};
use crate::after_confirmation::receipt_download::DownloadError;
use crate::after_confirmation::reference_number::{
    self, ReferenceNumberRegistration, ReferenceNumberRegistrationInfo, RegistrationAnswer,
};
use crate::model::{CharacterCodeIdentifier, MedicalInstitutionCode};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/reference-numbers",
            routing::post(register_reference_number),
        )
        .route(
            "/v1/receipt-computer/sessions",
            routing::post(receipt_login).delete(receipt_logout),
        )
        .route(
            "/v1/receipt-computer/results",
            routing::get(receipt_results),
        )
        .route(
            "/v1/receipt-computer/results/{id}",
            routing::get(receipt_result),
        )
}

pub fn admin_routes() -> Router<AppState> {
    Router::new().route(
        "/admin/v1/facilities/{code}/receipt-computer",
        routing::post(enrol_receipt_computer),
    )
}

fn facility_code(field: &str, text: &str) -> Result<MedicalInstitutionCode, ApiError> {
    MedicalInstitutionCode::new(text)
        .map_err(|e| ApiError::unprocessable("invalid_field", format!("{field}: {e}")))
}

/// A registration as JSON.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = ReferenceNumberRegistrationRequest)]
#[serde(deny_unknown_fields)]
struct RegistrationRequest {
    medical_institution_code: String,
    #[serde(default)]
    arbitrary_file_identifier: Option<String>,
    #[serde(rename = "ReferenceNumberRegistrationInfo")]
    info: ReferenceNumberRegistrationInfo,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ReferenceNumberRegistered)]
struct RegistrationView {
    /// The fixture person the number is now linked to.
    person: String,
    #[serde(rename = "ReferenceNumberRegistrationInfo")]
    info: ReferenceNumberRegistrationInfo,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct XmlParams {
    /// 0 UTF-8 (default), 1 Shift_JIS: the encoding of an XML answer.
    #[serde(default)]
    #[param(value_type = Option<String>)]
    character_code_identifier: Option<CharacterCodeIdentifier>,
}

/// `POST /v1/reference-numbers`: JSON in, JSON out (201, or 422 with the
/// refusal's KZ code); or, with an XML Content-Type, an OQSsiimm01req in and
/// the OQSsiimm01res out (200, the outcome inside, as the file exchange).
#[utoipa::path(
    post,
    path = "/v1/reference-numbers",
    tag = "client",
    params(XmlParams),
    request_body(
        description = "JSON, or an OQSsiimm01req with an XML Content-Type",
        content((RegistrationRequest = "application/json"), (String = "application/xml")),
    ),
    responses(
        (status = 201, description = "Registered (JSON request)", body = RegistrationView),
        (status = 200, description = "OQSsiimm01res, the outcome inside (XML request)", content((String = "application/xml"))),
        (status = 400, description = "`malformed_xml`, `invalid_json`, `invalid_query`", body = ApiError),
        (status = 422, description = "`invalid_field`, or the refusal's result code", body = ApiError),
    )
)]
async fn register_reference_number(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<XmlParams>, axum::extract::rejection::QueryRejection>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let Query(params) = params?;
    let xml = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("xml"));
    let registration = if xml {
        match reference_number::parse_request(&body) {
            Ok(r) => r,
            Err(e) => {
                tracing::info!("malformed OQSsiimm01req: {e}");
                return Err(ApiError::bad_request("malformed_xml", e.to_string()));
            }
        }
    } else {
        let r: RegistrationRequest = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?;
        r.info
            .check()
            .map_err(|e| ApiError::unprocessable("invalid_field", e))?;
        ReferenceNumberRegistration {
            medical_institution_code: facility_code(
                "medical_institution_code",
                &r.medical_institution_code,
            )?,
            arbitrary_file_identifier: r.arbitrary_file_identifier,
            info: r.info,
        }
    };
    let character_code = params.character_code_identifier;
    let answer = state
        .blocking(move |service| service.register_reference_number(registration, character_code))
        .await?;
    if xml {
        let response = &answer.response;
        let bytes = reference_number::render_response(response).map_err(ApiError::internal)?;
        let content_type = format!(
            "application/xml; charset={}",
            response.character_code_identifier.xml_encoding_name()
        );
        return Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response());
    }
    match (answer.response.answer, answer.person) {
        (RegistrationAnswer::Registered(info), Some(person)) => {
            Ok((StatusCode::CREATED, Json(RegistrationView { person, info })).into_response())
        }
        (RegistrationAnswer::Refused(_, refusal), _) => {
            let code = refusal.code();
            Err(ApiError::unprocessable(
                match refusal {
                    reference_number::Refusal::NoQualification => "qualification_unknown",
                    reference_number::Refusal::Ambiguous => "qualification_ambiguous",
                    reference_number::Refusal::InUse => "reference_number_in_use",
                },
                format!("{} ({}): {}", code.message, code.code, code.meaning),
            ))
        }
        _ => Err(ApiError::internal(
            "a 照会番号 registration answered neither registered nor refused",
        )),
    }
}

impl From<DownloadError> for ApiError {
    fn from(e: DownloadError) -> Self {
        let message = e.to_string();
        match e {
            DownloadError::WeakPassword => ApiError::unprocessable("weak_password", message),
            DownloadError::InvalidCredentials => {
                ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", message)
            }
            DownloadError::WrongCode => {
                ApiError::new(StatusCode::UNAUTHORIZED, "one_time_code_wrong", message)
            }
            DownloadError::ReplayedCode => {
                ApiError::new(StatusCode::UNAUTHORIZED, "one_time_code_used", message)
            }
            DownloadError::SessionInvalid => {
                ApiError::new(StatusCode::UNAUTHORIZED, "session_invalid", message)
            }
            DownloadError::BeyondRetention { .. } => {
                ApiError::unprocessable("period_beyond_retention", message)
            }
            DownloadError::InvertedRange { .. } => ApiError::bad_request("invalid_query", message),
            DownloadError::NotFound(_) => ApiError::not_found("result_unknown", message),
            DownloadError::Store(e) => ApiError::from(e),
            DownloadError::Internal(e) => ApiError::internal(e),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = ReceiptComputerEnrolment)]
#[serde(deny_unknown_fields)]
struct Enrol {
    password: String,
}

/// `POST /admin/v1/facilities/{code}/receipt-computer`: enrols the
/// facility's receipt computer; answers the otpauth URI.
#[utoipa::path(
    post,
    path = "/admin/v1/facilities/{code}/receipt-computer",
    tag = "admin",
    params(("code" = String, Path, description = "医療機関等コード (10 digits)")),
    request_body = Enrol,
    responses(
        (status = 201, description = "Enrolled: the authenticator's secret", body = crate::after_confirmation::receipt_download::Enrolment),
        (status = 422, description = "`invalid_field`, `weak_password`", body = ApiError),
    )
)]
async fn enrol_receipt_computer(
    State(state): State<AppState>,
    Path(code): Path<String>,
    ApiJson(request): ApiJson<Enrol>,
) -> Result<Response, ApiError> {
    let facility = facility_code("code", &code)?;
    state
        .answer(StatusCode::CREATED, move |service| {
            service.enrol_receipt_computer(&facility, &request.password)
        })
        .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = ReceiptComputerLogin)]
#[serde(deny_unknown_fields)]
struct Login {
    medical_institution_code: String,
    password: String,
    /// The 6 digits the authenticator app shows.
    one_time_code: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ReceiptComputerSession)]
struct SessionView {
    token: String,
    expires_at: String,
}

/// Logs the receipt computer in: 機関コード, password and the 6-digit TOTP
/// code (RFC 6238, SHA-1, 30 s, ±1 step, each code once, on the service
/// clock); the bearer token lasts 30 minutes.
#[utoipa::path(
    post,
    path = "/v1/receipt-computer/sessions",
    tag = "receipt computer",
    request_body = Login,
    responses(
        (status = 201, description = "The session's bearer token", body = SessionView),
        (status = 401, description = "`invalid_credentials`, `one_time_code_wrong`, `one_time_code_used`", body = ApiError),
    )
)]
async fn receipt_login(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<Login>,
) -> Result<Response, ApiError> {
    let facility = facility_code(
        "medical_institution_code",
        &request.medical_institution_code,
    )?;
    let session = state
        .blocking(move |service| {
            service.receipt_login(&facility, &request.password, &request.one_time_code)
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SessionView {
            token: session.token,
            expires_at: rfc3339(session.expires_at),
        }),
    )
        .into_response())
}

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    super::guard::bearer(headers)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "session_required",
            "send Authorization: Bearer <token> from POST /v1/receipt-computer/sessions",
        )
    })
}

/// Ends the receipt computer's session.
#[utoipa::path(
    delete,
    path = "/v1/receipt-computer/sessions",
    tag = "receipt computer",
    security(("receipt_session" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "`session_required`, `session_invalid`", body = ApiError),
    )
)]
async fn receipt_logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    state.receipt_logout(bearer(&headers)?)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PeriodParams {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ResultSummary {
    confirmation_id: i64,
    confirmed_at: String,
    name: Option<String>,
    validity: Option<String>,
    /// Where its XmlMsg is.
    href: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Results)]
struct ResultsView {
    from: String,
    to: String,
    count: usize,
    results: Vec<ResultSummary>,
}

/// The period's results (件数 and 一覧).
#[utoipa::path(
    get,
    path = "/v1/receipt-computer/results",
    tag = "receipt computer",
    security(("receipt_session" = [])),
    params(PeriodParams),
    responses(
        (status = 200, description = "The results of the period", body = ResultsView),
        (status = 400, description = "`invalid_query`", body = ApiError),
        (status = 401, description = "`session_required`, `session_invalid`", body = ApiError),
        (status = 422, description = "`period_beyond_retention`", body = ApiError),
    )
)]
async fn receipt_results(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<PeriodParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ResultsView>, ApiError> {
    let Query(params) = params?;
    let token = bearer(&headers)?;
    let period = period(params.from.as_deref(), params.to.as_deref())?;
    let found = state.receipt_results(token, period)?;
    let results: Vec<_> = found
        .entries
        .into_iter()
        .map(|e| ResultSummary {
            confirmation_id: e.confirmation_id,
            confirmed_at: rfc3339(e.confirmed_at),
            name: e.name,
            validity: e.validity,
            href: format!("/v1/receipt-computer/results/{}", e.confirmation_id),
        })
        .collect();
    Ok(Json(ResultsView {
        from: found.from.to_string(),
        to: found.to.to_string(),
        count: results.len(),
        results,
    }))
}

/// One result as XmlMsg.
#[utoipa::path(
    get,
    path = "/v1/receipt-computer/results/{id}",
    tag = "receipt computer",
    security(("receipt_session" = [])),
    params(("id" = i64, Path, description = "The confirmation_id of a result")),
    responses(
        (status = 200, description = "The result as XmlMsg, in its encoding", content((String = "application/xml"))),
        (status = 401, description = "`session_required`, `session_invalid`", body = ApiError),
        (status = 404, description = "`result_unknown`", body = ApiError),
    )
)]
async fn receipt_result(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let bytes = state.receipt_result(bearer(&headers)?, id)?;
    let encoding = crate::xml::declared_encoding(&bytes)
        .map(|e| e.xml_encoding_name())
        .unwrap_or("UTF-8");
    Ok((
        [(
            header::CONTENT_TYPE,
            format!("application/xml; charset={encoding}"),
        )],
        bytes,
    )
        .into_response())
}
