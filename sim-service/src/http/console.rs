//! The admin console: server-rendered HTML under `/admin` for a person at a
//! browser — the administrator's screens for マイナ資格確認アプリ (環境設定,
//! アクティベーションコード発行, アカウント登録, お知らせ; see [`facility`]),
//! the fixtures, the service clock, the faults, and the live confirmation
//! history with the HTTP and APDU trace of each.
//!
//! It calls the same store and state as the `/admin/v1` JSON API and
//! changes nothing of that API's behaviour.
//!
//! Protection:
//! - a login with the console password: the admin token when the service has
//!   one, otherwise [`ServiceConfig::console_password`]; with neither the
//!   console refuses every login. It is never open without a password, even
//!   on loopback: any web page the tester's browser visits can send requests
//!   to `127.0.0.1`, and a DNS-rebinding page can even read the answers, so a
//!   loopback address is no proof that the tester is the one asking;
//! - after five wrong passwords in a row, each login waits a back-off that
//!   doubles (1 s, 2 s, … up to 5 min; `429` with `Retry-After` meanwhile);
//! - a session cookie (`HttpOnly`, `SameSite=Strict`, path `/admin`,
//!   `Secure` under `--tls`) and a CSRF token per session that every POST
//!   form carries back;
//! - no request from a page of another origin, and (without an admin token)
//!   loopback Host names only (see [`super::guard`]);
//! - minijinja's HTML auto-escaping on every template, and a Content
//!   Security Policy that allows no script at all;
//! - nothing a form carries (names, insurance numbers, passwords) goes to
//!   the log.
//!
//! [`ServiceConfig::console_password`]: super::ServiceConfig::console_password

use std::sync::LazyLock;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Form, Json, Router, routing};
use minijinja::{Environment, Value, context};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::ApiError;
use super::faults::{ENDPOINTS, Fault, FaultSet};
use super::{AppState, rfc3339};
use crate::clock::{ClockMode, JST};

mod facility;
pub mod session;
pub mod trace;

pub use session::Sessions;

/// The session cookie's name.
const COOKIE: &str = "kazasu_console";
/// The cookie of the login form's CSRF token (there is no session yet).
const LOGIN_COOKIE: &str = "kazasu_console_login";
/// How many confirmations the history page lists.
const HISTORY_ROWS: u32 = 200;

/// The console's pages (HTML, behind a login).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", routing::get(dashboard))
        .route("/admin/", routing::get(|| async { Redirect::to("/admin") }))
        .route("/admin/login", routing::get(login_page).post(login))
        .route("/admin/logout", routing::post(logout))
        .route("/admin/console.css", routing::get(stylesheet))
        .route(
            "/admin/fixtures",
            routing::get(fixtures_page).post(load_fixtures),
        )
        .route("/admin/reset", routing::post(reset_state))
        .route("/admin/clock", routing::get(clock_page).post(set_clock))
        .route("/admin/clock/advance", routing::post(advance_clock))
        .route("/admin/clock/reset", routing::post(reset_clock))
        .route("/admin/faults", routing::get(faults_page).post(set_faults))
        .route("/admin/faults/clear", routing::post(clear_faults))
        .route("/admin/confirmations", routing::get(history_page))
        .route("/admin/confirmations/{id}", routing::get(confirmation_page))
        .merge(facility::routes())
        .layer(axum::middleware::map_response(security_headers))
}

/// The console's additions to the admin JSON API (behind the admin token
/// like the rest of it).
pub fn admin_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/confirmations/{id}/apdu-trace",
            routing::put(put_apdu_trace).layer(axum::extract::DefaultBodyLimit::max(APDU_LIMIT)),
        )
        .route(
            "/admin/v1/confirmations/{id}/trace",
            routing::get(get_trace),
        )
}

/// An APDU trace carries every certificate read: larger than a client request.
const APDU_LIMIT: usize = 1024 * 1024;

/// The templates, compiled in: the console needs no files at run time.
macro_rules! templates {
    ($($name:literal),+ $(,)?) => {
        &[$(($name, include_str!(concat!("console/templates/", $name)))),+]
    };
}

