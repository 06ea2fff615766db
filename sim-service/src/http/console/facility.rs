//! The administrator's screens of the service for マイナ資格確認アプリ, per
//! facility: 環境設定 (the 外来診療等(通常とは異なる動線)機能 switch),
//! アクティベーションコード発行 and its list (with 無効化する), アカウント登録
//! and update, and お知らせ (for every facility). Each calls
//! [`crate::facility::admin`], as the admin JSON API does.
//!
//! The facility is a query parameter (`?facility=0110000001`) on every page
//! and a hidden field of every form; the selector lists the facilities the
//! service has data for.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Form, Router, routing};
use minijinja::context;
use serde::Deserialize;
use time::Date;

use super::{ConsoleError, Done, LoggedIn, Page, done, done_notice, page};
use crate::facility::{AccountUpdate, FacilityError, NewAccount, NewNotice, Role, admin};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::model::MedicalInstitutionCode;

/// The facility a page starts with when none is chosen: the harness's.
const DEFAULT_FACILITY: &str = "0110000001";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/environment",
            routing::get(environment_page).post(set_environment),
        )
        .route(
            "/admin/activation-codes",
            routing::get(activation_page).post(issue_code),
        )
        .route(
            "/admin/activation-codes/invalidate",
            routing::post(invalidate_code),
        )
        .route(
            "/admin/accounts",
            routing::get(accounts_page).post(register_account),
        )
        .route("/admin/accounts/update", routing::post(update_account))
        .route(
            "/admin/notices",
            routing::get(notices_page).post(publish_notice),
        )
}

#[derive(Deserialize, Default)]
struct PageQuery {
    #[serde(default)]
    facility: Option<String>,
    #[serde(flatten)]
    done: Done,
}

fn facility_of(text: Option<&str>) -> Result<MedicalInstitutionCode, ConsoleError> {
    let text = text.map(str::trim).filter(|t| !t.is_empty());
    MedicalInstitutionCode::new(text.unwrap_or(DEFAULT_FACILITY)).map_err(|e| {
        ConsoleError::new(
            StatusCode::BAD_REQUEST,
            format!("医療機関等コード (facility): {e}"),
        )
    })
}

/// A refusal of the facility rules as the page shows it: the status and
/// the sentence (with its KZA code) the JSON API would answer. The
/// service's own failures become the error page.
fn refused(error: FacilityError) -> Result<(StatusCode, String), ConsoleError> {
    let api = ApiError::from(error);
    if api.status.is_server_error() {
        Err(api.into())
    } else {
        Ok((api.status, format!("{} [{}]", api.message, api.code)))
    }
}

/// Runs blocking store work (argon2 included) off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ConsoleError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ConsoleError::from(ApiError::internal(e)))
}

/// The facilities for the selector, the chosen one included.
fn known_facilities(
    state: &AppState,
    chosen: &MedicalInstitutionCode,
) -> Result<Vec<String>, ConsoleError> {
    let mut codes: Vec<String> = admin::facilities(&state.store)
        .map_err(|e| ConsoleError::from(ApiError::from(e)))?
        .iter()
        .map(|c| c.as_str().to_string())
        .collect();
    if !codes.iter().any(|c| c == chosen.as_str()) {
        codes.push(chosen.as_str().to_string());
        codes.sort();
    }
    Ok(codes)
}

fn back(path: &str, facility: &MedicalInstitutionCode, what: &str) -> Page {
    done(&format!("{path}?facility={}", facility.as_str()), what)
}

// ---- 環境設定 ----

async fn environment_page(
    State(state): State<AppState>,
    session: LoggedIn,
    Query(q): Query<PageQuery>,
) -> Page {
    let facility = facility_of(q.facility.as_deref())?;
    environment_with(
        state,
        session,
        facility,
        StatusCode::OK,
        done_notice(&q.done),
        None,
    )
    .await
}

async fn environment_with(
    state: AppState,
    session: LoggedIn,
    facility: MedicalInstitutionCode,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<String>,
) -> Page {
    let (setting, facilities) = {
        let (state, facility) = (state.clone(), facility.clone());
        blocking(move || {
            Ok::<_, ConsoleError>((
                admin::environment(&state.store, &facility)
                    .map_err(|e| ConsoleError::from(ApiError::from(e)))?,
                known_facilities(&state, &facility)?,
            ))
        })
        .await??
    };
    page(
        "environment.html",
        &session,
        status,
        notice,
        context! {
            active => "environment",
            facility => facility.as_str(),
            facilities => facilities,
            setting => setting,
            error => error,
        },
    )
}

#[derive(Deserialize)]
struct EnvironmentForm {
    csrf: String,
    facility: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    outpatient_flow: Option<String>,
    activation_delay_seconds: String,
}

