//! The one error shape every endpoint answers with: an HTTP status, a stable
//! machine-readable code, and a sentence a person can act on.
//!
//! ```json
//! {"error": {"code": "challenge_expired", "message": "the challenge expired at …; ask for a new one"}}
//! ```

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// A failure of the service itself. The detail goes to the log, not to
    /// the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {detail}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the service failed; the request was not carried out",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: self.code,
                message: &self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let code = match &rejection {
            JsonRejection::JsonDataError(_) => "invalid_field",
            JsonRejection::JsonSyntaxError(_) => "malformed_json",
            JsonRejection::MissingJsonContentType(_) => "not_json",
            JsonRejection::BytesRejection(_) => "body_too_large",
            _ => "bad_request",
        };
        let status = match code {
            "body_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
            "not_json" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_field" => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, code, rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request("invalid_query", rejection.body_text())
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        ApiError::internal(error)
    }
}

impl From<crate::service::ServiceError> for ApiError {
    fn from(error: crate::service::ServiceError) -> Self {
        use crate::confirmation::Rejection;
        use crate::rules::certificate::CertificateError;
        use crate::rules::challenge::ChallengeError;
        use crate::service::ServiceError::*;
        let message = error.to_string();
        match error {
            InvalidField { .. } => ApiError::unprocessable("invalid_field", message),
            ChallengeRequired => ApiError::unprocessable("challenge_required", message),
            Challenge(ChallengeError::Unknown) => ApiError::not_found(
                "challenge_unknown",
                "no such challenge; ask POST /v1/challenges for one",
            ),
            Challenge(ChallengeError::AlreadyUsed) => ApiError::new(
                StatusCode::CONFLICT,
                "challenge_used",
                "the challenge was already used; each is good for one confirmation",
            ),
            Challenge(ChallengeError::Expired) => ApiError::new(
                StatusCode::GONE,
                "challenge_expired",
                "the challenge expired; ask for a new one",
            ),
            Rejected(rejection) => {
                let code = match &rejection {
                    Rejection::Certificate(
                        CertificateError::UnknownIssuer | CertificateError::BadSignature,
                    ) => "certificate_untrusted",
                    Rejection::Certificate(_) => "certificate_malformed",
                    Rejection::Signature(_) => "signature_invalid",
                    Rejection::MissingSignature { .. } => "signature_required",
                    Rejection::MethodMismatch { .. } => "method_mismatch",
                };
                ApiError::unprocessable(code, message)
            }
            ConsentRequired => ApiError::unprocessable("consent_required", message),
            RegistrationUnavailable => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "registration_unavailable",
                message,
            ),
            UnknownCard => ApiError::unprocessable("unknown_card", message),
            UnknownRegistration => ApiError::not_found("registration_unknown", message),
            InvalidPeriod(_) => ApiError::bad_request("invalid_query", message),
            Facility(e) => ApiError::from(e),
            Download(e) => ApiError::from(e),
            InvalidFixtures(_) => ApiError::unprocessable("invalid_fixtures", message),
            InvalidPhone(_) => ApiError::unprocessable("invalid_phone", message),
            UnknownPerson(_) => ApiError::not_found("unknown_person", message),
            InvalidTime(_) => ApiError::unprocessable("invalid_time", message),
            UnknownConfirmation(id) => ApiError::not_found(
                "unknown_confirmation",
                format!("no confirmation {id} in the history"),
            ),
            Store(e) => ApiError::internal(e),
            Internal(detail) => ApiError::internal(detail),
        }
    }
}

/// The longest framework rejection text carried into an error's message.
const REJECTION_TEXT: usize = 1024;

/// Response middleware of the whole service: a 4xx or 5xx that is not
/// already JSON, XML or an HTML page (axum's own plain-text rejections of a
/// body too large or a path that does not parse, the empty 404 of an
/// unknown route and 405 of a wrong method) gets the one error shape, so a
/// client reads every error the same way.
pub async fn uniform(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let kind = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if kind.contains("json") || kind.contains("xml") || kind.starts_with("text/html") {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, REJECTION_TEXT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let (code, fallback) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such route; see /openapi.json"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this route does not take that method; see /openapi.json",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("body_too_large", "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("not_json", "unsupported content type"),
        s if s.is_server_error() => ("internal_error", "the service failed"),
        _ => ("bad_request", "the request was refused"),
    };
    let message = if text.is_empty() {
        fallback.to_string()
    } else {
        text
    };
    let mut answer = ApiError::new(status, code, message).into_response();
    // Keep what the framework said besides the body (`Allow` on a 405).
    for (name, value) in parts.headers.iter() {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            answer.headers_mut().insert(name.clone(), value.clone());
        }
    }
    answer
}