const TEMPLATE_FILES: &[(&str, &str)] = templates![
    "base.html",
    "login.html",
    "error.html",
    "dashboard.html",
    "fixtures.html",
    "clock.html",
    "faults.html",
    "confirmations.html",
    "confirmation.html",
    "facility_picker.html",
    "environment.html",
    "activation.html",
    "accounts.html",
    "notices.html",
];

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    for &(name, source) in TEMPLATE_FILES {
        // The templates are part of the binary; one that does not parse is
        // a build defect the console tests catch.
        if let Err(e) = env.add_template(name, source) {
            tracing::error!("console template {name}: {e}");
        }
    }
    // RFC 3339 times of the facility views, as the screens show them (JST).
    env.add_filter("jst", |v: String| {
        OffsetDateTime::parse(&v, &Rfc3339).map_or(v, jst)
    });
    env.add_filter("pretty", |v: Value| {
        serde_json::to_string_pretty(&v).unwrap_or_else(|_| v.to_string())
    });
    env
});

/// A page that could not be shown, as HTML.
#[derive(Debug)]
pub struct ConsoleError {
    status: StatusCode,
    message: String,
}

impl ConsoleError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ConsoleError {
            status,
            message: message.into(),
        }
    }
}

impl From<ApiError> for ConsoleError {
    fn from(e: ApiError) -> Self {
        ConsoleError::new(e.status, e.message)
    }
}

impl From<crate::service::ServiceError> for ConsoleError {
    fn from(e: crate::service::ServiceError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<crate::store::StoreError> for ConsoleError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let body = render_page(
            "error.html",
            context! { status => self.status.as_u16(), reason => self.status.canonical_reason(), message => self.message },
        )
        .unwrap_or_else(|_| Html(format!("{}", self.status)));
        (self.status, body).into_response()
    }
}

type Page = Result<Response, ConsoleError>;

fn render_page(name: &str, ctx: Value) -> Result<Html<String>, ConsoleError> {
    let template = TEMPLATES
        .get_template(name)
        .map_err(|e| ConsoleError::from(ApiError::internal(e)))?;
    template
        .render(ctx)
        .map(Html)
        .map_err(|e| ApiError::internal(e).into())
}

/// A page of a logged-in session: the template with the session's CSRF
/// token, the active menu entry and an optional notice.
fn page(name: &str, session: &LoggedIn, shown: Shown, ctx: Value) -> Page {
    let ctx = context! {
        csrf => session.csrf,
        notice => shown.notice,
        error => shown.error,
        ..ctx
    };
    Ok((shown.status, render_page(name, ctx)?).into_response())
}

/// How a page is shown besides its data: as asked (with the notice of the
/// action that led there), or again after its form was refused (the status
/// and the sentence why, next to what the user typed).
struct Shown {
    status: StatusCode,
    notice: Option<&'static str>,
    error: Option<String>,
}

impl Shown {
    fn plain() -> Self {
        Shown {
            status: StatusCode::OK,
            notice: None,
            error: None,
        }
    }

    fn asked(done: &Done) -> Self {
        Shown {
            notice: done_notice(done),
            ..Shown::plain()
        }
    }

    fn refused(status: StatusCode, error: impl Into<String>) -> Self {
        Shown {
            status,
            notice: None,
            error: Some(error.into()),
        }
    }

    /// A form whose fields do not parse.
    fn invalid(error: impl Into<String>) -> Self {
        Shown::refused(StatusCode::UNPROCESSABLE_ENTITY, error)
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

/// No script, no frames, forms only to the console itself, no caching of
/// pages that show fixtures and results.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        // Not `no-referrer`: under it a browser names the console's own
        // forms `Origin: null`, which the origin check cannot tell from a
        // foreign page's; `same-origin` still sends nothing off the site.
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("console/templates/console.css"),
    )
}

// ---- login, sessions, CSRF ----

