//! Hostile input to every route of `kazasu service`, and to its `--oqs-dir`
//! folder: nothing makes it answer 5xx, and after each hostile request a
//! valid one still works.
//!
//! The routes are not a hand list. The API's come from the OpenAPI document
//! the running service serves (`/openapi.json`, generated from the handlers;
//! `every_route_is_documented` holds it equal to the router's registrations),
//! every method of every path; the console's (HTML under `/admin`, left out
//! of the document on purpose) are crawled from its own pages after a login:
//! every link and every form's action.
//!
//! Each route gets malformed, wrongly typed, empty, huge and random bodies,
//! wrong content types, XML bombs, and bad values in its path parameters;
//! then come bad paths of every kind. The folder gets broken, empty, huge and
//! bomb-laden request files before a valid one, which must be answered.
//! `KAZASU_HOSTILE_ROUNDS` (default 6) random bodies per route on top of the
//! fixed ones; the test prints how many requests and files it sent.
//!
//! A closed stdout is hostile too: the service started with nobody reading
//! its status lines goes on serving.
//!
//! Loopback only; every wait has a limit.

use std::collections::{BTreeSet, VecDeque};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use serde_json::Value;

mod support;
use support::{
    FOLDER_REQUEST, RunningService, STARTUP_LIMIT, scratch, service_command, start_service,
    wait_for,
};

fn value_of<'a>(html: &'a str, field: &str) -> &'a str {
    let marker = format!(r#"name="{field}" value=""#);
    let start = html.find(&marker).expect("the field") + marker.len();
    html[start..].split('"').next().expect("a value")
}

/// Logs in to the console; the session cookie.
fn log_in(client: &Client, base: &str, password: &str) -> String {
    let page = client.get(format!("{base}/admin/login")).send().unwrap();
    let cookie = page.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = value_of(&page.text().unwrap(), "csrf").to_string();
    let response = client
        .post(format!("{base}/admin/login"))
        .header(COOKIE, cookie)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&password={password}"))
        .send()
        .unwrap();
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("kazasu_console="))
        .map(|v| v.split(';').next().unwrap().to_string())
        .expect("a console session")
}

/// Every `attribute="/admin…"` value in a page.
fn admin_links(html: &str, attribute: &str) -> Vec<String> {
    let marker = format!(r#"{attribute}="/admin"#);
    html.match_indices(&marker)
        .filter_map(|(at, _)| {
            let value = &html[at + attribute.len() + 2..];
            value.split('"').next().map(|v| v.replace("&amp;", "&"))
        })
        .collect()
}

/// The console's routes, crawled from its pages: GET for every link,
/// POST for every form's action.
fn console_routes(client: &Client, base: &str, session: &str) -> BTreeSet<(Method, String)> {
    let mut routes = BTreeSet::new();
    let mut queue = VecDeque::from(["/admin".to_string()]);
    let mut seen = BTreeSet::new();
    while let Some(page) = queue.pop_front() {
        if !seen.insert(page.clone()) || seen.len() > 60 {
            continue;
        }
        routes.insert((Method::GET, page.clone()));
        let response = client
            .get(format!("{base}{page}"))
            .header(COOKIE, session)
            .send()
            .unwrap();
        let is_html = response
            .headers()
            .get(CONTENT_TYPE)
            .is_some_and(|v| v.to_str().unwrap_or_default().starts_with("text/html"));
        if !is_html {
            continue;
        }
        let html = response.text().unwrap();
        for action in admin_links(&html, "action") {
            routes.insert((Method::POST, action));
        }
        for link in admin_links(&html, "href") {
            // Logging out would end the crawl's session.
            if !link.starts_with("/admin/logout") {
                queue.push_back(link);
            }
        }
    }
    routes
}

/// The API's routes, from the served OpenAPI document.
fn api_routes(client: &Client, base: &str) -> BTreeSet<(Method, String)> {
    let document: Value = client
        .get(format!("{base}/openapi.json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mut routes = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (name, method) in [
            ("get", Method::GET),
            ("put", Method::PUT),
            ("post", Method::POST),
            ("delete", Method::DELETE),
            ("patch", Method::PATCH),
        ] {
            if item.get(name).is_some() {
                routes.insert((method, path.clone()));
            }
        }
    }
    routes
}

/// Values put in a path parameter (`{id}`, …): a plausible one first.
const PATH_VALUES: &[&str] = &[
    "1",
    "0",
    "-1",
    "99999999999999999999999",
    "%00",
    "..%2F..%2Fadmin",
    "%E3%81%82",
    "%FF%FE",
    "a%20b",
    "null",
];

fn fill(path: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        out.push_str(value);
        rest = rest[open..].split_once('}').map_or("", |(_, r)| r);
    }
    out.push_str(rest);
    out
}

