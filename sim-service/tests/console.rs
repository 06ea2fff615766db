//! The admin console over plain HTTP (no browser): the login and its
//! refusals, CSRF refusal of forms, the console's session not standing in
//! for the admin token, escaping of what clients sent, and the traces kept
//! for each confirmation. The browser test is `console_browser.rs`.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde::Serialize;
use serde_json::{Value, json};
use sim_service::fixtures::{self, InsuredPerson};
use sim_service::http::{AppState, ServiceConfig};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const PASSWORD: &str = "console-password-for-tests";
const FACILITY: &str = "0110000001";

struct Service {
    base: String,
    /// Follows no redirects: the tests look at each answer.
    client: reqwest::Client,
    state: AppState,
    person: InsuredPerson,
}

/// The built-in `valid` person, with a description a browser must not run.
fn person() -> InsuredPerson {
    let mut person = fixtures::find(&fixtures::built_in().unwrap(), "valid")
        .unwrap()
        .clone();
    person.description = "<script>alert('x')</script> & co".into();
    person
}

async fn start_with(config: ServiceConfig) -> Service {
    let person = person();
    let (state, base) =
        common::serve("2026-12-01T10:00:00+09:00", vec![person.clone()], config).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Service {
        base,
        client,
        state,
        person,
    }
}

async fn start() -> Service {
    start_with(ServiceConfig {
        console_password: Some(PASSWORD.into()),
        ..ServiceConfig::default()
    })
    .await
}

/// The value of the first `name="csrf"` field of a page.
fn csrf_of(html: &str) -> String {
    let start = html
        .find(r#"name="csrf" value=""#)
        .unwrap_or_else(|| panic!("no CSRF field in {html}"))
        + r#"name="csrf" value=""#.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// The `name=value` of a Set-Cookie header named `name`.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<(String, String)> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            let pair = v.split(';').next().unwrap().to_string();
            (pair, v)
        })
}

/// A logged-in browser: its session cookie and the session's CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