/// The password the console accepts, if any.
fn console_password(state: &AppState) -> Option<&str> {
    state
        .config
        .admin_token
        .as_deref()
        .or(state.config.console_password.as_deref())
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A console cookie; `Secure` when the service is on HTTPS, so the browser
/// never sends it over plain HTTP.
fn set_cookie(state: &AppState, name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
    let age = max_age.map_or(String::new(), |s| format!("; Max-Age={s}"));
    let secure = if state.config.https { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/admin; HttpOnly; SameSite=Strict{secure}{age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A logged-in browser: the extractor every page but the login takes. A
/// request without a live session is sent to the login page.
pub struct LoggedIn {
    id: String,
    csrf: String,
}

impl LoggedIn {
    /// Refuses a form whose CSRF token is not this session's.
    fn check(&self, csrf: &str) -> Result<(), ConsoleError> {
        if session::same_secret(csrf, &self.csrf) {
            Ok(())
        } else {
            Err(ConsoleError::new(
                StatusCode::FORBIDDEN,
                "the form's CSRF token is missing or not this session's; reload the page and try again",
            ))
        }
    }
}

impl FromRequestParts<AppState> for LoggedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let live = cookie(&parts.headers, COOKIE).and_then(|id| {
            state.console.get(id).map(|s| LoggedIn {
                id: id.to_string(),
                csrf: s.csrf,
            })
        });
        match live {
            Some(logged_in) if console_password(state).is_some() => Ok(logged_in),
            _ if parts.method == axum::http::Method::GET => {
                Err(Redirect::to("/admin/login").into_response())
            }
            _ => Err(ConsoleError::new(
                StatusCode::UNAUTHORIZED,
                "not logged in (or the session expired): log in at /admin/login",
            )
            .into_response()),
        }
    }
}

async fn login_page(State(state): State<AppState>) -> Page {
    let token = session::random_token().map_err(|e| ConsoleError::from(ApiError::internal(e)))?;
    let html = render_page(
        "login.html",
        context! { csrf => token, enabled => console_password(&state).is_some(), admin_token => state.config.admin_token.is_some() },
    )?;
    let mut response = html.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(&state, LOGIN_COOKIE, &token, Some(3600)),
    );
    Ok(response)
}

#[derive(Deserialize)]
struct LoginForm {
    password: String,
    csrf: String,
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Page {
    let expected_csrf = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected_csrf.is_empty() || !session::same_secret(&form.csrf, expected_csrf) {
        return Err(ConsoleError::new(
            StatusCode::FORBIDDEN,
            "the login form's CSRF token does not match its cookie; open /admin/login again",
        ));
    }
    let Some(password) = console_password(&state) else {
        return Err(ConsoleError::new(
            StatusCode::FORBIDDEN,
            "the console has no password: start the service with an admin token (or let `kazasu service` make a console password)",
        ));
    };
    // A burst of wrong passwords is slowed: during the back-off no password
    // is even compared, the right one included.
    if let Some(wait) = state.console.login_wait() {
        let seconds = wait.as_secs() + 1;
        let mut refused = ConsoleError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many wrong passwords; try again in {seconds} s"),
        )
        .into_response();
        refused
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return Ok(refused);
    }
    if !session::same_secret(form.password.trim(), password) {
        state.console.login_failed();
        let html = render_page(
            "login.html",
            context! { csrf => form.csrf, enabled => true, admin_token => state.config.admin_token.is_some(), failed => true },
        )?;
        return Ok((StatusCode::UNAUTHORIZED, html).into_response());
    }
    state.console.login_succeeded();
    let (id, _) = state
        .console
        .start()
        .map_err(|e| ConsoleError::from(ApiError::internal(e)))?;
    let mut response = Redirect::to("/admin").into_response();
    let lifetime = session::SESSION_LIFETIME.as_secs();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, COOKIE, &id, Some(lifetime)),
    );
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, LOGIN_COOKIE, "", Some(0)),
    );
    Ok(response)
}

/// The CSRF token every POST form carries.
#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    session: LoggedIn,
    Form(form): Form<CsrfOnly>,
) -> Page {
    session.check(&form.csrf)?;
    state.console.end(&session.id);
    let mut response = Redirect::to("/admin/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&state, COOKIE, "", Some(0)));
    Ok(response)
}

/// After a form was carried out: back to its page, which says what was done.
fn done(to: &str, what: &str) -> Page {
    let join = if to.contains('?') { '&' } else { '?' };
    Ok(Redirect::to(&format!("{to}{join}done={what}")).into_response())
}

#[derive(Deserialize, Default)]
struct Done {
    #[serde(default)]
    done: Option<String>,
}

/// The sentence a `done` code stands for; unknown codes say nothing (the
/// query is not trusted to carry text onto the page).
fn done_notice(done: &Done) -> Option<&'static str> {
    Some(match done.done.as_deref()? {
        "clock" => "サービス時刻を変更しました (the service clock was set)",
        "faults" => "障害設定を変更しました (the faults were set)",
        "fixtures" => "フィクスチャを読み込みました (the fixtures were loaded)",
        "reset" => "状態を初期化しました (challenges, history and registrations were cleared)",
        "environment" => "環境設定を更新しました (the environment setting was saved)",
        "issued" => "アクティベーションコードを発行しました (an activation code was issued)",
        "invalidated" => {
            "アクティベーションコードを無効化しました (the activation code was invalidated)"
        }
        "registered" => "アカウントを登録しました (the account was registered)",
        "updated" => "アカウントを更新しました (the account was updated)",
        "notice" => "お知らせを掲載しました (the notice was published)",
        _ => return None,
    })
}

