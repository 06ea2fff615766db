//! The admin API: what a test (or a tester) changes about the service — its
//! clock, its faults, its fixtures, its state. Separate from the client API
//! under `/admin/v1`, and behind a bearer token whenever the service listens
//! beyond loopback.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::AppState;
use super::error::ApiError;
use super::faults::FaultSet;
use super::guard;
use super::json::ApiJson;
use crate::service::{AddedPhone, ClockView, PhoneToAdd, RevokedCertificate};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/clock",
            routing::get(get_clock).put(set_clock).delete(reset_clock),
        )
        .route("/admin/v1/clock/advance", routing::post(advance_clock))
        .route(
            "/admin/v1/faults",
            routing::get(get_faults)
                .put(set_faults)
                .delete(clear_faults),
        )
        .route(
            "/admin/v1/fixtures",
            routing::get(list_fixtures).put(load_fixtures),
        )
        .route("/admin/v1/reset", routing::post(reset_state))
        .route("/admin/v1/persons/{id}/phones", routing::post(add_phone))
        .route(
            "/admin/v1/persons/{id}/revocations",
            routing::post(revoke_certificate),
        )
}

/// Middleware of the admin API: the admin token when the service has one;
/// without one (loopback only) the local guard (`guard`): a loopback Host,
/// no foreign Origin, and `application/json` (the fixtures upload
/// `application/toml`) on every state-changing request. An `Authorization`
/// header that is there but not `Bearer <token>` is refused either way.
pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let given = match guard::bearer(request.headers()) {
        Ok(given) => given,
        Err(e) => return e.into_response(),
    };
    let Some(expected) = state.config.admin_token.as_deref() else {
        let local = guard::LocalOnly::new(&state.config.allowed_hosts);
        let checked = local
            .check_host(request.headers())
            .and_then(|()| local.check_origin(request.headers()))
            .and_then(|()| {
                guard::check_content_type(
                    request.method(),
                    request.headers(),
                    &["application/json", "application/toml"],
                )
            });
        return match checked {
            Ok(()) => next.run(request).await,
            Err(e) => e.into_response(),
        };
    };
    if given.is_some_and(|g| constant_time_eq(g.as_bytes(), expected.as_bytes())) {
        next.run(request).await
    } else {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "admin_token_required",
            "the admin API needs `Authorization: Bearer <token>` (printed when the service started)",
        )
        .into_response()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The service clock.
#[utoipa::path(get, path = "/admin/v1/clock", tag = "admin",
    responses((status = 200, description = "The clock", body = ClockView)))]
async fn get_clock(State(state): State<AppState>) -> Json<ClockView> {
    Json(state.clock_view())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SetClock {
    /// RFC 3339, e.g. `2026-12-01T09:00:00+09:00`.
    now: String,
    /// Stand still at `now` (default) or keep ticking from it.
    #[serde(default = "yes")]
    frozen: bool,
}

fn yes() -> bool {
    true
}

/// Sets the service clock: frozen at `now` (the default), or ticking from it.
#[utoipa::path(put, path = "/admin/v1/clock", tag = "admin", request_body = SetClock,
    responses(
        (status = 200, description = "The clock", body = ClockView),
        (status = 422, description = "`invalid_time`", body = ApiError),
    ))]
async fn set_clock(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SetClock>,
) -> Result<Json<ClockView>, ApiError> {
    let at = OffsetDateTime::parse(&body.now, &Rfc3339).map_err(|e| {
        ApiError::unprocessable("invalid_time", format!("now: not an RFC 3339 time: {e}"))
    })?;
    Ok(Json(state.set_clock(at, body.frozen)))
}

/// Back to the wall clock.
#[utoipa::path(delete, path = "/admin/v1/clock", tag = "admin",
    responses((status = 200, description = "The clock", body = ClockView)))]
async fn reset_clock(State(state): State<AppState>) -> Json<ClockView> {
    Json(state.reset_clock())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: i64,
}

