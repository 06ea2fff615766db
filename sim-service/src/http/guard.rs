//! What keeps a web page in the tester's browser out of a service that runs
//! on the tester's own machine.
//!
//! Any page the browser opens can send requests to `127.0.0.1`: a form post
//! needs no CORS preflight, so `POST /admin/v1/reset` from any site would wipe
//! the history; and a DNS-rebinding page (its own name re-pointed at
//! 127.0.0.1) is, for the browser, same-origin with the service and reads
//! every answer. Local developer servers close this the same way, and so does
//! the service when it runs without an admin token (which it only may on
//! loopback):
//!
//! - **Host**: only loopback names (`localhost`, `*.localhost`,
//!   `127.0.0.0/8`, `[::1]`, any port) and the names the tester allowed
//!   (`ServiceConfig::allowed_hosts`). A rebinding page's requests carry its
//!   own name, so they are refused (everywhere, the client API included).
//! - **Origin**: a browser names the page that sends a request; a request
//!   from a page that is neither the service itself nor another loopback
//!   origin is refused, and so is `Sec-Fetch-Site: cross-site`.
//! - **Content type**: a state-changing request (`POST`, `PUT`, `PATCH`)
//!   must say `application/json` (the fixtures upload `application/toml`),
//!   body-less ones too. A page on another origin cannot send those types
//!   without a CORS preflight, which the service never grants; this holds
//!   even for an old browser that sends no `Origin`. `DELETE` needs a
//!   preflight whatever its type.
//!
//! A request with the admin token passes without these checks: a page cannot
//! know the token, and a service with a token is meant to be reached under
//! other names. The console is guarded by Host and Origin (its forms are
//! form posts, and carry a CSRF token besides its login).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use super::error::ApiError;

/// The names a guarded service answers to besides loopback ones (e.g.
/// `10.0.2.2`, the Android emulator's name for the host's loopback).
/// Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct LocalOnly {
    allowed_hosts: Arc<[String]>,
}

impl LocalOnly {
    pub fn new(allowed_hosts: &[String]) -> Self {
        LocalOnly {
            allowed_hosts: allowed_hosts
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .collect(),
        }
    }

    /// Refuses a request whose `Host` is neither loopback nor allowed.
    pub fn check_host(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let name = host_name(host).to_ascii_lowercase();
        if is_loopback_name(&name) || self.allowed_hosts.contains(&name) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "host_not_allowed",
                "this service answers to loopback names only (localhost, 127.0.0.1, [::1]); start it with --allow-host NAME to add one",
            ))
        }
    }

    /// Refuses a request a browser sent for a page of a foreign origin.
    pub fn check_origin(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let refused = || {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "cross_origin_refused",
                "requests from pages of other origins are refused: call the service from a program, the console, or a page it serves",
            ))
        };
        let fetch_site = headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if fetch_site == "cross-site" {
            return refused();
        }
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let origin = origin.to_str().unwrap_or_default();
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        let same = |authority: &str| {
            headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .is_some_and(|host| host.eq_ignore_ascii_case(authority))
        };
        match authority {
            Some(authority)
                if same(authority)
                    || is_loopback_name(&host_name(authority).to_ascii_lowercase())
                    || self
                        .allowed_hosts
                        .iter()
                        .any(|h| h.eq_ignore_ascii_case(host_name(authority))) =>
            {
                Ok(())
            }
            // A browser sends `null` for a page's own form under a
            // `no-referrer` policy, and so for a sandboxed frame, a file or
            // a foreign page with that policy: only the browser's own word
            // that the request is same-origin tells them apart.
            None if origin == "null" && fetch_site == "same-origin" => Ok(()),
            _ => refused(),
        }
    }
}

/// Refuses a state-changing request that does not carry one of `accepted`
/// content types (a type a cross-origin page cannot send without a
/// preflight).
pub fn check_content_type(
    method: &Method,
    headers: &HeaderMap,
    accepted: &[&str],
) -> Result<(), ApiError> {
    if !matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        return Ok(());
    }
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if accepted.contains(&essence.as_str()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content_type_required",
            format!(
                "a {method} here must say `Content-Type: {}` (body-less ones too), which no page of another origin can send",
                accepted.join("` or `")
            ),
        ))
    }
}

/// The host name of a `Host` header or an origin's authority, without the
/// port (an IPv6 literal keeps its brackets).
fn host_name(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map_or(authority, |end| &authority[..=end]);
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(name, _)| name)
}

