//! The administrator's screens of the service for マイナ資格確認アプリ, per
//! facility: 環境設定 (the 外来診療等(通常とは異なる動線)機能 switch),
//! アクティベーションコード発行 and its list (with 無効化する), アカウント登録
//! and update, and お知らせ (for every facility). Each calls the service
//! core's facility administration ([`crate::service::facility`]), as the
//! admin JSON API does.
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

use super::{ConsoleError, Done, LoggedIn, Page, Shown, blocking, done, page};
use crate::facility::{AccountUpdate, FacilityError, NewAccount, NewNotice, Role};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::model::MedicalInstitutionCode;
use crate::service::Service;
use crate::service::facility::EnvironmentChange;

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

/// The facilities for the selector, the chosen one included.
fn known_facilities(
    state: &AppState,
    chosen: &MedicalInstitutionCode,
) -> Result<Vec<String>, ConsoleError> {
    let mut codes: Vec<String> = state
        .facilities()
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

/// A facility screen's data, read off the async threads with the
/// facilities for the selector.
async fn read_screen<T: Send + 'static>(
    state: &AppState,
    facility: &MedicalInstitutionCode,
    read: impl FnOnce(&Service, &MedicalInstitutionCode) -> Result<T, FacilityError> + Send + 'static,
) -> Result<(T, Vec<String>), ConsoleError> {
    let (state, facility) = (state.clone(), facility.clone());
    blocking(move || {
        Ok((
            read(&state, &facility).map_err(|e| ConsoleError::from(ApiError::from(e)))?,
            known_facilities(&state, &facility)?,
        ))
    })
    .await?
}

/// A facility screen's address: the form's page, of the facility it was for.
fn screen_of(path: &str, facility: &MedicalInstitutionCode) -> String {
    format!("{path}?facility={}", facility.as_str())
}

/// Runs a facility admin action off the async threads. Done, it goes back
/// to `to` with the `what` notice (so a reload does not post again);
/// refused by the facility rules, it shows the form's page again through
/// `again`, with the refusal.
async fn act<T: Send + 'static, Again: Future<Output = Page>>(
    action: impl FnOnce() -> Result<T, FacilityError> + Send + 'static,
    (to, what): (&str, &str),
    again: impl FnOnce(Shown) -> Again,
) -> Page {
    match blocking(action).await? {
        Ok(_) => done(to, what),
        Err(e) => {
            let (status, error) = refused(e)?;
            again(Shown::refused(status, error)).await
        }
    }
}

// ---- 環境設定 ----

async fn environment_page(
    State(state): State<AppState>,
    session: LoggedIn,
    Query(q): Query<PageQuery>,
) -> Page {
    let facility = facility_of(q.facility.as_deref())?;
    environment_with(state, session, facility, Shown::asked(&q.done)).await
}

async fn environment_with(
    state: AppState,
    session: LoggedIn,
    facility: MedicalInstitutionCode,
    shown: Shown,
) -> Page {
    let (setting, facilities) = read_screen(&state, &facility, Service::environment).await?;
    page(
        "environment.html",
        &session,
        shown,
        context! {
            active => "environment",
            facility => facility.as_str(),
            facilities => facilities,
            setting => setting,
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
            return environment_with(state, session, facility, Shown::invalid(error)).await;
        }
    };
    let enabled = form.outpatient_flow.is_some();
    let (service, code) = (state.service.clone(), facility.clone());
    let change = EnvironmentChange {
        outpatient_flow: Some(enabled),
        activation_delay_seconds: Some(delay),
    };
    act(
        move || service.change_environment(&code, change),
        (&screen_of("/admin/environment", &facility), "environment"),
        |shown| environment_with(state, session, facility, shown),
    )
    .await
}

// ---- アクティベーションコード ----

async fn activation_page(
    State(state): State<AppState>,
    session: LoggedIn,
    Query(q): Query<PageQuery>,
) -> Page {
    let facility = facility_of(q.facility.as_deref())?;
    activation_with(state, session, facility, Shown::asked(&q.done)).await
}

async fn activation_with(
    state: AppState,
    session: LoggedIn,
    facility: MedicalInstitutionCode,
    shown: Shown,
) -> Page {
    let ((codes, setting), facilities) = read_screen(&state, &facility, |service, facility| {
        Ok((
            service.activation_codes(facility)?,
            service.environment(facility)?,
        ))
    })
    .await?;
    page(
        "activation.html",
        &session,
        shown,
        context! {
            active => "activation",
            facility => facility.as_str(),
            facilities => facilities,
            codes => codes,
            setting => setting,
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
    let (service, code) = (state.service.clone(), facility.clone());
    act(
        move || service.issue_activation_code(&code, &form.memo),
        (&screen_of("/admin/activation-codes", &facility), "issued"),
        |shown| activation_with(state, session, facility, shown),
    )
    .await
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
    let (service, code) = (state.service.clone(), facility.clone());
    act(
        move || service.invalidate_activation_code(&code, form.code.trim()),
        (
            &screen_of("/admin/activation-codes", &facility),
            "invalidated",
        ),
        |shown| activation_with(state, session, facility, shown),
    )
    .await
}

// ---- アカウント ----

async fn accounts_page(
    State(state): State<AppState>,
    session: LoggedIn,
    Query(q): Query<PageQuery>,
) -> Page {
    let facility = facility_of(q.facility.as_deref())?;
    accounts_with(state, session, facility, Shown::asked(&q.done)).await
}

async fn accounts_with(
    state: AppState,
    session: LoggedIn,
    facility: MedicalInstitutionCode,
    shown: Shown,
) -> Page {
    let today = crate::clock::jst_date(state.clock.now()).to_string();
    let (accounts, facilities) = read_screen(&state, &facility, |service, facility| {
        service.accounts(facility)
    })
    .await?;
    page(
        "accounts.html",
        &session,
        shown,
        context! {
            active => "accounts",
            facility => facility.as_str(),
            facilities => facilities,
            accounts => accounts,
            today => today,
            roles => [Role::General.label(), Role::MedicalInformation.label()],
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
            return accounts_with(state, session, facility, Shown::invalid(error)).await;
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
    let (service, code) = (state.service.clone(), facility.clone());
    act(
        move || service.register_account(&code, account),
        (&screen_of("/admin/accounts", &facility), "registered"),
        |shown| accounts_with(state, session, facility, shown),
    )
    .await
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
            return accounts_with(state, session, facility, Shown::invalid(error)).await;
        }
    };
    let (service, code, user_id) = (
        state.service.clone(),
        facility.clone(),
        form.user_id.clone(),
    );
    act(
        move || service.update_account(&code, user_id.trim(), update),
        (&screen_of("/admin/accounts", &facility), "updated"),
        |shown| accounts_with(state, session, facility, shown),
    )
    .await
}

// ---- お知らせ ----

async fn notices_page(
    State(state): State<AppState>,
    session: LoggedIn,
    Query(q): Query<Done>,
) -> Page {
    notices_with(state, session, Shown::asked(&q)).await
}

async fn notices_with(state: AppState, session: LoggedIn, shown: Shown) -> Page {
    let service = state.service.clone();
    let notices = blocking(move || service.notices())
        .await?
        .map_err(|e| ConsoleError::from(ApiError::from(e)))?;
    page(
        "notices.html",
        &session,
        shown,
        context! { active => "notices", notices => notices },
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
    let service = state.service.clone();
    act(
        move || service.publish_notice(new),
        ("/admin/notices", "notice"),
        |shown| notices_with(state, session, shown),
    )
    .await
}
