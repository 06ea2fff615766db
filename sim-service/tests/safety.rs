//! The service on the tester's own machine: what a web page in their browser
//! can do to it (nothing), the limits a public server has, and requests that
//! would destroy state by mistake.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use sim_service::clock::ServiceClock;
use sim_service::fixtures;
use sim_service::http::{self, AppState, Limits, ServiceConfig};
use sim_service::store::Store;

const NOW: &str = "2026-12-01T10:00:00+09:00";

struct Service {
    state: AppState,
    base: String,
    port: String,
    client: Client,
}

async fn start() -> Service {
    let (state, base) =
        common::serve(NOW, fixtures::built_in().unwrap(), ServiceConfig::default()).await;
    let port = base.rsplit(':').next().unwrap().to_string();
    Service {
        state,
        base,
        port,
        client: Client::new(),
    }
}

/// What a test can see of the service's state.
fn snapshot(state: &AppState) -> (Vec<String>, Value, Value) {
    (
        state.fixture_ids().unwrap(),
        serde_json::to_value(state.clock_view()).unwrap(),
        serde_json::to_value(state.faults.get()).unwrap(),
    )
}

/// The status and error code of an answer, which must be the one error shape.
async fn refusal(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{status}: not the error shape: {text:?}"));
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{status}: not the error shape: {text}"));
    assert!(body["error"]["message"].is_string(), "{text}");
    (status, code.to_string())
}