// ---- dashboard ----

fn jst(t: OffsetDateTime) -> String {
    let t = t.to_offset(JST);
    t.format(time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second]"
    ))
    .unwrap_or_default()
}

#[derive(Serialize)]
struct ConsoleClock {
    now_jst: String,
    rfc3339_jst: String,
    mode: &'static str,
    mode_ja: &'static str,
}

fn clock_view(state: &AppState) -> ConsoleClock {
    let now = state.clock.now();
    let (mode, mode_ja) = match state.clock.mode() {
        ClockMode::Wall => ("wall", "実時刻"),
        ClockMode::Offset(_) => ("ticking", "ずらして進行中"),
        ClockMode::Frozen(_) => ("frozen", "停止中"),
    };
    ConsoleClock {
        now_jst: jst(now),
        rfc3339_jst: rfc3339(now.to_offset(JST)),
        mode,
        mode_ja,
    }
}

async fn dashboard(State(state): State<AppState>, session: LoggedIn) -> Page {
    let service = state.service.clone();
    let (persons, confirmations) = blocking(move || service.counts()).await??;
    let faults = state.faults.get();
    page(
        "dashboard.html",
        &session,
        Shown::plain(),
        context! {
            active => "dashboard",
            clock => clock_view(&state),
            persons => persons,
            confirmations => confirmations,
            faults => faults.endpoints.len(),
            maintenance => faults.maintenance,
        },
    )
}

// ---- fixtures ----

/// What the fixtures page shows of a person.
#[derive(Serialize)]
struct PersonRow {
    id: String,
    description: String,
    name: String,
    name_kana: String,
    registered: bool,
    variant: &'static str,
    auth_not_after: String,
    revoked: bool,
    phones: Vec<String>,
    qualifications: usize,
}

fn person_rows(state: &AppState) -> Result<Vec<PersonRow>, ConsoleError> {
    let mut rows = Vec::new();
    for person in state.fixture_persons()? {
        let profile = &person.card.profile;
        rows.push(PersonRow {
            id: person.id.clone(),
            description: person.description.clone(),
            name: profile.persona.name.clone(),
            name_kana: profile.persona.name_kana.clone(),
            registered: person.registered,
            variant: profile.variant.name(),
            auth_not_after: profile.certificates.auth.not_after.to_string(),
            revoked: profile.certificates.auth.revoked,
            phones: person
                .phones
                .iter()
                .map(|p| format!("{} ({}, {})", p.id, p.variant.name(), p.added))
                .collect(),
            qualifications: person.qualifications.len(),
        });
    }
    Ok(rows)
}

async fn fixtures_page(
    State(state): State<AppState>,
    session: LoggedIn,
    Query(q): Query<Done>,
) -> Page {
    fixtures_with(state, session, Shown::asked(&q), String::new()).await
}

async fn fixtures_with(state: AppState, session: LoggedIn, shown: Shown, toml: String) -> Page {
    let persons = blocking(move || person_rows(&state)).await??;
    page(
        "fixtures.html",
        &session,
        shown,
        context! { active => "fixtures", persons => persons, toml => toml },
    )
}

#[derive(Deserialize)]
struct FixturesForm {
    csrf: String,
    toml: String,
}

async fn load_fixtures(
    State(state): State<AppState>,
    session: LoggedIn,
    Form(form): Form<FixturesForm>,
) -> Page {
    session.check(&form.csrf)?;
    let service = state.service.clone();
    let toml = form.toml.clone();
    let installed = blocking(move || service.replace_fixtures(&toml, "the form")).await?;
    match installed {
        Ok(_) => done("/admin/fixtures", "fixtures"),
        Err(e) => {
            let e = ApiError::from(e);
            let shown = Shown::refused(e.status, e.message);
            fixtures_with(state, session, shown, form.toml).await
        }
    }
}

