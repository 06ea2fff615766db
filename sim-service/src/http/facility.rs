//! The facility's app administration over HTTP (see [`crate::facility`]):
//!
//! - `/admin/v1/facilities/{code}/…` and `/admin/v1/notices`: the
//!   administrator's functions (environment setting, activation codes,
//!   accounts, notices);
//! - `/v1/facility/system-login`: a staff login to the system on the
//!   confirmation terminal (the first one makes an account usable by the app);
//! - `/v1/app/…`: マイナ資格確認アプリ's own calls: device registration, login
//!   (a bearer session token), logout, password change, deregistration,
//!   notices;
//! - [`app_channel`]: the middleware that puts the client API's requests
//!   carrying `Authorization: Bearer <session token>` on the app channel.
//!
//! Every handler decodes its input, then calls the core off the async
//! threads and answers its result ([`AppState::answer`]): password checks
//! are argon2, slow on purpose, and a store read may wait behind a commit.

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router, routing};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::json::ApiJson;
use crate::facility::{
    AccountUpdate, AppSession, EnvironmentSetting, FacilityError, NewAccount, NewNotice,
};
use crate::model::MedicalInstitutionCode;
use crate::service::facility::EnvironmentChange as Change;

impl From<FacilityError> for ApiError {
    fn from(error: FacilityError) -> Self {
        use FacilityError::*;
        let status = match &error {
            OutpatientFlowOff(_)
            | AccountNotStarted { .. }
            | FirstSystemLoginRequired(_)
            | DeviceDeregistered
            | DeviceInvalidated
            | FacilityMismatch { .. } => StatusCode::FORBIDDEN,
            UnknownActivationCode(_) | UnknownAccount(_) | UnknownNotice(_) => {
                StatusCode::NOT_FOUND
            }
            ActivationCodeNotYetUsable { .. } | ActivationCodeUsed(_) | AccountExists(_) => {
                StatusCode::CONFLICT
            }
            ActivationCodeInvalidated(_) => StatusCode::GONE,
            BadCredentials | UnknownDevice | SessionUnknown | SessionExpired(_) => {
                StatusCode::UNAUTHORIZED
            }
            AccountLocked { .. } => StatusCode::LOCKED,
            PasswordPolicy(_) | InvalidUserId(_) | InvalidField { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Store(_) | Internal(_) => return ApiError::internal(error),
        };
        match error.code() {
            Some(code) => ApiError::new(status, code.code, format!("{error} ({})", code.message)),
            None => ApiError::internal(error),
        }
    }
}

/// The admin routes, behind the admin token with the rest of `/admin/v1`.
pub fn admin_routes() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/facilities", routing::get(list_facilities))
        .route(
            "/admin/v1/facilities/{code}/environment",
            routing::get(get_environment).put(put_environment),
        )
        .route(
            "/admin/v1/facilities/{code}/activation-codes",
            routing::get(list_codes).post(issue_code),
        )
        .route(
            "/admin/v1/facilities/{code}/activation-codes/{activation_code}/invalidate",
            routing::post(invalidate_code),
        )
        .route(
            "/admin/v1/facilities/{code}/accounts",
            routing::get(list_accounts).post(register_account),
        )
        .route(
            "/admin/v1/facilities/{code}/accounts/{user_id}",
            routing::patch(update_account),
        )
        .route(
            "/admin/v1/notices",
            routing::get(list_notices).post(publish_notice),
        )
}

/// The client routes of staff and the app.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/facility/system-login", routing::post(system_login))
        .route("/v1/app/devices", routing::post(register_device))
        .route(
            "/v1/app/devices/current",
            routing::delete(deregister_device),
        )
        .route("/v1/app/sessions", routing::post(login))
        .route("/v1/app/sessions/current", routing::delete(logout))
        .route("/v1/app/password", routing::put(change_password))
        .route("/v1/app/notices", routing::get(unread_notices))
        .route("/v1/app/notices/{id}/read", routing::post(read_notice))
}

