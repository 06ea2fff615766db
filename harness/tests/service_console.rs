//! `kazasu service` and its admin console, through the real process: on
//! loopback without an admin token it makes a console password, prints it,
//! and the console takes it (and nothing else).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};

/// Generous for a debug build on a loaded machine.
const STARTUP_LIMIT: Duration = Duration::from_secs(120);

/// The service process, killed on drop.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `kazasu service` on a free loopback port; its console's URL and
/// password, from the banner.
fn start(db: &std::path::Path) -> (Service, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kazasu"))
        .args(["service", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .env_remove("KAZASU_ADMIN_TOKEN")
        .env_remove("KAZASU_CONSOLE_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start kazasu service");
    let stdout = child.stdout.take().expect("piped stdout");
    let service = Service(child);
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // Keep draining when nobody listens, so the pipe never fills.
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + STARTUP_LIMIT;
    loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the console line of the banner");
        // admin console: http://127.0.0.1:PORT/admin (password HEX)
        if let Some(rest) = line.strip_prefix("admin console: ") {
            let (url, password) = rest.split_once(" (password ").expect("a password");
            let password = password.trim_end_matches(')');
            return (service, url.to_string(), password.to_string());
        }
    }
}

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
    let db = std::env::temp_dir().join(format!("kazasu-console-{}.db", std::process::id()));
    let (_service, console, password) = start(&db);
    assert_eq!(password.len(), 24, "{password}");
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");

    let (status, session) = log_in(&client, &console, "0123456789abcdef01234567");
    assert_eq!((status, session), (401, None));
    let (status, session) = log_in(&client, &console, &password);
    assert_eq!(status, 303);
    let overview = client
        .get(&console)
        .header(COOKIE, session.expect("a session cookie"))
        .send()
        .expect("the overview");
    assert_eq!(overview.status().as_u16(), 200);
    assert!(overview.headers().get(LOCATION).is_none());
    assert!(overview.text().expect("the page").contains("サービス時刻"));
    for suffix in ["", "-wal", "-shm"] {
        let mut file = db.clone().into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}