impl Service {
    /// Opens the login page: the login cookie and the form's token.
    async fn login_form(&self) -> (String, String) {
        let page = self
            .client
            .get(format!("{}/admin/login", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let (cookie, _) = set_cookie(&page, "kazasu_console_login").expect("a login cookie");
        (cookie, csrf_of(&page.text().await.unwrap()))
    }

    async fn post_login(&self, cookie: &str, csrf: &str, password: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/admin/login", self.base))
            .header(COOKIE, cookie)
            .form(&[("csrf", csrf), ("password", password)])
            .send()
            .await
            .unwrap()
    }

    async fn log_in(&self, password: &str) -> Browser {
        let (cookie, csrf) = self.login_form().await;
        let response = self.post_login(&cookie, &csrf, password).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let (cookie, full) = set_cookie(&response, "kazasu_console").expect("a session cookie");
        assert!(full.contains("HttpOnly"), "{full}");
        assert!(full.contains("SameSite=Strict"), "{full}");
        let page = self.get_page(&cookie, "/admin").await;
        Browser {
            csrf: csrf_of(&page),
            cookie,
        }
    }

    async fn get(&self, cookie: &str, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap()
    }

    async fn get_page(&self, cookie: &str, path: &str) -> String {
        let response = self.get(cookie, path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.text().await.unwrap()
    }

    async fn post(&self, cookie: &str, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, cookie)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// A visual confirmation of the person's card from device `device`;
    /// returns the history id.
    async fn confirm(&self, device: &str) -> i64 {
        let pki = sim_card::personalize::simulated_jpki().unwrap();
        let certificate =
            sim_card::personalize::auth_certificate(&self.person.card.profile, &pki).unwrap();
        let response = self
            .client
            .post(format!("{}/v1/confirmations", self.base))
            .json(&json!({
                "medical_institution_code": FACILITY,
                "device": device,
                "method": "visual",
                "certificate": BASE64.encode(&certificate),
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.headers()["x-kazasu-confirmation-id"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    }
}

#[tokio::test]
async fn pages_need_a_login_and_the_login_needs_the_password_and_its_token() {
    let service = start().await;
    let anonymous = service.get("", "/admin").await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()[LOCATION], "/admin/login");
    let forged = service.get("kazasu_console=0123abcd", "/admin/clock").await;
    assert_eq!(forged.status(), StatusCode::SEE_OTHER, "an unknown session");

    let (cookie, csrf) = service.login_form().await;
    let wrong = service.post_login(&cookie, &csrf, "guess").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&wrong, "kazasu_console").is_none());
    assert!(wrong.text().await.unwrap().contains("パスワードが違います"));

    // A login form posted from elsewhere carries no login cookie.
    let cross_site = service.post_login("", &csrf, PASSWORD).await;
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    let other_token = service.post_login(&cookie, "0000", PASSWORD).await;
    assert_eq!(other_token.status(), StatusCode::FORBIDDEN);

    let browser = service.log_in(PASSWORD).await;
    let page = service.get_page(&browser.cookie, "/admin").await;
    assert!(page.contains("サービス時刻"), "{page}");
    let response = service.get(&browser.cookie, "/admin").await;
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");

    // Logging out ends the session on the server, not just in the browser.
    let out = service
        .post(&browser.cookie, "/admin/logout", &[("csrf", &browser.csrf)])
        .await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        service.get(&browser.cookie, "/admin").await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_form_without_the_sessions_csrf_token_changes_nothing() {
    let service = start().await;
    let browser = service.log_in(PASSWORD).await;
    let before = service.state.clock.now();
    let form = |csrf: &'static str| {
        vec![
            ("csrf", csrf),
            ("now", "2027-04-01T09:00:00+09:00"),
            ("frozen", "on"),
        ]
    };
    for csrf in ["", "not-the-token"] {
        let refused = service
            .post(&browser.cookie, "/admin/clock", &form(csrf))
            .await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "csrf {csrf:?}");
        assert!(refused.text().await.unwrap().contains("CSRF"));
    }
    let no_session = service
        .post(
            "",
            "/admin/clock",
            &[
                ("csrf", &browser.csrf),
                ("now", "2027-04-01T09:00:00+09:00"),
            ],
        )
        .await;
    assert_eq!(no_session.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(service.state.clock.now(), before, "the clock did not move");

    let accepted = service
        .post(
            &browser.cookie,
            "/admin/clock",
            &[
                ("csrf", &browser.csrf),
                ("now", "2027-04-01T09:00:00+09:00"),
                ("frozen", "on"),
            ],
        )
        .await;
    assert_eq!(accepted.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        service.state.clock.now(),
        OffsetDateTime::parse("2027-04-01T09:00:00+09:00", &Rfc3339).unwrap()
    );
    let page = service
        .get_page(&browser.cookie, "/admin/clock?done=clock")
        .await;
    assert!(page.contains("2027-04-01 09:00:00"), "{page}");
    assert!(page.contains("サービス時刻を変更しました"));

    let bad = service
        .post(
            &browser.cookie,
            "/admin/clock",
            &[("csrf", &browser.csrf), ("now", "tomorrow")],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("RFC 3339"));

    let faults = service
        .post(
            &browser.cookie,
            "/admin/faults",
            &[
                ("csrf", &browser.csrf),
                ("status:confirmations", "503"),
                ("latency:history", "20"),
            ],
        )
        .await;
    assert_eq!(faults.status(), StatusCode::SEE_OTHER);
    let set = service.state.faults.get();
    assert_eq!(set.endpoints["confirmations"].status, Some(503));
    assert_eq!(set.endpoints["history"].latency_ms, 20);
    let forged = service
        .post(&browser.cookie, "/admin/faults/clear", &[("csrf", "x")])
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(service.state.faults.get().endpoints.len(), 2);
}

#[tokio::test]
async fn a_burst_of_wrong_passwords_is_slowed() {
    let service = start().await;
    let (cookie, csrf) = service.login_form().await;
    for _ in 0..5 {
        let wrong = service.post_login(&cookie, &csrf, "guess").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    // The sixth wrong password starts a back-off; during it, no password is
    // compared, the right one included.
    let sixth = service.post_login(&cookie, &csrf, "guess").await;
    assert_eq!(sixth.status(), StatusCode::UNAUTHORIZED);
    for password in ["guess", PASSWORD] {
        let refused = service.post_login(&cookie, &csrf, password).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()["retry-after"], "1");
        assert!(set_cookie(&refused, "kazasu_console").is_none());
    }
    // After the back-off the right password logs in, and the count starts again.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    service.log_in(PASSWORD).await;
    let (cookie, csrf) = service.login_form().await;
    let wrong = service.post_login(&cookie, &csrf, "guess").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn cookies_are_secure_under_tls() {
    let service = start_with(ServiceConfig {
        console_password: Some(PASSWORD.into()),
        https: true,
        ..ServiceConfig::default()
    })
    .await;
    let page = service
        .client
        .get(format!("{}/admin/login", service.base))
        .send()
        .await
        .unwrap();
    let (_, full) = set_cookie(&page, "kazasu_console_login").unwrap();
    assert!(full.contains("; Secure"), "{full}");
    let plain = start().await;
    let page = plain
        .client
        .get(format!("{}/admin/login", plain.base))
        .send()
        .await
        .unwrap();
    let (_, full) = set_cookie(&page, "kazasu_console_login").unwrap();
    assert!(!full.contains("Secure"), "{full}");
}

#[tokio::test]
async fn pages_of_other_origins_and_rebinding_names_are_refused() {
    let service = start().await;
    let browser = service.log_in(PASSWORD).await;
    let port = service.base.rsplit(':').next().unwrap().to_string();
    // A logged-in browser on a foreign page: its form post names that page.
    let forged = service
        .client
        .post(format!("{}/admin/reset", service.base))
        .header(COOKIE, &browser.cookie)
        .header("origin", "https://evil.example")
        .form(&[("csrf", browser.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    // A rebinding page: the service's address under the page's own name.
    let rebound = service
        .client
        .get(format!("{}/admin/confirmations", service.base))
        .header(COOKIE, &browser.cookie)
        .header("host", format!("evil.example:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), StatusCode::FORBIDDEN);
    assert!(!rebound.text().await.unwrap().contains("<table"));
    // The console's own form, from its own page, works.
    let own = service
        .client
        .post(format!("{}/admin/clock/reset", service.base))
        .header(COOKIE, &browser.cookie)
        .header("origin", &service.base)
        .form(&[("csrf", browser.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn without_a_password_nobody_logs_in() {
    let service = start_with(ServiceConfig::default()).await;
    let page = service
        .client
        .get(format!("{}/admin/login", service.base))
        .send()
        .await
        .unwrap();
    // The page offers no form; a hand-made one with a matching token is
    // refused all the same.
    let (cookie, _) = set_cookie(&page, "kazasu_console_login").unwrap();
    let csrf = cookie.split_once('=').unwrap().1.to_string();
    let page = page.text().await.unwrap();
    assert!(page.contains("パスワードが設定されていません"), "{page}");
    assert!(!page.contains("name=\"password\""));
    for password in ["", "anything"] {
        let refused = service.post_login(&cookie, &csrf, password).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn the_admin_token_logs_in_but_a_console_session_is_no_admin_token() {
    let service = start_with(ServiceConfig {
        admin_token: Some("admin-token-for-tests".into()),
        console_password: Some(PASSWORD.into()),
        ..ServiceConfig::default()
    })
    .await;
    // With a token, the token is the password.
    let (cookie, csrf) = service.login_form().await;
    let refused = service.post_login(&cookie, &csrf, PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let browser = service.log_in("admin-token-for-tests").await;
    let api = service.get(&browser.cookie, "/admin/v1/clock").await;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    let with_token = service
        .client
        .get(format!("{}/admin/v1/clock", service.base))
        .bearer_auth("admin-token-for-tests")
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), StatusCode::OK);
}

#[tokio::test]
async fn what_clients_and_fixtures_say_is_escaped() {
    let service = start().await;
    let browser = service.log_in(PASSWORD).await;
    let id = service.confirm("<b onmouseover=x>受付1</b>").await;
    let history = service
        .get_page(&browser.cookie, "/admin/confirmations")
        .await;
    assert!(
        history.contains("&lt;b onmouseover=x&gt;受付1&lt;&#x2f;b&gt;"),
        "{history}"
    );
    assert!(!history.contains("<b onmouseover"));
    assert!(history.contains(&format!("/admin/confirmations/{id}")));
    let fixtures = service.get_page(&browser.cookie, "/admin/fixtures").await;
    assert!(!fixtures.contains("<script>alert"), "{fixtures}");
    assert!(fixtures.contains("&lt;script&gt;"));
    assert!(fixtures.contains("&amp; co"));

    // A fixtures form that does not parse comes back with the reason and
    // the text, escaped, and changes nothing.
    let bad = service
        .post(
            &browser.cookie,
            "/admin/fixtures",
            &[
                ("csrf", &browser.csrf),
                ("toml", "[[person]]\nid = \"</textarea><script>\""),
            ],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = bad.text().await.unwrap();
    assert!(!page.contains("</textarea><script>"), "{page}");
    assert_eq!(service.state.store.persons().unwrap().len(), 1);
}

#[derive(Serialize)]
struct Records {
    records: Vec<sim_card::trace::TraceRecord>,
}

#[tokio::test]
async fn each_confirmation_keeps_its_http_exchange_and_takes_an_apdu_trace() {
    let service = start().await;
    let id = service.confirm("受付1").await;
    let trace: Value = service
        .client
        .get(format!(
            "{}/admin/v1/confirmations/{id}/trace",
            service.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let request = &trace["http"]["request"];
    assert_eq!(request["path"], "/v1/confirmations");
    assert_eq!(request["body"]["device"], "受付1");
    let certificate = request["body"]["certificate"].as_str().unwrap();
    assert!(
        certificate.ends_with(" characters)") && certificate.len() < 80,
        "{certificate}"
    );
    let response = &trace["http"]["response"];
    assert_eq!(response["status"], 200);
    assert_eq!(
        response["body"]["MessageHeader"]["MedicalInstitutionCode"],
        FACILITY
    );
    assert_eq!(trace["apdu"], Value::Null);

    let records = Records {
        records: vec![sim_card::trace::TraceRecord {
            at: "2026-12-01T01:00:00Z".into(),
            elapsed_us: 120,
            event: sim_card::trace::TraceEvent::Apdu,
            command: Some("00A4040C0AD392F000260100000001".into()),
            response: Some("9000".into()),
            sw: Some("9000".into()),
            summary: "SELECT JPKI-AP → 9000".into(),
        }],
    };
    let url = |id: i64| format!("{}/admin/v1/confirmations/{id}/apdu-trace", service.base);
    let put = service
        .client
        .put(url(id))
        .json(&records)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::NO_CONTENT);
    let unknown = service
        .client
        .put(url(id + 100))
        .json(&records)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let malformed = service
        .client
        .put(url(id))
        .json(&json!({"records": [{"summary": 1}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let browser = service.log_in(PASSWORD).await;
    let page = service
        .get_page(&browser.cookie, &format!("/admin/confirmations/{id}"))
        .await;
    assert!(page.contains("SELECT JPKI-AP → 9000"), "{page}");
    assert!(
        page.contains("&quot;device&quot;: &quot;受付1&quot;"),
        "{page}"
    );
    assert!(page.contains("characters)"));
    let history = service
        .get_page(&browser.cookie, "/admin/confirmations")
        .await;
    assert!(history.contains("HTTP") && history.contains("APDU"));
    assert!(!history.contains("http-equiv=\"refresh\""));
    let live = service
        .get_page(&browser.cookie, "/admin/confirmations?live=1")
        .await;
    assert!(
        live.contains("<meta http-equiv=\"refresh\" content=\"3\">"),
        "{live}"
    );
    let missing = service
        .get(&browser.cookie, "/admin/confirmations/9999")
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_facility_screens_apply_the_facility_rules() {
    use sim_service::facility::{ActivationStatus, admin};
    use sim_service::model::MedicalInstitutionCode;

    let service = start().await;
    let browser = service.log_in(PASSWORD).await;
    let facility = MedicalInstitutionCode::new(FACILITY).unwrap();
    let store = &service.state.store;
    let form = |extra: &[(&'static str, &'static str)]| {
        let mut fields = vec![
            ("csrf", browser.csrf.clone()),
            ("facility", FACILITY.into()),
        ];
        fields.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        fields
    };
    let (service, browser) = (&service, &browser);
    let post = |path: &'static str, fields: Vec<(&'static str, String)>| {
        let fields: Vec<(&str, String)> = fields;
        async move {
            service
                .client
                .post(format!("{}{path}", service.base))
                .header(COOKIE, &browser.cookie)
                .form(&fields)
                .send()
                .await
                .unwrap()
        }
    };

    // 環境設定
    let page = service
        .get_page(&browser.cookie, "/admin/environment")
        .await;
    assert!(page.contains("利用しない (off)"), "{page}");
    let saved = post(
        "/admin/environment",
        form(&[("outpatient_flow", "on"), ("activation_delay_seconds", "0")]),
    )
    .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        saved.headers()[LOCATION],
        "/admin/environment?facility=0110000001&done=environment"
    );
    let setting = admin::environment(store, &facility).unwrap();
    assert!(setting.outpatient_flow);
    assert_eq!(setting.activation_delay_seconds, 0);
    let bad_delay = post(
        "/admin/environment",
        form(&[("activation_delay_seconds", "-5")]),
    )
    .await;
    assert_eq!(bad_delay.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        admin::environment(store, &facility)
            .unwrap()
            .outpatient_flow
    );
    let bad_facility = service
        .get(&browser.cookie, "/admin/environment?facility=12")
        .await;
    assert_eq!(bad_facility.status(), StatusCode::BAD_REQUEST);

    // アクティベーションコード発行, 無効化する
    let issued = post(
        "/admin/activation-codes",
        form(&[("memo", "<i>タブレット</i>")]),
    )
    .await;
    assert_eq!(issued.status(), StatusCode::SEE_OTHER);
    let codes = admin::activation_codes(store, &facility, service.state.clock.now()).unwrap();
    assert_eq!(codes.len(), 1);
    let code = codes[0].code.clone();
    let page = service
        .get_page(&browser.cookie, "/admin/activation-codes?done=issued")
        .await;
    assert!(
        page.contains("&lt;i&gt;タブレット&lt;&#x2f;i&gt;"),
        "{page}"
    );
    assert!(page.contains("未登録") && page.contains(&code));
    let no_memo = post("/admin/activation-codes", form(&[("memo", "  ")])).await;
    assert_eq!(no_memo.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(no_memo.text().await.unwrap().contains("KZA"));

    let forged = service
        .post(
            &browser.cookie,
            "/admin/activation-codes/invalidate",
            &[("csrf", "forged"), ("facility", FACILITY), ("code", &code)],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let now = service.state.clock.now();
    assert_eq!(
        admin::activation_codes(store, &facility, now).unwrap()[0].status,
        ActivationStatus::Unregistered
    );
    let invalidated = post(
        "/admin/activation-codes/invalidate",
        vec![
            ("csrf", browser.csrf.clone()),
            ("facility", FACILITY.into()),
            ("code", code.clone()),
        ],
    )
    .await;
    assert_eq!(invalidated.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        admin::activation_codes(store, &facility, now).unwrap()[0].status,
        ActivationStatus::Invalidated
    );
    let unknown = post(
        "/admin/activation-codes/invalidate",
        form(&[("code", "000000000000")]),
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    // アカウント登録, 更新
    let account = |password: &'static str| {
        form(&[
            ("role", "一般利用者"),
            ("user_id", "uketsuke"),
            ("name", "受付 花子"),
            ("kana", "ウケツケ ハナコ"),
            ("start_date", "2026-11-01"),
            ("password", password),
        ])
    };
    let weak = post("/admin/accounts", account("short")).await;
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(weak.text().await.unwrap().contains("password"));
    let registered = post("/admin/accounts", account("Passw0rd!x")).await;
    assert_eq!(registered.status(), StatusCode::SEE_OTHER);
    let again = post("/admin/accounts", account("Passw0rd!x")).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let updated = post(
        "/admin/accounts/update",
        form(&[("user_id", "uketsuke"), ("name", "受付 太郎"), ("role", "")]),
    )
    .await;
    assert_eq!(updated.status(), StatusCode::SEE_OTHER);
    let accounts = admin::accounts(store, &facility, now).unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].name, "受付 太郎");
    assert_eq!(accounts[0].kana, "ウケツケ ハナコ", "empty fields stay");
    let bad_date = post(
        "/admin/accounts/update",
        form(&[("user_id", "uketsuke"), ("start_date", "11/01")]),
    )
    .await;
    assert_eq!(bad_date.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = service.get_page(&browser.cookie, "/admin/accounts").await;
    assert!(page.contains("uketsuke") && page.contains("受付 太郎"));
    assert!(!page.contains("Passw0rd"), "no password on the page");

    // お知らせ
    let published = post(
        "/admin/notices",
        form(&[("title", "<b>障害</b>のお知らせ"), ("outage", "on")]),
    )
    .await;
    assert_eq!(published.status(), StatusCode::SEE_OTHER);
    let notices = admin::notices(store).unwrap();
    assert_eq!(notices.len(), 1);
    assert!(notices[0].outage);
    let page = service.get_page(&browser.cookie, "/admin/notices").await;
    assert!(
        page.contains("&lt;b&gt;障害&lt;&#x2f;b&gt;のお知らせ"),
        "{page}"
    );
}

/// Everything the service logs while the tests of this file run.
fn captured_log() -> &'static std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    static LOG: std::sync::OnceLock<std::sync::Arc<std::sync::Mutex<Vec<u8>>>> =
        std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Capture(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        log
    })
}

struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn names_numbers_and_passwords_stay_out_of_the_log() {
    let log = captured_log();
    let service = start().await;
    let browser = service.log_in(PASSWORD).await;
    let persona = service.person.card.profile.persona.clone();
    let id = service.confirm("受付1").await;
    for path in [
        "/admin/fixtures".to_string(),
        "/admin/confirmations".to_string(),
        format!("/admin/confirmations/{id}"),
    ] {
        service.get_page(&browser.cookie, &path).await;
    }
    let refused = service
        .post(
            &browser.cookie,
            "/admin/fixtures",
            &[
                ("csrf", &browser.csrf),
                ("toml", "[[person]]\nid = \"x\"\nname = \"山田 漏洩\"\n"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    for password in ["short", "Secr3t!pass"] {
        service
            .post(
                &browser.cookie,
                "/admin/accounts",
                &[
                    ("csrf", &browser.csrf),
                    ("facility", FACILITY),
                    ("role", "一般利用者"),
                    ("user_id", "kojin"),
                    ("name", "個人 情報子"),
                    ("kana", "コジン ジョウホウコ"),
                    ("start_date", "2026-11-01"),
                    ("password", password),
                ],
            )
            .await;
    }
    service
        .post(
            &browser.cookie,
            "/admin/login",
            &[("csrf", "x"), ("password", "Secr3t!pass")],
        )
        .await;
    tracing::warn!("canary: the capture works");
    let log = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
    assert!(log.contains("canary"), "{log}");
    for secret in [
        persona.name.as_str(),
        persona.name_kana.as_str(),
        persona.my_number.as_str(),
        "山田 漏洩",
        "個人 情報子",
        "Secr3t!pass",
        PASSWORD,
    ] {
        assert!(!log.contains(secret), "{secret:?} in the log:\n{log}");
    }
}