/// Moves the service clock by `seconds` (negative: back).
#[utoipa::path(post, path = "/admin/v1/clock/advance", tag = "admin", request_body = Advance,
    responses(
        (status = 200, description = "The clock", body = ClockView),
        (status = 422, description = "`invalid_time`", body = ApiError),
    ))]
async fn advance_clock(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Advance>,
) -> Result<Json<ClockView>, ApiError> {
    Ok(Json(
        state.advance_clock(time::Duration::seconds(body.seconds))?,
    ))
}

/// The faults in force.
#[utoipa::path(get, path = "/admin/v1/faults", tag = "admin",
    responses((status = 200, description = "The faults", body = FaultSet)))]
async fn get_faults(State(state): State<AppState>) -> Json<FaultSet> {
    Json(state.faults.get())
}

/// Replaces the faults; raising `maintenance` publishes an outage notice.
#[utoipa::path(put, path = "/admin/v1/faults", tag = "admin", request_body = FaultSet,
    responses(
        (status = 200, description = "The faults", body = FaultSet),
        (status = 422, description = "`invalid_fault`", body = ApiError),
    ))]
async fn set_faults(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<FaultSet>, ApiError> {
    let faults =
        FaultSet::from_json(body).map_err(|e| ApiError::unprocessable("invalid_fault", e))?;
    // Raising the outage publishes the outage notice the app shows at the
    // next login (お知らせ), as the real service announces its outages.
    if faults.maintenance && !state.faults.get().maintenance {
        state.announce_outage()?;
    }
    state.faults.set(faults);
    Ok(Json(state.faults.get()))
}

/// Clears every fault.
#[utoipa::path(delete, path = "/admin/v1/faults", tag = "admin",
    responses((status = 200, description = "The faults (none)", body = FaultSet)))]
async fn clear_faults(State(state): State<AppState>) -> Json<FaultSet> {
    state.faults.set(FaultSet::default());
    Json(state.faults.get())
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Fixtures)]
struct FixtureSummary {
    persons: Vec<String>,
}

/// The fixture persons installed.
#[utoipa::path(get, path = "/admin/v1/fixtures", tag = "admin",
    responses((status = 200, description = "The persons' ids", body = FixtureSummary)))]
async fn list_fixtures(State(state): State<AppState>) -> Result<Json<FixtureSummary>, ApiError> {
    Ok(Json(FixtureSummary {
        persons: state.fixture_ids()?,
    }))
}

/// Replaces the fixtures with the TOML document in the body.
#[utoipa::path(put, path = "/admin/v1/fixtures", tag = "admin",
    request_body(content = String, content_type = "application/toml", description = "A fixture file (at least one `[[person]]`)"),
    responses(
        (status = 200, description = "The persons' ids", body = FixtureSummary),
        (status = 400, description = "`invalid_fixtures`: not UTF-8", body = ApiError),
        (status = 415, description = "`content_type_required`: not `application/toml`", body = ApiError),
        (status = 422, description = "`invalid_fixtures`: not a fixture file, or no person in it (the fixtures stay as they were)", body = ApiError),
    ))]
async fn load_fixtures(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<FixtureSummary>, ApiError> {
    // Fixtures are TOML: any other declared type is a mistaken upload, not
    // a fixture file that happens to parse.
    guard::check_content_type(&axum::http::Method::PUT, &headers, &["application/toml"])?;
    let body = String::from_utf8(body.to_vec()).map_err(|_| {
        ApiError::bad_request("invalid_fixtures", "the fixture file is not UTF-8 text")
    })?;
    let persons = state
        .blocking(move |service| service.replace_fixtures(&body, "request body"))
        .await?;
    Ok(Json(FixtureSummary { persons }))
}

/// Forgets challenges, history, registrations, traces, 照会番号,
/// receipt-computer enrolments and the facilities' app administration;
/// keeps fixtures, clock and faults.
#[utoipa::path(post, path = "/admin/v1/reset", tag = "admin",
    responses((status = 204, description = "Reset")))]