async fn set_environment(
    State(state): State<AppState>,
    session: LoggedIn,
    Form(form): Form<EnvironmentForm>,
) -> Page {
    session.check(&form.csrf)?;
    let facility = facility_of(Some(&form.facility))?;
    let delay = match form.activation_delay_seconds.trim().parse::<i64>() {
        Ok(seconds) if seconds >= 0 => seconds,
        _ => {
            let error =
                "アクティベーションコードの有効化までの秒数: a whole number of seconds, 0 or more";
            return environment_with(
                state,
                session,
                facility,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(error.into()),
            )
            .await;
        }
    };
    let enabled = form.outpatient_flow.is_some();
    let (store, code) = (state.store.clone(), facility.clone());
    let result = blocking(move || {
        admin::set_outpatient_flow(&store, &code, enabled)?;
        admin::set_activation_delay(&store, &code, delay)
    })
    .await?;
    match result {
        Ok(()) => back("/admin/environment", &facility, "environment"),
        Err(e) => {
            let (status, error) = refused(e)?;
            environment_with(state, session, facility, status, None, Some(error)).await
        }
    }
}

// ---- アクティベーションコード ----

async fn activation_page(
    State(state): State<AppState>,
    session: LoggedIn,
    Query(q): Query<PageQuery>,
) -> Page {
    let facility = facility_of(q.facility.as_deref())?;
    activation_with(
        state,
        session,
        facility,
        StatusCode::OK,
        done_notice(&q.done),
        None,
    )
    .await
}

async fn activation_with(
    state: AppState,
    session: LoggedIn,
    facility: MedicalInstitutionCode,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<String>,
) -> Page {
    let now = state.clock.now();
    let (codes, setting, facilities) = {
        let (state, facility) = (state.clone(), facility.clone());
        blocking(move || {
            let api = |e: FacilityError| ConsoleError::from(ApiError::from(e));
            Ok::<_, ConsoleError>((
                admin::activation_codes(&state.store, &facility, now).map_err(api)?,
                admin::environment(&state.store, &facility).map_err(api)?,
                known_facilities(&state, &facility)?,
            ))
        })
        .await??
    };
    page(
        "activation.html",
        &session,
        status,
        notice,
        context! {
            active => "activation",
            facility => facility.as_str(),
            facilities => facilities,
            codes => codes,
            setting => setting,
            error => error,
        },
    )
}

#[derive(Deserialize)]
struct IssueForm {
    csrf: String,
    facility: String,
    memo: String,
}

async fn issue_code(
    State(state): State<AppState>,
    session: LoggedIn,
    Form(form): Form<IssueForm>,
) -> Page {
    session.check(&form.csrf)?;
    let facility = facility_of(Some(&form.facility))?;
    let now = state.clock.now();
    let (store, code) = (state.store.clone(), facility.clone());
    let issued =
        blocking(move || admin::issue_activation_code(&store, &code, &form.memo, now)).await?;
    match issued {
        Ok(_) => back("/admin/activation-codes", &facility, "issued"),
        Err(e) => {
            let (status, error) = refused(e)?;
            activation_with(state, session, facility, status, None, Some(error)).await
        }
    }
}

#[derive(Deserialize)]
struct InvalidateForm {
    csrf: String,
    facility: String,
    code: String,
}

async fn invalidate_code(
    State(state): State<AppState>,
    session: LoggedIn,
    Form(form): Form<InvalidateForm>,
) -> Page {
    session.check(&form.csrf)?;
    let facility = facility_of(Some(&form.facility))?;
    let (store, code) = (state.store.clone(), facility.clone());
    let invalidated =
        blocking(move || admin::invalidate_activation_code(&store, &code, form.code.trim()))
            .await?;
    match invalidated {
        Ok(()) => back("/admin/activation-codes", &facility, "invalidated"),
        Err(e) => {
            let (status, error) = refused(e)?;
            activation_with(state, session, facility, status, None, Some(error)).await
        }
    }
}

// ---- アカウント ----

async fn accounts_page(
    State(state): State<AppState>,
    session: LoggedIn,
    Query(q): Query<PageQuery>,
) -> Page {
    let facility = facility_of(q.facility.as_deref())?;
    accounts_with(
        state,
        session,
        facility,
        StatusCode::OK,
        done_notice(&q.done),
        None,
    )
    .await
}

async fn accounts_with(
    state: AppState,
    session: LoggedIn,
    facility: MedicalInstitutionCode,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<String>,
) -> Page {
    let now = state.clock.now();
    let today = crate::clock::jst_date(now).to_string();
    let (accounts, facilities) = {
        let (state, facility) = (state.clone(), facility.clone());
        blocking(move || {
            Ok::<_, ConsoleError>((
                admin::accounts(&state.store, &facility, now)
                    .map_err(|e| ConsoleError::from(ApiError::from(e)))?,
                known_facilities(&state, &facility)?,
            ))
        })
        .await??
    };
    page(
        "accounts.html",
        &session,
        status,
        notice,
        context! {
            active => "accounts",
            facility => facility.as_str(),
            facilities => facilities,
            accounts => accounts,
            today => today,
            roles => [Role::General.label(), Role::MedicalInformation.label()],
            error => error,
        },
    )
}

