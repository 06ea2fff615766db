//! Login, sessions and CSRF: the console password, the cookies, the
//! logged-in extractor and the login back-off.

use super::*;

/// The password the console accepts, if any.
pub(super) fn console_password(state: &AppState) -> Option<&str> {
    state
        .config
        .admin_token
        .as_deref()
        .or(state.config.console_password.as_deref())
}

pub(super) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
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
pub(super) fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    max_age: Option<u64>,
) -> HeaderValue {
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
    pub(super) csrf: String,
}

impl LoggedIn {
    /// Refuses a form whose CSRF token is not this session's.
    pub(super) fn check(&self, csrf: &str) -> Result<(), ConsoleError> {
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

pub(super) async fn login_page(State(state): State<AppState>) -> Page {
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
pub(super) struct LoginForm {
    password: String,
    csrf: String,
}

pub(super) async fn login(
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
pub(super) struct CsrfOnly {
    #[serde(default)]
    pub(super) csrf: String,
}

pub(super) async fn logout(
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
pub(super) fn done(to: &str, what: &str) -> Page {
    let join = if to.contains('?') { '&' } else { '?' };
    Ok(Redirect::to(&format!("{to}{join}done={what}")).into_response())
}

#[derive(Deserialize, Default)]
pub(super) struct Done {
    #[serde(default)]
    done: Option<String>,
}

/// The sentence a `done` code stands for; unknown codes say nothing (the
/// query is not trusted to carry text onto the page).
pub(super) fn done_notice(done: &Done) -> Option<&'static str> {
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