/// Every admin route, as a page could call it (`curl -H 'Origin: …' -H
/// 'Host: evil.example:PORT'`): nothing changes, nothing is read.
#[tokio::test]
async fn pages_of_other_origins_neither_change_nor_read_the_admin_api() {
    let service = start().await;
    let before = snapshot(&service.state);
    let routes: &[(Method, &str, Option<&str>)] = &[
        (Method::GET, "/admin/v1/fixtures", None),
        (Method::GET, "/admin/v1/clock", None),
        (Method::GET, "/admin/v1/faults", None),
        (Method::GET, "/admin/v1/facilities", None),
        (Method::GET, "/admin/v1/confirmations/1/trace", None),
        (Method::POST, "/admin/v1/reset", None),
        (Method::PUT, "/admin/v1/fixtures", Some("")),
        (
            Method::PUT,
            "/admin/v1/clock",
            Some(r#"{"now":"2030-01-01T00:00:00Z"}"#),
        ),
        (
            Method::POST,
            "/admin/v1/clock/advance",
            Some(r#"{"seconds":60}"#),
        ),
        (Method::DELETE, "/admin/v1/clock", None),
        (
            Method::PUT,
            "/admin/v1/faults",
            Some(r#"{"maintenance":true}"#),
        ),
        (Method::DELETE, "/admin/v1/faults", None),
    ];
    let evil_host = format!("evil.example:{}", service.port);
    for (method, path, body) in routes {
        let url = format!("{}{path}", service.base);
        let send = |host: Option<&str>, origin: bool, json: bool| {
            let mut request = service.client.request(method.clone(), &url);
            if let Some(host) = host {
                request = request.header("host", host);
            }
            if origin {
                request = request.header("origin", "https://evil.example");
            }
            if json {
                request = request.header("content-type", "application/json");
            }
            if let Some(body) = body {
                request = request.body(body.to_string());
            }
            request.send()
        };
        // A rebinding page (its own name, the service's address).
        let rebound = refusal(send(Some(&evil_host), true, true).await.unwrap()).await;
        assert_eq!(rebound, (403, "host_not_allowed".into()), "{method} {path}");
        // A page of another origin, loopback Host.
        let cross = refusal(send(None, true, true).await.unwrap()).await;
        assert_eq!(
            cross,
            (403, "cross_origin_refused".into()),
            "{method} {path}"
        );
        // An old browser's form post without Origin: not JSON.
        if *method == Method::POST || *method == Method::PUT {
            let form = refusal(send(None, false, false).await.unwrap()).await;
            assert_eq!(
                form,
                (415, "content_type_required".into()),
                "{method} {path}"
            );
        }
        assert_eq!(snapshot(&service.state), before, "{method} {path}");
    }
    let cross_site = service
        .client
        .post(format!("{}/admin/v1/reset", service.base))
        .header("sec-fetch-site", "cross-site")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(refusal(cross_site).await.0, 403);

    // The same from a program works: loopback Host, no Origin, JSON.
    let reset = service
        .client
        .post(format!("{}/admin/v1/reset", service.base))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    let localhost = service
        .client
        .get(format!("{}/admin/v1/clock", service.base))
        .header("host", format!("localhost:{}", service.port))
        .header("origin", format!("http://localhost:{}", service.port))
        .send()
        .await
        .unwrap();
    assert_eq!(localhost.status(), StatusCode::OK);
}

/// The client API is what a client under test calls: no Origin or type
/// rules, but a rebinding name is refused there too (the history search
/// shows personal data).
#[tokio::test]
async fn the_client_api_answers_loopback_names_only() {
    let service = start().await;
    let challenge = |host: String| {
        service
            .client
            .post(format!("{}/v1/challenges", service.base))
            .header("host", host)
            .json(&json!({}))
            .send()
    };
    let rebound = challenge(format!("evil.example:{}", service.port))
        .await
        .unwrap();
    assert_eq!(refusal(rebound).await, (403, "host_not_allowed".into()));
    for host in ["127.0.0.1", "localhost", "[::1]"] {
        let ok = challenge(format!("{host}:{}", service.port)).await.unwrap();
        assert!(ok.status().is_success(), "{host}: {}", ok.status());
    }
}

/// A name the tester allows (the Android emulator's 10.0.2.2) is served;
/// with an admin token, Host names are not checked.
#[tokio::test]
async fn allowed_names_and_tokens_reach_the_service() {
    let allowed = ServiceConfig {
        allowed_hosts: vec!["10.0.2.2".into()],
        ..ServiceConfig::default()
    };
    let (_, base) = common::serve(NOW, fixtures::built_in().unwrap(), allowed).await;
    let port = base.rsplit(':').next().unwrap();
    let client = Client::new();
    let get = |host: String| {
        client
            .get(format!("{base}/admin/v1/clock"))
            .header("host", host)
            .send()
    };
    assert_eq!(get(format!("10.0.2.2:{port}")).await.unwrap().status(), 200);
    assert_eq!(get(format!("10.0.2.3:{port}")).await.unwrap().status(), 403);

    let token = ServiceConfig {
        admin_token: Some("t0ken".into()),
        ..ServiceConfig::default()
    };
    let (_, base) = common::serve(NOW, fixtures::built_in().unwrap(), token).await;
    let r = client
        .post(format!("{base}/admin/v1/reset"))
        .header("host", "svc.lan")
        .bearer_auth("t0ken")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = client
        .get(format!("{base}/admin/v1/clock"))
        .header("host", "svc.lan")
        .send()
        .await
        .unwrap();
    assert_eq!(refusal(r).await, (401, "admin_token_required".into()));
}

/// An `Authorization` header that is there but not `Bearer <token>` is
/// refused, not served as if it were absent.
#[tokio::test]
async fn a_malformed_authorization_is_refused() {
    let service = start().await;
    for value in ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "token"] {
        for (method, path) in [
            (Method::GET, "/admin/v1/clock"),
            (Method::POST, "/v1/challenges"),
        ] {
            let r = service
                .client
                .request(method.clone(), format!("{}{path}", service.base))
                .header("authorization", value)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            assert_eq!(
                refusal(r).await,
                (401, "malformed_authorization".into()),
                "{path} with {value:?}"
            );
        }
    }
}

/// An empty or non-TOML fixtures upload leaves every person in place; a
/// faults body that is not a fault set leaves the faults as they were.
#[tokio::test]
async fn mistaken_uploads_destroy_nothing() {
    let service = start().await;
    let before = snapshot(&service.state);
    assert!(before.0.len() > 5);
    let upload = |body: &'static str, kind: &'static str| {
        service
            .client
            .put(format!("{}/admin/v1/fixtures", service.base))
            .header("content-type", kind)
            .body(body)
            .send()
    };
    for (body, kind, expected) in [
        ("", "application/toml", (422, "invalid_fixtures")),
        (
            "  \n# nothing\n",
            "application/toml",
            (422, "invalid_fixtures"),
        ),
        (
            "hello, world",
            "application/toml",
            (422, "invalid_fixtures"),
        ),
        (
            "{\"person\": []}",
            "application/toml",
            (422, "invalid_fixtures"),
        ),
        ("", "application/json", (415, "content_type_required")),
        ("[[person]]", "text/plain", (415, "content_type_required")),
    ] {
        let r = upload(body, kind).await.unwrap();
        assert_eq!(
            refusal(r).await,
            (expected.0, expected.1.to_string()),
            "{body:?} as {kind}"
        );
        assert_eq!(snapshot(&service.state), before, "{body:?} as {kind}");
    }
    for body in [
        "",
        "[]",
        "null",
        "\"*\"",
        r#"{"endpoints": 3}"#,
        r#"{"faults": {}}"#,
    ] {
        let r = service
            .client
            .put(format!("{}/admin/v1/faults", service.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, _) = refusal(r).await;
        assert!((400..500).contains(&status), "{body:?}: {status}");
        assert_eq!(snapshot(&service.state), before, "{body:?}");
    }
}

/// Unknown routes, wrong methods, bodies over the limit and paths that do
/// not parse answer in the one error shape.
#[tokio::test]
async fn every_error_has_the_one_shape() {
    let service = start().await;
    let url = |path: &str| format!("{}{path}", service.base);
    let r = service.client.get(url("/nowhere")).send().await.unwrap();
    assert_eq!(refusal(r).await, (404, "not_found".into()));
    let r = service
        .client
        .delete(url("/v1/challenges"))
        .send()
        .await
        .unwrap();
    assert!(r.headers().contains_key("allow"));
    assert_eq!(refusal(r).await, (405, "method_not_allowed".into()));
    let r = service
        .client
        .put(url("/admin/v1/fixtures"))
        .header("content-type", "application/toml")
        .body("#".repeat(http::BODY_LIMIT + 1))
        .send()
        .await
        .unwrap();
    assert_eq!(refusal(r).await.0, 413);
    let r = service
        .client
        .get(url("/admin/v1/confirmations/abc/trace"))
        .send()
        .await
        .unwrap();
    assert_eq!(refusal(r).await.0, 400);
}

/// Idle connections are bounded and closed: beyond the bound a connection
/// gets a 503 in the error shape, idle ones close after the header-read
/// timeout, and the service answers all along.
#[test]
fn idle_connections_are_bounded_and_closed() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let state = AppState::new(
        Store::in_memory().unwrap(),
        ServiceClock::wall(),
        ServiceConfig::default(),
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = Limits {
        max_connections: 4,
        header_read_timeout: Duration::from_millis(2000),
    };
    runtime.spawn(http::serve_with(
        listener,
        http::router(state),
        None,
        limits,
        std::future::pending(),
    ));
    let health = || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    assert!(health().starts_with("HTTP/1.1 200"));
    // Take every slot with connections that send nothing.
    let mut idle: Vec<_> = (0..4)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let over = health();
    assert!(over.starts_with("HTTP/1.1 503"), "{over}");
    assert!(over.contains(r#""code":"too_many_connections""#), "{over}");
    // After the header-read timeout the idle ones are closed by the service…
    for stream in &mut idle {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut byte = [0u8; 1];
        let read = stream.read(&mut byte);
        assert!(
            matches!(read, Ok(0))
                || read.is_err_and(|e| e.kind() != std::io::ErrorKind::WouldBlock),
            "an idle connection stays open"
        );
    }
    // …and the service answers again.
    std::thread::sleep(Duration::from_millis(50));
    assert!(health().starts_with("HTTP/1.1 200"));
}