async fn reset_state(
    State(state): State<AppState>,
    session: LoggedIn,
    Form(form): Form<CsrfOnly>,
) -> Page {
    session.check(&form.csrf)?;
    let service = state.service.clone();
    blocking(move || service.reset_state()).await??;
    done("/admin/fixtures", "reset")
}

// ---- clock ----

async fn clock_page(
    State(state): State<AppState>,
    session: LoggedIn,
    Query(q): Query<Done>,
) -> Page {
    clock_with(&state, &session, Shown::asked(&q))
}

fn clock_with(state: &AppState, session: &LoggedIn, shown: Shown) -> Page {
    page(
        "clock.html",
        session,
        shown,
        context! { active => "clock", clock => clock_view(state) },
    )
}

#[derive(Deserialize)]
struct ClockForm {
    csrf: String,
    now: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    frozen: Option<String>,
}

async fn set_clock(
    State(state): State<AppState>,
    session: LoggedIn,
    Form(form): Form<ClockForm>,
) -> Page {
    session.check(&form.csrf)?;
    match OffsetDateTime::parse(form.now.trim(), &Rfc3339) {
        Ok(at) => {
            state.set_clock(at, form.frozen.is_some());
        }
        Err(e) => {
            return clock_with(
                &state,
                &session,
                Shown::invalid(format!(
                    "not an RFC 3339 time (e.g. 2026-12-01T09:00:00+09:00): {e}"
                )),
            );
        }
    }
    done("/admin/clock", "clock")
}

#[derive(Deserialize)]
struct AdvanceForm {
    csrf: String,
    seconds: String,
}

async fn advance_clock(
    State(state): State<AppState>,
    session: LoggedIn,
    Form(form): Form<AdvanceForm>,
) -> Page {
    session.check(&form.csrf)?;
    let advanced = form
        .seconds
        .trim()
        .parse::<i64>()
        .map_err(|e| format!("seconds: not a whole number: {e}"))
        .and_then(|s| {
            state
                .advance_clock(time::Duration::seconds(s))
                .map_err(|e| e.to_string())
        });
    match advanced {
        Ok(_) => done("/admin/clock", "clock"),
        Err(e) => clock_with(&state, &session, Shown::invalid(e)),
    }
}

async fn reset_clock(
    State(state): State<AppState>,
    session: LoggedIn,
    Form(form): Form<CsrfOnly>,
) -> Page {
    session.check(&form.csrf)?;
    state.reset_clock();
    done("/admin/clock", "clock")
}

// ---- faults ----

#[derive(Serialize)]
struct FaultRow {
    endpoint: &'static str,
    latency_ms: u64,
    status: Option<u16>,
    drop_connection: bool,
}

fn faults_with(state: &AppState, session: &LoggedIn, shown: Shown) -> Page {
    let set = state.faults.get();
    let rows: Vec<FaultRow> = std::iter::once("*")
        .chain(ENDPOINTS.iter().copied())
        .map(|endpoint| {
            let fault = set.endpoints.get(endpoint).cloned().unwrap_or_default();
            FaultRow {
                endpoint,
                latency_ms: fault.latency_ms,
                status: fault.status,
                drop_connection: fault.drop_connection,
            }
        })
        .collect();
    page(
        "faults.html",
        session,
        shown,
        context! { active => "faults", rows => rows, maintenance => set.maintenance },
    )
}

async fn faults_page(
    State(state): State<AppState>,
    session: LoggedIn,
    Query(q): Query<Done>,
) -> Page {
    faults_with(&state, &session, Shown::asked(&q))
}