fn facility_code(field: &str, text: &str) -> Result<MedicalInstitutionCode, ApiError> {
    MedicalInstitutionCode::new(text)
        .map_err(|e| ApiError::unprocessable("invalid_field", format!("{field}: {e}")))
}

/// The facilities with app settings, accounts or activation codes.
#[utoipa::path(
    get,
    path = "/admin/v1/facilities",
    tag = "admin",
    responses(
        (status = 200, description = "Every facility the service knows (医療機関等コード)", body = Vec<String>),
    )
)]
async fn list_facilities(State(state): State<AppState>) -> Result<Response, ApiError> {
    state
        .answer(StatusCode::OK, |service| service.facilities())
        .await
}

/// The facility's environment setting (環境設定).
#[utoipa::path(
    get,
    path = "/admin/v1/facilities/{code}/environment",
    tag = "admin",
    params(("code" = String, Path, description = "医療機関等コード (10 digits)")),
    responses(
        (status = 200, description = "The environment setting", body = EnvironmentSetting),
        (status = 422, description = "`invalid_field`", body = ApiError),
    )
)]
async fn get_environment(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let facility = facility_code("code", &code)?;
    state
        .answer(StatusCode::OK, move |service| {
            service.environment(&facility)
        })
        .await
}

/// A change of the environment settings; absent fields stay.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct EnvironmentChange {
    #[serde(default)]
    outpatient_flow: Option<bool>,
    #[serde(default)]
    activation_delay_seconds: Option<i64>,
}

/// Changes the facility's environment setting.
#[utoipa::path(
    put,
    path = "/admin/v1/facilities/{code}/environment",
    tag = "admin",
    params(("code" = String, Path, description = "医療機関等コード (10 digits)")),
    request_body = EnvironmentChange,
    responses(
        (status = 200, description = "The environment setting", body = EnvironmentSetting),
        (status = 422, description = "`invalid_field`", body = ApiError),
    )
)]
async fn put_environment(
    State(state): State<AppState>,
    Path(code): Path<String>,
    ApiJson(change): ApiJson<EnvironmentChange>,
) -> Result<Response, ApiError> {
    let facility = facility_code("code", &code)?;
    let change = Change {
        outpatient_flow: change.outpatient_flow,
        activation_delay_seconds: change.activation_delay_seconds,
    };
    state
        .answer(StatusCode::OK, move |service| {
            service.change_environment(&facility, change)
        })
        .await
}

/// The facility's activation codes (アクティベーションコード).
#[utoipa::path(
    get,
    path = "/admin/v1/facilities/{code}/activation-codes",
    tag = "admin",
    params(("code" = String, Path, description = "医療機関等コード (10 digits)")),
    responses(
        (status = 200, description = "The activation codes", body = Vec<crate::facility::ActivationCodeView>),
        (status = 422, description = "`invalid_field`", body = ApiError),
    )
)]
async fn list_codes(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let facility = facility_code("code", &code)?;
    state
        .answer(StatusCode::OK, move |service| {
            service.activation_codes(&facility)
        })
        .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewCode {
    /// 端末識別メモ情報.
    memo: String,
}

/// Issues an activation code for a device.
#[utoipa::path(
    post,
    path = "/admin/v1/facilities/{code}/activation-codes",
    tag = "admin",
    params(("code" = String, Path, description = "医療機関等コード (10 digits)")),
    request_body = NewCode,
    responses(
        (status = 201, description = "The new activation code", body = crate::facility::ActivationCodeView),
        (status = 422, description = "`invalid_field`", body = ApiError),
    )
)]
async fn issue_code(
    State(state): State<AppState>,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<NewCode>,
) -> Result<Response, ApiError> {
    let facility = facility_code("code", &code)?;
    state
        .answer(StatusCode::CREATED, move |service| {
            service.issue_activation_code(&facility, &body.memo)
        })
        .await
}

