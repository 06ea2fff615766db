//! The admin API: what a test (or a tester) changes about the service — its
//! clock, its faults, its fixtures, its state. Separate from the client API
//! under `/admin/v1`, and behind a bearer token whenever the service listens
//! beyond loopback.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::ApiError;
use super::faults::FaultSet;
use super::json::ApiJson;
use super::{AppState, rfc3339};
use crate::clock::ClockMode;

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
}

/// Middleware: the admin token, when one is configured.
pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = state.config.admin_token.as_deref() else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
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

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Clock)]
struct ClockView {
    now: String,
    now_jst: String,
    mode: &'static str,
}

fn clock_view(state: &AppState) -> Json<ClockView> {
    let clock = &state.clock;
    Json(ClockView {
        now: rfc3339(clock.now()),
        now_jst: rfc3339(clock.now_jst()),
        mode: match clock.mode() {
            ClockMode::Wall => "wall",
            ClockMode::Offset(_) => "ticking",
            ClockMode::Frozen(_) => "frozen",
        },
    })
}

/// The service clock.
#[utoipa::path(get, path = "/admin/v1/clock", tag = "admin",
    responses((status = 200, description = "The clock", body = ClockView)))]
async fn get_clock(State(state): State<AppState>) -> Json<ClockView> {
    clock_view(&state)
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
    if body.frozen {
        state.clock.freeze(at);
    } else {
        state.clock.set(at);
    }
    Ok(clock_view(&state))
}

/// Back to the wall clock.
#[utoipa::path(delete, path = "/admin/v1/clock", tag = "admin",
    responses((status = 200, description = "The clock", body = ClockView)))]
async fn reset_clock(State(state): State<AppState>) -> Json<ClockView> {
    state.clock.reset();
    clock_view(&state)
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
    state
        .clock
        .advance(time::Duration::seconds(body.seconds))
        .map_err(|e| ApiError::unprocessable("invalid_time", e.to_string()))?;
    Ok(clock_view(&state))
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
    ApiJson(faults): ApiJson<FaultSet>,
) -> Result<Json<FaultSet>, ApiError> {
    faults
        .validate()
        .map_err(|e| ApiError::unprocessable("invalid_fault", e))?;
    // Raising the outage publishes the outage notice the app shows at the
    // next login (お知らせ), as the real service announces its outages.
    if faults.maintenance && !state.faults.get().maintenance {
        let outage = crate::facility::NewNotice {
            title: crate::facility::notice::OUTAGE_TITLE.to_string(),
            link: String::new(),
            outage: true,
        };
        crate::facility::admin::publish_notice(&state.store, outage, state.clock.now())?;
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
    let persons = state.store.persons()?.into_iter().map(|p| p.id).collect();
    Ok(Json(FixtureSummary { persons }))
}

/// Replaces the fixtures with the TOML document in the body.
#[utoipa::path(put, path = "/admin/v1/fixtures", tag = "admin",
    request_body(content = String, content_type = "application/toml", description = "A fixture file"),
    responses(
        (status = 200, description = "The persons' ids", body = FixtureSummary),
        (status = 422, description = "`invalid_fixtures`", body = ApiError),
    ))]
async fn load_fixtures(
    State(state): State<AppState>,
    body: String,
) -> Result<Json<FixtureSummary>, ApiError> {
    let fixtures = crate::fixtures::parse(&body, "request body")
        .map_err(|e| ApiError::unprocessable("invalid_fixtures", e.to_string()))?;
    let state2 = state.clone();
    tokio::task::spawn_blocking(move || super::install_fixtures(&state2, &fixtures))
        .await
        .map_err(ApiError::internal)??;
    list_fixtures(State(state)).await
}

/// Forgets challenges, history, registrations, traces, 照会番号,
/// receipt-computer enrolments and the facilities' app administration;
/// keeps fixtures, clock and faults.
#[utoipa::path(post, path = "/admin/v1/reset", tag = "admin",
    responses((status = 204, description = "Reset")))]