/// `localhost` and its subdomains (RFC 6761), 127.0.0.0/8, `[::1]`.
fn is_loopback_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    name == "localhost"
        || name.ends_with(".localhost")
        || name == "[::1]"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Middleware of a whole service that has no token: only loopback (or
/// allowed) Host names.
pub async fn loopback_host(
    State(guard): State<LocalOnly>,
    request: Request,
    next: Next,
) -> Response {
    match guard.check_host(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// Middleware of the console: no request from a page of a foreign origin
/// (its forms are form posts, which any page can send).
pub async fn same_origin(State(guard): State<LocalOnly>, request: Request, next: Next) -> Response {
    match guard.check_origin(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// Middleware of an API that changes state on the tester's machine without a
/// token (the admin API without one, `kazasu up`'s control API): Host,
/// Origin, and a JSON content type on state-changing requests.
pub async fn local_api(State(guard): State<LocalOnly>, request: Request, next: Next) -> Response {
    let checked = guard
        .check_host(request.headers())
        .and_then(|()| guard.check_origin(request.headers()))
        .and_then(|()| {
            check_content_type(request.method(), request.headers(), &["application/json"])
        });
    match checked {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// The bearer token of a request: none when it has no `Authorization`
/// header; refused when the header is there but empty or not
/// `Bearer <token>` (a client that meant to authenticate and got it wrong
/// must hear so, not be served as one that did not try).
pub fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        })
        .filter(|t| !t.is_empty() && !t.contains(char::is_whitespace));
    match token {
        Some(token) => Ok(Some(token)),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "malformed_authorization",
            "the Authorization header must be `Bearer <token>` (or left out)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (header::HeaderName::from_static(k), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn only_loopback_hosts_pass() {
        let guard = LocalOnly::new(&["10.0.2.2".into()]);
        for host in [
            "localhost:8787",
            "LOCALHOST",
            "app.localhost:1",
            "127.0.0.1:8787",
            "127.1.2.3",
            "[::1]:8787",
            "10.0.2.2:8787",
        ] {
            assert!(
                guard.check_host(&headers(&[("host", host)])).is_ok(),
                "{host}"
            );
        }
        for host in [
            "evil.example:8787",
            "localhost.evil.example",
            "127.0.0.1.evil.example:80",
            "[::2]:8787",
            "10.0.2.3",
            "",
        ] {
            let e = guard.check_host(&headers(&[("host", host)])).unwrap_err();
            assert_eq!(e.status, StatusCode::FORBIDDEN, "{host}");
        }
        assert!(guard.check_host(&HeaderMap::new()).is_err());
    }

    #[test]
    fn foreign_origins_are_refused() {
        let guard = LocalOnly::default();
        let ok = |pairs: &[(&'static str, &str)]| guard.check_origin(&headers(pairs)).is_ok();
        assert!(ok(&[("host", "127.0.0.1:8787")]));
        assert!(ok(&[
            ("host", "127.0.0.1:8787"),
            ("origin", "http://127.0.0.1:8787")
        ]));
        assert!(ok(&[
            ("host", "127.0.0.1:8787"),
            ("origin", "http://localhost:3000")
        ]));
        assert!(ok(&[
            ("host", "svc.lan:8787"),
            ("origin", "https://svc.lan:8787")
        ]));
        assert!(ok(&[("host", "x"), ("sec-fetch-site", "same-origin")]));
        assert!(!ok(&[
            ("host", "127.0.0.1:8787"),
            ("origin", "https://evil.example")
        ]));
        assert!(!ok(&[("host", "127.0.0.1:8787"), ("origin", "null")]));
        assert!(ok(&[
            ("host", "127.0.0.1:8787"),
            ("origin", "null"),
            ("sec-fetch-site", "same-origin")
        ]));
        assert!(!ok(&[
            ("host", "127.0.0.1:8787"),
            ("origin", "null"),
            ("sec-fetch-site", "same-site")
        ]));
        assert!(!ok(&[("host", "x"), ("sec-fetch-site", "cross-site")]));
    }

    #[test]
    fn state_changes_need_a_json_type() {
        let json = &["application/json"];
        let check = |method: Method, pairs: &[(&'static str, &str)]| {
            check_content_type(&method, &headers(pairs), json).is_ok()
        };
        assert!(check(Method::GET, &[]));
        assert!(check(Method::DELETE, &[]));
        assert!(check(Method::POST, &[("content-type", "application/json")]));
        assert!(check(
            Method::PUT,
            &[("content-type", "Application/JSON; charset=utf-8")]
        ));
        assert!(!check(Method::POST, &[]));
        assert!(!check(Method::POST, &[("content-type", "text/plain")]));
        assert!(!check(
            Method::POST,
            &[("content-type", "application/x-www-form-urlencoded")]
        ));
        assert!(!check(
            Method::PUT,
            &[("content-type", "multipart/form-data; boundary=x")]
        ));
    }

    #[test]
    fn authorization_is_bearer_or_absent() {
        assert_eq!(bearer(&HeaderMap::new()), Ok(None));
        assert_eq!(
            bearer(&headers(&[("authorization", "Bearer abc")])),
            Ok(Some("abc"))
        );
        assert_eq!(
            bearer(&headers(&[("authorization", "bearer  abc ")])),
            Ok(Some("abc"))
        );
        for bad in ["", "Bearer", "Bearer ", "Basic YTpi", "abc", "Bearer a b"] {
            let e = bearer(&headers(&[("authorization", bad)])).unwrap_err();
            assert_eq!(e.code, "malformed_authorization", "{bad:?}");
        }
    }
}
