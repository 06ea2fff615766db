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
use axum::{Form, Router, routing};
use minijinja::{Environment, Value, context};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::ApiError;
use super::faults::{ENDPOINTS, Fault, FaultSet};
use super::{AppState, rfc3339};
use crate::clock::{ClockMode, JST};

mod clock_screen;
mod dashboard;
mod facility;
mod faults_screen;
mod fixtures_screen;
mod history;
mod login;
mod render;
pub mod session;
pub mod trace;
pub(super) mod trace_api;

pub use session::Sessions;

use clock_screen::*;
use dashboard::*;
use faults_screen::*;
use fixtures_screen::*;
use history::*;
use login::*;
use render::*;
use trace_api::*;

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