/// The billion-laughs entity expansion.
const XML_BOMB: &str = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">]>
<XmlMsg><MessageHeader>&lol6;</MessageHeader></XmlMsg>"#;

/// An external entity that would read a local file.
const XML_EXTERNAL: &str = r#"<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><XmlMsg>&xxe;</XmlMsg>"#;

/// The fixed hostile bodies: (content type, body).
fn fixed_bodies() -> Vec<(Option<&'static str>, Vec<u8>)> {
    let deep_json = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes();
    let deep_xml = format!("{}{}", "<a>".repeat(20_000), "</a>".repeat(20_000)).into_bytes();
    vec![
        (None, Vec::new()),
        (Some("application/json"), Vec::new()),
        (Some("application/json"), b"{\"a\":".to_vec()),
        (Some("application/json"), b"[1,2,3]".to_vec()),
        (Some("application/json"), b"null".to_vec()),
        (
            Some("application/json"),
            br#"{"medical_institution_code":"\u0000","certificate":"!!","method":7}"#.to_vec(),
        ),
        (Some("application/json"), deep_json),
        (Some("application/json"), vec![0xFF, 0xFE, 0x00, 0x7B]),
        (Some("text/plain"), b"{\"method\":\"visual\"}".to_vec()),
        (
            Some("application/x-www-form-urlencoded"),
            b"a=%ZZ&&=&csrf".to_vec(),
        ),
        (Some("multipart/form-data"), b"--x\r\n".to_vec()),
        (Some("application/xml"), XML_BOMB.as_bytes().to_vec()),
        (Some("application/xml"), XML_EXTERNAL.as_bytes().to_vec()),
        (Some("application/xml"), deep_xml),
        (Some("application/xml"), b"<XmlMsg><unclosed>".to_vec()),
        (
            Some("application/toml"),
            b"[[persons]]\nid = 3\n[[".to_vec(),
        ),
        // Over any body limit.
        (Some("application/json"), vec![b' '; 3 * 1024 * 1024]),
    ]
}

/// A xorshift stream, enough for random bodies.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = (self.next() % (max as u64 + 1)) as usize;
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// What the test did, for its closing line.
#[derive(Default)]
struct Tally {
    requests: usize,
    checks: usize,
    by_class: [usize; 6],
    /// Over-limit bodies whose connection was closed before the answer came.
    reset: usize,
}

struct Attack<'a> {
    client: &'a Client,
    base: &'a str,
    session: &'a str,
    tally: Tally,
}