/// Invalidates an activation code.
#[utoipa::path(
    post,
    path = "/admin/v1/facilities/{code}/activation-codes/{activation_code}/invalidate",
    tag = "admin",
    params(("code" = String, Path, description = "医療機関等コード (10 digits)"), ("activation_code" = String, Path, description = "The activation code")),
    responses(
        (status = 204, description = "Invalidated"),
        (status = 404, description = "No such activation code", body = ApiError),
        (status = 422, description = "`invalid_field`", body = ApiError),
    )
)]
async fn invalidate_code(
    State(state): State<AppState>,
    Path((code, activation_code)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let facility = facility_code("code", &code)?;
    state
        .blocking(move |service| service.invalidate_activation_code(&facility, &activation_code))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The facility's staff accounts.
#[utoipa::path(
    get,
    path = "/admin/v1/facilities/{code}/accounts",
    tag = "admin",
    params(("code" = String, Path, description = "医療機関等コード (10 digits)")),
    responses(
        (status = 200, description = "The accounts", body = Vec<crate::facility::AccountView>),
        (status = 422, description = "`invalid_field`", body = ApiError),
    )
)]
async fn list_accounts(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let facility = facility_code("code", &code)?;
    state
        .answer(StatusCode::OK, move |service| service.accounts(&facility))
        .await
}

/// Registers a staff account.
#[utoipa::path(
    post,
    path = "/admin/v1/facilities/{code}/accounts",
    tag = "admin",
    params(("code" = String, Path, description = "医療機関等コード (10 digits)")),
    request_body = NewAccount,
    responses(
        (status = 201, description = "The new account", body = crate::facility::AccountView),
        (status = 409, description = "The user id is taken", body = ApiError),
        (status = 422, description = "`invalid_field`, an invalid user id, or a password the policy refuses", body = ApiError),
    )
)]
async fn register_account(
    State(state): State<AppState>,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<NewAccount>,
) -> Result<Response, ApiError> {
    let facility = facility_code("code", &code)?;
    state
        .answer(StatusCode::CREATED, move |service| {
            service.register_account(&facility, body)
        })
        .await
}

/// Changes a staff account; absent fields stay.
#[utoipa::path(
    patch,
    path = "/admin/v1/facilities/{code}/accounts/{user_id}",
    tag = "admin",
    params(("code" = String, Path, description = "医療機関等コード (10 digits)"), ("user_id" = String, Path, description = "The account's user id")),
    request_body = AccountUpdate,
    responses(
        (status = 200, description = "The account", body = crate::facility::AccountView),
        (status = 404, description = "No such account", body = ApiError),
        (status = 422, description = "`invalid_field`, or a password the policy refuses", body = ApiError),
    )
)]
async fn update_account(
    State(state): State<AppState>,
    Path((code, user_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<AccountUpdate>,
) -> Result<Response, ApiError> {
    let facility = facility_code("code", &code)?;
    state
        .answer(StatusCode::OK, move |service| {
            service.update_account(&facility, &user_id, body)
        })
        .await
}

/// The notices (お知らせ) published.
#[utoipa::path(
    get,
    path = "/admin/v1/notices",
    tag = "admin",
    responses(
        (status = 200, description = "The notices, newest first", body = Vec<crate::facility::NoticeView>),
    )
)]
async fn list_notices(State(state): State<AppState>) -> Result<Response, ApiError> {
    state
        .answer(StatusCode::OK, |service| service.notices())
        .await
}

/// Publishes a notice to every facility's app.
#[utoipa::path(
    post,
    path = "/admin/v1/notices",
    tag = "admin",
    request_body = NewNotice,
    responses(
        (status = 201, description = "The notice", body = crate::facility::NoticeView),
        (status = 422, description = "A field refused", body = ApiError),
    )
)]
async fn publish_notice(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewNotice>,
) -> Result<Response, ApiError> {
    state
        .answer(StatusCode::CREATED, move |service| {
            service.publish_notice(body)
        })
        .await
}