fn role_of(label: &str) -> Result<Role, String> {
    [Role::General, Role::MedicalInformation]
        .into_iter()
        .find(|r| r.label() == label.trim())
        .ok_or_else(|| format!("権限区分: {label:?} is neither 一般利用者 nor 医療情報閲覧"))
}

fn date_of(text: &str) -> Result<Date, String> {
    Date::parse(
        text.trim(),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|e| format!("利用開始年月日: YYYY-MM-DD: {e}"))
}

#[derive(Deserialize)]
struct RegisterForm {
    csrf: String,
    facility: String,
    role: String,
    user_id: String,
    name: String,
    kana: String,
    start_date: String,
    password: String,
}

async fn register_account(
    State(state): State<AppState>,
    session: LoggedIn,
    Form(form): Form<RegisterForm>,
) -> Page {
    session.check(&form.csrf)?;
    let facility = facility_of(Some(&form.facility))?;
    let fields = role_of(&form.role).and_then(|role| Ok((role, date_of(&form.start_date)?)));
    let (role, start_date) = match fields {
        Ok(fields) => fields,
        Err(error) => {
            return accounts_with(
                state,
                session,
                facility,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(error),
            )
            .await;
        }
    };
    let account = NewAccount {
        role,
        user_id: form.user_id.trim().to_string(),
        name: form.name,
        kana: form.kana,
        start_date,
        password: form.password,
    };
    let now = state.clock.now();
    let (store, code) = (state.store.clone(), facility.clone());
    let registered = blocking(move || admin::register_account(&store, &code, account, now)).await?;
    match registered {
        Ok(_) => back("/admin/accounts", &facility, "registered"),
        Err(e) => {
            let (status, error) = refused(e)?;
            accounts_with(state, session, facility, status, None, Some(error)).await
        }
    }
}

#[derive(Deserialize)]
struct UpdateForm {
    csrf: String,
    facility: String,
    user_id: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kana: String,
    #[serde(default)]
    start_date: String,
    #[serde(default)]
    password: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    unlock: Option<String>,
}

/// Empty fields of the update form leave the account's value as it is.
fn update_of(form: &UpdateForm) -> Result<AccountUpdate, String> {
    let given = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    Ok(AccountUpdate {
        role: given(&form.role).map(|r| role_of(&r)).transpose()?,
        name: given(&form.name),
        kana: given(&form.kana),
        start_date: given(&form.start_date).map(|d| date_of(&d)).transpose()?,
        // Passwords are taken as typed: spaces would be part of them.
        password: Some(form.password.clone()).filter(|p| !p.is_empty()),
        unlock: form.unlock.is_some(),
    })
}

async fn update_account(
    State(state): State<AppState>,
    session: LoggedIn,
    Form(form): Form<UpdateForm>,
) -> Page {
    session.check(&form.csrf)?;
    let facility = facility_of(Some(&form.facility))?;
    let update = match update_of(&form) {
        Ok(update) => update,
        Err(error) => {
            return accounts_with(
                state,
                session,
                facility,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(error),
            )
            .await;
        }
    };
    let now = state.clock.now();
    let (store, code, user_id) = (state.store.clone(), facility.clone(), form.user_id.clone());
    let updated =
        blocking(move || admin::update_account(&store, &code, user_id.trim(), update, now)).await?;
    match updated {
        Ok(_) => back("/admin/accounts", &facility, "updated"),
        Err(e) => {
            let (status, error) = refused(e)?;
            accounts_with(state, session, facility, status, None, Some(error)).await
        }
    }
}

// ---- お知らせ ----

async fn notices_page(
    State(state): State<AppState>,
    session: LoggedIn,
    Query(q): Query<Done>,
) -> Page {
    notices_with(state, session, StatusCode::OK, done_notice(&q), None).await
}

async fn notices_with(
    state: AppState,
    session: LoggedIn,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<String>,
) -> Page {
    let store = state.store.clone();
    let notices = blocking(move || admin::notices(&store))
        .await?
        .map_err(|e| ConsoleError::from(ApiError::from(e)))?;
    page(
        "notices.html",
        &session,
        status,
        notice,
        context! { active => "notices", notices => notices, error => error },
    )
}

#[derive(Deserialize)]
struct NoticeForm {
    csrf: String,
    title: String,
    #[serde(default)]
    link: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    outage: Option<String>,
}

async fn publish_notice(
    State(state): State<AppState>,
    session: LoggedIn,
    Form(form): Form<NoticeForm>,
) -> Page {
    session.check(&form.csrf)?;
    let new = NewNotice {
        title: form.title,
        link: form.link.trim().to_string(),
        outage: form.outage.is_some(),
    };
    let now = state.clock.now();
    let store = state.store.clone();
    let published = blocking(move || admin::publish_notice(&store, new, now)).await?;
    match published {
        Ok(_) => done("/admin/notices", "notice"),
        Err(e) => {
            let (status, error) = refused(e)?;
            notices_with(state, session, status, None, Some(error)).await
        }
    }
}