/// The faults form: `latency:<endpoint>`, `status:<endpoint>`,
/// `drop:<endpoint>` per endpoint (and `*`), and `maintenance`.
fn fault_set(form: &std::collections::HashMap<String, String>) -> Result<FaultSet, String> {
    let mut set = FaultSet {
        maintenance: form.contains_key("maintenance"),
        ..FaultSet::default()
    };
    for endpoint in std::iter::once("*").chain(ENDPOINTS.iter().copied()) {
        let field = |kind: &str| {
            form.get(&format!("{kind}:{endpoint}"))
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
        };
        let fault = Fault {
            latency_ms: field("latency")
                .map(|v| v.parse::<u64>())
                .transpose()
                .map_err(|e| format!("{endpoint}: latency (ms): {e}"))?
                .unwrap_or(0),
            status: field("status")
                .map(|v| v.parse::<u16>())
                .transpose()
                .map_err(|e| format!("{endpoint}: status: {e}"))?,
            drop_connection: field("drop").is_some(),
        };
        if fault != Fault::default() {
            set.endpoints.insert(endpoint.to_string(), fault);
        }
    }
    set.validate()?;
    Ok(set)
}

async fn set_faults(
    State(state): State<AppState>,
    session: LoggedIn,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> Page {
    session.check(form.get("csrf").map_or("", String::as_str))?;
    match fault_set(&form) {
        Ok(set) => {
            state.faults.set(set);
            done("/admin/faults", "faults")
        }
        Err(e) => faults_with(&state, &session, Shown::invalid(e)),
    }
}

async fn clear_faults(
    State(state): State<AppState>,
    session: LoggedIn,
    Form(form): Form<CsrfOnly>,
) -> Page {
    session.check(&form.csrf)?;
    state.faults.set(FaultSet::default());
    done("/admin/faults", "faults")
}

// ---- confirmation history and traces ----

#[derive(Serialize)]
struct HistoryRow {
    id: i64,
    at: String,
    facility: String,
    device: String,
    method: String,
    person: Option<String>,
    segment: Option<String>,
    error_code: Option<String>,
    shows_qualification: bool,
    http: bool,
    apdu: bool,
}

fn header_field(result: &serde_json::Value, field: &str) -> Option<String> {
    match &result["MessageHeader"][field] {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

#[derive(Deserialize, Default)]
struct HistoryQuery {
    /// Reload the page every few seconds (a meta refresh: the console runs
    /// no script).
    #[serde(default)]
    live: Option<String>,
}

async fn history_page(
    State(state): State<AppState>,
    session: LoggedIn,
    Query(q): Query<HistoryQuery>,
) -> Page {
    let service = state.service.clone();
    let rows = blocking(move || service.latest_confirmations(HISTORY_ROWS)).await??;
    let rows: Vec<HistoryRow> = rows
        .into_iter()
        .map(|(c, http, apdu)| HistoryRow {
            id: c.id,
            at: jst(c.confirmed_at),
            segment: header_field(&c.result, "SegmentOfResult"),
            error_code: header_field(&c.result, "ErrorCode"),
            facility: c.facility,
            device: c.device,
            method: c.method,
            person: c.person,
            shows_qualification: c.shows_qualification,
            http,
            apdu,
        })
        .collect();
    page(
        "confirmations.html",
        &session,
        Shown::plain(),
        context! {
            active => "confirmations",
            rows => rows,
            limit => HISTORY_ROWS,
            live => q.live.is_some(),
        },
    )
}

async fn confirmation_page(
    State(state): State<AppState>,
    session: LoggedIn,
    Path(id): Path<i64>,
) -> Page {
    let service = state.service.clone();
    let traces = state.traces.clone();
    let found = blocking(move || {
        traces.flush();
        service.confirmation_with_trace(id)
    })
    .await?;
    let (c, trace) = match found {
        Ok(found) => found,
        Err(crate::service::ServiceError::UnknownConfirmation(id)) => {
            return Err(ConsoleError::new(
                StatusCode::NOT_FOUND,
                format!("no confirmation {id} in the history"),
            ));
        }
        Err(e) => return Err(ApiError::from(e).into()),
    };
    page(
        "confirmation.html",
        &session,
        Shown::plain(),
        context! {
            active => "confirmations",
            id => c.id,
            at => jst(c.confirmed_at),
            facility => c.facility,
            device => c.device,
            method => c.method,
            person => c.person,
            shows_qualification => c.shows_qualification,
            result => Value::from_serialize(&c.result),
            http => trace.http.as_ref().map(Value::from_serialize),
            apdu => trace.apdu.as_ref().map(Value::from_serialize),
        },
    )
}

// ---- the admin JSON API's trace endpoints ----

/// An APDU trace of one confirmation, as the harness recorded it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ApduTrace {
    /// The trace's lines, as `kazasu` writes them (a PIN shown as `*`).
    #[schema(value_type = Vec<Object>)]
    records: Vec<sim_card::trace::TraceRecord>,
}

/// Keeps the APDU trace of a confirmation (replacing an earlier one).
#[utoipa::path(
    put,
    path = "/admin/v1/confirmations/{id}/apdu-trace",
    tag = "admin",
    params(("id" = i64, Path, description = "The confirmation's history id (x-kazasu-confirmation-id)")),
    request_body = ApduTrace,
    responses(
        (status = 204, description = "Kept"),
        (status = 404, description = "`unknown_confirmation`", body = ApiError),
    )
)]
async fn put_apdu_trace(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    super::json::ApiJson(trace): super::json::ApiJson<ApduTrace>,
) -> Result<StatusCode, ApiError> {
    let records = serde_json::to_value(&trace.records).map_err(ApiError::internal)?;
    state
        .blocking(move |service| service.record_apdu_trace(id, &records))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Trace)]