/// ID and password at a facility.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SystemLogin {
    medical_institution_code: String,
    user_id: String,
    password: String,
    /// Changes the password at the same time.
    #[serde(default)]
    new_password: Option<String>,
}

/// A staff login on the confirmation terminal; the first one makes the
/// account usable by the app. `new_password` changes the password at the
/// same time; 5 wrong passwords in a row lock the account for 30 minutes
/// (423).
#[utoipa::path(
    post,
    path = "/v1/facility/system-login",
    tag = "facility",
    request_body = SystemLogin,
    responses(
        (status = 200, description = "The account, usable by the app after its first system login", body = crate::facility::AccountView),
        (status = 401, description = "Wrong user id or password", body = ApiError),
        (status = 403, description = "The account is not started yet", body = ApiError),
        (status = 422, description = "`invalid_field`, or a new password the policy refuses", body = ApiError),
        (status = 423, description = "The account is locked after repeated failures", body = ApiError),
    )
)]
async fn system_login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SystemLogin>,
) -> Result<Response, ApiError> {
    let facility = facility_code("medical_institution_code", &body.medical_institution_code)?;
    state
        .answer(StatusCode::OK, move |service| {
            service.system_login(
                &facility,
                &body.user_id,
                &body.password,
                body.new_password.as_deref(),
            )
        })
        .await
}

/// The app's initial registration.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DeviceRegistration {
    medical_institution_code: String,
    user_id: String,
    password: String,
    activation_code: String,
}

/// Registers the app's device with an activation code.
#[utoipa::path(
    post,
    path = "/v1/app/devices",
    tag = "app",
    request_body = DeviceRegistration,
    responses(
        (status = 201, description = "The device and its token", body = crate::facility::device::RegisteredDevice),
        (status = 401, description = "Wrong user id or password", body = ApiError),
        (status = 403, description = "The outpatient flow is off, or the account is not usable yet", body = ApiError),
        (status = 404, description = "No such activation code", body = ApiError),
        (status = 409, description = "The activation code is used or not usable yet", body = ApiError),
        (status = 410, description = "The activation code was invalidated", body = ApiError),
        (status = 422, description = "`invalid_field`", body = ApiError),
        (status = 423, description = "The account is locked", body = ApiError),
    )
)]
async fn register_device(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<DeviceRegistration>,
) -> Result<Response, ApiError> {
    let facility = facility_code("medical_institution_code", &body.medical_institution_code)?;
    state
        .answer(StatusCode::CREATED, move |service| {
            service.register_device(
                &facility,
                &body.user_id,
                &body.password,
                &body.activation_code,
            )
        })
        .await
}

/// An app login on a registered device.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = AppLogin)]
#[serde(deny_unknown_fields)]
struct Login {
    medical_institution_code: String,
    user_id: String,
    password: String,
    device_token: String,
}

/// The app's login on a registered device: a bearer session token (8 hours
/// on the service clock) and the unread notices. With the token, the client
/// API's requests are on the app channel.
#[utoipa::path(
    post,
    path = "/v1/app/sessions",
    tag = "app",
    request_body = Login,
    responses(
        (status = 201, description = "The session token and the unread notices", body = crate::facility::session::LoggedIn),
        (status = 401, description = "Wrong user id, password or device token", body = ApiError),
        (status = 403, description = "The outpatient flow is off, the device was deregistered or invalidated, or the account is not usable yet", body = ApiError),
        (status = 422, description = "`invalid_field`", body = ApiError),
        (status = 423, description = "The account is locked", body = ApiError),
    )
)]
async fn login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Login>,
) -> Result<Response, ApiError> {
    let facility = facility_code("medical_institution_code", &body.medical_institution_code)?;
    state
        .answer(StatusCode::CREATED, move |service| {
            service.app_login(&facility, &body.user_id, &body.password, &body.device_token)
        })
        .await
}