impl Attack<'_> {
    /// Sends one hostile request: anything but a 5xx, and the service still
    /// answers a valid request right after.
    fn send(&mut self, what: &str, request: RequestBuilder) {
        let status = match request.header(COOKIE, self.session).send() {
            Ok(response) => response.status().as_u16(),
            // A client-side failure (a URL reqwest will not send) is not the service's.
            Err(e) if e.is_builder() => return,
            Err(e) => panic!("{what}: no answer ({e})"),
        };
        self.tally.requests += 1;
        self.tally.by_class[usize::from(status / 100).min(5)] += 1;
        assert!(status < 500, "{what} answered {status}");
        self.valid_request_works(what);
    }

    /// A body over the service's limit on a route that reads no body: the
    /// service may answer and close the connection before it has read the
    /// rest, so the client can see the connection reset instead of the
    /// answer (the service keeps no lingering close). That is a refusal, not
    /// a failure; a 5xx still is, and the service must still answer after.
    fn send_oversized(&mut self, what: &str, request: RequestBuilder) {
        match request.header(COOKIE, self.session).send() {
            Ok(response) => {
                let status = response.status().as_u16();
                self.tally.by_class[usize::from(status / 100).min(5)] += 1;
                assert!(status < 500, "{what} answered {status}");
            }
            Err(e) if e.is_request() || e.is_body() => self.tally.reset += 1,
            Err(e) => panic!("{what}: no answer ({e})"),
        }
        self.tally.requests += 1;
        self.valid_request_works(what);
    }

    fn valid_request_works(&mut self, after: &str) {
        let health = self
            .client
            .get(format!("{}/health", self.base))
            .send()
            .unwrap_or_else(|e| panic!("after {after}: /health unreachable ({e})"));
        assert_eq!(health.status().as_u16(), 200, "after {after}: /health");
        let challenge = self
            .client
            .post(format!("{}/v1/challenges", self.base))
            .send()
            .unwrap_or_else(|e| panic!("after {after}: no challenge ({e})"));
        assert_eq!(
            challenge.status().as_u16(),
            201,
            "after {after}: a challenge"
        );
        self.tally.checks += 1;
    }

    fn route(&mut self, method: &Method, path: &str, random: &mut Random, rounds: usize) {
        let base = self.base;
        let url = |value: &str| format!("{base}{}", fill(path, value));
        for (content_type, body) in fixed_bodies() {
            let mut request = self.client.request(method.clone(), url(PATH_VALUES[0]));
            if let Some(content_type) = content_type {
                request = request.header(CONTENT_TYPE, content_type);
            }
            let what = format!("{method} {path} ({content_type:?}, {} bytes)", body.len());
            if body.len() > sim_service::http::BODY_LIMIT {
                self.send_oversized(&what, request.body(body));
            } else {
                self.send(&what, request.body(body));
            }
        }
        for _ in 0..rounds {
            let content_type = [
                "application/json",
                "application/xml",
                "text/plain",
                "application/octet-stream",
            ][(random.next() % 4) as usize];
            let body = random.bytes(2048);
            let what = format!(
                "{method} {path} (random {content_type}, {} bytes)",
                body.len()
            );
            let request = self
                .client
                .request(method.clone(), url(PATH_VALUES[0]))
                .header(CONTENT_TYPE, content_type)
                .body(body);
            self.send(&what, request);
        }
        if path.contains('{') {
            for value in &PATH_VALUES[1..] {
                let request = self
                    .client
                    .request(method.clone(), url(value))
                    .header(CONTENT_TYPE, "application/json")
                    .body("{}");
                self.send(&format!("{method} {path} with {value}"), request);
            }
        }
    }
}

/// Paths no route has, or that try to escape one.
fn bad_paths() -> Vec<String> {
    vec![
        "/".into(),
        "//".into(),
        "/v1".into(),
        "/v1/".into(),
        "/v1/../admin/v1/reset".into(),
        "/admin/v1/%2e%2e/%2e%2e/etc/passwd".into(),
        "/%00".into(),
        "/v1/confirmations%00".into(),
        "/admin/v1/fixtures?x=%ZZ".into(),
        "/v1/history?medical_institution_code=%FF&from=99999999".into(),
        format!("/{}", "a".repeat(8000)),
        format!("/v1/{}", "%E3%81%82".repeat(500)),
    ]
}

/// Drops hostile request files in the folder, then a valid one, which must
/// be answered; returns how many files were dropped.
fn attack_the_folder(oqs: &Path, random: &mut Random) -> usize {
    let req = oqs.join("req");
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("OQSsiquc01req_E1.xml".into(), Vec::new()),
        ("OQSsiquc01req_E2.xml".into(), XML_BOMB.as_bytes().to_vec()),
        (
            "OQSsiquc01req_E3.xml".into(),
            XML_EXTERNAL.as_bytes().to_vec(),
        ),
        ("OQSsiquc01req_E4.xml".into(), vec![0xFF; 4096]),
        ("OQSsiquc01req_E5.xml".into(), vec![b'<'; 3 * 1024 * 1024]),
        ("OQSsiimm01req_E6.xml".into(), b"<XmlMsg><".to_vec()),
        (
            "OQSsiquc01req_.xml".into(),
            FOLDER_REQUEST.as_bytes().to_vec(),
        ),
        ("OQSsiquc01req_..E8.xml".into(), b"x".to_vec()),
        (
            "OQSxxxxx01req_E9.xml".into(),
            FOLDER_REQUEST.as_bytes().to_vec(),
        ),
        ("notes.txt".into(), b"hello".to_vec()),
    ];
    for i in 0..10 {
        files.push((format!("OQSsiquc01req_R{i}.xml"), random.bytes(4096)));
    }
    for (name, bytes) in &files {
        let part = req.join(format!("{name}.part"));
        std::fs::write(&part, bytes).unwrap();
        std::fs::rename(&part, req.join(name)).unwrap();
    }
    // A directory where a request file would be.
    std::fs::create_dir_all(req.join("OQSsiquc01req_D1.xml")).unwrap();
    let part = req.join("OQSsiquc01req_OK.xml.part");
    std::fs::write(&part, FOLDER_REQUEST).unwrap();
    std::fs::rename(&part, req.join("OQSsiquc01req_OK.xml")).unwrap();
    let answer = wait_for(&oqs.join("res/OQSsiquc01res_OK.xml"));
    let outcome = sim_service::xml::parse_response(&answer).expect("a response document");
    assert_eq!(
        outcome.message_body.result_list[0].name.as_deref(),
        Some("資格　太郎"),
        "the valid request after the hostile files is answered"
    );
    files.len() + 1
}

