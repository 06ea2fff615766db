//! `kazasu service` and its admin console, through the real process: on
//! loopback without an admin token it makes a console password, prints it,
//! and the console takes it (and nothing else).

use reqwest::blocking::Client;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};

mod support;
use support::{scratch, start_service};

fn value_of<'a>(html: &'a str, field: &str) -> &'a str {
    let marker = format!(r#"name="{field}" value=""#);
    let start = html.find(&marker).expect("the field") + marker.len();
    html[start..].split('"').next().expect("a value")
}

/// Posts the login form as a browser would; the status and the session
/// cookie, if one was set.
fn log_in(client: &Client, console: &str, password: &str) -> (u16, Option<String>) {
    let page = client
        .get(format!("{console}/login"))
        .send()
        .expect("the login page");
    let cookie = page
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a login cookie")
        .to_string();
    let html = page.text().expect("the page");
    let csrf = value_of(&html, "csrf").to_string();
    // Hex tokens and passwords need no URL encoding.
    let response = client
        .post(format!("{console}/login"))
        .header(COOKIE, cookie)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&password={password}"))
        .send()
        .expect("the login");
    let session = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("kazasu_console="))
        .map(|v| v.split(';').next().unwrap_or_default().to_string());
    (response.status().as_u16(), session)
}

#[test]
fn the_printed_console_password_logs_in() {
    let dir = scratch("console");
    let service = start_service(&dir, &[]);
    let (console, password) = (format!("{}/admin", service.base), &service.console_password);
    assert_eq!(password.len(), 24, "{password}");
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");

    let (status, session) = log_in(&client, &console, "0123456789abcdef01234567");
    assert_eq!((status, session), (401, None));
    let (status, session) = log_in(&client, &console, password);
    assert_eq!(status, 303);
    let overview = client
        .get(&console)
        .header(COOKIE, session.expect("a session cookie"))
        .send()
        .expect("the overview");
    assert_eq!(overview.status().as_u16(), 200);
    assert!(overview.headers().get(LOCATION).is_none());
    assert!(overview.text().expect("the page").contains("サービス時刻"));
    drop(service);
    let _ = std::fs::remove_dir_all(&dir);
}