/// The live session a token names, checked off the async threads (a few
/// reads of the store, which may wait behind a commit).
async fn live_session(state: &AppState, token: &str) -> Result<AppSession, ApiError> {
    let token = token.to_string();
    state
        .blocking(move |service| service.app_session(&token))
        .await
}

/// The live session of a request to an app-only route.
async fn required_session(state: &AppState, headers: &HeaderMap) -> Result<AppSession, ApiError> {
    let token = super::guard::bearer(headers)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            crate::codes::APP_SESSION_INVALID.code,
            "this is an app call: send `Authorization: Bearer <session token>` from POST /v1/app/sessions",
        )
    })?;
    live_session(state, token).await
}

/// Ends the app's session.
#[utoipa::path(
    delete,
    path = "/v1/app/sessions/current",
    tag = "app",
    security(("app_session" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "No live session (`KZA017`)", body = ApiError),
    )
)]
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<StatusCode, ApiError> {
    let session = required_session(&state, &headers).await?;
    state
        .blocking(move |service| service.app_logout(&session))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deregisters the session's device.
#[utoipa::path(
    delete,
    path = "/v1/app/devices/current",
    tag = "app",
    security(("app_session" = [])),
    responses(
        (status = 204, description = "Deregistered"),
        (status = 401, description = "No live session (`KZA017`)", body = ApiError),
    )
)]
async fn deregister_device(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let session = required_session(&state, &headers).await?;
    state
        .blocking(move |service| service.deregister_device(&session.device_id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// Changes the session's account's password (8-20 characters: upper case,
/// lower case, a digit and a symbol).
#[utoipa::path(
    put,
    path = "/v1/app/password",
    tag = "app",
    security(("app_session" = [])),
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed"),
        (status = 401, description = "No live session (`KZA017`)", body = ApiError),
        (status = 422, description = "A password the policy refuses", body = ApiError),
        (status = 423, description = "The account is locked", body = ApiError),
    )
)]
async fn change_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let session = required_session(&state, &headers).await?;
    state
        .blocking(move |service| {
            service.change_password(&session, &body.current_password, &body.new_password)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The notices the session's account has not read.
#[utoipa::path(
    get,
    path = "/v1/app/notices",
    tag = "app",
    security(("app_session" = [])),
    responses(
        (status = 200, description = "The notices the account has not read", body = Vec<crate::facility::NoticeView>),
        (status = 401, description = "No live session (`KZA017`)", body = ApiError),
    )
)]
async fn unread_notices(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let session = required_session(&state, &headers).await?;
    state
        .answer(StatusCode::OK, move |service| {
            service.unread_notices(&session)
        })
        .await
}

/// Marks a notice read.
#[utoipa::path(
    post,
    path = "/v1/app/notices/{id}/read",
    tag = "app",
    security(("app_session" = [])),
    params(("id" = i64, Path, description = "The notice's id")),
    responses(
        (status = 204, description = "Marked read"),
        (status = 401, description = "No live session (`KZA017`)", body = ApiError),
        (status = 404, description = "No such notice", body = ApiError),
    )
)]
async fn read_notice(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let session = required_session(&state, &headers).await?;
    state
        .blocking(move |service| service.mark_notice_read(&session, id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Middleware of the client API: a request with `Authorization: Bearer`
/// is on the app channel and goes on only with a live session, which the
/// handlers find in the request's extensions; a request without one is the
/// confirmation terminal's, unchanged.
pub async fn app_channel(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = match super::guard::bearer(request.headers()) {
        Ok(Some(token)) => token,
        Ok(None) => return next.run(request).await,
        Err(e) => return e.into_response(),
    };
    match live_session(&state, token).await {
        Ok(session) => {
            request.extensions_mut().insert(session);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

/// The app session of a client API request, if it came on the app channel.
pub type Channel = Option<Extension<AppSession>>;