struct TraceView {
    confirmation: i64,
    http: Option<serde_json::Value>,
    apdu: Option<serde_json::Value>,
}

/// A confirmation's traces: its HTTP exchange and, if the harness sent it,
/// its APDU trace.
#[utoipa::path(
    get,
    path = "/admin/v1/confirmations/{id}/trace",
    tag = "admin",
    params(("id" = i64, Path, description = "The confirmation's history id (x-kazasu-confirmation-id)")),
    responses(
        (status = 200, description = "The traces kept", body = TraceView),
        (status = 404, description = "`unknown_confirmation`", body = ApiError),
    )
)]
async fn get_trace(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<TraceView>, ApiError> {
    let traces = state.traces.clone();
    let (_, trace) = state
        .blocking(move |service| {
            traces.flush();
            service.confirmation_with_trace(id)
        })
        .await?;
    Ok(Json(TraceView {
        confirmation: id,
        http: trace.http,
        apdu: trace.apdu,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        for (name, _) in TEMPLATE_FILES {
            assert!(TEMPLATES.get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn the_fault_form_becomes_a_fault_set() {
        let form: std::collections::HashMap<String, String> = [
            ("latency:confirmations", "250"),
            ("status:confirmations", ""),
            ("status:challenges", "503"),
            ("drop:history", "on"),
            ("latency:*", ""),
            ("maintenance", "on"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let set = fault_set(&form).unwrap();
        assert!(set.maintenance);
        assert_eq!(set.endpoints.len(), 3);
        assert_eq!(set.endpoints["confirmations"].latency_ms, 250);
        assert_eq!(set.endpoints["challenges"].status, Some(503));
        assert!(set.endpoints["history"].drop_connection);
        let bad: std::collections::HashMap<String, String> =
            [("status:history".to_string(), "200".to_string())].into();
        assert!(fault_set(&bad).unwrap_err().contains("not an error status"));
        let garbage: std::collections::HashMap<String, String> =
            [("latency:history".to_string(), "soon".to_string())].into();
        assert!(fault_set(&garbage).unwrap_err().contains("latency"));
    }

    proptest::proptest! {
        /// Any Cookie header: the lookup never panics, and a cookie set
        /// among others is found with its exact value.
        #[test]
        fn any_cookie_header_is_read_safely(
            others in proptest::collection::vec(("[a-z_]{1,12}", "[!-:<-~]{0,20}"), 0..6),
            value in "[0-9a-f]{0,64}",
            noise in "[ -~]{0,60}",
        ) {
            let mut pairs: Vec<String> = others
                .iter()
                .filter(|(k, _)| k != COOKIE)
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            pairs.insert(pairs.len() / 2, format!("{COOKIE}={value}"));
            let mut headers = HeaderMap::new();
            headers.insert(header::COOKIE, pairs.join("; ").parse().unwrap());
            proptest::prop_assert_eq!(cookie(&headers, COOKIE), Some(value.as_str()));
            let mut junk = HeaderMap::new();
            if let Ok(v) = noise.parse() {
                junk.insert(header::COOKIE, v);
                let _ = cookie(&junk, COOKIE);
            }
        }
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; kazasu_console=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&headers, COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "kazasu"), None);
    }
}