#[test]
fn no_hostile_input_gets_a_5xx_and_the_service_goes_on() {
    let rounds: usize = std::env::var("KAZASU_HOSTILE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let dir = scratch("hostile");
    let mut service = start_service(&dir, &[]);
    // A connection per request: a hostile request's connection may be closed
    // by the service after its answer (a body it did not read), and the next
    // request must not inherit that.
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut random = Random(0x6B61_7A61_7375_2017);

    // The folder first: the hostile fixtures uploads below may replace the
    // persons the valid request looks up.
    let files = attack_the_folder(&dir.join("oqs"), &mut random);

    let session = log_in(&client, &service.base, &service.console_password);
    let api = api_routes(&client, &service.base);
    let console = console_routes(&client, &service.base, &session);
    assert!(api.len() > 40, "the document lists the API: {}", api.len());
    assert!(
        console.iter().any(|(m, _)| *m == Method::POST),
        "the crawl found the console's forms: {console:?}"
    );
    let mut attack = Attack {
        client: &client,
        base: &service.base,
        session: &session,
        tally: Tally::default(),
    };
    attack.valid_request_works("the start");
    // Logging out last: the console's routes are attacked logged in.
    let (logout, routes): (Vec<_>, Vec<_>) = api
        .iter()
        .chain(&console)
        .partition(|(_, path)| path.starts_with("/admin/logout"));
    for (method, path) in routes.into_iter().chain(logout) {
        attack.route(method, path, &mut random, rounds);
    }
    for path in bad_paths() {
        for method in [Method::GET, Method::POST, Method::PUT, Method::DELETE] {
            let request = client
                .request(method.clone(), format!("{}{path}", service.base))
                .header(CONTENT_TYPE, "application/json")
                .body("{}");
            attack.send(&format!("{method} {path}"), request);
        }
    }
    assert!(
        service.child.try_wait().unwrap().is_none(),
        "the service is still running"
    );
    let tally = attack.tally;
    let [_, _, ok, redirect, client_error, _] = tally.by_class;
    writeln!(
        std::io::stderr(),
        "hostile input: {} requests to {} API routes and {} console routes ({ok} 2xx, {redirect} 3xx, {client_error} 4xx, {} over-limit bodies closed before the answer, no 5xx), {} valid requests answered after them, {files} hostile folder files then a valid one answered",
        tally.requests,
        api.len(),
        console.len(),
        tally.reset,
        tally.checks
    )
    .unwrap();
    drop(service);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A reader that goes away is no reason to stop: `kazasu service` started
/// with its stdout already closed (every status line meets a broken pipe)
/// serves, and goes on serving.
#[test]
fn the_service_goes_on_when_its_stdout_is_closed() {
    let dir = scratch("closed-stdout");
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let mut child = service_command(&dir, &addr.to_string())
        .spawn()
        .expect("start kazasu service");
    drop(child.stdout.take());
    let mut service = RunningService {
        child,
        base: format!("http://{addr}"),
        // Printed to nobody.
        console_password: String::new(),
    };
    let client = Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let health = format!("{}/health", service.base);
    let healthy = |client: &Client| {
        client
            .get(&health)
            .send()
            .is_ok_and(|r| r.status().is_success())
    };
    let deadline = Instant::now() + STARTUP_LIMIT;
    while !healthy(&client) {
        if let Some(status) = service.child.try_wait().unwrap() {
            panic!("kazasu service ended ({status}) on its closed stdout");
        }
        assert!(Instant::now() < deadline, "kazasu service never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(healthy(&client), "still answering");
    assert!(
        service.child.try_wait().unwrap().is_none(),
        "the service is still running"
    );
    drop(service);
    let _ = std::fs::remove_dir_all(&dir);
}