async fn reset_state(State(state): State<AppState>) -> Result<StatusCode, ApiError> {
    state.reset_state()?;
    Ok(StatusCode::NO_CONTENT)
}

/// A phone to add a person's card to.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewPhone {
    /// `android` or `iphone`.
    #[schema(value_type = String, example = "android")]
    variant: sim_card::variant::Variant,
    /// The smartphone certificate's first and last day (`YYYY-MM-DD`).
    not_before: String,
    not_after: String,
    /// The phone's id; `<variant>-<n>` by default.
    #[serde(default)]
    id: Option<String>,
    /// The day the card was added; the service's date (JST) by default.
    #[serde(default)]
    added: Option<String>,
    /// Android: the smartphone PIN (the card's auth PIN by default).
    #[serde(default)]
    pin: Option<String>,
}

fn admin_date(field: &str, text: &str) -> Result<time::Date, ApiError> {
    time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|e| ApiError::unprocessable("invalid_field", format!("{field}: YYYY-MM-DD: {e}")))
}

/// Adds the person's card to a new phone (スマートフォンへの追加): the new
/// phone's certificate is valid from now on, the older phones' are not (one
/// phone per person).
#[utoipa::path(post, path = "/admin/v1/persons/{id}/phones", tag = "admin",
    params(("id" = String, Path, description = "The fixture person's id")),
    request_body = NewPhone,
    responses(
        (status = 201, description = "The phone, and the phones it superseded", body = AddedPhone),
        (status = 404, description = "`unknown_person`", body = ApiError),
        (status = 422, description = "`invalid_field`, `invalid_phone`", body = ApiError),
    ))]
async fn add_phone(
    State(state): State<AppState>,
    axum::extract::Path(person_id): axum::extract::Path<String>,
    ApiJson(body): ApiJson<NewPhone>,
) -> Result<Response, ApiError> {
    let not_before = admin_date("not_before", &body.not_before)?;
    let not_after = admin_date("not_after", &body.not_after)?;
    let added = body
        .added
        .as_deref()
        .map(|text| admin_date("added", text))
        .transpose()?;
    let phone = PhoneToAdd {
        variant: body.variant,
        not_before,
        not_after,
        id: body.id,
        added,
        pin: body.pin,
    };
    state
        .answer(StatusCode::CREATED, move |service| {
            service.add_phone(&person_id, phone)
        })
        .await
}

/// Which of a person's certificates to revoke.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewRevocation {
    /// The phone whose smartphone certificate is revoked; the physical
    /// card's certificate when absent.
    #[serde(default)]
    phone: Option<String>,
}

/// Revokes a person's user-authentication certificate (失効), as the
/// municipality does for a lost card, a move or a death: confirmations with
/// it are refused `KZE101` from now on.
#[utoipa::path(post, path = "/admin/v1/persons/{id}/revocations", tag = "admin",
    params(("id" = String, Path, description = "The fixture person's id")),
    request_body = NewRevocation,
    responses(
        (status = 201, description = "The certificate revoked", body = RevokedCertificate),
        (status = 404, description = "`unknown_person`", body = ApiError),
        (status = 422, description = "`invalid_phone`: no such phone, or no certificate on it", body = ApiError),
    ))]
async fn revoke_certificate(
    State(state): State<AppState>,
    axum::extract::Path(person_id): axum::extract::Path<String>,
    ApiJson(body): ApiJson<NewRevocation>,
) -> Result<(StatusCode, Json<RevokedCertificate>), ApiError> {
    let revoked = state
        .blocking(move |service| service.revoke_certificate(&person_id, body.phone.as_deref()))
        .await?;
    Ok((StatusCode::CREATED, Json(revoked)))
}
