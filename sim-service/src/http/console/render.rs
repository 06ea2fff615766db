//! Rendering: the compiled-in templates, the console's error page, the page
//! frame and its notices, and the headers every console answer carries.

use super::*;

/// The templates, compiled in: the console needs no files at run time.
macro_rules! templates {
    ($($name:literal),+ $(,)?) => {
        &[$(($name, include_str!(concat!("templates/", $name)))),+]
    };
}

pub(super) const TEMPLATE_FILES: &[(&str, &str)] = templates![
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

pub(super) static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
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
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Self {
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

pub(super) type Page = Result<Response, ConsoleError>;

pub(super) fn render_page(name: &str, ctx: Value) -> Result<Html<String>, ConsoleError> {
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
pub(super) fn page(name: &str, session: &LoggedIn, shown: Shown, ctx: Value) -> Page {
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
pub(super) struct Shown {
    status: StatusCode,
    notice: Option<&'static str>,
    error: Option<String>,
}

impl Shown {
    pub(super) fn plain() -> Self {
        Shown {
            status: StatusCode::OK,
            notice: None,
            error: None,
        }
    }

    pub(super) fn asked(done: &Done) -> Self {
        Shown {
            notice: done_notice(done),
            ..Shown::plain()
        }
    }

    pub(super) fn refused(status: StatusCode, error: impl Into<String>) -> Self {
        Shown {
            status,
            notice: None,
            error: Some(error.into()),
        }
    }

    /// A form whose fields do not parse.
    pub(super) fn invalid(error: impl Into<String>) -> Self {
        Shown::refused(StatusCode::UNPROCESSABLE_ENTITY, error)
    }
}

/// Runs blocking store work (argon2 included) off the async threads.
pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ConsoleError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ConsoleError::from(ApiError::internal(e)))
}

/// No script, no frames, forms only to the console itself, no caching of
/// pages that show fixtures and results.
pub(super) async fn security_headers(mut response: Response) -> Response {
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

pub(super) async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("templates/console.css"),
    )
}