async fn reset_state(State(state): State<AppState>) -> Result<StatusCode, ApiError> {
    state.store.reset_state()?;
    Ok(StatusCode::NO_CONTENT)
}

/// A phone to add a person's card to.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewPhone {
    /// `android` or `iphone`.
    #[schema(value_type = String, example = "android")]
    variant: sim_card::profile::Variant,
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

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AddedPhone)]
struct AddedPhoneView {
    person: String,
    phone: String,
    variant: &'static str,
    added: String,
    /// SHA-256 of the new smartphone certificate.
    fingerprint: String,
    /// The person's other phones, whose certificates are no longer valid.
    replaced: Vec<String>,
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
        (status = 201, description = "The phone, and the phones it superseded", body = AddedPhoneView),
        (status = 404, description = "`unknown_person`", body = ApiError),
        (status = 422, description = "`invalid_field`, `invalid_phone`", body = ApiError),
    ))]
async fn add_phone(
    State(state): State<AppState>,
    axum::extract::Path(person_id): axum::extract::Path<String>,
    ApiJson(body): ApiJson<NewPhone>,
) -> Result<(StatusCode, Json<AddedPhoneView>), ApiError> {
    let not_before = admin_date("not_before", &body.not_before)?;
    let not_after = admin_date("not_after", &body.not_after)?;
    let added = match &body.added {
        Some(text) => admin_date("added", text)?,
        None => state.clock.now_jst().date(),
    };
    tokio::task::spawn_blocking(move || {
        let stored = state.store.person(&person_id)?.ok_or_else(|| {
            ApiError::not_found("unknown_person", format!("no person {person_id:?}"))
        })?;
        let mut person: crate::fixtures::InsuredPerson = toml::from_str(&stored.fixture)
            .map_err(|e| ApiError::internal(format!("stored fixture {person_id}: {e}")))?;
        let id = body.id.unwrap_or_else(|| {
            (1..)
                .map(|n| format!("{}-{n}", body.variant.name()))
                .find(|id| person.phone(id).is_none())
                .unwrap_or_default()
        });
        let phone = crate::fixtures::Phone {
            id: id.clone(),
            variant: body.variant,
            added,
            certificate: sim_card::profile::CertificateSetting {
                not_before,
                not_after,
                revoked: false,
            },
            pin: body.pin,
            authentication_window_seconds: None,
            iphone_key: None,
        };
        person
            .add_phone(phone)
            .map_err(|e| ApiError::unprocessable("invalid_phone", e.to_string()))?;
        let phone = person.phone(&id).expect("just added");
        let pki = sim_card::personalize::simulated_jpki().map_err(ApiError::internal)?;
        let certificate =
            sim_card::personalize::auth_certificate(&person.phone_profile(phone), &pki)
                .map_err(|e| ApiError::unprocessable("invalid_phone", e.to_string()))?;
        let fingerprint = crate::confirmation::fingerprint(&certificate);
        let entry = crate::store::CertificateEntry {
            fingerprint: fingerprint.clone(),
            person: person.id.clone(),
            kind: phone.variant.name().to_string(),
            phone: Some(id.clone()),
            revoked: false,
        };
        let phones = person.added_phones();
        let replaced = person
            .phones
            .iter()
            .filter(|p| {
                matches!(
                    crate::rules::smartphone::standing(&phones, &p.id),
                    crate::rules::smartphone::PhoneStanding::Superseded { .. }
                )
            })
            .map(|p| p.id.clone())
            .collect();
        let view = AddedPhoneView {
            person: person.id.clone(),
            phone: id,
            variant: phone.variant.name(),
            added: added.to_string(),
            fingerprint,
            replaced,
        };
        let fixture = toml::to_string(&person).map_err(ApiError::internal)?;
        let stored = crate::store::StoredPerson {
            id: person.id.clone(),
            fixture,
        };
        if !state.store.add_certificate(&stored, &entry)? {
            return Err(ApiError::not_found(
                "unknown_person",
                format!("no person {:?}", person.id),
            ));
        }
        Ok((StatusCode::CREATED, Json(view)))
    })
    .await
    .map_err(ApiError::internal)?
}
